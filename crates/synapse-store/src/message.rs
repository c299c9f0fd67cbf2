//! Conversation messages, stored Anthropic-shaped.
//!
//! A message is `{"role": "user" | "assistant", "content": <string | [blocks]>}`.
//! Rows keep the role and the `content` JSON separately, plus two flags: does
//! the content hold `tool_use`/`tool_result` blocks (answers
//! [`Store::session_has_tool_blocks`] without parsing), and was the message
//! written by recovery rather than by the user or the model.

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};
use synapse_protocol::{Timestamp, ToolCallRecord, Usage};

use crate::{Result, Store, StoreError};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    User,
    Assistant,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// One stored message row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredMessage {
    pub(crate) turn_id: Option<String>,
    pub(crate) role: Role,
    pub(crate) content: Value,
    pub(crate) synthetic: bool,
    pub(crate) created_at: i64,
}

impl StoredMessage {
    /// The Anthropic-shaped message.
    pub(crate) fn to_value(&self) -> Value {
        json!({ "role": self.role.as_str(), "content": self.content })
    }
}

/// Split and check a message. Only the shape is checked, not the blocks.
fn split(message: &Value) -> Result<(Role, &Value)> {
    let obj = message
        .as_object()
        .ok_or(StoreError::InvalidMessage("not a JSON object"))?;
    let role = obj
        .get("role")
        .and_then(Value::as_str)
        .and_then(Role::parse)
        .ok_or(StoreError::InvalidMessage(
            "role must be \"user\" or \"assistant\"",
        ))?;
    let content = obj
        .get("content")
        .ok_or(StoreError::InvalidMessage("no content"))?;
    if !(content.is_string() || content.is_array()) {
        return Err(StoreError::InvalidMessage(
            "content must be a string or an array of blocks",
        ));
    }
    Ok((role, content))
}

/// The content's blocks (a string content has none).
pub(crate) fn blocks(content: &Value) -> &[Value] {
    content.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn block_type(block: &Value) -> Option<&str> {
    block.get("type").and_then(Value::as_str)
}

/// A `tool_use` block's `(id, name, input)`.
pub(crate) type ToolUse = (String, String, Value);

/// Every `tool_use` block, in order.
pub(crate) fn tool_uses(content: &Value) -> Vec<ToolUse> {
    blocks(content)
        .iter()
        .filter(|b| block_type(b) == Some("tool_use"))
        .filter_map(|b| {
            let id = b.get("id")?.as_str()?.to_owned();
            let name = b
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let input = b.get("input").cloned().unwrap_or(Value::Null);
            Some((id, name, input))
        })
        .collect()
}

/// The `tool_use_id`s answered by `tool_result` blocks.
pub(crate) fn tool_result_ids(content: &Value) -> HashSet<String> {
    blocks(content)
        .iter()
        .filter(|b| block_type(b) == Some("tool_result"))
        .filter_map(|b| {
            b.get("tool_use_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

fn has_tool_blocks(content: &Value) -> bool {
    blocks(content)
        .iter()
        .any(|b| matches!(block_type(b), Some("tool_use" | "tool_result")))
}

/// The concatenated `text` blocks (or the string content).
pub(crate) fn text_of(content: &Value) -> String {
    if let Some(s) = content.as_str() {
        return s.to_owned();
    }
    synapse_protocol::text_of_blocks(blocks(content))
}

/// The first thing that makes `messages` unsendable to the Messages API, or
/// `None` when the history is sound: roles alternate starting with `user`;
/// every assistant `tool_use` is answered by a `tool_result` in the very next
/// (user) message; every `tool_result` answers a `tool_use` of the message
/// right before it. A trailing user message is allowed (it is the prompt
/// about to be answered).
pub fn history_problem(messages: &[Value]) -> Option<String> {
    let mut prev: Option<(Role, Vec<ToolUse>)> = None;
    for (i, m) in messages.iter().enumerate() {
        let (role, content) = match split(m) {
            Ok(x) => x,
            Err(e) => return Some(format!("message {i}: {e}")),
        };
        match (&prev, role) {
            (None, Role::Assistant) => {
                return Some("history starts with an assistant message".into())
            }
            (Some((r, _)), _) if *r == role => {
                return Some(format!(
                    "messages {} and {i} are both {}",
                    i - 1,
                    role.as_str()
                ))
            }
            _ => {}
        }
        let results = tool_result_ids(content);
        let uses: HashSet<String> = match &prev {
            Some((Role::Assistant, uses)) => uses.iter().map(|u| u.0.clone()).collect(),
            _ => HashSet::new(),
        };
        if let Some(missing) = uses.iter().find(|id| !results.contains(*id)) {
            return Some(format!(
                "tool_use {missing} (message {}) has no tool_result in message {i}",
                i - 1
            ));
        }
        if let Some(orphan) = results.iter().find(|id| !uses.contains(*id)) {
            return Some(format!(
                "tool_result {orphan} in message {i} answers no tool_use"
            ));
        }
        prev = Some((role, tool_uses(content)));
    }
    match prev {
        Some((Role::Assistant, uses)) if !uses.is_empty() => {
            Some("the last assistant message has unanswered tool_use blocks".into())
        }
        _ => None,
    }
}

/// Every message of a session, in order.
pub(crate) fn load(conn: &Connection, session_id: &str) -> Result<Vec<StoredMessage>> {
    load_range(conn, session_id, 0, None)
}

/// The session's messages from index `first` on, at most `limit`, in order.
pub(crate) fn load_range(
    conn: &Connection,
    session_id: &str,
    first: i64,
    limit: Option<u32>,
) -> Result<Vec<StoredMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT turn_id, role, content, synthetic, created_at
         FROM messages WHERE session_id = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
    )?;
    let limit = limit.map_or(-1, i64::from);
    let mut rows = stmt.query(params![session_id, first, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let role: String = row.get(1)?;
        let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt {
            table: "messages",
            detail: format!("unknown role in session {session_id}"),
        })?;
        let content: String = row.get(2)?;
        out.push(StoredMessage {
            turn_id: row.get(0)?,
            role,
            content: serde_json::from_str(&content)
                .map_err(StoreError::json("messages.content"))?,
            synthetic: row.get(3)?,
            created_at: row.get(4)?,
        });
    }
    Ok(out)
}

/// [`load_range`] with each message as its stored JSON text (nothing
/// parsed), with its turn id.
pub(crate) fn load_range_raw(
    conn: &Connection,
    session_id: &str,
    first: i64,
    limit: Option<u32>,
) -> Result<Vec<(synapse_protocol::RawMessage, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT turn_id, role, content
         FROM messages WHERE session_id = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
    )?;
    let limit = limit.map_or(-1, i64::from);
    let mut rows = stmt.query(params![session_id, first, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let role: String = row.get(1)?;
        let content: String = row.get(2)?;
        let m =
            synapse_protocol::RawMessage::new(&role, content).map_err(|e| StoreError::Corrupt {
                table: "messages",
                detail: format!("a message of session {session_id}: {e}"),
            })?;
        out.push((m, row.get(0)?));
    }
    Ok(out)
}

/// Insert one row at `idx` (no transaction handling).
pub(crate) fn insert(
    conn: &Connection,
    session_id: &str,
    idx: i64,
    m: &StoredMessage,
) -> Result<()> {
    let content =
        serde_json::to_string(&m.content).map_err(StoreError::json("messages.content"))?;
    conn.prepare_cached(
        "INSERT INTO messages (session_id, idx, turn_id, role, content, has_tools, synthetic, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        session_id,
        idx,
        m.turn_id,
        m.role.as_str(),
        content,
        has_tool_blocks(&m.content),
        m.synthetic,
        m.created_at
    ])?;
    Ok(())
}

fn stored_message(turn_id: &str, message: &Value) -> Result<StoredMessage> {
    let (role, content) = split(message)?;
    Ok(StoredMessage {
        turn_id: Some(turn_id.to_owned()),
        role,
        content: content.clone(),
        synthetic: false,
        created_at: Timestamp::now().unix_ms(),
    })
}

/// Append `stored` as the session's next message inside `tx`: the turn must
/// exist and belong to the session.
fn append_tx(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    turn_id: &str,
    stored: &StoredMessage,
) -> Result<()> {
    let owner: Option<String> = tx
        .prepare_cached("SELECT session_id FROM turns WHERE id = ?1")?
        .query_row([turn_id], |r| r.get(0))
        .optional()?;
    match owner {
        None => return Err(StoreError::not_found("turn", turn_id)),
        Some(s) if s != session_id => {
            return Err(StoreError::WrongSession {
                turn_id: turn_id.to_owned(),
                session_id: session_id.to_owned(),
            })
        }
        Some(_) => {}
    }
    let idx: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM messages WHERE session_id = ?1")?
        .query_row([session_id], |r| r.get(0))?;
    insert(tx, session_id, idx, stored)?;
    touch_session(tx, session_id, stored.created_at)?;
    Ok(())
}

/// The history to send for a session (see [`Store::session_history_from`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Anthropic-shaped messages, oldest first.
    pub messages: Vec<Value>,
    /// The stored index of each message.
    pub stored_idx: Vec<i64>,
    /// The index the session's next message will get.
    pub next_idx: i64,
    /// About the bytes the messages take in a request (their stored JSON),
    /// for the context estimate without serializing them again.
    pub bytes: usize,
}

/// The history to send for a session as stored JSON text (see
/// [`Store::session_history_raw_from`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawHistory {
    /// The messages, oldest first, as their stored JSON.
    pub messages: Vec<synapse_protocol::RawMessage>,
    /// The stored index of each message.
    pub stored_idx: Vec<i64>,
    /// The index the session's next message will get.
    pub next_idx: i64,
    /// About the bytes the messages take in a request.
    pub bytes: usize,
}

/// Bump a session's `updated_at` (never backwards).
pub(crate) fn touch_session(conn: &Connection, session_id: &str, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET updated_at = max(updated_at, ?2) WHERE id = ?1")?
        .execute(params![session_id, now])?;
    Ok(())
}

impl Store {
    /// Append `message` to the session's history as part of `turn_id`, in
    /// one committed transaction, and bump the session's `updated_at`.
    ///
    /// `message` must be `{"role": "user"|"assistant", "content": string|[blocks]}`
    /// (other keys are dropped). The turn must exist and belong to the
    /// session. Role alternation is not enforced here (see
    /// [`history_problem`] and [`Store::repair_session`]).
    pub fn append_message(&self, session_id: &str, turn_id: &str, message: &Value) -> Result<()> {
        self.append_message_with(session_id, turn_id, message, &Usage::default(), &[], &[])
    }

    /// [`Store::append_message`], and in the same transaction (one commit):
    /// add `usage` to the turn's running totals, record `calls` and the
    /// `spends` rows (see [`Store::add_turn_usage`],
    /// [`Store::record_tool_call`], [`Store::record_spend`]). The daemon
    /// commits an assistant message with the usage that paid for it, and a
    /// message of tool results with the records of those calls.
    pub fn append_message_with(
        &self,
        session_id: &str,
        turn_id: &str,
        message: &Value,
        usage: &Usage,
        calls: &[ToolCallRecord],
        spends: &[crate::SpendRecord],
    ) -> Result<()> {
        let stored = stored_message(turn_id, message)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        append_tx(&tx, session_id, turn_id, &stored)?;
        if !usage.is_zero() {
            crate::turn::add_usage_tx(&tx, turn_id, usage)?;
        }
        for call in calls {
            crate::turn::upsert_tool_call(&tx, turn_id, call)?;
        }
        for spend in spends {
            crate::spend::record_spend_tx(&tx, spend)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Start a turn with one commit: `queued` → `running` with `started_at`,
    /// and its first message (the prompt) appended. This is the only write
    /// between a worker taking a turn and its first Messages API request.
    pub fn start_turn(
        &self,
        session_id: &str,
        turn_id: &str,
        started_at: Timestamp,
        prompt: &Value,
    ) -> Result<()> {
        let stored = stored_message(turn_id, prompt)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        crate::turn::set_running_tx(&tx, turn_id, started_at)?;
        append_tx(&tx, session_id, turn_id, &stored)?;
        tx.commit()?;
        Ok(())
    }

    /// Insert a turn already started, in one commit: its session when
    /// `new_session`, the turn (see [`Store::insert_turn`]), `queued` →
    /// `running` with `started_at`, and its prompt as the session's next
    /// message. The daemon's submit path when the turn can run at once: the
    /// only fsync before its first request (ADR 0028).
    pub fn insert_started_turn(
        &self,
        turn: &crate::NewTurn,
        new_session: bool,
        started_at: Timestamp,
        prompt: &Value,
    ) -> Result<()> {
        let stored = stored_message(&turn.turn_id, prompt)?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if new_session {
            crate::session::insert_session(&tx, &turn.session_id, turn.created_at, None)?;
        }
        crate::turn::insert_turn_tx(&tx, turn)?;
        crate::turn::set_running_tx(&tx, &turn.turn_id, started_at)?;
        append_tx(&tx, &turn.session_id, &turn.turn_id, &stored)?;
        tx.commit()?;
        Ok(())
    }

    /// The session's history as Anthropic-shaped messages, oldest first:
    /// what to send when continuing it. Empty for an unknown session.
    pub fn session_messages(&self, session_id: &str) -> Result<Vec<Value>> {
        let conn = self.conn();
        Ok(load(&conn, session_id)?
            .iter()
            .map(StoredMessage::to_value)
            .collect())
    }

    /// What to send when continuing the session: its history, oldest first,
    /// without the turns that ended `refusal` (prompt and reply: the API
    /// would refuse again, or reject the refusal's empty text), so the
    /// session can go on. Those turns stay stored and visible in
    /// [`Store::get_session`].
    pub fn session_history(&self, session_id: &str) -> Result<Vec<Value>> {
        Ok(self.session_history_from(session_id, 0)?.messages)
    }

    /// [`Store::session_history`] from the stored index `from_idx` on (what
    /// a compaction record does not cover), with each message's index and
    /// the index the next message will get.
    pub fn session_history_from(&self, session_id: &str, from_idx: i64) -> Result<History> {
        let raw = self.session_history_raw_from(session_id, from_idx)?;
        Ok(History {
            messages: raw.messages.iter().map(|m| m.to_value()).collect(),
            stored_idx: raw.stored_idx,
            next_idx: raw.next_idx,
            bytes: raw.bytes,
        })
    }

    /// [`Store::session_history_from`] with each message kept as its stored
    /// JSON text ([`RawHistory`]): nothing is parsed, so the request splices
    /// the stored bytes (the turn start path; ADR 0028).
    pub fn session_history_raw_from(&self, session_id: &str, from_idx: i64) -> Result<RawHistory> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT m.role, m.content, m.idx FROM messages m LEFT JOIN turns t ON t.id = m.turn_id
             WHERE m.session_id = ?1 AND m.idx >= ?2
               AND (t.status IS NULL OR t.status != 'refusal')
             ORDER BY m.idx",
        )?;
        let mut rows = stmt.query(params![session_id, from_idx])?;
        let mut out = RawHistory::default();
        while let Some(row) = rows.next()? {
            let role: String = row.get(0)?;
            let content: String = row.get(1)?;
            let m = synapse_protocol::RawMessage::new(&role, content).map_err(|e| {
                StoreError::Corrupt {
                    table: "messages",
                    detail: format!("a message of session {session_id}: {e}"),
                }
            })?;
            out.bytes += m.json_len();
            out.messages.push(m);
            out.stored_idx.push(row.get(2)?);
        }
        out.next_idx = conn
            .prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM messages WHERE session_id = ?1")?
            .query_row([session_id], |r| r.get(0))?;
        Ok(out)
    }

    /// Record that `summary` stands for the session's messages before
    /// `upto_idx` in later requests (one commit).
    pub fn add_compaction(
        &self,
        session_id: &str,
        turn_id: &str,
        upto_idx: i64,
        summary: &str,
    ) -> Result<()> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO compactions (session_id, turn_id, upto_idx, summary, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            session_id,
            turn_id,
            upto_idx,
            summary,
            Timestamp::now().unix_ms()
        ])?;
        Ok(())
    }

    /// The newest compaction record of the session: `(upto_idx, summary)`.
    pub fn latest_compaction(&self, session_id: &str) -> Result<Option<(i64, String)>> {
        let conn = self.conn();
        let found = conn
            .prepare_cached(
                "SELECT upto_idx, summary FROM compactions WHERE session_id = ?1
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([session_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(found)
    }

    /// True when any stored message of the session holds a `tool_use` or
    /// `tool_result` block (then the API needs tool definitions even when no
    /// host is connected, design §9).
    pub fn session_has_tool_blocks(&self, session_id: &str) -> Result<bool> {
        self.session_has_tool_blocks_from(session_id, 0)
    }

    /// [`Store::session_has_tool_blocks`] among the messages whose index is
    /// `from_idx` or more (the daemon's history cache asks only about the
    /// messages stored since it last looked; ADR 0031).
    pub fn session_has_tool_blocks_from(&self, session_id: &str, from_idx: i64) -> Result<bool> {
        let conn = self.conn();
        let found: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM messages
                 WHERE session_id = ?1 AND idx >= ?2 AND has_tools = 1)",
            )?
            .query_row(params![session_id, from_idx], |r| r.get(0))?;
        Ok(found)
    }
}
