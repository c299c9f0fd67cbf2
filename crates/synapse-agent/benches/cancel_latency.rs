//! Cancel → final TurnResult latency while the stream is stalled after
//! `message_start` (real HTTP against the scripted server). Target p99 ≤ 10 ms.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use synapse_agent::observer::NullObserver;
use synapse_agent::{Agent, CancellationToken, NoTools, Secret, Settings, TurnSpec, TurnStatus};
use synapse_test_support::messages_api::{FaultKind, Script, ScriptResponse, ScriptedApi};

const RUNS: usize = 200;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let api = ScriptedApi::start(Script::new(
            (0..RUNS).map(|_| ScriptResponse::fault(FaultKind::StallAfterMessageStart)).collect(),
        ));
        let settings = Settings { api_key: Some(Secret::new("sk-bench")), base_url: api.base_url(), ..Settings::default() };
        let agent = Arc::new(Agent::new(settings).unwrap());
        let mut samples = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let cancel = CancellationToken::new();
            let task = {
                let (agent, cancel) = (agent.clone(), cancel.clone());
                tokio::spawn(async move {
                    let spec = TurnSpec { turn_id: format!("t{i}"), session_id: "s".into(), prompt: "hi".into(), ..TurnSpec::default() };
                    agent.run_turn(spec, &NoTools, &NullObserver, cancel).await
                })
            };
            assert!(api.wait_for_requests(i + 1, Duration::from_secs(10)).await);
            // Let the response head and message_start arrive (the stall itself lasts forever).
            tokio::time::sleep(Duration::from_millis(2)).await;
            let t0 = Instant::now();
            cancel.cancel();
            let r = task.await.unwrap();
            samples.push(t0.elapsed());
            assert_eq!(r.status, TurnStatus::Cancelled);
        }
        assert!(api.wait_for_client_disconnects(RUNS, Duration::from_secs(10)).await);
        samples.sort();
        let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
        println!(
            "cancel_latency (stalled stream, {RUNS} runs): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target p99 <= 10 ms)",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            samples[samples.len() - 1].as_secs_f64() * 1e3
        );
    });
}
