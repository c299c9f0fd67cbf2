//! End-to-end turns against the scripted Messages API over real HTTP.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod basics;
mod cancel;
mod requests;
mod retries;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use synapse_agent::{
    Agent, CancellationToken, ErrorKind, NoTools, Settings, ToolCall, ToolErrorEnvelope, ToolHost,
    ToolOutcome, TurnEventKind, TurnResult, TurnStatus, Usage,
};
use synapse_test_support::messages_api::{FaultKind, Script, ScriptResponse as R, ScriptedApi};

/// Run one turn on a fresh agent, failing the test if it does not end
/// within [`WAIT`].
async fn run(
    settings: Settings,
    spec: synapse_agent::TurnSpec,
    host: &dyn ToolHost,
    rec: &Recorder,
    cancel: CancellationToken,
) -> TurnResult {
    let agent = Agent::new(settings).unwrap();
    tokio::time::timeout(WAIT, agent.run_turn(spec, host, rec, cancel))
        .await
        .expect("turn ends in time")
}

async fn simple(script: Vec<R>) -> (ScriptedApi, TurnResult, Recorder) {
    let api = ScriptedApi::start(Script::new(script));
    let rec = Recorder::default();
    let cancel = CancellationToken::new();
    let host = Host::echo(&["inspect"], cancel.clone());
    let r = run(settings(&api), spec("hello"), &host, &rec, cancel).await;
    (api, r, rec)
}

fn usage(i: u64, o: u64) -> Usage {
    Usage {
        input_tokens: i,
        output_tokens: o,
        ..Default::default()
    }
}

/// A server scripted with one `tool_use` response (`id`, `name`, empty
/// input) and then a text answer.
fn tool_round_then_text(id: &str, name: &str, text: &str) -> ScriptedApi {
    ScriptedApi::start(Script::new(vec![
        R::message(vec![tool_use(id, name, json!({}))], "tool_use", 5, 5),
        R::text(text),
    ]))
}
