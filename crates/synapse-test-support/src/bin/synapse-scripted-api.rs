//! `synapse-scripted-api --script FILE [--port N]`: serve a scripted
//! Messages API on 127.0.0.1 until killed. Prints one line
//! `{"listening":"http://127.0.0.1:PORT"}` on stdout once it accepts
//! connections. `GET /__requests` returns the recorded requests.

use std::io::Write;

use synapse_test_support::messages_api::{Script, ScriptedApi};

fn usage() -> ! {
    eprintln!("usage: synapse-scripted-api --script FILE [--port N]");
    std::process::exit(2)
}

fn main() {
    let mut script_path = None;
    let mut port: u16 = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--script" => script_path = Some(args.next().unwrap_or_else(|| usage())),
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let Some(path) = script_path else { usage() };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(1)
        }
    };
    let script = match Script::from_json(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("invalid script {path}: {e}");
            std::process::exit(1)
        }
    };
    let api = match ScriptedApi::start_on(script, port) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    // The Models API list and faults, from the same file (optional keys).
    if let Err(e) =
        serde_json::from_str::<serde_json::Value>(&text).and_then(|v| api.models().configure(&v))
    {
        eprintln!("invalid models in {path}: {e}");
        std::process::exit(1)
    }
    let line = serde_json::json!({"listening": api.base_url()});
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
