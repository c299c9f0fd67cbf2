//! A subscriber that stops reading while a turn streams: it loses progress
//! events (a gap in `seq`), never its `done`, and the submitter (reading)
//! loses nothing.
//!
//! The scripted stream is gated: each content block is sent only when the
//! test releases it, after the submitter has read every earlier block's
//! text. The submitter is so never more than one block (80 KiB) behind, far
//! below the outbox's 1 MiB limit, however loaded the machine is, while the
//! subscriber that reads nothing falls ~5 MiB behind.
// Unix sockets directly; the outbox logic it checks is the same on Windows.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{api, assert_contiguous_seqs, daemon, Conn};
use serde_json::{json, Value};
use synapse_test_support::messages_api::ScriptResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_sees_a_gap_but_always_its_done() {
    // 60 text blocks of 80 KiB: ~240 deltas, ~5 MiB of events.
    const BLOCK_CHARS: usize = 2 * 40 * 1024;
    let blocks: Vec<Value> = (0..60)
        .map(|i| json!({"type": "text", "text": format!("{i:02}").repeat(40 * 1024)}))
        .collect();
    let api = api(vec![ScriptResponse::message(blocks, "end_turn", 10, 5)]);
    let gate = api.gate_blocks();
    let d = daemon(&api);

    // The slow subscriber: subscribes to every turn, then does not read.
    let mut slow = UnixStream::connect(&d.socket).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    slow.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"turn.subscribe\",\"params\":{}}\n")
        .expect("subscribe");
    let mut slow_reader = BufReader::new(slow.try_clone().expect("clone"));
    let mut line = String::new();
    slow_reader.read_line(&mut line).expect("subscribe answer");
    assert_eq!(line.trim_end(), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);

    // The submitter reads everything.
    let mut fast = Conn::open(&d.socket).await;
    let (turn_id, _) = fast.submit(json!({"prompt": "stream a lot"})).await;
    let mut events = Vec::new();
    let mut text_chars = 0;
    for block in 1..=60 {
        gate.release_block();
        // Read until this block's text has all arrived.
        while text_chars < block * BLOCK_CHARS {
            let e = fast.event_of(&turn_id).await;
            assert_ne!(e["type"], "done", "the turn ended early: {e}");
            if e["type"] == "text" {
                text_chars += e["text"].as_str().map_or(0, str::len);
            }
            events.push(e);
        }
    }
    assert_eq!(text_chars, 60 * BLOCK_CHARS);
    events.extend(fast.until_done(&turn_id).await);
    let seqs = assert_contiguous_seqs(&events, "the reading submitter loses nothing");
    assert!(seqs.len() > 200, "the turn streamed {} events", seqs.len());

    // Now the slow subscriber reads what it was given.
    let reader = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        loop {
            let mut line = String::new();
            if slow_reader
                .read_line(&mut line)
                .expect("read within timeout")
                == 0
            {
                panic!("connection closed before done");
            }
            let v: Value = serde_json::from_str(&line).expect("json");
            let ev = v["params"].clone();
            let done = ev["type"] == "done";
            got.push(ev);
            if done {
                return got;
            }
        }
    });
    let got = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("in time")
        .expect("join");
    let last = got.last().expect("events");
    assert_eq!(last["type"], "done");
    assert_eq!(last["result"]["status"], "complete");
    assert_eq!(
        last["seq"].as_u64(),
        seqs.last().copied(),
        "done carries the turn's last seq"
    );
    let slow_seqs: Vec<u64> = got
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert!(slow_seqs.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        slow_seqs.len() < seqs.len(),
        "progress events were dropped for the slow reader ({} of {})",
        slow_seqs.len(),
        seqs.len()
    );
    // The daemon still serves the slow connection.
    slow.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.status\"}\n")
        .expect("write");
    let mut r = BufReader::new(slow);
    let mut line = String::new();
    r.read_line(&mut line).expect("status answer");
    assert!(
        line.contains("\"id\":2") && line.contains("\"result\""),
        "{line}"
    );
}
