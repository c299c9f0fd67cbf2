//! `synapsed mcp`: an MCP server on stdio serving the tools of the Houdini
//! session connected to the running Synapse daemon (design §15; ADR 0018).
//!
//! Built on the official Rust MCP SDK (`rmcp`). It is a client of the daemon
//! socket and never starts a daemon:
//!
//! - `tools/list` is the chosen host's tools from `host.list` with
//!   `readOnlyHint` / `destructiveHint`; when no daemon or no host answers it
//!   is only `synapse_status`, whose result says what is missing.
//! - `tools/call` → `tool.call`; envelope errors are `isError: true` results
//!   with the envelope text; images are image content.
//! - `notifications/cancelled` → `tool.call.cancel` (the host gets
//!   `tool.cancel`).
//! - `notifications/tools/list_changed` when the offered tools change, found
//!   by polling `host.list` (every second by default).
//!
//! Modules: [`link`] (the daemon connection), [`catalog`] (what is offered),
//! [`arguments`] (a light argument check), [`server`] (the MCP handler),
//! [`stdio`] (the stdio transport with JSON-RPC errors for malformed lines).
//! stdout carries only the protocol; logs go to stderr.

pub mod arguments;
pub mod catalog;
pub mod link;
pub mod server;
pub mod stdio;

use std::path::PathBuf;
use std::time::Duration;

use rmcp::ServiceExt;

pub use catalog::Options;
pub use server::SynapseMcp;

/// Default interval of the `host.list` poll.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// Why the MCP server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The MCP handshake on stdio failed.
    #[error("MCP initialization failed: {0}")]
    Init(String),
    /// The service ended with an error.
    #[error("MCP service failed: {0}")]
    Service(String),
}

/// The poll interval: `SYNAPSE_MCP_POLL_MS` (50..=60000) or [`DEFAULT_POLL`].
pub fn poll_interval() -> Duration {
    std::env::var("SYNAPSE_MCP_POLL_MS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|ms| (50..=60_000).contains(ms))
        .map_or(DEFAULT_POLL, Duration::from_millis)
}

/// Serve MCP on stdin/stdout until the client closes stdin.
pub async fn run(socket: PathBuf, opts: Options) -> Result<(), McpError> {
    tracing::info!(socket = %socket.display(), host_id = ?opts.host_id, read_only = opts.read_only, "synapsed mcp starting");
    let server = SynapseMcp::new(link::Link::new(&socket), opts);
    // Know the daemon's state before the client's first request.
    server.refresh().await;
    let (transport, writer) = stdio::transport(tokio::io::stdin(), tokio::io::stdout());
    let service = server
        .clone()
        .serve(transport)
        .await
        .map_err(|e| McpError::Init(e.to_string()))?;
    let watch = tokio::spawn(server.watch(service.peer().clone(), poll_interval()));
    let result = service.waiting().await;
    watch.abort();
    // The last answers reach stdout before the process exits.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    match result {
        Ok(reason) => {
            tracing::info!(?reason, "synapsed mcp stopped");
            Ok(())
        }
        Err(e) => Err(McpError::Service(e.to_string())),
    }
}
