//! Client subcommands: `status`, `stop`.

use std::path::PathBuf;
use std::process::ExitCode;

use synapse_protocol::{method, DaemonStatus, Empty};
use synapse_rpc::{Client, ClientError};

use crate::cli::{Global, StatusArgs};

fn socket(global: &Global) -> PathBuf {
    global
        .socket
        .clone()
        .unwrap_or_else(synapse_rpc::endpoint::default_socket_path)
}

/// A daemon error for people: its message and its `data` (the explanation),
/// without the numeric code (that stays in `--json` output).
pub fn rpc_line(e: &synapse_protocol::ErrorObject) -> String {
    match &e.data {
        Some(serde_json::Value::String(d)) if !d.is_empty() => format!("{}: {d}", e.message),
        Some(serde_json::Value::Null) | None => e.message.clone(),
        Some(other) => format!("{}: {other}", e.message),
    }
}

/// Connect, or print the one-line explanation and exit 1.
pub async fn connect(global: &Global) -> Result<Client, ExitCode> {
    connect_or(global, "; start one with `synapsed serve`").await
}

/// Connect, or print why not (with `advice` after it) and exit 1.
async fn connect_or(global: &Global, advice: &str) -> Result<Client, ExitCode> {
    let path = socket(global);
    match Client::connect(&path).await {
        Ok(c) => Ok(c),
        Err(ClientError::Connect { source, .. }) => {
            eprintln!(
                "synapsed: no daemon answers on {} ({source}){advice}",
                path.display()
            );
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("synapsed: {e}");
            Err(ExitCode::from(1))
        }
    }
}

pub async fn status(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let status: DaemonStatus = client.call(method::DAEMON_STATUS, ()).await?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_status(&status));
    Ok(ExitCode::SUCCESS)
}

pub async fn stop(global: &Global) -> anyhow::Result<ExitCode> {
    // Nothing to stop: no advice to start one.
    let client = match connect_or(global, "").await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let _: Empty = client.call(method::DAEMON_SHUTDOWN, ()).await?;
    println!("synapsed: shutdown requested");
    Ok(ExitCode::SUCCESS)
}

fn render_status(s: &DaemonStatus) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "synapsed {} (protocol {}), pid {}",
        s.version, s.protocol, s.pid
    );
    let _ = writeln!(
        out,
        "  up        {} (since {})",
        human_duration(s.uptime_s),
        s.started_at
    );
    let _ = writeln!(out, "  socket    {}", s.socket);
    let auth = match s.auth {
        synapse_protocol::AuthState::Ok => "ok",
        synapse_protocol::AuthState::Missing => "MISSING (run `synapsed auth login`)",
    };
    let available = match s.model_available {
        Some(true) => " (available)",
        Some(false) => " (NOT AVAILABLE: see `synapsed models`)",
        None => "",
    };
    let _ = writeln!(out, "  model     {}{available}   auth: {auth}", s.model);
    let _ = writeln!(
        out,
        "  turns     {} running, {} queued, {} finished",
        s.turns.running, s.turns.queued, s.turns.finished
    );
    let u = &s.usage;
    let _ = writeln!(
        out,
        "  usage     {} in, {} out, {} cache read, {} cache write (tokens)",
        u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens
    );
    let sp = &s.spend;
    let cap = match sp.daily_budget_usd {
        Some(b) => format!(" of ${b} daily budget"),
        None => " (no daily budget)".to_owned(),
    };
    let _ = writeln!(out, "  spend     ${:.4} today{cap}", sp.today_usd);
    for w in &sp.warnings {
        let _ = writeln!(out, "  warning   {w}");
    }
    if s.hosts.is_empty() {
        let _ = writeln!(out, "  hosts     none");
    }
    for h in &s.hosts {
        let _ = writeln!(
            out,
            "  host      {} {} {} pid {} {} tools{}{}",
            h.host_id,
            h.name,
            h.houdini_version,
            h.pid,
            h.tools,
            h.hip
                .as_deref()
                .map(|p| format!(", {p}"))
                .unwrap_or_default(),
            if h.ui_available { "" } else { " (headless)" }
        );
    }
    out
}

fn human_duration(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..=59 => format!("{secs:.1}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

pub async fn cancel(global: &Global, args: crate::cli::CancelArgs) -> anyhow::Result<ExitCode> {
    let client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let r: synapse_protocol::TurnCancelResult = match client
        .call(
            method::TURN_CANCEL,
            synapse_protocol::TurnRef {
                turn_id: args.turn.clone(),
            },
        )
        .await
    {
        Ok(r) => r,
        Err(ClientError::Rpc(e)) if e.code == synapse_protocol::code::NOT_FOUND => {
            eprintln!("synapsed: no turn {}", args.turn);
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if r.cancelled {
        println!("cancelled {}", args.turn);
    } else {
        println!("{} was already finished", args.turn);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn sessions(global: &Global, args: crate::cli::SessionsArgs) -> anyhow::Result<ExitCode> {
    let client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let params = synapse_protocol::SessionListParams {
        limit: Some(args.limit),
        before: args.before.clone(),
    };
    let list: Vec<synapse_protocol::SessionSummary> =
        match client.call(method::SESSION_LIST, params).await {
            Ok(l) => l,
            Err(ClientError::Rpc(e)) if e.code == synapse_protocol::code::INVALID_PARAMS => {
                eprintln!(
                    "synapsed: {}",
                    e.data
                        .as_ref()
                        .and_then(|d| d.as_str())
                        .unwrap_or(&e.message)
                );
                return Ok(ExitCode::from(2));
            }
            Err(e) => return Err(e.into()),
        };
    if args.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no sessions");
    }
    let full = list.len() as i64 == args.limit;
    let last = list.last().map(|s| s.updated_at);
    for s in list {
        println!(
            "{}  {}  {:>3} turn{}  {}",
            s.session_id,
            s.updated_at,
            s.turns,
            if s.turns == 1 { " " } else { "s" },
            s.title.unwrap_or_default()
        );
    }
    if let (true, Some(last)) = (full, last) {
        println!("(more: synapsed sessions --before {last})");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(global: &Global, args: crate::cli::ShowArgs) -> anyhow::Result<ExitCode> {
    let client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let detail: synapse_protocol::SessionDetail = match client
        .call(
            method::SESSION_GET,
            synapse_protocol::SessionRef {
                session_id: args.session.clone(),
                after: args.after,
                limit: args.limit,
            },
        )
        .await
    {
        Ok(d) => d,
        Err(ClientError::Rpc(e)) if e.code == synapse_protocol::code::NOT_FOUND => {
            eprintln!("synapsed: no session {}", args.session);
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string(&detail)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_conversation(&detail));
    let shown = detail.messages.len() as u64;
    if shown < detail.message_count {
        let first = args.after.map_or(0, |a| a + 1);
        let last = first + shown as i64 - 1;
        if shown == 0 {
            println!(
                "(no messages after {}; the session has {})",
                first - 1,
                detail.message_count
            );
        } else {
            println!(
                "(messages {first}–{last} of {}; next: synapsed show {} --after {last})",
                detail.message_count, detail.session_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A session as a readable transcript.
pub fn render_conversation(d: &synapse_protocol::SessionDetail) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "session {} ({} turns)", d.session_id, d.turns.len());
    for t in &d.turns {
        let _ = writeln!(out, "  turn {}  {}  {}", t.turn_id, t.status, t.created_at);
    }
    for m in &d.messages {
        let role = m["role"].as_str().unwrap_or("?");
        let blocks: Vec<serde_json::Value> = match &m["content"] {
            serde_json::Value::String(s) => vec![serde_json::json!({"type":"text","text":s})],
            serde_json::Value::Array(a) => a.clone(),
            _ => Vec::new(),
        };
        for b in blocks {
            match b["type"].as_str() {
                Some("text") => {
                    let _ = writeln!(out, "\n{role}:");
                    for line in b["text"].as_str().unwrap_or("").lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                }
                Some("tool_use") => {
                    let _ = writeln!(
                        out,
                        "\n{role} calls {} {}",
                        b["name"].as_str().unwrap_or("?"),
                        b["input"]
                    );
                }
                Some("tool_result") => {
                    let err = if b["is_error"].as_bool().unwrap_or(false) {
                        " (error)"
                    } else {
                        ""
                    };
                    let text = match &b["content"] {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let short: String = text.chars().take(300).collect();
                    let more = if text.chars().count() > 300 {
                        " …"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "  ↳ result{err}: {short}{more}");
                }
                Some(other) => {
                    let _ = writeln!(out, "\n{role}: [{other} block]");
                }
                None => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_lines_carry_data_and_no_code() {
        let e = synapse_protocol::ErrorObject {
            code: -32602,
            message: "Invalid params".into(),
            data: Some(serde_json::json!("max_iterations must be at least 1")),
        };
        assert_eq!(
            rpc_line(&e),
            "Invalid params: max_iterations must be at least 1"
        );
        let e = synapse_protocol::ErrorObject {
            code: -32001,
            message: "Not found: turn x".into(),
            data: None,
        };
        assert_eq!(rpc_line(&e), "Not found: turn x");
    }
}
