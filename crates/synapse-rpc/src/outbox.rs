//! A connection's outgoing queue.
//!
//! One FIFO per connection, drained by that connection's writer task, so a
//! peer that stops reading only ever fills its own queue. Two kinds of line go
//! in, and order between them is kept:
//!
//! - **required** lines (responses, requests to the peer, `done` events) are
//!   always queued. The connection's reader stops reading new requests while the
//!   queue is above [`Limits::high_water`], so a peer cannot make the daemon
//!   queue answers it never reads; if required lines still pile up past
//!   [`Limits::hard`] (e.g. `done` events of many turns to a subscriber that
//!   never reads), the connection is closed.
//! - **progress** lines (`turn.event` other than `done`) are dropped when
//!   queueing them would take the queue past [`Limits::progress`] bytes (an
//!   empty queue takes any line). The peer sees the gap in `seq`.
//!
//! Lines taken by the writer still count until the writer reports them
//! written ([`Outbox::written`]), so a writer blocked on a peer that does not
//! read holds no memory outside the limits: a connection holds at most
//! [`Limits::hard`] bytes of output (plus the one line that crosses it)
//! before it is dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// Byte limits of one outbox.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Above this, progress notifications are dropped.
    pub progress: usize,
    /// Above this, the connection's reader pauses.
    pub high_water: usize,
    /// Above this, the connection is closed.
    pub hard: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            progress: 1 << 20,
            high_water: 4 << 20,
            hard: 16 << 20,
        }
    }
}

/// Why a line was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The connection is closed.
    Closed,
    /// A progress line was dropped because the peer is not reading.
    Dropped,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Bytes>,
    bytes: usize,
    closed: bool,
}

/// The outgoing queue of one connection. Lines carry their trailing `\n`.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    limits: Limits,
    /// Wakes the writer when a line arrives or the box closes.
    readable: Notify,
    /// Wakes the reader (and other waiters) when the queue shrinks or closes.
    drained: Notify,
    dropped: AtomicU64,
}

impl Outbox {
    /// An empty outbox with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            state: Mutex::new(State::default()),
            limits,
            readable: Notify::new(),
            drained: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-push; the
        // queue itself is still consistent (push/pop are single statements).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a line that must reach the peer. Closes the outbox when the hard
    /// limit is passed (the connection then ends).
    pub fn push_required(&self, line: Bytes) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed);
        }
        // An empty outbox takes any line (one response may be as large as a
        // line may be); past that, the hard limit holds.
        let was_empty = st.bytes == 0;
        st.bytes += line.len();
        st.queue.push_back(line);
        if !was_empty && st.bytes > self.limits.hard {
            st.closed = true;
            st.queue.clear();
            st.bytes = 0;
            drop(st);
            tracing::warn!(
                limit = self.limits.hard,
                "peer is not reading; closing its connection"
            );
            self.readable.notify_one();
            self.drained.notify_waiters();
            return Err(PushError::Closed);
        }
        drop(st);
        self.readable.notify_one();
        Ok(())
    }

    /// Queue a line the peer may miss if it is not reading.
    pub fn push_progress(&self, line: Bytes) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed);
        }
        // An empty queue takes any line, so a reading peer never loses an
        // event just because it is large.
        if st.bytes > 0 && st.bytes + line.len() > self.limits.progress {
            drop(st);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::Dropped);
        }
        st.bytes += line.len();
        st.queue.push_back(line);
        drop(st);
        self.readable.notify_one();
        Ok(())
    }

    /// Take every queued line, waiting until there is one. `None` once closed.
    /// The lines keep counting against the limits until the writer reports
    /// them with [`Outbox::written`].
    pub async fn pop_all(&self) -> Option<Vec<Bytes>> {
        loop {
            let notified = self.readable.notified();
            {
                let mut st = self.lock();
                if st.closed {
                    return None;
                }
                if !st.queue.is_empty() {
                    return Some(st.queue.drain(..).collect());
                }
            }
            notified.await;
        }
    }

    /// The writer has written `bytes` of the lines it took.
    pub fn written(&self, bytes: usize) {
        let mut st = self.lock();
        st.bytes = st.bytes.saturating_sub(bytes);
        let empty = st.bytes == 0;
        drop(st);
        if empty || bytes > 0 {
            self.drained.notify_waiters();
        }
    }

    /// Wait until the queue is under the high-water mark (or closed).
    pub async fn wait_for_room(&self) {
        loop {
            let notified = self.drained.notified();
            {
                let st = self.lock();
                if st.closed || st.bytes <= self.limits.high_water {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Wait until the writer has taken every queued line (or the box closed).
    pub async fn wait_empty(&self) {
        loop {
            let notified = self.drained.notified();
            {
                let st = self.lock();
                if st.closed || st.bytes == 0 {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Close: queued lines are discarded and waiters released.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.queue.clear();
        st.bytes = 0;
        drop(st);
        self.readable.notify_one();
        self.drained.notify_waiters();
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Progress lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Bytes queued now.
    pub fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Outbox {
        Outbox::new(Limits {
            progress: 10,
            high_water: 20,
            hard: 30,
        })
    }

    #[tokio::test]
    async fn progress_dropped_required_kept_in_order() {
        let ob = small();
        assert_eq!(ob.push_progress(Bytes::from_static(b"12345678\n")), Ok(()));
        assert_eq!(
            ob.push_progress(Bytes::from_static(b"abc\n")),
            Err(PushError::Dropped)
        );
        assert_eq!(ob.push_required(Bytes::from_static(b"resp\n")), Ok(()));
        assert_eq!(ob.dropped(), 1);
        let lines = ob.pop_all().await.expect("open");
        assert_eq!(
            lines,
            vec![
                Bytes::from_static(b"12345678\n"),
                Bytes::from_static(b"resp\n")
            ]
        );
        // Taken but not yet written: still counted.
        assert_eq!(ob.queued_bytes(), 14);
        ob.written(14);
        assert_eq!(ob.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn lines_held_by_a_blocked_writer_count_against_the_hard_limit() {
        let ob = small();
        assert!(ob.push_required(Bytes::from(vec![b'x'; 20])).is_ok());
        // The writer takes them and blocks on a peer that does not read.
        let taken = ob.pop_all().await.expect("open");
        assert_eq!(taken.len(), 1);
        assert!(ob.push_required(Bytes::from(vec![b'x'; 5])).is_ok());
        assert_eq!(
            ob.push_required(Bytes::from(vec![b'x'; 10])),
            Err(PushError::Closed)
        );
    }

    #[tokio::test]
    async fn an_empty_outbox_takes_one_line_over_the_hard_limit() {
        let ob = small();
        assert!(ob.push_required(Bytes::from(vec![b'x'; 40])).is_ok());
        assert_eq!(
            ob.push_required(Bytes::from(vec![b'x'; 1])),
            Err(PushError::Closed)
        );
    }

    #[tokio::test]
    async fn hard_limit_closes() {
        let ob = small();
        assert!(ob.push_required(Bytes::from(vec![b'x'; 25])).is_ok());
        assert_eq!(
            ob.push_required(Bytes::from(vec![b'x'; 10])),
            Err(PushError::Closed)
        );
        assert!(ob.is_closed());
        assert!(ob.pop_all().await.is_none());
    }
}
