//! An incremental Server-Sent Events parser (the WHATWG event-stream rules).
//!
//! Feed it byte chunks split anywhere ([`SseParser::push`]); it yields
//! complete events. Handles `LF`, `CRLF` and lone `CR` line ends (also a
//! `CRLF` split across chunks), `:` comments, multi-line `data:` (joined by
//! `\n`), one optional space after the colon, a leading UTF-8 BOM, and
//! ignores `id:`, `retry:` and unknown fields. An unterminated last event
//! is never dispatched (as the spec says). Lines are decoded only once
//! complete, so multi-byte characters may be split across chunks.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `"message"` when absent.
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Incremental parser state.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an incomplete line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a leading `\n` belongs to it.
    after_cr: bool,
    /// The stream start (for the BOM) has been passed.
    started: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed a chunk; complete events are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.after_cr {
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
            if !chunk.is_empty() {
                self.after_cr = false;
            }
        }
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    let end = chunk[i];
                    if self.line.is_empty() {
                        self.take_line_from(&chunk[..i], out);
                    } else {
                        self.line.extend_from_slice(&chunk[..i]);
                        let line = std::mem::take(&mut self.line);
                        self.take_line_from(&line, out);
                        self.line = line;
                        self.line.clear();
                    }
                    chunk = &chunk[i + 1..];
                    if end == b'\r' {
                        if chunk.is_empty() {
                            self.after_cr = true;
                        } else if chunk[0] == b'\n' {
                            chunk = &chunk[1..];
                        }
                    }
                }
                None => {
                    self.line.extend_from_slice(chunk);
                    break;
                }
            }
        }
    }

    fn take_line_from(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
            }
        }
        if line.is_empty() {
            if self.has_data {
                let event = if self.event.is_empty() {
                    "message".to_owned()
                } else {
                    std::mem::take(&mut self.event)
                };
                out.push(SseEvent {
                    event,
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                self.event.clear();
                self.event.push_str(&String::from_utf8_lossy(value));
            }
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out);
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    const SAMPLE: &str = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
: a comment\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_delta\ndata: {\"text\":\"h\u{e9}llo \u{1F600}\"}\n\n\
data: line one\ndata:line two\ndata\n\n\
id: 7\nretry: 100\nevent: x\n\n\
event: message_stop\ndata: {}\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            ev("message_start", "{\"type\":\"message_start\"}"),
            ev("ping", "{\"type\": \"ping\"}"),
            ev("content_block_delta", "{\"text\":\"h\u{e9}llo \u{1F600}\"}"),
            ev("message", "line one\nline two\n"),
            ev("message_stop", "{}"),
        ]
    }

    #[test]
    fn whole_stream() {
        assert_eq!(parse_all(&[SAMPLE.as_bytes()]), expected());
    }

    #[test]
    fn every_split_point_and_every_byte() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..=bytes.len() {
            assert_eq!(
                parse_all(&[&bytes[..i], &bytes[i..]]),
                expected(),
                "split at {i}"
            );
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_all(&singles), expected());
    }

    #[test]
    fn crlf_and_cr_line_ends_split_anywhere() {
        for sep in ["\r\n", "\r"] {
            let text = SAMPLE.replace('\n', sep);
            let bytes = text.as_bytes();
            for i in 0..=bytes.len() {
                for j in i..=bytes.len() {
                    if j % 7 != 0 && j != bytes.len() {
                        continue;
                    }
                    assert_eq!(
                        parse_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]),
                        expected(),
                        "sep {sep:?} split {i},{j}"
                    );
                }
            }
        }
    }

    #[test]
    fn pseudo_random_chunkings() {
        let bytes = SAMPLE.replace('\n', "\r\n").into_bytes();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..500 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let n = 1 + (seed % 9) as usize;
                let end = (at + n).min(bytes.len());
                chunks.push(&bytes[at..end]);
                at = end;
            }
            assert_eq!(parse_all(&chunks), expected());
        }
    }

    #[test]
    fn bom_and_unterminated_tail() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.push(b"\xEF\xBB\xBFdata: a\n\ndata: partial", &mut out);
        // The unterminated tail is never dispatched.
        assert_eq!(out, vec![ev("message", "a")]);
    }
}
