//! Every read a turn needs before its first request.

use synapse_protocol::ToolSpec;
use synapse_store::Store;

use super::{Prepared, TurnsError};

/// The tools a turn offers: its host's (`host_specs`, remembered for the
/// session); else, when the session's history holds tool blocks, the
/// session's last known specs (every call then gets `HostUnavailable`);
/// else none. Runs on a blocking thread. `save`: remember the host's specs
/// now (a turn started at submit saves them after its commit instead: a
/// new session's row exists only then).
pub(super) fn session_tools(
    store: &Store,
    cache: &crate::history_cache::HistoryCache,
    session_id: &str,
    host_specs: Option<Vec<ToolSpec>>,
    save: bool,
) -> Vec<ToolSpec> {
    match host_specs {
        Some(specs) => {
            if save {
                save_tool_specs(store, session_id, &specs);
            }
            specs
        }
        None => match cache.has_tool_blocks(store, session_id) {
            Ok(true) => store
                .session_tool_specs(session_id)
                .ok()
                .flatten()
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    }
}

/// Remember `specs` as the session's last known tools (a failure is logged:
/// they matter only to a later turn without a host). Blocking.
pub(super) fn save_tool_specs(store: &Store, session_id: &str, specs: &[ToolSpec]) {
    if let Err(e) = store.set_session_tool_specs(session_id, specs) {
        tracing::warn!(error = %e, "cannot save the session's tool specs");
    }
}

/// Every read a turn needs before its first request, on a blocking thread:
/// the history to send (after the newest compaction record, whose summary
/// goes in front; refusal turns left out) as stored JSON text, the tools to
/// offer, and the session's `allow_session` answers.
/// `prompt_stored`: the turn's prompt is already stored (left out); the
/// history comes through the session's cache (ADR 0031). `save_specs`: see
/// [`session_tools`].
pub(super) fn read_start(
    store: &Store,
    cache: &crate::history_cache::HistoryCache,
    sid: &str,
    host_specs: Option<Vec<ToolSpec>>,
    tid: &str,
    prompt_stored: bool,
    save_specs: bool,
) -> Result<Prepared, TurnsError> {
    let (history, summary) = cache.load(store, sid, prompt_stored).map_err(|e| {
        cache.forget(sid);
        match e {
            crate::history_cache::HistoryError::Store(e) => TurnsError::from(e),
            other => TurnsError::Internal(other.to_string()),
        }
    })?;
    let tools = session_tools(store, cache, sid, host_specs, save_specs);
    let allowed = store.session_allowed_tools(sid).unwrap_or_else(|e| {
        tracing::warn!(turn_id = %tid, error = %e, "cannot read the session's allowed tools");
        Vec::new()
    });
    Ok((history, summary, tools, allowed, None))
}
