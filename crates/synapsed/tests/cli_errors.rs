//! The CLI's error messages as a person sees them: bad flag values exit 2,
//! daemon errors show their explanation and no numeric code, each cause is
//! said once, config errors carry line and column, unknown config keys are
//! warned about with the nearest known key.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn cli(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    // Windows: no XDG; the config dir is moved explicitly.
    if cfg!(windows) {
        cmd.env("SYNAPSE_CONFIG_DIR", home.join("config").join("synapse"));
    }
    cmd.args(args)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("SYNAPSE_CONFIG")
        .env_remove("SYNAPSE_SOCKET")
        .env("SYNAPSE_KEYRING", "off")
        .env("SYNAPSE_LOG", "info")
        .env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .output()
        .unwrap()
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let home = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (
            &["ask", "--max-iterations", "0", "hi"][..],
            "--max-iterations",
        ),
        (&["ask", "--max-iterations=-3", "hi"], "--max-iterations"),
        (
            &["serve", "--concurrent-sessions", "0"],
            "--concurrent-sessions",
        ),
        (&["serve", "--exit-when-idle", "soon"], "--exit-when-idle"),
    ] {
        let out = cli(home.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(s(&out.stderr).contains(flag), "{}", s(&out.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_errors_show_their_explanation_without_codes() {
    let api = api(vec![]);
    let d = daemon(&api);
    let out = run_cli(&d.socket, &["cancel", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s(&out.stderr), "synapsed: no turn nope\n");

    let out = run_cli(&d.socket, &["ask", "--session", "sess_nope", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s(&out.stderr), "synapsed: Not found: session sess_nope\n");
    // The code stays in --json output.
    let out = run_cli(
        &d.socket,
        &["ask", "--json", "--session", "sess_nope", "hi"],
    )
    .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], -32001);
    assert_eq!(v["error"]["message"], "Not found: session sess_nope");
    assert!(api.requests().is_empty());
}

#[test]
fn stop_without_a_daemon_does_not_advise_starting_one() {
    let home = tempfile::tempdir().unwrap();
    let sock = synapse_test_support::test_socket(home.path());
    let out = cli(home.path(), &["--socket", sock.to_str().unwrap(), "stop"]);
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert!(err.starts_with("synapsed: no daemon answers on"), "{err}");
    assert!(!err.contains("start one"), "{err}");
}

#[test]
fn config_errors_have_line_and_column_and_are_said_once() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("c.toml");
    let sock = synapse_test_support::test_socket(home.path());
    let data = home.path().join("data");
    let serve = |cfg: &Path| {
        cli(
            home.path(),
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--socket",
                sock.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
        )
    };
    std::fs::write(&cfg, "model = \"claude-x\"\nmax_tokens = \"lots\"\n").unwrap();
    let out = serve(&cfg);
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert_eq!(
        err,
        format!("synapsed: cannot load settings: invalid config file {}: line 2, column 14: invalid type: string \"lots\", expected u32\n", cfg.display())
    );
    std::fs::write(&cfg, "model = \"x\"\n[[[\n").unwrap();
    let err = s(&serve(&cfg).stderr);
    assert!(err.contains(": line 2, column 3: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("API key"), "no unrelated warning: {err}");
}

#[test]
fn unknown_config_keys_are_warned_about_with_the_nearest_key() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("c.toml");
    std::fs::write(
        &cfg,
        "modle = \"claude-x\"\nmax_token = 5\ncolour = \"red\"\n",
    )
    .unwrap();
    let out = cli(home.path(), &["models", "--config", cfg.to_str().unwrap()]);
    let err = s(&out.stderr);
    assert!(
        err.contains("unknown config key `modle` (ignored); did you mean `model`?"),
        "{err}"
    );
    assert!(
        err.contains("unknown config key `max_token` (ignored); did you mean `max_tokens`?"),
        "{err}"
    );
    assert!(
        err.contains("unknown config key `colour` (ignored)")
            && !err.contains("`colour` (ignored); did"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1), "no key: {err}");
}

#[test]
fn a_fatal_start_error_is_not_preceded_by_a_key_warning() {
    let home = tempfile::tempdir().unwrap();
    let open = home.path().join("open");
    std::fs::create_dir_all(&open).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let sock = open.join("s.sock");
    let data = home.path().join("data");
    let out = cli(
        home.path(),
        &[
            "serve",
            "--socket",
            sock.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    // Unix: a group-writable socket directory. Windows: a file path where a
    // pipe name is needed.
    let fatal = if cfg!(unix) {
        "synapsed: cannot start: refusing socket directory"
    } else {
        "synapsed: cannot start: invalid socket"
    };
    assert!(err.starts_with(fatal), "{err}");
}
