//! `synapsed doctor`: all green with a daemon, a key, the scripted API and an
//! installed plugin; then each check failing once.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;
use synapse_test_support::models_api::ModelsFault;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn doctor(home: &Path, socket: &Path, env: &[(&str, &str)], args: &[&str]) -> (Output, Value) {
    let mut cmd = Command::new(bin());
    cmd.arg("--socket")
        .arg(socket)
        .arg("doctor")
        .args(args)
        .arg("--json")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("SYNAPSE_MODEL")
        .env_remove("SYNAPSE_CONFIG")
        .env_remove("HOUDINI_USER_PREF_DIR")
        .env("SYNAPSE_KEYRING", "off")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("SYNAPSE_DATA_DIR", home.join("data"));
    // Windows: no XDG; the config dir is moved explicitly.
    if cfg!(windows) {
        cmd.env("SYNAPSE_CONFIG_DIR", home.join("config").join("synapse"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

fn status_of<'a>(v: &'a Value, check: &str) -> (&'a str, &'a str) {
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap();
    (c["status"].as_str().unwrap(), c["detail"].as_str().unwrap())
}

fn install(home: &Path) {
    let out = Command::new(bin())
        .args(["setup", "houdini", "--prefs-dir"])
        .arg(home.join("houdini21.0"))
        .env("SYNAPSE_DATA_DIR", home.join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", s(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_green_then_each_check_failing_once() {
    let api = api(vec![]);
    let d = daemon(&api);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::create_dir_all(h.join("houdini21.0")).unwrap();
    install(h);
    let base = api.base_url();
    let good = [
        ("ANTHROPIC_API_KEY", "test-key"),
        ("ANTHROPIC_BASE_URL", base.as_str()),
    ];

    let (out, v) = doctor(h, &d.socket, &good, &[]);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["ok"], true);
    for c in ["socket dir", "daemon", "API key", "API", "houdini"] {
        assert_eq!(status_of(&v, c).0, "ok", "{c}: {v}");
    }
    assert!(status_of(&v, "API")
        .1
        .contains("model claude-sonnet-5-5 is available"));
    assert!(status_of(&v, "houdini")
        .1
        .ends_with("plugin 0.1.0 (synapsed 0.1.0)"));

    // --offline skips the API.
    let (out, v) = doctor(h, &d.socket, &good, &["--offline"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(status_of(&v, "API"), ("skip", "skipped (--offline)"));
    assert_eq!(api.models().requests().len(), 1);

    // No key.
    let (out, v) = doctor(h, &d.socket, &[("ANTHROPIC_BASE_URL", base.as_str())], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        status_of(&v, "API key"),
        ("fail", "no API key: run `synapsed auth login`")
    );
    assert_eq!(status_of(&v, "API").0, "skip");

    // The API fails, then does not list the model.
    api.models().push_fault([ModelsFault::status(500)]);
    let (out, v) = doctor(h, &d.socket, &good, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(status_of(&v, "API").1.contains("HTTP 500"), "{v}");
    let mut gone = good.to_vec();
    gone.push(("SYNAPSE_MODEL", "claude-gone"));
    let (out, v) = doctor(h, &d.socket, &gone, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        status_of(&v, "API")
            .1
            .starts_with("model claude-gone is not available to this key"),
        "{v}"
    );

    // The plugin: an older copy warns, missing files fail.
    let init = h.join("data/houdini-plugin/python/synapse_houdini/__init__.py");
    let text = std::fs::read_to_string(&init).unwrap();
    std::fs::write(
        &init,
        text.replace("__version__ = \"0.1.0\"", "__version__ = \"0.0.9\""),
    )
    .unwrap();
    let (out, v) = doctor(h, &d.socket, &good, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(status_of(&v, "houdini").0, "warn");
    assert!(
        status_of(&v, "houdini")
            .1
            .contains("plugin 0.0.9 but synapsed 0.1.0"),
        "{v}"
    );
    std::fs::remove_dir_all(h.join("data/houdini-plugin")).unwrap();
    let (out, v) = doctor(h, &d.socket, &good, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        status_of(&v, "houdini")
            .1
            .contains("the plugin files are missing"),
        "{v}"
    );
}

#[test]
fn socket_dir_and_daemon_failures() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let open = h.join("open");
    std::fs::create_dir_all(&open).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let (out, v) = doctor(h, &open.join("s.sock"), &[], &["--offline"]);
    assert_eq!(out.status.code(), Some(1));
    // Unix: a group-writable directory. Windows: a path that is no pipe name.
    let why = if cfg!(unix) {
        "writable by group or others (mode 777)"
    } else {
        "is not a pipe name: on Windows the socket is a named pipe"
    };
    assert!(status_of(&v, "socket dir").1.contains(why), "{v}");
    assert_eq!(status_of(&v, "daemon").0, "warn");
    assert_eq!(status_of(&v, "houdini").0, "warn", "no prefs dir: {v}");
    #[cfg(windows)]
    {
        // A pipe name with nobody serving it: the name is fine, no daemon.
        let (_, v) = doctor(
            h,
            &synapse_test_support::test_socket(h),
            &[],
            &["--offline"],
        );
        assert_eq!(status_of(&v, "socket dir").0, "ok", "{v}");
        assert!(
            status_of(&v, "socket dir").1.contains("is a named pipe"),
            "{v}"
        );
        assert_eq!(status_of(&v, "daemon").0, "warn", "{v}");
    }
    #[cfg(unix)]
    unix_socket_file_checks(h);
}

/// A file where the socket should be (Unix: sockets are files).
#[cfg(unix)]
fn unix_socket_file_checks(h: &Path) {
    let private = h.join("private");
    std::fs::create_dir_all(&private).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let sock = private.join("s.sock");
    std::fs::write(&sock, "not a socket").unwrap();
    let (out, v) = doctor(h, &sock, &[], &["--offline"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status_of(&v, "socket dir").0, "ok");
    assert!(
        status_of(&v, "daemon")
            .1
            .contains("exists and is not a socket"),
        "{v}"
    );

    // Human output: one line per check, no JSON.
    let out = Command::new(bin())
        .args(["--socket", sock.to_str().unwrap(), "doctor", "--offline"])
        .env("SYNAPSE_KEYRING", "off")
        .env("HOME", h)
        .env("XDG_CONFIG_HOME", h.join("config"))
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap();
    let text = s(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("FAIL  daemon ")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("skip  API ")), "{text}");
}
