//! `synapsed usage [--days N] [--json]`: tokens and cost per local day and
//! model, read from the store's `spend` table (design §12). Works with or
//! without a running daemon (SQLite in WAL mode allows a reader alongside).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use synapse_store::spend::nusd_to_usd;
use synapse_store::Store;

use crate::cli::UsageArgs;

/// One row of the report.
#[derive(Debug, Default, Serialize)]
struct Row {
    date: String,
    model: String,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_input_tokens: u64,
    cache_creation_input_tokens: u64,
    /// `null` when some request of the row had no price.
    cost_usd: Option<f64>,
    #[serde(skip)]
    nusd: u64,
    #[serde(skip)]
    unpriced: bool,
}

pub fn run(args: UsageArgs) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.unwrap_or_else(crate::serve::default_data_dir);
    let db = data_dir.join(synapse_store::DB_FILE_NAME);
    if !db.is_file() {
        eprintln!(
            "synapsed: no database at {} (nothing was spent yet, or set --data-dir)",
            db.display()
        );
        return Ok(ExitCode::from(1));
    }
    // Read beside the running daemon: no lock, no writes.
    let store = Store::open_read_only(&data_dir)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let first = today
        .checked_sub(jiff::Span::new().days(i64::from(args.days) - 1))
        .context("--days reaches before the calendar's start")?;
    let from = first
        .to_zoned(tz.clone())
        .context("cannot find the start of the first day")?
        .timestamp()
        .as_millisecond();
    let rows = store.spend_since(synapse_protocol::Timestamp::from_unix_ms(from))?;
    let mut report: BTreeMap<(String, String), Row> = BTreeMap::new();
    for r in rows {
        let date = jiff::Timestamp::from_millisecond(r.at.unix_ms())
            .map(|t| t.to_zoned(tz.clone()).date().to_string())
            .unwrap_or_else(|_| "?".into());
        let row = report
            .entry((date.clone(), r.model.clone()))
            .or_insert_with(|| Row {
                date,
                model: r.model.clone(),
                ..Row::default()
            });
        row.requests += 1;
        row.input_tokens += r.usage.input_tokens;
        row.output_tokens += r.usage.output_tokens;
        row.cache_read_input_tokens += r.usage.cache_read_input_tokens;
        row.cache_creation_input_tokens += r.usage.cache_creation_input_tokens;
        match r.cost_nusd {
            Some(c) => row.nusd = row.nusd.saturating_add(c),
            None => row.unpriced = true,
        }
    }
    let rows: Vec<Row> = report
        .into_values()
        .map(|mut r| {
            r.cost_usd = (!r.unpriced).then(|| nusd_to_usd(r.nusd));
            r
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no usage in the last {} day(s)", args.days);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<10}  {:<28} {:>8} {:>12} {:>10} {:>12} {:>12} {:>10}",
        "date", "model", "requests", "input", "output", "cache read", "cache write", "cost USD"
    );
    let mut total = 0u64;
    let mut any_unpriced = false;
    for r in &rows {
        let cost = match r.cost_usd {
            Some(c) => format!("{c:.4}"),
            None => "unknown".to_owned(),
        };
        total = total.saturating_add(r.nusd);
        any_unpriced |= r.unpriced;
        println!(
            "{:<10}  {:<28} {:>8} {:>12} {:>10} {:>12} {:>12} {:>10}",
            r.date,
            r.model,
            r.requests,
            r.input_tokens,
            r.output_tokens,
            r.cache_read_input_tokens,
            r.cache_creation_input_tokens,
            cost
        );
    }
    println!(
        "total: ${:.4}{}",
        nusd_to_usd(total),
        if any_unpriced {
            " (plus requests to models without a price)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
