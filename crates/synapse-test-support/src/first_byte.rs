//! A minimal Messages API for benchmarks: it timestamps the first byte of
//! each request (the moment that matters for "submit → first byte") and
//! answers with a tiny `end_turn` stream, or with `message_start` and then
//! silence (to measure cancel).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Instant;

use serde_json::json;

/// How the server answers each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A complete one-word `end_turn` message.
    EndTurn,
    /// `message_start`, then nothing until the client goes away.
    Stall,
}

/// Start the server on loopback: its base URL, and the first-byte time of
/// each request as it arrives.
pub fn start(answer: Answer) -> (String, mpsc::Receiver<Instant>) {
    let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
        return (String::from("http://127.0.0.1:9"), mpsc::channel().1);
    };
    let url = listener
        .local_addr()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let mut got = 0usize;
                    let mut first = None;
                    // Read one request (headers + content-length body).
                    loop {
                        let n = match s.read(&mut buf[got..]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if first.is_none() {
                            first = Some(Instant::now());
                        }
                        got += n;
                        let text = String::from_utf8_lossy(&buf[..got]);
                        if let Some(h) = text.find("\r\n\r\n") {
                            let len = text[..h]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if got >= h + 4 + len {
                                break;
                            }
                        }
                        if got == buf.len() {
                            buf.resize(buf.len() * 2, 0);
                        }
                    }
                    if let Some(t) = first {
                        let _ = tx.send(t);
                    }
                    if answer == Answer::Stall {
                        let start = json!({"type":"message_start","message":{"id":"msg_b","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}});
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                        let ev = format!("event: message_start\ndata: {start}\n\n");
                        let chunk = format!("{:x}\r\n{ev}\r\n", ev.len());
                        if s.write_all(head.as_bytes())
                            .and_then(|_| s.write_all(chunk.as_bytes()))
                            .is_err()
                        {
                            return;
                        }
                        // Silence until the client closes the connection.
                        let _ = s.read(&mut buf);
                        return;
                    }
                    let events = [
                        json!({"type":"message_start","message":{"id":"msg_b","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}),
                        json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
                        json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}),
                        json!({"type":"content_block_stop","index":0}),
                        json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}),
                        json!({"type":"message_stop"}),
                    ];
                    let mut body = String::new();
                    for e in events {
                        body.push_str(&format!(
                            "event: {}\ndata: {}\n\n",
                            e["type"].as_str().unwrap_or(""),
                            e
                        ));
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    if s.write_all(head.as_bytes())
                        .and_then(|_| s.write_all(body.as_bytes()))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}
