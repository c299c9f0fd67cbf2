//! `synapsed doctor [--json] [--offline] [--prefs-dir DIR]...`: checks the
//! socket dir, the daemon, the API key, the API (one listing of the models,
//! skipped with `--offline` or without a key) and the Houdini packages with
//! their plugin version against this binary's (design §15).
//!
//! Each check is `ok`, `warn`, `fail` or `skip` with one line of detail. Exit
//! 0 when nothing failed, 1 otherwise. `--json` prints
//! `{"ok":bool,"checks":[{"check","status","detail"}]}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use synapse_agent::anthropic::models::names;
use synapse_agent::anthropic::AnthropicClient;
use synapse_agent::credentials::CredentialSource;
use synapse_agent::{CancellationToken, Settings};
use synapse_protocol::{method, DaemonStatus};

use crate::cli::Global;
use crate::setup;

/// Flags of `synapsed doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Skip the API check (no network request).
    #[arg(long)]
    pub offline: bool,
    /// Houdini prefs dirs to check (default: every one found).
    #[arg(long = "prefs-dir", value_name = "DIR")]
    pub prefs_dirs: Vec<PathBuf>,
    /// Config file (default: config.toml in the user's synapse config dir).
    #[arg(long, env = "SYNAPSE_CONFIG")]
    pub config: Option<PathBuf>,
}

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Worth knowing, not an error.
    Warn,
    /// Broken: doctor exits 1.
    Fail,
    /// Not checked.
    Skip,
}

/// One check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Its name.
    pub check: &'static str,
    /// Its outcome.
    pub status: Status,
    /// One line.
    pub detail: String,
}

fn check(check: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
    }
}

fn socket_dir(socket: &Path) -> Check {
    #[cfg(windows)]
    if !synapse_rpc::endpoint::windows::is_pipe_name(socket) {
        return check(
            "socket dir",
            Status::Fail,
            format!(
                "{} is not a pipe name: on Windows the socket is a named pipe, \\\\.\\pipe\\NAME",
                socket.display()
            ),
        );
    }
    if cfg!(windows) {
        // A named pipe has no directory; its DACL (owner and SYSTEM only) is
        // set by the daemon on every instance.
        return check(
            "socket dir",
            Status::Ok,
            format!("{} is a named pipe (no directory)", socket.display()),
        );
    }
    let Some(dir) = socket.parent() else {
        return check(
            "socket dir",
            Status::Fail,
            format!("{} has no directory", socket.display()),
        );
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check(
                "socket dir",
                Status::Ok,
                format!("{} (created 0700 when the daemon starts)", dir.display()),
            )
        }
        Err(e) => {
            return check(
                "socket dir",
                Status::Fail,
                format!("{}: {e}", dir.display()),
            )
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.file_type().is_symlink() {
            return check(
                "socket dir",
                Status::Fail,
                format!("{} is a symlink; use a real directory", dir.display()),
            );
        }
        if meta.uid() != synapse_rpc::endpoint::current_uid() {
            return check(
                "socket dir",
                Status::Fail,
                format!("{} is owned by uid {}, not you", dir.display(), meta.uid()),
            );
        }
        if meta.mode() & 0o022 != 0 {
            return check(
                "socket dir",
                Status::Fail,
                format!(
                    "{} is writable by group or others (mode {:o}); chmod 700 it",
                    dir.display(),
                    meta.mode() & 0o777
                ),
            );
        }
    }
    let _ = &meta;
    check(
        "socket dir",
        Status::Ok,
        format!("{} (private)", dir.display()),
    )
}

async fn daemon(socket: &Path) -> (Check, Option<DaemonStatus>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(m) = std::fs::symlink_metadata(socket) {
            if !m.file_type().is_socket() {
                return (
                    check(
                        "daemon",
                        Status::Fail,
                        format!("{} exists and is not a socket; move it", socket.display()),
                    ),
                    None,
                );
            }
        }
    }
    let client = match synapse_rpc::Client::connect(socket).await {
        Ok(c) => c,
        Err(_) => return (
            check(
                "daemon",
                Status::Warn,
                "not running (Houdini starts one on demand; `synapsed serve` starts one by hand)",
            ),
            None,
        ),
    };
    match client.call::<DaemonStatus>(method::DAEMON_STATUS, ()).await {
        Ok(st) => {
            let ours = env!("CARGO_PKG_VERSION");
            let c = if st.version == ours {
                check(
                    "daemon",
                    Status::Ok,
                    format!("running, pid {}, version {}", st.pid, st.version),
                )
            } else {
                check(
                    "daemon",
                    Status::Warn,
                    format!("running version {} (this synapsed is {ours}); `synapsed stop` and let it restart", st.version),
                )
            };
            (c, Some(st))
        }
        Err(e) => (
            check(
                "daemon",
                Status::Fail,
                format!("answers but daemon.status failed: {e}"),
            ),
            None,
        ),
    }
}

async fn key_and_api(args: &DoctorArgs) -> Vec<Check> {
    let settings = match Settings::load_from(args.config.as_deref(), |n| std::env::var(n).ok()) {
        Ok(s) => s,
        Err(e) => return vec![check("config", Status::Fail, e.to_string())],
    };
    let resolver = crate::auth::resolver(&settings);
    let key = match resolver.resolve() {
        Ok(Some(r)) => check(
            "API key",
            Status::Ok,
            match r.source {
                CredentialSource::Env => "from the environment (or the config file)",
                CredentialSource::Keyring => "from the OS keyring",
                CredentialSource::File => "from the key file",
            },
        ),
        Ok(None) => check(
            "API key",
            Status::Fail,
            "no API key: run `synapsed auth login`",
        ),
        Err(e) => check("API key", Status::Fail, e.to_string()),
    };
    let api = if args.offline {
        check("API", Status::Skip, "skipped (--offline)")
    } else if key.status != Status::Ok {
        check("API", Status::Skip, "skipped (no API key)")
    } else {
        match AnthropicClient::with_credentials(&settings, resolver) {
            Err(e) => check("API", Status::Fail, e.to_string()),
            Ok(client) => match client.list_models(&CancellationToken::new()).await {
                Err(e) => check(
                    "API",
                    Status::Fail,
                    format!("{}: {e} (offline? `synapsed doctor --offline` skips this check)", settings.base_url),
                ),
                Ok(list) if list.iter().any(|m| names(&m.id, &settings.model)) => check(
                    "API",
                    Status::Ok,
                    format!("{} answers ({} models); model {} is available", settings.base_url, list.len(), settings.model),
                ),
                Ok(list) => check(
                    "API",
                    Status::Fail,
                    format!(
                        "model {} is not available to this key (e.g. {}); set another with SYNAPSE_MODEL or `model` in the config file",
                        settings.model,
                        list.iter().take(3).map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            },
        }
    };
    vec![key, api]
}

/// The `SYNAPSE_ROOT` of a package JSON written by `setup houdini`.
fn package_root(text: &str) -> Option<PathBuf> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("env")?.as_array()?.iter().find_map(|e| {
        e.get("SYNAPSE_ROOT")
            .and_then(|r| r.as_str())
            .map(PathBuf::from)
    })
}

fn houdini(given: &[PathBuf]) -> Vec<Check> {
    let dirs = setup::target_dirs(given);
    if dirs.is_empty() {
        return vec![check(
            "houdini",
            Status::Warn,
            "no Houdini prefs dir found (start Houdini once, then `synapsed setup houdini`)",
        )];
    }
    let ours = env!("CARGO_PKG_VERSION");
    dirs.iter()
        .map(|dir| {
            let pkg = dir.join("packages").join(setup::PACKAGE_FILE);
            let text = match std::fs::read_to_string(&pkg) {
                Ok(t) => t,
                Err(_) => {
                    return check(
                        "houdini",
                        Status::Warn,
                        format!(
                            "{}: not installed (`synapsed setup houdini`)",
                            dir.display()
                        ),
                    )
                }
            };
            if !setup::is_ours(&text) {
                return check(
                    "houdini",
                    Status::Warn,
                    format!("{}: a synapse.json from another tool", pkg.display()),
                );
            }
            let Some(root) = package_root(&text) else {
                return check(
                    "houdini",
                    Status::Fail,
                    format!(
                        "{}: no SYNAPSE_ROOT; run `synapsed setup houdini`",
                        pkg.display()
                    ),
                );
            };
            let init = root.join("python/synapse_houdini/__init__.py");
            let Ok(source) = std::fs::read_to_string(&init) else {
                return check(
                    "houdini",
                    Status::Fail,
                    format!(
                        "{}: the plugin files are missing ({}); run `synapsed setup houdini`",
                        pkg.display(),
                        init.display()
                    ),
                );
            };
            match setup::version_of(&source) {
                Some(v) if v == ours => check(
                    "houdini",
                    Status::Ok,
                    format!("{}: plugin {v} (synapsed {ours})", dir.display()),
                ),
                v => check(
                    "houdini",
                    Status::Warn,
                    format!(
                        "{}: plugin {} but synapsed {ours}; run `synapsed setup houdini`",
                        dir.display(),
                        v.unwrap_or("of unknown version")
                    ),
                ),
            }
        })
        .collect()
}

pub async fn run(global: &Global, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let socket = global
        .socket
        .clone()
        .unwrap_or_else(synapse_rpc::endpoint::default_socket_path);
    let mut checks = vec![socket_dir(&socket)];
    let (d, _status) = daemon(&socket).await;
    checks.push(d);
    checks.extend(key_and_api(&args).await);
    checks.extend(houdini(&args.prefs_dirs));
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    if args.json {
        println!("{}", serde_json::json!({"ok": ok, "checks": checks}));
    } else {
        for c in &checks {
            let tag = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            println!("{tag}  {:<10}  {}", c.check, c.detail);
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
