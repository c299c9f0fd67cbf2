//! Connection settings and schema migrations.
//!
//! The schema version lives in `PRAGMA user_version`. [`MIGRATIONS`] is an
//! ordered list: entry `i` takes the database from version `i` to `i + 1`.
//! Migrations only ever get appended; a shipped entry is never edited. A file
//! whose version is above [`SCHEMA_VERSION`] was written by a newer build and
//! is refused with [`StoreError::NewerSchema`].

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// How long a statement waits for a lock held by another connection.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Version 1: sessions, turns, messages, tool calls. Timestamps are unix ms.
const V1: &str = r#"
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    title           TEXT,
    last_tool_specs TEXT              -- JSON array of ToolSpec, NULL if never set
) STRICT;
CREATE INDEX sessions_by_updated ON sessions (updated_at DESC, created_at DESC);

CREATE TABLE turns (
    id                          TEXT PRIMARY KEY NOT NULL,
    session_id                  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq                         INTEGER NOT NULL,      -- 1-based within the session
    prompt                      TEXT NOT NULL,
    host_id                     TEXT,
    status                      TEXT NOT NULL,
    created_at                  INTEGER NOT NULL,
    started_at                  INTEGER,
    finished_at                 INTEGER,
    iterations                  INTEGER NOT NULL DEFAULT 0,
    input_tokens                INTEGER NOT NULL DEFAULT 0,
    output_tokens               INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens     INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,
    error_kind                  TEXT,
    error_message               TEXT,
    text                        TEXT,
    params                      TEXT NOT NULL DEFAULT '{}',  -- JSON: system/model/max_tokens/max_iterations
    UNIQUE (session_id, seq)
) STRICT;
CREATE INDEX turns_open ON turns (status) WHERE status IN ('queued', 'running');

CREATE TABLE messages (
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,      -- 0-based position in the session's history
    turn_id     TEXT REFERENCES turns (id) ON DELETE SET NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content     TEXT NOT NULL,         -- JSON: the Anthropic `content` (string or blocks)
    has_tools   INTEGER NOT NULL DEFAULT 0,  -- holds tool_use or tool_result blocks
    synthetic   INTEGER NOT NULL DEFAULT 0,  -- written by recovery/repair, not by the model or user
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (session_id, idx)
) STRICT;
CREATE INDEX messages_by_turn ON messages (turn_id);

CREATE TABLE tool_calls (
    id          INTEGER PRIMARY KEY,   -- insertion order = call order
    turn_id     TEXT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    input       TEXT NOT NULL,         -- JSON
    is_error    INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    UNIQUE (turn_id, call_id)
) STRICT;
"#;

/// Version 3: compaction records (summaries of a session's oldest turns,
/// sent instead of them; the messages themselves are never changed).
const V3: &str = r#"
CREATE TABLE compactions (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    turn_id     TEXT REFERENCES turns (id) ON DELETE SET NULL,
    upto_idx    INTEGER NOT NULL,   -- the summary replaces messages with idx < upto_idx
    summary     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX compactions_by_session ON compactions (session_id, id);
"#;

/// Every migration, oldest first. Entry `i` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, crate::spend::MIGRATION_V2, V3];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Per-connection settings: busy timeout, WAL, `synchronous=FULL`, foreign keys.
///
/// `journal_mode` must change outside a transaction, so this runs before
/// [`migrate`]. In-memory databases report `memory` and stay so.
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let _mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// The `user_version` of the open database.
pub(crate) fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Bring the schema to [`SCHEMA_VERSION`], one committed transaction per
/// step (the version bump is in the same transaction as its DDL). Refuses a
/// newer file before changing anything.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another process may have migrated.
        let found = user_version(&tx)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let step = usize::try_from(found).map_err(|_| StoreError::Corrupt {
            table: "user_version",
            detail: format!("negative schema version {found}"),
        })?;
        let sql = MIGRATIONS.get(step).ok_or_else(|| StoreError::Corrupt {
            table: "user_version",
            detail: format!("no migration from version {found}"),
        })?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}
