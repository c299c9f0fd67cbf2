//! The `error` of a `tool_result` turn event: read from the result text the
//! model got, defensively, and absent from the wire when there is none.

use serde_json::json;
use synapse_protocol::{ToolErrorEnvelope, ToolResultError, TurnEvent, TurnEventKind};

#[test]
fn an_envelope_gives_its_type_and_message() {
    let text =
        ToolErrorEnvelope::synthetic("t", "UnknownTool", "no tool named \"x\"").to_json_text();
    let e = ToolResultError::from_result_text(&text);
    assert_eq!(e.error_type, "UnknownTool");
    assert_eq!(e.message, "no tool named \"x\"");
}

#[test]
fn other_text_is_a_tool_error_with_that_text_clipped() {
    let e = ToolResultError::from_result_text("plain failure");
    assert_eq!(
        (e.error_type.as_str(), e.message.as_str()),
        ("ToolError", "plain failure")
    );
    let long = "é".repeat(10_000);
    let e = ToolResultError::from_result_text(&long);
    assert_eq!(
        e.message.chars().count(),
        ToolResultError::MAX_MESSAGE_CHARS
    );
    assert!(e.message.ends_with('…'));
    // Wrong-typed fields are not trusted.
    let e = ToolResultError::from_result_text(r#"{"error_type": 5, "error_message": null}"#);
    assert_eq!(e.error_type, "ToolError");
}

#[test]
fn the_field_is_optional_on_the_wire() {
    let ok = TurnEvent {
        turn_id: "turn_1".into(),
        seq: 3,
        kind: TurnEventKind::ToolResult {
            call_id: "c".into(),
            is_error: false,
            duration_ms: 4,
            error: None,
        },
    };
    let v = serde_json::to_value(&ok).expect("serializes");
    assert_eq!(
        v,
        json!({"turn_id": "turn_1", "seq": 3, "type": "tool_result", "call_id": "c", "is_error": false, "duration_ms": 4})
    );
    // An older daemon's event (no `error`) still parses.
    let back: TurnEvent = serde_json::from_value(v).expect("an event without error parses");
    assert_eq!(back, ok);
    let failed = json!({"turn_id": "turn_1", "seq": 4, "type": "tool_result", "call_id": "c", "is_error": true,
        "duration_ms": 0, "error": {"error_type": "NotPermitted", "message": "m"}});
    let parsed: TurnEvent = serde_json::from_value(failed).expect("an event with error parses");
    assert!(
        matches!(parsed.kind, TurnEventKind::ToolResult { error: Some(ref e), .. } if e.error_type == "NotPermitted")
    );
}
