//! SQLite persistence for Synapse: sessions, turns, messages and tool calls.
//!
//! [`Store`] is a synchronous handle around one `rusqlite` connection behind
//! a `Mutex`, so it is `Send + Sync`; it derives `Clone` over an `Arc`, so
//! cloning is cheap and every clone shares the one connection. The daemon
//! calls it from `tokio::task::spawn_blocking` (or a dedicated thread): every
//! method blocks on disk I/O.
//!
//! Durability (design §6): the database runs in WAL mode with
//! `synchronous=FULL`, and every mutating method is exactly one committed
//! transaction before it returns, so "the call returned" means "it survives
//! `kill -9` and power loss". At daemon start [`Store::recover`] turns every
//! `queued`/`running` turn into `interrupted` and repairs the stored histories
//! so they can be sent to the Messages API again (see [`recovery`]).
//!
//! Timestamps are stored as integer unix milliseconds and exposed as
//! [`Timestamp`](synapse_protocol::Timestamp). JSON columns (message content,
//! tool inputs, tool specs, turn params) are stored as text.
//!
//! Modules: [`schema`] (pragmas and migrations), [`session`], [`turn`],
//! [`message`], [`recovery`], [`error`].

pub mod error;
pub mod lock;
pub mod message;
pub mod recovery;
pub mod schema;
pub mod session;
pub mod spend;
pub mod turn;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use error::{Result, StoreError};
pub use lock::DataDirLock;
pub use message::{history_problem, History, RawHistory};
pub use recovery::{RecoveryReport, Repair, RepairReport};
pub use schema::SCHEMA_VERSION;
pub use spend::{SpendRecord, SpendTotal};
pub use turn::NewTurn;

/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "synapse.db";

/// The session store. Cheap to clone (an `Arc`); all clones share one
/// connection, and calls are serialised by its mutex.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// Held for the store's life (file databases only).
    _lock: Option<DataDirLock>,
}

/// Connection settings as SQLite reports them (see [`Store::settings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSettings {
    /// `PRAGMA journal_mode`: `wal` for files, `memory` in memory.
    pub journal_mode: String,
    /// `PRAGMA synchronous`: 2 is `FULL`.
    pub synchronous: i64,
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA busy_timeout` in milliseconds.
    pub busy_timeout_ms: i64,
    /// `PRAGMA user_version`.
    pub user_version: i64,
}

impl Store {
    /// Open (creating if needed) the store at `path`.
    ///
    /// `path` is a data directory, unless it is an existing file or ends in
    /// `.db`/`.sqlite`/`.sqlite3`, in which case it is the database file.
    /// A missing directory is created with mode 0700; the database file
    /// (and so its `-wal`/`-shm` companions) gets mode 0600. Existing
    /// directories keep their permissions. Migrations run to
    /// [`SCHEMA_VERSION`]; a newer file is refused with
    /// [`StoreError::NewerSchema`].
    ///
    /// The data directory is locked first ([`DataDirLock`]): a second open of
    /// the same database while this store lives fails with
    /// [`StoreError::Locked`]. A database that cannot be written (read-only
    /// file or file system) fails with [`StoreError::ReadOnly`] here, not at
    /// the first write.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        let file = if is_db_file(path) {
            path.to_path_buf()
        } else {
            path.join(DB_FILE_NAME)
        };
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let lock = DataDirLock::acquire(&file)?;
        restrict_file(&file)?;
        let conn = Connection::open(&file)?;
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::ReadOnly {
                path: file,
                detail: "SQLite opened it read-only".into(),
            });
        }
        let store =
            Self::from_connection(conn, Some(file.clone()), Some(lock)).map_err(|e| match e {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, msg))
                    if f.code == rusqlite::ErrorCode::ReadOnly =>
                {
                    StoreError::ReadOnly {
                        path: file.clone(),
                        detail: msg
                            .unwrap_or_else(|| "attempt to write a readonly database".into()),
                    }
                }
                other => other,
            })?;
        Ok(store)
    }

    /// Open an existing database to read it beside a running daemon
    /// (`synapsed usage`): no lock, no migration, no recovery, and SQLite
    /// itself refuses every write. A file from a newer build is refused
    /// with [`StoreError::NewerSchema`], one that does not exist with
    /// [`StoreError::NotFound`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref();
        let file = if is_db_file(path) {
            path.to_path_buf()
        } else {
            path.join(DB_FILE_NAME)
        };
        if !file.is_file() {
            return Err(StoreError::not_found(
                "database",
                &file.display().to_string(),
            ));
        }
        let conn = Connection::open_with_flags(
            &file,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(schema::BUSY_TIMEOUT)?;
        let found = schema::user_version(&conn)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path: Some(file),
                _lock: None,
            }),
        })
    }

    /// A private in-memory store (tests, tools). WAL does not apply.
    pub fn open_in_memory() -> Result<Store> {
        Self::from_connection(Connection::open_in_memory()?, None, None)
    }

    fn from_connection(
        mut conn: Connection,
        path: Option<PathBuf>,
        lock: Option<DataDirLock>,
    ) -> Result<Store> {
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path,
                _lock: lock,
            }),
        })
    }

    /// The database file, `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The connection's settings, as SQLite reports them.
    pub fn settings(&self) -> Result<DbSettings> {
        let conn = self.conn();
        let q = |name: &str| -> rusqlite::Result<i64> {
            conn.pragma_query_value(None, name, |r| r.get(0))
        };
        Ok(DbSettings {
            journal_mode: conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
            synchronous: q("synchronous")?,
            foreign_keys: q("foreign_keys")? != 0,
            busy_timeout_ms: q("busy_timeout")?,
            user_version: q("user_version")?,
        })
    }

    /// `PRAGMA integrity_check`: `"ok"` when the file is sound, else SQLite's
    /// findings joined by newlines.
    pub fn integrity_check(&self) -> Result<String> {
        let conn = self.conn();
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(lines.join("\n"))
    }

    /// Lock the connection. A poisoned mutex is recovered: a panic inside a
    /// transaction rolled it back when the `Transaction` dropped.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn is_db_file(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    !path.is_dir()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("db" | "sqlite" | "sqlite3")
        )
}

#[cfg(unix)]
fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| {
        if lock::is_read_only(&source) {
            StoreError::ReadOnly {
                path: dir.to_path_buf(),
                detail: source.to_string(),
            }
        } else {
            StoreError::Io {
                path: dir.to_path_buf(),
                source,
            }
        }
    })
}

/// Create the database file 0600 before SQLite sees it (SQLite gives the
/// `-wal`/`-shm` files the database's mode), or tighten an existing one.
fn restrict_file(file: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !file.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(file)
                .map_err(io_err(file))?;
        }
        let meta = std::fs::metadata(file).map_err(io_err(file))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err(file))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Clamp a count to SQLite's signed 64-bit integer.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Read back a count; negative (corrupt) values read as 0.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
