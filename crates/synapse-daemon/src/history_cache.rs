//! The history a session's previous turn already read, kept between turns
//! (ADR 0031), so a submit reads only the messages stored since.
//!
//! An entry holds what a turn start read for its session: the newest
//! compaction record (`upto_idx`, summary), the messages after it as stored
//! JSON text (refusal turns left out), their stored indexes, the index the
//! next message gets, and their size for the context estimate. The next
//! start of that session reads the newest compaction record (one row) and
//! the messages from the entry's `next_idx` on (the rows its previous turn
//! added), and appends them: the same messages, in the same order, as a
//! full read, as long as nothing older changed. What can change older rows,
//! and how the cache hears of it:
//!
//! - a turn that ends other than `complete` (cancel, failure, refusal,
//!   limits): its final commit may repair the history, which rewrites the
//!   session's rows, so the entry is dropped ([`HistoryCache::forget`]);
//! - a compaction record: the entry is dropped when it is written, and an
//!   entry whose record is not the newest one is never used;
//! - crash recovery: runs at start, before any entry exists (memory only);
//! - refusal: a refused turn's rows are left out of the history; they are
//!   read only once the turn is final (an entry is made at a turn start,
//!   when the session's earlier turns are all final), and the turn is not
//!   `complete`, so its session's entry is dropped anyway.
//!
//! Bound: at most [`MAX_SESSIONS`] sessions and [`MAX_BYTES`] bytes of
//! stored message text in all; the least recently used session goes first,
//! and a history larger than the whole budget is not kept.
//! `SYNAPSE_HISTORY_CACHE=off` in the daemon's environment turns the cache
//! off (every start reads the whole history; for comparisons).

use std::collections::HashMap;
use std::sync::Mutex;

use synapse_store::{RawHistory, Store, StoreError};

/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 16;

/// Stored message text kept at most, over all sessions (bytes).
pub const MAX_BYTES: usize = 64 << 20;

/// The newest compaction record of a session: `(upto_idx, summary)`.
type Compaction = Option<(i64, String)>;

#[derive(Debug)]
struct Entry {
    compaction: Compaction,
    history: RawHistory,
    /// Whether any message of the session (before the compaction and
    /// refused turns included) holds tool blocks, as far as it was looked
    /// at: `(found, up to this index, exclusive)`.
    tools: Option<(bool, i64)>,
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

/// Per-session history kept between turns (see the module docs).
#[derive(Debug)]
pub struct HistoryCache {
    enabled: bool,
    inner: Mutex<Inner>,
}

impl Default for HistoryCache {
    fn default() -> Self {
        Self::new(true)
    }
}

/// Why a start's history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The prompt the submit stored is not the session's last message.
    #[error("the prompt just stored is not the session's last message")]
    PromptNotLast,
}

impl HistoryCache {
    /// A cache; `enabled: false` keeps nothing.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// On unless `SYNAPSE_HISTORY_CACHE` is `off` (or `0`).
    pub fn from_env() -> Self {
        let off = std::env::var("SYNAPSE_HISTORY_CACHE")
            .is_ok_and(|v| matches!(v.trim(), "off" | "0" | "false"));
        Self::new(!off)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The history a turn of `session_id` sends before its prompt, and the
    /// summary of the newest compaction record; exactly what
    /// [`Store::session_history_raw_from`] from that record returns.
    /// `prompt_stored`: the turn's prompt is already the session's last
    /// message (committed at submit); it is left out. Blocking (store reads).
    pub fn load(
        &self,
        store: &Store,
        session_id: &str,
        prompt_stored: bool,
    ) -> Result<(RawHistory, Option<String>), HistoryError> {
        let compaction = store.latest_compaction(session_id)?;
        let from = compaction.as_ref().map_or(0, |c| c.0);
        let cached = if self.enabled {
            self.take(session_id)
        } else {
            None
        };
        let mut tools = None;
        let mut history = match cached {
            Some(e) if e.compaction == compaction => {
                let tail = store.session_history_raw_from(session_id, e.history.next_idx)?;
                let mut h = e.history;
                if tail.next_idx < h.next_idx {
                    // Fewer rows than before: rewritten behind the cache's back.
                    store.session_history_raw_from(session_id, from)?
                } else {
                    tools = e.tools;
                    h.messages.extend(tail.messages);
                    h.stored_idx.extend(tail.stored_idx);
                    h.bytes += tail.bytes;
                    h.next_idx = tail.next_idx;
                    h
                }
            }
            _ => store.session_history_raw_from(session_id, from)?,
        };
        if prompt_stored {
            match (history.messages.pop(), history.stored_idx.pop()) {
                (Some(p), Some(idx)) if idx + 1 == history.next_idx => {
                    history.next_idx = idx;
                    history.bytes -= p.json_len();
                }
                _ => return Err(HistoryError::PromptNotLast),
            }
        }
        if self.enabled {
            self.put(session_id, compaction.clone(), history.clone(), tools);
        }
        Ok((history, compaction.map(|c| c.1)))
    }

    /// [`Store::session_has_tool_blocks`], asking the store only about the
    /// messages stored since the session's entry last looked (once found,
    /// the answer stays true: only a rewrite could change it, and a
    /// rewrite drops the entry). Blocking.
    pub fn has_tool_blocks(&self, store: &Store, session_id: &str) -> Result<bool, StoreError> {
        let known = if self.enabled {
            let inner = self.lock();
            inner
                .entries
                .get(session_id)
                .map(|e| (e.tools, e.history.next_idx))
        } else {
            None
        };
        let Some((tools, next_idx)) = known else {
            return store.session_has_tool_blocks(session_id);
        };
        let found = match tools {
            Some((true, _)) => return Ok(true),
            Some((false, upto)) => store.session_has_tool_blocks_from(session_id, upto)?,
            None => store.session_has_tool_blocks(session_id)?,
        };
        // Messages stored after `next_idx` (none while no turn of the
        // session runs) are looked at again next time.
        if let Some(e) = self.lock().entries.get_mut(session_id) {
            e.tools = Some((found, next_idx.min(e.history.next_idx)));
        }
        Ok(found)
    }

    /// Drop `session_id`'s entry: its stored history may have changed.
    pub fn forget(&self, session_id: &str) {
        let mut inner = self.lock();
        if let Some(e) = inner.entries.remove(session_id) {
            inner.bytes -= e.history.bytes;
        }
    }

    /// Sessions and bytes held now.
    pub fn held(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    fn take(&self, session_id: &str) -> Option<Entry> {
        let mut inner = self.lock();
        let e = inner.entries.remove(session_id)?;
        inner.bytes -= e.history.bytes;
        Some(e)
    }

    fn put(
        &self,
        session_id: &str,
        compaction: Compaction,
        history: RawHistory,
        tools: Option<(bool, i64)>,
    ) {
        if history.bytes > MAX_BYTES {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.entries.remove(session_id) {
            inner.bytes -= old.history.bytes;
        }
        while !inner.entries.is_empty()
            && (inner.entries.len() >= MAX_SESSIONS || inner.bytes + history.bytes > MAX_BYTES)
        {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.history.bytes;
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.bytes += history.bytes;
        inner.entries.insert(
            session_id.to_owned(),
            Entry {
                compaction,
                history,
                tools,
                used,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use synapse_protocol::Timestamp;
    use synapse_store::NewTurn;

    fn turn(store: &Store, sid: &str, n: usize, new_session: bool) -> String {
        let tid = format!("turn_{sid}_{n}");
        let t = NewTurn {
            turn_id: tid.clone(),
            session_id: sid.to_owned(),
            prompt: format!("p{n}"),
            host_id: None,
            created_at: Timestamp::now(),
            params: json!({}),
        };
        let prompt = json!({"role":"user","content":[{"type":"text","text":format!("p{n}")}]});
        store
            .insert_started_turn(&t, new_session, Timestamp::now(), &prompt)
            .unwrap();
        tid
    }

    fn answer(store: &Store, sid: &str, tid: &str, n: usize) {
        let m = json!({"role":"assistant","content":[{"type":"text","text":format!("a{n}")}]});
        store.append_message(sid, tid, &m).unwrap();
    }

    #[test]
    fn incremental_reads_match_full_reads_and_compaction_is_seen() {
        let store = Store::open_in_memory().unwrap();
        let cache = HistoryCache::new(true);
        for n in 0..6 {
            let tid = turn(&store, "s", n, n == 0);
            let (h, summary) = cache.load(&store, "s", true).unwrap();
            let mut full = store.session_history_raw_from("s", 0).unwrap();
            full.messages.pop();
            full.stored_idx.pop();
            full.next_idx -= 1;
            full.bytes = full.messages.iter().map(|m| m.json_len()).sum();
            if n < 4 {
                assert_eq!(h, full, "turn {n}");
                assert_eq!(summary, None);
            } else {
                assert_eq!(summary.as_deref(), Some("sum"), "turn {n}");
                assert_eq!(h.stored_idx.first(), Some(&4), "turn {n}");
            }
            answer(&store, "s", &tid, n);
            if n == 3 {
                store.add_compaction("s", &tid, 4, "sum").unwrap();
            }
        }
        assert_eq!(cache.held().0, 1);
        cache.forget("s");
        assert_eq!(cache.held(), (0, 0));
    }

    #[test]
    fn tool_blocks_are_looked_for_only_in_new_messages_and_stay_found() {
        let store = Store::open_in_memory().unwrap();
        let cache = HistoryCache::new(true);
        let tid = turn(&store, "s", 0, true);
        cache.load(&store, "s", true).unwrap();
        assert!(!cache.has_tool_blocks(&store, "s").unwrap());
        answer(&store, "s", &tid, 0);
        let tid = turn(&store, "s", 1, false);
        cache.load(&store, "s", true).unwrap();
        assert!(!cache.has_tool_blocks(&store, "s").unwrap());
        let call = json!({"role":"assistant","content":[
            {"type":"tool_use","id":"toolu_1","name":"probe","input":{}}]});
        store.append_message("s", &tid, &call).unwrap();
        let tid = turn(&store, "s", 2, false);
        cache.load(&store, "s", true).unwrap();
        assert!(cache.has_tool_blocks(&store, "s").unwrap());
        assert_eq!(
            cache.lock().entries.get("s").and_then(|e| e.tools),
            Some((true, 4))
        );
        answer(&store, "s", &tid, 2);
        cache.load(&store, "s", false).unwrap();
        assert!(cache.has_tool_blocks(&store, "s").unwrap());
        assert!(store.session_has_tool_blocks("s").unwrap());
        assert!(!store.session_has_tool_blocks_from("s", 5).unwrap());
    }

    #[test]
    fn at_most_max_sessions_are_kept() {
        let store = Store::open_in_memory().unwrap();
        let cache = HistoryCache::new(true);
        for s in 0..MAX_SESSIONS + 5 {
            let sid = format!("s{s}");
            turn(&store, &sid, 0, true);
            cache.load(&store, &sid, true).unwrap();
        }
        assert_eq!(cache.held().0, MAX_SESSIONS);
        let off = HistoryCache::new(false);
        off.load(&store, "s0", true).unwrap();
        assert_eq!(off.held(), (0, 0));
    }
}
