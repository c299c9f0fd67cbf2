//! `daemon.*` and `host.*` params and results, and the readiness line.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ToolSpec, Usage};
use crate::Timestamp;

/// `daemon.status` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonStatus {
    /// `synapsed` version (semver).
    pub version: String,
    /// Protocol revision, `1`.
    pub protocol: u32,
    /// Daemon process id.
    pub pid: u32,
    /// When the daemon started.
    pub started_at: Timestamp,
    /// Seconds since start.
    pub uptime_s: f64,
    /// Path of the socket it serves.
    pub socket: String,
    /// Registered hosts.
    pub hosts: Vec<HostInfo>,
    /// Turn counters.
    pub turns: TurnCounts,
    /// Tokens used since this daemon started.
    pub usage: Usage,
    /// Whether an API credential is configured.
    pub auth: AuthState,
    /// Default model.
    pub model: String,
    /// Whether the database is taking writes (a full disk shows here).
    #[serde(default)]
    pub storage: StorageStatus,
    /// Today's spend and the daily cap (§12).
    #[serde(default)]
    pub spend: SpendStatus,
    /// Whether the default model was confirmed available: `true` after a
    /// successful response with it (or when the Models API listed it),
    /// `false` after the API answered it was not found, `null` while not
    /// known. (v2 addition; absent from v1 daemons.)
    #[serde(default)]
    pub model_available: Option<bool>,
}

/// The state of the daemon's storage in `daemon.status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StorageStatus {
    /// False while the last write failed (disk full, I/O error); turns then
    /// end `api_error` with `error.kind: "storage"`. True again after the
    /// next write that succeeds.
    pub ok: bool,
    /// What the last failed write said, while `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When writes started failing, while `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

impl Default for StorageStatus {
    fn default() -> Self {
        Self {
            ok: true,
            error: None,
            since: None,
        }
    }
}

/// `daemon.status.spend`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpendStatus {
    /// USD spent since local midnight (priced requests only), from the store.
    pub today_usd: f64,
    /// The daily cap, `null` when none is set.
    pub daily_budget_usd: Option<f64>,
    /// The per-turn cap from the config, `null` when none is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turn_cost_usd: Option<f64>,
    /// Why a cap cannot apply, e.g. the default model has no price.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Turn counters in `daemon.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TurnCounts {
    /// Turns in the agent loop now.
    pub running: u64,
    /// Turns waiting.
    pub queued: u64,
    /// Turns that reached a final status since this daemon started.
    pub finished: u64,
}

/// Whether the daemon has an API credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthState {
    /// `ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN` is set.
    Ok,
    /// No credential: turns will fail with `authentication`.
    Missing,
}

/// A registered host in `daemon.status.hosts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostInfo {
    /// Daemon-assigned id.
    pub host_id: String,
    /// Display name, e.g. `houdini`.
    pub name: String,
    /// Houdini version string.
    pub houdini_version: String,
    /// Houdini's process id.
    pub pid: u32,
    /// The open hip file, if any.
    pub hip: Option<String>,
    /// `hou.isUIAvailable()`.
    pub ui_available: bool,
    /// Number of tools registered.
    pub tools: usize,
    /// When the host registered.
    pub connected_at: Timestamp,
}

/// `daemon.shutdown` result and other empty results: `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

/// No params: absent, `{}` or `[]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NoParams {}

/// `host.register` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostRegisterParams {
    /// Display name, e.g. `houdini`.
    pub name: String,
    /// Houdini version string, e.g. `21.0.440`.
    pub houdini_version: String,
    /// Houdini's process id.
    pub pid: u32,
    /// `hou.hipFile.path()`.
    #[serde(default)]
    pub hip: Option<String>,
    /// `hou.isUIAvailable()`.
    pub ui_available: bool,
    /// The tools this host serves.
    pub tools: Vec<ToolSpec>,
}

/// `host.register` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostRegisterResult {
    /// The id to name this host in `turn.submit`.
    pub host_id: String,
}

/// The one line `synapsed serve` prints on stdout once it accepts connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReadyLine {
    /// Always `true`.
    pub ready: bool,
    /// The socket path.
    pub socket: String,
    /// Daemon pid.
    pub pid: u32,
    /// `synapsed` version.
    pub version: String,
    /// Protocol revision.
    pub protocol: u32,
}
