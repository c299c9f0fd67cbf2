//! Helpers that build and read Messages API content blocks.

use serde::Serialize;
use serde_json::Value;

/// A JSON value that serializes with object keys sorted at every level,
/// whatever map flavour `serde_json` was built with.
#[derive(Clone, Copy, Debug)]
pub struct SortedJson<'a>(pub &'a Value);

impl Serialize for SortedJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, &SortedJson(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&SortedJson(v))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Compact JSON text of `value` with object keys sorted at every level.
pub fn to_sorted_json(value: &Value) -> String {
    serde_json::to_string(&SortedJson(value)).unwrap_or_else(|_| "null".to_owned())
}

/// A Messages API `tool_result` block answering `tool_use_id`, whose
/// `content` is `content_text` (the JSON text of the tool's output, or of a
/// [`ToolErrorEnvelope`](super::ToolErrorEnvelope) when `is_error`). `is_error` is written only when
/// true.
pub fn tool_result_block(tool_use_id: &str, is_error: bool, content_text: String) -> Value {
    let mut block = serde_json::Map::new();
    block.insert("type".into(), Value::from("tool_result"));
    block.insert("tool_use_id".into(), Value::from(tool_use_id));
    block.insert("content".into(), Value::String(content_text));
    if is_error {
        block.insert("is_error".into(), Value::Bool(true));
    }
    Value::Object(block)
}

/// A `tool_result` block whose content is the JSON text followed by one
/// image block per image (design §13 "Images"); without images it is
/// [`tool_result_block`].
pub fn tool_result_block_with_images(
    tool_use_id: &str,
    is_error: bool,
    content_text: String,
    images: &[crate::direct::ToolImage],
) -> Value {
    let mut block = tool_result_block(tool_use_id, is_error, content_text.clone());
    if images.is_empty() {
        return block;
    }
    let mut content = vec![serde_json::json!({"type": "text", "text": content_text})];
    content.extend(images.iter().map(|img| {
        serde_json::json!({
            "type": "image",
            "source": {"type": "base64", "media_type": img.media_type, "data": img.data}
        })
    }));
    block["content"] = Value::Array(content);
    block
}

/// The concatenated text of the `text` blocks among `blocks`.
pub fn text_of_blocks(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect()
}
