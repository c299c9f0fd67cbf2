//! The request body, built so that the cacheable prefix is byte-stable.
//!
//! Fields are serialized in a fixed order: `model`, `max_tokens`, `stream`,
//! `system`, `tools`, `messages`. `system` is an array of one text block
//! and the last tool definition carry `cache_control: {"type":"ephemeral"}`;
//! tool input schemas are written with object keys sorted. The same inputs
//! therefore always give the same bytes, across iterations and turns, and
//! everything before `"messages"` is identical for a session.

use serde::Serialize;
use serde_json::Value;
use synapse_protocol::{SortedJson, ToolSpec};

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
    messages: &'a [Value],
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
        messages: &req.messages,
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
    fn no_tools_no_system() {
        let req = ProviderRequest {
            model: "m".into(),
            max_tokens: 1,
            system: None,
            tools: vec![],
            messages: vec![],
        };
        let v: Value = serde_json::from_slice(&body_bytes(&req).expect("body")).expect("json");
        assert!(v.get("tools").is_none());
        assert!(v.get("system").is_none());
    }
}
