//! Tool round-trip through the plugin: the real daemon (in-process, the same
//! `Peer::request` path a turn's `tool.invoke` takes) sends `tool.invoke` to
//! the real Python plugin (`synapse_houdini`, in a child process) whose fake
//! Houdini main thread (a real thread pumping a deferred queue) runs a no-op
//! tool body with modal-dialog suppression, and the reply comes back.
//!
//! `cargo bench -p synapsed --bench tool_roundtrip`; numbers in docs/performance.md.

use std::time::{Duration, Instant};

use serde_json::json;
use synapse_daemon::DaemonConfig;
use synapse_protocol::{ToolInvokeParams, ToolInvokeResult};
use synapse_test_support::bench::{load_average, Figure, PluginHost, NOOP_TOOL};
use tokio_util::sync::CancellationToken;

const WARMUP: usize = 500;
const N: usize = 5000;

fn main() {
    println!("{}", load_average());
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = tmp.path().join("rt").join("synapsed.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let bound =
            synapse_daemon::bind(DaemonConfig::local(socket.clone(), tmp.path().join("data")))
                .expect("bind");
        let state = bound.state().clone();
        let stop = CancellationToken::new();
        let server = tokio::spawn(bound.serve(stop.clone()));
        let sock = socket.clone();
        let plugin = tokio::task::spawn_blocking(move || PluginHost::start(&sock))
            .await
            .expect("join")
            .expect("the plugin host");
        let host = state
            .hosts
            .all()
            .into_iter()
            .next()
            .expect("a registered host");

        let call = |i: usize| {
            let peer = host.peer.clone();
            async move {
                let params = ToolInvokeParams {
                    call_id: format!("toolu_bench_{i}"),
                    turn_id: "turn_bench".into(),
                    name: NOOP_TOOL.into(),
                    input: json!({}),
                    timeout_s: 30.0,
                };
                let t0 = Instant::now();
                let v = peer
                    .request("tool.invoke", &params, Duration::from_secs(32))
                    .await
                    .expect("reply");
                let took = t0.elapsed();
                let r: ToolInvokeResult = serde_json::from_value(v).expect("ToolInvokeResult");
                assert!(!r.is_error, "{:?}", r.content);
                took.as_secs_f64() * 1e6
            }
        };
        for i in 0..WARMUP {
            call(i).await;
        }
        let mut v = Vec::with_capacity(N);
        let t_all = Instant::now();
        for i in 0..N {
            v.push(call(WARMUP + i).await);
        }
        let wall = t_all.elapsed();
        Figure {
            what: "tool.invoke round trip via the plugin (no-op body, fake main thread)",
            target_us: Some((300.0, 1000.0)),
        }
        .print(&mut v, Some(wall));
        drop(plugin);
        stop.cancel();
        let _ = server.await;
    });
    println!("{}", load_average());
}
