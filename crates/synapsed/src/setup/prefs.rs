//! Where Houdini keeps its user prefs dirs, per OS layout, and how paths are
//! written into a package JSON (pure functions, unit-tested for every layout
//! on any OS; design §15).

use std::path::{Path, PathBuf};

/// Operating system layouts of Houdini prefs dirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Os {
    /// `~/houdiniX.Y`.
    Linux,
    /// `~/Library/Preferences/houdini/X.Y`.
    Macos,
    /// `%USERPROFILE%\Documents\houdiniX.Y`.
    Windows,
}

impl Os {
    /// The OS this binary runs on.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Os::Macos
        } else if cfg!(windows) {
            Os::Windows
        } else {
            Os::Linux
        }
    }
}

fn is_version(s: &str) -> bool {
    let mut parts = s.split('.');
    let ok =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    ok(parts.next()) && ok(parts.next()) && parts.all(|p| ok(Some(p)))
}

fn subdirs(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().is_dir() && keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect()
}

/// The Houdini user prefs dirs of `os` under `home` that exist, plus
/// `user_pref_dir` (`$HOUDINI_USER_PREF_DIR`, see [`user_pref_dirs`]).
/// On Windows `home` is the user profile (`houdiniX.Y` under `Documents`).
pub fn prefs_dirs(os: Os, home: &Path, user_pref_dir: Option<&str>) -> Vec<PathBuf> {
    let roots = match os {
        Os::Linux => vec![home.to_owned()],
        Os::Macos => vec![home.join("Library/Preferences/houdini")],
        Os::Windows => vec![home.join("Documents")],
    };
    prefs_dirs_in(os, &roots, user_pref_dir)
}

/// The prefs dirs found in each of `roots` (`houdiniX.Y`, or `X.Y` on macOS),
/// after those of `user_pref_dir`; no duplicates.
pub fn prefs_dirs_in(os: Os, roots: &[PathBuf], user_pref_dir: Option<&str>) -> Vec<PathBuf> {
    let mut out = user_pref_dirs(user_pref_dir);
    let versioned = |n: &str| n.strip_prefix("houdini").is_some_and(is_version);
    for root in roots {
        let mut found = match os {
            Os::Macos => subdirs(root, is_version),
            Os::Linux | Os::Windows => subdirs(root, versioned),
        };
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// `$HOUDINI_USER_PREF_DIR`: the dir itself, or with `__HVER__` (Houdini puts
/// its version there) every existing dir that matches with a version in place.
pub fn user_pref_dirs(user_pref_dir: Option<&str>) -> Vec<PathBuf> {
    let Some(p) = user_pref_dir.map(str::trim).filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let Some((head, tail)) = p.split_once("__HVER__") else {
        return vec![PathBuf::from(p)];
    };
    // Only the last path component may hold the placeholder.
    let cut = head.rfind(['/', '\\']).map_or(0, |i| i + 1);
    if tail.contains(['/', '\\']) {
        return Vec::new();
    }
    let (parent, prefix) = head.split_at(cut);
    let parent = if parent.is_empty() { "." } else { parent };
    let mut found = subdirs(Path::new(parent), |n| {
        n.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(tail))
            .is_some_and(is_version)
    });
    found.sort();
    found
}

/// Where Houdini keeps `houdiniX.Y` on Windows, in the order it would use them:
/// `%HOME%` when set (Houdini takes it as its `$HOME`), the Documents known
/// folder (`documents`, may be redirected), `%USERPROFILE%\Documents`.
pub fn windows_prefs_roots(
    home: Option<&Path>,
    documents: Option<&Path>,
    userprofile: Option<&Path>,
) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = Vec::new();
    let candidates = [
        home.map(Path::to_owned),
        documents.map(Path::to_owned),
        userprofile.map(|u| u.join("Documents")),
    ];
    for c in candidates.into_iter().flatten() {
        if !c.as_os_str().is_empty() && !roots.contains(&c) {
            roots.push(c);
        }
    }
    roots
}

/// A path as written in the package JSON: without a Windows verbatim prefix
/// (`\\?\C:\x` → `C:\x`, `\\?\UNC\srv\x` → `\\srv\x`) and, on Windows,
/// with `/` separators (`C:/x`, `//srv/x`).
pub fn package_path(path: &Path, os: Os) -> String {
    let s = path.to_string_lossy();
    let s = if let Some(unc) = s.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{unc}")
    } else if let Some(rest) = s.strip_prefix(r"\\?\") {
        rest.to_owned()
    } else {
        s.into_owned()
    };
    match os {
        Os::Windows => s.replace('\\', "/"),
        Os::Linux | Os::Macos => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefs_dirs_per_os_layout() {
        let home = tempfile::tempdir().expect("tmp");
        let h = home.path();
        for d in [
            "houdini20.5",
            "houdini21.0",
            "houdini",
            "houdinix.y",
            "Library/Preferences/houdini/21.0",
            "Library/Preferences/houdini/foo",
            "Documents/houdini21.0",
        ] {
            std::fs::create_dir_all(h.join(d)).expect("mkdir");
        }
        assert_eq!(
            prefs_dirs(Os::Linux, h, None),
            vec![h.join("houdini20.5"), h.join("houdini21.0")]
        );
        assert_eq!(
            prefs_dirs(Os::Macos, h, None),
            vec![h.join("Library/Preferences/houdini/21.0")]
        );
        assert_eq!(
            prefs_dirs(Os::Windows, h, Some("")),
            vec![h.join("Documents/houdini21.0")]
        );
        let env = h.join("custom").display().to_string();
        assert_eq!(prefs_dirs(Os::Linux, h, Some(&env))[0], h.join("custom"));
        assert_eq!(
            prefs_dirs(Os::Linux, h, Some("/x/houdini__HVER__")).len(),
            2
        );
    }

    #[test]
    fn windows_roots_follow_houdinis_home() {
        let home = Path::new(r"D:\hhome");
        let docs = Path::new(r"C:\Users\ana\OneDrive\Documents");
        let profile = Path::new(r"C:\Users\ana");
        assert_eq!(
            windows_prefs_roots(Some(home), Some(docs), Some(profile)),
            vec![home.to_owned(), docs.to_owned(), profile.join("Documents")]
        );
        // Not redirected: the known folder is the profile's Documents (once).
        let plain = profile.join("Documents");
        assert_eq!(
            windows_prefs_roots(None, Some(&plain), Some(profile)),
            vec![plain.clone()]
        );
        assert_eq!(
            windows_prefs_roots(Some(Path::new("")), None, Some(profile)),
            vec![plain]
        );
        assert!(windows_prefs_roots(None, None, None).is_empty());
    }

    #[test]
    fn windows_prefs_dirs_in_a_windows_layout() {
        // A Windows profile laid out in a temp dir: %HOME% set (Houdini keeps
        // houdiniX.Y there), a OneDrive-redirected Documents, the plain one.
        let tmp = tempfile::tempdir().expect("tmp");
        let t = tmp.path();
        let profile = t.join("Users/ana");
        let home = t.join("hhome");
        let onedrive = profile.join("OneDrive/Documents");
        for d in [
            home.join("houdini21.0"),
            onedrive.join("houdini20.5"),
            onedrive.join("houdini21.0"),
            onedrive.join("Houdini Projects"),
            profile.join("Documents/houdini19.5"),
            profile.join("Documents/houdini"),
        ] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let roots = windows_prefs_roots(Some(&home), Some(&onedrive), Some(&profile));
        assert_eq!(
            prefs_dirs_in(Os::Windows, &roots, None),
            vec![
                home.join("houdini21.0"),
                onedrive.join("houdini20.5"),
                onedrive.join("houdini21.0"),
                profile.join("Documents/houdini19.5"),
            ]
        );
        // HOUDINI_USER_PREF_DIR with Houdini's placeholder, Windows separators.
        let studio = t.join("studio");
        std::fs::create_dir_all(studio.join("prefs_21.0_x")).expect("mkdir");
        std::fs::create_dir_all(studio.join("prefs_old_x")).expect("mkdir");
        let pattern = format!("{}\\prefs___HVER___x", studio.display());
        let pattern = if cfg!(windows) {
            pattern
        } else {
            pattern.replace('\\', "/")
        };
        assert_eq!(
            prefs_dirs_in(Os::Windows, &[], Some(&pattern)),
            vec![studio.join("prefs_21.0_x")]
        );
        assert!(user_pref_dirs(Some(r"C:\nowhere\houdini__HVER__\sub")).is_empty());
        assert_eq!(
            user_pref_dirs(Some(r" C:\prefs\h21 ")),
            vec![PathBuf::from(r"C:\prefs\h21")]
        );
    }
}
