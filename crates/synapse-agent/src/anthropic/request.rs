//! The request body, built so that the cacheable prefix is byte-stable.
//!
//! Fields are serialized in a fixed order: `model`, `max_tokens`, `stream`,
//! `system`, `tools`, `messages`. `system` is an array of one text block
//! and the last tool definition carry `cache_control: {"type":"ephemeral"}`;
//! tool input schemas are written with object keys sorted. The same inputs
//! therefore always give the same bytes, across iterations and turns, and
//! everything before `"messages"` is identical for a session.
//!
//! Messages go out as stored, except what the API rejects: text blocks that
//! are empty or only whitespace are left out (a refusal can end with one),
//! and a message left with no block at all carries `"(no content)"`. The
//! stored history itself is never changed.

use serde::Serialize;
use serde_json::Value;
use synapse_protocol::{RawMessage, SortedJson, ToolSpec};

use crate::provider::ProviderRequest;

#[derive(Serialize)]
struct CacheControl {
    #[serde(rename = "type")]
    kind: &'static str,
}

const EPHEMERAL: CacheControl = CacheControl { kind: "ephemeral" };

#[derive(Serialize)]
struct SystemBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    cache_control: CacheControl,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: SortedJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<CacheControl>,
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<[SystemBlock<'a>; 1]>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    messages: Sendable<'a>,
}

/// The messages as sent: the stored ones spliced as they are, then the
/// others; blank text blocks left out (see the module docs).
struct Sendable<'a>(&'a [RawMessage], &'a [Value]);

impl Serialize for Sendable<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.len() + self.1.len()))?;
        for m in self.0 {
            if !m.may_hold_blank_text() {
                seq.serialize_element(m)?;
                continue;
            }
            let v = m.to_value();
            match sendable(&v) {
                Some(clean) => seq.serialize_element(&clean)?,
                None => seq.serialize_element(&v)?,
            }
        }
        for m in self.1 {
            match sendable(m) {
                Some(clean) => seq.serialize_element(&clean)?,
                None => seq.serialize_element(m)?,
            }
        }
        seq.end()
    }
}

fn is_blank_text(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) == Some("text")
        && block
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| t.trim().is_empty())
}

/// `message` without its blank text blocks; `None` when it has none (sent
/// as is, without a copy).
fn sendable(message: &Value) -> Option<Value> {
    let blocks = message.get("content")?.as_array()?;
    if !blocks.iter().any(is_blank_text) {
        return None;
    }
    let mut kept: Vec<Value> = blocks
        .iter()
        .filter(|b| !is_blank_text(b))
        .cloned()
        .collect();
    if kept.is_empty() {
        kept.push(serde_json::json!({"type": "text", "text": "(no content)"}));
    }
    let mut clean = message.clone();
    clean["content"] = Value::Array(kept);
    Some(clean)
}

/// Serialize the streaming request body.
pub fn body_bytes(req: &ProviderRequest) -> Result<Vec<u8>, serde_json::Error> {
    let n = req.tools.len();
    let tools = req
        .tools
        .iter()
        .enumerate()
        .map(|(i, t): (usize, &ToolSpec)| Tool {
            name: &t.name,
            description: &t.description,
            input_schema: SortedJson(&t.input_schema),
            cache_control: (i + 1 == n).then_some(EPHEMERAL),
        })
        .collect();
    let body = Body {
        model: &req.model,
        max_tokens: req.max_tokens,
        stream: true,
        system: req.system.as_deref().filter(|s| !s.is_empty()).map(|text| {
            [SystemBlock {
                kind: "text",
                text,
                cache_control: EPHEMERAL,
            }]
        }),
        tools,
        messages: Sendable(&req.stored, &req.messages),
    };
    serde_json::to_vec(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str, schema: Value) -> ToolSpec {
        ToolSpec {
            destructive: false,
            name: name.into(),
            description: format!("{name} tool"),
            input_schema: schema,
            read_only: true,
            timeout_s: None,
        }
    }

    #[test]
    fn cache_control_on_system_and_last_tool_only() {
        let req = ProviderRequest {
            model: "m".into(),
            max_tokens: 10,
            system: Some("sys".into()),
            tools: vec![
                spec("a", json!({"type":"object"})),
                spec("b", json!({"type":"object","properties":{"z":{},"a":{}}})),
            ],
            stored: Vec::new(),
            messages: vec![json!({"role":"user","content":"hi"})],
        };
        let bytes = body_bytes(&req).expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            v["system"],
            json!([{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}])
        );
        assert!(v["tools"][0].get("cache_control").is_none());
        assert_eq!(v["tools"][1]["cache_control"], json!({"type":"ephemeral"}));
        assert_eq!(v["stream"], json!(true));
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(text.starts_with("{\"model\":\"m\",\"max_tokens\":10,\"stream\":true,\"system\":"));
        assert!(text.contains("\"properties\":{\"a\":{},\"z\":{}}"));
    }

    #[test]
    fn blank_text_blocks_are_never_sent() {
        let req = ProviderRequest {
            model: "m".into(),
            max_tokens: 1,
            system: None,
            tools: vec![],
            stored: Vec::new(),
            messages: vec![
                json!({"role":"user","content":[{"type":"text","text":"hi"}]}),
                json!({"role":"assistant","content":[{"type":"text","text":" \n"}]}),
                json!({"role":"user","content":[{"type":"text","text":"go on"}]}),
                json!({"role":"assistant","content":[{"type":"text","text":""},{"type":"tool_use","id":"t","name":"x","input":{}}]}),
            ],
        };
        let v: Value = serde_json::from_slice(&body_bytes(&req).expect("body")).expect("json");
        assert_eq!(v["messages"][0], req.messages[0]);
        assert_eq!(
            v["messages"][1]["content"],
            json!([{"type":"text","text":"(no content)"}])
        );
        assert_eq!(
            v["messages"][3]["content"],
            json!([{"type":"tool_use","id":"t","name":"x","input":{}}])
        );
        // The request's own copy is untouched.
        assert_eq!(req.messages[1]["content"][0]["text"], " \n");
    }

    /// Stored messages are spliced as their text, or cleaned exactly like
    /// parsed ones when they may hold a blank text block; the body is the
    /// same bytes either way.
    #[test]
    fn stored_messages_are_spliced_and_cleaned_like_parsed_ones() {
        let messages = vec![
            json!({"role":"user","content":[{"type":"text","text":"hi","z":{"b":1,"a":2.5}}]}),
            json!({"role":"assistant","content":[{"type":"text","text":" \n"}]}),
            json!({"role":"user","content":"go on"}),
            json!({"role":"assistant","content":[{"type":"text","text":""},{"type":"tool_use","id":"t","name":"x","input":{}}]}),
        ];
        let raw: Vec<RawMessage> = messages
            .iter()
            .map(|m| {
                RawMessage::new(
                    m["role"].as_str().expect("role"),
                    serde_json::to_string(&m["content"]).expect("text"),
                )
                .expect("raw")
            })
            .collect();
        let parsed = ProviderRequest {
            model: "m".into(),
            max_tokens: 1,
            system: None,
            tools: vec![],
            stored: Vec::new(),
            messages,
        };
        let mut spliced = parsed.clone_without_messages();
        spliced.stored = raw;
        spliced.messages = vec![json!({"role":"user","content":"last"})];
        let mut both = parsed.clone();
        both.messages.push(json!({"role":"user","content":"last"}));
        assert_eq!(
            body_bytes(&spliced).expect("body"),
            body_bytes(&both).expect("body")
        );
        let v: Value = serde_json::from_slice(&body_bytes(&spliced).expect("body")).expect("json");
        assert_eq!(
            v["messages"][1]["content"],
            json!([{"type":"text","text":"(no content)"}])
        );
        spliced.materialize();
        assert_eq!(spliced.messages, both.messages);
        assert!(spliced.stored.is_empty());
    }

    #[test]
    fn no_tools_no_system() {
        let req = ProviderRequest {
            model: "m".into(),
            max_tokens: 1,
            system: None,
            tools: vec![],
            stored: Vec::new(),
            messages: vec![],
        };
        let v: Value = serde_json::from_slice(&body_bytes(&req).expect("body")).expect("json");
        assert!(v.get("tools").is_none());
        assert!(v.get("system").is_none());
    }
}
