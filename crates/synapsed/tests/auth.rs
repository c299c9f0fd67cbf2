//! `synapsed auth` against the key file fallback and (when one can run here)
//! a real Secret Service, and a daemon that picks up a key stored after it
//! started. No output ever contains the key.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::DaemonProcess;

const KEY: &str = "sk-ant-api03-AUTHTEST-0123456789";

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `synapsed auth ARGS` with `stdin` piped in, config under `cfg`, no keyring.
fn auth(cfg: &Path, args: &[&str], stdin: &str) -> Output {
    auth_with(cfg, args, stdin, false)
}

/// `synapsed auth ARGS` with `stdin` piped in, config under `cfg`, the OS
/// keyring on or off; asserts the key was never printed.
fn auth_with(cfg: &Path, args: &[&str], stdin: &str, keyring: bool) -> Output {
    let mut cmd = Command::new(bin());
    cmd.arg("auth")
        .args(args)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_AUTH_TOKEN");
    if keyring {
        cmd.env_remove("SYNAPSE_KEYRING");
    } else {
        cmd.env("SYNAPSE_KEYRING", "off");
    }
    cmd.env("XDG_CONFIG_HOME", cfg).env("HOME", cfg);
    // Windows: no XDG; the config dir is moved explicitly (same layout).
    if cfg!(windows) {
        cmd.env("SYNAPSE_CONFIG_DIR", cfg.join("synapse"));
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    for text in [s(&out.stdout), s(&out.stderr)] {
        assert!(!text.contains(KEY), "the key was printed: {text}");
        assert!(
            !text.contains("AUTHTEST"),
            "part of the key was printed: {text}"
        );
    }
    out
}

#[test]
fn login_status_logout_with_the_key_file() {
    let cfg = tempfile::tempdir().unwrap();
    let file = cfg.path().join("synapse").join("api_key");
    let out = auth(cfg.path(), &["status"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        s(&out.stdout).lines().next(),
        Some("no API key: run `synapsed auth login`")
    );

    // Empty and whitespace-only keys are refused; nothing is written.
    for empty in ["", "\n", "  \r\n\t"] {
        let out = auth(cfg.path(), &["login"], empty);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            s(&out.stderr),
            "synapsed: the key is empty; nothing stored\n"
        );
        assert!(!file.exists());
    }
    let out = auth(cfg.path(), &["login"], "sk-a b\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(s(&out.stderr).contains("spaces or control characters"));

    // Whitespace and the newline are trimmed, and said.
    let out = auth(cfg.path(), &["login"], &format!("  {KEY}\r\n"));
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    let err = s(&out.stderr);
    assert!(
        err.contains("note: removed the whitespace/newline around the key"),
        "{err}"
    );
    assert!(
        err.contains("no OS keyring is reachable (SYNAPSE_KEYRING=off); using the key file"),
        "{err}"
    );
    let protection = if cfg!(unix) {
        "mode 0600"
    } else {
        "protected only by your profile's permissions"
    };
    assert_eq!(
        s(&out.stdout),
        format!(
            "stored the API key in {} ({protection})\na running daemon uses it from its next turn\n",
            file.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{KEY}\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(file.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }

    let out = auth(cfg.path(), &["status"], "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        s(&out.stdout).lines().next(),
        Some(format!("API key from {}", file.display()).as_str())
    );
    let out = auth(cfg.path(), &["status", "--json"], "");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], json!("file"));
    assert_eq!(
        v["keyring"],
        json!("no OS keyring is reachable (SYNAPSE_KEYRING=off)")
    );

    // A key file others can read is refused, not used.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = auth(cfg.path(), &["status"], "");
        assert_eq!(out.status.code(), Some(1));
        assert!(
            s(&out.stdout).contains("is readable by others (mode 644)"),
            "{}",
            s(&out.stdout)
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let out = auth(cfg.path(), &["logout"], "");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s(&out.stdout), format!("removed {}\n", file.display()));
    assert!(!file.exists());
    assert_eq!(auth(cfg.path(), &["status"], "").status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_daemon_uses_a_key_stored_after_it_started() {
    let api = api(vec![
        text("hello with a stored key", 5, 3),
        text("hello with a new key", 5, 3),
    ]);
    let cfg = tempfile::tempdir().unwrap();
    let mut o = api_options(&api);
    o.env.retain(|(k, _)| k != "ANTHROPIC_API_KEY");
    o.env
        .push(("XDG_CONFIG_HOME".into(), cfg.path().display().to_string()));
    o.env.push((
        "SYNAPSE_CONFIG_DIR".into(),
        cfg.path().join("synapse").display().to_string(),
    ));
    let mut d = DaemonProcess::spawn_with(&bin(), o).expect("daemon starts");
    let st: Value =
        serde_json::from_slice(&run_cli(&d.socket, &["status", "--json"]).await.stdout).unwrap();
    assert_eq!(st["auth"], json!("missing"));

    // No key anywhere: the submit is refused, nothing is stored (ADR 0029).
    let out = run_cli(&d.socket, &["ask", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert_eq!(
        err,
        "synapsed: No API key: none in the environment, the OS keyring or the key file; \
         run `synapsed auth login` (a running daemon uses the key from the next turn), \
         or set ANTHROPIC_API_KEY in the daemon's environment and restart it\n"
    );
    assert!(!err.contains("-32004"), "no raw code in human output");
    // The issue's case: the key exported in the shell of `ask` only.
    let out = tokio::process::Command::new(bin())
        .args(["ask", "hi", "--socket"])
        .arg(&d.socket)
        .env("ANTHROPIC_API_KEY", "sk-in-the-shell-only")
        .env_remove("SYNAPSE_SOCKET")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert!(err.starts_with("synapsed: No API key: "), "{err}");
    assert!(
        err.contains("note: ANTHROPIC_API_KEY is set in this shell, but a running daemon keeps the environment it was started with"),
        "{err}"
    );
    assert!(!err.contains("sk-in-the-shell-only"));
    let conn = Conn::open(&d.socket).await;
    let e = conn
        .err("turn.submit", json!({"prompt": "over the socket"}))
        .await;
    assert_eq!(e.code, -32004, "{e:?}");
    assert_eq!(e.message, "No API key");
    assert!(
        e.data
            .as_ref()
            .and_then(Value::as_str)
            .is_some_and(|d| d.contains("run `synapsed auth login`")),
        "{e:?}"
    );
    assert_eq!(
        conn.call("session.list", json!({})).await,
        json!([]),
        "a refused submit stores no session"
    );
    assert!(api.requests().is_empty());

    let out = auth(cfg.path(), &["login"], KEY);
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    let st: Value =
        serde_json::from_slice(&run_cli(&d.socket, &["status", "--json"]).await.stdout).unwrap();
    assert_eq!(st["auth"], json!("ok"));
    let out = run_cli(&d.socket, &["ask", "hi again"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(s(&out.stdout), "hello with a stored key\n");
    assert_eq!(
        api.requests()[0]
            .headers
            .get("x-api-key")
            .map(String::as_str),
        Some(KEY)
    );
    // A key changed by `auth login` is the next turn's (resolved at each
    // turn start, ADR 0031).
    const KEY2: &str = "sk-ant-api03-AUTHTEST-second-key";
    let out = auth(cfg.path(), &["login"], KEY2);
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    let out = run_cli(&d.socket, &["ask", "hi with the new key"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(s(&out.stdout), "hello with a new key\n");
    assert_eq!(
        api.requests()[1]
            .headers
            .get("x-api-key")
            .map(String::as_str),
        Some(KEY2)
    );

    // Logged out: the next submit is refused again; only the two sessions
    // that ran are stored.
    assert_eq!(auth(cfg.path(), &["logout"], "").status.code(), Some(0));
    let out = run_cli(&d.socket, &["ask", "and now"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(s(&out.stderr).starts_with("synapsed: No API key: "));
    assert_eq!(api.requests().len(), 2);
    let sessions = conn.call("session.list", json!({})).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");

    // SIGTERM on Unix; `synapsed stop` on Windows (no signals there).
    #[cfg(unix)]
    d.signal(15);
    #[cfg(windows)]
    assert!(run_cli(&d.socket, &["stop"]).await.status.success());
    assert!(
        d.wait_exit(T).is_some(),
        "the daemon did not exit after being asked to stop"
    );
    let log = d.stderr();
    assert!(log.contains("no API key yet"), "{log}");
    assert!(
        !log.contains(KEY) && !log.contains("AUTHTEST"),
        "the key is in the daemon log"
    );
}

/// A real Secret Service: gnome-keyring in a private D-Bus session
/// (`dbus-run-session`), unlocked, then locked. Unix only (the Windows store,
/// Credential Manager, is tested below).
#[cfg(unix)]
#[test]
fn login_status_logout_with_a_real_secret_service() {
    let have = |b: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = ["dbus-run-session", "gnome-keyring-daemon", "dbus-send"]
        .into_iter()
        .filter(|b| !have(b))
        .collect();
    if !missing.is_empty() {
        eprintln!("SKIPPED: no Secret Service can run here (missing {missing:?}; Debian: apt-get install dbus-daemon gnome-keyring)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = r#"
set -u
export HOME="$T/home" XDG_DATA_HOME="$T/home/.local/share" XDG_RUNTIME_DIR="$T/run" XDG_CONFIG_HOME="$T/cfg"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"
printf 'test-keyring-password' | gnome-keyring-daemon --unlock --daemonize >/dev/null 2>&1
gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1
echo "== login"; printf '%s\n' "$KEY" | "$S" auth login; echo "rc=$?"
echo "== status"; "$S" auth status --json; echo "rc=$?"
echo "== lock"; dbus-send --session --dest=org.freedesktop.secrets --type=method_call --print-reply /org/freedesktop/secrets org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null; echo "rc=$?"
echo "== locked status"; "$S" auth status; echo "rc=$?"
echo "== locked login"; printf 'sk-other' | "$S" auth login; echo "rc=$?"
echo "== unlock"; printf 'test-keyring-password' | gnome-keyring-daemon --unlock --replace >/dev/null 2>&1; echo "rc=$?"
echo "== logout"; "$S" auth logout; echo "rc=$?"
echo "== after"; "$S" auth status --json; echo "rc=$?"
"#;
    let out = Command::new("timeout")
        .args(["60", "dbus-run-session", "--", "sh", "-c", script])
        .env("T", tmp.path())
        .env("S", bin())
        .env("KEY", KEY)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("SYNAPSE_KEYRING")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let text = s(&out.stdout);
    let err = s(&out.stderr);
    assert!(
        !text.contains("AUTHTEST") && !err.contains("AUTHTEST"),
        "the key was printed"
    );
    let section = |name: &str| -> String {
        text.split(&format!("== {name}\n"))
            .nth(1)
            .and_then(|rest| rest.split("\n== ").next())
            .unwrap_or_else(|| panic!("no section {name} in:\n{text}\nstderr:\n{err}"))
            .to_owned()
    };
    if section("login").contains("no OS keyring is reachable") {
        eprintln!("SKIPPED: gnome-keyring did not come up on the private bus here:\n{text}\n{err}");
        return;
    }
    assert_eq!(
        section("login"),
        "stored the API key in the OS keyring\na running daemon uses it from its next turn\nrc=0",
        "{err}"
    );
    let status: Value = serde_json::from_str(section("status").lines().next().unwrap()).unwrap();
    assert_eq!(status["source"], json!("keyring"), "{text}");
    assert_eq!(status["keyring"], json!("has a key"));
    assert!(section("lock").ends_with("rc=0"), "{text}");
    let locked = section("locked status");
    assert!(
        locked.starts_with("no usable API key: the OS keyring is locked or refused access"),
        "{locked}"
    );
    assert!(locked.ends_with("rc=1"), "{locked}");
    let locked_login = section("locked login");
    assert!(locked_login.ends_with("rc=1"), "{locked_login}");
    assert!(
        err.contains("the OS keyring is locked or refused access")
            && err.contains("nothing stored"),
        "{err}"
    );
    assert!(
        !tmp.path().join("cfg/synapse/api_key").exists(),
        "a locked keyring does not fall back silently"
    );
    assert!(
        section("logout").starts_with("removed the API key from the OS keyring"),
        "{text}"
    );
    let after: Value = serde_json::from_str(section("after").lines().next().unwrap()).unwrap();
    assert_eq!(after["source"], json!("none"), "{text}");
}

/// `synapsed auth` with the OS keyring on Windows: Windows Credential Manager
/// (Wine implements `CredWriteW`/`CredReadW`/`CredDeleteW` in its prefix).
/// The key round trips, `status` names Credential Manager, no key file is
/// written, a daemon uses the stored key, `logout` removes it; the key is
/// never printed.
#[cfg(windows)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_status_logout_with_windows_credential_manager() {
    let cfg = tempfile::tempdir().unwrap();
    let file = cfg.path().join("synapse").join("api_key");
    let keyring = |args: &[&str], stdin: &str| auth_with(cfg.path(), args, stdin, true);
    // A key left by an earlier, interrupted run would change what follows.
    let _ = keyring(&["logout"], "");

    let out = keyring(&["login"], &format!("{KEY}\n"));
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(
        s(&out.stdout),
        "stored the API key in the OS keyring (Windows Credential Manager)\na running daemon uses it from its next turn\n"
    );
    assert!(!file.exists(), "the keyring, not the file");

    let out = keyring(&["status", "--json"], "");
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], json!("keyring"), "{v}");
    assert_eq!(
        v["detail"],
        json!("the OS keyring (Windows Credential Manager)"),
        "{v}"
    );
    assert_eq!(v["keyring"], json!("has a key"), "{v}");
    let out = keyring(&["status"], "");
    assert_eq!(
        s(&out.stdout).lines().next(),
        Some("API key from the OS keyring (Windows Credential Manager)")
    );

    // A daemon with the keyring on finds the key there at the turn's start.
    let api = api(vec![text("hello from the credential store", 5, 3)]);
    let mut o = api_options(&api);
    o.env.retain(|(k, _)| k != "ANTHROPIC_API_KEY");
    o.env.push(("SYNAPSE_KEYRING".into(), "on".into()));
    o.env.push((
        "SYNAPSE_CONFIG_DIR".into(),
        cfg.path().join("synapse").display().to_string(),
    ));
    let mut d = DaemonProcess::spawn_with(&bin(), o).expect("daemon starts");
    let out = run_cli(&d.socket, &["ask", "hi"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(s(&out.stdout), "hello from the credential store\n");
    assert_eq!(
        api.requests()[0]
            .headers
            .get("x-api-key")
            .map(String::as_str),
        Some(KEY)
    );
    assert!(run_cli(&d.socket, &["stop"]).await.status.success());
    assert!(d.wait_exit(T).is_some());
    let log = d.stderr();
    assert!(log.contains("API key found"), "{log}");
    assert!(!log.contains("AUTHTEST"), "the key is in the daemon log");

    let out = keyring(&["logout"], "");
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(
        s(&out.stdout),
        "removed the API key from the OS keyring (Windows Credential Manager)\n"
    );
    let out = keyring(&["status", "--json"], "");
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], json!("none"), "{v}");
    assert_eq!(v["keyring"], json!("empty"), "{v}");
}
