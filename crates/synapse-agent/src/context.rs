//! Fitting a long session into the model's context window (design §10).
//!
//! Before each request the loop estimates its input tokens: the input the
//! API reported for the previous request of the turn (input + cache reads +
//! cache writes) plus a quarter token per byte added since, and never less
//! than a quarter token per byte of the whole request. Past `compact_at` of
//! the window it compacts the history it SENDS (the stored one is never
//! changed):
//!
//! 1. [`elide`]: every `tool_result` but the last [`KEEP_TOOL_RESULTS`]
//!    becomes `{"elided": true, "tool_name", "bytes", "note"}` (images
//!    dropped);
//! 2. if still over, the oldest whole turns are replaced by a summary the
//!    model writes (a request without tools whose only user message begins
//!    with [`COMPACT_MARKER`]); the summary is stored as a compaction
//!    record and later turns start from it ([`prepend_summary`]).

use serde_json::{json, Value};
use synapse_protocol::{TurnEventKind, Usage};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::observer::TurnObserver;
use crate::provider::{Provider, ProviderError, ProviderRequest, StreamSink};

/// The first words of a summary request's user message.
pub const COMPACT_MARKER: &str = "[synapse:compact]";

/// The first words of the text block that carries a summary in a request.
pub const SUMMARY_MARKER: &str = "[synapse:summary]";

/// Tool results left whole by elision (the newest ones).
pub const KEEP_TOOL_RESULTS: usize = 3;

/// Tool results this small are kept: the note replacing them would not be
/// smaller.
pub const ELIDE_ABOVE_BYTES: usize = 256;

/// Longest transcript sent for summarizing, in bytes.
pub const MAX_TRANSCRIPT_BYTES: usize = 400_000;

/// Output tokens allowed for a summary.
pub const SUMMARY_MAX_TOKENS: u32 = 2048;

/// Estimated tokens of `bytes` bytes of request JSON.
pub fn tokens_of_bytes(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// Bytes of `v` as compact JSON.
pub fn json_bytes(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(0, |b| b.len())
}

fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_tool_result(b: &Value) -> bool {
    b.get("type").and_then(Value::as_str) == Some("tool_result")
}

fn is_elided(b: &Value) -> bool {
    b.get("content")
        .and_then(Value::as_str)
        .filter(|t| t.contains("\"elided\":true"))
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .is_some_and(|v| v.get("elided") == Some(&Value::Bool(true)))
}

/// Replace every `tool_result` but the last `keep` with a short note naming
/// the tool and the size it had. Returns how many were elided.
pub fn elide(messages: &mut [Value], keep: usize) -> usize {
    let names: std::collections::HashMap<String, String> = messages
        .iter()
        .flat_map(blocks)
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .filter_map(|b| {
            Some((
                b.get("id")?.as_str()?.to_owned(),
                b.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ))
        })
        .collect();
    let total: usize = messages
        .iter()
        .map(|m| blocks(m).iter().filter(|b| is_tool_result(b)).count())
        .sum();
    let mut to_elide = total.saturating_sub(keep);
    let mut elided = 0;
    for m in messages.iter_mut() {
        if to_elide == 0 {
            break;
        }
        let Some(content) = m.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        for b in content.iter_mut().filter(|b| is_tool_result(b)) {
            if to_elide == 0 {
                break;
            }
            to_elide -= 1;
            if is_elided(b) {
                continue;
            }
            let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
            let bytes = b.get("content").map_or(0, json_bytes);
            if bytes <= ELIDE_ABOVE_BYTES {
                continue; // the note would not be smaller
            }
            let note = json!({
                "elided": true,
                "tool_name": names.get(id).cloned().unwrap_or_default(),
                "bytes": bytes,
                "note": "re-run the tool if you need this",
            });
            b["content"] = Value::String(synapse_protocol::to_sorted_json(&note));
            elided += 1;
        }
    }
    elided
}

/// Indexes of the messages that start a turn: user messages that carry no
/// `tool_result` (the prompts).
pub fn turn_starts(messages: &[Value]) -> Vec<usize> {
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.get("role").and_then(Value::as_str) == Some("user"))
        .filter(|(_, m)| !blocks(m).iter().any(is_tool_result))
        .map(|(i, _)| i)
        .collect()
}

/// A readable transcript of `messages` for the summary request, at most
/// [`MAX_TRANSCRIPT_BYTES`] (the oldest part is cut first).
pub fn transcript(messages: &[Value]) -> String {
    let mut parts = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("?");
        if let Some(text) = m.get("content").and_then(Value::as_str) {
            parts.push(format!("{role}: {text}"));
            continue;
        }
        for b in blocks(m) {
            let line = match b.get("type").and_then(Value::as_str) {
                Some("text") => format!("{role}: {}", b["text"].as_str().unwrap_or("")),
                Some("tool_use") => format!(
                    "{role} called {} {}",
                    b["name"].as_str().unwrap_or("?"),
                    clip(&b["input"].to_string(), 2000)
                ),
                Some("tool_result") => format!(
                    "tool result: {}",
                    clip(
                        b["content"].as_str().unwrap_or(&b["content"].to_string()),
                        2000
                    )
                ),
                _ => continue,
            };
            parts.push(line);
        }
    }
    let mut text = parts.join("\n");
    if text.len() > MAX_TRANSCRIPT_BYTES {
        let mut cut = text.len() - MAX_TRANSCRIPT_BYTES;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("(earlier part cut)\n{}", &text[cut..]);
    }
    text
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// The request that asks the model for a summary of `older` messages.
pub fn summary_request(model: &str, older: &[Value]) -> ProviderRequest {
    let prompt = format!(
        "{COMPACT_MARKER} The conversation below, between a Houdini artist and you (an assistant \
         working in their scene with tools), is too long to keep whole. Write a concise summary \
         that lets you continue the work: the artist's goals, what was found in the scene (node \
         paths, parameter values, errors), what was changed and what is still to do. Plain text, \
         no preamble.\n\n{}",
        transcript(older)
    );
    ProviderRequest {
        model: model.to_owned(),
        max_tokens: SUMMARY_MAX_TOKENS,
        system: Some(String::new()),
        tools: Vec::new(),
        stored: Vec::new(),
        messages: vec![json!({"role": "user", "content": [{"type": "text", "text": prompt}]})],
    }
}

/// Put `summary` in front of the first message (a user prompt) as a text
/// block, so the history still starts with the user and alternates.
pub fn prepend_summary(messages: &mut [Value], summary: &str) {
    let Some(first) = messages.first_mut() else {
        return;
    };
    let block = summary_block(summary);
    match first.get_mut("content") {
        Some(Value::Array(content)) => content.insert(0, block),
        Some(Value::String(text)) => {
            let t = std::mem::take(text);
            first["content"] = json!([block, {"type": "text", "text": t}]);
        }
        _ => first["content"] = json!([block]),
    }
}

/// The text block that carries a compaction's `summary` in front of the
/// first message sent.
pub fn summary_block(summary: &str) -> Value {
    json!({
        "type": "text",
        "text": format!("{SUMMARY_MARKER} Summary of the earlier conversation:\n{summary}")
    })
}

/// [`prepend_summary`] on a request: on its first stored message when it has
/// one (only that message's text is rewritten), else on its first message.
pub fn prepend_summary_to(req: &mut ProviderRequest, summary: &str) {
    if let Some(first) = req.stored.first_mut() {
        if first.prepend_block(&summary_block(summary)).is_ok() {
            return;
        }
        req.materialize();
    }
    prepend_summary(&mut req.messages, summary);
}

/// A provider sink for the summary request: usage and retries count to the
/// turn, text is not shown to the artist.
struct SummarySink<'a>(&'a dyn StreamSink);

impl StreamSink for SummarySink<'_> {
    fn text(&self, _delta: &str) {}
    fn retry(&self, attempt: u32, delay_ms: u64, reason: &str) {
        self.0.retry(attempt, delay_ms, reason);
    }
    fn usage(&self, usage: &Usage) {
        self.0.usage(usage);
    }
}

/// The context budget of one turn: what the next request is estimated to
/// cost, and when to compact.
#[derive(Debug)]
pub(crate) struct Window {
    threshold: u64,
    /// Bytes of the request as it would be sent now.
    bytes: usize,
    /// Input tokens the API reported for a request, and its size in bytes.
    reported: Option<(u64, usize)>,
    /// Bytes when the last request was sent.
    bytes_at_request: usize,
    /// Stored index of each sent message, as far as known (history and prompt).
    stored_idx: Vec<i64>,
    /// A forced compaction (after "prompt is too long") was made.
    pub(crate) forced: bool,
}

impl Window {
    /// The budget of `req`, whose first messages have the stored indexes
    /// `stored_idx`. `history_bytes`: what the history messages (all but the
    /// last, the prompt) take, when the caller knows it (0: measured here).
    pub(crate) fn new(
        settings: &Settings,
        req: &ProviderRequest,
        stored_idx: Vec<i64>,
        history_bytes: usize,
    ) -> Self {
        let window = settings.context_window_of(&req.model);
        let threshold = (window as f64 * settings.compact_at) as u64;
        let bytes = match req.messages.split_last() {
            Some((prompt, history)) if history_bytes > 0 && !history.is_empty() => {
                // Everything but the messages, then the known history and the prompt.
                let frame = ProviderRequest {
                    stored: Vec::new(),
                    messages: Vec::new(),
                    ..req.clone_without_messages()
                };
                crate::anthropic::request::body_bytes(&frame).map_or(0, |b| b.len())
                    + history_bytes
                    + json_bytes(prompt)
            }
            _ => crate::anthropic::request::body_bytes(req).map_or(0, |b| b.len()),
        };
        Self {
            threshold,
            bytes,
            reported: None,
            bytes_at_request: bytes,
            stored_idx,
            forced: false,
        }
    }

    /// A message was added to the request.
    pub(crate) fn added(&mut self, message: &Value) {
        self.bytes += json_bytes(message) + 1;
    }

    /// A request is about to be sent.
    pub(crate) fn sending(&mut self) {
        self.bytes_at_request = self.bytes;
    }

    /// The API reported `input` tokens (uncached + cache reads + writes) for
    /// the request last sent.
    pub(crate) fn reported(&mut self, input: u64) {
        if input > 0 {
            self.reported = Some((input, self.bytes_at_request));
        }
    }

    /// Estimated input tokens of the request as it stands.
    pub(crate) fn estimate(&self) -> u64 {
        let by_size = tokens_of_bytes(self.bytes);
        match self.reported {
            Some((tokens, at)) => {
                by_size.max(tokens + tokens_of_bytes(self.bytes.saturating_sub(at)))
            }
            None => by_size,
        }
    }

    /// True when the request should be compacted before it is sent.
    pub(crate) fn over(&self) -> bool {
        self.estimate() > self.threshold
    }

    fn measure(&mut self, req: &ProviderRequest) {
        self.bytes = crate::anthropic::request::body_bytes(req).map_or(0, |b| b.len());
        self.reported = None;
    }
}

/// Compact `req` (see the module docs): elide, then summarize the oldest
/// turns when still over the budget (or when `force`d). Events go to the
/// observer; the summary is stored through it. Errors: a cancel, or a
/// summary that could not be stored.
pub(crate) async fn compact(
    req: &mut ProviderRequest,
    win: &mut Window,
    force: bool,
    provider: &dyn Provider,
    sink: &dyn StreamSink,
    observer: &dyn TurnObserver,
    cancel: &CancellationToken,
) -> Result<(), ProviderError> {
    let before = win.estimate();
    // Compaction edits messages: the stored ones are parsed from here on.
    req.materialize();
    if elide(&mut req.messages, KEEP_TOOL_RESULTS) > 0 {
        win.measure(req);
        observer.event(TurnEventKind::Compaction {
            method: "elide".into(),
            tokens_before: before,
            tokens_after: win.estimate(),
        });
    }
    if !(force || win.over()) {
        return Ok(());
    }
    let before = win.estimate();
    let starts = turn_starts(&req.messages);
    let Some(&current) = starts.last() else {
        return Ok(());
    };
    // The smallest cut that leaves at most half the budget; at most up to
    // the current turn's prompt, which always stays.
    let half = win.threshold / 2;
    // Bytes from each message to the end, each message measured once (the
    // search was quadratic: seconds at 5,000 turns).
    let mut rest = vec![0usize; req.messages.len() + 1];
    for (i, m) in req.messages.iter().enumerate().rev() {
        rest[i] = rest[i + 1] + json_bytes(m) + 1;
    }
    let cut = starts
        .iter()
        .copied()
        .filter(|&s| s > 0)
        .find(|&s| tokens_of_bytes(rest[s]) <= half)
        .unwrap_or(current);
    if cut == 0 {
        tracing::warn!("the current turn alone is over the context budget; nothing to summarize");
        return Ok(());
    }
    let Some(&upto) = win.stored_idx.get(cut) else {
        return Ok(());
    };
    if observer.before_request().is_err() {
        // A spending cap is reached: no summary request either (the loop's
        // own check ends the turn `budget_exceeded`).
        return Ok(());
    }
    let sreq = summary_request(&req.model, &req.messages[..cut]);
    let resp = match provider.stream(&sreq, &SummarySink(sink), cancel).await {
        Ok(r) => r,
        Err(ProviderError::Cancelled) => return Err(ProviderError::Cancelled),
        Err(ProviderError::Api(e)) => {
            tracing::warn!(error = %e.message, "the summary request failed; the history is sent without it");
            return Ok(());
        }
    };
    let summary = synapse_protocol::text_of_blocks(&resp.content);
    let summary = summary.trim();
    if summary.is_empty() {
        return Ok(());
    }
    observer
        .compaction(upto, summary)
        .await
        .map_err(ProviderError::Api)?;
    req.messages.drain(..cut);
    win.stored_idx.drain(..cut);
    prepend_summary(&mut req.messages, summary);
    win.measure(req);
    observer.event(TurnEventKind::Compaction {
        method: "summary".into(),
        tokens_before: before,
        tokens_after: win.estimate(),
    });
    Ok(())
}

/// True for the API's 400 "prompt is too long".
pub(crate) fn is_prompt_too_long(e: &synapse_protocol::TurnError) -> bool {
    e.kind == synapse_protocol::ErrorKind::InvalidRequest
        && e.message
            .to_ascii_lowercase()
            .contains("prompt is too long")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_round(i: usize) -> [Value; 2] {
        [
            json!({"role":"assistant","content":[{"type":"tool_use","id":format!("t{i}"),"name":"houdini_list_nodes","input":{}}]}),
            json!({"role":"user","content":[{"type":"tool_result","tool_use_id":format!("t{i}"),"content":"x".repeat(1000)}]}),
        ]
    }

    #[test]
    fn elision_keeps_the_newest_results_and_names_the_tool() {
        let mut m = vec![json!({"role":"user","content":[{"type":"text","text":"go"}]})];
        for i in 0..5 {
            m.extend(tool_round(i));
        }
        assert_eq!(elide(&mut m, 3), 2);
        let first: Value =
            serde_json::from_str(m[2]["content"][0]["content"].as_str().unwrap_or(""))
                .unwrap_or(Value::Null);
        assert_eq!(first["elided"], true);
        assert_eq!(first["tool_name"], "houdini_list_nodes");
        assert_eq!(first["bytes"], 1002);
        assert_eq!(
            m[10]["content"][0]["content"].as_str().map(str::len),
            Some(1000)
        );
        assert_eq!(elide(&mut m, 3), 0, "idempotent");
    }

    #[test]
    fn turns_start_at_prompts_and_summaries_go_in_front() {
        let mut m = vec![json!({"role":"user","content":[{"type":"text","text":"a"}]})];
        m.extend(tool_round(0));
        m.push(json!({"role":"assistant","content":[{"type":"text","text":"done"}]}));
        m.push(json!({"role":"user","content":"b"}));
        assert_eq!(turn_starts(&m), vec![0, 4]);
        let mut tail = m[4..].to_vec();
        prepend_summary(&mut tail, "the artist made a box");
        assert_eq!(tail[0]["content"][1], json!({"type":"text","text":"b"}));
        assert!(tail[0]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(SUMMARY_MARKER) && t.contains("made a box")));
        let r = summary_request("m", &m[..4]);
        assert!(r.tools.is_empty());
        let text = r.messages[0]["content"][0]["text"].as_str().unwrap_or("");
        assert!(text.starts_with(COMPACT_MARKER));
        assert!(text.contains("called houdini_list_nodes"));
    }
}
