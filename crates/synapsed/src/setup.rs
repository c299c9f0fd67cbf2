//! `synapsed setup houdini [--prefs-dir DIR]... [--dry-run] [--remove] [--force]`
//! (design §15).
//!
//! - The binary carries the plugin (`houdini-plugin/python`, `scripts`, via
//!   `build.rs`). It writes those files under the data dir
//!   (`<data>/houdini-plugin`, only files that differ; stale ones removed)
//!   and `packages/synapse.json` into each Houdini user prefs dir: the ones
//!   given with `--prefs-dir`, else `$HOUDINI_USER_PREF_DIR` and every
//!   `~/houdiniX.Y` (Linux), `~/Library/Preferences/houdini/X.Y` (macOS),
//!   `%USERPROFILE%\Documents\houdiniX.Y` (Windows) that exists.
//!   `$HOUDINI_USER_PREF_DIR` may hold `__HVER__` (every matching dir found).
//!   Windows follows Houdini's own `$HOME`: `%HOME%` when set (Houdini then
//!   keeps `houdiniX.Y` there), else the Documents folder (the known folder,
//!   which may be redirected, e.g. to OneDrive, and `%USERPROFILE%\Documents`).
//! - Paths in the package JSON are written with `/` on every OS (Houdini and
//!   Python take them on Windows; no `\\?\` verbatim prefix).
//! - The package JSON sets `SYNAPSE_ROOT` to the plugin files, `SYNAPSED_BIN`
//!   to this binary, appends `$SYNAPSE_ROOT/python` to `PYTHONPATH`, adds
//!   `$SYNAPSE_ROOT` to `hpath`, and carries `SYNAPSE_PACKAGE_BY` as the mark
//!   of its writer. A `synapse.json` without that mark belongs to another tool
//!   and is never replaced or removed without `--force`.
//! - Idempotent: a second run reports `unchanged`. `--dry-run` writes nothing
//!   and says what it would do. `--remove` undoes it.
//! - Exit 0 when every prefs dir was handled; 1 when none was found or one
//!   failed (unwritable, foreign file); each line says what happened where.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

mod plugin {
    include!(concat!(env!("OUT_DIR"), "/plugin_files.rs"));
}

pub use plugin::PLUGIN_FILES;

mod prefs;
pub use prefs::{package_path, prefs_dirs, prefs_dirs_in, user_pref_dirs, windows_prefs_roots, Os};

/// The package file name in `packages/`.
pub const PACKAGE_FILE: &str = "synapse.json";
/// The env variable that marks a package JSON as ours.
pub const MARKER_VAR: &str = "SYNAPSE_PACKAGE_BY";
/// Its value.
pub const MARKER: &str = "synapsed setup houdini";

/// `synapsed setup ...`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    #[command(subcommand)]
    pub target: SetupTarget,
}

/// What to set up.
#[derive(Debug, Subcommand)]
pub enum SetupTarget {
    /// Install the Houdini plugin: files under the data dir, packages/synapse.json in each Houdini prefs dir.
    Houdini(HoudiniArgs),
}

/// Flags of `setup houdini`.
#[derive(Debug, Args)]
pub struct HoudiniArgs {
    /// A Houdini user prefs dir (e.g. ~/houdini21.0); repeatable. Default: every one found.
    #[arg(long = "prefs-dir", value_name = "DIR")]
    pub prefs_dirs: Vec<PathBuf>,
    /// Say what would be done; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Undo: remove the package JSON and the plugin files.
    #[arg(long)]
    pub remove: bool,
    /// Replace (or remove) a synapse.json written by another tool.
    #[arg(long)]
    pub force: bool,
    /// Data dir (the plugin files go in DIR/houdini-plugin).
    #[arg(long, env = "SYNAPSE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// The plugin's version (`__version__` of the embedded `__init__.py`).
pub fn plugin_version() -> &'static str {
    PLUGIN_FILES
        .iter()
        .find(|(p, _)| *p == "python/synapse_houdini/__init__.py")
        .and_then(|(_, b)| std::str::from_utf8(b).ok())
        .and_then(version_of)
        .unwrap_or("unknown")
}

/// `__version__ = "x"` of a Python source.
pub fn version_of(source: &str) -> Option<&str> {
    source.lines().find_map(|l| {
        let rest = l
            .trim()
            .strip_prefix("__version__")?
            .trim()
            .strip_prefix('=')?
            .trim();
        rest.strip_prefix('"')?.split('"').next()
    })
}

/// The package JSON for plugin files at `root` and the binary `exe`.
pub fn package_json(root: &Path, exe: Option<&Path>) -> String {
    package_json_for(Os::current(), root, exe)
}

/// [`package_json`] with the paths written as on `os`.
pub fn package_json_for(os: Os, root: &Path, exe: Option<&Path>) -> String {
    let mut env = vec![
        json!({ MARKER_VAR: format!("{MARKER} {}", env!("CARGO_PKG_VERSION")) }),
        json!({ "SYNAPSE_ROOT": package_path(root, os) }),
    ];
    if let Some(exe) = exe {
        env.push(json!({ "SYNAPSED_BIN": package_path(exe, os) }));
    }
    env.push(json!({ "PYTHONPATH": { "value": "$SYNAPSE_ROOT/python", "method": "append" } }));
    let v = json!({ "load_package_once": true, "env": env, "hpath": "$SYNAPSE_ROOT" });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// Whether a package JSON text was written by `setup houdini`.
pub fn is_ours(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("env").and_then(Value::as_array).cloned())
        .is_some_and(|env| env.iter().any(|e| e.get(MARKER_VAR).is_some()))
}

/// The default data dir, as `serve`'s: `$XDG_DATA_HOME/synapse` or
/// `~/.local/share/synapse`; on Windows the `directories` local data dir
/// (`%LOCALAPPDATA%\synapse\data`).
pub fn default_data_dir() -> PathBuf {
    if Os::current() == Os::Windows {
        if let Some(p) = directories::ProjectDirs::from("", "", "synapse") {
            return p.data_local_dir().to_owned();
        }
    }
    std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".local/share")))
        .unwrap_or_else(std::env::temp_dir)
        .join("synapse")
}

/// The user's home (`HOME`, or `USERPROFILE` on Windows).
pub fn home() -> Option<PathBuf> {
    env_path("HOME").or_else(|| env_path("USERPROFILE"))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The prefs dirs to use: the given ones, else those found here.
pub fn target_dirs(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let pref = std::env::var("HOUDINI_USER_PREF_DIR").ok();
    if Os::current() == Os::Windows {
        let documents =
            directories::UserDirs::new().and_then(|u| u.document_dir().map(Path::to_owned));
        let roots = windows_prefs_roots(
            env_path("HOME").as_deref(),
            documents.as_deref(),
            env_path("USERPROFILE").as_deref(),
        );
        return prefs_dirs_in(Os::Windows, &roots, pref.as_deref());
    }
    match home() {
        Some(h) => prefs_dirs(Os::current(), &h, pref.as_deref()),
        None => user_pref_dirs(pref.as_deref()),
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let r = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Write the plugin files under `root` (only those that differ) and remove
/// stale files; returns (written, unchanged, removed).
fn install_files(root: &Path, dry_run: bool) -> std::io::Result<(usize, usize, usize)> {
    let (mut written, mut same, mut removed) = (0, 0, 0);
    for (rel, bytes) in PLUGIN_FILES {
        let path = root.join(rel);
        if std::fs::read(&path).is_ok_and(|b| b == *bytes) {
            same += 1;
            continue;
        }
        written += 1;
        if !dry_run {
            write_atomic(&path, bytes)?;
        }
    }
    for sub in ["python", "scripts"] {
        let mut stack = vec![root.join(sub)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p
                    .strip_prefix(root)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                if !PLUGIN_FILES.iter().any(|(f, _)| *f == rel) && !rel.ends_with(".pyc") {
                    removed += 1;
                    if !dry_run {
                        std::fs::remove_file(&p)?;
                    }
                }
            }
        }
    }
    Ok((written, same, removed))
}

/// What happened to one prefs dir.
fn handle_prefs(dir: &Path, package: &str, args: &HoudiniArgs) -> Result<String, String> {
    let target = dir.join("packages").join(PACKAGE_FILE);
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let foreign = existing.as_deref().is_some_and(|t| !is_ours(t));
    if foreign && !args.force {
        return Err(format!(
            "a {PACKAGE_FILE} from another tool is there; left alone (use --force to {} it)",
            if args.remove { "remove" } else { "replace" }
        ));
    }
    let would = if args.dry_run { "would be " } else { "" };
    if args.remove {
        if existing.is_none() {
            return Ok("not installed".into());
        }
        if !args.dry_run {
            std::fs::remove_file(&target).map_err(|e| format!("cannot remove it: {e}"))?;
        }
        return Ok(format!("{would}removed"));
    }
    if existing.as_deref() == Some(package) {
        return Ok("unchanged".into());
    }
    if !args.dry_run {
        write_atomic(&target, package.as_bytes()).map_err(|e| format!("cannot write it: {e}"))?;
    }
    Ok(format!(
        "{would}{}",
        match (existing.is_some(), foreign) {
            (false, _) => "written",
            (true, true) => "replaced (--force)",
            (true, false) => "updated",
        }
    ))
}

pub fn run(args: SetupArgs) -> ExitCode {
    let SetupTarget::Houdini(args) = args.target;
    houdini(&args)
}

fn houdini(args: &HoudiniArgs) -> ExitCode {
    let data = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let root = data.join("houdini-plugin");
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok());
    let package = package_json(&root, exe.as_deref());
    let dirs = target_dirs(&args.prefs_dirs);
    let mut failed = false;
    if dirs.is_empty() {
        eprintln!(
            "synapsed: no Houdini prefs dir found (none of ~/houdiniX.Y, ~/Library/Preferences/houdini/X.Y, Documents\\houdiniX.Y, $HOUDINI_USER_PREF_DIR); start Houdini once, or name one with --prefs-dir"
        );
        failed = true;
    }
    let would = if args.dry_run { "would be " } else { "" };
    if args.remove {
        if root.exists() {
            if !args.dry_run {
                if let Err(e) = std::fs::remove_dir_all(&root) {
                    eprintln!("synapsed: cannot remove {}: {e}", root.display());
                    failed = true;
                }
            }
            println!("plugin files {}: {would}removed", root.display());
        }
    } else {
        match install_files(&root, args.dry_run) {
            Ok((0, same, 0)) => println!(
                "plugin {} in {}: unchanged ({same} files)",
                plugin_version(),
                root.display()
            ),
            Ok((w, same, r)) => println!(
                "plugin {} in {}: {w} file{} {would}written, {same} unchanged{}",
                plugin_version(),
                root.display(),
                if w == 1 { "" } else { "s" },
                if r > 0 {
                    format!(", {r} stale {would}removed")
                } else {
                    String::new()
                }
            ),
            Err(e) => {
                eprintln!(
                    "synapsed: cannot write the plugin files in {}: {e}",
                    root.display()
                );
                return ExitCode::from(1);
            }
        }
    }
    for dir in &dirs {
        let target = dir.join("packages").join(PACKAGE_FILE);
        match handle_prefs(dir, &package, args) {
            Ok(what) => println!("{}: {what}", target.display()),
            Err(why) => {
                eprintln!("synapsed: {}: {why}", target.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_embedded_with_its_version() {
        assert!(PLUGIN_FILES
            .iter()
            .any(|(p, _)| *p == "scripts/python/uiready.py"));
        assert!(PLUGIN_FILES
            .iter()
            .any(|(p, _)| *p == "python/synapse_houdini/host.py"));
        assert!(PLUGIN_FILES.iter().all(|(p, _)| !p.contains("__pycache__")));
        // Both transports ship: the plugin picks one by platform.
        for t in ["transport", "transport_unix", "transport_pipe"] {
            let path = format!("python/synapse_houdini/{t}.py");
            assert!(PLUGIN_FILES.iter().any(|(p, _)| *p == path), "{path}");
        }
        assert_ne!(plugin_version(), "unknown");
        assert_eq!(
            version_of("x = 1\n__version__ = \"1.2.3\"\n"),
            Some("1.2.3")
        );
    }

    #[test]
    fn our_package_is_marked() {
        let p = package_json(
            Path::new("/data/synapse/houdini-plugin"),
            Some(Path::new("/bin/synapsed")),
        );
        assert!(is_ours(&p));
        let v: Value = serde_json::from_str(&p).expect("json");
        assert_eq!(v["hpath"], "$SYNAPSE_ROOT");
        assert!(!is_ours(r#"{"env":[{"SYNAPSE_ROOT":"/x"}]}"#));
        assert!(!is_ours("not json"));
    }

    #[test]
    fn windows_package_paths_use_forward_slashes_without_verbatim_prefix() {
        let w = |p: &str| package_path(Path::new(p), Os::Windows);
        assert_eq!(
            w(r"\\?\C:\Users\ana\AppData\Local\synapse\data\houdini-plugin"),
            "C:/Users/ana/AppData/Local/synapse/data/houdini-plugin"
        );
        assert_eq!(
            w(r"\\?\UNC\srv\tools\synapsed.exe"),
            "//srv/tools/synapsed.exe"
        );
        assert_eq!(
            w(r"C:\Program Files\Synapse\synapsed.exe"),
            "C:/Program Files/Synapse/synapsed.exe"
        );
        assert_eq!(
            package_path(Path::new("/opt/synapse"), Os::Linux),
            "/opt/synapse"
        );
        let p = package_json_for(
            Os::Windows,
            Path::new(r"C:\Users\ana\AppData\Local\synapse\data\houdini-plugin"),
            Some(Path::new(r"\\?\C:\Tools\synapsed.exe")),
        );
        assert!(is_ours(&p));
        let v: Value = serde_json::from_str(&p).expect("json");
        assert_eq!(
            v["env"][1]["SYNAPSE_ROOT"],
            "C:/Users/ana/AppData/Local/synapse/data/houdini-plugin"
        );
        assert_eq!(v["env"][2]["SYNAPSED_BIN"], "C:/Tools/synapsed.exe");
        assert!(
            !p.contains('\\'),
            "no backslash (and no JSON escapes) in {p}"
        );
    }
}
