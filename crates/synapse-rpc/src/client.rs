//! A small async JSON-RPC client over the daemon's socket.
//!
//! Used by the `synapsed` CLI, the tests and the benchmarks. It can also play
//! a host: requests and notifications from the daemon arrive on
//! [`Client::next_incoming`] and are answered with [`Client::respond`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use synapse_protocol::{ErrorObject, Id, Message, Notification, Request, Response, MAX_LINE_BYTES};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

use crate::codec::{Frame, LineCodec};
use crate::endpoint::{self, Stream, WriteHalf};
use crate::peer::encode;

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon answers on the socket.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The connection closed before the answer.
    #[error("connection closed")]
    Closed,
    /// Writing failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon answered with an error.
    #[error("{0}")]
    Rpc(ErrorObject),
    /// The result did not have the expected shape.
    #[error("unexpected result: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Something the daemon sent that is not a response.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A request to answer with [`Client::respond`].
    Request(Request),
    /// A notification (e.g. `turn.event`).
    Notification(Notification),
}

type Pending = Arc<Mutex<HashMap<Id, oneshot::Sender<Response>>>>;

/// A connection to the daemon.
pub struct Client {
    writer: tokio::sync::Mutex<WriteHalf>,
    pending: Pending,
    next_id: AtomicI64,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    reader: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Connect to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = endpoint::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self::from_stream(stream))
    }

    /// Wrap a connected stream.
    pub fn from_stream(stream: Stream) -> Self {
        let (read, write) = endpoint::split(stream);
        let pending: Pending = Arc::default();
        let (tx, incoming) = mpsc::unbounded_channel();
        let reader_pending = pending.clone();
        let reader = tokio::spawn(async move {
            let mut frames = FramedRead::new(read, LineCodec::new(MAX_LINE_BYTES));
            while let Some(Ok(Frame::Line(line))) = frames.next().await {
                let Ok(value) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let items = match value {
                    Value::Array(items) => items,
                    v => vec![v],
                };
                for item in items {
                    match Message::classify(item) {
                        Ok(Message::Response(r)) => {
                            let slot = reader_pending
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&r.id);
                            if let Some(slot) = slot {
                                let _ = slot.send(r);
                            }
                        }
                        Ok(Message::Request(r)) => {
                            let _ = tx.send(Incoming::Request(r));
                        }
                        Ok(Message::Notification(n)) => {
                            let _ = tx.send(Incoming::Notification(n));
                        }
                        Err(_) => {}
                    }
                }
            }
            // Fail every pending call: dropping the senders wakes them.
            reader_pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        });
        Self {
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_id: AtomicI64::new(1),
            incoming,
            reader,
        }
    }

    /// Call `method` and decode its result.
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<R, ClientError> {
        let v = self.call_value(method, params).await?;
        Ok(serde_json::from_value(v)?)
    }

    /// Call `method` and return its raw result.
    pub async fn call_value(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<Value, ClientError> {
        let params = serde_json::to_value(params)?;
        let params = match params {
            Value::Null => None,
            p => Some(p),
        };
        let id = Id::Num(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), tx);
        if let Err(e) = self
            .send_line(encode(&Request::new(id.clone(), method, params)))
            .await
        {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Err(e);
        }
        let resp = rx.await.map_err(|_| ClientError::Closed)?;
        resp.into_result().map_err(ClientError::Rpc)
    }

    /// Send a notification.
    pub async fn notify(&self, method: &str, params: impl Serialize) -> Result<(), ClientError> {
        let params = serde_json::to_value(params)?;
        self.send_line(encode(&Notification::new(method, Some(params))))
            .await
    }

    /// Answer a request from the daemon.
    pub async fn respond(
        &self,
        id: Id,
        result: Result<Value, ErrorObject>,
    ) -> Result<(), ClientError> {
        let resp = match result {
            Ok(v) => Response::ok(id, v),
            Err(e) => Response::err(id, e),
        };
        self.send_line(encode(&resp)).await
    }

    /// Write raw bytes (tests: garbage, partial lines, batches).
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), ClientError> {
        let mut w = self.writer.lock().await;
        w.write_all(bytes).await?;
        Ok(())
    }

    async fn send_line(&self, line: Bytes) -> Result<(), ClientError> {
        let mut w = self.writer.lock().await;
        w.write_all(&line).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                ClientError::Closed
            }
            _ => ClientError::Io(e),
        })
    }

    /// The next request or notification from the daemon; `None` once closed.
    pub async fn next_incoming(&mut self) -> Option<Incoming> {
        self.incoming.recv().await
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
