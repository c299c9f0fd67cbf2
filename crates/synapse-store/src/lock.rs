//! One daemon per data directory.
//!
//! [`DataDirLock`] holds an exclusive lock on `<database>.lock` (e.g.
//! `synapse.db.lock`) for as long as it lives; the lock file also names the
//! holder's pid, so a second daemon can say who is in the way. The lock is
//! taken before SQLite opens the database, so crash recovery never runs
//! beside a live daemon (it would write synthetic results into that daemon's
//! running turns). The operating system drops the lock when the holder dies,
//! `kill -9` included: a stale lock file is simply locked again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Result, StoreError};

/// An exclusive lock on a database's data directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// The lock file of the database `db_file`: `<db_file>.lock`.
    pub fn path_for(db_file: &Path) -> PathBuf {
        let mut name = db_file.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        db_file.with_file_name(name)
    }

    /// Take the lock of `db_file`'s data directory, or fail with
    /// [`StoreError::Locked`] (naming the holder's pid when it can be read)
    /// or [`StoreError::ReadOnly`] when the directory cannot be written.
    pub fn acquire(db_file: &Path) -> Result<DataDirLock> {
        let path = Self::path_for(db_file);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(|source| {
            if is_read_only(&source) {
                StoreError::ReadOnly {
                    path: path.parent().unwrap_or(&path).to_path_buf(),
                    detail: source.to_string(),
                }
            } else {
                StoreError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse::<u32>().ok());
                return Err(StoreError::Locked {
                    dir: path.parent().unwrap_or(&path).to_path_buf(),
                    pid,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: path.clone(),
                    source,
                })
            }
        }
        // Ours now: say who holds it (best effort; the lock itself is what counts).
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = writeln!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(DataDirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// True for "read-only file system" (EROFS) and permission errors.
pub(crate) fn is_read_only(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc_erofs()) {
        return true;
    }
    e.kind() == std::io::ErrorKind::PermissionDenied
        || e.kind() == std::io::ErrorKind::ReadOnlyFilesystem
}

#[cfg(unix)]
const fn libc_erofs() -> i32 {
    30 // EROFS on Linux and macOS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid() {
        let tmp = std::env::temp_dir().join(format!("synapse-lock-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).expect("mkdir");
        let db = tmp.join("synapse.db");
        let first = DataDirLock::acquire(&db).expect("first");
        assert_eq!(first.path(), tmp.join("synapse.db.lock"));
        match DataDirLock::acquire(&db) {
            Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        let again = DataDirLock::acquire(&db).expect("free again");
        drop(again);
        let _ = std::fs::remove_dir_all(tmp);
    }
}
