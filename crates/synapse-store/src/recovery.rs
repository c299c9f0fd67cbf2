//! Crash recovery and history repair.
//!
//! The Messages API only accepts a history whose roles alternate (starting
//! with `user`) and where every assistant `tool_use` is answered by a
//! `tool_result` in the very next user message. A daemon killed mid-turn
//! can leave (a) an assistant message with unanswered `tool_use` blocks, or
//! (b) a trailing user message (the prompt, or tool results) with no
//! assistant answer. Repair rewrites such a history, in one transaction:
//!
//! * unanswered `tool_use` ids get synthetic `tool_result` blocks
//!   (`is_error: true`, content = the JSON text, keys sorted, of a
//!   [`ToolErrorEnvelope`] with `error_type` e.g. `Interrupted`): added to the
//!   next user message (before its other blocks) when there is one, else in a
//!   new user message. Each also becomes a tool-call record (`is_error`,
//!   0 ms) unless the call was already recorded;
//! * a trailing user message, or two user messages in a row, get a synthetic
//!   assistant text message between/after them (`"(interrupted)"` at
//!   recovery), so the next prompt can simply be appended. Two assistant
//!   messages in a row (not produced by the daemon) get a synthetic user
//!   `"(continue)"` between them.
//!
//! Synthetic messages are flagged in the database and count as part of the
//! turn of the message they answer. Repair is idempotent.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, Connection, TransactionBehavior};
use serde_json::{json, Value};
use synapse_protocol::{
    tool_result_block, Timestamp, ToolCallRecord, ToolErrorEnvelope, TurnStatus,
};

use crate::message::{self, Role, StoredMessage};
use crate::{Result, Store, StoreError};

/// What synthetic content a repair writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// `error_type` of the synthetic tool-error envelopes, e.g. `Interrupted`.
    pub error_type: String,
    /// `error_message` of those envelopes.
    pub error_message: String,
    /// Text of the synthetic assistant message closing a trailing user message.
    pub placeholder: String,
}

impl Repair {
    /// What [`Store::recover`] writes: `Interrupted` / `"(interrupted)"`.
    pub fn interrupted() -> Repair {
        Repair {
            error_type: "Interrupted".into(),
            error_message: "The daemon stopped before this tool call finished; it may or may not \
                            have run. Re-inspect the scene before retrying."
                .into(),
            placeholder: "(interrupted)".into(),
        }
    }

    /// For a turn that ended with `status` and left its history open:
    /// `Cancelled` for `cancelled`, `Interrupted` for `interrupted`, else
    /// `TurnEnded`; placeholder `"(<status>)"`.
    pub fn ended(status: TurnStatus) -> Repair {
        let error_type = match status {
            TurnStatus::Cancelled => "Cancelled",
            TurnStatus::Interrupted => "Interrupted",
            _ => "TurnEnded",
        };
        Repair {
            error_type: error_type.into(),
            error_message: format!("The turn ended ({status}) before this tool call ran."),
            placeholder: format!("({status})"),
        }
    }
}

/// What one session's repair changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Synthetic `tool_result` blocks written.
    pub tool_results_added: usize,
    /// Synthetic messages inserted (tool-result carriers and placeholders).
    pub messages_added: usize,
}

impl RepairReport {
    /// True when the history was already sound.
    pub fn is_empty(&self) -> bool {
        self.tool_results_added == 0 && self.messages_added == 0
    }
}

/// What [`Store::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Turns found `queued`/`running`, now `interrupted`, oldest first.
    pub interrupted_turns: Vec<String>,
    /// Sessions whose history was rewritten.
    pub repaired_sessions: Vec<String>,
    /// Synthetic `tool_result` blocks written, over all sessions.
    pub tool_results_added: usize,
    /// Synthetic messages inserted, over all sessions.
    pub messages_added: usize,
}

struct Repaired {
    messages: Vec<StoredMessage>,
    report: RepairReport,
    /// `(turn_id, record)` for every synthetic result.
    calls: Vec<(String, ToolCallRecord)>,
}

fn envelope_text(tool_name: &str, repair: &Repair, now: Timestamp) -> String {
    let mut env =
        ToolErrorEnvelope::synthetic(tool_name, &repair.error_type, repair.error_message.clone());
    env.timestamp = now.to_string();
    env.to_json_text()
}

fn synthetic(role: Role, turn_id: Option<String>, content: Value, now: Timestamp) -> StoredMessage {
    StoredMessage {
        turn_id,
        role,
        content,
        synthetic: true,
        created_at: now.unix_ms(),
    }
}

fn text_content(text: &str) -> Value {
    json!([{ "type": "text", "text": text }])
}

/// Make `messages` sendable (see the module docs). Pure.
fn repair_history(mut src: Vec<StoredMessage>, repair: &Repair, now: Timestamp) -> Repaired {
    let mut out: Vec<StoredMessage> = Vec::with_capacity(src.len() + 2);
    let mut report = RepairReport::default();
    let mut calls = Vec::new();
    for i in 0..src.len() {
        let m = src[i].clone();
        let filler = match out.last() {
            None if m.role == Role::Assistant => {
                Some((Role::User, "(continue)", m.turn_id.clone()))
            }
            Some(last) if last.role == m.role => Some(match m.role {
                Role::User => (
                    Role::Assistant,
                    repair.placeholder.as_str(),
                    last.turn_id.clone(),
                ),
                Role::Assistant => (Role::User, "(continue)", last.turn_id.clone()),
            }),
            _ => None,
        };
        if let Some((role, text, turn_id)) = filler {
            out.push(synthetic(role, turn_id, text_content(text), now));
            report.messages_added += 1;
        }
        let uses = if m.role == Role::Assistant {
            message::tool_uses(&m.content)
        } else {
            Vec::new()
        };
        let turn_id = m.turn_id.clone();
        out.push(m);
        if uses.is_empty() {
            continue;
        }
        let next_user = src.get_mut(i + 1).filter(|n| n.role == Role::User);
        let answered = next_user
            .as_ref()
            .map(|n| message::tool_result_ids(&n.content))
            .unwrap_or_default();
        let mut seen = BTreeSet::new();
        let missing: Vec<_> = uses
            .into_iter()
            .filter(|u| !answered.contains(&u.0) && seen.insert(u.0.clone()))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let results: Vec<Value> = missing
            .iter()
            .map(|(id, name, _)| tool_result_block(id, true, envelope_text(name, repair, now)))
            .collect();
        report.tool_results_added += results.len();
        if let Some(tid) = &turn_id {
            for (id, name, input) in &missing {
                calls.push((
                    tid.clone(),
                    ToolCallRecord {
                        call_id: id.clone(),
                        name: name.clone(),
                        input: input.clone(),
                        is_error: true,
                        duration_ms: 0,
                    },
                ));
            }
        }
        match next_user {
            Some(next) => {
                // tool_result blocks must come first: existing results, the
                // synthetic ones, then everything else.
                let old: Vec<Value> = match &next.content {
                    Value::String(s) if s.is_empty() => Vec::new(),
                    Value::String(s) => vec![json!({ "type": "text", "text": s })],
                    other => message::blocks(other).to_vec(),
                };
                let (mut blocks, rest): (Vec<Value>, Vec<Value>) = old
                    .into_iter()
                    .partition(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"));
                blocks.extend(results);
                blocks.extend(rest);
                next.content = Value::Array(blocks);
                next.synthetic = true;
            }
            None => {
                out.push(synthetic(Role::User, turn_id, Value::Array(results), now));
                report.messages_added += 1;
            }
        }
    }
    if let Some(last) = out.last().filter(|l| l.role == Role::User) {
        let turn_id = last.turn_id.clone();
        out.push(synthetic(
            Role::Assistant,
            turn_id,
            text_content(&repair.placeholder),
            now,
        ));
        report.messages_added += 1;
    }
    Repaired {
        messages: out,
        report,
        calls,
    }
}

/// Load, repair and (if needed) rewrite one session's history inside the
/// caller's transaction.
pub(crate) fn repair_in(
    conn: &Connection,
    session_id: &str,
    repair: &Repair,
    now: Timestamp,
) -> Result<RepairReport> {
    let msgs = message::load(conn, session_id)?;
    let fixed = repair_history(msgs, repair, now);
    if fixed.report.is_empty() {
        return Ok(fixed.report);
    }
    conn.execute("DELETE FROM messages WHERE session_id = ?1", [session_id])?;
    for (idx, m) in fixed.messages.iter().enumerate() {
        message::insert(conn, session_id, i64::try_from(idx).unwrap_or(i64::MAX), m)?;
    }
    for (turn_id, call) in &fixed.calls {
        let input =
            serde_json::to_string(&call.input).map_err(StoreError::json("tool_calls.input"))?;
        conn.execute(
            "INSERT INTO tool_calls (turn_id, call_id, name, input, is_error, duration_ms)
             SELECT ?1, ?2, ?3, ?4, 1, 0 WHERE EXISTS (SELECT 1 FROM turns WHERE id = ?1)
             ON CONFLICT (turn_id, call_id) DO NOTHING",
            params![turn_id, call.call_id, call.name, input],
        )?;
    }
    message::touch_session(conn, session_id, now.unix_ms())?;
    Ok(fixed.report)
}

impl Store {
    /// Run once at daemon start, before serving. In one transaction: every
    /// `queued`/`running` turn becomes `interrupted` (`finished_at = now`,
    /// no `error` — the status says it all; `text` = its last stored
    /// assistant text; usage as accumulated by [`Store::add_turn_usage`];
    /// `iterations` = its stored, non-synthetic assistant messages, i.e. the
    /// API calls that completed — retried attempts are not counted), and every
    /// session that had such a turn or whose history ends with a user
    /// message is repaired with [`Repair::interrupted`] (see the module
    /// docs). Afterwards every stored history is sendable and no turn is
    /// non-final. Idempotent.
    pub fn recover(&self, now: Timestamp) -> Result<RecoveryReport> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Vec<(String, String, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT id, session_id, iterations FROM turns WHERE status IN ('queued', 'running')
                 ORDER BY created_at, session_id, seq",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut sessions: BTreeSet<String> = open.iter().map(|t| t.1.clone()).collect();
        {
            let mut stmt = tx.prepare(
                "SELECT m.session_id FROM messages m
                 WHERE m.role = 'user'
                   AND m.idx = (SELECT MAX(idx) FROM messages WHERE session_id = m.session_id)",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for s in rows {
                sessions.insert(s?);
            }
        }
        // Text and assistant-message count per open turn, before repair adds
        // synthetic messages.
        let mut per_turn: HashMap<String, (String, i64)> = HashMap::new();
        let open_ids: BTreeSet<&str> = open.iter().map(|t| t.0.as_str()).collect();
        for session_id in open.iter().map(|t| t.1.as_str()).collect::<BTreeSet<_>>() {
            for m in message::load(&tx, session_id)? {
                let Some(tid) = m.turn_id.as_deref().filter(|t| open_ids.contains(t)) else {
                    continue;
                };
                if m.role == Role::Assistant && !m.synthetic {
                    let e = per_turn.entry(tid.to_owned()).or_default();
                    e.0 = message::text_of(&m.content);
                    e.1 += 1;
                }
            }
        }
        let repair = Repair::interrupted();
        let mut report = RecoveryReport::default();
        for session_id in &sessions {
            let r = repair_in(&tx, session_id, &repair, now)?;
            if !r.is_empty() {
                report.repaired_sessions.push(session_id.clone());
                report.tool_results_added += r.tool_results_added;
                report.messages_added += r.messages_added;
            }
        }
        for (turn_id, _, iterations) in &open {
            let (text, count) = per_turn.remove(turn_id).unwrap_or_default();
            tx.execute(
                "UPDATE turns SET status = 'interrupted', finished_at = ?2, text = ?3, iterations = ?4
                 WHERE id = ?1",
                params![turn_id, now.unix_ms(), text, (*iterations).max(count)],
            )?;
            report.interrupted_turns.push(turn_id.clone());
        }
        tx.commit()?;
        Ok(report)
    }

    /// Repair one session's history (see the module docs) in one
    /// transaction, e.g. after a turn ended `api_error` right after its
    /// prompt was stored, so the next prompt does not follow a user message.
    /// Call it only while no turn of the session is running (a running
    /// turn's trailing prompt would get a placeholder answer). Unknown
    /// session: [`StoreError::NotFound`].
    pub fn repair_session(
        &self,
        session_id: &str,
        repair: &Repair,
        now: Timestamp,
    ) -> Result<RepairReport> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)",
            [session_id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::not_found("session", session_id));
        }
        let report = repair_in(&tx, session_id, repair, now)?;
        tx.commit()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: Role, content: Value) -> StoredMessage {
        StoredMessage {
            turn_id: Some("t".into()),
            role,
            content,
            synthetic: false,
            created_at: 0,
        }
    }

    fn values(msgs: &[StoredMessage]) -> Vec<Value> {
        msgs.iter().map(StoredMessage::to_value).collect()
    }

    fn tool_use(id: &str) -> Value {
        json!({"type": "tool_use", "id": id, "name": "inspect", "input": {"path": "/obj"}})
    }

    #[test]
    fn open_tool_use_at_the_end_gets_a_result_message_and_placeholder() {
        let now = Timestamp::from_unix_ms(1_000);
        let h = vec![
            m(Role::User, json!("hi")),
            m(
                Role::Assistant,
                json!([{"type": "text", "text": "looking"}, tool_use("a"), tool_use("b")]),
            ),
        ];
        let r = repair_history(h, &Repair::interrupted(), now);
        assert_eq!(
            r.report,
            RepairReport {
                tool_results_added: 2,
                messages_added: 2
            }
        );
        assert_eq!(r.calls.len(), 2);
        let v = values(&r.messages);
        assert_eq!(history_problem_of(&v), None);
        let content = v[2]["content"][0]["content"].as_str().unwrap_or_default();
        let env: Value = serde_json::from_str(content).unwrap_or_default();
        assert_eq!(env["error_type"], "Interrupted");
        assert_eq!(env["agent_tool_error"], true);
        assert_eq!(env["timestamp"], "1970-01-01T00:00:01.000Z");
        // Keys sorted in the JSON text.
        assert!(content.starts_with("{\"agent_tool_error\":true,\"error_message\""));
        assert_eq!(
            v[3],
            json!({"role": "assistant", "content": [{"type": "text", "text": "(interrupted)"}]})
        );
    }

    #[test]
    fn partial_results_are_completed_in_place_results_first() {
        let now = Timestamp::from_unix_ms(0);
        let h = vec![
            m(Role::User, json!("hi")),
            m(Role::Assistant, json!([tool_use("a"), tool_use("b")])),
            m(
                Role::User,
                json!([
                    {"type": "tool_result", "tool_use_id": "a", "content": "ok"},
                    {"type": "text", "text": "next prompt"}
                ]),
            ),
            m(Role::Assistant, json!("done")),
        ];
        let r = repair_history(h, &Repair::interrupted(), now);
        assert_eq!(
            r.report,
            RepairReport {
                tool_results_added: 1,
                messages_added: 0
            }
        );
        let v = values(&r.messages);
        assert_eq!(v.len(), 4);
        let types: Vec<_> = v[2]["content"]
            .as_array()
            .map(|a| a.iter().map(|b| b["type"].clone()).collect())
            .unwrap_or_default();
        assert_eq!(
            types,
            vec![json!("tool_result"), json!("tool_result"), json!("text")]
        );
        assert_eq!(history_problem_of(&v), None);
    }

    #[test]
    fn consecutive_users_and_trailing_user_get_placeholders() {
        let h = vec![
            m(Role::User, json!("first")),
            m(Role::User, json!("second")),
            m(Role::Assistant, json!("a")),
            m(Role::Assistant, json!("b")),
            m(Role::User, json!("third")),
        ];
        let r = repair_history(h, &Repair::interrupted(), Timestamp::from_unix_ms(0));
        assert_eq!(r.report.messages_added, 3);
        assert_eq!(history_problem_of(&values(&r.messages)), None);
        // Idempotent.
        let again = repair_history(
            r.messages,
            &Repair::interrupted(),
            Timestamp::from_unix_ms(0),
        );
        assert!(again.report.is_empty());
    }

    #[test]
    fn sound_history_is_untouched() {
        let h = vec![
            m(Role::User, json!("hi")),
            m(Role::Assistant, json!([tool_use("a")])),
            m(
                Role::User,
                json!([{"type": "tool_result", "tool_use_id": "a", "content": "ok"}]),
            ),
            m(Role::Assistant, json!([{"type": "text", "text": "done"}])),
        ];
        let r = repair_history(
            h.clone(),
            &Repair::interrupted(),
            Timestamp::from_unix_ms(0),
        );
        assert!(r.report.is_empty());
        assert_eq!(r.messages, h);
    }

    fn history_problem_of(v: &[Value]) -> Option<String> {
        crate::history_problem(v)
    }
}
