//! The handle on one connection, shared by the daemon's method handlers.
//!
//! A [`Peer`] queues lines on the connection's [`Outbox`] and owns the map of
//! requests the daemon has sent to that peer and not yet had answered (the
//! lsp-server pattern). Responses are matched only against this map: ids the
//! peer uses for its own requests live in a separate space. When the
//! connection ends every pending request fails at once with
//! [`PeerError::Disconnected`]; a response that arrives late (after a timeout)
//! or names an unknown id is logged and ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use synapse_protocol::{ErrorObject, Id, Notification, Request, Response};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::outbox::{Outbox, PushError};

/// Why a request to the peer failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PeerError {
    /// The connection closed before the answer came (or was already closed).
    #[error("peer disconnected")]
    Disconnected,
    /// No answer within the timeout.
    #[error("peer did not answer within {0:?}")]
    Timeout(Duration),
    /// The peer answered with a JSON-RPC error.
    #[error("peer answered with an error: {0}")]
    Rpc(ErrorObject),
}

type Slot = oneshot::Sender<Result<Value, PeerError>>;

#[derive(Debug)]
struct Inner {
    id: u64,
    uid: Option<u32>,
    outbox: Arc<Outbox>,
    pending: Mutex<HashMap<Id, Slot>>,
    next_id: AtomicI64,
    closed: CancellationToken,
    read_ended: CancellationToken,
}

/// A cheap, cloneable handle on one live connection.
#[derive(Clone, Debug)]
pub struct Peer {
    inner: Arc<Inner>,
}

impl Peer {
    /// A peer writing to `outbox`. `id` is unique within the process.
    pub fn new(id: u64, uid: Option<u32>, outbox: Arc<Outbox>) -> Self {
        Self {
            inner: Arc::new(Inner {
                id,
                uid,
                outbox,
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicI64::new(1),
                closed: CancellationToken::new(),
                read_ended: CancellationToken::new(),
            }),
        }
    }

    /// Connection id, unique within this daemon process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The peer's uid, as checked at accept (`None` on Windows, where the
    /// pipe's DACL decides who may connect).
    pub fn uid(&self) -> Option<u32> {
        self.inner.uid
    }

    /// The connection's outbox.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.inner.outbox
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Slot>> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Send a request and wait for its answer, at most `timeout`.
    ///
    /// Fails at once with [`PeerError::Disconnected`] when the connection
    /// closes meanwhile. Dropping the returned future forgets the request (a
    /// late answer is then ignored).
    pub async fn request(
        &self,
        method: &str,
        params: impl Serialize,
        timeout: Duration,
    ) -> Result<Value, PeerError> {
        if self.is_closed() {
            return Err(PeerError::Disconnected);
        }
        let id = Id::Num(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let params = serde_json::to_value(params).map_err(|e| {
            PeerError::Rpc(ErrorObject::internal(format!("unserializable params: {e}")))
        })?;
        let line = encode(&Request::new(id.clone(), method, Some(params)));
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id.clone(), tx);
        let guard = PendingGuard {
            peer: self,
            id: id.clone(),
        };
        if self.inner.outbox.push_required(line).is_err() {
            return Err(PeerError::Disconnected);
        }
        let outcome = tokio::select! {
            r = rx => r.unwrap_or(Err(PeerError::Disconnected)),
            () = tokio::time::sleep(timeout) => Err(PeerError::Timeout(timeout)),
            () = self.inner.closed.cancelled() => Err(PeerError::Disconnected),
        };
        drop(guard);
        outcome
    }

    /// Route a response from the peer to the request waiting for it.
    /// Returns false (and logs) when no request waits for that id.
    pub fn complete(&self, response: Response) -> bool {
        let slot = self.pending().remove(&response.id);
        match slot {
            Some(tx) => {
                let outcome = response.into_result().map_err(PeerError::Rpc);
                // The waiter may have given up just now; that is fine.
                let _ = tx.send(outcome);
                true
            }
            None => {
                tracing::debug!(conn = self.id(), id = %response.id, "ignoring late or unknown response");
                false
            }
        }
    }

    /// Send a notification that must arrive (e.g. `tool.cancel`).
    pub fn notify(&self, method: &str, params: impl Serialize) -> Result<(), PushError> {
        let params = serde_json::to_value(params).unwrap_or(Value::Null);
        self.send_required(encode(&Notification::new(method, Some(params))))
    }

    /// Queue an already encoded line (with `\n`) that must arrive.
    pub fn send_required(&self, line: Bytes) -> Result<(), PushError> {
        let r = self.inner.outbox.push_required(line);
        if r.is_err() {
            self.close();
        }
        r
    }

    /// Queue an already encoded progress line (with `\n`); dropped if the peer lags.
    pub fn send_progress(&self, line: Bytes) -> Result<(), PushError> {
        self.inner.outbox.push_progress(line)
    }

    /// Close the connection: fail every pending request and stop the writer.
    pub fn close(&self) {
        self.inner.closed.cancel();
        self.inner.outbox.close();
        let slots: Vec<Slot> = self.pending().drain().map(|(_, s)| s).collect();
        for s in slots {
            let _ = s.send(Err(PeerError::Disconnected));
        }
    }

    /// True once the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Resolves when the connection closes.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await;
    }

    /// Mark that the peer will send nothing more (EOF or a read error).
    pub fn mark_read_ended(&self) {
        self.inner.read_ended.cancel();
    }

    /// Resolves when the peer stopped sending (EOF, read error) or the
    /// connection closed: a client that went away, even while its in-flight
    /// calls are still allowed to finish.
    pub async fn read_ended(&self) {
        tokio::select! {
            () = self.inner.read_ended.cancelled() => {}
            () = self.inner.closed.cancelled() => {}
        }
    }

    /// Requests sent and not yet answered.
    pub fn pending_requests(&self) -> usize {
        self.pending().len()
    }
}

struct PendingGuard<'a> {
    peer: &'a Peer,
    id: Id,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.peer.pending().remove(&self.id);
    }
}

/// Serialize a message as one compact line with its `\n`.
pub fn encode(msg: &impl Serialize) -> Bytes {
    let mut v = serde_json::to_vec(msg).unwrap_or_else(|e| {
        // Only non-string map keys can fail here; none of our types have them.
        serde_json::to_vec(&Response::err(Id::Null, ErrorObject::internal(e))).unwrap_or_default()
    });
    v.push(b'\n');
    Bytes::from(v)
}
