//! `synapsed ask`'s approval prompt driven through a real pseudo-terminal
//! (Python's `pty` module runs the CLI as a terminal would): `y`, `n`, `a`,
//! a bad answer, Ctrl-C while waiting; and, without a terminal, `--yes` or a
//! denial whose reason says how to allow such calls. The pty tests are Unix
//! only (Python's `pty` needs a Unix pseudo-terminal); the rest runs on both.

mod common;

#[cfg(unix)]
use std::path::Path;

use common::*;
use serde_json::{json, Value};
#[cfg(unix)]
use synapse_test_support::daemon::test_python;

/// Runs `synapsed ask` under a pty, answers each prompt with the next of
/// `answers` (`^C` sends Ctrl-C), then reads to the end. Prints
/// `{"code": N, "output": "..."}`.
#[cfg(unix)]
const PTY_DRIVER: &str = r#"
import json, os, pty, select, sys, time
bin_path, sock, answers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
args = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("SYNAPSE_SOCKET", None)
    os.execv(bin_path, [bin_path, "ask"] + args + ["--socket", sock])
buf = b""
def read(deadline):
    global buf
    r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        chunk = b""
    if not chunk:
        raise EOFError
    buf += chunk
    return True
try:
    for i, a in enumerate(answers):
        deadline = time.time() + 10
        while buf.count(b"[a]lways") <= i:
            if not read(deadline):
                sys.exit("timed out waiting for prompt %d in %r" % (i + 1, buf))
        os.write(fd, b"\x03" if a == "^C" else (a + "\n").encode())
    deadline = time.time() + 10
    while True:
        if not read(deadline):
            sys.exit("timed out waiting for the end in %r" % buf)
except EOFError:
    pass
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "output": buf.decode("utf-8", "replace")}))
"#;

#[cfg(unix)]
async fn ask_in_pty(socket: &Path, answers: &[&str], args: &[&str]) -> (i32, String) {
    let mut cmd = tokio::process::Command::new(test_python());
    cmd.arg("-c")
        .arg(PTY_DRIVER)
        .arg(bin())
        .arg(socket)
        .arg(serde_json::to_string(answers).expect("json"))
        .args(args)
        .kill_on_drop(true);
    let out = within("synapsed ask in a pty", cmd.output())
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "pty driver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("driver output");
    (
        v["code"].as_i64().expect("code") as i32,
        v["output"].as_str().expect("output").to_owned(),
    )
}

fn edit_host() -> Value {
    json!({"name": "houdini", "houdini_version": "21.0.440", "pid": 4242, "hip": "/show/a.hip",
           "ui_available": true,
           "tools": [{"name": "edit", "description": "Edits the scene.",
                      "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
                      "read_only": false}]})
}

fn error_type_sent(api: &synapse_test_support::messages_api::ScriptedApi, i: usize) -> Value {
    let reqs = api.requests();
    let msgs = reqs[i].body["messages"].as_array().expect("messages");
    let b = blocks(msgs.last().expect("last"))
        .into_iter()
        .find(|b| b["type"] == "tool_result")
        .expect("tool_result");
    if b["is_error"] == true {
        serde_json::from_str(b["content"].as_str().expect("text")).expect("envelope")
    } else {
        Value::Null
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_prompt_answers_y_n_a_and_ctrl_c() {
    let api = api(vec![]);
    let d = daemon(&api);
    let mut h = TestHost::register_with(&d.socket, Mode::Auto, edit_host()).await;
    let round = |id: &str, path: &str| {
        [
            tool_use("Editing.", id, "edit", json!({"path": path}), 10, 2),
            text("Done.", 10, 2),
        ]
    };

    // y: the call runs.
    api.push(round("toolu_y", "/y"));
    let (code, out) = ask_in_pty(&d.socket, &["y"], &["rename y"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(r#"Allow edit {"path":"/y"}? [y]es / [n]o / [a]lways"#),
        "{out}"
    );
    assert_eq!(h.invoke().await.1["call_id"], "toolu_y");
    assert_eq!(error_type_sent(&api, 1), Value::Null);

    // A bad answer asks again; n denies, and the model is told.
    api.push(round("toolu_n", "/n"));
    let (code, out) = ask_in_pty(&d.socket, &["maybe", "n"], &["rename n"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("please answer y, n or a"), "{out}");
    let e = error_type_sent(&api, 3);
    assert_eq!(e["error_type"], "DeniedByUser", "{e}");
    assert!(
        e["error_message"]
            .as_str()
            .expect("m")
            .contains("answered no at the terminal"),
        "{e}"
    );

    // a: allowed for the session; the next turn of the session runs it
    // without a prompt even without a terminal.
    api.push(round("toolu_a", "/a"));
    let (code, out) = ask_in_pty(&d.socket, &["a"], &["rename a"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.invoke().await.1["call_id"], "toolu_a");
    let sid = out
        .split_whitespace()
        .skip_while(|w| *w != "session")
        .nth(1)
        .expect("session id")
        .to_owned();
    api.push(round("toolu_a2", "/a2"));
    let out = run_cli(&d.socket, &["ask", "again", "--session", &sid]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.invoke().await.1["call_id"], "toolu_a2");

    // Ctrl-C while waiting: the turn is cancelled, exit 130.
    api.push(round("toolu_c", "/c"));
    let (code, out) = ask_in_pty(&d.socket, &["^C"], &["rename c"]).await;
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("[cancelled]"), "{out}");
    assert!(h.seen.try_recv().is_err(), "the cancelled call never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_calls_are_denied_unless_yes() {
    let api = api(vec![
        tool_use("Editing.", "toolu_nt", "edit", json!({"path": "/x"}), 10, 2),
        text("I could not edit.", 10, 2),
        tool_use(
            "Editing.",
            "toolu_yes",
            "edit",
            json!({"path": "/x"}),
            10,
            2,
        ),
        text("Edited.", 10, 2),
    ]);
    let d = daemon(&api);
    let mut h = TestHost::register_with(&d.socket, Mode::Auto, edit_host()).await;
    let out = run_cli(&d.socket, &["ask", "rename it"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not on a terminal") && err.contains("--yes"),
        "{err}"
    );
    let e = error_type_sent(&api, 1);
    assert_eq!(e["error_type"], "DeniedByUser");
    let msg = e["error_message"].as_str().expect("m");
    assert!(msg.contains("--yes") && msg.contains("--mode"), "{msg}");

    let out = run_cli(&d.socket, &["ask", "rename it", "--yes", "--mode", "ask"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(h.invoke().await.1["call_id"], "toolu_yes");

    let out = run_cli(&d.socket, &["ask", "x", "--mode", "yolo"]).await;
    assert_eq!(out.status.code(), Some(2), "a bad --mode is bad usage");
}
