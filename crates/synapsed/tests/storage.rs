//! Storage faults (design §10, issue "never lie about a turn"): a disk that
//! fills mid-turn, read-only databases and file systems, and two daemons on
//! one data dir. The machines run the tests as root, so real mounts are
//! used (a small tmpfs, read-only bind mounts); where mounting is refused
//! the test says so and returns. On Windows only the tests without mounts
//! are built.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use synapse_test_support::daemon::{serve_command, Options};
use synapse_test_support::test_socket;

/// A mount made by a test, unmounted (lazily, even if busy) when dropped.
struct Mount(PathBuf);

impl Mount {
    fn run(args: &[&str]) -> bool {
        Command::new("mount")
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// A tmpfs of `size` at `dir`, or `None` when mounting is refused.
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).ok()?;
        let opt = format!("size={size},mode=0700");
        Self::run(&["-t", "tmpfs", "-o", &opt, "tmpfs", &dir.to_string_lossy()])
            .then(|| Mount(dir.to_owned()))
    }

    /// `path` (a file or a directory) bound read-only onto itself.
    fn read_only(path: &Path) -> Option<Mount> {
        let p = path.to_string_lossy();
        if !Self::run(&["--bind", &p, &p]) {
            return None;
        }
        let m = Mount(path.to_owned());
        Self::run(&["-o", "remount,ro,bind", &p]).then_some(m)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn skip(why: &str) {
    eprintln!("SKIPPED: {why} (mounting needs root; these tests run as root in CI)");
}

/// Start a daemon that must refuse to start: its exit status and stderr.
fn start_refused(socket: &Path, data: &Path) -> (ExitStatus, String) {
    let mut child = serve_command(&bin(), socket, data, &Options::default())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + T;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            assert!(
                out.stdout.is_empty(),
                "a refused start prints no readiness line: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            return (st, String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn big_text(kib: usize) -> String {
    "Houdini nodes and parameters, explained at length. ".repeat(kib * 1024 / 51 + 1)
}

// Linux mounts (tmpfs, read-only bind mounts); nothing to mount on Windows.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_mid_turn_is_reported_as_a_storage_error_and_nothing_saved_is_lost() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let Some(_mount) = Mount::tmpfs(&data, "4m") else {
        return skip("cannot mount a tmpfs");
    };
    let socket = test_socket(tmp.path());
    let api = api(vec![text("first answer", 10, 5)]);
    let d = daemon_at(&api, &socket, &data);
    let mut c = Conn::open(&socket).await;

    // A turn that completes while there is room.
    let (t1, sid) = c.submit(json!({"prompt": "hello"})).await;
    let done = c.until_done(&t1).await;
    let r1 = done.last().expect("done")["result"].clone();
    assert_eq!(r1["status"], "complete", "{r1}");

    // Fill the file system, leaving less than the next answer needs.
    let filler = data.join("filler");
    let free = fs_free_bytes(&data);
    let keep = 96 * 1024;
    std::fs::write(&filler, vec![0u8; free.saturating_sub(keep) as usize]).expect("fill");
    api.push([text(&big_text(512), 10, 500)]);
    let (t2, _) = c
        .submit(json!({"prompt": "tell me everything", "session_id": sid}))
        .await;
    let done = c.until_done(&t2).await;
    let r2 = done.last().expect("done")["result"].clone();
    assert_eq!(
        r2["status"], "api_error",
        "never `complete` when it was not saved: {r2}"
    );
    assert_eq!(r2["error"]["kind"], "storage", "{r2}");
    let msg = r2["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("could not save"), "says what happened: {msg}");
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["storage"]["ok"], false, "{st}");
    assert!(st["storage"]["error"].is_string(), "{st}");
    // turn.get agrees with what `done` said.
    let info = c.turn_get(&t2).await;
    assert_eq!(info["status"], "api_error", "{info}");

    // Room again: turns work, and the fault clears.
    std::fs::remove_file(&filler).expect("unfill");
    api.push([text("back again", 10, 5)]);
    let (t3, _) = c
        .submit(json!({"prompt": "still there?", "session_id": sid}))
        .await;
    let done = c.until_done(&t3).await;
    let r3 = done.last().expect("done")["result"].clone();
    assert_eq!(r3["status"], "complete", "{r3}");
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["storage"]["ok"], true, "{st}");
    drop(c);
    drop(d);

    // After a restart, every answer reported complete is still there.
    let _d = daemon_at(&api, &socket, &data);
    let c = Conn::open(&socket).await;
    for (t, r) in [(&t1, &r1), (&t3, &r3)] {
        let info = c.turn_get(t).await;
        assert_eq!(info["status"], "complete", "{info}");
        assert_eq!(info["result"]["text"], r["text"], "{info}");
    }
    let info = c.turn_get(&t2).await;
    assert!(
        matches!(info["status"].as_str(), Some("api_error" | "interrupted")),
        "{info}"
    );
    let detail = c.call("session.get", json!({"session_id": sid})).await;
    check_history(&sid, detail["messages"].as_array().expect("messages"));
}

// Linux mounts (tmpfs); nothing to mount on Windows.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_whose_commit_fails_is_a_storage_error_and_its_turn_never_existed() {
    // A turn started at submit sends its first request while its commit
    // runs (ADR 0035). When that commit fails, the submit is answered
    // with the storage error, no event of the turn ever goes out, nothing
    // of it is stored, and the daemon goes on.
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let Some(_mount) = Mount::tmpfs(&data, "4m") else {
        return skip("cannot mount a tmpfs");
    };
    let socket = test_socket(tmp.path());
    let api = api(vec![text("first answer", 10, 5)]);
    let d = daemon_at(&api, &socket, &data);
    let mut c = Conn::open(&socket).await;
    let (t1, sid) = c.submit(json!({"prompt": "hello"})).await;
    let done = c.until_done(&t1).await;
    assert_eq!(done.last().expect("done")["result"]["status"], "complete");

    // No room for the next turn's prompt (a new session, started at once).
    let filler = data.join("filler");
    let free = fs_free_bytes(&data);
    std::fs::write(&filler, vec![0u8; free.saturating_sub(16 * 1024) as usize]).expect("fill");
    let err = c.err("turn.submit", json!({"prompt": big_text(256)})).await;
    assert_eq!(err.code, -32603, "{err:?}");
    let data_of = err.data.clone().unwrap_or_default();
    assert_eq!(data_of["kind"], "storage", "{err:?}");
    assert!(
        data_of["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not save")),
        "says what happened: {err:?}"
    );
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["storage"]["ok"], false, "{st}");

    // Room again: the daemon goes on. The dropped turn's request may or may
    // not have reached the API before it was cut: either way one answer
    // is left for the next turn.
    std::fs::remove_file(&filler).expect("unfill");
    api.push([text("back again", 10, 5), text("back again", 10, 5)]);
    let (t3, _) = c
        .submit(json!({"prompt": "still there?", "session_id": sid}))
        .await;
    // Every event this connection got since the failed submit is t3's: the
    // dropped turn's (held until its answer) never went out.
    loop {
        let e = c.event().await;
        assert_eq!(
            e["turn_id"],
            t3.as_str(),
            "only answered turns have events: {e}"
        );
        if e["type"] == "done" {
            assert_eq!(e["result"]["status"], "complete", "{e}");
            break;
        }
    }
    // The dropped turn never finished either (it never started for anyone),
    // and nothing of it failed later.
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["turns"]["finished"], 2, "{st}");
    assert_eq!(st["turns"]["running"], 0, "{st}");
    assert_eq!(st["storage"]["ok"], true, "{st}");
    drop(c);
    drop(d);

    // After a restart: the one session, its two turns, nothing else.
    let _d = daemon_at(&api, &socket, &data);
    let c = Conn::open(&socket).await;
    let list = c.call("session.list", json!({})).await;
    let list = list.as_array().expect("list");
    assert_eq!(
        list.len(),
        1,
        "the dropped turn's new session was never stored: {list:?}"
    );
    let detail = c.call("session.get", json!({"session_id": sid})).await;
    let turns = detail["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 2, "{detail}");
    for t in turns {
        assert_eq!(t["status"], "complete", "{t}");
    }
    check_history(&sid, detail["messages"].as_array().expect("messages"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_to_an_unknown_session_sends_no_request() {
    // The overlap of ADR 0035 starts the request before the commit: a
    // session that does not exist is refused before that.
    let api = api(vec![text("never", 1, 1)]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    let err = c
        .err(
            "turn.submit",
            json!({"prompt": "hi", "session_id": "sess_nope"}),
        )
        .await;
    assert_eq!(err.code, -32001, "{err:?}");
    // A turn that does run afterwards gets the one scripted answer.
    let (t, _) = c.submit(json!({"prompt": "hi"})).await;
    let r = c
        .call("turn.wait", json!({"turn_id": t, "timeout_s": 10.0}))
        .await;
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(api.requests().len(), 1, "one request: the turn that exists");
}

fn fs_free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df avail")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_dir_refuses_and_names_the_first() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let api = api(vec![text("still mine", 1, 1)]);
    let first = daemon_at(&api, &test_socket(&tmp.path().join("a")), &data);
    let (st, err) = start_refused(&test_socket(&tmp.path().join("b")), &data);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("pid {}", first.ready.pid)) && err.contains("data directory"),
        "names the holder: {err}"
    );
    assert_eq!(
        err.matches("another synapsed").count(),
        1,
        "said once: {err}"
    );
    // The first is untouched and keeps working.
    let mut c = Conn::open(&first.socket).await;
    let (t, _) = c.submit(json!({"prompt": "are you fine?"})).await;
    let done = c.until_done(&t).await;
    assert_eq!(done.last().expect("done")["result"]["status"], "complete");
}

// Linux mounts (tmpfs, read-only bind mounts); nothing to mount on Windows.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_file_is_a_start_up_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let socket = test_socket(tmp.path());
    {
        let api = api(vec![]);
        let mut d = daemon_at(&api, &socket, &data);
        d.signal(15);
        assert!(d.wait_exit(T).is_some());
    }
    let db = data.join("synapse.db");
    // WAL companions must not let SQLite write around the read-only file.
    for f in ["synapse.db-wal", "synapse.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let Some(_ro) = Mount::read_only(&db) else {
        return skip("cannot bind-mount the database read-only");
    };
    let (st, err) = start_refused(&socket, &data);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("cannot be written"), "clear message: {err}");
}

// Linux mounts (tmpfs, read-only bind mounts); nothing to mount on Windows.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_on_a_read_only_file_system_is_a_start_up_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    let Some(_ro) = Mount::read_only(&data) else {
        return skip("cannot bind-mount the data dir read-only");
    };
    let (st, err) = start_refused(&test_socket(tmp.path()), &data);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("cannot be written"), "clear message: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("synapsed:")).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_timeouts_from_a_host_are_refused_and_never_panic() {
    let api = api(vec![]);
    let d = daemon(&api);
    let c = Conn::open(&d.socket).await;
    for bad in [json!(1e300), json!(-1), json!(0), json!(3600.5)] {
        let mut p = host_params();
        p["tools"][0]["timeout_s"] = bad.clone();
        let e = c.err("host.register", p).await;
        assert_eq!(e.code, -32602, "{bad}: {e:?}");
        let data = e.data.as_ref().and_then(Value::as_str).unwrap_or_default();
        assert!(data.contains("timeout_s"), "{data}");
    }
    for bad in [json!(1e300), json!(-0.5), json!(7200)] {
        let e = c
            .err("turn.wait", json!({"turn_id": "t", "timeout_s": bad}))
            .await;
        assert_eq!(e.code, -32602, "{bad}: {e:?}");
    }
    // Alive and well.
    let st = c.call("daemon.status", json!({})).await;
    assert_eq!(st["protocol"], 1);
}
