//! The agent loop of one turn (design §5, §9).
//!
//! Per iteration: check cancel → stream one request (cancel aborts the read
//! at once) → report usage → persist the assistant message → on `tool_use`
//! run each block through the [`ToolHost`] in order (cancel checked before
//! each) → persist ONE user message with every `tool_result` → loop, up to
//! `max_iterations` API calls.
//!
//! Rules:
//! - `end_turn` and `stop_sequence` → `complete`; `max_tokens`, `refusal`
//!   → those statuses; `pause_turn` → continued (the paused message is sent
//!   back as is; the next call counts as an iteration); anything else →
//!   `unknown_stop_reason`.
//! - Tool results: `content` is the compact JSON text, keys sorted, of the
//!   tool's output, or of its error envelope (`is_error: true`). A result
//!   whose text is over `max_tool_result_bytes` is replaced by a
//!   `ToolResultTooLarge` error (an error envelope is clipped instead).
//! - Every `tool_use` the model sent gets exactly one `tool_result` in the
//!   history, and runs at most once: when the turn ends before a block ran
//!   (cancel, `max_iterations` on the last allowed response, or a final
//!   stop reason with tool blocks in it) a synthetic error result
//!   (`Cancelled`, `MaxIterations`, `NotRun`) is persisted instead, so the
//!   stored history can always be sent again.
//! - A cancel while a tool runs stops waiting at once (the host's token is
//!   cancelled so it can send `tool.cancel`); that call gets a synthetic
//!   `Cancelled` result. A host that never answers is cut off after the
//!   call's `timeout_s` + 2 s with a synthetic `Timeout` result.
//! - The assistant message being streamed when a cancel or an API failure
//!   ends the turn is not persisted (it is incomplete).
//! - Usage: each API attempt's reported usage is added and passed to the
//!   observer (cancelled and failed attempts included); nothing is invented.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::{json, Value};
use synapse_protocol::ToolResultError;
use synapse_protocol::{
    text_of_blocks, to_sorted_json, tool_result_block, tool_result_block_with_images, ErrorKind,
    Timestamp, ToolCallRecord, ToolErrorEnvelope, TurnError, TurnEventKind, TurnResult, TurnStatus,
    Usage,
};
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, DEFAULT_TOOL_TIMEOUT_S};
use crate::context;
use crate::observer::TurnObserver;
use crate::provider::{Provider, ProviderError, ProviderRequest, StreamSink};
use crate::tool_host::{ToolCall, ToolHost, ToolOutcome};

/// Grace added to a tool's timeout before the loop stops waiting for the host.
pub const TOOL_GRACE: Duration = Duration::from_secs(2);

/// Everything one turn needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TurnSpec {
    /// The turn's id (also sent in `tool.invoke`).
    pub turn_id: String,
    /// Its session.
    pub session_id: String,
    /// Prior Anthropic-shaped messages of the session, sent verbatim before
    /// the new prompt (after `stored_history`).
    pub history: Vec<Value>,
    /// Prior messages of the session as their stored JSON text, sent first
    /// and spliced byte for byte (the daemon's path; ADR 0028).
    pub stored_history: Vec<synapse_protocol::RawMessage>,
    /// The user's new message.
    pub prompt: String,
    /// System prompt; `None`: the settings' default; `Some("")`: none.
    pub system: Option<String>,
    /// Model; empty: the settings' default.
    pub model: String,
    /// Per-response token limit; 0: the settings' default.
    pub max_tokens: u32,
    /// Most API calls in this turn; 0: the settings' default.
    pub max_iterations: u32,
    /// The stored index of each `history` message, then of the prompt
    /// (empty when unknown: a summary is then never stored).
    pub stored_idx: Vec<i64>,
    /// The summary of the messages before the history, from an earlier
    /// compaction: sent in front of the first message.
    pub summary: Option<String>,
    /// About the bytes `history` takes in a request (0: unknown, measured).
    pub history_bytes: usize,
    /// The credential for this turn's requests, resolved once at its start
    /// by the caller (ADR 0031); `None`: the provider resolves it itself.
    pub credential: Option<crate::credentials::Resolved>,
}

/// Forwards stream progress to the observer and adds up usage.
struct Sink<'a> {
    observer: &'a dyn TurnObserver,
    usage: &'a Mutex<Usage>,
    /// Input tokens (uncached + cache) of the last attempt that reported them.
    last_input: Mutex<u64>,
}

impl StreamSink for Sink<'_> {
    fn text(&self, delta: &str) {
        self.observer.event(TurnEventKind::Text {
            text: delta.to_owned(),
        });
    }

    fn retry(&self, attempt: u32, delay_ms: u64, reason: &str) {
        self.observer.event(TurnEventKind::Retry {
            attempt,
            delay_ms,
            reason: reason.to_owned(),
        });
    }

    fn usage(&self, usage: &Usage) {
        if let Ok(mut u) = self.usage.lock() {
            u.add(usage);
        }
        if let Ok(mut last) = self.last_input.lock() {
            *last = usage.input_tokens
                + usage.cache_read_input_tokens
                + usage.cache_creation_input_tokens;
        }
        self.observer.usage(usage);
    }
}

/// A `tool_use` block of an assistant message.
struct ToolUse {
    id: String,
    name: String,
    input: Value,
}

/// Result of running the tool blocks of one message.
struct ToolRound {
    results: Vec<Value>,
    cancelled: bool,
}

struct Progress {
    iterations: u32,
    text: String,
    tool_calls: Vec<ToolCallRecord>,
}

/// Run a turn; see the module docs. Never panics: a panic in a host or an
/// observer ends the turn as `api_error` (kind `internal`).
pub(crate) async fn run(
    settings: &Settings,
    provider: &dyn Provider,
    spec: TurnSpec,
    host: &dyn ToolHost,
    observer: &dyn TurnObserver,
    cancel: CancellationToken,
) -> TurnResult {
    let started_at = Timestamp::now();
    let turn_id = spec.turn_id.clone();
    let session_id = spec.session_id.clone();
    let usage = Mutex::new(Usage::default());
    let progress = Mutex::new(Progress {
        iterations: 0,
        text: String::new(),
        tool_calls: Vec::new(),
    });
    let body = run_loop(
        settings, provider, spec, host, observer, &cancel, &usage, &progress,
    );
    let (status, error) = match AssertUnwindSafe(body).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(%turn_id, "the agent loop panicked");
            (
                TurnStatus::ApiError,
                Some(TurnError {
                    kind: ErrorKind::Internal,
                    message: "internal error in the agent loop".into(),
                }),
            )
        }
    };
    let usage = usage.lock().map(|u| *u).unwrap_or_default();
    let (iterations, text, tool_calls) = match progress.lock() {
        Ok(mut p) => (
            p.iterations,
            std::mem::take(&mut p.text),
            std::mem::take(&mut p.tool_calls),
        ),
        Err(_) => (0, String::new(), Vec::new()),
    };
    TurnResult {
        turn_id,
        session_id,
        status,
        text,
        iterations,
        tool_calls,
        usage,
        error,
        started_at,
        finished_at: Timestamp::now(),
        mode: None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_loop(
    settings: &Settings,
    provider: &dyn Provider,
    spec: TurnSpec,
    host: &dyn ToolHost,
    observer: &dyn TurnObserver,
    cancel: &CancellationToken,
    usage: &Mutex<Usage>,
    progress: &Mutex<Progress>,
) -> (TurnStatus, Option<TurnError>) {
    let sink = Sink {
        observer,
        usage,
        last_input: Mutex::new(0),
    };
    let max_iterations = if spec.max_iterations == 0 {
        settings.max_iterations.max(1)
    } else {
        spec.max_iterations
    };
    let tools = host.tools();
    let timeouts: HashMap<String, f64> = tools
        .iter()
        .filter_map(|t| {
            t.timeout_s
                .filter(|s| {
                    *s > 0.0
                        && synapse_protocol::seconds(*s, synapse_protocol::MAX_TIMEOUT_S).is_some()
                })
                .map(|s| (t.name.clone(), s))
        })
        .collect();
    let mut req = ProviderRequest {
        model: if spec.model.is_empty() {
            settings.model.clone()
        } else {
            spec.model
        },
        max_tokens: if spec.max_tokens == 0 {
            settings.max_tokens
        } else {
            spec.max_tokens
        },
        system: Some(
            spec.system
                .unwrap_or_else(|| settings.system_prompt.clone()),
        ),
        tools,
        stored: spec.stored_history,
        messages: spec.history,
    };
    let user = json!({"role": "user", "content": [{"type": "text", "text": spec.prompt}]});
    if let Err(e) = observer.message(user.clone()).await {
        return (TurnStatus::ApiError, Some(e));
    }
    req.messages.push(user);
    if let Some(summary) = &spec.summary {
        context::prepend_summary_to(&mut req, summary);
    }
    let mut window = context::Window::new(settings, &req, spec.stored_idx, spec.history_bytes);
    let set = |f: &dyn Fn(&mut Progress)| {
        if let Ok(mut p) = progress.lock() {
            f(&mut p);
        }
    };
    if let Err(e) = provider.ready() {
        return (TurnStatus::ApiError, Some(e));
    }
    let mut iterations = 0u32;
    loop {
        if cancel.is_cancelled() {
            return (TurnStatus::Cancelled, None);
        }
        if window.over() {
            match context::compact(
                &mut req,
                &mut window,
                false,
                provider,
                &sink,
                observer,
                cancel,
            )
            .await
            {
                Ok(()) => {}
                Err(ProviderError::Cancelled) => return (TurnStatus::Cancelled, None),
                Err(ProviderError::Api(e)) => return (TurnStatus::ApiError, Some(e)),
            }
        }
        if let Err(e) = observer.before_request() {
            return (TurnStatus::BudgetExceeded, Some(e));
        }
        iterations += 1;
        set(&|p| p.iterations = iterations);
        window.sending();
        if let Ok(mut last) = sink.last_input.lock() {
            *last = 0;
        }
        let resp = match provider.stream(&req, &sink, cancel).await {
            Ok(r) => r,
            Err(ProviderError::Cancelled) => return (TurnStatus::Cancelled, None),
            Err(ProviderError::Api(e)) if !window.forced && context::is_prompt_too_long(&e) => {
                // One forced compaction, then the same request again.
                window.forced = true;
                tracing::warn!("the API says the prompt is too long; compacting and retrying once");
                match context::compact(
                    &mut req,
                    &mut window,
                    true,
                    provider,
                    &sink,
                    observer,
                    cancel,
                )
                .await
                {
                    Ok(()) => continue,
                    Err(ProviderError::Cancelled) => return (TurnStatus::Cancelled, None),
                    Err(ProviderError::Api(e)) => return (TurnStatus::ApiError, Some(e)),
                }
            }
            Err(ProviderError::Api(e)) => return (TurnStatus::ApiError, Some(e)),
        };
        window.reported(sink.last_input.lock().map_or(0, |l| *l));
        let text = text_of_blocks(&resp.content);
        set(&|p| p.text = text.clone());
        let uses = tool_uses(&resp.content);
        let assistant = json!({"role": "assistant", "content": resp.content});
        if let Err(e) = observer.message(assistant.clone()).await {
            return (TurnStatus::ApiError, Some(e));
        }
        window.added(&assistant);
        req.messages.push(assistant);

        let stop = resp.stop_reason.as_deref();
        let (status, closing) = match stop {
            Some("tool_use") if !uses.is_empty() => {
                if iterations >= max_iterations {
                    (TurnStatus::MaxIterations, "MaxIterations")
                } else {
                    let offered: Vec<String> = req.tools.iter().map(|t| t.name.clone()).collect();
                    let round = run_tools(
                        &uses,
                        &offered,
                        settings.max_tool_result_bytes as usize,
                        &spec.turn_id,
                        &timeouts,
                        host,
                        observer,
                        cancel,
                        progress,
                    )
                    .await;
                    let msg = json!({"role": "user", "content": round.results});
                    if let Err(e) = observer.message(msg.clone()).await {
                        return (TurnStatus::ApiError, Some(e));
                    }
                    window.added(&msg);
                    req.messages.push(msg);
                    if round.cancelled {
                        return (TurnStatus::Cancelled, None);
                    }
                    continue;
                }
            }
            Some("pause_turn") if uses.is_empty() => {
                if iterations >= max_iterations {
                    return (TurnStatus::MaxIterations, None);
                }
                continue;
            }
            Some("end_turn") | Some("stop_sequence") => (TurnStatus::Complete, "NotRun"),
            Some("max_tokens") => (TurnStatus::MaxTokens, "NotRun"),
            Some("refusal") => (TurnStatus::Refusal, "NotRun"),
            other => {
                tracing::warn!(stop_reason = ?other, "unknown stop reason");
                (TurnStatus::UnknownStopReason, "NotRun")
            }
        };
        if !uses.is_empty() {
            let why = match status {
                TurnStatus::MaxIterations => {
                    format!("not run: the turn reached max_iterations ({max_iterations} API calls)")
                }
                _ => format!(
                    "not run: the response ended with stop_reason {}",
                    stop.unwrap_or("none")
                ),
            };
            let results = uses
                .iter()
                .map(|u| synthetic_result(u, closing, &why))
                .collect::<Vec<_>>();
            let msg = json!({"role": "user", "content": results});
            if let Err(e) = observer.message(msg.clone()).await {
                return (TurnStatus::ApiError, Some(e));
            }
            req.messages.push(msg);
        }
        return (status, None);
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_tools(
    uses: &[ToolUse],
    offered: &[String],
    max_result_bytes: usize,
    turn_id: &str,
    timeouts: &HashMap<String, f64>,
    host: &dyn ToolHost,
    observer: &dyn TurnObserver,
    cancel: &CancellationToken,
    progress: &Mutex<Progress>,
) -> ToolRound {
    let mut results = Vec::with_capacity(uses.len());
    for (i, u) in uses.iter().enumerate() {
        if cancel.is_cancelled() {
            results.extend(
                uses[i..]
                    .iter()
                    .map(|r| synthetic_result(r, "Cancelled", CANCELLED_MSG)),
            );
            return ToolRound {
                results,
                cancelled: true,
            };
        }
        let timeout_s = timeouts
            .get(&u.name)
            .copied()
            .unwrap_or(DEFAULT_TOOL_TIMEOUT_S);
        observer.event(TurnEventKind::ToolCall {
            call_id: u.id.clone(),
            name: u.name.clone(),
            input: u.input.clone(),
        });
        let call = ToolCall {
            call_id: u.id.clone(),
            turn_id: turn_id.to_owned(),
            name: u.name.clone(),
            input: u.input.clone(),
            timeout_s,
        };
        if !offered.contains(&u.name) {
            // Never sent to the host: it was not offered with the request.
            let outcome = host.not_offered(&call, offered);
            let (is_error, text) = result_text(&outcome, &u.name, max_result_bytes);
            observer.event(TurnEventKind::ToolResult {
                call_id: u.id.clone(),
                is_error,
                duration_ms: 0,
                error: is_error.then(|| ToolResultError::from_result_text(&text)),
            });
            let record = ToolCallRecord {
                call_id: u.id.clone(),
                name: u.name.clone(),
                input: u.input.clone(),
                is_error,
                duration_ms: 0,
            };
            observer.tool_call(&record);
            if let Ok(mut p) = progress.lock() {
                p.tool_calls.push(record);
            }
            results.push(tool_result_block(&u.id, is_error, text));
            continue;
        }
        let child = cancel.child_token();
        // The approval gate (§11) waits outside the tool's timeout.
        let permitted = tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(None),
            r = host.permit(&call, child.clone()) => r.map_err(Some),
        };
        let started = Instant::now();
        let limit = synapse_protocol::seconds(timeout_s, synapse_protocol::MAX_TIMEOUT_S)
            .unwrap_or(Duration::from_secs_f64(DEFAULT_TOOL_TIMEOUT_S))
            + TOOL_GRACE;
        let (outcome, cancelled) = match permitted {
            Err(None) => (
                ToolOutcome::error(&ToolErrorEnvelope::synthetic(
                    &u.name,
                    "Cancelled",
                    CANCELLED_MSG,
                )),
                true,
            ),
            Err(Some(refused)) => (refused, false),
            Ok(()) => {
                let invoked = host.invoke(call, child.clone());
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        (ToolOutcome::error(&ToolErrorEnvelope::synthetic(&u.name, "Cancelled", CANCELLED_MSG)), true)
                    }
                    r = tokio::time::timeout(limit, invoked) => match r {
                        Ok(o) => (o, false),
                        Err(_) => {
                            child.cancel();
                            let msg = format!("the host did not answer within {timeout_s} s");
                            (ToolOutcome::error(&ToolErrorEnvelope::synthetic(&u.name, "Timeout", msg)), false)
                        }
                    },
                }
            }
        };
        let (is_error, text) = result_text(&outcome, &u.name, max_result_bytes);
        let duration_ms = started.elapsed().as_millis() as u64;
        observer.event(TurnEventKind::ToolResult {
            call_id: u.id.clone(),
            is_error,
            duration_ms,
            error: is_error.then(|| ToolResultError::from_result_text(&text)),
        });
        let record = ToolCallRecord {
            call_id: u.id.clone(),
            name: u.name.clone(),
            input: u.input.clone(),
            is_error,
            duration_ms,
        };
        observer.tool_call(&record);
        if let Ok(mut p) = progress.lock() {
            p.tool_calls.push(record);
        }
        // Images go with a successful result only (an error replaced it).
        let images: &[_] = if is_error { &[] } else { &outcome.images };
        results.push(tool_result_block_with_images(&u.id, is_error, text, images));
        if cancelled {
            results.extend(
                uses[i + 1..]
                    .iter()
                    .map(|r| synthetic_result(r, "Cancelled", CANCELLED_MSG)),
            );
            return ToolRound {
                results,
                cancelled: true,
            };
        }
    }
    ToolRound {
        results,
        cancelled: false,
    }
}

const CANCELLED_MSG: &str = "the turn was cancelled before this tool call completed";

/// The `tool_result` content of an outcome: `(is_error, JSON text)`,
/// serialized once. A text longer than `max_bytes` is replaced by a
/// `ToolResultTooLarge` error telling the model to narrow its request; an
/// error envelope is clipped instead and keeps its `error_type`
/// ([`crate::oversize`]).
fn result_text(outcome: &ToolOutcome, tool_name: &str, max_bytes: usize) -> (bool, String) {
    let text = to_sorted_json(&outcome.content);
    let size = text.len();
    if size <= max_bytes {
        return (outcome.is_error, text);
    }
    if outcome.is_error {
        if let Some(clipped) = crate::oversize::clip_error_envelope(&outcome.content, max_bytes) {
            tracing::warn!(
                tool = tool_name,
                size,
                max_bytes,
                "tool error envelope too large for the model; clipped"
            );
            return (true, clipped);
        }
    }
    tracing::warn!(
        tool = tool_name,
        size,
        max_bytes,
        "tool result too large for the model; replaced by an error"
    );
    let envelope = ToolErrorEnvelope::synthetic(
        tool_name,
        "ToolResultTooLarge",
        format!(
            "the tool returned {size} bytes of JSON, more than the {max_bytes} allowed per result; \
             call it again on a narrower target (a deeper path, fewer nodes)"
        ),
    );
    (true, envelope.to_json_text())
}

fn synthetic_result(u: &ToolUse, error_type: &str, message: &str) -> Value {
    let envelope = ToolErrorEnvelope::synthetic(&u.name, error_type, message);
    tool_result_block(&u.id, true, envelope.to_json_text())
}

fn tool_uses(content: &[Value]) -> Vec<ToolUse> {
    content
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .map(|b| ToolUse {
            id: b.get("id").and_then(Value::as_str).unwrap_or("").to_owned(),
            name: b
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            input: b.get("input").cloned().unwrap_or_else(|| json!({})),
        })
        .collect()
}
