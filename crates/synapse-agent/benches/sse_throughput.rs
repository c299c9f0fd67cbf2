//! SSE parsing throughput: the framing parser alone, and parser + event
//! JSON decoding + message assembly, on a realistic text stream fed in
//! TCP-sized chunks.
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Instant;

use serde_json::json;
use synapse_agent::anthropic::message::MessageAssembler;
use synapse_agent::anthropic::sse::SseParser;
use synapse_agent::{StreamSink, Usage};

struct Null;
impl StreamSink for Null {
    fn text(&self, d: &str) {
        std::hint::black_box(d);
    }
    fn retry(&self, _: u32, _: u64, _: &str) {}
    fn usage(&self, _: &Usage) {}
}

fn stream_bytes(target: usize) -> Vec<u8> {
    let mut s = String::new();
    s.push_str("event: message_start\r\ndata: ");
    s.push_str(&json!({"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":1}}}).to_string());
    s.push_str("\r\n\r\nevent: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n");
    let mut i = 0;
    while s.len() < target {
        let delta = json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":format!("word {i} of the answer, with some é ünïcode ")}});
        s.push_str("event: content_block_delta\r\ndata: ");
        s.push_str(&delta.to_string());
        s.push_str("\r\n\r\n");
        if i % 50 == 0 {
            s.push_str("event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n");
        }
        i += 1;
    }
    s.push_str("event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\nevent: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\r\n\r\nevent: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n");
    s.into_bytes()
}

fn main() {
    let bytes = stream_bytes(16 * 1024 * 1024);
    let mb = bytes.len() as f64 / (1024.0 * 1024.0);
    for chunk in [1460usize, 16 * 1024] {
        let mut best = f64::MAX;
        let mut n_events = 0;
        for _ in 0..3 {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            let t0 = Instant::now();
            n_events = 0;
            for c in bytes.chunks(chunk) {
                p.push(c, &mut out);
                n_events += out.len();
                out.clear();
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        println!("sse_throughput parser only ({mb:.1} MiB, {chunk} B chunks, {n_events} events): {:.0} MiB/s", mb / best);
    }
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut p = SseParser::new();
        let mut a = MessageAssembler::new();
        let mut out = Vec::new();
        let t0 = Instant::now();
        for c in bytes.chunks(1460) {
            p.push(c, &mut out);
            for ev in out.drain(..) {
                a.on_event(&ev, &Null).unwrap();
            }
        }
        let r = a.finish().unwrap();
        std::hint::black_box(r);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    println!(
        "sse_throughput parser + JSON + assembly ({mb:.1} MiB, 1460 B chunks): {:.0} MiB/s",
        mb / best
    );
}
