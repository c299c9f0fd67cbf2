//! Shared test fixtures: a recording observer, a scripted tool host, settings.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};
use synapse_agent::{
    CancellationToken, ErrorKind, Secret, Settings, ToolCall, ToolCallRecord, ToolHost,
    ToolOutcome, ToolSpec, TurnError, TurnEventKind, TurnObserver, TurnSpec, Usage,
};
use synapse_test_support::messages_api::ScriptedApi;

pub const KEY: &str = "sk-ant-api03-TESTSECRET-0123456789abcdef";

pub fn settings(api: &ScriptedApi) -> Settings {
    Settings {
        api_key: Some(Secret::new(KEY)),
        base_url: api.base_url(),
        stream_idle_timeout: Duration::from_secs(10),
        ..Settings::default()
    }
}

pub fn spec(prompt: &str) -> TurnSpec {
    TurnSpec {
        turn_id: "turn_1".into(),
        session_id: "sess_1".into(),
        history: vec![],
        prompt: prompt.into(),
        system: None,
        model: String::new(),
        max_tokens: 0,
        max_iterations: 0,
        ..TurnSpec::default()
    }
}

#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<TurnEventKind>>,
    pub usages: Mutex<Vec<Usage>>,
    pub messages: Mutex<Vec<Value>>,
    pub tool_calls: Mutex<Vec<ToolCallRecord>>,
    /// Once this many messages are stored, `message` fails like a full disk.
    pub fail_message_at: Mutex<Option<usize>>,
    /// Compaction records: (upto_idx, summary).
    pub compactions: Mutex<Vec<(i64, String)>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<TurnEventKind> {
        self.events.lock().unwrap().clone()
    }
    pub fn messages(&self) -> Vec<Value> {
        self.messages.lock().unwrap().clone()
    }
    pub fn usages(&self) -> Vec<Usage> {
        self.usages.lock().unwrap().clone()
    }
    pub fn tool_calls(&self) -> Vec<ToolCallRecord> {
        self.tool_calls.lock().unwrap().clone()
    }
    pub fn text(&self) -> String {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                TurnEventKind::Text { text } => Some(text),
                _ => None,
            })
            .collect()
    }
    pub fn retries(&self) -> Vec<(u32, u64, String)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                TurnEventKind::Retry {
                    attempt,
                    delay_ms,
                    reason,
                } => Some((attempt, delay_ms, reason)),
                _ => None,
            })
            .collect()
    }
}

impl TurnObserver for Recorder {
    fn event(&self, kind: TurnEventKind) {
        self.events.lock().unwrap().push(kind);
    }
    fn usage(&self, usage: &Usage) {
        self.usages.lock().unwrap().push(*usage);
    }
    fn message(&self, message: Value) -> BoxFuture<'_, Result<(), TurnError>> {
        Box::pin(async move {
            let mut messages = self.messages.lock().unwrap();
            if self
                .fail_message_at
                .lock()
                .unwrap()
                .is_some_and(|n| messages.len() >= n)
            {
                return Err(TurnError {
                    kind: ErrorKind::Storage,
                    message: "disk full (test)".into(),
                });
            }
            messages.push(message);
            Ok(())
        })
    }
    fn tool_call(&self, record: &ToolCallRecord) {
        self.tool_calls.lock().unwrap().push(record.clone());
    }
    fn compaction(&self, upto_idx: i64, summary: &str) -> BoxFuture<'_, Result<(), TurnError>> {
        self.compactions
            .lock()
            .unwrap()
            .push((upto_idx, summary.to_owned()));
        Box::pin(async { Ok(()) })
    }
}

pub type Behavior = Arc<dyn Fn(&ToolCall) -> Action + Send + Sync>;

pub enum Action {
    Return(ToolOutcome),
    /// Cancel the turn's token, then return this outcome.
    CancelThenReturn(ToolOutcome),
    /// Cancel the turn's token, then never answer.
    CancelThenHang,
}

pub struct Host {
    pub specs: Vec<ToolSpec>,
    pub behavior: Behavior,
    pub calls: Mutex<Vec<ToolCall>>,
    pub tokens: Mutex<Vec<CancellationToken>>,
    pub turn_cancel: CancellationToken,
}

pub fn tool_spec(name: &str) -> ToolSpec {
    ToolSpec {
        destructive: false,
        name: name.into(),
        description: format!("The {name} tool."),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}, "depth": {"type": "integer"}}}),
        read_only: true,
        timeout_s: None,
    }
}

impl Host {
    pub fn new(names: &[&str], turn_cancel: CancellationToken, behavior: Behavior) -> Self {
        Self {
            specs: names.iter().map(|n| tool_spec(n)).collect(),
            behavior,
            calls: Mutex::new(vec![]),
            tokens: Mutex::new(vec![]),
            turn_cancel,
        }
    }
    pub fn echo(names: &[&str], turn_cancel: CancellationToken) -> Self {
        Self::new(
            names,
            turn_cancel,
            Arc::new(|c: &ToolCall| {
                Action::Return(ToolOutcome::ok(json!({"tool": c.name, "input": c.input})))
            }),
        )
    }
    pub fn calls(&self) -> Vec<ToolCall> {
        self.calls.lock().unwrap().clone()
    }
}

impl ToolHost for Host {
    fn tools(&self) -> Vec<ToolSpec> {
        self.specs.clone()
    }
    fn invoke(&self, call: ToolCall, cancel: CancellationToken) -> BoxFuture<'_, ToolOutcome> {
        self.calls.lock().unwrap().push(call.clone());
        self.tokens.lock().unwrap().push(cancel);
        let action = (self.behavior)(&call);
        Box::pin(async move {
            match action {
                Action::Return(o) => o,
                Action::CancelThenReturn(o) => {
                    self.turn_cancel.cancel();
                    o
                }
                Action::CancelThenHang => {
                    self.turn_cancel.cancel();
                    std::future::pending().await
                }
            }
        })
    }
}

/// Every tool_use in `messages` is answered by exactly one tool_result in
/// the next message, and the history alternates correctly.
pub fn assert_history_closed(messages: &[Value]) {
    for (i, m) in messages.iter().enumerate() {
        if m["role"] != "assistant" {
            continue;
        }
        let ids: Vec<&str> = m["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let next = messages
            .get(i + 1)
            .unwrap_or_else(|| panic!("no tool_result message after {m}"));
        assert_eq!(next["role"], "user");
        let results: Vec<&str> = next["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_result")
            .map(|b| b["tool_use_id"].as_str().unwrap())
            .collect();
        assert_eq!(results, ids, "every tool_use answered once, in order");
    }
}

pub fn tool_use(id: &str, name: &str, input: Value) -> Value {
    json!({"type": "tool_use", "id": id, "name": name, "input": input})
}

pub fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

/// Bound every test wait.
pub const WAIT: Duration = Duration::from_secs(10);
