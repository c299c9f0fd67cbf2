//! `synapsed setup houdini` into temp prefs dirs: twice (idempotent),
//! `--dry-run`, `--remove`, a foreign package JSON, an unwritable prefs dir,
//! discovery through `HOUDINI_USER_PREF_DIR` and `HOME`; the written package
//! resolves (as Houdini expands it) to a plugin Python can import.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;
#[cfg(unix)]
use synapse_test_support::daemon::{repo_root, test_python};

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setup(home: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["setup", "houdini"])
        .args(args)
        .env("HOME", home)
        .env_remove("HOUDINI_USER_PREF_DIR")
        .env_remove("XDG_DATA_HOME")
        .env("SYNAPSE_DATA_DIR", home.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Expand `$VAR` in `value` the way Houdini's package loader does, from the
/// package's own `env` entries (in order) and `vars`.
fn expand(value: &str, vars: &[(String, String)]) -> String {
    let mut out = value.to_owned();
    for (k, v) in vars.iter().rev() {
        out = out.replace(&format!("${k}"), v);
    }
    out
}

fn load_package(path: &Path) -> (Vec<(String, String)>, String) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["load_package_once"], Value::Bool(true));
    let mut vars: Vec<(String, String)> = Vec::new();
    for e in v["env"].as_array().unwrap() {
        for (k, val) in e.as_object().unwrap() {
            let raw = match val {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    assert_eq!(o["method"], "append");
                    o["value"].as_str().unwrap().to_owned()
                }
                other => panic!("unexpected env value {other}"),
            };
            let expanded = expand(&raw, &vars);
            vars.push((k.clone(), expanded));
        }
    }
    let hpath = expand(v["hpath"].as_str().unwrap(), &vars);
    (vars, hpath)
}

#[test]
fn install_twice_then_remove() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let a = h.join("prefs-a");
    let b = h.join("prefs-b");
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    let args = ["--prefs-dir", a_s, "--prefs-dir", b_s];

    let out = setup(h, &[], &[&args[..], &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert!(
        s(&out.stdout).contains("would be written"),
        "{}",
        s(&out.stdout)
    );
    assert!(
        !a.exists() && !h.join("data").exists(),
        "dry run writes nothing"
    );

    let out = setup(h, &[], &args);
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    let text = s(&out.stdout);
    let root = h.join("data").join("houdini-plugin");
    assert!(
        text.starts_with(&format!("plugin 0.1.0 in {}: ", root.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: written",
            a.join("packages").join("synapse.json").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: written",
            b.join("packages").join("synapse.json").display()
        )),
        "{text}"
    );

    let out = setup(h, &[], &args);
    assert_eq!(out.status.code(), Some(0));
    let again = s(&out.stdout);
    assert!(again.contains(": unchanged ("), "{again}");
    assert_eq!(
        again.matches("synapse.json: unchanged").count(),
        2,
        "{again}"
    );

    // The package, expanded as Houdini does, points at an importable plugin.
    let (vars, hpath) = load_package(&a.join("packages/synapse.json"));
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    // Windows: written with `/` and without `canonicalize`'s `\\?\` prefix.
    let shown = |p: &Path| {
        let p = p.display().to_string();
        if cfg!(windows) {
            p.replace('\\', "/")
        } else {
            p
        }
    };
    assert_eq!(get("SYNAPSE_ROOT"), shown(&root));
    assert_eq!(
        Path::new(&get("SYNAPSED_BIN")).canonicalize().unwrap(),
        bin().canonicalize().unwrap()
    );
    if cfg!(windows) {
        assert!(!get("SYNAPSED_BIN").starts_with(r"\\?\"), "{vars:?}");
    }
    assert!(Path::new(&hpath)
        .join("scripts/python/uiready.py")
        .is_file());
    // Importing it needs a Python for this platform (none for Windows here).
    #[cfg(unix)]
    let py = Command::new(test_python())
        .args(["-c", "import sys; sys.path[:0] = sys.argv[1:3]; import synapse_houdini as s; print(s.__file__); print(s.__version__)"])
        .arg(get("PYTHONPATH"))
        .arg(repo_root().join("houdini-plugin/tests/fakes"))
        .output()
        .unwrap();
    #[cfg(unix)]
    {
        let py_out = s(&py.stdout);
        assert!(py.status.success(), "{py_out} {}", s(&py.stderr));
        assert!(
            py_out.starts_with(&root.display().to_string()),
            "imported from the installed copy: {py_out}"
        );
        assert!(py_out.ends_with("0.1.0\n"), "{py_out}");
    }

    // Remove, twice.
    let out = setup(h, &[], &[&args[..], &["--remove"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert!(s(&out.stdout).contains("synapse.json: removed"));
    assert!(!a.join("packages/synapse.json").exists() && !root.exists());
    let out = setup(h, &[], &[&args[..], &["--remove"]].concat());
    assert_eq!(s(&out.stdout).matches("not installed").count(), 2);
}

#[test]
fn a_foreign_package_is_left_alone_without_force() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let p = h.join("prefs");
    let pkg = p.join("packages/synapse.json");
    std::fs::create_dir_all(pkg.parent().unwrap()).unwrap();
    let foreign = "{\"env\": [{\"SYNAPSE_ROOT\": \"/studio/synapse\"}]}\n";
    std::fs::write(&pkg, foreign).unwrap();
    let ps = p.to_str().unwrap();
    for extra in [&[][..], &["--remove"]] {
        let out = setup(h, &[], &[&["--prefs-dir", ps][..], extra].concat());
        assert_eq!(out.status.code(), Some(1));
        assert!(
            s(&out.stderr).contains("from another tool is there; left alone (use --force"),
            "{}",
            s(&out.stderr)
        );
        assert_eq!(std::fs::read_to_string(&pkg).unwrap(), foreign);
    }
    let out = setup(h, &[], &["--prefs-dir", ps, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert!(s(&out.stdout).contains("replaced (--force)"));
    assert!(std::fs::read_to_string(&pkg)
        .unwrap()
        .contains("SYNAPSE_PACKAGE_BY"));
}

#[test]
fn an_unwritable_prefs_dir_fails_and_the_others_are_done() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let bad = h.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("packages"),
        "a file where the packages dir should be",
    )
    .unwrap();
    let good = h.join("good");
    let out = setup(
        h,
        &[],
        &[
            "--prefs-dir",
            bad.to_str().unwrap(),
            "--prefs-dir",
            good.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = s(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: cannot",
            bad.join("packages").join("synapse.json").display()
        )),
        "{err}"
    );
    assert!(good.join("packages/synapse.json").is_file());
}

#[test]
fn prefs_dirs_are_found_from_home_and_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = setup(h, &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        s(&out.stderr).contains("no Houdini prefs dir found"),
        "{}",
        s(&out.stderr)
    );

    std::fs::create_dir_all(h.join("houdini21.0")).unwrap();
    let custom = h.join("studio-prefs");
    let out = setup(h, &[("HOUDINI_USER_PREF_DIR", &custom)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert!(custom.join("packages/synapse.json").is_file());
    if cfg!(target_os = "linux") {
        assert!(h.join("houdini21.0/packages/synapse.json").is_file());
    }
}

#[test]
fn houdini_user_pref_dir_with_the_version_placeholder() {
    // Houdini expands `__HVER__` to its version; every existing match is a prefs dir.
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    for d in [
        "studio/houdini20.5",
        "studio/houdini21.0",
        "studio/houdini-old",
    ] {
        std::fs::create_dir_all(h.join(d)).unwrap();
    }
    let pattern = h.join("studio/houdini__HVER__");
    let out = setup(h, &[("HOUDINI_USER_PREF_DIR", &pattern)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", s(&out.stderr));
    assert!(h.join("studio/houdini20.5/packages/synapse.json").is_file());
    assert!(h.join("studio/houdini21.0/packages/synapse.json").is_file());
    assert!(!h.join("studio/houdini-old/packages").exists());
    assert!(!h.join("studio/houdini__HVER__").exists());
}
