//! The MCP server's connection to the running daemon.
//!
//! One socket connection, opened on first use and opened again after it
//! breaks; the MCP server never starts a daemon. Every call is bounded so a
//! daemon that stops answering cannot hang an MCP request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use synapse_protocol::{method, ErrorObject, ToolCallCancelParams, ToolCallParams, ToolCallResult};
use synapse_rpc::{Client, ClientError};
use tokio::sync::Mutex;

/// Bound on `host.list` and `tool.call.cancel`.
pub const QUICK_CALL_LIMIT: Duration = Duration::from_secs(5);

/// Why a daemon call failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No daemon answers on the socket (not running, or it went away).
    #[error("no Synapse daemon answers on {socket}: {reason}")]
    NoDaemon {
        /// The socket path tried.
        socket: String,
        /// What happened.
        reason: String,
    },
    /// The daemon answered with a JSON-RPC error.
    #[error("{} ({})", .0.message, .0.code)]
    Rpc(ErrorObject),
    /// The daemon's answer did not have the expected shape.
    #[error("unexpected answer from the daemon: {0}")]
    Shape(String),
}

/// A lazily (re)connected client of the daemon.
pub struct Link {
    socket: PathBuf,
    client: Mutex<Option<Arc<Client>>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("socket", &self.socket)
            .finish()
    }
}

impl Link {
    /// A link to the daemon at `socket` (nothing is opened yet).
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_owned(),
            client: Mutex::new(None),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn no_daemon(&self, reason: impl std::fmt::Display) -> LinkError {
        LinkError::NoDaemon {
            socket: self.socket.display().to_string(),
            reason: reason.to_string(),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, LinkError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(QUICK_CALL_LIMIT, Client::connect(&self.socket))
            .await
            .map_err(|_| self.no_daemon("connect timed out"))?
            .map_err(|e| match e {
                ClientError::Connect { source, .. } => self.no_daemon(source),
                other => self.no_daemon(other),
            })?;
        let c = Arc::new(c);
        tracing::info!(socket = %self.socket.display(), "connected to the daemon");
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn forget(&self, broken: &Arc<Client>) {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, broken)) {
            tracing::info!("lost the daemon connection");
            *slot = None;
        }
    }

    /// Call `method`; `limit` bounds the wait (`None`: the daemon bounds it).
    async fn call(
        &self,
        method: &str,
        params: Value,
        limit: Option<Duration>,
    ) -> Result<Value, LinkError> {
        let client = self.client().await?;
        let fut = client.call_value(method, params);
        let r = match limit {
            Some(d) => match tokio::time::timeout(d, fut).await {
                Ok(r) => r,
                Err(_) => {
                    self.forget(&client).await;
                    return Err(self.no_daemon(format!("{method} got no answer within {d:?}")));
                }
            },
            None => fut.await,
        };
        match r {
            Ok(v) => Ok(v),
            Err(ClientError::Rpc(e)) => Err(LinkError::Rpc(e)),
            Err(e) => {
                self.forget(&client).await;
                Err(self.no_daemon(e))
            }
        }
    }

    /// `host.list`, as JSON (see [`crate::catalog::parse_hosts`]).
    pub async fn host_list(&self) -> Result<Value, LinkError> {
        self.call(
            method::HOST_LIST,
            Value::Object(Default::default()),
            Some(QUICK_CALL_LIMIT),
        )
        .await
    }

    /// `tool.call` (bounded by the daemon's own timeout rules).
    pub async fn tool_call(&self, p: &ToolCallParams) -> Result<ToolCallResult, LinkError> {
        let params = serde_json::to_value(p).map_err(|e| LinkError::Shape(e.to_string()))?;
        let v = self.call(method::TOOL_CALL, params, None).await?;
        serde_json::from_value(v).map_err(|e| LinkError::Shape(format!("tool.call: {e}")))
    }

    /// `tool.call.cancel`; true when the call was still pending.
    pub async fn cancel(&self, call_id: &str) -> Result<bool, LinkError> {
        let params = serde_json::to_value(ToolCallCancelParams {
            call_id: call_id.to_owned(),
        })
        .map_err(|e| LinkError::Shape(e.to_string()))?;
        let v = self
            .call(method::TOOL_CALL_CANCEL, params, Some(QUICK_CALL_LIMIT))
            .await?;
        Ok(v["cancelled"].as_bool().unwrap_or(false))
    }
}
