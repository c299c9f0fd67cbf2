//! Embeds the Houdini plugin (`houdini-plugin/python`, `houdini-plugin/scripts`)
//! into the binary for `synapsed setup houdini`: writes `plugin_files.rs` in
//! `OUT_DIR` with one `(relative path, include_bytes!)` entry per file, sorted.

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

fn main() {
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
