//! `turn.event` fan-out.
//!
//! Each live turn has a [`Hub`]: its `seq` counter and the connections that
//! asked for its events (the submitter, `turn.subscribe {turn_id}`), plus the
//! daemon-wide subscribers of `turn.subscribe {}`. An event is serialised
//! once and queued on every subscriber's outbox: progress events may be
//! dropped for a peer that is not reading (it sees a gap in `seq`), `done` is
//! always queued.

use std::sync::Mutex;

use synapse_protocol::{method, Notification, TurnEvent, TurnEventKind};
use synapse_rpc::peer::encode;
use synapse_rpc::Peer;

/// Subscribers of every turn.
#[derive(Debug, Default)]
pub struct Global {
    peers: Mutex<Vec<Peer>>,
}

impl Global {
    /// Add `peer` (once).
    pub fn add(&self, peer: &Peer) {
        let mut v = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|p| !p.is_closed());
        if !v.iter().any(|p| p.id() == peer.id()) {
            v.push(peer.clone());
        }
    }

    fn snapshot(&self) -> Vec<Peer> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One turn's event stream.
#[derive(Debug)]
pub struct Hub {
    turn_id: String,
    state: Mutex<HubState>,
}

#[derive(Debug, Default)]
struct HubState {
    next_seq: u64,
    peers: Vec<Peer>,
    done: bool,
    /// Events held until [`Hub::release`] (a turn that runs before its
    /// submit answer is written: its events must follow that answer).
    held: Option<Vec<TurnEventKind>>,
}

impl Hub {
    /// A hub for `turn_id` with no subscribers.
    pub fn new(turn_id: &str) -> Self {
        Self {
            turn_id: turn_id.to_owned(),
            state: Mutex::new(HubState::default()),
        }
    }

    /// A hub whose events are held until [`Hub::release`].
    pub fn held(turn_id: &str) -> Self {
        let hub = Self::new(turn_id);
        hub.lock().held = Some(Vec::new());
        hub
    }

    /// Send the held events, in order, and stop holding (no-op when not
    /// holding).
    pub fn release(&self, global: &Global) {
        let mut st = self.lock();
        let Some(held) = st.held.take() else {
            return;
        };
        for kind in held {
            self.send(&mut st, kind, global);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a subscriber (once). Returns false when the turn is already done.
    pub fn subscribe(&self, peer: &Peer) -> bool {
        let mut st = self.lock();
        if st.done {
            return false;
        }
        if !st.peers.iter().any(|p| p.id() == peer.id()) {
            st.peers.push(peer.clone());
        }
        true
    }

    /// Emit one event to the turn's subscribers and the global ones.
    pub fn emit(&self, kind: TurnEventKind, global: &Global) {
        // Seq assignment and queueing happen under the lock so every
        // subscriber sees events in seq order.
        let mut st = self.lock();
        if let Some(held) = st.held.as_mut() {
            held.push(kind);
            return;
        }
        self.send(&mut st, kind, global);
    }

    fn send(&self, st: &mut HubState, kind: TurnEventKind, global: &Global) {
        let done = kind.is_done();
        let required = kind.is_required();
        if st.done {
            return;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let event = TurnEvent {
            turn_id: self.turn_id.clone(),
            seq,
            kind,
        };
        let params = serde_json::to_value(&event).unwrap_or_default();
        let line = encode(&Notification::new(method::TURN_EVENT, Some(params)));
        st.peers.retain(|p| !p.is_closed());
        let mut targets = st.peers.clone();
        for g in global.snapshot() {
            if !g.is_closed() && !targets.iter().any(|p| p.id() == g.id()) {
                targets.push(g);
            }
        }
        for p in &targets {
            let _ = if required {
                p.send_required(line.clone())
            } else {
                p.send_progress(line.clone())
            };
        }
        if done {
            st.done = true;
            st.peers.clear();
        }
    }
}
