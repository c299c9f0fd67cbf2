//! Spend and permissions (design §11, §12): one row per priced API
//! round-trip, and the tools a session allowed for good.
//!
//! - `spend` holds every API round-trip's usage with the model, the time and
//!   its cost in nano-USD (`NULL` when the model has no price). Daily budgets
//!   and `synapse usage` sum it, so they span turns, sessions and restarts.
//!   Rows are not tied to sessions by a foreign key: spend stays counted
//!   even if a session is deleted.
//! - `session_allowed_tools` holds the `allow_session` answers of each
//!   session.
//! - A turn's permission mode is kept in its `params` JSON (`mode`), so the
//!   session's last mode needs no extra column.
//!
//! Costs are integers (nano-USD) so sums are exact and the same whether they
//! are added up in memory by the daemon or by SQLite.

use rusqlite::{params, Connection, OptionalExtension};
use synapse_protocol::{Timestamp, Usage};

use crate::{to_i64, to_u64, Result, Store};

/// Schema step 1 → 2: the `spend` and `session_allowed_tools` tables.
pub(crate) const MIGRATION_V2: &str = r#"
CREATE TABLE spend (
    id                          INTEGER PRIMARY KEY,
    turn_id                     TEXT NOT NULL,
    session_id                  TEXT NOT NULL,
    at                          INTEGER NOT NULL,   -- unix ms
    model                       TEXT NOT NULL,
    input_tokens                INTEGER NOT NULL,
    output_tokens               INTEGER NOT NULL,
    cache_read_input_tokens     INTEGER NOT NULL,
    cache_creation_input_tokens INTEGER NOT NULL,
    cost_nusd                   INTEGER             -- nano-USD; NULL: the model has no price
) STRICT;
CREATE INDEX spend_by_time ON spend (at);
CREATE INDEX spend_by_turn ON spend (turn_id);

CREATE TABLE session_allowed_tools (
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    tool_name   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, tool_name)
) STRICT;
"#;

/// One API round-trip's usage, priced.
#[derive(Clone, Debug, PartialEq)]
pub struct SpendRecord {
    /// The turn that paid.
    pub turn_id: String,
    /// Its session.
    pub session_id: String,
    /// When the usage was reported.
    pub at: Timestamp,
    /// The model asked.
    pub model: String,
    /// Token counts (`cost_usd` is ignored).
    pub usage: Usage,
    /// Cost in nano-USD; `None` when the model has no price.
    pub cost_nusd: Option<u64>,
}

/// Priced and unpriced spend over a time range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpendTotal {
    /// Sum of the priced rows, nano-USD.
    pub priced_nusd: u64,
    /// Rows without a price.
    pub unpriced_requests: u64,
}

impl Store {
    /// Append one spend row (one commit).
    pub fn record_spend(&self, r: &SpendRecord) -> Result<()> {
        record_spend_tx(&self.conn(), r)
    }

    /// Append spend rows in one commit.
    pub fn record_spends(&self, rows: &[SpendRecord]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for r in rows {
            record_spend_tx(&tx, r)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Spend with `from <= at < to` (unix ms).
    pub fn spend_between(&self, from: Timestamp, to: Timestamp) -> Result<SpendTotal> {
        let conn = self.conn();
        let (priced, unpriced): (i64, i64) = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(cost_nusd), 0), COUNT(*) - COUNT(cost_nusd)
                 FROM spend WHERE at >= ?1 AND at < ?2",
            )?
            .query_row(params![from.unix_ms(), to.unix_ms()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        Ok(SpendTotal {
            priced_nusd: to_u64(priced),
            unpriced_requests: to_u64(unpriced),
        })
    }

    /// Every spend row with `at >= from`, oldest first (for `synapsed usage`).
    pub fn spend_since(&self, from: Timestamp) -> Result<Vec<SpendRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT turn_id, session_id, at, model, input_tokens, output_tokens,
                    cache_read_input_tokens, cache_creation_input_tokens, cost_nusd
             FROM spend WHERE at >= ?1 ORDER BY at, id",
        )?;
        let rows = stmt.query_map([from.unix_ms()], |r| {
            Ok(SpendRecord {
                turn_id: r.get(0)?,
                session_id: r.get(1)?,
                at: Timestamp::from_unix_ms(r.get(2)?),
                model: r.get(3)?,
                usage: Usage {
                    input_tokens: to_u64(r.get(4)?),
                    output_tokens: to_u64(r.get(5)?),
                    cache_read_input_tokens: to_u64(r.get(6)?),
                    cache_creation_input_tokens: to_u64(r.get(7)?),
                    cost_usd: None,
                },
                cost_nusd: r.get::<_, Option<i64>>(8)?.map(to_u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The tools a session allowed with `allow_session`, sorted.
    pub fn session_allowed_tools(&self, session_id: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT tool_name FROM session_allowed_tools WHERE session_id = ?1 ORDER BY tool_name",
        )?;
        let rows = stmt.query_map([session_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
    }

    /// Remember that `session_id` allowed `tool_name` for good (one commit;
    /// allowing twice is a no-op). Unknown session: a foreign-key error.
    pub fn allow_tool_for_session(
        &self,
        session_id: &str,
        tool_name: &str,
        at: Timestamp,
    ) -> Result<()> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO session_allowed_tools (session_id, tool_name, created_at)
             VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute(params![session_id, tool_name, at.unix_ms()])?;
        Ok(())
    }

    /// The `mode` of the session's latest turn that has one, if any.
    pub fn session_last_mode(&self, session_id: &str) -> Result<Option<String>> {
        let conn = self.conn();
        let mode = conn
            .prepare_cached(
                "SELECT json_extract(params, '$.mode') FROM turns
                 WHERE session_id = ?1 AND json_extract(params, '$.mode') IS NOT NULL
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([session_id], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten();
        Ok(mode)
    }
}

/// A stored turn's cost in USD: the sum of its spend rows; `None` when one
/// of them has no price, or when the turn reported tokens but has no rows
/// (stored before spend was recorded). A turn without usage cost nothing.
pub(crate) fn turn_cost_usd(
    conn: &Connection,
    turn_id: &str,
    usage: &Usage,
) -> Result<Option<f64>> {
    let (rows, priced, sum): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COUNT(*), COUNT(cost_nusd), COALESCE(SUM(cost_nusd), 0)
             FROM spend WHERE turn_id = ?1",
        )?
        .query_row([turn_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    if rows == 0 {
        return Ok(usage.is_zero().then_some(0.0));
    }
    Ok((rows == priced).then(|| nusd_to_usd(to_u64(sum))))
}

/// The mode (`params.mode`) a stored turn ran in, as its wire name.
pub(crate) fn turn_mode(conn: &Connection, turn_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT json_extract(params, '$.mode') FROM turns WHERE id = ?1")?
        .query_row([turn_id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Nano-USD to USD.
pub fn nusd_to_usd(nusd: u64) -> f64 {
    nusd as f64 / 1e9
}
/// Append one spend row inside the caller's transaction.
pub(crate) fn record_spend_tx(conn: &rusqlite::Connection, r: &SpendRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO spend (turn_id, session_id, at, model, input_tokens, output_tokens,
             cache_read_input_tokens, cache_creation_input_tokens, cost_nusd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        r.turn_id,
        r.session_id,
        r.at.unix_ms(),
        r.model,
        to_i64(r.usage.input_tokens),
        to_i64(r.usage.output_tokens),
        to_i64(r.usage.cache_read_input_tokens),
        to_i64(r.usage.cache_creation_input_tokens),
        r.cost_nusd.map(to_i64),
    ])?;
    Ok(())
}
