//! Assembles a streamed Messages API response into one assistant message.
//!
//! Content blocks are kept per `index`: `text` (deltas forwarded to the
//! sink as they arrive), `tool_use` (`input_json_delta` fragments joined and
//! parsed at the end), `thinking` (with its `signature_delta`) and any other
//! block verbatim. `message_start` gives the first usage; `message_delta`
//! carries CUMULATIVE usage, so each field it has replaces the one held.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use synapse_protocol::Usage;

use super::sse::SseEvent;
use crate::provider::{ProviderResponse, StreamSink};

/// One block being assembled.
#[derive(Debug)]
enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        initial: Value,
        json: String,
    },
    Thinking {
        thinking: String,
        signature: String,
    },
    Other(Value),
}

/// What the stream said after an event.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Keep reading.
    Continue,
    /// `message_stop` arrived.
    Done,
    /// An in-band `error` event.
    Error {
        /// The API's `error.type`, e.g. `overloaded_error`.
        error_type: String,
        /// The API's message.
        message: String,
    },
}

/// Assembly state of one response.
#[derive(Debug, Default)]
pub struct MessageAssembler {
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
    stop_reason: Option<String>,
    forwarded: bool,
}

/// A malformed stream.
#[derive(Debug, thiserror::Error)]
#[error("malformed event stream: {0}")]
pub struct StreamFault(pub String);

impl MessageAssembler {
    /// A fresh assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once a text delta was forwarded to the sink (a retry would then
    /// show the user text twice, so none is made).
    pub fn forwarded(&self) -> bool {
        self.forwarded
    }

    /// The usage known so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Apply one SSE event.
    pub fn on_event(&mut self, ev: &SseEvent, sink: &dyn StreamSink) -> Result<Step, StreamFault> {
        if ev.event == "ping" {
            return Ok(Step::Continue);
        }
        let data: Value = serde_json::from_str(&ev.data)
            .map_err(|e| StreamFault(format!("event {:?} is not JSON: {e}", ev.event)))?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(ev.event.as_str());
        match kind {
            "message_start" => {
                if let Some(u) = data.pointer("/message/usage") {
                    merge_usage(&mut self.usage, u);
                }
            }
            "content_block_start" => {
                let index = index_of(&data)?;
                let block = data.get("content_block").cloned().unwrap_or(Value::Null);
                let b = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = str_field(&block, "text");
                        if !text.is_empty() {
                            self.forwarded = true;
                            sink.text(&text);
                        }
                        Block::Text(text)
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: str_field(&block, "id"),
                        name: str_field(&block, "name"),
                        initial: block.get("input").cloned().unwrap_or_else(|| json!({})),
                        json: String::new(),
                    },
                    Some("thinking") => Block::Thinking {
                        thinking: str_field(&block, "thinking"),
                        signature: str_field(&block, "signature"),
                    },
                    _ => Block::Other(block),
                };
                self.blocks.insert(index, b);
            }
            "content_block_delta" => {
                let index = index_of(&data)?;
                let delta = data.get("delta").unwrap_or(&Value::Null);
                let piece = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or("");
                match (
                    delta.get("type").and_then(Value::as_str),
                    self.blocks.get_mut(&index),
                ) {
                    (Some("text_delta"), Some(Block::Text(text))) => {
                        let t = piece("text");
                        if !t.is_empty() {
                            text.push_str(t);
                            self.forwarded = true;
                            sink.text(t);
                        }
                    }
                    (Some("input_json_delta"), Some(Block::ToolUse { json, .. })) => {
                        json.push_str(piece("partial_json"));
                    }
                    (Some("thinking_delta"), Some(Block::Thinking { thinking, .. })) => {
                        thinking.push_str(piece("thinking"));
                    }
                    (Some("signature_delta"), Some(Block::Thinking { signature, .. })) => {
                        signature.push_str(piece("signature"));
                    }
                    (_, None) => {
                        return Err(StreamFault(format!("delta for unknown block {index}")));
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {}
            "message_delta" => {
                if let Some(r) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(r.to_owned());
                }
                if let Some(u) = data.get("usage") {
                    merge_usage(&mut self.usage, u);
                }
            }
            "message_stop" => return Ok(Step::Done),
            "error" => {
                let e = data.get("error").unwrap_or(&Value::Null);
                return Ok(Step::Error {
                    error_type: str_field(e, "type"),
                    message: str_field(e, "message"),
                });
            }
            other => tracing::debug!(event = other, "ignoring unknown stream event"),
        }
        Ok(Step::Continue)
    }

    /// The finished message. A `tool_use` input that is not valid JSON is an
    /// error, except when the response was cut by `max_tokens` (then `{}`).
    pub fn finish(self) -> Result<ProviderResponse, StreamFault> {
        let truncated = self.stop_reason.as_deref() == Some("max_tokens");
        let mut content = Vec::with_capacity(self.blocks.len());
        for (_, b) in self.blocks {
            content.push(match b {
                Block::Text(text) => json!({"type": "text", "text": text}),
                Block::ToolUse {
                    id,
                    name,
                    initial,
                    json,
                } => {
                    let input = if json.trim().is_empty() {
                        initial
                    } else {
                        match serde_json::from_str::<Value>(&json) {
                            Ok(v) => v,
                            Err(_) if truncated => Value::Object(Map::new()),
                            Err(e) => {
                                return Err(StreamFault(format!(
                                    "tool_use {id} input is not valid JSON: {e}"
                                )))
                            }
                        }
                    };
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
                Block::Thinking {
                    thinking,
                    signature,
                } => {
                    json!({"type": "thinking", "thinking": thinking, "signature": signature})
                }
                Block::Other(v) => v,
            });
        }
        Ok(ProviderResponse {
            content,
            stop_reason: self.stop_reason,
        })
    }
}

fn index_of(data: &Value) -> Result<u64, StreamFault> {
    data.get("index")
        .and_then(Value::as_u64)
        .ok_or_else(|| StreamFault("content block event without index".into()))
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// Replace each usage field present (as a number) in `v`.
pub fn merge_usage(usage: &mut Usage, v: &Value) {
    let set = |k: &str, slot: &mut u64| {
        if let Some(n) = v.get(k).and_then(Value::as_u64) {
            *slot = n;
        }
    };
    set("input_tokens", &mut usage.input_tokens);
    set("output_tokens", &mut usage.output_tokens);
    set(
        "cache_read_input_tokens",
        &mut usage.cache_read_input_tokens,
    );
    set(
        "cache_creation_input_tokens",
        &mut usage.cache_creation_input_tokens,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Sink(Mutex<String>);
    impl StreamSink for Sink {
        fn text(&self, d: &str) {
            if let Ok(mut s) = self.0.lock() {
                s.push_str(d);
            }
        }
        fn retry(&self, _: u32, _: u64, _: &str) {}
        fn usage(&self, _: &Usage) {}
    }

    fn ev(data: Value) -> SseEvent {
        SseEvent {
            event: data["type"].as_str().unwrap_or("message").to_owned(),
            data: data.to_string(),
        }
    }

    #[test]
    fn assembles_blocks_and_cumulative_usage() {
        let sink = Sink::default();
        let mut a = MessageAssembler::new();
        let events = [
            json!({"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":3}}}),
            json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}),
            json!({"type":"content_block_stop","index":0}),
            json!({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hel"}}),
            json!({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"lo"}}),
            json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"x","input":{}}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" [1]}"}}),
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}),
            json!({"type":"message_delta","delta":{},"usage":{"output_tokens":9}}),
            json!({"type":"future_event"}),
        ];
        for e in &events {
            assert_eq!(
                a.on_event(&ev(e.clone()), &sink).expect("event"),
                Step::Continue
            );
        }
        assert!(a.forwarded());
        assert_eq!(
            a.on_event(&ev(json!({"type":"message_stop"})), &sink)
                .expect("stop"),
            Step::Done
        );
        let usage = a.usage();
        let r = a.finish().expect("finish");
        assert_eq!(r.stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(
            usage,
            Usage {
                cost_usd: None,
                input_tokens: 10,
                output_tokens: 9,
                cache_read_input_tokens: 3,
                cache_creation_input_tokens: 0
            }
        );
        assert_eq!(
            r.content[0],
            json!({"type":"thinking","thinking":"hmm","signature":"sig"})
        );
        assert_eq!(r.content[1], json!({"type":"text","text":"Hello"}));
        assert_eq!(
            r.content[2],
            json!({"type":"tool_use","id":"toolu_1","name":"x","input":{"a":[1]}})
        );
        assert_eq!(
            sink.0.lock().map(|s| s.clone()).unwrap_or_default(),
            "Hello"
        );
    }

    #[test]
    fn in_band_error_and_bad_json() {
        let sink = Sink::default();
        let mut a = MessageAssembler::new();
        let step = a
            .on_event(&ev(json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})), &sink)
            .expect("event");
        assert_eq!(
            step,
            Step::Error {
                error_type: "overloaded_error".into(),
                message: "Overloaded".into()
            }
        );
        let bad = SseEvent {
            event: "message_start".into(),
            data: "{not json".into(),
        };
        assert!(a.on_event(&bad, &sink).is_err());
        let mut b = MessageAssembler::new();
        for e in [
            json!({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"x","input":{}}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}),
            json!({"type":"message_delta","delta":{"stop_reason":"max_tokens"}}),
        ] {
            b.on_event(&ev(e), &sink).expect("event");
        }
        let r = b.finish().expect("truncated tool input tolerated");
        assert_eq!(r.content[0]["input"], json!({}));
    }
}
