//! Shared helpers of the turn, crash and CLI suites: a daemon wired to a
//! scripted Messages API, a bounded-wait RPC connection, and a test host.

#![allow(dead_code, missing_docs)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use synapse_protocol::{ErrorObject, Id};
use synapse_rpc::{Client, ClientError, Incoming};
use synapse_test_support::daemon::{DaemonProcess, Options};
use synapse_test_support::messages_api::{Script, ScriptResponse, ScriptedApi};
use tokio::sync::mpsc;

/// The bound on every single wait in these suites.
pub const T: Duration = Duration::from_secs(10);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synapsed"))
}

/// Await `f`, failing the test after [`T`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(T, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {T:?} waiting for {what}"),
    }
}

/// Options pointing a daemon at `api` with a test key.
pub fn api_options(api: &ScriptedApi) -> Options {
    Options {
        env: vec![
            ("ANTHROPIC_API_KEY".into(), "test-key".into()),
            ("ANTHROPIC_BASE_URL".into(), api.base_url()),
            ("SYNAPSE_LOG".into(), "info".into()),
        ],
        ..Default::default()
    }
}

/// A daemon talking to `api`.
pub fn daemon(api: &ScriptedApi) -> DaemonProcess {
    DaemonProcess::spawn_with(&bin(), api_options(api)).expect("daemon starts")
}

/// A daemon talking to `api` on fixed socket and data dir (for restarts).
pub fn daemon_at(api: &ScriptedApi, socket: &Path, data_dir: &Path) -> DaemonProcess {
    let mut o = api_options(api);
    o.socket = Some(socket.to_owned());
    o.data_dir = Some(data_dir.to_owned());
    DaemonProcess::spawn_with(&bin(), o).expect("daemon starts")
}

/// A scripted server with these responses.
pub fn api(responses: Vec<ScriptResponse>) -> ScriptedApi {
    ScriptedApi::start(Script::new(responses))
}

pub fn stall() -> ScriptResponse {
    ScriptResponse::from_value(json!({"fault": "stall_after_message_start"})).expect("fault")
}

pub fn tool_use(
    text: &str,
    id: &str,
    name: &str,
    input: Value,
    inp: u64,
    out: u64,
) -> ScriptResponse {
    ScriptResponse::message(
        vec![
            json!({"type": "text", "text": text}),
            json!({"type": "tool_use", "id": id, "name": name, "input": input}),
        ],
        "tool_use",
        inp,
        out,
    )
}

pub fn text(t: &str, inp: u64, out: u64) -> ScriptResponse {
    ScriptResponse::message(
        vec![json!({"type": "text", "text": t})],
        "end_turn",
        inp,
        out,
    )
}

/// The `seq` of each event, asserting they count 0, 1, 2, … without a gap.
pub fn assert_contiguous_seqs(events: &[Value], what: &str) -> Vec<u64> {
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "{what}");
    seqs
}

/// One RPC connection with bounded waits.
pub struct Conn {
    pub client: Client,
}

impl Conn {
    pub async fn open(socket: &Path) -> Self {
        let client = within("connect", Client::connect(socket))
            .await
            .expect("connect");
        Self { client }
    }

    /// Call and expect success.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        match within(method, self.client.call_value(method, params)).await {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// Call and expect an error.
    pub async fn err(&self, method: &str, params: Value) -> ErrorObject {
        match within(method, self.client.call_value(method, params)).await {
            Ok(v) => panic!("{method} succeeded with {v}, expected an error"),
            Err(ClientError::Rpc(e)) => e,
            Err(e) => panic!("{method} failed at transport level: {e}"),
        }
    }

    /// Submit; returns (turn_id, session_id).
    pub async fn submit(&self, params: Value) -> (String, String) {
        let r = self.call("turn.submit", params).await;
        (
            r["turn_id"].as_str().expect("turn_id").to_owned(),
            r["session_id"].as_str().expect("session_id").to_owned(),
        )
    }

    /// Next `turn.event` params (any turn).
    pub async fn event(&mut self) -> Value {
        loop {
            match within("a turn.event", self.client.next_incoming()).await {
                Some(Incoming::Notification(n)) if n.method == "turn.event" => {
                    return n.params.expect("params")
                }
                Some(_) => continue,
                None => panic!("connection closed while waiting for a turn.event"),
            }
        }
    }

    /// Next event of `turn_id`.
    pub async fn event_of(&mut self, turn_id: &str) -> Value {
        loop {
            let e = self.event().await;
            if e["turn_id"] == turn_id {
                return e;
            }
        }
    }

    /// Events of `turn_id` until its `done` (inclusive).
    pub async fn until_done(&mut self, turn_id: &str) -> Vec<Value> {
        let mut v = Vec::new();
        loop {
            let e = self.event_of(turn_id).await;
            let done = e["type"] == "done";
            v.push(e);
            if done {
                return v;
            }
        }
    }

    /// Wait for the `status running` event of `turn_id`.
    pub async fn until_running(&mut self, turn_id: &str) {
        loop {
            let e = self.event_of(turn_id).await;
            if e["type"] == "status" && e["status"] == "running" {
                return;
            }
            assert_ne!(e["type"], "done", "turn ended before running: {e}");
        }
    }

    pub async fn turn_get(&self, turn_id: &str) -> Value {
        self.call("turn.get", json!({"turn_id": turn_id})).await
    }
}

pub fn probe_tool() -> Value {
    json!({"name": "probe", "description": "Looks at the scene.", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}, "read_only": true})
}

/// What a [`TestHost`] saw.
#[derive(Debug)]
pub enum Seen {
    Invoke { id: Id, params: Value },
    Cancel { params: Value },
}

/// How a [`TestHost`] answers `tool.invoke`.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// At once with `{is_error:false, content: auto_content(input)}`.
    Auto,
    /// After this many ms.
    Delayed(u64),
    /// Only when told to via [`TestHost::respond`].
    Hold,
}

/// The content an auto-answering host returns.
pub fn auto_content(params: &Value) -> Value {
    json!({"prims": 3, "path": params["input"]["path"].clone()})
}

#[derive(Debug)]
enum Cmd {
    Respond(Id, Value),
    Call(
        String,
        Value,
        tokio::sync::oneshot::Sender<Result<Value, ClientError>>,
    ),
}

/// A host connection served on its own task; everything it receives is
/// forwarded to `seen`.
pub struct TestHost {
    pub host_id: String,
    pub seen: mpsc::UnboundedReceiver<Seen>,
    cmd: Option<mpsc::UnboundedSender<Cmd>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn host_params() -> Value {
    json!({"name": "houdini", "houdini_version": "21.0.440", "pid": 4242, "hip": "/show/a.hip",
           "ui_available": true, "tools": [probe_tool()]})
}

impl TestHost {
    pub async fn register(socket: &Path, mode: Mode) -> Self {
        Self::register_with(socket, mode, host_params()).await
    }

    /// Register with these `host.register` params.
    pub async fn register_with(socket: &Path, mode: Mode, params: Value) -> Self {
        let mut client = within("host connect", Client::connect(socket))
            .await
            .expect("host connects");
        let r = within("host.register", client.call_value("host.register", params))
            .await
            .expect("host.register");
        let host_id = r["host_id"].as_str().expect("host_id").to_owned();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Cmd>();
        let (late_tx, mut late_rx) = mpsc::unbounded_channel::<(Id, Value)>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    inc = client.next_incoming() => match inc {
                        None => break,
                        Some(Incoming::Request(r)) if r.method == "tool.invoke" => {
                            let params = r.params.clone().unwrap_or(Value::Null);
                            let answer = json!({"is_error": false, "content": auto_content(&params)});
                            let _ = seen_tx.send(Seen::Invoke { id: r.id.clone(), params });
                            match mode {
                                Mode::Auto => {
                                    let _ = client.respond(r.id, Ok(answer)).await;
                                }
                                Mode::Delayed(ms) => {
                                    let tx = late_tx.clone();
                                    tokio::spawn(async move {
                                        tokio::time::sleep(Duration::from_millis(ms)).await;
                                        let _ = tx.send((r.id, answer));
                                    });
                                }
                                Mode::Hold => {}
                            }
                        }
                        Some(Incoming::Notification(n)) if n.method == "tool.cancel" => {
                            let _ = seen_tx.send(Seen::Cancel { params: n.params.unwrap_or(Value::Null) });
                        }
                        Some(_) => {}
                    },
                    late = late_rx.recv() => {
                        if let Some((id, v)) = late {
                            let _ = client.respond(id, Ok(v)).await;
                        }
                    }
                    cmd = cmd_rx.recv() => match cmd {
                        None => break,
                        Some(Cmd::Respond(id, v)) => {
                            let _ = client.respond(id, Ok(v)).await;
                        }
                        Some(Cmd::Call(m, p, tx)) => {
                            let _ = tx.send(client.call_value(&m, p).await);
                        }
                    },
                }
            }
            // Dropping the client closes the connection.
        });
        Self {
            host_id,
            seen,
            cmd: Some(cmd_tx),
            task: Some(task),
        }
    }

    /// The next thing the host received.
    pub async fn next(&mut self) -> Seen {
        within("the host to receive something", self.seen.recv())
            .await
            .expect("host task alive")
    }

    /// The next `tool.invoke` (id, params).
    pub async fn invoke(&mut self) -> (Id, Value) {
        loop {
            if let Seen::Invoke { id, params } = self.next().await {
                return (id, params);
            }
        }
    }

    /// The next `tool.cancel` params.
    pub async fn cancel_seen(&mut self) -> Value {
        loop {
            if let Seen::Cancel { params } = self.next().await {
                return params;
            }
        }
    }

    pub fn respond(&self, id: Id, result: Value) {
        self.cmd
            .as_ref()
            .expect("open")
            .send(Cmd::Respond(id, result))
            .expect("host task alive");
    }

    /// A call on the host's own connection.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cmd
            .as_ref()
            .expect("open")
            .send(Cmd::Call(method.into(), params, tx))
            .expect("host task alive");
        within(method, rx).await.expect("host task answered")
    }

    /// Close the host's connection and wait until it is closed.
    pub async fn disconnect(&mut self) {
        self.cmd = None;
        if let Some(t) = self.task.take() {
            let _ = within("host task end", t).await;
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Strip `cache_control` keys everywhere (the agent may add them to requests).
pub fn strip_cache_control(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "cache_control")
                .map(|(k, v)| (k.clone(), strip_cache_control(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_cache_control).collect()),
        other => other.clone(),
    }
}

/// Blocks of a message (`content` string → one text block).
pub fn blocks(m: &Value) -> Vec<Value> {
    match &m["content"] {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// The history invariants: starts with `user`, roles alternate, every
/// `tool_use` is answered by a `tool_result` (same id) in the next message,
/// and every `tool_result` answers a `tool_use` of the previous message.
pub fn check_history(session_id: &str, messages: &[Value]) {
    let ctx = || {
        format!(
            "session {session_id}: {}",
            serde_json::to_string_pretty(messages).unwrap_or_default()
        )
    };
    if messages.is_empty() {
        return;
    }
    assert_eq!(
        messages[0]["role"],
        "user",
        "first message must be user: {}",
        ctx()
    );
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"]
            .as_str()
            .unwrap_or_else(|| panic!("message {i} has no role: {}", ctx()));
        assert!(role == "user" || role == "assistant", "{}", ctx());
        if i > 0 {
            assert_ne!(
                messages[i - 1]["role"],
                m["role"],
                "roles must alternate at {i}: {}",
                ctx()
            );
        }
        let uses: Vec<String> = blocks(m)
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .map(|b| b["id"].as_str().expect("tool_use id").to_owned())
            .collect();
        if !uses.is_empty() {
            assert_eq!(role, "assistant", "{}", ctx());
            let next = messages
                .get(i + 1)
                .unwrap_or_else(|| panic!("tool_use at {i} has no next message: {}", ctx()));
            let results: Vec<String> = blocks(next)
                .iter()
                .filter(|b| b["type"] == "tool_result")
                .map(|b| b["tool_use_id"].as_str().expect("tool_use_id").to_owned())
                .collect();
            for u in &uses {
                assert!(
                    results.contains(u),
                    "tool_use {u} at {i} has no tool_result in the next message: {}",
                    ctx()
                );
            }
        }
        for b in blocks(m).iter().filter(|b| b["type"] == "tool_result") {
            assert_eq!(role, "user", "{}", ctx());
            let id = b["tool_use_id"].as_str().expect("id");
            let prev = &messages[i
                .checked_sub(1)
                .unwrap_or_else(|| panic!("tool_result in first message: {}", ctx()))];
            assert!(
                blocks(prev)
                    .iter()
                    .any(|p| p["type"] == "tool_use" && p["id"] == id),
                "tool_result {id} at {i} answers no tool_use of the previous message: {}",
                ctx()
            );
        }
    }
}

/// Run `synapsed ARGS --socket S` with a bound.
pub async fn run_cli(socket: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .arg("--socket")
        .arg(socket)
        .env_remove("SYNAPSE_SOCKET")
        .kill_on_drop(true);
    within("the synapsed CLI", cmd.output())
        .await
        .expect("run synapsed")
}
