//! Scheduling: FIFO within a session, accepted order, concurrent sessions, shutdown.

use super::*;

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
