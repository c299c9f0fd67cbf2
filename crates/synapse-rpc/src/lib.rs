//! Synapse transport: the per-user local socket and JSON-RPC 2.0 over NDJSON.
//!
//! Layers, bottom up (each a small module):
//!
//! - [`endpoint`]: where the socket lives (a Unix socket, or a named pipe on
//!   Windows), who may connect, and "already running".
//! - [`codec`]: one JSON message per `\n`-terminated line, at most
//!   [`MAX_LINE_BYTES`](synapse_protocol::MAX_LINE_BYTES); longer lines are
//!   skipped and reported as a frame of their own.
//! - [`outbox`]: a connection's outgoing queue. Progress notifications are
//!   dropped for a peer that does not read; responses never are, and a peer that
//!   lets them pile up past a hard limit is disconnected.
//! - [`peer`]: the handle on one connection: send notifications, and make
//!   requests to the peer through a pending-request map that fails every call
//!   at once when the peer goes away.
//! - [`dispatch`]: turns a line into method calls on a jsonrpsee
//!   [`Methods`](jsonrpsee_core::server::Methods) table, with batches,
//!   notifications and every JSON-RPC error handled here.
//! - [`connection`]: the reader and writer tasks of one connection, joined by
//!   the outbox; [`server`] accepts connections and runs them.
//! - [`client`]: a small async client used by the CLI, tests and benchmarks.

pub mod client;
pub mod codec;
pub mod connection;
pub mod dispatch;
pub mod endpoint;
pub mod outbox;
pub mod peer;
pub mod server;

pub use client::{Client, ClientError, Incoming};
pub use dispatch::Dispatcher;
pub use endpoint::{EndpointError, Listener};
pub use peer::{Peer, PeerError};
pub use server::{ConnectionHooks, Server};
