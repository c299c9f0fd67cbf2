//! Models: `synapsed models` against the scripted Models API, a turn whose
//! model is not found, `daemon.status.model_available`, and empty model
//! names refused at every edge.

#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::DaemonProcess;
use synapse_test_support::messages_api::ScriptResponse;
use synapse_test_support::models_api::{default_models, ScriptModel};

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `synapsed ARGS` with a clean environment (no user config, no key unless given).
fn cli(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env_remove("SYNAPSE_MODEL")
        .env_remove("SYNAPSE_CONFIG")
        .env("SYNAPSE_KEYRING", "off")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run synapsed")
}

#[test]
fn models_lists_every_page_and_marks_default_and_configured() {
    let api = api(vec![]);
    let mut list = default_models();
    list.extend((0..141).map(|i| {
        ScriptModel::new(
            &format!("claude-old-{i:03}"),
            &format!("Old {i}"),
            "2025-01-01T00:00:00Z",
        )
    }));
    api.models().set(list);
    let home = tempfile::tempdir().unwrap();
    let base = api.base_url();
    let env = [
        ("ANTHROPIC_API_KEY", "test-key"),
        ("ANTHROPIC_BASE_URL", base.as_str()),
    ];
    let out = cli(home.path(), &env, &["models"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", s(&out.stderr));
    let text = s(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 151, "{text}");
    assert!(lines[0].starts_with("claude-fable-5-2"), "{text}");
    let sonnet = lines
        .iter()
        .find(|l| l.starts_with("claude-sonnet-5-5 "))
        .unwrap();
    assert!(
        sonnet.contains("Claude Sonnet 5.5") && sonnet.contains("2026-09-22"),
        "{sonnet}"
    );
    assert!(sonnet.ends_with("default, configured"), "{sonnet}");
    assert_eq!(lines[150], "150 models");
    let paths: Vec<String> = api
        .models()
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/models?limit=100",
            "/v1/models?limit=100&after_id=claude-old-090"
        ]
    );

    // --json, with another configured model.
    let env2 = [
        ("ANTHROPIC_API_KEY", "test-key"),
        ("ANTHROPIC_BASE_URL", base.as_str()),
        ("SYNAPSE_MODEL", "claude-opus-5-5"),
    ];
    let out = cli(home.path(), &env2, &["models", "--json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", s(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["default_model"], json!("claude-sonnet-5-5"));
    assert_eq!(v["configured_model"], json!("claude-opus-5-5"));
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 150);
    let find = |id: &str| models.iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!(
        find("claude-sonnet-5-5"),
        json!({"id": "claude-sonnet-5-5", "display_name": "Claude Sonnet 5.5",
               "created_at": "2026-09-22T00:00:00Z", "default": true, "configured": false})
    );
    assert_eq!(find("claude-opus-5-5")["configured"], json!(true));

    // A configured model the API does not list is pointed out.
    let env3 = [
        ("ANTHROPIC_API_KEY", "test-key"),
        ("ANTHROPIC_BASE_URL", base.as_str()),
        ("SYNAPSE_MODEL", "claude-gone"),
    ];
    let out = cli(home.path(), &env3, &["models"]);
    let text = s(&out.stdout);
    assert!(text.contains("configured model: claude-gone\nwarning: the configured model claude-gone is not in this list"), "{text}");
}

#[test]
fn models_without_a_key_or_offline_says_why_and_exits_1() {
    let home = tempfile::tempdir().unwrap();
    let api = api(vec![]);
    let base = api.base_url();
    let out = cli(
        home.path(),
        &[("ANTHROPIC_BASE_URL", base.as_str())],
        &["models"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no API key") && err.contains("synapsed auth login"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(
        api.models().requests().is_empty(),
        "nothing sent without a key"
    );

    let env = [
        ("ANTHROPIC_API_KEY", "sk-secret-xyz"),
        ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9"),
    ];
    let out = cli(home.path(), &env, &["models"]);
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert!(
        err.starts_with(
            "synapsed: cannot list models from http://127.0.0.1:9: cannot reach the Models API"
        ),
        "{err}"
    );
    assert!(!err.contains("sk-secret-xyz"));

    let out = cli(
        home.path(),
        &[
            ("ANTHROPIC_API_KEY", "bad"),
            ("ANTHROPIC_BASE_URL", base.as_str()),
        ],
        &["models"],
    );
    assert_eq!(out.status.code(), Some(0), "the scripted API takes any key");
}

#[test]
fn empty_model_names_are_refused_at_the_edges() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["ask", "--model", "", "hi"][..],
        &["ask", "--model", "  ", "hi"],
        &["serve", "--model", " "],
        &["serve", "--model", "claude sonnet"],
    ] {
        let out = cli(home.path(), &[], args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", s(&out.stderr));
        assert!(s(&out.stderr).contains("model name"), "{}", s(&out.stderr));
    }
    // A config file with an empty model: the daemon refuses to start.
    let cfg = home.path().join("c.toml");
    std::fs::write(&cfg, "model = \"\"\n").unwrap();
    let sock = home.path().join("s/synapsed.sock");
    let out = cli(
        home.path(),
        &[],
        &[
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--socket",
            sock.to_str().unwrap(),
            "--data-dir",
            home.path().join("d").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        s(&out.stderr).contains("model: the model name is empty"),
        "{}",
        s(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_with_an_empty_model_is_invalid_params_and_creates_nothing() {
    let api = api(vec![]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    for model in ["", "   ", "a b"] {
        let e = c
            .err("turn.submit", json!({"prompt": "hi", "model": model}))
            .await;
        assert_eq!(e.code, -32602, "{e:?}");
        let data = e.data.as_ref().map(|d| d.to_string()).unwrap_or_default();
        assert!(data.contains("model: the model name"), "{data}");
    }
    assert_eq!(c.call("session.list", json!({})).await, json!([]));
    assert!(api.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_ends_the_turn_not_found_and_status_says_so() {
    let api = api(vec![ScriptResponse::from_value(
        json!({"fault": "http_status", "status": 404,
            "error_type": "not_found_error", "message": "model: claude-gone"}),
    )
    .unwrap()]);
    let mut o = api_options(&api);
    o.env.push(("SYNAPSE_MODEL".into(), "claude-gone".into()));
    let d = DaemonProcess::spawn_with(&bin(), o).expect("daemon starts");
    let status = |out: Output| -> Value { serde_json::from_slice(&out.stdout).unwrap() };
    let st = status(run_cli(&d.socket, &["status", "--json"]).await);
    assert_eq!(st["model"], json!("claude-gone"));
    assert_eq!(st["model_available"], Value::Null);

    let out = run_cli(&d.socket, &["ask", "hi"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert!(err.contains("[api_error]"), "{err}");
    assert!(
        err.contains("error (not_found): model \"claude-gone\" is not available"),
        "{err}"
    );
    assert!(
        err.contains("Available: claude-fable-5-2, claude-haiku-5-5, claude-sonnet-5-5"),
        "{err}"
    );
    assert!(err.contains("SYNAPSE_MODEL"), "{err}");
    let st = status(run_cli(&d.socket, &["status", "--json"]).await);
    assert_eq!(st["model_available"], json!(false));
    let human = s(&run_cli(&d.socket, &["status"]).await.stdout);
    assert!(
        human.contains("model     claude-gone (NOT AVAILABLE: see `synapsed models`)"),
        "{human}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_model_is_sent_and_confirmed() {
    let api = api(vec![text("hi", 5, 2)]);
    let d = daemon(&api);
    let out = run_cli(&d.socket, &["ask", "hello"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert_eq!(api.requests()[0].body["model"], json!("claude-sonnet-5-5"));
    let st: Value =
        serde_json::from_slice(&run_cli(&d.socket, &["status", "--json"]).await.stdout).unwrap();
    assert_eq!(st["model"], json!("claude-sonnet-5-5"));
    assert_eq!(st["model_available"], json!(true));
}
