//! Client subcommands: `status`, `stop`.

use std::path::PathBuf;
use std::process::ExitCode;

use synapse_protocol::{method, DaemonStatus, Empty};
use synapse_rpc::{Client, ClientError};

use crate::cli::{Global, StatusArgs};

fn socket(global: &Global) -> PathBuf {
    global.socket.clone().unwrap_or_else(synapse_rpc::endpoint::default_socket_path)
}

/// Connect, or print the one-line explanation and exit 1.
async fn connect(global: &Global) -> Result<Client, ExitCode> {
    let path = socket(global);
    match Client::connect(&path).await {
        Ok(c) => Ok(c),
        Err(ClientError::Connect { source, .. }) => {
            eprintln!(
                "synapsed: no daemon answers on {} ({source}); start one with `synapsed serve`",
                path.display()
            );
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("synapsed: {e}");
            Err(ExitCode::from(1))
        }
    }
}

pub async fn status(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let status: DaemonStatus = client.call(method::DAEMON_STATUS, ()).await?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render_status(&status));
    Ok(ExitCode::SUCCESS)
}

pub async fn stop(global: &Global) -> anyhow::Result<ExitCode> {
    let client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let _: Empty = client.call(method::DAEMON_SHUTDOWN, ()).await?;
    println!("synapsed: shutdown requested");
    Ok(ExitCode::SUCCESS)
}

fn render_status(s: &DaemonStatus) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "synapsed {} (protocol {}), pid {}", s.version, s.protocol, s.pid);
    let _ = writeln!(out, "  up        {} (since {})", human_duration(s.uptime_s), s.started_at);
    let _ = writeln!(out, "  socket    {}", s.socket);
    let auth = match s.auth {
        synapse_protocol::AuthState::Ok => "ok",
        synapse_protocol::AuthState::Missing => "MISSING (set ANTHROPIC_API_KEY)",
    };
    let _ = writeln!(out, "  model     {}   auth: {auth}", s.model);
    let _ = writeln!(
        out,
        "  turns     {} running, {} queued, {} finished",
        s.turns.running, s.turns.queued, s.turns.finished
    );
    let u = &s.usage;
    let _ = writeln!(
        out,
        "  usage     {} in, {} out, {} cache read, {} cache write (tokens)",
        u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens
    );
    if s.hosts.is_empty() {
        let _ = writeln!(out, "  hosts     none");
    }
    for h in &s.hosts {
        let _ = writeln!(
            out,
            "  host      {} {} {} pid {} {} tools{}{}",
            h.host_id,
            h.name,
            h.houdini_version,
            h.pid,
            h.tools,
            h.hip.as_deref().map(|p| format!(", {p}")).unwrap_or_default(),
            if h.ui_available { "" } else { " (headless)" }
        );
    }
    out
}

fn human_duration(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..=59 => format!("{secs:.1}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
