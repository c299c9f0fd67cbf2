//! Event order and `seq`, tool rounds through a host, a host that vanishes, cancel during a tool call.

use super::*;

/// Reads raw NDJSON lines, to prove the submit response precedes the events.
struct RawLines {
    reader: BufReader<synapse_rpc::endpoint::ReadHalf>,
    writer: synapse_rpc::endpoint::WriteHalf,
}

impl RawLines {
    async fn connect(path: &std::path::Path) -> Self {
        let s = within("connect", synapse_rpc::endpoint::connect(path))
            .await
            .expect("connect");
        let (r, w) = synapse_rpc::endpoint::split(s);
        Self {
            reader: BufReader::new(r),
            writer: w,
        }
    }
    async fn send(&mut self, v: Value) {
        let mut line = serde_json::to_vec(&v).expect("json");
        line.push(b'\n');
        self.writer.write_all(&line).await.expect("write");
    }
    async fn line(&mut self) -> Value {
        let mut s = String::new();
        let n = within("a line", self.reader.read_line(&mut s))
            .await
            .expect("read");
        assert!(n > 0, "closed");
        serde_json::from_str(&s).expect("json line")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_order_seq_and_tool_round() {
    let api = api(vec![
        tool_use(
            "Let me look.",
            "toolu_01A",
            "probe",
            json!({"path": "/stage"}),
            100,
            20,
        ),
        text("Done: {{last_tool_result}}", 150, 30),
    ]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Auto).await;
    let mut raw = RawLines::connect(&d.socket).await;
    // claude-sonnet-4-5 pins the price the usage check below expects.
    raw.send(json!({"jsonrpc": "2.0", "id": 1, "method": "turn.submit", "params": {"prompt": "inspect", "model": "claude-sonnet-4-5"}})).await;
    let first = raw.line().await;
    assert_eq!(
        first["id"], 1,
        "the submit response must be the first line: {first}"
    );
    let turn_id = first["result"]["turn_id"]
        .as_str()
        .expect("turn_id")
        .to_owned();
    let mut events = Vec::new();
    loop {
        let l = raw.line().await;
        assert_eq!(l["method"], "turn.event", "{l}");
        let p = l["params"].clone();
        assert_eq!(p["turn_id"], turn_id.as_str());
        let done = p["type"] == "done";
        events.push(p);
        if done {
            break;
        }
    }
    assert_contiguous_seqs(&events, "seq contiguous from 0");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        events[0],
        json!({"turn_id": turn_id, "seq": 0, "type": "status", "status": "running"})
    );
    let pos = |t: &str| {
        types
            .iter()
            .position(|x| *x == t)
            .unwrap_or_else(|| panic!("no {t} in {types:?}"))
    };
    let (call, result) = (pos("tool_call"), pos("tool_result"));
    assert!(
        types[1..call].iter().all(|t| *t == "text") && call > 1,
        "{types:?}"
    );
    assert_eq!(result, call + 1, "{types:?}");
    assert!(
        types[result + 1..types.len() - 1]
            .iter()
            .all(|t| *t == "text"),
        "{types:?}"
    );
    assert_eq!(types.iter().filter(|t| **t == "done").count(), 1);
    let text_before: String = events[1..call]
        .iter()
        .map(|e| e["text"].as_str().expect("text"))
        .collect();
    assert_eq!(text_before, "Let me look.");
    let text_after: String = events[result + 1..events.len() - 1]
        .iter()
        .map(|e| e["text"].as_str().expect("text"))
        .collect();
    assert_eq!(text_after, r#"Done: {"path":"/stage","prims":3}"#);
    assert_eq!(events[call]["call_id"], "toolu_01A");
    assert_eq!(events[call]["name"], "probe");
    assert_eq!(events[call]["input"], json!({"path": "/stage"}));
    assert_eq!(events[result]["call_id"], "toolu_01A");
    assert_eq!(events[result]["is_error"], false);
    assert!(events[result]["duration_ms"].is_u64());

    let r = &events.last().expect("done")["result"];
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["turn_id"], turn_id.as_str());
    assert_eq!(r["text"], r#"Done: {"path":"/stage","prims":3}"#);
    assert_eq!(r["iterations"], 2);
    let calls = r["tool_calls"].as_array().expect("tool_calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["call_id"], "toolu_01A");
    assert_eq!(calls[0]["name"], "probe");
    assert_eq!(calls[0]["input"], json!({"path": "/stage"}));
    assert_eq!(calls[0]["is_error"], false);
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 250, "output_tokens": 50, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "cost_usd": 0.0015})
    );
    assert!(r.get("error").is_none());

    // tool.invoke params as the contract says.
    let (_, p) = host.invoke().await;
    assert_eq!(
        p,
        json!({"call_id": "toolu_01A", "turn_id": turn_id, "name": "probe", "input": {"path": "/stage"}, "timeout_s": 30.0})
    );
    // The tool result reached the model.
    let reqs = api.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].headers.get("x-api-key").map(String::as_str),
        Some("test-key")
    );
    assert!(reqs[0].body["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["name"] == "probe")));
    let msgs = reqs[1].body["messages"].as_array().expect("messages");
    let last = strip_cache_control(msgs.last().expect("last"));
    assert_eq!(last["role"], "user");
    assert_eq!(
        blocks(&last),
        vec![
            json!({"type": "tool_result", "tool_use_id": "toolu_01A", "content": r#"{"path":"/stage","prims":3}"#})
        ]
    );
    // Persisted the same.
    let mut c = Conn::open(&d.socket).await;
    let g = c.turn_get(&turn_id).await;
    assert_eq!(&g["result"], r);
    let s = c
        .call("session.get", json!({"session_id": r["session_id"]}))
        .await;
    let stored = s["messages"].as_array().expect("messages");
    check_history("s", stored);
    assert_eq!(stored.len(), 4, "{stored:?}");
    assert_eq!(s["turns"][0]["result"]["tool_calls"], r["tool_calls"]);
    let _ = &mut c;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_disconnect_mid_call_gives_host_unavailable() {
    let api = api(vec![
        tool_use(
            "Checking.",
            "toolu_gone",
            "probe",
            json!({"path": "/obj"}),
            10,
            5,
        ),
        text("Saw: {{last_tool_result}}", 10, 5),
    ]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let mut c = Conn::open(&d.socket).await;
    let (t, _) = c.submit(json!({"prompt": "go"})).await;
    let (_, p) = host.invoke().await;
    assert_eq!(p["call_id"], "toolu_gone");
    host.disconnect().await;
    let evs = c.until_done(&t).await;
    let r = &evs.last().expect("done")["result"];
    assert_eq!(r["status"], "complete", "the turn goes on: {r}");
    assert_eq!(r["tool_calls"][0]["is_error"], true);
    assert!(
        r["text"]
            .as_str()
            .expect("text")
            .contains("HostUnavailable"),
        "{r}"
    );
    let tr = evs
        .iter()
        .find(|e| e["type"] == "tool_result")
        .expect("tool_result event");
    assert_eq!(tr["is_error"], true);
    // The event says why, as the model was told (a client shows it at once).
    assert_eq!(tr["error"]["error_type"], "HostUnavailable", "{tr}");
    assert!(
        tr["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{tr}"
    );
    let reqs = api.requests();
    let last = strip_cache_control(
        reqs[1].body["messages"]
            .as_array()
            .expect("m")
            .last()
            .expect("last"),
    );
    let b = &blocks(&last)[0];
    assert_eq!(b["type"], "tool_result");
    assert_eq!(b["tool_use_id"], "toolu_gone");
    assert_eq!(b["is_error"], true);
    let env: Value = serde_json::from_str(b["content"].as_str().expect("content is JSON text"))
        .expect("envelope");
    assert_eq!(env["agent_tool_error"], true);
    assert_eq!(env["error_type"], "HostUnavailable");
    assert_eq!(env["tool_name"], "probe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_a_tool_runs() {
    let api = api(vec![
        tool_use(
            "Working.",
            "toolu_slow",
            "probe",
            json!({"path": "/a"}),
            10,
            5,
        ),
        text("after", 10, 5),
    ]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let mut c = Conn::open(&d.socket).await;
    let (t, sid) = c.submit(json!({"prompt": "go"})).await;
    let (id, p) = host.invoke().await;
    assert_eq!(p["call_id"], "toolu_slow");
    assert_eq!(
        c.call("turn.cancel", json!({"turn_id": t})).await,
        json!({"cancelled": true})
    );
    // Final without the host answering.
    let evs = c.until_done(&t).await;
    let r = &evs.last().expect("done")["result"];
    assert_eq!(r["status"], "cancelled", "{r}");
    assert_eq!(host.cancel_seen().await, json!({"call_id": "toolu_slow"}));
    // A late reply is ignored and the host connection keeps working.
    host.respond(id, json!({"is_error": false, "content": {"late": true}}));
    let st = host
        .call("daemon.status", json!({}))
        .await
        .expect("host connection still served");
    assert_eq!(st["hosts"].as_array().expect("hosts").len(), 1);
    assert_eq!(st["turns"]["running"], 0);
    let s = c.call("session.get", json!({"session_id": sid})).await;
    let msgs = s["messages"].as_array().expect("messages");
    check_history(&sid, msgs);
    let closing = msgs
        .iter()
        .flat_map(blocks)
        .find(|b| b["type"] == "tool_result")
        .expect("synthetic result");
    assert_eq!(closing["is_error"], true);
    assert!(
        closing["content"]
            .as_str()
            .expect("text")
            .contains("Cancelled"),
        "{closing}"
    );
    assert!(
        !serde_json::to_string(msgs).expect("json").contains("late"),
        "the late reply must not be stored"
    );
    assert_eq!(api.requests().len(), 1, "no further API call after cancel");
}
