//! `synapsed serve`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use synapse_agent::Settings;
use synapse_daemon::DaemonConfig;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let socket = args
        .socket
        .unwrap_or_else(synapse_rpc::endpoint::default_socket_path);
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let exit_when_idle = args.exit_when_idle;
    // flags > env > file > defaults
    let mut settings = Settings::load_from(args.config.as_deref(), |name| std::env::var(name).ok())
        .context("cannot load settings")?;
    if let Some(m) = args.model {
        settings.model = m;
    }
    if let Some(n) = args.concurrent_sessions {
        settings.concurrent_sessions = n;
    }
    let policy = synapse_daemon::policy::Policy::load_from(args.config.as_deref(), |name| {
        std::env::var(name).ok()
    })
    .context("cannot load the permission and budget settings")?;
    let credentials = crate::auth::resolver(&settings);
    let config = DaemonConfig {
        socket,
        data_dir,
        exit_when_idle,
        settings,
        policy,
        clock: std::sync::Arc::new(synapse_daemon::budget::SystemClock::default()),
        credentials: Some(credentials.clone()),
    };

    let bound = synapse_daemon::bind(config).context("cannot start")?;
    // Only once the daemon could start (a fatal start error is not preceded
    // by an unrelated warning). The key is looked up again at each turn.
    match credentials.resolve() {
        Ok(Some(r)) => tracing::info!(source = %r.source, "API key found"),
        Ok(None) => tracing::warn!(
            "no API key yet (environment, OS keyring or key file): submits are refused until `synapsed auth login`"
        ),
        Err(e) => tracing::warn!(error = %e, "the API key cannot be read now; submits are refused until this is fixed"),
    }
    // Listen for stop requests before announcing readiness: a SIGTERM sent
    // right after the readiness line must not find the default action.
    let stop_request = crate::interrupt::stop_requested()?;
    let line = serde_json::to_string(&bound.ready_line())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    tracing::info!(socket = %bound.ready_line().socket, pid = std::process::id(), "synapsed ready");

    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let what = stop_request.await;
        tracing::info!("{what}");
        on_signal.cancel();
    });
    bound.serve(stop).await;
    Ok(ExitCode::SUCCESS)
}

/// The data dir: `%LOCALAPPDATA%\synapse\data` on Windows (from `directories`).
#[cfg(windows)]
pub(crate) fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "synapse")
        .map(|d| d.data_local_dir().to_owned())
        .unwrap_or_else(|| std::env::temp_dir().join("synapse"))
}

#[cfg(not(windows))]
pub(crate) fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir)
        .join("synapse")
}
