//! The stdio transport, with JSON-RPC errors for what the SDK would skip.
//!
//! `rmcp`'s own stdio transport drops a line that is not JSON without a word
//! and routes a `tools/call` whose params have the wrong shape to "method not
//! found". This transport reads the lines itself and answers, per JSON-RPC
//! 2.0 and the MCP spec: `-32700` for a line that is not JSON (id `null`),
//! `-32600` for JSON that is not a JSON-RPC message (batches included: MCP
//! has none since 2025-06-18), `-32602` for `tools/call` / `tools/list` params
//! of the wrong shape. Everything else goes to the SDK unchanged. One writer
//! task owns stdout, so these answers and the SDK's never interleave within a
//! line; nothing but protocol lines is ever written there.

use std::pin::Pin;

use futures::{Sink, Stream, StreamExt};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::RoleServer;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// Longest accepted line (the daemon's own limit).
pub const MAX_LINE: usize = synapse_protocol::MAX_LINE_BYTES;

/// What `serve` needs: a sink and a stream of MCP messages.
pub type Transport = (
    Pin<Box<dyn Sink<TxJsonRpcMessage<RoleServer>, Error = std::io::Error> + Send>>,
    Pin<Box<dyn Stream<Item = RxJsonRpcMessage<RoleServer>> + Send>>,
);

/// Lines to stdout, in order.
#[derive(Clone, Debug)]
pub struct Out(mpsc::UnboundedSender<Vec<u8>>);

impl Out {
    fn line(&self, mut bytes: Vec<u8>) -> Result<(), std::io::Error> {
        bytes.push(b'\n');
        self.0
            .send(bytes)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout closed"))
    }

    fn error(&self, id: Value, code: i32, message: &str, data: String) {
        let msg = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}});
        tracing::warn!(code, %data, "answered a malformed MCP message");
        let _ = self.line(msg.to_string().into_bytes());
    }
}

/// Start the stdout writer; returns the transport and the writer task (await
/// it after the service ends so the last answers are flushed).
pub fn transport<R, W>(input: R, mut output: W) -> (Transport, tokio::task::JoinHandle<()>)
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if output.write_all(&line).await.is_err() {
                return;
            }
            // Flush when nothing else is queued (one syscall per burst).
            if rx.is_empty() && output.flush().await.is_err() {
                return;
            }
        }
        let _ = output.flush().await;
    });
    let out = Out(tx);
    let sink_out = out.clone();
    let sink = futures::sink::unfold(
        sink_out,
        |out, msg: TxJsonRpcMessage<RoleServer>| async move {
            let bytes = serde_json::to_vec(&msg).map_err(std::io::Error::other)?;
            out.line(bytes)?;
            Ok::<_, std::io::Error>(out)
        },
    );
    let lines = FramedRead::new(input, LinesCodec::new_with_max_length(MAX_LINE));
    let stream = lines
        .take_while(|r| {
            // An I/O error on stdin ends the session like EOF.
            std::future::ready(!matches!(r, Err(LinesCodecError::Io(_))))
        })
        .filter_map(move |r| {
            let out = out.clone();
            async move {
                match r {
                    Ok(line) => check(&out, &line),
                    Err(_) => {
                        out.error(
                            Value::Null,
                            -32600,
                            "Invalid Request",
                            format!("line longer than {MAX_LINE} bytes"),
                        );
                        None
                    }
                }
            }
        });
    ((Box::pin(sink), Box::pin(stream)), writer)
}

/// A line as an MCP message, or `None` after answering why it is not one.
fn check(out: &Out, line: &str) -> Option<RxJsonRpcMessage<RoleServer>> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            out.error(Value::Null, -32700, "Parse error", e.to_string());
            return None;
        }
    };
    let Some(obj) = v.as_object() else {
        out.error(
            Value::Null,
            -32600,
            "Invalid Request",
            "a message must be a JSON object (MCP has no batches)".into(),
        );
        return None;
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let has_id = obj.contains_key("id");
    if let Some(method) = obj.get("method").and_then(Value::as_str) {
        if has_id {
            if let Err(why) = params_shape(method, obj.get("params")) {
                out.error(id, -32602, "Invalid params", why);
                return None;
            }
        }
    }
    match serde_json::from_value::<RxJsonRpcMessage<RoleServer>>(v) {
        Ok(m) => Some(m),
        Err(e) => {
            if has_id {
                out.error(id, -32600, "Invalid Request", e.to_string());
            } else {
                tracing::warn!(error = %e, "ignored a malformed notification");
            }
            None
        }
    }
}

/// The params shapes of the methods this server implements.
fn params_shape(method: &str, params: Option<&Value>) -> Result<(), String> {
    let p = params.unwrap_or(&Value::Null);
    match method {
        "tools/call" => {
            let Some(o) = p.as_object() else {
                return Err("tools/call params must be an object".into());
            };
            if !o.get("name").is_some_and(Value::is_string) {
                return Err("tools/call params.name must be a string".into());
            }
            match o.get("arguments") {
                None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
                Some(_) => Err("tools/call params.arguments must be an object".into()),
            }
        }
        "tools/list" => match p {
            Value::Null | Value::Object(_) => Ok(()),
            _ => Err("tools/list params must be an object".into()),
        },
        _ => Ok(()),
    }
}
