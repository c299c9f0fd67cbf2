//! JSON-RPC error codes used by Synapse (contract).
//!
//! The five standard codes of JSON-RPC 2.0, then Synapse's own in the
//! implementation-defined range.

/// Invalid JSON, or bytes that are not UTF-8. Answered with `"id": null`.
pub const PARSE_ERROR: i32 = -32700;
/// Valid JSON that is not a JSON-RPC 2.0 message.
pub const INVALID_REQUEST: i32 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i32 = -32601;
/// The params do not match the method's schema; `data` says what is wrong.
pub const INVALID_PARAMS: i32 = -32602;
/// A bug or an unexpected failure inside the daemon.
pub const INTERNAL_ERROR: i32 = -32603;
/// The turn, session or host named in the params does not exist.
pub const NOT_FOUND: i32 = -32001;
/// `turn.wait`: the timeout passed before the turn reached a final status.
pub const TURN_NOT_COMPLETE: i32 = -32002;
/// A turn needs a host and none (or more than one candidate) is registered.
pub const NO_HOST: i32 = -32003;
/// `turn.submit` refused: no API credential can be found (environment, OS
/// keyring, key file); `data` says what to run. Nothing is stored.
pub const NO_CREDENTIAL: i32 = -32004;
/// A line longer than [`crate::MAX_LINE_BYTES`]. Answered with `"id": null`.
pub const MESSAGE_TOO_LARGE: i32 = -32007;

/// Every code with its short name, for documentation and the OpenRPC check.
pub const ALL: &[(i32, &str)] = &[
    (PARSE_ERROR, "Parse error"),
    (INVALID_REQUEST, "Invalid request"),
    (METHOD_NOT_FOUND, "Method not found"),
    (INVALID_PARAMS, "Invalid params"),
    (INTERNAL_ERROR, "Internal error"),
    (NOT_FOUND, "Not found"),
    (TURN_NOT_COMPLETE, "Turn not complete"),
    (NO_HOST, "No host"),
    (NO_CREDENTIAL, "No API key"),
    (MESSAGE_TOO_LARGE, "Message too large"),
];
