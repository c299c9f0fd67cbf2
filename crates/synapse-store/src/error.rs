//! The one error type of the store.

use std::path::PathBuf;

use synapse_protocol::TurnStatus;

/// Everything that can go wrong in the store.
///
/// Messages never include message bodies, prompts or tool inputs (they can be
/// megabytes): only ids, column names and short reasons.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (I/O, constraint, corruption, busy, ...).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A JSON column could not be written or read back.
    #[error("json in {column}: {source}")]
    Json {
        /// `table.column` that held the JSON.
        column: &'static str,
        /// The serde error (position only, no content).
        #[source]
        source: serde_json::Error,
    },
    /// The data directory or database file could not be prepared.
    #[error("cannot prepare {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer build; this one refuses to touch it.
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); \
         upgrade synapsed or point it at another data directory"
    )]
    NewerSchema {
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A session or turn named by the caller does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// `session` or `turn`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// `create_session`/`insert_turn` with an id that is already taken.
    #[error("{what} already exists: {id}")]
    AlreadyExists {
        /// `session` or `turn`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A status change the turn's current status does not allow (for
    /// example finishing a turn that is already final).
    #[error("turn {turn_id} is {from}; it cannot become {to}")]
    InvalidTransition {
        /// The turn.
        turn_id: String,
        /// Its stored status.
        from: TurnStatus,
        /// The status asked for.
        to: TurnStatus,
    },
    /// `append_message` with a turn of another session.
    #[error("turn {turn_id} does not belong to session {session_id}")]
    WrongSession {
        /// The turn.
        turn_id: String,
        /// The session given.
        session_id: String,
    },
    /// A message that is not `{"role": "user"|"assistant", "content": string|[blocks]}`.
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    /// Another process (a second daemon) holds the data directory's lock.
    #[error(
        "another synapsed{} is using the data directory {dir}; stop it first, or give this one another --data-dir",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The holder's pid, when the lock file names it.
        pid: Option<u32>,
    },
    /// The database or its directory cannot be written (read-only file or
    /// file system).
    #[error("the database at {path} cannot be written ({detail}); synapsed needs a writable data directory")]
    ReadOnly {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        detail: String,
    },
    /// A stored row holds a value this build cannot interpret.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// A short reason (never a message body).
        detail: String,
    },
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// True when the failure is the storage itself (disk full, I/O error,
    /// read-only file): the data is fine, the disk is not.
    pub fn is_storage_fault(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::PermissionDenied
            ),
            StoreError::Io { .. } | StoreError::ReadOnly { .. } => true,
            _ => false,
        }
    }

    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    pub(crate) fn json(column: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
        move |source| StoreError::Json { column, source }
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> StoreError {
        StoreError::NotFound {
            what,
            id: id.to_owned(),
        }
    }
}
