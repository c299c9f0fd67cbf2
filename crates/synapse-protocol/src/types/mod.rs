//! Params, results and events of every method (contract v1).
//!
//! Field names are the wire names. Optional inputs are `Option` with
//! `#[serde(default)]`; unknown input fields are ignored so that newer
//! clients keep working against this daemon.

mod content;
mod daemon;
mod event;
mod session;
mod tool;
mod turn;
mod turn_params;

pub use content::*;
pub use daemon::*;
pub use event::*;
pub use session::*;
pub use tool::*;
pub use turn::*;
pub use turn_params::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_json_sorts_nested_keys() {
        let v = json!({"b":1,"a":{"d":[{"y":1,"x":2}],"c":null}});
        assert_eq!(
            to_sorted_json(&v),
            r#"{"a":{"c":null,"d":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn envelope_text_is_sorted_and_compact() {
        let mut env = ToolErrorEnvelope::synthetic("inspect", "Timeout", "slow");
        env.timestamp = "t".into();
        assert_eq!(
            env.to_json_text(),
            r#"{"agent_tool_error":true,"error_message":"slow","error_type":"Timeout","timestamp":"t","tool_name":"inspect","traceback_str":""}"#
        );
    }

    #[test]
    fn tool_result_block_shape() {
        assert_eq!(
            tool_result_block("a", false, "{}".into()),
            json!({"type": "tool_result", "tool_use_id": "a", "content": "{}"})
        );
        assert_eq!(
            tool_result_block("b", true, "x".into()),
            json!({"type": "tool_result", "tool_use_id": "b", "content": "x", "is_error": true})
        );
        assert_eq!(
            text_of_blocks(&[
                json!({"type": "text", "text": "a"}),
                json!({"type": "tool_use"}),
                json!({"type": "text", "text": "b"})
            ]),
            "ab"
        );
    }

    #[test]
    fn event_is_flat_with_type_tag() {
        let e = TurnEvent {
            turn_id: "t".into(),
            seq: 3,
            kind: TurnEventKind::Text { text: "hi".into() },
        };
        assert_eq!(
            serde_json::to_value(&e).expect("ser"),
            json!({"turn_id":"t","seq":3,"type":"text","text":"hi"})
        );
        let back: TurnEvent = serde_json::from_value(
            json!({"turn_id":"t","seq":0,"type":"status","status":"running"}),
        )
        .expect("de");
        assert_eq!(
            back.kind,
            TurnEventKind::Status {
                status: TurnStatus::Running
            }
        );
    }

    #[test]
    fn statuses_round_trip_and_know_finality() {
        for s in TurnStatus::ALL {
            assert_eq!(TurnStatus::parse(s.as_str()), Some(s));
            let v = serde_json::to_value(s).expect("ser");
            assert_eq!(v, json!(s.as_str()));
        }
        assert!(!TurnStatus::Queued.is_final());
        assert!(TurnStatus::Interrupted.is_final());
    }

    #[test]
    fn usage_adds_saturating() {
        let mut u = Usage {
            input_tokens: u64::MAX,
            ..Default::default()
        };
        u.add(&Usage {
            input_tokens: 1,
            output_tokens: 2,
            ..Default::default()
        });
        assert_eq!(u.input_tokens, u64::MAX);
        assert_eq!(u.output_tokens, 2);
    }
}
