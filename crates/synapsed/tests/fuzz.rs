//! Seeded, bounded fuzzing of the socket: thousands of malformed and hostile
//! lines and params for every method. Every request that carries an id gets
//! exactly one well-formed answer with that id, byte for byte; only the
//! documented error codes appear; the daemon stays up and its memory flat.
// Unix sockets directly and RSS from /proc.
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const LINES: usize = 3000;
const DOCUMENTED: &[i64] = &[
    -32700, -32600, -32601, -32602, -32603, -32001, -32002, -32003, -32007,
];
const METHODS: &[&str] = &[
    "daemon.status",
    "host.register",
    "turn.submit",
    "turn.get",
    "turn.wait",
    "turn.cancel",
    "turn.subscribe",
    "session.list",
    "session.get",
    "no.such.method",
    "",
];

use synapse_test_support::rng::Rng;

trait Pick {
    fn below_usize(&mut self, n: usize) -> usize;
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
}

impl Pick for Rng {
    fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below_usize(items.len())]
    }
}

/// A hostile JSON value: wrong types, absurd numbers, long strings, nesting.
fn hostile(rng: &mut Rng, depth: usize) -> Value {
    match rng.below_usize(if depth > 3 { 9 } else { 12 }) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(rng.next_u64() as i64),
        3 => json!(1e300),
        4 => json!(-1),
        5 => json!(0),
        6 => json!("x".repeat(rng.below_usize(5000))),
        7 => json!("\u{0}\u{202e}💥"),
        8 => json!(f64::MIN_POSITIVE),
        9 => Value::Array(
            (0..rng.below_usize(4))
                .map(|_| hostile(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "prompt",
                "session_id",
                "host_id",
                "turn_id",
                "timeout_s",
                "max_tokens",
                "max_iterations",
                "tools",
                "name",
                "pid",
                "input_schema",
                "limit",
                "zz",
            ];
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below_usize(5) {
                m.insert((*rng.pick(&keys)).into(), hostile(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// One fuzz line and the exact id text its answer must carry (`None`: the
/// line has no usable id; any answer must then carry `null`).
fn line(rng: &mut Rng, n: usize) -> (Vec<u8>, Option<String>) {
    let id = match rng.below_usize(6) {
        0 => format!("{}", 1_000_000 + n),
        1 => format!("\"f-{n}\""),
        2 => format!("{n}.5"),
        3 => format!("1844674407370955{n:05}"),
        4 => format!("{n}e0"),
        _ => format!("-{}", n + 1),
    };
    let method = *rng.pick(METHODS);
    match rng.below_usize(10) {
        // Garbage bytes.
        0 => {
            let mut b: Vec<u8> = (0..rng.below_usize(200))
                .map(|_| rng.next_u64() as u8)
                .collect();
            b.retain(|c| *c != b'\n');
            (b, None)
        }
        // Truncated request.
        1 => {
            let full =
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{}}}}"#);
            let cut = rng.below_usize(full.len().max(1));
            (full.as_bytes()[..cut].to_vec(), None)
        }
        // Deep nesting: past serde_json's 128 levels the line is not JSON
        // to the daemon (-32700, id null).
        2 => {
            let d = 100 + rng.below_usize(60);
            let s = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{"x":{}1{}}}}}"#,
                "[".repeat(d),
                "]".repeat(d)
            );
            (s.into_bytes(), (d + 2 < 128).then_some(id))
        }
        // Wrong envelope members.
        3 => {
            let bad = [
                format!(r#"{{"jsonrpc":"1.0","id":{id},"method":"{method}"}}"#),
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":7}}"#),
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":"x"}}"#),
                format!(r#"{{"jsonrpc":"2.0","id":{id}}}"#),
            ];
            (rng.pick(&bad).clone().into_bytes(), Some(id))
        }
        // A batch of two hostile requests.
        4 => {
            let id2 = format!("\"b-{n}\"");
            let p1 = hostile(rng, 0);
            let p2 = hostile(rng, 0);
            let s = format!(
                r#"[{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{p1}}},{{"jsonrpc":"2.0","id":{id2},"method":"{}","params":{p2}}}]"#,
                rng.pick(METHODS)
            );
            (s.into_bytes(), Some(format!("{id}|{id2}")))
        }
        // A well-formed request with hostile params.
        _ => {
            let p = hostile(rng, 0);
            let p = if p.is_object() || p.is_array() {
                p
            } else {
                json!({"x": p})
            };
            let s = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{p}}}"#);
            (s.into_bytes(), Some(id))
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(serde::Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_lines_get_one_well_formed_answer_each_and_the_daemon_stays_up() {
    let seed = Rng::seed_from_clock();
    eprintln!("fuzz seed {seed}");
    let mut rng = Rng::new(seed);
    let api = api(vec![]);
    let d = daemon(&api);
    let pid = d.ready.pid;
    // Warm up, then note the memory.
    let warm = Conn::open(&d.socket).await;
    for _ in 0..200 {
        warm.call("daemon.status", json!({})).await;
    }
    let rss_before = rss_kib(pid);

    let stream = UnixStream::connect(&d.socket).await.expect("connect");
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut garbage = 0usize;
    let mut sent: HashMap<String, String> = HashMap::new();
    let writer = {
        let mut batch = Vec::new();
        for n in 0..LINES {
            let (bytes, id) = line(&mut rng, n);
            match id {
                Some(ids) => {
                    sent.insert(
                        ids.clone(),
                        String::from_utf8_lossy(&bytes).chars().take(300).collect(),
                    );
                    for id in ids.split('|') {
                        *expected.entry(id.to_owned()).or_default() += 1;
                    }
                }
                None => garbage += 1,
            }
            batch.push(bytes);
        }
        tokio::spawn(async move {
            for b in batch {
                w.write_all(&b).await.expect("write");
                w.write_all(b"\n").await.expect("write");
            }
            w.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"method\":\"daemon.status\"}\n")
                .await
                .expect("write");
            w
        })
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut nulls = 0usize;
    let mut end_seen = false;
    // Responses of async methods may come after "end": read until every
    // expected id was answered (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(end_seen && expected.iter().all(|(k, n)| seen.get(k) == Some(n))) {
        let next = tokio::time::timeout_at(deadline, lines.next_line()).await;
        let line = match next {
            Ok(Ok(Some(l))) => l,
            other => panic!(
                "answers missing (seed {seed}): {:?}; missing ids {:?}",
                other.map(|r| r.map(|_| ())),
                expected
                    .iter()
                    .filter(|(k, n)| seen.get(*k) != Some(*n))
                    .take(5)
                    .map(|(k, _)| sent.iter().find(|(ids, _)| ids.split('|').any(|i| i == k)))
                    .collect::<Vec<_>>()
            ),
        };
        let v: Value = serde_json::from_str(&line).expect("every answer is JSON");
        let items: Vec<(Value, String)> = if line.starts_with('[') {
            let peeks: Vec<Peek<'_>> = serde_json::from_str(&line).expect("batch");
            v.as_array()
                .expect("array")
                .iter()
                .cloned()
                .zip(
                    peeks
                        .iter()
                        .map(|p| p.id.map_or("null".into(), |r| r.get().to_owned())),
                )
                .collect()
        } else {
            let p: Peek<'_> = serde_json::from_str(&line).expect("object");
            vec![(v, p.id.map_or("null".into(), |r| r.get().to_owned()))]
        };
        for (msg, id) in items {
            if msg.get("method").is_some() {
                continue; // turn.event of a turn some hostile submit started
            }
            assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
            if let Some(e) = msg.get("error") {
                let code = e["code"].as_i64().expect("code");
                assert!(
                    DOCUMENTED.contains(&code),
                    "undocumented code {code}: {msg}"
                );
                assert!(e["message"].is_string(), "{msg}");
            } else {
                assert!(msg.get("result").is_some(), "{msg}");
            }
            if id == "\"end\"" {
                end_seen = true;
            } else if id == "null" {
                nulls += 1;
            } else {
                *seen.entry(id).or_default() += 1;
            }
        }
    }
    let _w = writer.await.expect("writer");
    for (id, n) in &seen {
        assert_eq!(
            expected.get(id),
            Some(n),
            "answered {n} times or unasked: {id}"
        );
    }
    assert!(nulls <= garbage + LINES, "{nulls} null-id answers");

    // Alive, serving, and the memory back where it was.
    let c = Conn::open(&d.socket).await;
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["protocol"], 1);
    let rss_after = rss_kib(pid);
    eprintln!("fuzz: {LINES} lines, RSS {rss_before} KiB → {rss_after} KiB");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_sent_oversized_lines_give_their_buffers_back() {
    let api = api(vec![]);
    let d = daemon(&api);
    let pid = d.ready.pid;
    let rss_before = rss_kib(pid);
    let big = vec![b'x'; (16 << 20) + 10];
    let mut conns = Vec::new();
    for _ in 0..8 {
        let s = UnixStream::connect(&d.socket).await.expect("connect");
        let (r, mut w) = s.into_split();
        w.write_all(&big).await.expect("write");
        w.write_all(b"\n").await.expect("write");
        let mut lines = BufReader::new(r).lines();
        let answer = within("-32007", lines.next_line()).await.expect("read");
        assert!(answer.is_some_and(|l| l.contains("-32007")));
        conns.push((lines, w)); // kept open
    }
    let rss_after = rss_kib(pid);
    eprintln!("8 oversized lines: RSS {rss_before} KiB → {rss_after} KiB");
    assert!(
        rss_after < rss_before + 32 * 1024,
        "each open connection kept its 16 MiB: {rss_before} → {rss_after} KiB"
    );
}
