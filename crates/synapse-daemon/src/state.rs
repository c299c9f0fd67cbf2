//! The state every method handler sees.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use synapse_protocol::{DaemonStatus, Timestamp, TurnCounts, Usage};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::config::DaemonConfig;
use crate::health::StorageHealth;
use crate::hosts::Hosts;
use crate::turns::Turns;

/// How long shutdown waits for running turns to record their final status.
pub const SHUTDOWN_TURN_LIMIT: Duration = Duration::from_secs(10);

/// Shared daemon state (`Arc<State>` is the RPC module's context).
#[derive(Debug)]
pub struct State {
    /// How the daemon was started.
    pub config: DaemonConfig,
    /// The bound socket path.
    pub socket: PathBuf,
    /// Wall-clock start.
    pub started_at: Timestamp,
    started: Instant,
    /// Registered hosts.
    pub hosts: Hosts,
    /// Connections and live turns.
    pub activity: Activity,
    /// Tokens used since start.
    pub usage: Mutex<Usage>,
    /// Whether the store takes writes.
    pub storage: StorageHealth,
    /// Fired by `daemon.shutdown`, signals and the idle timer.
    pub shutdown: CancellationToken,
    /// Turns and sessions.
    pub turns: Arc<Turns>,
    /// Pending direct `tool.call`s.
    pub direct: crate::direct::DirectCalls,
    /// Permission and budget policy, and the day's spend (§11, §12).
    pub budget: Arc<crate::budget::Budget>,
}

impl State {
    /// Fresh state for a daemon bound to `socket`.
    pub fn new(
        config: DaemonConfig,
        socket: PathBuf,
        turns: Arc<Turns>,
        budget: Arc<crate::budget::Budget>,
    ) -> Self {
        Self {
            budget,
            config,
            socket,
            started_at: Timestamp::now(),
            started: Instant::now(),
            hosts: Hosts::default(),
            activity: Activity::default(),
            storage: StorageHealth::default(),
            // Priced spend since start (§12): $0 so far.
            usage: Mutex::new(Usage {
                cost_usd: Some(0.0),
                ..Usage::default()
            }),
            shutdown: CancellationToken::new(),
            turns,
            direct: crate::direct::DirectCalls::default(),
        }
    }

    /// The `daemon.status` result.
    pub fn status(&self) -> DaemonStatus {
        DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: synapse_protocol::PROTOCOL_VERSION,
            pid: std::process::id(),
            started_at: self.started_at,
            uptime_s: (self.started.elapsed().as_millis() as f64) / 1000.0,
            socket: self.socket.display().to_string(),
            hosts: self.hosts.all().iter().map(|h| h.info()).collect(),
            turns: self.turn_counts(),
            usage: *self.usage.lock().unwrap_or_else(|p| p.into_inner()),
            auth: self.config.auth(),
            model: self.config.settings.model.clone(),
            storage: self.storage.status(),
            spend: self.budget.status(),
            model_available: self
                .turns
                .agent()
                .model_available(&self.config.settings.model),
        }
    }

    fn turn_counts(&self) -> TurnCounts {
        self.turns.counts()
    }

    /// End every queued and running turn (status `cancelled`), persist them and
    /// queue their `done` events. Called once on shutdown.
    pub async fn finish_all(self: &Arc<Self>) {
        self.turns
            .clone()
            .finish_all(self, SHUTDOWN_TURN_LIMIT)
            .await;
    }
}
