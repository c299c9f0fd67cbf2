//! Agent-loop overhead per iteration without LLM or tool time: an in-memory
//! provider answers instantly (tool_use until the last iteration), the host
//! answers instantly, the observer keeps messages in memory. Target ≤ 1 ms.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use serde_json::{json, Value};
use synapse_agent::anthropic::request::body_bytes;
use synapse_agent::{
    Agent, CancellationToken, Provider, ProviderError, ProviderRequest, ProviderResponse, Settings,
    StreamSink, ToolCall, ToolHost, ToolOutcome, ToolSpec, TurnError, TurnEventKind, TurnObserver,
    TurnSpec, TurnStatus, Usage,
};

struct Canned {
    calls: AtomicUsize,
    serialize: bool,
}

impl Provider for Canned {
    fn stream<'a>(
        &'a self,
        req: &'a ProviderRequest,
        sink: &'a dyn StreamSink,
        _cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ProviderResponse, ProviderError>> {
        Box::pin(async move {
            if self.serialize {
                std::hint::black_box(body_bytes(req).unwrap());
            }
            let n = self.calls.fetch_add(1, Ordering::Relaxed);
            sink.text("Checking the stage.");
            let usage = Usage {
                input_tokens: 100,
                output_tokens: 20,
                ..Default::default()
            };
            sink.usage(&usage);
            let last = req.messages.len() + 1 >= 2 * ITERATIONS as usize;
            let content = if last {
                vec![json!({"type": "text", "text": "Done."})]
            } else {
                vec![
                    json!({"type": "text", "text": "Checking the stage."}),
                    json!({"type": "tool_use", "id": format!("toolu_{n}"), "name": "inspect", "input": {"path": "/stage", "depth": 2}}),
                ]
            };
            Ok(ProviderResponse {
                content,
                stop_reason: Some(if last { "end_turn" } else { "tool_use" }.into()),
            })
        })
    }
}

struct Host;
impl ToolHost for Host {
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            destructive: false,
            name: "inspect".into(),
            description: "Inspect the stage".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            read_only: true,
            timeout_s: None,
        }]
    }
    fn invoke(&self, call: ToolCall, _c: CancellationToken) -> BoxFuture<'_, ToolOutcome> {
        Box::pin(async move {
            ToolOutcome::ok(json!({"prims": ["/stage/a", "/stage/b"], "call": call.call_id}))
        })
    }
}

#[derive(Default)]
struct Keep(Mutex<Vec<Value>>, AtomicUsize);
impl TurnObserver for Keep {
    fn event(&self, _k: TurnEventKind) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
    fn usage(&self, _u: &Usage) {}
    fn message(&self, m: Value) -> BoxFuture<'_, Result<(), TurnError>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(m);
            Ok(())
        })
    }
}

const ITERATIONS: u32 = 20;
const TURNS: usize = 300;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for serialize in [false, true] {
        let provider = Arc::new(Canned {
            calls: AtomicUsize::new(0),
            serialize,
        });
        let agent = Agent::with_provider(Settings::default(), provider);
        let mut per_iter = Vec::with_capacity(TURNS);
        rt.block_on(async {
            for i in 0..TURNS {
                let spec = TurnSpec {
                    turn_id: format!("t{i}"),
                    session_id: "s".into(),
                    prompt: "hi".into(),
                    max_iterations: ITERATIONS,
                    ..TurnSpec::default()
                };
                let obs = Keep::default();
                let t0 = Instant::now();
                let r = agent
                    .run_turn(spec, &Host, &obs, CancellationToken::new())
                    .await;
                let dt = t0.elapsed();
                assert_eq!(r.status, TurnStatus::Complete);
                assert_eq!(r.iterations, ITERATIONS);
                per_iter.push(dt.as_secs_f64() / f64::from(r.iterations));
            }
        });
        per_iter.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| per_iter[((per_iter.len() as f64 - 1.0) * q).round() as usize] * 1e6;
        println!(
            "loop_overhead ({} iterations/turn, {TURNS} turns{}): per iteration p50 {:.1} us, p99 {:.1} us (target <= 1000 us)",
            ITERATIONS,
            if serialize { ", incl. request body serialization" } else { "" },
            p(0.5),
            p(0.99)
        );
    }
}
