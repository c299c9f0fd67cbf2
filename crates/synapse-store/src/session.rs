//! Sessions: creation, listing, detail and the last known tool specs.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use synapse_protocol::{RawMessage, SessionDetail, SessionSummary, Timestamp, ToolSpec, TurnInfo};

use crate::{message, turn, Result, Store, StoreError};

/// Longest title derived from a prompt, in characters.
pub const TITLE_MAX_CHARS: usize = 80;

/// A title from the start of a prompt: its first non-empty line, at most
/// [`TITLE_MAX_CHARS`] characters (an ellipsis marks a cut).
pub fn title_from_prompt(prompt: &str) -> Option<String> {
    let line = prompt.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut chars = line.chars();
    let mut title: String = chars.by_ref().take(TITLE_MAX_CHARS).collect();
    if chars.next().is_some() {
        title.push('…');
    }
    Some(title)
}

/// A `session.get` answer with each message as its stored JSON text: it
/// serializes to the same bytes as the [`SessionDetail`] it stands for
/// (same fields in the same order; a stored message's text is what
/// `serde_json` writes for it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionPage {
    /// The session.
    pub session_id: String,
    /// The page's messages, oldest first.
    pub messages: Vec<RawMessage>,
    /// The turns of the page's messages (all of them for the whole session), oldest first.
    pub turns: Vec<TurnInfo>,
    /// How many messages the whole session has.
    pub message_count: u64,
}

impl SessionPage {
    /// The same answer with each message parsed.
    pub fn into_detail(self) -> SessionDetail {
        SessionDetail {
            session_id: self.session_id,
            messages: self.messages.iter().map(RawMessage::to_value).collect(),
            turns: self.turns,
            message_count: self.message_count,
        }
    }
}

impl Store {
    /// Create an empty session. `created_at` and `updated_at` are `now`.
    /// Without a title, the first turn's prompt gives one
    /// ([`title_from_prompt`]). An existing id is
    /// [`StoreError::AlreadyExists`].
    pub fn create_session(
        &self,
        session_id: &str,
        now: Timestamp,
        title: Option<&str>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_session(&tx, session_id, now, title)?;
        tx.commit()?;
        Ok(())
    }

    /// True when the session exists.
    pub fn session_exists(&self, session_id: &str) -> Result<bool> {
        self.session_exists_on(&self.conn(), session_id)
    }

    fn session_exists_on(&self, conn: &rusqlite::Connection, session_id: &str) -> Result<bool> {
        let found: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
            .query_row([session_id], |r| r.get(0))?;
        Ok(found)
    }

    /// Every session with its turn count, most recently updated first
    /// (ties: newest created first, then id).
    pub fn list_sessions(&self) -> Result<Vec<SessionSummary>> {
        self.list_sessions_page(u32::MAX, None)
    }

    /// One page of [`Store::list_sessions`]: at most `limit` sessions
    /// updated strictly before `before` (unix ms), newest first.
    pub fn list_sessions_page(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<SessionSummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT s.id, s.created_at, s.updated_at, s.title,
                    (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id)
             FROM sessions s
             WHERE s.updated_at < ?1
             ORDER BY s.updated_at DESC, s.created_at DESC, s.id
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), i64::from(limit)], |r| {
            Ok(SessionSummary {
                session_id: r.get(0)?,
                created_at: Timestamp::from_unix_ms(r.get(1)?),
                updated_at: Timestamp::from_unix_ms(r.get(2)?),
                title: r.get(3)?,
                turns: crate::to_u64(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The session's messages in order and its turns oldest first (each
    /// with `result` once final). `None` for an unknown session.
    pub fn get_session(&self, session_id: &str) -> Result<Option<SessionDetail>> {
        self.get_session_page(session_id, None, None)
    }

    /// [`Store::get_session`] with only the messages after index `after`
    /// (0-based), at most `limit` of them; `message_count` is the whole
    /// session's.
    pub fn get_session_page(
        &self,
        session_id: &str,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Option<SessionDetail>> {
        Ok(self
            .session_page(session_id, after, limit)?
            .map(SessionPage::into_detail))
    }

    /// [`Store::get_session_page`] with each message kept as its stored JSON
    /// text: reads only the page's messages (a range of the `(session_id,
    /// idx)` key) and the page's turns (by id), and parses no message, so
    /// `session.get` sends the stored bytes (ADR 0037).
    pub fn session_page(
        &self,
        session_id: &str,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Option<SessionPage>> {
        let conn = self.conn();
        let exists: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")?
            .query_row([session_id], |r| r.get(0))?;
        if !exists {
            return Ok(None);
        }
        let first = after.map_or(0, |a| crate::to_i64(a).saturating_add(1));
        let page = message::load_range_raw(&conn, session_id, first, limit)?;
        let message_count: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM messages WHERE session_id = ?1")?
            .query_row([session_id], |r| r.get(0))?;
        // A page carries the turns of its messages; the whole session (v1)
        // carries them all.
        let turns = if after.is_some() || limit.is_some() {
            let mut ids: Vec<&str> = Vec::new();
            for id in page.iter().filter_map(|(_, t)| t.as_deref()) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            turn::load_session_turns_by_id(&conn, session_id, &ids)?
        } else {
            turn::load_session_turns(&conn, session_id)?
        };
        Ok(Some(SessionPage {
            session_id: session_id.to_owned(),
            messages: page.into_iter().map(|(m, _)| m).collect(),
            turns,
            message_count: crate::to_u64(message_count),
        }))
    }

    /// Remember the tool specs last sent for this session (used when no host
    /// is connected but the history holds tool blocks, design §9).
    pub fn set_session_tool_specs(&self, session_id: &str, specs: &[ToolSpec]) -> Result<()> {
        let json =
            serde_json::to_string(specs).map_err(StoreError::json("sessions.last_tool_specs"))?;
        let conn = self.conn();
        // Unchanged specs (the common case: the same host, turn after turn)
        // change no row, so the commit writes nothing and costs no fsync.
        let n = conn
            .prepare_cached(
                "UPDATE sessions SET last_tool_specs = ?2
                 WHERE id = ?1 AND last_tool_specs IS NOT ?2",
            )?
            .execute(params![session_id, json])?;
        if n == 0 && !self.session_exists_on(&conn, session_id)? {
            return Err(StoreError::not_found("session", session_id));
        }
        Ok(())
    }

    /// The tool specs last stored by [`Store::set_session_tool_specs`];
    /// `None` when never set or the session is unknown.
    pub fn session_tool_specs(&self, session_id: &str) -> Result<Option<Vec<ToolSpec>>> {
        let conn = self.conn();
        let json: Option<Option<String>> = conn
            .prepare_cached("SELECT last_tool_specs FROM sessions WHERE id = ?1")?
            .query_row([session_id], |r| r.get(0))
            .optional()?;
        match json.flatten() {
            None => Ok(None),
            Some(s) => Ok(Some(
                serde_json::from_str(&s).map_err(StoreError::json("sessions.last_tool_specs"))?,
            )),
        }
    }
}

/// Insert a session inside `tx` (see [`Store::create_session`]).
pub(crate) fn insert_session(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    now: Timestamp,
    title: Option<&str>,
) -> Result<()> {
    let inserted = tx.execute(
        "INSERT INTO sessions (id, created_at, updated_at, title) VALUES (?1, ?2, ?2, ?3)
         ON CONFLICT (id) DO NOTHING",
        params![session_id, now.unix_ms(), title],
    )?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists {
            what: "session",
            id: session_id.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(
            title_from_prompt("\n  make a box \nplease"),
            Some("make a box".into())
        );
        assert_eq!(title_from_prompt("   "), None);
        let long = "é".repeat(100);
        let t = title_from_prompt(&long).unwrap_or_default();
        assert_eq!(t.chars().count(), TITLE_MAX_CHARS + 1);
        assert!(t.ends_with('…'));
    }
}
