//! The accept loop: one task per connection, hooks for the daemon.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::connection;
use crate::dispatch::Dispatcher;
use crate::endpoint::Listener;
use crate::outbox::{Limits, Outbox};
use crate::peer::Peer;

/// Told when connections come and go (host bookkeeping, idle tracking).
pub trait ConnectionHooks: Send + Sync + 'static {
    /// A connection was accepted.
    fn opened(&self, peer: &Peer);
    /// A connection ended (its pending requests have already failed).
    fn closed(&self, peer: &Peer);
}

/// Accepts connections on a [`Listener`] and serves each with a [`Dispatcher`].
pub struct Server {
    listener: Listener,
    dispatcher: Dispatcher,
    hooks: Arc<dyn ConnectionHooks>,
    limits: Limits,
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

impl Server {
    /// A server over a bound listener.
    pub fn new(
        listener: Listener,
        dispatcher: Dispatcher,
        hooks: Arc<dyn ConnectionHooks>,
    ) -> Self {
        Self {
            listener,
            dispatcher,
            hooks,
            limits: Limits::default(),
        }
    }

    /// Override the outbox limits (tests).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &std::path::Path {
        self.listener.path()
    }

    /// Serve until `shutdown` fires, then give every connection a bounded time
    /// to flush and close. The listener (and socket file) is dropped on return.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, uid)) => {
                        let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                        let peer = Peer::new(id, uid, Arc::new(Outbox::new(self.limits)));
                        self.hooks.opened(&peer);
                        let hooks = self.hooks.clone();
                        let dispatcher = self.dispatcher.clone();
                        let stop = shutdown.clone();
                        conns.spawn(async move {
                            tracing::debug!(conn = peer.id(), "connection opened");
                            connection::serve(stream, peer.clone(), dispatcher, stop).await;
                            hooks.closed(&peer);
                            tracing::debug!(conn = peer.id(), "connection closed");
                        });
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(self.listener);
        let all = async { while conns.join_next().await.is_some() {} };
        if tokio::time::timeout(connection::DRAIN_TIMEOUT + Duration::from_secs(1), all)
            .await
            .is_err()
        {
            conns.abort_all();
        }
    }
}
