//! Error envelopes over `max_tool_result_bytes`: clipped, never replaced.
//!
//! A tool's *success* result that is too large for the model becomes a
//! `ToolResultTooLarge` error (see [`crate::turn`]). An *error* envelope from
//! the host must not: the model has to see what failed (`error_type`,
//! `CookError`, `NodeNotFound`...) to act on it. So an envelope over the
//! limit loses, in this order, its traceback, any fields beyond the
//! envelope's own (design §2.5), and the tail of its message (which then
//! says it was clipped and from how many bytes), until it fits. It stays an
//! error with its `error_type`.

use serde_json::{Map, Value};
use synapse_protocol::to_sorted_json;

/// The fields of a tool error envelope (design §2.5), kept when clipping.
const ENVELOPE_FIELDS: [&str; 6] = [
    "agent_tool_error",
    "tool_name",
    "error_type",
    "error_message",
    "traceback_str",
    "timestamp",
];

/// Longest `tool_name` / `error_type` kept (in characters) when even the
/// envelope without message and traceback is over the limit.
const MAX_NAME_CHARS: usize = 120;

/// The compact, key-sorted JSON text of the error envelope `content` clipped
/// to at most `max_bytes` when that is possible, else as small as it gets
/// (its `error_type` and `tool_name` are kept, shortened to
/// [`MAX_NAME_CHARS`] only when the limit is below even them).
///
/// `None` when `content` is not an error envelope (an object with a string
/// `error_type`): the caller then treats it like any oversized result.
pub(crate) fn clip_error_envelope(content: &Value, max_bytes: usize) -> Option<String> {
    let obj = content.as_object()?;
    obj.get("error_type")?.as_str()?;
    let original = to_sorted_json(content);
    if original.len() <= max_bytes {
        return Some(original);
    }
    let mut env: Map<String, Value> = obj.clone();
    // 1. The traceback goes first: the message says more to the model.
    if env.get("traceback_str").is_some_and(Value::is_string) {
        env.insert("traceback_str".into(), Value::from(""));
    }
    // 2. Fields that are not the envelope's own.
    env.retain(|k, _| ENVELOPE_FIELDS.contains(&k.as_str()));
    let text = to_sorted_json(&Value::Object(env.clone()));
    if text.len() <= max_bytes {
        return Some(text);
    }
    // 3. The message's tail.
    let message = env
        .get("error_message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    env.insert("error_message".into(), Value::from(""));
    let mut base = to_sorted_json(&Value::Object(env.clone())).len();
    if base > max_bytes {
        // 4. Absurdly small limits (or a hostile host's huge names).
        for key in ["tool_name", "error_type"] {
            if let Some(s) = env.get(key).and_then(Value::as_str) {
                let short: String = s.chars().take(MAX_NAME_CHARS).collect();
                env.insert(key.into(), Value::from(short));
            }
        }
        base = to_sorted_json(&Value::Object(env.clone())).len();
    }
    let suffix = format!(" … [clipped from {} bytes]", original.len());
    let room = max_bytes.saturating_sub(base);
    let clipped = if escaped_len(&suffix) > room {
        String::new()
    } else {
        let mut kept = String::new();
        let mut used = escaped_len(&suffix);
        for c in message.chars() {
            let n = escaped_char_len(c);
            if used + n > room {
                break;
            }
            used += n;
            kept.push(c);
        }
        kept + &suffix
    };
    env.insert("error_message".into(), Value::from(clipped));
    Some(to_sorted_json(&Value::Object(env)))
}

/// Bytes of `s` inside a JSON string literal.
fn escaped_len(s: &str) -> usize {
    s.chars().map(escaped_char_len).sum()
}

/// Bytes of `c` inside a JSON string literal (as `serde_json` writes it).
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(message: &str) -> Value {
        json!({"agent_tool_error": true, "tool_name": "t", "error_type": "CookError",
               "error_message": message, "traceback_str": "tb\n".repeat(100),
               "timestamp": "2026-12-02T16:00:00Z", "errors": vec!["e"; 50]})
    }

    #[test]
    fn fits_exactly_with_escapes_and_multibyte_text() {
        let msg = "é\"\n\u{1}x".repeat(200);
        for max in [200, 257, 300, 1000] {
            let text = clip_error_envelope(&envelope(&msg), max).expect("an envelope");
            assert!(text.len() <= max, "{max}: {} {text}", text.len());
            let v: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(v["error_type"], "CookError");
            assert_eq!(v["traceback_str"], "");
            assert!(v.get("errors").is_none());
            assert!(v["error_message"].as_str().expect("s").ends_with("bytes]"));
        }
    }

    #[test]
    fn only_the_traceback_goes_when_that_is_enough() {
        let mut e = envelope("short");
        e.as_object_mut().expect("obj").remove("errors");
        let text = clip_error_envelope(&e, 200).expect("an envelope");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["error_message"], "short");
        assert_eq!(v["traceback_str"], "");
    }

    #[test]
    fn a_tiny_limit_keeps_the_error_type() {
        let text = clip_error_envelope(&envelope("m"), 10).expect("an envelope");
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["error_type"], "CookError");
        assert_eq!(v["error_message"], "");
    }

    #[test]
    fn not_an_envelope() {
        assert!(clip_error_envelope(&json!("boom"), 10).is_none());
        assert!(clip_error_envelope(&json!({"error_type": 3}), 10).is_none());
    }
}
