//! The API key never appears in argv, logs (at trace level), errors, RPC
//! answers or the database, through a turn that uses a tool and a turn that
//! fails with 401.

mod common;

use std::time::Duration;

use common::{api, bin, text, tool_use, within, Conn, TestHost};
use serde_json::json;
use synapse_test_support::daemon::{DaemonProcess, Options};
use synapse_test_support::messages_api::ScriptResponse;

const KEY: &str = "sk-ant-api03-SECRET-do-not-leak-0123456789abcdef";

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_appears_nowhere() {
    let api = api(vec![
        tool_use("Looking.", "toolu_01", "probe", json!({"what": "stage"}), 10, 5),
        text("Done.", 12, 3),
        ScriptResponse::from_value(json!({"fault": "http_status", "status": 401, "error_type": "authentication_error", "message": "invalid x-api-key"}))
            .expect("fault"),
    ]);
    let mut d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            env: vec![
                ("ANTHROPIC_API_KEY".into(), KEY.into()),
                ("ANTHROPIC_BASE_URL".into(), api.base_url()),
                ("SYNAPSE_LOG".into(), "trace".into()),
            ],
            ..Default::default()
        },
    )
    .expect("daemon");
    // The daemon's argv as the OS shows it to other processes (Linux /proc;
    // on Windows this check does not run: no /proc under Wine either).
    #[cfg(unix)]
    {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", d.child.id())).expect("cmdline");
        assert!(!contains(&cmdline, KEY), "key in argv");
    }

    let mut host = TestHost::register(&d.socket, common::Mode::Hold).await;
    let mut c = Conn::open(&d.socket).await;
    let (t1, sid) = c.submit(json!({"prompt": "what is on the stage?"})).await;
    let (id, _) = host.invoke().await;
    host.respond(id, json!({"is_error": false, "content": {"prims": 3}}));
    let done = c.until_done(&t1).await;
    assert_eq!(done.last().expect("done")["result"]["status"], "complete");

    let (t2, _) = c
        .submit(json!({"prompt": "again", "session_id": sid}))
        .await;
    let done = c.until_done(&t2).await;
    let result = &done.last().expect("done")["result"];
    assert_eq!(result["status"], "api_error");
    assert_eq!(result["error"]["kind"], "authentication");

    // The key did reach the API, as a header only.
    let reqs = api.requests();
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("x-api-key").map(String::as_str) == Some(KEY)));

    // Nothing the daemon answers carries it.
    for method in ["daemon.status", "session.list"] {
        let v = c.call(method, json!({})).await;
        assert!(!v.to_string().contains(KEY), "{method} leaks the key");
    }
    let s = c.call("session.get", json!({"session_id": sid})).await;
    assert!(!s.to_string().contains(KEY));

    let _ = within(
        "shutdown",
        c.client.call_value("daemon.shutdown", json!({})),
    )
    .await;
    let st = d.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(st.success());
    let log = d.stderr();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was on"
    );
    assert!(!log.contains(KEY), "key in the daemon's log");
    assert!(
        !log.contains(&KEY[10..30]),
        "part of the key in the daemon's log"
    );

    for entry in std::fs::read_dir(&d.data_dir).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read db file");
            assert!(!contains(&bytes, KEY), "key in {}", path.display());
        }
    }
}
