//! Command-line flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Synapse daemon and client.
#[derive(Debug, Parser)]
#[command(
    name = "synapsed",
    version,
    about = "Synapse: an AI agent for Houdini artists (daemon and CLI)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Socket path (default: `$XDG_RUNTIME_DIR/synapse/synapsed.sock` or `$TMPDIR/synapse-<uid>/synapsed.sock`).
    #[arg(long, global = true, env = "SYNAPSE_SOCKET")]
    pub socket: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground; prints one JSON readiness line on stdout.
    Serve(ServeArgs),
    /// Show the running daemon's status.
    Status(StatusArgs),
    /// Ask the running daemon to shut down (running turns end `cancelled`).
    Stop,
    /// Run a turn and stream it; Ctrl-C cancels it.
    Ask(AskArgs),
    /// Cancel a queued or running turn.
    Cancel(CancelArgs),
    /// List stored sessions, newest first (a page at a time).
    Sessions(SessionsArgs),
    /// Print a session's conversation.
    Show(ShowArgs),
    /// Tokens and cost per day and model, from the store.
    Usage(UsageArgs),
    /// Serve the connected Houdini's tools to MCP clients on stdio (Claude Desktop, Claude Code...).
    Mcp(McpArgs),
    /// List the models the API key can use (the default and the configured one marked).
    Models(crate::models_cmd::ModelsArgs),
    /// Store, show or remove the Anthropic API key (OS keyring, else a 0600 file).
    Auth(crate::auth::AuthArgs),
    /// Install (or remove) the Houdini plugin for this user.
    Setup(crate::setup::SetupArgs),
    /// Check the socket dir, daemon, API key, API and Houdini packages (exit 1 if one fails).
    Doctor(crate::doctor::DoctorArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The host whose tools to serve when several Houdini sessions are connected.
    #[arg(long)]
    pub host_id: Option<String>,
    /// Offer only tools that do not change the scene.
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Days to show, today included (local calendar days).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Data directory (database).
    #[arg(long, env = "SYNAPSE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// What to ask.
    pub prompt: String,
    /// Continue this session.
    #[arg(long)]
    pub session: Option<String>,
    /// Use this host's tools.
    #[arg(long)]
    pub host: Option<String>,
    /// Model override.
    #[arg(long, value_parser = parse_model)]
    pub model: Option<String>,
    /// Most API calls in this turn (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_iterations: Option<u32>,
    /// Print every turn.event and the result as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Permission mode: ask, read_only or auto (default: the session's last, else the daemon's default_mode).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<synapse_protocol::PermissionMode>,
    /// Allow every tool call that asks for approval, without prompting.
    #[arg(long)]
    pub yes: bool,
}

fn parse_mode(s: &str) -> Result<synapse_protocol::PermissionMode, String> {
    synapse_protocol::PermissionMode::parse(s)
        .ok_or_else(|| format!("{s:?} is not one of ask, read_only, auto"))
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The turn id.
    pub turn: String,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Sessions per page (1 to 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: i64,
    /// Only sessions updated before this timestamp (the `updated_at` of the
    /// last one listed: the next page).
    #[arg(long, value_name = "UPDATED_AT")]
    pub before: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The session id.
    pub session: String,
    /// Only messages after this index (0-based).
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub after: Option<i64>,
    /// At most this many messages (1 to 1000).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub limit: Option<i64>,
    /// Print the `session.get` result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Socket path.
    #[arg(long, env = "SYNAPSE_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Data directory (database).
    #[arg(long, env = "SYNAPSE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Exit once no connection is open and no turn is live for this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub exit_when_idle: Option<std::time::Duration>,
    /// Config file (default: config.toml in the user's synapse config dir).
    #[arg(long, env = "SYNAPSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Default model.
    #[arg(long, value_parser = parse_model)]
    pub model: Option<String>,
    /// Sessions running at once (at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrent_sessions: Option<u32>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the `daemon.status` result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A non-negative number of seconds (bad values are a usage error: exit 2).
fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs.is_finite() && (0.0..=1e9).contains(&secs)) {
        return Err(format!("{s} must be between 0 and 1e9 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A model name: not empty, no whitespace (bad values are a usage error: exit 2).
pub fn parse_model(s: &str) -> Result<String, String> {
    synapse_agent::anthropic::models::check_model_name(s)?;
    Ok(s.to_owned())
}
