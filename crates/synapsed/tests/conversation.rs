//! Conversations that never break (design §10): what the API streamed goes
//! back exactly, blank text is never sent, a refusal does not kill its
//! session, and a made-up tool never reaches the host.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use synapse_test_support::messages_api::{RawStream, ScriptResponse};

fn raw(sse: &str, chunk: usize) -> ScriptResponse {
    ScriptResponse::Raw(RawStream {
        raw_sse: sse.to_owned(),
        chunk_bytes: Some(chunk),
        delay_ms: None,
    })
}

fn fixture(name: &str) -> String {
    let path = synapse_test_support::daemon::repo_root()
        .join("tests/fixtures/sse")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The assistant message the fixture `every_block.sse` must become.
fn every_block_expected() -> Value {
    json!({"role": "assistant", "content": [
        {"type":"thinking","thinking":"The artist asks about Vellum; search, then look at /obj — ünïcödé ✓.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/Q5cWNqFvH3o2TLKTW1Q4Tq7n9FY6Y+8IgJwJbKfIWSxnn/NLJzMdbOd0QZ1D0GF8RkANF6nJqw3dk="},
        {"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj2pLmN0kZ5bZ6lYcqx7fE"},
        {"type":"server_tool_use","id":"srvtoolu_014hJH82Qum7Td6UV8gDXThB","name":"web_search","input":{"query":"houdini vellum cloth"}},
        {"type":"web_search_tool_result","tool_use_id":"srvtoolu_014hJH82Qum7Td6UV8gDXThB","content":[{"type":"web_search_result","title":"Vellum Cloth | SideFX","url":"https://www.sidefx.com/docs/houdini/vellum/cloth.html","encrypted_content":"EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y2USDId","page_age":"April 30, 2025"}]},
        {"type":"text","text":"Vellum is Houdini's solver for cloth and soft bodies — 日本語も。","citations":[{"type":"web_search_result_location","cited_text":"Vellum is a solver for cloth, hair and soft bodies.","url":"https://www.sidefx.com/docs/houdini/vellum/cloth.html","title":"Vellum Cloth | SideFX","encrypted_index":"Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm"}]},
        {"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"probe","input":{"path":"/obj/cloth","depth":2},"caller":{"type":"direct"}}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_block_and_field_the_api_streamed_goes_back_exactly() {
    let sse = fixture("every_block.sse");
    for chunk in [1, 3, 7, 64, 100_000] {
        let api = api(vec![raw(&sse, chunk), text("done", 1, 1)]);
        let d = daemon(&api);
        let _host = TestHost::register(&d.socket, Mode::Auto).await;
        let mut c = Conn::open(&d.socket).await;
        let (t, sid) = c.submit(json!({"prompt": "what is vellum?"})).await;
        let evs = c.until_done(&t).await;
        let r = &evs.last().expect("done")["result"];
        assert_eq!(r["status"], "complete", "chunk {chunk}: {r}");
        let reqs = api.requests();
        assert_eq!(reqs.len(), 2);
        let sent = &reqs[1].body["messages"];
        assert_eq!(
            strip_cache_control(&sent[1]),
            every_block_expected(),
            "chunk {chunk}: the next request carries exactly what the API sent"
        );
        // Stored the same way.
        let detail = c.call("session.get", json!({"session_id": sid})).await;
        assert_eq!(detail["messages"][1], every_block_expected());
        // The text the client saw streamed is the text block's, once.
        let streamed: String = evs
            .iter()
            .filter(|e| e["type"] == "text")
            .filter_map(|e| e["text"].as_str())
            .collect();
        assert!(
            streamed.starts_with("Vellum is Houdini's solver"),
            "{streamed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_kept_but_the_session_goes_on() {
    let refusal = ScriptResponse::message(vec![json!({"type":"text","text":""})], "refusal", 5, 0);
    let api = api(vec![
        text("A box is a SOP.", 3, 3),
        refusal,
        text("Sure, here is a sphere.", 3, 3),
    ]);
    let d = daemon(&api);
    let mut c = Conn::open(&d.socket).await;
    let (t1, sid) = c.submit(json!({"prompt": "what is a box?"})).await;
    c.until_done(&t1).await;
    let (t2, _) = c
        .submit(json!({"prompt": "something refused", "session_id": sid}))
        .await;
    let evs = c.until_done(&t2).await;
    assert_eq!(evs.last().expect("done")["result"]["status"], "refusal");
    let (t3, _) = c
        .submit(json!({"prompt": "make a sphere", "session_id": sid}))
        .await;
    let evs = c.until_done(&t3).await;
    let r = &evs.last().expect("done")["result"];
    assert_eq!(r["status"], "complete", "the session goes on: {r}");
    let sent: Vec<Value> = api.requests()[2].body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(strip_cache_control)
        .collect();
    assert_eq!(
        sent,
        vec![
            json!({"role":"user","content":[{"type":"text","text":"what is a box?"}]}),
            json!({"role":"assistant","content":[{"type":"text","text":"A box is a SOP."}]}),
            json!({"role":"user","content":[{"type":"text","text":"make a sphere"}]}),
        ],
        "the refused prompt and its reply are left out"
    );
    // ...but kept and visible.
    let detail = c.call("session.get", json!({"session_id": sid})).await;
    assert_eq!(detail["messages"].as_array().expect("messages").len(), 6);
    assert_eq!(detail["turns"][1]["status"], "refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_made_up_tool_gets_unknown_tool_and_the_host_is_never_asked() {
    let api = api(vec![
        tool_use("", "toolu_x", "houdini_summon_dragon", json!({}), 3, 3),
        text("ok", 1, 1),
    ]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Auto).await;
    let mut c = Conn::open(&d.socket).await;
    let (t, _) = c.submit(json!({"prompt": "summon"})).await;
    let evs = c.until_done(&t).await;
    let r = &evs.last().expect("done")["result"];
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["tool_calls"][0]["is_error"], true, "{r}");
    let sent = &api.requests()[1].body["messages"][2]["content"][0];
    let env: Value = serde_json::from_str(sent["content"].as_str().expect("text")).expect("json");
    assert_eq!(env["error_type"], "UnknownTool");
    assert!(host.seen.try_recv().is_err(), "the host was asked nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blank_prompt_is_refused_and_no_turn_is_created() {
    let api = api(vec![]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    for p in ["", "   \n\t"] {
        let e = c.err("turn.submit", json!({"prompt": p})).await;
        assert_eq!(e.code, -32602, "{e:?}");
    }
    let list = c.call("session.list", json!({})).await;
    assert_eq!(list, json!([]), "no session was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_messages_page_and_bad_pages_are_refused() {
    let api = api((0..4).map(|i| text(&format!("answer {i}"), 1, 1)).collect());
    let d = daemon(&api);
    let mut c = Conn::open(&d.socket).await;
    let mut sids = Vec::new();
    for i in 0..3 {
        let (t, sid) = c.submit(json!({"prompt": format!("question {i}")})).await;
        c.until_done(&t).await;
        sids.push(sid);
    }
    let (t, _) = c
        .submit(json!({"prompt": "again", "session_id": sids[0]}))
        .await;
    c.until_done(&t).await;
    // Newest first: sids[0] was updated last.
    let page1 = c.call("session.list", json!({"limit": 2})).await;
    let ids: Vec<&str> = page1
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![sids[0].as_str(), sids[2].as_str()]);
    let cursor = page1[1]["updated_at"].clone();
    let page2 = c
        .call("session.list", json!({"limit": 2, "before": cursor}))
        .await;
    let ids: Vec<&str> = page2
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![sids[1].as_str()]);
    // v1 call shape still works.
    assert_eq!(
        c.call("session.list", json!({}))
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let all = c.call("session.get", json!({"session_id": sids[0]})).await;
    assert_eq!(all["message_count"], 4);
    assert_eq!(all["messages"].as_array().unwrap().len(), 4);
    let page = c
        .call(
            "session.get",
            json!({"session_id": sids[0], "after": 0, "limit": 2}),
        )
        .await;
    assert_eq!(page["message_count"], 4);
    assert_eq!(
        page["messages"].as_array().unwrap(),
        &all["messages"].as_array().unwrap()[1..3]
    );

    for bad in [
        json!({"limit": 0}),
        json!({"limit": -5}),
        json!({"limit": 1001}),
        json!({"before": "yesterday"}),
        json!({"before": 17}),
    ] {
        let e = c.err("session.list", bad.clone()).await;
        assert_eq!(e.code, -32602, "{bad}: {e:?}");
        assert!(e.data.is_some(), "{bad}: says what is wrong");
    }
    for bad in [
        json!({"session_id": sids[0], "after": -1}),
        json!({"session_id": sids[0], "limit": 0}),
        json!({"session_id": sids[0], "limit": 100000}),
    ] {
        let e = c.err("session.get", bad.clone()).await;
        assert_eq!(e.code, -32602, "{bad}: {e:?}");
    }
    let out = run_cli(&d.socket, &["sessions", "--limit", "0"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(&d.socket, &["sessions", "--limit", "2"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("synapsed sessions --before"), "{text}");
    let out = run_cli(&d.socket, &["show", &sids[0], "--limit", "1"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("messages 0–0 of 4"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_past_a_small_window_keeps_working_with_compaction() {
    const TURNS: usize = 14;
    let long = "The scene has a Vellum cloth on /obj/cloth with pinned points. ".repeat(130);
    let mut script = Vec::new();
    for i in 0..TURNS {
        script.push(tool_use(
            "Looking.",
            &format!("toolu_c{i}"),
            "probe",
            json!({"path": format!("/obj/n{i}")}),
            10,
            10,
        ));
        script.push(text(&format!("{i}: {long}"), 10, 10));
    }
    let api = api(script);
    let mut o = api_options(&api);
    o.env
        .push(("SYNAPSE_CONTEXT_WINDOW".into(), "20000".into()));
    let d = synapse_test_support::daemon::DaemonProcess::spawn_with(&bin(), o).expect("daemon");
    let _host = TestHost::register(&d.socket, Mode::Auto).await;
    let mut c = Conn::open(&d.socket).await;
    let mut sid: Option<String> = None;
    let mut compactions: Vec<(usize, String)> = Vec::new();
    for i in 0..TURNS {
        let mut p = json!({"prompt": format!("turn {i}: what about the cloth?")});
        if let Some(s) = &sid {
            p["session_id"] = json!(s);
        }
        let (t, s) = c.submit(p).await;
        sid = Some(s);
        let evs = c.until_done(&t).await;
        let r = &evs.last().expect("done")["result"];
        assert_eq!(r["status"], "complete", "turn {i}: {r}");
        for e in evs.iter().filter(|e| e["type"] == "compaction") {
            assert!(
                e["tokens_after"].as_u64() < e["tokens_before"].as_u64(),
                "{e}"
            );
            compactions.push((i, e["method"].as_str().unwrap_or("").to_owned()));
        }
    }
    let sid = sid.expect("session");
    assert!(
        compactions.iter().any(|(_, m)| m == "summary"),
        "a summary was made: {compactions:?}"
    );
    let reqs = api.requests();
    let summaries: Vec<usize> = reqs
        .iter()
        .enumerate()
        .filter(|(_, r)| synapse_test_support::messages_api::is_compact_request(&r.body))
        .map(|(i, _)| i)
        .collect();
    assert!(
        summaries.len() < TURNS / 2,
        "the summary is reused, not made every turn: {summaries:?}"
    );
    // Every request after the first summary starts from it, and no request
    // grows past the window.
    for (i, r) in reqs.iter().enumerate() {
        assert!(
            r.raw_body.len() <= 20_000 * 4,
            "request {i} is {} bytes",
            r.raw_body.len()
        );
        if i > summaries[0] && !summaries.contains(&i) {
            let first = r.body["messages"][0]["content"][0]["text"]
                .as_str()
                .unwrap_or("");
            assert!(
                first.starts_with("[synapse:summary]"),
                "request {i}: {first:.80}"
            );
        }
    }
    // The stored history is never rewritten.
    let detail = c.call("session.get", json!({"session_id": sid})).await;
    assert_eq!(detail["message_count"], TURNS as u64 * 4);
    assert_eq!(
        detail["messages"][0],
        json!({"role":"user","content":[{"type":"text","text":"turn 0: what about the cloth?"}]})
    );
}

/// A real 4x3 RGB PNG.
const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAKklEQVR4nA3HMQEAMAzDMAMriMDpaSgBUYCbPgEOLh5CnLjx8lOnbr36AOO3DflsbMvSAAAAAElFTkSuQmCC";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_image_reaches_the_model_as_an_image_block() {
    let api = api(vec![
        tool_use("Capturing.", "toolu_img", "probe", json!({}), 3, 3),
        text("I see the viewport.", 1, 1),
    ]);
    let d = daemon(&api);
    let mut host = TestHost::register(&d.socket, Mode::Hold).await;
    let mut c = Conn::open(&d.socket).await;
    let (t, _) = c.submit(json!({"prompt": "look at the viewport"})).await;
    let (id, _) = host.invoke().await;
    host.respond(
        id,
        json!({"is_error": false, "content": {"width": 4, "height": 3},
               "images": [{"media_type": "image/png", "data": PNG_B64}]}),
    );
    let evs = c.until_done(&t).await;
    assert_eq!(evs.last().expect("done")["result"]["status"], "complete");
    let result = &api.requests()[1].body["messages"][2]["content"][0];
    assert_eq!(result["type"], "tool_result");
    assert_eq!(
        result["content"][0],
        json!({"type": "text", "text": "{\"height\":3,\"width\":4}"})
    );
    let image = &result["content"][1];
    assert_eq!(image["type"], "image");
    assert_eq!(image["source"]["type"], "base64");
    assert_eq!(image["source"]["media_type"], "image/png");
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(image["source"]["data"].as_str().expect("data"))
        .expect("valid base64");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
}
