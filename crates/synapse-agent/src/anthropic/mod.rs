//! The Anthropic Messages API provider: streaming over SSE with reqwest.
//!
//! - [`client`]: [`AnthropicClient`], one call with retries and cancel.
//! - [`sse`]: the incremental event-stream parser.
//! - [`message`]: assembly of stream events into an assistant message.
//! - [`request`]: the byte-stable request body (prompt caching).
//! - [`retry`]: which failures are retried and how long to wait.
//! - [`models`]: the Models API (`GET /v1/models`) and the not-found message.

pub mod client;
pub mod message;
pub mod models;
pub mod request;
pub mod retry;
pub mod sse;

pub use client::AnthropicClient;

/// The `anthropic-version` header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
