//! One connection: a reader task and a writer task joined by an [`Outbox`](crate::outbox::Outbox).
//!
//! The reader decodes frames and dispatches them. Synchronous methods run
//! inline (they are cheap and keep their order); asynchronous ones run in
//! their own task so a long `turn.wait` does not hold up the next request, at
//! most [`MAX_IN_FLIGHT`] at a time per connection. Before reading the next
//! frame the reader waits until the outbox is under its high-water mark: a peer
//! that does not read its answers is simply not read from any more.
//!
//! The writer drains the outbox onto the socket. A write error closes the peer.
//! At EOF the reader lets in-flight calls finish and the outbox drain, then
//! closes. On shutdown the reader stops at once and the outbox gets a bounded
//! time to drain.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::codec::{Frame, LineCodec};
use crate::dispatch::Dispatcher;
use crate::endpoint::{self, Stream};
use crate::peer::Peer;

/// Most asynchronous calls running at once for one connection.
pub const MAX_IN_FLIGHT: usize = 256;

/// How long a closing connection may take to flush what it has queued.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Serve one accepted stream until it closes or `shutdown` fires.
pub async fn serve(
    stream: Stream,
    peer: Peer,
    dispatcher: Dispatcher,
    shutdown: CancellationToken,
) {
    let (read, mut write) = endpoint::split(stream);
    let writer_peer = peer.clone();
    let writer = tokio::spawn(async move {
        let outbox = writer_peer.outbox().clone();
        while let Some(lines) = outbox.pop_all().await {
            for line in lines {
                if let Err(e) = write.write_all(&line).await {
                    tracing::debug!(conn = writer_peer.id(), error = %e, "write failed; closing");
                    writer_peer.close();
                    return;
                }
                outbox.written(line.len());
            }
        }
        let _ = write.shutdown().await;
    });

    let mut frames = FramedRead::with_capacity(
        read,
        LineCodec::new(synapse_protocol::MAX_LINE_BYTES),
        crate::codec::READ_BUFFER,
    );
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut eof = false;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = peer.closed() => break,
            () = peer.outbox().wait_for_room() => {}
        }
        let frame = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = peer.closed() => break,
            f = frames.next() => f,
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::debug!(conn = peer.id(), error = %e, "read failed");
                break;
            }
            None => {
                eof = true;
                break;
            }
        };
        if runs_inline(&frame, &dispatcher) {
            let reply = dispatcher.handle(frame, &peer).await;
            deliver(&peer, reply);
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let d = dispatcher.clone();
        let p = peer.clone();
        tokio::spawn(async move {
            let reply = tokio::select! {
                r = d.handle(frame, &p) => r,
                () = p.closed() => return,
            };
            deliver(&p, reply);
            drop(permit);
        });
    }

    peer.mark_read_ended();
    if eof && !peer.is_closed() {
        // Half-closed by the peer: finish what it asked for (unless the
        // daemon is shutting down), then flush.
        tokio::select! {
            _ = in_flight.acquire_many(MAX_IN_FLIGHT as u32) => {}
            () = shutdown.cancelled() => {}
        }
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, peer.outbox().wait_empty()).await;
    peer.close();
    let _ = writer.await;
}

fn deliver(peer: &Peer, reply: crate::dispatch::Reply) {
    if let Some(line) = reply.line.clone() {
        if peer.send_required(line).is_err() {
            return;
        }
    }
    reply.sent();
}

/// Cheap synchronous single calls and every error reply run on the reader.
fn runs_inline(frame: &Frame, dispatcher: &Dispatcher) -> bool {
    let Frame::Line(line) = frame else {
        return true;
    };
    // Peek the method without a full parse: `"method":"name"`.
    match peek_method(line) {
        Some(m) => dispatcher.is_sync(m) || !dispatcher.has_method(m),
        None => line.first().is_none_or(|b| *b != b'['),
    }
}

fn peek_method(line: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(line).ok()?;
    let start = text.find("\"method\"")? + "\"method\"".len();
    let rest = text[start..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::peek_method;

    #[test]
    fn peeks_method_names() {
        assert_eq!(
            peek_method(br#"{"jsonrpc":"2.0","id":1,"method":"daemon.status"}"#),
            Some("daemon.status")
        );
        assert_eq!(peek_method(br#"{"method" : "x"}"#), Some("x"));
        assert_eq!(peek_method(br#"{"id":1,"result":{}}"#), None);
    }
}
