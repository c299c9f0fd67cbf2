//! Command-line flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Synapse daemon and client.
#[derive(Debug, Parser)]
#[command(name = "synapsed", version, about = "Synapse: an AI agent for Houdini artists (daemon and CLI)")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Socket path (default: $XDG_RUNTIME_DIR/synapse/synapsed.sock or $TMPDIR/synapse-<uid>/synapsed.sock).
    #[arg(long, global = true, env = "SYNAPSE_SOCKET")]
    pub socket: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground; prints one JSON readiness line on stdout.
    Serve(ServeArgs),
    /// Show the running daemon's status.
    Status(StatusArgs),
    /// Ask the running daemon to shut down.
    Stop,
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
    #[arg(long, value_name = "SECS")]
    pub exit_when_idle: Option<f64>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the `daemon.status` result as JSON.
    #[arg(long)]
    pub json: bool,
}
