//! Embeds the Houdini plugin (`houdini-plugin/python`, `houdini-plugin/scripts`)
//! into the binary for `synapsed setup houdini`: writes `plugin_files.rs` in
//! `OUT_DIR` with one `(relative path, include_bytes!)` entry per file, sorted.
//!
//! Also, for release builds on Linux (glibc) with the default linker: links
//! with GNU gold and identical code folding (ADR 0033, 1.1 MB less), when
//! `cc -fuse-ld=gold` works; `SYNAPSE_ICF=0` turns it off.

use std::path::{Path, PathBuf};

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "__pycache__" || name.ends_with(".pyc") || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, p.clone()));
        }
    }
}

/// Identical code folding at link time: release, Linux glibc, the default
/// linker (`cc`, none configured: not zig, not a cross linker), gold there.
fn link_with_icf() {
    println!("cargo:rerun-if-env-changed=SYNAPSE_ICF");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("SYNAPSE_ICF") == "0"
        || var("PROFILE") != "release"
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
        || std::env::var_os("RUSTC_LINKER").is_some()
    {
        return;
    }
    let gold = std::process::Command::new("cc")
        .args(["-fuse-ld=gold", "-Wl,--version"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && (String::from_utf8_lossy(&o.stdout).contains("GNU gold")
                    || String::from_utf8_lossy(&o.stderr).contains("GNU gold"))
        });
    if gold {
        println!("cargo:rustc-link-arg-bin=synapsed=-fuse-ld=gold");
        println!("cargo:rustc-link-arg-bin=synapsed=-Wl,--icf=all");
    } else {
        println!(
            "cargo:warning=GNU gold not found (cc -fuse-ld=gold): synapsed is linked without \
             identical code folding, about 1.1 MB larger (ADR 0033)"
        );
    }
}

fn main() {
    link_with_icf();
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let plugin = manifest.join("../../houdini-plugin");
    let mut files = Vec::new();
    for sub in ["python", "scripts"] {
        println!("cargo:rerun-if-changed={}", plugin.join(sub).display());
        walk(&plugin, &plugin.join(sub), &mut files);
    }
    files.sort();
    let mut code = String::from("/// The plugin files: path relative to the plugin root, content.\npub const PLUGIN_FILES: &[(&str, &[u8])] = &[\n");
    for (rel, path) in &files {
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("plugin_files.rs");
    if let Err(e) = std::fs::write(&out, code) {
        panic!("cannot write {}: {e}", out.display());
    }
}
