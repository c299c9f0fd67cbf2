//! What the loop tells the outside world while a turn runs.

use futures::future::BoxFuture;
use serde_json::Value;
use synapse_protocol::{ToolCallRecord, TurnError, TurnEventKind, Usage};

/// Receives a turn's progress. Implemented by the daemon (events, store).
pub trait TurnObserver: Send + Sync {
    /// A progress event: `text` deltas, `tool_call`, `tool_result`, `retry`.
    /// Never `status` or `done` (the daemon emits those). Must not block.
    fn event(&self, kind: TurnEventKind);

    /// The usage of one API round-trip, as soon as it is known (also for
    /// failed and cancelled ones). Round-trips without usage are not reported.
    fn usage(&self, usage: &Usage);

    /// A completed Anthropic-shaped message (`{"role", "content"}`) to
    /// persist; the loop awaits it before going on. Called for the user
    /// prompt first, then each assistant message, then each user message of
    /// `tool_result` blocks (synthetic ones included).
    ///
    /// An error (the message could not be made durable: disk full, I/O
    /// error) ends the turn at once as `api_error` with that error: the loop
    /// never goes on, or reports success, with a conversation it could not
    /// keep.
    fn message(&self, message: Value) -> BoxFuture<'_, Result<(), TurnError>>;

    /// One finished tool call, as it will appear in the result's
    /// `tool_calls`: called once per call the host ran (or that was cut off
    /// by cancel or timeout), right after its `tool_result` event and before
    /// the user message holding its result is passed to
    /// [`TurnObserver::message`]. Calls that never ran (closed by a
    /// synthetic result) are not reported. Must not block. The default does
    /// nothing.
    fn tool_call(&self, _record: &ToolCallRecord) {}

    /// The model summarized the session's messages before the stored index
    /// `upto_idx`: store it so later turns start from the summary. An error
    /// ends the turn like [`TurnObserver::message`]. The default keeps
    /// nothing.
    fn compaction(&self, _upto_idx: i64, _summary: &str) -> BoxFuture<'_, Result<(), TurnError>> {
        Box::pin(async { Ok(()) })
    }

    /// Called right before each Messages API request is sent. An error ends
    /// the turn at once with status `budget_exceeded` and that error, and no
    /// request is sent (the daemon's spending caps, §12). Must not block.
    /// The default allows every request.
    fn before_request(&self) -> Result<(), TurnError> {
        Ok(())
    }
}

/// An observer that drops everything (benchmarks, fire-and-forget use).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullObserver;

impl TurnObserver for NullObserver {
    fn event(&self, _kind: TurnEventKind) {}
    fn usage(&self, _usage: &Usage) {}
    fn message(&self, _message: Value) -> BoxFuture<'_, Result<(), TurnError>> {
        Box::pin(async { Ok(()) })
    }
}
