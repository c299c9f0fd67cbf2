//! Wire types of the Synapse protocol (contract v1, see `docs/protocol.md`).
//!
//! This crate holds only data: the JSON-RPC 2.0 envelope ([`jsonrpc`]), the
//! method names ([`method`]), the error codes ([`code`]), and the params,
//! results and events of every method ([`types`]). It knows nothing about
//! sockets or tasks, so the daemon, the CLI, the tests and the schema
//! generator all share one definition. JSON Schemas for every type are
//! generated from these definitions into `proto/schemas/` (see [`schema`]).
//!
//! Names here are a contract used by scripts outside this repository: extend,
//! never rename.

pub mod code;
pub mod direct;
pub mod jsonrpc;
pub mod method;
pub mod raw_message;
pub mod schema;
pub mod time;
pub mod types;

pub use direct::{
    HostListEntry, ToolCallCancelParams, ToolCallCancelResult, ToolCallParams, ToolCallResult,
    ToolImage,
};
pub use jsonrpc::{ErrorObject, Id, Message, Notification, Request, Response};
pub use raw_message::{RawMessage, RawMessageError};
pub use time::{seconds, Timestamp, MAX_TIMEOUT_S};
pub use types::*;

/// Protocol revision spoken by this build (`daemon.status.protocol`, readiness line).
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest accepted line on the socket, newline excluded: 16 MiB.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
