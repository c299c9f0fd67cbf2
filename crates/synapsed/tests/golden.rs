//! Replays `proto/examples/*.ndjson` byte for byte against a live daemon.
//! See `proto/examples/README.md` for the format.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use synapse_test_support::daemon::{connect_blocking, DaemonProcess};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("proto/examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

/// Match `actual` against `pattern` where `$ANY_STRING` / `$ANY_NUMBER` stand for volatile values.
fn matches(pattern: &str, actual: &str) -> bool {
    let (mut p, mut a) = (pattern, actual);
    loop {
        if p.is_empty() {
            return a.is_empty();
        }
        if let Some(rest) = p.strip_prefix("$ANY_STRING") {
            let mut end = 0;
            let bytes = a.as_bytes();
            while end < bytes.len() && bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            p = rest;
            a = &a[end.min(a.len())..];
            continue;
        }
        if let Some(rest) = p.strip_prefix("$ANY_NUMBER") {
            let end = a
                .find(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c)))
                .unwrap_or(a.len());
            if end == 0 {
                return false;
            }
            p = rest;
            a = &a[end..];
            continue;
        }
        let next = p.find('$').unwrap_or(p.len()).max(1);
        let lit = &p[..next];
        match a.strip_prefix(lit) {
            Some(rest) => {
                p = &p[next..];
                a = rest;
            }
            None => return false,
        }
    }
}

#[test]
fn matcher_is_strict_outside_tokens() {
    assert!(matches(
        r#"{"a":"$ANY_STRING","n":$ANY_NUMBER}"#,
        r#"{"a":"x\"y","n":1.5}"#
    ));
    assert!(!matches(r#"{"a":"$ANY_STRING"}"#, r#"{"a": "x"}"#));
    assert!(!matches(r#"{"n":$ANY_NUMBER}"#, r#"{"n":"1"}"#));
}

#[test]
fn replay_golden_transcripts() {
    for file in examples() {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let d =
            DaemonProcess::spawn(&PathBuf::from(env!("CARGO_BIN_EXE_synapsed"))).expect("daemon");
        let (mut reader, mut writer) =
            connect_blocking(&d.socket, Duration::from_secs(10)).expect("connect");
        let socket_json = serde_json::to_string(&d.ready.socket).expect("json");
        let text = std::fs::read_to_string(&file).expect("read");
        for (n, raw) in text.lines().enumerate() {
            let step: Value = serde_json::from_str(raw).expect("step is JSON");
            let line = step["line"].as_str().expect("line");
            match step["dir"].as_str() {
                Some("send") => {
                    writer.write_all(line.as_bytes()).expect("write");
                    writer.write_all(b"\n").expect("write");
                }
                Some("recv") => {
                    let pattern = line
                        .replace("$PID", &d.ready.pid.to_string())
                        .replace("\"$SOCKET\"", &socket_json);
                    let mut got = String::new();
                    reader.read_line(&mut got).expect("a line in time");
                    let got = got
                        .strip_suffix('\n')
                        .unwrap_or_else(|| panic!("{name}:{}: no line", n + 1));
                    assert!(
                        matches(&pattern, got),
                        "{name}:{}:\n  want {pattern}\n  got  {got}",
                        n + 1
                    );
                }
                other => panic!("{name}:{}: bad dir {other:?}", n + 1),
            }
        }
    }
}
