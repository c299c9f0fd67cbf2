//! Method names (contract).

/// Client → daemon: health, counters and configuration summary.
pub const DAEMON_STATUS: &str = "daemon.status";
/// Client → daemon: end running turns as `cancelled`, persist, remove the socket, exit 0.
pub const DAEMON_SHUTDOWN: &str = "daemon.shutdown";
/// Host → daemon: register this connection as a Houdini host serving `tool.invoke`.
pub const HOST_REGISTER: &str = "host.register";
/// Client → daemon: queue a turn; answers at once with its ids.
pub const TURN_SUBMIT: &str = "turn.submit";
/// Client → daemon: the current [`crate::TurnInfo`].
pub const TURN_GET: &str = "turn.get";
/// Client → daemon: wait for the [`crate::TurnResult`], bounded by `timeout_s`.
pub const TURN_WAIT: &str = "turn.wait";
/// Client → daemon: cancel a queued or running turn.
pub const TURN_CANCEL: &str = "turn.cancel";
/// Client → daemon: receive `turn.event` notifications for one turn or all.
pub const TURN_SUBSCRIBE: &str = "turn.subscribe";
/// Client → daemon: every stored session.
pub const SESSION_LIST: &str = "session.list";
/// Client → daemon: one session's messages and turns.
pub const SESSION_GET: &str = "session.get";
/// Client → daemon: answer an `approval_request` (§11).
pub const TURN_APPROVE: &str = "turn.approve";
/// Daemon → host: run one tool call.
pub const TOOL_INVOKE: &str = "tool.invoke";
/// Daemon → host notification: drop a tool call if it has not started.
pub const TOOL_CANCEL: &str = "tool.cancel";
/// Daemon → client notification: progress of a turn.
pub const TURN_EVENT: &str = "turn.event";
/// Client → daemon: every registered host with its tools.
pub const HOST_LIST: &str = "host.list";
/// Client → daemon: run one tool on a host without the model.
pub const TOOL_CALL: &str = "tool.call";
/// Client → daemon: cancel a pending `tool.call` by its `call_id`.
pub const TOOL_CALL_CANCEL: &str = "tool.call.cancel";

/// Methods a client or host may call on the daemon.
pub const CLIENT_TO_DAEMON: &[&str] = &[
    DAEMON_STATUS,
    DAEMON_SHUTDOWN,
    HOST_REGISTER,
    TURN_SUBMIT,
    TURN_GET,
    TURN_WAIT,
    TURN_CANCEL,
    TURN_SUBSCRIBE,
    SESSION_LIST,
    SESSION_GET,
    HOST_LIST,
    TOOL_CALL,
    TOOL_CALL_CANCEL,
    TURN_APPROVE,
];

/// Requests and notifications the daemon sends to its peers.
pub const DAEMON_TO_PEER: &[&str] = &[TOOL_INVOKE, TOOL_CANCEL, TURN_EVENT];
