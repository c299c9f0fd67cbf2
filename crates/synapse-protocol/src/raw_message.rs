//! A stored conversation message kept as JSON text, so it goes back to the
//! Messages API byte for byte, without being parsed into a tree and written
//! again (the hot path of a long session; ADR 0028).
//!
//! The wire form is `{"content":<content>,"role":"<role>"}`, keys in the
//! order `serde_json` writes a parsed message, so a spliced message is the
//! same bytes as the same message parsed and serialized.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// One message of a session's history as its stored JSON text. The text is
/// shared: a clone (the session's history cache keeps one, the turn's
/// request another) copies a pointer, not the message (ADR 0037).
#[derive(Clone, Debug)]
pub struct RawMessage {
    role: &'static str,
    content: Arc<RawValue>,
    /// The content may hold a `text` block whose text is empty or blank
    /// (which the API rejects): such a message is parsed before it is sent.
    suspect: bool,
}

impl PartialEq for RawMessage {
    fn eq(&self, other: &Self) -> bool {
        self.role == other.role && self.content.get() == other.content.get()
    }
}

/// Why stored text cannot be a message.
#[derive(Debug, thiserror::Error)]
pub enum RawMessageError {
    /// The role is neither `user` nor `assistant`.
    #[error("unknown role {0:?}")]
    Role(String),
    /// The content is not JSON.
    #[error("content is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The content is neither a string nor an array of blocks.
    #[error("content must be a string or an array of blocks")]
    Shape,
}

impl RawMessage {
    /// A message of `role` (`user` or `assistant`) whose content is the JSON
    /// text `content` (a string or an array of blocks). The text is checked
    /// to be JSON (without building a tree) and kept as it is.
    pub fn new(role: &str, content: String) -> Result<Self, RawMessageError> {
        let role = match role {
            "user" => "user",
            "assistant" => "assistant",
            other => return Err(RawMessageError::Role(other.to_owned())),
        };
        let content = match content.trim() {
            t if t.len() == content.len() => content,
            t => t.to_owned(),
        };
        let content: Arc<RawValue> = RawValue::from_string(content)?.into();
        if !matches!(content.get().as_bytes().first(), Some(b'[' | b'"')) {
            return Err(RawMessageError::Shape);
        }
        let suspect = may_hold_blank_text(content.get());
        Ok(Self {
            role,
            content,
            suspect,
        })
    }

    /// `user` or `assistant`.
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// The content's JSON text.
    pub fn content(&self) -> &str {
        self.content.get()
    }

    /// True when the content may hold a blank `text` block (see
    /// [`RawMessage::new`]); false guarantees it holds none at the top level.
    pub fn may_hold_blank_text(&self) -> bool {
        self.suspect
    }

    /// About the bytes the message takes in a request.
    pub fn json_len(&self) -> usize {
        self.content.get().len() + 32
    }

    /// The message parsed: `{"role": …, "content": …}`.
    pub fn to_value(&self) -> Value {
        let content: Value = serde_json::from_str(self.content.get()).unwrap_or(Value::Null);
        serde_json::json!({"role": self.role, "content": content})
    }

    /// Put `block` (a JSON object) in front of the content's blocks; a string
    /// content becomes `[block, {"type":"text","text":<string>}]`. Only this
    /// message's text is rewritten (the summary of a compaction goes in front
    /// of the first message sent).
    pub fn prepend_block(&mut self, block: &Value) -> Result<(), RawMessageError> {
        let lead = serde_json::to_string(block)?;
        let text = self.content.get();
        let spliced = if let Some(rest) = text.strip_prefix('[') {
            if rest.trim_start().starts_with(']') {
                format!("[{lead}]")
            } else {
                format!("[{lead},{rest}")
            }
        } else {
            let s: String = serde_json::from_str(text)?;
            let second = serde_json::to_string(&serde_json::json!({"type": "text", "text": s}))?;
            format!("[{lead},{second}]")
        };
        let suspect = may_hold_blank_text(&spliced);
        self.content = RawValue::from_string(spliced)?.into();
        self.suspect = suspect;
        Ok(())
    }
}

impl Serialize for RawMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("Message", 2)?;
        m.serialize_field("content", &*self.content)?;
        m.serialize_field("role", self.role)?;
        m.end()
    }
}

/// Conservative: true when some `"text":"` string in `json` starts with
/// something that could make it blank (its end, an escape, or white
/// space). False means no `text` value anywhere in it is empty or blank.
fn may_hold_blank_text(json: &str) -> bool {
    const KEY: &str = "\"text\":\"";
    let mut rest = json;
    while let Some(at) = rest.find(KEY) {
        rest = &rest[at + KEY.len()..];
        match rest.chars().next() {
            None | Some('"' | '\\') => return true,
            Some(c) if c.is_whitespace() => return true,
            Some(_) => {}
        }
    }
    // Written by something other than compact serde_json (a space after
    // the colon): do not guess.
    json.contains("\"text\" :") || json.contains("\"text\": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(role: &str, v: &Value) -> RawMessage {
        RawMessage::new(role, serde_json::to_string(v).expect("json")).expect("raw")
    }

    #[test]
    fn same_bytes_as_the_parsed_message() {
        let content = json!([{"type":"text","text":"héllo \"x\"","citations":[{"n":1.5e300}]},
            {"type":"tool_use","id":"toolu_1","name":"probe","input":{"z":1,"a":[true,null]}}]);
        let m = raw("assistant", &content);
        let parsed = json!({"role": "assistant", "content": content});
        assert_eq!(
            serde_json::to_string(&m).expect("ser"),
            serde_json::to_string(&parsed).expect("ser")
        );
        assert_eq!(m.to_value(), parsed);
        assert!(!m.may_hold_blank_text());
    }

    #[test]
    fn blank_text_is_suspected_never_missed() {
        for t in ["", " ", "\n", "\t x", "\u{a0}", "\u{2003}", "\u{b}"] {
            let m = raw("assistant", &json!([{"type":"text","text": t}]));
            assert!(m.may_hold_blank_text(), "{t:?}");
        }
        assert!(raw("user", &json!("")).content() == "\"\"");
        assert!(!raw("user", &json!([{"type":"text","text":"ok"}])).may_hold_blank_text());
    }

    #[test]
    fn bad_text_is_refused() {
        assert!(matches!(
            RawMessage::new("system", "[]".into()),
            Err(RawMessageError::Role(_))
        ));
        assert!(matches!(
            RawMessage::new("user", "[1,".into()),
            Err(RawMessageError::Json(_))
        ));
        assert!(matches!(
            RawMessage::new("user", "{}".into()),
            Err(RawMessageError::Shape)
        ));
    }

    #[test]
    fn prepend_block_matches_the_parsed_form() {
        let block = json!({"type":"text","text":"summary"});
        for content in [json!([{"type":"text","text":"q"}]), json!("q"), json!([])] {
            let mut m = raw("user", &content);
            m.prepend_block(&block).expect("prepend");
            let v = m.to_value();
            assert_eq!(v["content"][0], block, "{content}");
            let want = match &content {
                Value::String(s) => json!([block, {"type":"text","text": s}]),
                Value::Array(a) => {
                    let mut all = vec![block.clone()];
                    all.extend(a.iter().cloned());
                    Value::Array(all)
                }
                _ => unreachable!(),
            };
            assert_eq!(v["content"], want);
        }
    }
}
