//! Turn methods, events, tool hosts, scheduling and shutdown against a real
//! `synapsed serve` and a scripted Messages API. Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use synapse_protocol::code;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_errors() {
    let api = api(vec![text("hello", 10, 5)]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;

    let e = c
        .err(
            "turn.submit",
            json!({"prompt": "hi", "session_id": "sess_nope"}),
        )
        .await;
    assert_eq!(e.code, code::NOT_FOUND, "{e:?}");
    let e = c
        .err(
            "turn.submit",
            json!({"prompt": "hi", "host_id": "host_nope"}),
        )
        .await;
    assert_eq!(e.code, code::NOT_FOUND, "{e:?}");
    let e = c
        .err("turn.submit", json!({"prompt": "hi", "max_tokens": 0}))
        .await;
    assert_eq!(e.code, code::INVALID_PARAMS, "{e:?}");
    let e = c.err("turn.submit", json!({"session_id": "x"})).await;
    assert_eq!(e.code, code::INVALID_PARAMS, "prompt is required: {e:?}");

    let h1 = TestHost::register(&d.socket, Mode::Auto).await;
    let h2 = TestHost::register(&d.socket, Mode::Auto).await;
    let e = c.err("turn.submit", json!({"prompt": "hi"})).await;
    assert_eq!(
        e.code,
        code::NO_HOST,
        "two hosts and no host_id from a non-host connection: {e:?}"
    );
    // Naming one works, and a host's own connection needs no host_id.
    let r = c
        .call(
            "turn.submit",
            json!({"prompt": "hi", "host_id": h1.host_id}),
        )
        .await;
    let info = c.turn_get(r["turn_id"].as_str().expect("id")).await;
    assert_eq!(info["host_id"], h1.host_id.as_str());
    let r = h2
        .call("turn.submit", json!({"prompt": "mine"}))
        .await
        .expect("host submits");
    let info = c.turn_get(r["turn_id"].as_str().expect("id")).await;
    assert_eq!(info["host_id"], h2.host_id.as_str());
    // Nothing was created for the refused submits.
    let list = c.call("session.list", json!({})).await;
    assert_eq!(list.as_array().expect("list").len(), 2, "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_wait_cancel_and_sessions() {
    let api = api(vec![stall(), text("second answer", 10, 5)]);
    let d = daemon(&api);
    let mut c = Conn::open(&d.socket).await;

    let t0 = Instant::now();
    let (t1, sid) = c
        .submit(json!({"prompt": "Inspect the stage please"}))
        .await;
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "submit must return at once"
    );
    assert!(
        t1.starts_with("turn_") && sid.starts_with("sess_"),
        "{t1} {sid}"
    );
    c.until_running(&t1).await;
    assert!(api.wait_for_requests(1, T).await);
    let (t2, sid2) = c
        .submit(json!({"prompt": "and then?", "session_id": sid}))
        .await;
    assert_eq!(sid2, sid);

    let g1 = c.turn_get(&t1).await;
    assert_eq!(g1["status"], "running", "{g1}");
    assert!(g1.get("result").is_none(), "{g1}");
    let g2 = c.turn_get(&t2).await;
    assert_eq!(g2["status"], "queued", "{g2}");
    assert_eq!(g2["prompt"], "and then?");

    let e = c
        .err("turn.wait", json!({"turn_id": t1, "timeout_s": 0.2}))
        .await;
    assert_eq!(e.code, code::TURN_NOT_COMPLETE, "{e:?}");
    for m in ["turn.wait", "turn.get", "turn.cancel", "turn.subscribe"] {
        let e = c.err(m, json!({"turn_id": "turn_nope"})).await;
        assert_eq!(e.code, code::NOT_FOUND, "{m}: {e:?}");
    }
    let e = c
        .err("session.get", json!({"session_id": "sess_nope"}))
        .await;
    assert_eq!(e.code, code::NOT_FOUND, "{e:?}");

    let r = c.call("turn.cancel", json!({"turn_id": t1})).await;
    assert_eq!(r, json!({"cancelled": true}));
    let ev = c.until_done(&t1).await;
    let done = ev.last().expect("done");
    assert_eq!(done["result"]["status"], "cancelled", "{done}");
    // The stalled stream was aborted at once.
    assert!(
        api.wait_for_client_disconnects(1, T).await,
        "the HTTP read must be aborted on cancel"
    );

    let r2 = c
        .call("turn.wait", json!({"turn_id": t2, "timeout_s": 10}))
        .await;
    assert_eq!(r2["status"], "complete", "{r2}");
    assert_eq!(r2["text"], "second answer");
    assert_eq!(r2["turn_id"], t2.as_str());
    let g2 = c.turn_get(&t2).await;
    assert_eq!(g2["status"], "complete");
    assert_eq!(g2["result"], r2);
    // wait on a final turn answers at once
    assert_eq!(c.call("turn.wait", json!({"turn_id": t2})).await, r2);
    assert_eq!(
        c.call("turn.cancel", json!({"turn_id": t2})).await,
        json!({"cancelled": false})
    );
    assert_eq!(
        c.call("turn.cancel", json!({"turn_id": t1})).await,
        json!({"cancelled": false})
    );
    assert_eq!(c.turn_get(&t1).await["status"], "cancelled");

    let list = c.call("session.list", json!({})).await;
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["session_id"], sid.as_str());
    assert_eq!(list[0]["turns"], 2);
    assert!(
        list[0]["title"]
            .as_str()
            .expect("title")
            .starts_with("Inspect the stage"),
        "{list:?}"
    );

    let s = c.call("session.get", json!({"session_id": sid})).await;
    assert_eq!(s["session_id"], sid.as_str());
    let turns = s["turns"].as_array().expect("turns");
    assert_eq!(
        turns
            .iter()
            .map(|t| t["turn_id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(t1), json!(t2)]
    );
    assert_eq!(turns[0]["status"], "cancelled");
    assert_eq!(turns[1]["status"], "complete");
    let msgs = s["messages"].as_array().expect("messages");
    check_history(&sid, msgs);
    let all_text: String = msgs
        .iter()
        .flat_map(blocks)
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect();
    assert!(
        all_text.contains("Inspect the stage please") && all_text.contains("and then?"),
        "{msgs:?}"
    );
    let last = msgs.last().expect("last");
    assert_eq!(last["role"], "assistant");
    assert_eq!(
        blocks(last)[0],
        json!({"type": "text", "text": "second answer"})
    );
    // The continued turn sent the repaired history of the cancelled one.
    let reqs = api.requests();
    assert_eq!(reqs.len(), 2);
    let sent = reqs[1].body["messages"].as_array().expect("messages");
    check_history(&sid, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_one_turn_and_all_turns() {
    let api = api(vec![stall(), text("for everyone", 10, 5)]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    let mut watcher_all = Conn::open(&d.socket).await;
    let mut watcher_one = Conn::open(&d.socket).await;
    assert_eq!(
        watcher_all.call("turn.subscribe", json!({})).await,
        json!({})
    );

    // Submitted by a third connection; seen by the "all turns" subscriber.
    let (stalled, _) = c.submit(json!({"prompt": "stall"})).await;
    watcher_all.until_running(&stalled).await;
    // The stall is consumed by this turn before the other one asks.
    assert!(api.wait_for_requests(1, T).await);
    assert_eq!(
        watcher_one
            .call("turn.subscribe", json!({"turn_id": stalled}))
            .await,
        json!({})
    );
    let (other, _) = c.submit(json!({"prompt": "other"})).await;
    let evs = watcher_all.until_done(&other).await;
    assert_eq!(evs.last().expect("done")["result"]["text"], "for everyone");
    assert_contiguous_seqs(&evs, "a subscriber to all turns sees every event");

    assert_eq!(
        c.call("turn.cancel", json!({"turn_id": stalled})).await["cancelled"],
        true
    );
    let one = watcher_one.until_done(&stalled).await;
    assert_eq!(one.last().expect("done")["result"]["status"], "cancelled");
    let all = watcher_all.until_done(&stalled).await;
    assert_eq!(all.last().expect("done")["result"]["status"], "cancelled");
    // The single-turn subscriber saw nothing of the other turn.
    while let Ok(Some(inc)) = tokio::time::timeout(
        Duration::from_millis(100),
        watcher_one.client.next_incoming(),
    )
    .await
    {
        if let synapse_rpc::Incoming::Notification(n) = inc {
            assert_ne!(
                n.params.expect("p")["turn_id"],
                other.as_str(),
                "subscribed to one turn only"
            );
        }
    }
    // Subscribing to a final turn is fine (no events follow).
    assert_eq!(
        watcher_one
            .call("turn.subscribe", json!({"turn_id": other}))
            .await,
        json!({})
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_within_a_session() {
    let api = api(vec![
        tool_use(
            "First.",
            "toolu_fifo",
            "probe",
            json!({"path": "/f"}),
            10,
            5,
        ),
        text("first done", 10, 5),
        text("second done", 10, 5),
    ]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let mut c = Conn::open(&d.socket).await;
    let (t1, sid) = c.submit(json!({"prompt": "one"})).await;
    let (t2, _) = c.submit(json!({"prompt": "two", "session_id": sid})).await;
    let (id, _) = host.invoke().await;
    // t1 holds its tool call: t2 must wait.
    assert_eq!(c.turn_get(&t1).await["status"], "running");
    assert_eq!(c.turn_get(&t2).await["status"], "queued");
    assert_eq!(api.requests().len(), 1);
    host.respond(id, json!({"is_error": false, "content": {"ok": 1}}));
    // On the submitter's connection: all of t1, then t2 starts.
    let mut order = Vec::new();
    loop {
        let e = c.event().await;
        let done2 = e["turn_id"] == t2.as_str() && e["type"] == "done";
        order.push((
            e["turn_id"].as_str().expect("id").to_owned(),
            e["type"].as_str().expect("t").to_owned(),
        ));
        if done2 {
            break;
        }
    }
    let t1_done = order
        .iter()
        .position(|(t, k)| *t == t1 && k == "done")
        .expect("t1 done");
    let t2_first = order.iter().position(|(t, _)| *t == t2).expect("t2 events");
    assert!(
        t1_done < t2_first,
        "second turn started before the first was final: {order:?}"
    );
    assert_eq!(order[t2_first].1, "status");
    assert_eq!(c.turn_get(&t1).await["status"], "complete");
    assert_eq!(c.turn_get(&t2).await["result"]["text"], "second done");
    let reqs = api.requests();
    assert_eq!(reqs.len(), 3);
    // The second turn saw the whole first turn.
    let m = reqs[2].body["messages"].as_array().expect("m");
    assert_eq!(m.len(), 5, "{m:?}");
    check_history(&sid, m);
}

/// Turns submitted back to back from several connections to a busy session
/// run in the order they were accepted (their `seq`): a turn joins its
/// session's queue before its submit is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_submits_run_in_accepted_order() {
    const N: usize = 6;
    let mut script = vec![tool_use(
        "Looking.",
        "toolu_ord",
        "probe",
        json!({"path": "/o"}),
        10,
        5,
    )];
    script.push(text("zero done", 10, 5));
    for i in 0..N {
        script.push(text(&format!("answer {i}"), 10, 5));
    }
    let api = api(script);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let c = Conn::open(&d.socket).await;
    let (t0, sid) = c.submit(json!({"prompt": "zero"})).await;
    let (id, _) = host.invoke().await;
    let mut conns = Vec::new();
    for _ in 0..N {
        conns.push(Conn::open(&d.socket).await);
    }
    // One after another, each on its own connection: a submit is sent as
    // soon as the previous one was answered, so its turn must come after.
    let mut ids = Vec::new();
    for (i, k) in conns.iter().enumerate() {
        ids.push(
            k.submit(json!({"prompt": format!("prompt {i}"), "session_id": sid}))
                .await,
        );
    }
    host.respond(id, json!({"is_error": false, "content": {"ok": 1}}));
    for (t, _) in ids
        .iter()
        .chain(std::iter::once(&(t0.clone(), sid.clone())))
    {
        let r = c
            .call("turn.wait", json!({"turn_id": t, "timeout_s": 10}))
            .await;
        assert_eq!(r["status"], "complete", "{r}");
    }
    let s = c.call("session.get", json!({"session_id": sid})).await;
    let by_seq: Vec<String> = s["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .map(|t| t["prompt"].as_str().expect("prompt").to_owned())
        .collect();
    let by_run: Vec<String> = s["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"][0]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(by_seq.len(), N + 1);
    assert_eq!(by_run, by_seq, "run order differs from accepted order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_concurrently() {
    let api = api(vec![stall(), stall()]);
    let d = daemon(&api);
    let mut c = Conn::open(&d.socket).await;
    let (a, sa) = c.submit(json!({"prompt": "a"})).await;
    let (b, sb) = c.submit(json!({"prompt": "b"})).await;
    assert_ne!(sa, sb);
    let mut running = std::collections::HashSet::new();
    while running.len() < 2 {
        let e = c.event().await;
        assert_ne!(e["type"], "done", "{e}");
        if e["type"] == "status" && e["status"] == "running" {
            running.insert(e["turn_id"].as_str().expect("id").to_owned());
        }
    }
    assert!(
        api.wait_for_requests(2, T).await,
        "both sessions stream at once"
    );
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["turns"]["running"], 2, "{st}");
    assert_eq!(c.turn_get(&a).await["status"], "running");
    assert_eq!(c.turn_get(&b).await["status"], "running");
    for t in [&a, &b] {
        assert_eq!(
            c.call("turn.cancel", json!({"turn_id": t})).await["cancelled"],
            true
        );
        assert_eq!(
            c.until_done(t).await.last().expect("done")["result"]["status"],
            "cancelled"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_running_turn_and_persists() {
    let api = api(vec![stall()]);
    let mut d = daemon(&api);
    let tmp = d.take_tempdir().expect("tempdir");
    let (socket, data) = (d.socket.clone(), d.data_dir.clone());
    let mut c = Conn::open(&socket).await;
    let (t, _) = c.submit(json!({"prompt": "long"})).await;
    c.until_running(&t).await;
    assert!(api.wait_for_requests(1, T).await);
    let other = Conn::open(&socket).await;
    assert_eq!(other.call("daemon.shutdown", json!({})).await, json!({}));
    let evs = c.until_done(&t).await;
    assert_eq!(evs.last().expect("done")["result"]["status"], "cancelled");
    let st = tokio::task::spawn_blocking(move || {
        let st = d.wait_exit(T);
        (st, d)
    })
    .await
    .expect("join");
    assert!(st.0.expect("daemon exits").success(), "{:?}", st.0);
    assert!(!socket.exists(), "socket removed");
    let d2 = daemon_at(&api, &socket, &data);
    let c2 = Conn::open(&d2.socket).await;
    let g = c2.turn_get(&t).await;
    assert_eq!(g["status"], "cancelled", "{g}");
    assert_eq!(g["result"]["status"], "cancelled");
    drop(tmp);
}
