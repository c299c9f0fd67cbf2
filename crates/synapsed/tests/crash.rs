//! Crash loop: `kill -9` the daemon at random moments during turns with tool
//! calls, restart it on the same data dir, and check that nothing is left
//! unfinished, every answer a client was told is `complete` is still stored
//! (status and text), and every stored history can be sent again.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use synapse_rpc::Incoming;
use synapse_test_support::messages_api::ScriptResponse;

const ROUNDS: usize = 20;

use synapse_test_support::rng::Rng;

fn delayed(mut r: ScriptResponse, ms: u64) -> ScriptResponse {
    match &mut r {
        ScriptResponse::Message(m) => m.delay_ms = Some(ms),
        ScriptResponse::Fault(f) => f.delay_ms = Some(ms),
        ScriptResponse::Raw(r) => r.delay_ms = Some(ms),
    }
    r
}

/// Every invariant that must hold after a restart. Returns the stored
/// status and text of every turn.
async fn verify(c: &Conn, round: usize) -> HashMap<String, (String, String)> {
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["turns"]["running"], 0, "round {round}: {st}");
    assert_eq!(st["turns"]["queued"], 0, "round {round}: {st}");
    let list = c.call("session.list", json!({})).await;
    let mut statuses = HashMap::new();
    for s in list.as_array().expect("list") {
        let sid = s["session_id"].as_str().expect("sid");
        let detail = c.call("session.get", json!({"session_id": sid})).await;
        let turns = detail["turns"].as_array().expect("turns");
        assert_eq!(
            s["turns"].as_u64(),
            Some(turns.len() as u64),
            "round {round}: turns count of {sid}"
        );
        for t in turns {
            let status = t["status"].as_str().expect("status");
            assert!(
                !matches!(status, "queued" | "running"),
                "round {round}: turn {} left {status} after restart",
                t["turn_id"]
            );
            assert_eq!(
                t["result"]["status"], status,
                "round {round}: a final turn has its result: {t}"
            );
            statuses.insert(
                t["turn_id"].as_str().expect("id").to_owned(),
                (
                    status.to_owned(),
                    t["result"]["text"].as_str().unwrap_or_default().to_owned(),
                ),
            );
        }
        check_history(sid, detail["messages"].as_array().expect("messages"));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_loop_leaves_consistent_sessions() {
    let started = Instant::now();
    let seed = Rng::seed_from_clock();
    eprintln!("crash loop seed {seed}");
    let mut rng = Rng::new(seed);
    let api = api(vec![]);
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = synapse_test_support::test_socket(tmp.path());
    let data = tmp.path().join("data");

    let mut sessions: Vec<String> = Vec::new();
    // turn_id -> (status, text) seen in its `done` event
    let mut done_seen: HashMap<String, (String, String)> = HashMap::new();
    let mut submitted: Vec<String> = Vec::new();
    let mut interrupted_total = 0usize;

    for round in 0..ROUNDS {
        let mut d = daemon_at(&api, &socket, &data);
        let mut c = Conn::open(&socket).await;
        let stored = verify(&c, round).await;
        for t in &submitted {
            let (s, text) = stored
                .get(t)
                .unwrap_or_else(|| panic!("round {round}: turn {t} vanished"));
            match done_seen.get(t) {
                Some((seen, seen_text)) => {
                    assert_eq!(
                        s, seen,
                        "round {round}: {t} was reported {seen}, stored {s}"
                    );
                    assert_eq!(
                        text, seen_text,
                        "round {round}: the answer reported for {t} was lost"
                    );
                }
                // Killed mid-turn: `interrupted`, unless it was persisted
                // final just before its `done` reached us.
                None => assert!(
                    matches!(s.as_str(), "interrupted" | "complete"),
                    "round {round}: {t} is {s}"
                ),
            }
        }
        interrupted_total = stored.values().filter(|s| s.0 == "interrupted").count();

        let _host = TestHost::register(&socket, Mode::Delayed(rng.below(40))).await;
        // Plenty of script: a tool round and an answer per turn.
        for k in 0..4 {
            let id = format!("toolu_r{round}_{k}");
            api.push([
                delayed(
                    tool_use(
                        "Looking.",
                        &id,
                        "probe",
                        json!({"path": format!("/r{round}/{k}")}),
                        20,
                        7,
                    ),
                    rng.below(60),
                ),
                delayed(text("Found it.", 30, 9), rng.below(60)),
            ]);
        }
        let mut this_round = Vec::new();
        let (t, sid) = c
            .submit(json!({"prompt": format!("round {round}: inspect")}))
            .await;
        sessions.push(sid);
        this_round.push(t);
        if round > 0 {
            let old = sessions[rng.below(sessions.len() as u64 - 1) as usize].clone();
            let (t, _) = c
                .submit(json!({"prompt": format!("round {round}: continue"), "session_id": old}))
                .await;
            this_round.push(t);
        }
        submitted.extend(this_round.iter().cloned());

        // Let the turns run for a random moment, noting which end, then kill.
        let kill_at = tokio::time::Instant::now() + Duration::from_millis(rng.below(301));
        loop {
            match tokio::time::timeout_at(kill_at, c.client.next_incoming()).await {
                Err(_) => break,
                Ok(None) => panic!("round {round}: daemon closed the connection before the kill"),
                Ok(Some(Incoming::Notification(n))) if n.method == "turn.event" => {
                    let p = n.params.expect("params");
                    if p["type"] == "done" {
                        let status = p["result"]["status"].as_str().expect("status").to_owned();
                        let text = p["result"]["text"].as_str().unwrap_or_default().to_owned();
                        done_seen.insert(
                            p["turn_id"].as_str().expect("id").to_owned(),
                            (status, text),
                        );
                    }
                }
                Ok(Some(_)) => {}
            }
        }
        d.child.kill().expect("kill -9");
        let st = d.child.wait().expect("reaped");
        assert!(!st.success(), "killed");
        drop(c);
    }

    // Restart once more: everything consistent; then continue a session and
    // check the model receives its whole history.
    let _d = daemon_at(&api, &socket, &data);
    let mut c = Conn::open(&socket).await;
    let stored = verify(&c, ROUNDS).await;
    for t in &submitted {
        let kept = stored.get(t).unwrap_or_else(|| panic!("turn {t} vanished"));
        if let Some(seen) = done_seen.get(t) {
            assert_eq!(kept, seen, "what {t}'s `done` said is what is stored");
        }
    }
    interrupted_total =
        interrupted_total.max(stored.values().filter(|s| s.0 == "interrupted").count());
    eprintln!(
        "crash loop: {} turns, {} interrupted, {} completed, {:?}",
        stored.len(),
        interrupted_total,
        stored.values().filter(|s| s.0 == "complete").count(),
        started.elapsed()
    );
    assert!(
        interrupted_total > 0,
        "20 random kills should interrupt at least one turn (seed {seed})"
    );

    // The session with the longest history.
    let mut best = (String::new(), Vec::new());
    for sid in &sessions {
        let detail = c.call("session.get", json!({"session_id": sid})).await;
        let msgs = detail["messages"].as_array().expect("messages").clone();
        if msgs.len() >= best.1.len() {
            best = (sid.clone(), msgs);
        }
    }
    let (sid, prior) = best;
    assert!(!prior.is_empty(), "some session has messages");
    let _host = TestHost::register(&socket, Mode::Auto).await;
    let before = api.requests().len();
    // Leftover script of killed rounds comes first (tool rounds and answers,
    // any order completes); one more answer in case there is none.
    api.push([text("continued", 1, 1)]);
    let (t, _) = c
        .submit(json!({"prompt": "after the crashes", "session_id": sid}))
        .await;
    let evs = c.until_done(&t).await;
    let r = &evs.last().expect("done")["result"];
    assert!(
        matches!(r["status"].as_str(), Some("complete")),
        "continuing a crashed session must work: {r}"
    );
    let reqs = api.requests();
    let first = &reqs[before];
    let sent = first.body["messages"].as_array().expect("messages");
    let sent: Vec<Value> = sent.iter().map(strip_cache_control).collect();
    assert_eq!(
        sent.len(),
        prior.len() + 1,
        "history + the new prompt: sent {sent:?}\nstored {prior:?}"
    );
    let prior: Vec<Value> = prior.iter().map(strip_cache_control).collect();
    assert_eq!(
        &sent[..prior.len()],
        &prior[..],
        "the model must receive the whole stored history"
    );
    let last_text: String = blocks(&sent[prior.len()])
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(sent[prior.len()]["role"], "user");
    assert!(last_text.contains("after the crashes"));
    check_history(&sid, &sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_while_the_first_request_races_the_submit_commit() {
    // A turn started at submit sends its request while its commit runs
    // (ADR 0035). Kill the daemon the moment its request reaches the API:
    // whatever the client was told (an answer, or nothing) must be what a
    // restarted daemon says.
    const KILLS: usize = 6;
    let api = api(vec![]);
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = synapse_test_support::test_socket(tmp.path());
    let data = tmp.path().join("data");
    let mut told = Vec::new();
    for round in 0..KILLS {
        api.push([stall()]);
        let mut d = daemon_at(&api, &socket, &data);
        let c = Conn::open(&socket).await;
        let submit = c
            .client
            .call_value("turn.submit", json!({"prompt": format!("round {round}")}));
        tokio::pin!(submit);
        let mut answer = None;
        tokio::select! {
            r = &mut submit => answer = Some(r),
            arrived = api.wait_for_requests(round + 1, T) => {
                assert!(arrived, "round {round}: the request never reached the API");
            }
        }
        d.child.kill().expect("kill -9");
        let st = d.child.wait().expect("reaped");
        assert!(!st.success(), "killed");
        // An answer already on its way counts as told.
        let answer = match answer {
            Some(a) => a,
            None => within("the submit after the kill", &mut submit).await,
        };
        if let Ok(a) = answer {
            told.push(a["turn_id"].as_str().expect("turn_id").to_owned());
        }
    }
    let _d = daemon_at(&api, &socket, &data);
    let c = Conn::open(&socket).await;
    let stored = verify(&c, KILLS).await;
    for t in &told {
        let (status, _) = stored
            .get(t)
            .unwrap_or_else(|| panic!("turn {t} was answered, then vanished"));
        assert_eq!(status, "interrupted", "{t}");
    }
    eprintln!(
        "{} of {KILLS} submits were answered before the kill",
        told.len()
    );
}
