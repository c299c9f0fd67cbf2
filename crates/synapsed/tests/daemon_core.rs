//! The daemon core over a real socket: endpoint rules, framing, errors,
//! back-pressure, concurrency, lifecycle. Each test starts its own `synapsed`.
// The Unix socket suite (uid, modes, stale socket files); Windows: windows_daemon.rs.
#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use synapse_protocol::{code, DaemonStatus};
use synapse_rpc::Client;
use synapse_test_support::daemon::{serve_command, DaemonProcess, Options};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synapsed"))
}

fn spawn() -> DaemonProcess {
    DaemonProcess::spawn(&bin()).expect("daemon starts")
}

/// A blocking line-oriented connection for exact-byte checks.
struct Raw {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(path: &Path) -> Self {
        let stream = UnixStream::connect(path).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8(line[..line.len() - 1].to_vec()).expect("utf8");
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read within timeout");
            assert!(n > 0, "connection closed while waiting for a line");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn json(&mut self) -> Value {
        serde_json::from_str(&self.line()).expect("json line")
    }

    fn call(&mut self, id: i64, method: &str) -> Value {
        self.send(
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\"}}\n").as_bytes(),
        );
        self.json()
    }
}

#[test]
fn readiness_line_and_modes() {
    let d = spawn();
    assert!(d.ready.ready);
    assert_eq!(d.ready.protocol, 1);
    assert_eq!(d.ready.pid, d.child.id());
    assert_eq!(PathBuf::from(&d.ready.socket), d.socket);
    let dir = d.socket.parent().expect("dir");
    assert_eq!(std::fs::metadata(dir).expect("dir").mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(&d.socket).expect("sock").mode() & 0o777,
        0o600
    );
}

#[test]
fn status_over_the_socket() {
    let d = spawn();
    let mut c = Raw::connect(&d.socket);
    let v = c.call(1, "daemon.status");
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 1);
    let st: DaemonStatus = serde_json::from_value(v["result"].clone()).expect("DaemonStatus shape");
    assert_eq!(st.pid, d.child.id());
    assert_eq!(st.protocol, 1);
    assert_eq!(st.socket, d.ready.socket);
    assert!(st.hosts.is_empty());
    assert_eq!(v["result"]["auth"], "missing");
    let ts = v["result"]["started_at"].as_str().expect("started_at");
    assert!(
        ts.ends_with('Z') && ts.len() == "2026-11-23T20:41:07.123Z".len(),
        "{ts}"
    );
}

fn refused(socket_dir: &Path, prepare: impl FnOnce(&Path)) -> String {
    prepare(socket_dir);
    let tmp = tempfile::tempdir().expect("tmp");
    let out = serve_command(
        &bin(),
        &socket_dir.join("s.sock"),
        tmp.path(),
        &Options::default(),
    )
    .output()
    .expect("run");
    assert!(!out.status.success(), "daemon must refuse");
    assert!(out.stdout.is_empty(), "no readiness line when refusing");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn refuses_unsafe_socket_directories() {
    let tmp = tempfile::tempdir().expect("tmp");

    let writable = tmp.path().join("writable");
    let err = refused(&writable, |d| {
        std::fs::create_dir(d).expect("mkdir");
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    });
    assert!(err.contains("writable by group or others"), "{err}");

    let link = tmp.path().join("link");
    let err = refused(&link, |d| {
        let real = d.with_file_name("real");
        std::fs::create_dir(&real).expect("mkdir");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::symlink(&real, d).expect("symlink");
    });
    assert!(err.contains("symlink"), "{err}");

    let foreign = tmp.path().join("foreign");
    let err = refused(&foreign, |d| {
        std::fs::create_dir(d).expect("mkdir");
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let ok = Command::new("chown")
            .arg("65534:65534")
            .arg(d)
            .status()
            .expect("chown");
        assert!(ok.success());
    });
    assert!(err.contains("owned by uid 65534"), "{err}");
}

#[test]
fn creates_missing_directory_0700() {
    let tmp = tempfile::tempdir().expect("tmp");
    let socket = tmp.path().join("a/b/synapsed.sock");
    let d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            socket: Some(socket.clone()),
            ..Default::default()
        },
    )
    .expect("starts");
    assert_eq!(
        std::fs::metadata(socket.parent().expect("dir"))
            .expect("dir")
            .mode()
            & 0o777,
        0o700
    );
    drop(d);
}

#[test]
fn another_uid_is_closed_without_an_answer() {
    let d = spawn();
    // Open the file modes so only the uid check stands in the way.
    let dir = d.socket.parent().expect("dir");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).expect("chmod dir");
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666))
        .expect("chmod sock");
    let script = format!(
        "import os,socket\nos.setgid(65534); os.setuid(65534)\n\
         s=socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect({:?})\n\
         try:\n    s.sendall(b'{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.status\"}}\\n')\n    data=s.recv(65536)\n\
         except (BrokenPipeError, ConnectionResetError):\n    data=b''\n\
         print('EOF' if data==b'' else 'GOT:'+data.decode())\n",
        d.socket.display().to_string()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "EOF", "another uid must get no answer");
    // We are still served.
    let mut c = Raw::connect(&d.socket);
    assert!(c.call(1, "daemon.status")["result"].is_object());
}

#[test]
fn stale_socket_is_replaced() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let socket = dir.join("synapsed.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind stale"));
    assert!(socket.exists(), "a stale socket file is left behind");
    let d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            socket: Some(socket.clone()),
            ..Default::default()
        },
    )
    .expect("starts over a stale socket");
    let mut c = Raw::connect(&d.socket);
    assert!(c.call(1, "daemon.status")["result"].is_object());
}

#[test]
fn second_instance_is_refused_and_first_keeps_serving() {
    let d = spawn();
    let tmp = tempfile::tempdir().expect("tmp");
    let out = serve_command(&bin(), &d.socket, tmp.path(), &Options::default())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
    let mut c = Raw::connect(&d.socket);
    assert!(c.call(1, "daemon.status")["result"].is_object());
}

#[test]
fn refuses_to_replace_a_regular_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("run");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(dir.join("s.sock"), b"precious").expect("write");
    let out = serve_command(&bin(), &dir.join("s.sock"), tmp.path(), &Options::default())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(
        std::fs::read(dir.join("s.sock")).expect("still there"),
        b"precious"
    );
}

#[test]
fn oversize_line_answers_32007_and_keeps_serving() {
    let d = spawn();
    let mut c = Raw::connect(&d.socket);
    let mut big = Vec::with_capacity(17 << 20);
    big.extend_from_slice(br#"{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{"pad":""#);
    big.resize(16 * 1024 * 1024 + 10, b'x');
    big.extend_from_slice(b"\"}}\n");
    let writer = {
        let mut s = c.stream.try_clone().expect("clone");
        std::thread::spawn(move || s.write_all(&big))
    };
    let v = c.json();
    assert_eq!(
        v,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32007,"message":"Message too large","data":{"max_bytes":16777216}}})
    );
    writer.join().expect("join").expect("written");
    let v = c.call(2, "daemon.status");
    assert_eq!(v["id"], 2);
    assert!(v["result"].is_object());
}

#[test]
fn garbage_and_non_utf8_are_parse_errors() {
    let d = spawn();
    let mut c = Raw::connect(&d.socket);
    c.send(b"\xff\xfe\x00garbage\n");
    let v = c.json();
    assert_eq!(v["id"], Value::Null);
    assert_eq!(v["error"]["code"], code::PARSE_ERROR);
    assert!(v["error"]["data"].as_str().expect("data").contains("UTF-8"));
    c.send(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n");
    assert_eq!(c.json()["error"]["code"], code::PARSE_ERROR);
    c.send(b"{\"jsonrpc\":\"2.0\",\"id\":7}\n");
    let v = c.json();
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (json!(7), json!(code::INVALID_REQUEST))
    );
    assert!(c.call(8, "daemon.status")["result"].is_object());
}

#[test]
fn two_hundred_concurrent_clients() {
    let d = spawn();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let socket = d.socket.clone();
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let socket = socket.clone();
            tasks.push(tokio::spawn(async move {
                let c = Client::connect(&socket).await.expect("connect");
                let st: DaemonStatus = c.call("daemon.status", ()).await.expect("status");
                st.pid
            }));
        }
        let all = tokio::time::timeout(Duration::from_secs(30), futures_join(tasks))
            .await
            .expect("in time");
        assert_eq!(all.len(), 200);
    });
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<u32>>) -> Vec<u32> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_client_that_never_reads_stalls_only_itself() {
    let d = spawn();
    // The greedy client writes requests and never reads the answers.
    let greedy = UnixStream::connect(&d.socket).expect("connect");
    greedy
        .set_write_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let line =
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.status\",\"params\":{}}\n".repeat(1000);
    let mut writer = greedy.try_clone().expect("clone");
    let mut written = 0usize;
    let blocked = loop {
        match writer.write(&line) {
            Ok(n) => written += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break true
            }
            Err(e) => panic!("unexpected write error {e}"),
        }
        if written > 512 << 20 {
            break false;
        }
    };
    assert!(
        blocked,
        "the daemon must stop reading a peer that does not read ({written} bytes accepted)"
    );
    // Meanwhile a well-behaved client is served promptly.
    let mut c = Raw::connect(&d.socket);
    for i in 0..50 {
        assert!(c.call(i, "daemon.status")["result"].is_object());
    }
    let rss = rss_kib(d.child.id());
    assert!(rss < 64 * 1024, "daemon RSS {rss} KiB grew without bound");
}

#[test]
fn shutdown_method_exits_zero_and_removes_socket() {
    let mut d = spawn();
    let mut c = Raw::connect(&d.socket);
    let v = c.call(1, "daemon.shutdown");
    assert_eq!(v, json!({"jsonrpc":"2.0","id":1,"result":{}}));
    let st = d.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(st.success());
    assert!(!d.socket.exists(), "socket removed");
}

#[test]
fn sigterm_exits_zero_and_removes_socket() {
    let mut d = spawn();
    d.signal(15);
    let st = d.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(st.success(), "{st:?}");
    assert!(!d.socket.exists());
}

#[test]
fn exit_when_idle_waits_for_the_last_connection() {
    let mut d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            args: vec!["--exit-when-idle".into(), "0.3".into()],
            ..Default::default()
        },
    )
    .expect("starts");
    let start = Instant::now();
    let mut c = Raw::connect(&d.socket);
    // Held open past the idle time: the daemon must stay.
    for i in 0..8 {
        std::thread::sleep(Duration::from_millis(100)); // the behaviour under test is time itself
        assert!(
            c.call(i, "daemon.status")["result"].is_object(),
            "still serving at {:?}",
            start.elapsed()
        );
    }
    drop(c);
    let st = d
        .wait_exit(Duration::from_secs(10))
        .expect("exits once idle");
    assert!(st.success());
    assert!(!d.socket.exists());
}

#[test]
fn host_register_then_listed_then_dropped_on_disconnect() {
    let d = spawn();
    let mut host = Raw::connect(&d.socket);
    host.send(br#"{"jsonrpc":"2.0","id":1,"method":"host.register","params":{"name":"houdini","houdini_version":"21.0.440","pid":4242,"hip":"/show/a.hip","ui_available":true,"tools":[{"name":"synapse_inspect_stage","description":"d","input_schema":{"type":"object"},"read_only":true}]}}
"#);
    let v = host.json();
    let host_id = v["result"]["host_id"].as_str().expect("host_id").to_owned();
    let mut c = Raw::connect(&d.socket);
    let st = c.call(1, "daemon.status");
    let hosts = st["result"]["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["host_id"], host_id.as_str());
    assert_eq!(hosts[0]["tools"], 1);
    assert_eq!(hosts[0]["pid"], 4242);
    assert_eq!(hosts[0]["hip"], "/show/a.hip");
    drop(host);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = c.call(2, "daemon.status");
        if st["result"]["hosts"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host not dropped after disconnect"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn host_register_rejects_bad_tools_with_data() {
    let d = spawn();
    let mut c = Raw::connect(&d.socket);
    c.send(br#"{"jsonrpc":"2.0","id":1,"method":"host.register","params":{"name":"h","houdini_version":"x","pid":1,"ui_available":true,"tools":[{"name":"bad name","description":"","input_schema":{},"read_only":true}]}}
"#);
    let v = c.json();
    assert_eq!(v["error"]["code"], code::INVALID_PARAMS);
    assert!(v["error"]["data"]
        .as_str()
        .expect("data")
        .contains("tools[0].name"));
}

#[test]
fn cli_status_json_human_and_no_daemon() {
    let d = spawn();
    let out = Command::new(bin())
        .args(["status", "--json", "--socket"])
        .arg(&d.socket)
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["pid"], d.child.id());
    let out = Command::new(bin())
        .args(["status", "--socket"])
        .arg(&d.socket)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("pid {}", d.child.id())) && text.contains("hosts     none"),
        "{text}"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(bin())
        .args(["status", "--socket"])
        .arg(tmp.path().join("nope.sock"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no daemon answers") && err.contains("synapsed serve"),
        "{err}"
    );
}

#[test]
fn cli_stop() {
    let mut d = spawn();
    let out = Command::new(bin())
        .args(["stop", "--socket"])
        .arg(&d.socket)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(d
        .wait_exit(Duration::from_secs(10))
        .expect("exits")
        .success());
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let mut d = DaemonProcess::spawn_with(
        &bin(),
        Options {
            env: vec![("SYNAPSE_LOG_FORMAT".into(), "json".into())],
            ..Default::default()
        },
    )
    .expect("starts");
    let mut c = Raw::connect(&d.socket);
    assert!(c.call(1, "daemon.shutdown")["result"].is_object());
    assert!(d
        .wait_exit(Duration::from_secs(10))
        .expect("exits")
        .success());
    let log = d.stderr();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string()
                && v["timestamp"].is_string()
                && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(log.contains("synapsed ready") && log.contains("daemon stopped"));
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        &["serve", "--exit-when-idle", "abc"][..],
        &["frobnicate"][..],
        &["ask"][..],
    ] {
        let out = Command::new(bin()).args(args).output().expect("run");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}
