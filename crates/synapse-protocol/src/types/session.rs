//! `session.*` params and results.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TurnInfo;
use crate::Timestamp;

/// One entry of `session.list`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSummary {
    /// The session.
    pub session_id: String,
    /// When its first turn was submitted.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Number of turns.
    pub turns: u64,
    /// The start of its first prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Default number of sessions in one `session.list` page.
pub const SESSION_PAGE_DEFAULT: u32 = 100;
/// Most sessions or messages in one page (`session.list`, `session.get`).
pub const PAGE_MAX: u32 = 1000;

/// `session.list` params (all optional: absent is the first page of 100).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionListParams {
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Cursor: only sessions updated strictly before this timestamp (the
    /// `updated_at` of the last session of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// `session.get` params (v1: `session_id` only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRef {
    /// The session.
    pub session_id: String,
    /// Only messages after this 0-based index (the first returned is
    /// `after + 1`); absent: from the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
    /// At most this many messages, 1 to 1000; absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// `session.get` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionDetail {
    /// The session.
    pub session_id: String,
    /// The conversation as Anthropic Messages API `messages` (the page
    /// asked for: from index `after + 1`, at most `limit`).
    pub messages: Vec<Value>,
    /// Its turns, oldest first.
    pub turns: Vec<TurnInfo>,
    /// How many messages the whole session has.
    #[serde(default)]
    pub message_count: u64,
}
