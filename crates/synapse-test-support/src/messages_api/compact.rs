//! Summary requests (answered without the script) and `{{last_tool_result}}`.

use serde_json::{json, Value};

use super::{ScriptResponse, LAST_TOOL_RESULT_MAX_CHARS};

/// The first words of a summary request's last user message.
pub const COMPACT_MARKER: &str = "[synapse:compact]";

/// True for a summary request: no tools, and the last user message's text
/// begins with [`COMPACT_MARKER`].
pub fn is_compact_request(body: &Value) -> bool {
    let no_tools = body
        .get("tools")
        .is_none_or(|t| t.as_array().is_none_or(Vec::is_empty));
    let last = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last());
    let text = last
        .and_then(|m| m.get("content"))
        .and_then(|c| match c {
            Value::String(s) => Some(s.as_str()),
            Value::Array(b) => b
                .first()
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str),
            _ => None,
        })
        .unwrap_or("");
    no_tools && text.starts_with(COMPACT_MARKER)
}

/// The canned answer to a summary request: a short summary naming how
/// long the transcript was, usage 1000 in / 50 out.
pub(super) fn compact_answer(body: &Value) -> ScriptResponse {
    let len = body.to_string().len();
    ScriptResponse::message(
        vec![
            json!({"type": "text", "text": format!("SUMMARY of an earlier conversation ({len} bytes): the artist worked on their scene.")}),
        ],
        "end_turn",
        1000,
        50,
    )
}
/// The text of the last `tool_result` block of the request's last message.
pub(super) fn last_tool_result(body: &Value) -> String {
    let Some(last) = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
    else {
        return String::new();
    };
    let Some(blocks) = last.get("content").and_then(Value::as_array) else {
        return String::new();
    };
    let Some(block) = blocks
        .iter()
        .rev()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
    else {
        return String::new();
    };
    let text = match block.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    text.chars().take(LAST_TOOL_RESULT_MAX_CHARS).collect()
}

pub(super) fn substitute(block: &Value, last: &str) -> Value {
    match block.get("text").and_then(Value::as_str) {
        Some(t)
            if block.get("type").and_then(Value::as_str) == Some("text")
                && t.contains("{{last_tool_result}}") =>
        {
            let mut b = block.clone();
            b["text"] = Value::String(t.replace("{{last_tool_result}}", last));
            b
        }
        _ => block.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages_api::{FaultKind, Script};

    #[test]
    fn script_json_forms_parse() {
        let s = Script::from_json(
            r#"{"responses":[
            {"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"toolu_01","name":"x","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}},
            {"fault":"http_status","status":429,"headers":{"retry-after":"0"},"error_type":"rate_limit_error"},
            {"fault":"overloaded_in_band"},{"fault":"overloaded_after_text"},
            {"fault":"stall_after_message_start"},{"fault":"cut_mid_block","delay_ms":5},
            {"content":[{"type":"text","text":"x"}],"stop_reason":"max_tokens"}]}"#,
        )
        .expect("parse");
        assert_eq!(s.responses.len(), 7);
        assert!(
            matches!(&s.responses[0], ScriptResponse::Message(m) if m.stop_reason == "tool_use")
        );
        assert!(matches!(&s.responses[1], ScriptResponse::Fault(f) if f.status == Some(429)));
        assert!(
            matches!(&s.responses[5], ScriptResponse::Fault(f) if f.fault == FaultKind::CutMidBlock && f.delay_ms == Some(5))
        );
    }

    #[test]
    fn last_tool_result_is_found_and_truncated() {
        let long = "é".repeat(3000);
        let body = json!({"messages":[{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"a","content":"first"},
            {"type":"tool_result","tool_use_id":"b","content":long}]}]});
        assert_eq!(last_tool_result(&body).chars().count(), 2000);
        let body = json!({"messages":[{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}]}]});
        assert_eq!(last_tool_result(&body), "xy");
    }
}
