//! Turns: their lifecycle (`queued` → `running` → final), usage, tool calls.
//!
//! Status changes are checked: `set_turn_running` only from `queued`,
//! `finish_turn` only from `queued`/`running`. A turn that is already final
//! is never overwritten; the call fails with
//! [`StoreError::InvalidTransition`] (first writer wins, the caller may
//! ignore that error when racing a cancel).

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde_json::Value;
use synapse_protocol::{
    ErrorKind, Timestamp, ToolCallRecord, TurnError, TurnInfo, TurnResult, TurnStatus, Usage,
};

use crate::{session, to_i64, to_u64, Result, Store, StoreError};

/// A turn as submitted, before it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTurn {
    /// The new turn's id.
    pub turn_id: String,
    /// Its session (must exist).
    pub session_id: String,
    /// The user's prompt.
    pub prompt: String,
    /// The host whose tools it uses, if any.
    pub host_id: Option<String>,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// Turn options as JSON (`system`, `model`, `max_tokens`, `max_iterations`);
    /// stored as given, read back with [`Store::turn_params`].
    pub params: Value,
}

const TURN_COLS: &str = "id, session_id, status, prompt, host_id, created_at, started_at,
    finished_at, iterations, input_tokens, output_tokens, cache_read_input_tokens,
    cache_creation_input_tokens, error_kind, error_message, text";

/// One `turns` row (params excluded).
struct TurnRow {
    id: String,
    session_id: String,
    status: String,
    prompt: String,
    host_id: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    iterations: i64,
    usage: [i64; 4],
    error_kind: Option<String>,
    error_message: Option<String>,
    text: Option<String>,
}

impl TurnRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<TurnRow> {
        Ok(TurnRow {
            id: r.get(0)?,
            session_id: r.get(1)?,
            status: r.get(2)?,
            prompt: r.get(3)?,
            host_id: r.get(4)?,
            created_at: r.get(5)?,
            started_at: r.get(6)?,
            finished_at: r.get(7)?,
            iterations: r.get(8)?,
            usage: [r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?],
            error_kind: r.get(13)?,
            error_message: r.get(14)?,
            text: r.get(15)?,
        })
    }

    fn into_info(self, conn: &Connection) -> Result<TurnInfo> {
        let status = parse_status(&self.status, &self.id)?;
        let created_at = Timestamp::from_unix_ms(self.created_at);
        let started_at = self.started_at.map(Timestamp::from_unix_ms);
        let finished_at = self.finished_at.map(Timestamp::from_unix_ms);
        let mode = crate::spend::turn_mode(conn, &self.id)?
            .and_then(|m| synapse_protocol::PermissionMode::parse(&m));
        let result = if status.is_final() {
            // A final row always has finished_at; fall back rather than fail.
            let finished = finished_at.or(started_at).unwrap_or(created_at);
            let error = match self.error_kind {
                None => None,
                Some(kind) => Some(TurnError {
                    kind: parse_error_kind(&kind, &self.id)?,
                    message: self.error_message.unwrap_or_default(),
                }),
            };
            Some(TurnResult {
                turn_id: self.id.clone(),
                session_id: self.session_id.clone(),
                status,
                text: self.text.unwrap_or_default(),
                iterations: u32::try_from(self.iterations.max(0)).unwrap_or(u32::MAX),
                tool_calls: load_tool_calls(conn, &self.id)?,
                usage: {
                    let mut u = Usage {
                        input_tokens: to_u64(self.usage[0]),
                        output_tokens: to_u64(self.usage[1]),
                        cache_read_input_tokens: to_u64(self.usage[2]),
                        cache_creation_input_tokens: to_u64(self.usage[3]),
                        cost_usd: None,
                    };
                    u.cost_usd = crate::spend::turn_cost_usd(conn, &self.id, &u)?;
                    u
                },
                error,
                started_at: started_at.unwrap_or(finished),
                finished_at: finished,
                mode,
            })
        } else {
            None
        };
        Ok(TurnInfo {
            turn_id: self.id,
            session_id: self.session_id,
            status,
            prompt: self.prompt,
            host_id: self.host_id,
            created_at,
            started_at,
            finished_at,
            result,
            mode,
        })
    }
}

fn parse_status(s: &str, turn_id: &str) -> Result<TurnStatus> {
    TurnStatus::parse(s).ok_or_else(|| StoreError::Corrupt {
        table: "turns",
        detail: format!("turn {turn_id} has unknown status {:?}", truncate(s)),
    })
}

fn parse_error_kind(s: &str, turn_id: &str) -> Result<ErrorKind> {
    serde_json::from_value(Value::String(s.to_owned())).map_err(|_| StoreError::Corrupt {
        table: "turns",
        detail: format!("turn {turn_id} has unknown error kind {:?}", truncate(s)),
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The turn's tool calls in recording order.
pub(crate) fn load_tool_calls(conn: &Connection, turn_id: &str) -> Result<Vec<ToolCallRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT call_id, name, input, is_error, duration_ms FROM tool_calls
         WHERE turn_id = ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query([turn_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let input: String = r.get(2)?;
        out.push(ToolCallRecord {
            call_id: r.get(0)?,
            name: r.get(1)?,
            input: serde_json::from_str(&input).map_err(StoreError::json("tool_calls.input"))?,
            is_error: r.get(3)?,
            duration_ms: to_u64(r.get(4)?),
        });
    }
    Ok(out)
}

/// Insert or update one tool call (keyed by turn and call id; the first
/// insertion fixes its position).
pub(crate) fn upsert_tool_call(
    conn: &Connection,
    turn_id: &str,
    call: &ToolCallRecord,
) -> Result<()> {
    let input = serde_json::to_string(&call.input).map_err(StoreError::json("tool_calls.input"))?;
    conn.prepare_cached(
        "INSERT INTO tool_calls (turn_id, call_id, name, input, is_error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (turn_id, call_id) DO UPDATE SET
             name = excluded.name, input = excluded.input,
             is_error = excluded.is_error, duration_ms = excluded.duration_ms",
    )?
    .execute(params![
        turn_id,
        call.call_id,
        call.name,
        input,
        call.is_error,
        to_i64(call.duration_ms)
    ])?;
    Ok(())
}

/// Every turn of a session, oldest first.
pub(crate) fn load_session_turns(conn: &Connection, session_id: &str) -> Result<Vec<TurnInfo>> {
    let rows = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {TURN_COLS} FROM turns WHERE session_id = ?1 ORDER BY seq"
        ))?;
        let rows = stmt.query_map([session_id], TurnRow::from_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    rows.into_iter().map(|r| r.into_info(conn)).collect()
}

/// The session's turns of these ids, oldest first: one lookup by key per
/// id, so a page of a long session reads only its own turns.
pub(crate) fn load_session_turns_by_id(
    conn: &Connection,
    session_id: &str,
    ids: &[&str],
) -> Result<Vec<TurnInfo>> {
    let mut rows = Vec::with_capacity(ids.len());
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {TURN_COLS}, seq FROM turns WHERE id = ?1 AND session_id = ?2"
        ))?;
        for id in ids {
            let row = stmt
                .query_row([id, &session_id], |r| {
                    Ok((r.get::<_, i64>(16)?, TurnRow::from_row(r)?))
                })
                .optional()?;
            rows.extend(row);
        }
    }
    rows.sort_by_key(|(seq, _)| *seq);
    rows.into_iter().map(|(_, r)| r.into_info(conn)).collect()
}

/// The stored status of a turn, `None` if unknown.
pub(crate) fn status_of(conn: &Connection, turn_id: &str) -> Result<Option<TurnStatus>> {
    let s: Option<String> = conn
        .prepare_cached("SELECT status FROM turns WHERE id = ?1")?
        .query_row([turn_id], |r| r.get(0))
        .optional()?;
    s.map(|s| parse_status(&s, turn_id)).transpose()
}

fn require_status(
    conn: &Connection,
    turn_id: &str,
    to: TurnStatus,
    allowed: &[TurnStatus],
) -> Result<()> {
    match status_of(conn, turn_id)? {
        None => Err(StoreError::not_found("turn", turn_id)),
        Some(from) if !allowed.contains(&from) => Err(StoreError::InvalidTransition {
            turn_id: turn_id.to_owned(),
            from,
            to,
        }),
        Some(_) => Ok(()),
    }
}

impl Store {
    /// Insert a `queued` turn with the next `seq` of its session, bump the
    /// session's `updated_at` to `created_at`, and give an untitled session
    /// the prompt's first line as title. Unknown session:
    /// [`StoreError::NotFound`]; taken id: [`StoreError::AlreadyExists`].
    pub fn insert_turn(&self, turn: &NewTurn) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_turn_tx(&tx, turn)?;
        tx.commit()?;
        Ok(())
    }

    /// Create the turn's session and insert the turn, in one transaction
    /// (one commit on the submit path instead of two). The session gets the
    /// turn's `created_at` and a title from its prompt.
    pub fn insert_turn_in_new_session(&self, turn: &NewTurn) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        session::insert_session(&tx, &turn.session_id, turn.created_at, None)?;
        insert_turn_tx(&tx, turn)?;
        tx.commit()?;
        Ok(())
    }

    /// `queued` → `running`, recording `started_at`. From any other status:
    /// [`StoreError::InvalidTransition`]; unknown turn: [`StoreError::NotFound`].
    pub fn set_turn_running(&self, turn_id: &str, started_at: Timestamp) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_running_tx(&tx, turn_id, started_at)?;
        tx.commit()?;
        Ok(())
    }

    /// Add one API round-trip's usage to the turn's running totals, so a
    /// turn found at restart still reports what it paid for. `finish_turn`
    /// later overwrites the totals with the result's. `iterations` is not
    /// touched: a retried attempt may report usage too, and iterations count
    /// API calls, not attempts ([`Store::recover`] derives them from the
    /// stored assistant messages).
    pub fn add_turn_usage(&self, turn_id: &str, usage: &Usage) -> Result<()> {
        add_usage_tx(&self.conn(), turn_id, usage)
    }

    /// Record (or update, keyed by `call_id`) one tool call of the turn.
    pub fn record_tool_call(&self, turn_id: &str, call: &ToolCallRecord) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if status_of(&tx, turn_id)?.is_none() {
            return Err(StoreError::not_found("turn", turn_id));
        }
        upsert_tool_call(&tx, turn_id, call)?;
        tx.commit()?;
        Ok(())
    }

    /// Make the turn final in one transaction: status, text, iterations,
    /// usage, error, `started_at` (kept if already set), `finished_at`, and
    /// every `result.tool_calls` entry (upserted). `result.status` must be
    /// final and the stored status `queued`/`running`; finishing an already
    /// final turn is [`StoreError::InvalidTransition`] and changes nothing.
    pub fn finish_turn(&self, result: &TurnResult) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        finish_turn_tx(&tx, result)?;
        tx.commit()?;
        Ok(())
    }

    /// [`Store::finish_turn`] and [`Store::repair_session`] of its session
    /// in one transaction (one commit): how a turn that stopped early ends
    /// (cancel → `done` waits for one fsync, not two).
    pub fn finish_turn_repairing(
        &self,
        result: &TurnResult,
        repair: &crate::Repair,
        now: Timestamp,
    ) -> Result<crate::RepairReport> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        finish_turn_tx(&tx, result)?;
        let report = crate::recovery::repair_in(&tx, &result.session_id, repair, now)?;
        tx.commit()?;
        Ok(report)
    }

    /// Make the turn final with everything still to commit, in one
    /// transaction (one fsync): the spend rows of attempts that produced no
    /// stored message (`spends`), the final status ([`Store::finish_turn`])
    /// and, for a turn that stopped early, the history's repair (`repair`,
    /// see [`Store::finish_turn_repairing`]). Cancel → `done` waits for this
    /// one commit (ADR 0031). An already final turn is
    /// [`StoreError::InvalidTransition`] and nothing is written.
    pub fn finish_turn_with(
        &self,
        result: &TurnResult,
        spends: &[crate::SpendRecord],
        repair: Option<&crate::Repair>,
        now: Timestamp,
    ) -> Result<Option<crate::RepairReport>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for s in spends {
            crate::spend::record_spend_tx(&tx, s)?;
        }
        finish_turn_tx(&tx, result)?;
        let report = match repair {
            Some(r) => Some(crate::recovery::repair_in(&tx, &result.session_id, r, now)?),
            None => None,
        };
        tx.commit()?;
        Ok(report)
    }

    /// One turn, with `result` (including tool calls) when final.
    pub fn get_turn(&self, turn_id: &str) -> Result<Option<TurnInfo>> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(&format!("SELECT {TURN_COLS} FROM turns WHERE id = ?1"))?
            .query_row([turn_id], TurnRow::from_row)
            .optional()?;
        row.map(|r| r.into_info(&conn)).transpose()
    }

    /// Every `queued` or `running` turn, oldest first.
    pub fn unfinished_turns(&self) -> Result<Vec<TurnInfo>> {
        let conn = self.conn();
        let rows = {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TURN_COLS} FROM turns WHERE status IN ('queued', 'running')
                 ORDER BY created_at, session_id, seq"
            ))?;
            let rows = stmt.query_map([], TurnRow::from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        rows.into_iter().map(|r| r.into_info(&conn)).collect()
    }

    /// The `params` JSON the turn was inserted with; `None` for an unknown turn.
    pub fn turn_params(&self, turn_id: &str) -> Result<Option<Value>> {
        let conn = self.conn();
        let s: Option<String> = conn
            .prepare_cached("SELECT params FROM turns WHERE id = ?1")?
            .query_row([turn_id], |r| r.get(0))
            .optional()?;
        s.map(|s| serde_json::from_str(&s).map_err(StoreError::json("turns.params")))
            .transpose()
    }
}

/// `queued` → `running` inside `tx` (see [`Store::set_turn_running`]).
pub(crate) fn set_running_tx(
    conn: &Connection,
    turn_id: &str,
    started_at: Timestamp,
) -> Result<()> {
    require_status(conn, turn_id, TurnStatus::Running, &[TurnStatus::Queued])?;
    conn.prepare_cached("UPDATE turns SET status = 'running', started_at = ?2 WHERE id = ?1")?
        .execute(params![turn_id, started_at.unix_ms()])?;
    Ok(())
}

/// Add `usage` to the turn's running totals (see [`Store::add_turn_usage`]).
pub(crate) fn add_usage_tx(conn: &Connection, turn_id: &str, usage: &Usage) -> Result<()> {
    let n = conn
        .prepare_cached(
            "UPDATE turns SET input_tokens = input_tokens + ?2, output_tokens = output_tokens + ?3,
                 cache_read_input_tokens = cache_read_input_tokens + ?4,
                 cache_creation_input_tokens = cache_creation_input_tokens + ?5
             WHERE id = ?1",
        )?
        .execute(params![
            turn_id,
            to_i64(usage.input_tokens),
            to_i64(usage.output_tokens),
            to_i64(usage.cache_read_input_tokens),
            to_i64(usage.cache_creation_input_tokens)
        ])?;
    if n == 0 {
        return Err(StoreError::not_found("turn", turn_id));
    }
    Ok(())
}

/// Insert a queued turn inside `tx` (see [`Store::insert_turn`]).
pub(crate) fn insert_turn_tx(tx: &rusqlite::Transaction<'_>, turn: &NewTurn) -> Result<()> {
    let params_json =
        serde_json::to_string(&turn.params).map_err(StoreError::json("turns.params"))?;
    let title: Option<Option<String>> = tx
        .prepare_cached("SELECT title FROM sessions WHERE id = ?1")?
        .query_row([&turn.session_id], |r| r.get(0))
        .optional()?;
    let Some(title) = title else {
        return Err(StoreError::not_found("session", &turn.session_id));
    };
    let inserted = tx
        .prepare_cached(
            "INSERT INTO turns (id, session_id, seq, prompt, host_id, status, created_at, params)
         VALUES (?1, ?2,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE session_id = ?2),
                 ?3, ?4, 'queued', ?5, ?6)
         ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            turn.turn_id,
            turn.session_id,
            turn.prompt,
            turn.host_id,
            turn.created_at.unix_ms(),
            params_json
        ])?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists {
            what: "turn",
            id: turn.turn_id.clone(),
        });
    }
    if title.is_none() {
        if let Some(t) = session::title_from_prompt(&turn.prompt) {
            tx.execute(
                "UPDATE sessions SET title = ?2 WHERE id = ?1",
                params![turn.session_id, t],
            )?;
        }
    }
    crate::message::touch_session(tx, &turn.session_id, turn.created_at.unix_ms())?;
    Ok(())
}

/// Make a turn final inside `tx` (see [`Store::finish_turn`]).
fn finish_turn_tx(tx: &Connection, result: &TurnResult) -> Result<()> {
    let turn_id = result.turn_id.as_str();
    if !result.status.is_final() {
        let from = status_of(tx, turn_id)?.ok_or_else(|| StoreError::not_found("turn", turn_id))?;
        return Err(StoreError::InvalidTransition {
            turn_id: turn_id.to_owned(),
            from,
            to: result.status,
        });
    }
    require_status(
        tx,
        turn_id,
        result.status,
        &[TurnStatus::Queued, TurnStatus::Running],
    )?;
    let u = &result.usage;
    tx.prepare_cached(
        "UPDATE turns SET status = ?2, text = ?3, iterations = ?4,
             input_tokens = ?5, output_tokens = ?6, cache_read_input_tokens = ?7,
             cache_creation_input_tokens = ?8, error_kind = ?9, error_message = ?10,
             started_at = COALESCE(started_at, ?11), finished_at = ?12
         WHERE id = ?1",
    )?
    .execute(params![
        turn_id,
        result.status.as_str(),
        result.text,
        result.iterations,
        to_i64(u.input_tokens),
        to_i64(u.output_tokens),
        to_i64(u.cache_read_input_tokens),
        to_i64(u.cache_creation_input_tokens),
        result.error.as_ref().map(|e| e.kind.as_str()),
        result.error.as_ref().map(|e| e.message.as_str()),
        result.started_at.unix_ms(),
        result.finished_at.unix_ms()
    ])?;
    for call in &result.tool_calls {
        upsert_tool_call(tx, turn_id, call)?;
    }
    Ok(())
}
