//! `proto/schemas/` is generated from the Rust types and checked in; this test
//! fails when it is stale. Regenerate with
//! `SYNAPSE_UPDATE_SCHEMAS=1 cargo test -p synapse-protocol --test schemas`.
//! It also checks that `proto/openrpc.json` names every method and error code.

use std::path::PathBuf;

use serde_json::Value;
use synapse_protocol::{code, method, schema};

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

#[test]
fn schemas_are_fresh() {
    let dir = proto_dir().join("schemas");
    let update = std::env::var_os("SYNAPSE_UPDATE_SCHEMAS").is_some();
    if update {
        std::fs::create_dir_all(&dir).expect("mkdir");
    }
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    for (name, s) in schema::all() {
        let file = dir.join(format!("{name}.json"));
        expected_files.push(format!("{name}.json"));
        let want = schema::render(&s);
        if update {
            std::fs::write(&file, &want).expect("write schema");
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(want.as_str()) {
            stale.push(file.display().to_string());
        }
    }
    let mut extra = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("proto/schemas exists") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !expected_files.contains(&name) {
            if update {
                std::fs::remove_file(dir.join(&name)).expect("remove stale schema");
            } else {
                extra.push(name);
            }
        }
    }
    assert!(
        stale.is_empty() && extra.is_empty(),
        "proto/schemas is stale (changed: {stale:?}, not generated: {extra:?}); \
         run SYNAPSE_UPDATE_SCHEMAS=1 cargo test -p synapse-protocol --test schemas"
    );
}

#[test]
fn openrpc_names_every_method_and_error() {
    let text = std::fs::read_to_string(proto_dir().join("openrpc.json")).expect("openrpc.json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let names: Vec<&str> = doc["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    for m in method::CLIENT_TO_DAEMON
        .iter()
        .chain(method::DAEMON_TO_PEER)
    {
        assert!(names.contains(m), "openrpc.json lacks {m}");
    }
    let errors = doc["components"]["errors"]
        .as_object()
        .expect("components.errors");
    let codes: Vec<i64> = errors.values().filter_map(|e| e["code"].as_i64()).collect();
    for (c, _) in code::ALL {
        assert!(
            codes.contains(&i64::from(*c)),
            "openrpc.json lacks error {c}"
        );
    }
    // Every $ref points at a checked-in schema.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for r in refs {
        if let Some(file) = r.strip_prefix("schemas/") {
            let file = file.split('#').next().unwrap_or(file);
            assert!(
                proto_dir().join("schemas").join(file).exists(),
                "dangling $ref {r}"
            );
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                }
                collect_refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
