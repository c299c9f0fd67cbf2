//! Assembles a streamed Messages API response into one assistant message,
//! losslessly, the way the official SDKs merge a stream.
//!
//! Each content block is kept as the JSON object `content_block_start` gave,
//! with every field it has (`caller`, `citations`, a block type this build
//! does not know...), and each delta is merged into it:
//!
//! - `text_delta` appends to `text` (and is forwarded to the sink);
//! - `citations_delta` appends its `citation` to `citations`;
//! - `input_json_delta` fragments are joined, for any block that streams
//!   them (`tool_use`, `server_tool_use`, `mcp_tool_use`, or one not known
//!   yet), and parsed into `input` when the message ends;
//! - `thinking_delta` appends to `thinking`; `signature_delta` sets
//!   `signature` (byte-exact, as sent);
//! - unknown delta types and unknown events are ignored without touching
//!   the block; `ping` is skipped.
//!
//! `message_start` gives the first usage; `message_delta` carries CUMULATIVE
//! usage, so each field it has replaces the one held.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use synapse_protocol::Usage;

use super::sse::SseEvent;
use crate::provider::{ProviderResponse, StreamSink};

/// One block being assembled: what the API sent, plus the input JSON that
/// streamed for it.
#[derive(Debug)]
struct Block {
    fields: Map<String, Value>,
    input_json: String,
}

impl Block {
    fn kind(&self) -> &str {
        self.fields
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Append `piece` to the string field `key` (created when missing).
    fn append(&mut self, key: &str, piece: &str) {
        match self.fields.get_mut(key) {
            Some(Value::String(s)) => s.push_str(piece),
            _ => {
                self.fields
                    .insert(key.to_owned(), Value::String(piece.to_owned()));
            }
        }
    }
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
                let Some(Value::Object(fields)) = data.get("content_block").cloned() else {
                    return Err(StreamFault(format!(
                        "content_block_start {index} without a content_block object"
                    )));
                };
                let block = Block {
                    fields,
                    input_json: String::new(),
                };
                if block.kind() == "text" {
                    let text = block
                        .fields
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    if !text.is_empty() {
                        self.forwarded = true;
                        sink.text(text);
                    }
                }
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let index = index_of(&data)?;
                let Some(block) = self.blocks.get_mut(&index) else {
                    return Err(StreamFault(format!("delta for unknown block {index}")));
                };
                let delta = data.get("delta").unwrap_or(&Value::Null);
                let piece = |k: &str| delta.get(k).and_then(Value::as_str).unwrap_or("");
                match delta.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text_delta" => {
                        let t = piece("text");
                        if !t.is_empty() {
                            block.append("text", t);
                            if block.kind() == "text" {
                                self.forwarded = true;
                                sink.text(t);
                            }
                        }
                    }
                    "citations_delta" => {
                        let citation = delta.get("citation").cloned().unwrap_or(Value::Null);
                        match block.fields.get_mut("citations") {
                            Some(Value::Array(list)) => list.push(citation),
                            _ => {
                                block
                                    .fields
                                    .insert("citations".into(), Value::Array(vec![citation]));
                            }
                        }
                    }
                    "input_json_delta" => block.input_json.push_str(piece("partial_json")),
                    "thinking_delta" => block.append("thinking", piece("thinking")),
                    "signature_delta" => {
                        block
                            .fields
                            .insert("signature".into(), Value::String(piece("signature").into()));
                    }
                    other => tracing::debug!(delta = other, "ignoring unknown delta type"),
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

    /// The finished message: every block as sent, deltas merged. Streamed
    /// input JSON that does not parse is an error, except when the response
    /// was cut by `max_tokens` (the block then keeps the input it started
    /// with, `{}` for tools).
    pub fn finish(self) -> Result<ProviderResponse, StreamFault> {
        let truncated = self.stop_reason.as_deref() == Some("max_tokens");
        let mut content = Vec::with_capacity(self.blocks.len());
        for (_, mut b) in self.blocks {
            if !b.input_json.trim().is_empty() {
                match serde_json::from_str::<Value>(&b.input_json) {
                    Ok(v) => {
                        b.fields.insert("input".into(), v);
                    }
                    Err(_) if truncated => {}
                    Err(e) => {
                        let id = b.fields.get("id").and_then(Value::as_str).unwrap_or("?");
                        return Err(StreamFault(format!(
                            "{} {id} input is not valid JSON: {e}",
                            b.kind()
                        )));
                    }
                }
            }
            content.push(Value::Object(b.fields));
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
    use serde_json::json;
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

    #[test]
    fn every_block_and_field_survives_and_deltas_merge() {
        let sink = Sink::default();
        let mut a = MessageAssembler::new();
        let sig = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+/ \u{1f600}==";
        let events = [
            json!({"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":3}}}),
            json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}}),
            json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":sig}}),
            json!({"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}}),
            json!({"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_01","name":"web_search","input":{}}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"query\": \"houdini "}}),
            json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"vellum\"}"}}),
            json!({"type":"content_block_start","index":3,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_01","content":[{"type":"web_search_result","title":"Vellum","url":"https://example.com/v","encrypted_content":"EqgfCioIARgB","page_age":null}]}}),
            json!({"type":"content_block_start","index":4,"content_block":{"type":"text","text":"","citations":null}}),
            json!({"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"Vellum is "}}),
            json!({"type":"content_block_delta","index":4,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","url":"https://example.com/v","title":"Vellum","encrypted_index":"Eo8BCioIAhgB","cited_text":"Vellum solves cloth"}}}),
            json!({"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"a solver."}}),
            json!({"type":"content_block_delta","index":4,"delta":{"type":"future_delta","x":1}}),
            json!({"type":"content_block_start","index":5,"content_block":{"type":"tool_use","id":"toolu_01","name":"houdini_list_nodes","input":{},"caller":{"type":"direct"}}}),
            json!({"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":""}}),
            json!({"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"{\"root\":\"/obj\"}"}}),
            json!({"type":"content_block_start","index":6,"content_block":{"type":"future_block","payload":{"k":[1,2]},"input":{}}}),
            json!({"type":"content_block_delta","index":6,"delta":{"type":"input_json_delta","partial_json":"{\"z\":true}"}}),
            json!({"type":"future_event","anything":1}),
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":40}}),
        ];
        for e in &events {
            assert_eq!(
                a.on_event(&ev(e.clone()), &sink).expect("event"),
                Step::Continue,
                "{e}"
            );
        }
        let r = a.finish().expect("finish");
        assert_eq!(
            r.content,
            vec![
                json!({"type":"thinking","thinking":"Let me think.","signature":sig}),
                json!({"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}),
                json!({"type":"server_tool_use","id":"srvtoolu_01","name":"web_search","input":{"query":"houdini vellum"}}),
                json!({"type":"web_search_tool_result","tool_use_id":"srvtoolu_01","content":[{"type":"web_search_result","title":"Vellum","url":"https://example.com/v","encrypted_content":"EqgfCioIARgB","page_age":null}]}),
                json!({"type":"text","text":"Vellum is a solver.","citations":[{"type":"web_search_result_location","url":"https://example.com/v","title":"Vellum","encrypted_index":"Eo8BCioIAhgB","cited_text":"Vellum solves cloth"}]}),
                json!({"type":"tool_use","id":"toolu_01","name":"houdini_list_nodes","input":{"root":"/obj"},"caller":{"type":"direct"}}),
                json!({"type":"future_block","payload":{"k":[1,2]},"input":{"z":true}}),
            ]
        );
        assert_eq!(
            sink.0.lock().map(|s| s.clone()).unwrap_or_default(),
            "Vellum is a solver."
        );
    }

    #[test]
    fn a_block_start_without_an_object_is_a_fault() {
        let sink = Sink::default();
        let mut a = MessageAssembler::new();
        let e = json!({"type":"content_block_start","index":0,"content_block":"text"});
        assert!(a.on_event(&ev(e), &sink).is_err());
    }
}
