//! Registered hosts: which connection serves which tools.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use synapse_protocol::{HostInfo, HostRegisterParams, Timestamp, ToolSpec};
use synapse_rpc::Peer;

/// One registered host.
#[derive(Clone, Debug)]
pub struct Host {
    /// Daemon-assigned id.
    pub host_id: String,
    /// Display name.
    pub name: String,
    /// What it registered with (shared: a `Host` is cloned per tool call,
    /// its tool catalogue is not).
    pub params: Arc<HostRegisterParams>,
    /// When it registered.
    pub connected_at: Timestamp,
    /// The connection that serves its `tool.invoke`.
    pub peer: Peer,
}

impl Host {
    /// Its `daemon.status.hosts[]` entry.
    pub fn info(&self) -> HostInfo {
        HostInfo {
            host_id: self.host_id.clone(),
            name: self.params.name.clone(),
            houdini_version: self.params.houdini_version.clone(),
            pid: self.params.pid,
            hip: self.params.hip.clone(),
            ui_available: self.params.ui_available,
            tools: self.params.tools.len(),
            connected_at: self.connected_at,
        }
    }

    /// Its tools.
    pub fn tools(&self) -> &[ToolSpec] {
        &self.params.tools
    }
}

/// Every live host, by id and by connection.
#[derive(Debug, Default)]
pub struct Hosts {
    inner: Mutex<HashMap<String, Host>>,
}

impl Hosts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Host>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `peer` as a host, or update it if that connection already is one.
    pub fn register(&self, peer: &Peer, params: HostRegisterParams) -> Host {
        let mut map = self.lock();
        let existing = map
            .values()
            .find(|h| h.peer.id() == peer.id())
            .map(|h| h.host_id.clone());
        let host_id = existing.unwrap_or_else(|| format!("host_{}", uuid::Uuid::now_v7().simple()));
        let host = Host {
            host_id: host_id.clone(),
            name: params.name.clone(),
            params: Arc::new(params),
            connected_at: Timestamp::now(),
            peer: peer.clone(),
        };
        map.insert(host_id, host.clone());
        host
    }

    /// Drop the host served by connection `conn`, if any.
    pub fn remove_connection(&self, conn: u64) -> Option<Host> {
        let mut map = self.lock();
        let id = map
            .values()
            .find(|h| h.peer.id() == conn)
            .map(|h| h.host_id.clone())?;
        map.remove(&id)
    }

    /// The host with this id.
    pub fn get(&self, host_id: &str) -> Option<Host> {
        self.lock().get(host_id).cloned()
    }

    /// The host served by connection `conn`.
    pub fn by_connection(&self, conn: u64) -> Option<Host> {
        self.lock().values().find(|h| h.peer.id() == conn).cloned()
    }

    /// Every host, oldest first.
    pub fn all(&self) -> Vec<Host> {
        let mut v: Vec<Host> = self.lock().values().cloned().collect();
        v.sort_by(|a, b| {
            a.connected_at
                .cmp(&b.connected_at)
                .then(a.host_id.cmp(&b.host_id))
        });
        v
    }
}
