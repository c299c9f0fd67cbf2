//! The Synapse daemon as a library: state, hosts, turns, and the RPC methods.
//!
//! The `synapsed` binary parses flags, calls [`bind`] and then [`Bound::serve`]; tests can do the same
//! in-process. Modules:
//!
//! - [`config`]: what the daemon is started with.
//! - [`state`]: the shared state every method sees (`Arc<State>`).
//! - [`health`]: whether the store takes writes (`daemon.status.storage`).
//! - [`hosts`]: registered Houdini hosts and the connection serving each.
//! - [`activity`]: open connections and live turns, for `--exit-when-idle`.
//! - [`history_cache`]: each session's history kept between turns (ADR 0031).
//! - [`turns`]: submission, FIFO-per-session scheduling, cancel, shutdown.
//! - [`events`]: `turn.event` fan-out with `seq` and slow-reader dropping.
//! - [`direct`]: `host.list`, `tool.call`, `tool.call.cancel` (calls without the model).
//! - [`methods`]: the jsonrpsee `RpcModule` with every client → daemon method.
//! - [`approvals`]: permission modes, approval waits and `turn.approve` (§11).
//! - [`budget`]: prices, the turn's and the day's spend, the caps (§12).
//! - [`policy`]: the permission and budget settings.

pub mod activity;
pub mod approvals;
pub mod auth_gate;
pub mod budget;
pub mod config;
pub mod direct;
pub mod events;
pub mod health;
pub mod history_cache;
pub mod hosts;
pub mod methods;
pub mod policy;
pub mod state;
pub mod turns;

use std::sync::Arc;

use synapse_protocol::ReadyLine;
use synapse_rpc::{ConnectionHooks, Dispatcher, Listener, Peer, Server};
use tokio_util::sync::CancellationToken;

pub use config::DaemonConfig;
pub use state::State;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The socket could not be bound.
    #[error(transparent)]
    Endpoint(#[from] synapse_rpc::EndpointError),
    /// The database could not be opened or recovered.
    #[error("cannot open the database in {dir}")]
    Store {
        /// The data dir.
        dir: std::path::PathBuf,
        /// Why.
        source: synapse_store::StoreError,
    },
    /// The agent settings are invalid.
    #[error("invalid settings")]
    Settings(#[from] synapse_agent::ConfigError),
    /// The method table is inconsistent (a bug).
    #[error("method registration failed: {0}")]
    Methods(String),
}

/// A daemon whose socket is bound and ready to accept.
pub struct Bound {
    state: Arc<State>,
    server: Server,
}

impl Bound {
    /// The line to print on stdout once serving.
    pub fn ready_line(&self) -> ReadyLine {
        ReadyLine {
            ready: true,
            socket: self.state.socket.display().to_string(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: synapse_protocol::PROTOCOL_VERSION,
        }
    }

    /// Shared state (tests).
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Serve until `daemon.shutdown`, `stop` firing, or the idle timeout.
    pub async fn serve(self, stop: CancellationToken) {
        let state = self.state.clone();
        let shutdown = state.shutdown.clone();
        let forward = {
            let shutdown = shutdown.clone();
            async move {
                stop.cancelled().await;
                tracing::info!("stop requested");
                shutdown.cancel();
            }
        };
        let idle = activity::exit_when_idle(state.clone());
        let server_stop = CancellationToken::new();
        let server = tokio::spawn(self.server.run(server_stop.clone()));
        tokio::select! {
            () = forward => {}
            () = shutdown.cancelled() => {}
            () = idle => {
                tracing::info!("idle timeout reached");
                shutdown.cancel();
            }
        }
        // Turns end first (their `done` events are queued), then connections
        // flush and close, then the socket file goes.
        state.finish_all().await;
        server_stop.cancel();
        if let Err(e) = server.await {
            tracing::error!(error = %e, "server task failed");
        }
        tracing::info!("daemon stopped");
    }
}

/// Bind the socket and build the daemon.
pub fn bind(config: DaemonConfig) -> Result<Bound, StartError> {
    let listener = Listener::bind(&config.socket)?;
    let store =
        synapse_store::Store::open(&config.data_dir).map_err(|source| StartError::Store {
            dir: config.data_dir.clone(),
            source,
        })?;
    let report = store
        .recover(synapse_protocol::Timestamp::now())
        .map_err(|source| StartError::Store {
            dir: config.data_dir.clone(),
            source,
        })?;
    if !report.interrupted_turns.is_empty() {
        tracing::warn!(
            turns = report.interrupted_turns.len(),
            sessions = report.repaired_sessions.len(),
            "turns left unfinished by the previous daemon are now interrupted"
        );
    }
    let budget = budget::Budget::new(
        Arc::new(config.policy.clone()),
        &store,
        config.clock.clone(),
        &config.settings.model,
    )
    .map_err(|source| StartError::Store {
        dir: config.data_dir.clone(),
        source,
    })?;
    let agent = Arc::new(match &config.credentials {
        Some(c) => synapse_agent::Agent::with_credentials(config.settings.clone(), c.clone())?,
        None => synapse_agent::Agent::new(config.settings.clone())?,
    });
    let turns = Arc::new(turns::Turns::new(
        store,
        agent,
        config.settings.concurrent_sessions as usize,
    ));
    let state = Arc::new(State::new(
        config,
        listener.path().to_owned(),
        turns,
        Arc::new(budget),
    ));
    let module = methods::module(state.clone()).map_err(|e| StartError::Methods(e.to_string()))?;
    let hooks: Arc<dyn ConnectionHooks> = Arc::new(Hooks(state.clone()));
    let server = Server::new(listener, Dispatcher::new(module), hooks);
    Ok(Bound { state, server })
}

struct Hooks(Arc<State>);

impl ConnectionHooks for Hooks {
    fn opened(&self, _peer: &Peer) {
        self.0.activity.connection_opened();
    }

    fn closed(&self, peer: &Peer) {
        if let Some(host) = self.0.hosts.remove_connection(peer.id()) {
            tracing::info!(host_id = %host.host_id, name = %host.name, "host disconnected");
        }
        self.0.activity.connection_closed();
    }
}
