//! `turn.submit` errors, `turn.get`/`wait`/`cancel`, sessions, `turn.subscribe`.

use super::*;

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

/// A submitter that vanishes while its `turn.submit` is in flight (its
/// handler is dropped when the answer to its other request cannot be
/// written) leaves no stored turn stuck: every turn that was stored
/// reaches a final status (`turn.wait` of a stored turn that nothing runs
/// is an error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitter_that_vanishes_mid_submit_leaves_no_turn_stuck() {
    let api = api((0..20)
        .map(|i| text(&format!("answer {i}"), 10, 5))
        .collect());
    let d = daemon(&api);
    for i in 0..20 {
        let s = within("connect", synapse_rpc::endpoint::connect(&d.socket))
            .await
            .expect("connect");
        let (r, mut w) = synapse_rpc::endpoint::split(s);
        let lines = format!(
            "{}\n{}\n",
            json!({"jsonrpc": "2.0", "id": 1, "method": "daemon.status"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "turn.submit",
                   "params": {"prompt": format!("question {i}")}}),
        );
        w.write_all(lines.as_bytes()).await.expect("write");
        drop((r, w));
    }
    let c = Conn::open(&d.socket).await;
    let list = c.call("session.list", json!({})).await;
    let mut seen = 0;
    for s in list.as_array().expect("a list of sessions") {
        let detail = c
            .call("session.get", json!({"session_id": s["session_id"]}))
            .await;
        for t in detail["turns"].as_array().expect("turns") {
            let r = c
                .call(
                    "turn.wait",
                    json!({"turn_id": t["turn_id"], "timeout_s": 10.0}),
                )
                .await;
            assert_eq!(r["status"], "complete", "{t}: {r}");
            seen += 1;
        }
    }
    assert!(seen > 0, "no submit was stored");
}
