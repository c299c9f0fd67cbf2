//! `synapsed serve`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use synapse_daemon::DaemonConfig;
use synapse_protocol::AuthState;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let socket = args.socket.unwrap_or_else(synapse_rpc::endpoint::default_socket_path);
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let exit_when_idle = match args.exit_when_idle {
        None => None,
        Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => bail!("--exit-when-idle must be a non-negative number of seconds, not {s}"),
    };
    let auth = if env_set("ANTHROPIC_API_KEY") || env_set("ANTHROPIC_AUTH_TOKEN") {
        AuthState::Ok
    } else {
        AuthState::Missing
    };
    let model = std::env::var("SYNAPSE_MODEL").ok().filter(|m| !m.is_empty()).unwrap_or_else(|| "claude-sonnet-4-5".to_owned());
    let config = DaemonConfig { socket, data_dir, exit_when_idle, model, auth };

    let bound = synapse_daemon::bind(config).context("cannot start")?;
    let line = serde_json::to_string(&bound.ready_line())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    tracing::info!(socket = %bound.ready_line().socket, pid = std::process::id(), "synapsed ready");

    let stop = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let on_signal = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
        on_signal.cancel();
    });
    bound.serve(stop).await;
    Ok(ExitCode::SUCCESS)
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir)
        .join("synapse")
}
