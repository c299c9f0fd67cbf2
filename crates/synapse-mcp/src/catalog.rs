//! What the MCP client is offered, computed from one `host.list` answer.
//!
//! A [`View`] is the daemon's state as the MCP server sees it: no daemon, no
//! host, the `--host-id` host missing, several hosts and none chosen, or one
//! host ready. Its [`View::tools`] is the `tools/list` answer; its
//! [`View::fingerprint`] changes exactly when that answer changes, which is
//! when `notifications/tools/list_changed` is sent.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};
use synapse_protocol::ToolSpec;

/// The tool offered when no host can serve calls.
pub const STATUS_TOOL: &str = "synapse_status";

/// How the MCP server was started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--host-id`: the host to use when several are connected.
    pub host_id: Option<String>,
    /// `--read-only`: offer only tools that do not change the scene.
    pub read_only: bool,
}

/// One tool of a host, with the fields `ToolSpec` may not know yet.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTool {
    /// As registered.
    pub spec: ToolSpec,
    /// `destructive` from the registration JSON (absent: false).
    pub destructive: bool,
}

/// A connected host as `host.list` describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostEntry {
    /// Daemon-assigned id.
    pub host_id: String,
    /// Display name.
    pub name: String,
    /// Houdini version.
    pub houdini_version: String,
    /// Houdini's pid.
    pub pid: u64,
    /// Open hip file.
    pub hip: Option<String>,
    /// Its tools.
    pub tools: Vec<HostTool>,
}

impl HostEntry {
    /// One line naming the host.
    pub fn describe(&self) -> String {
        format!(
            "{} (Houdini {}, pid {}, {})",
            self.host_id,
            self.houdini_version,
            self.pid,
            self.hip.as_deref().unwrap_or("no hip file")
        )
    }
}

/// Parse a `host.list` result, keeping optional fields newer daemons add.
pub fn parse_hosts(v: &Value) -> Result<Vec<HostEntry>, String> {
    let arr = v.as_array().ok_or("host.list did not return an array")?;
    arr.iter()
        .map(|h| {
            let s = |k: &str| h[k].as_str().map(str::to_owned);
            let tools = h["tools"]
                .as_array()
                .ok_or("host.list entry without tools")?
                .iter()
                .map(|t| {
                    let spec: ToolSpec = serde_json::from_value(t.clone())
                        .map_err(|e| format!("host.list tool: {e}"))?;
                    Ok(HostTool {
                        spec,
                        destructive: t["destructive"].as_bool().unwrap_or(false),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(HostEntry {
                host_id: s("host_id").ok_or("host.list entry without host_id")?,
                name: s("name").unwrap_or_default(),
                houdini_version: s("houdini_version").unwrap_or_default(),
                pid: h["pid"].as_u64().unwrap_or(0),
                hip: s("hip"),
                tools,
            })
        })
        .collect()
}

/// The daemon's state as the MCP server sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    /// No daemon answers on the socket.
    NoDaemon {
        /// Why (connection refused, missing socket...).
        reason: String,
    },
    /// The daemon runs; no Houdini host is connected.
    NoHost,
    /// `--host-id` names a host that is not connected.
    HostMissing {
        /// The id asked for.
        host_id: String,
        /// Those connected.
        hosts: Vec<HostEntry>,
    },
    /// Several hosts and no `--host-id`.
    Ambiguous {
        /// Those connected.
        hosts: Vec<HostEntry>,
    },
    /// One host serves the calls.
    Ready {
        /// That host.
        host: HostEntry,
    },
}

impl View {
    /// The view for a `host.list` answer (or the reason there was none).
    pub fn from_hosts(hosts: Result<Vec<HostEntry>, String>, opts: &Options) -> Self {
        let mut hosts = match hosts {
            Ok(h) => h,
            Err(reason) => return View::NoDaemon { reason },
        };
        if let Some(id) = &opts.host_id {
            return match hosts.iter().position(|h| &h.host_id == id) {
                Some(i) => View::Ready {
                    host: hosts.swap_remove(i),
                },
                None if hosts.is_empty() => View::NoHost,
                None => View::HostMissing {
                    host_id: id.clone(),
                    hosts,
                },
            };
        }
        match hosts.len() {
            0 => View::NoHost,
            1 => View::Ready {
                host: hosts.remove(0),
            },
            _ => View::Ambiguous { hosts },
        }
    }

    /// Host tools offered (`--read-only` applied); empty unless a host is connected.
    pub fn host_tools(&self, opts: &Options) -> Vec<&HostTool> {
        let all: Vec<&HostTool> = match self {
            View::Ready { host } => host.tools.iter().collect(),
            // Several hosts: the tools of the oldest, so a client can see
            // what exists; calls fail and name the hosts.
            View::Ambiguous { hosts } | View::HostMissing { hosts, .. } => hosts
                .first()
                .map(|h| h.tools.iter().collect())
                .unwrap_or_default(),
            View::NoDaemon { .. } | View::NoHost => Vec::new(),
        };
        all.into_iter()
            .filter(|t| !opts.read_only || t.spec.read_only)
            .collect()
    }

    /// The `tools/list` answer.
    pub fn tools(&self, opts: &Options) -> Vec<Tool> {
        let host_tools = self.host_tools(opts);
        if host_tools.is_empty() || !matches!(self, View::Ready { .. }) {
            let mut v = vec![status_tool()];
            if matches!(self, View::Ambiguous { .. } | View::HostMissing { .. }) {
                v.extend(host_tools.into_iter().map(mcp_tool));
            }
            return v;
        }
        host_tools.into_iter().map(mcp_tool).collect()
    }

    /// Changes exactly when [`View::tools`] does.
    pub fn fingerprint(&self, opts: &Options) -> String {
        serde_json::to_string(&self.tools(opts)).unwrap_or_default()
    }

    /// What is missing and how to fix it (the `synapse_status` result), or
    /// which host serves the calls.
    pub fn status_text(&self, socket: &str) -> String {
        match self {
            View::NoDaemon { reason } => format!(
                "Houdini is not running with Synapse: no Synapse daemon answers on {socket} ({reason}). \
                 Start Houdini with the Synapse plugin installed (`synapsed setup houdini`), which starts \
                 the daemon, or run `synapsed serve`. This MCP server never starts a daemon itself; \
                 the tool list updates once Houdini connects."
            ),
            View::NoHost => format!(
                "The Synapse daemon is running on {socket}, but no Houdini is connected: Houdini is not \
                 running with Synapse. Start Houdini with the Synapse plugin installed \
                 (`synapsed setup houdini`); the tool list updates once it connects."
            ),
            View::HostMissing { host_id, hosts } => format!(
                "The Houdini host {host_id} given with --host-id is not connected. Connected: {}. \
                 Restart this MCP server with one of these ids, or without --host-id when only one \
                 Houdini runs.",
                names(hosts)
            ),
            View::Ambiguous { hosts } => format!(
                "{} Houdini sessions are connected: {}. Start this MCP server with --host-id ID \
                 to choose the one its tools act on.",
                hosts.len(),
                names(hosts)
            ),
            View::Ready { host } => format!(
                "Connected to Houdini: {} with {} tools, through the Synapse daemon on {socket}.",
                host.describe(),
                host.tools.len()
            ),
        }
    }
}

fn names(hosts: &[HostEntry]) -> String {
    hosts
        .iter()
        .map(HostEntry::describe)
        .collect::<Vec<_>>()
        .join("; ")
}

fn schema_object(v: &Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m.clone()),
        _ => Arc::new(JsonObject::from_iter([(
            "type".to_owned(),
            json!("object"),
        )])),
    }
}

/// A host tool as an MCP tool, with `readOnlyHint` / `destructiveHint`.
pub fn mcp_tool(t: &HostTool) -> Tool {
    Tool::new(
        t.spec.name.clone(),
        t.spec.description.clone(),
        schema_object(&t.spec.input_schema),
    )
    .annotate(
        ToolAnnotations::new()
            .read_only(t.spec.read_only)
            .destructive(!t.spec.read_only && t.destructive),
    )
}

/// `synapse_status`: read-only, no arguments.
pub fn status_tool() -> Tool {
    Tool::new(
        STATUS_TOOL,
        "Says whether Houdini is connected through Synapse and, if not, what is missing and how to \
         fix it. Houdini's tools appear once a Houdini with the Synapse plugin is running.",
        schema_object(&json!({"type": "object", "properties": {}, "additionalProperties": false})),
    )
    .annotate(ToolAnnotations::new().read_only(true).destructive(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str) -> Value {
        json!({"host_id": id, "name": "houdini", "houdini_version": "21.0.440", "pid": 7,
               "hip": null, "ui_available": true, "connected_at": "2026-12-02T10:00:00.000Z",
               "tools": [
                 {"name": "look", "description": "d", "input_schema": {"type": "object"}, "read_only": true},
                 {"name": "nuke", "description": "d", "input_schema": {"type": "object"}, "read_only": false, "destructive": true},
                 {"name": "make", "description": "d", "input_schema": {"type": "object"}, "read_only": false}]})
    }

    #[test]
    fn views_and_tools() {
        let opts = Options::default();
        let one = parse_hosts(&json!([host("h1")])).expect("parse");
        let v = View::from_hosts(Ok(one.clone()), &opts);
        let tools = v.tools(&opts);
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["look", "nuke", "make"]);
        let a = |i: usize| tools[i].annotations.clone().expect("annotations");
        assert_eq!(
            (a(0).read_only_hint, a(0).destructive_hint),
            (Some(true), Some(false))
        );
        assert_eq!(
            (a(1).read_only_hint, a(1).destructive_hint),
            (Some(false), Some(true))
        );
        assert_eq!(
            (a(2).read_only_hint, a(2).destructive_hint),
            (Some(false), Some(false))
        );

        let ro = Options {
            read_only: true,
            ..Default::default()
        };
        let names: Vec<String> = v.tools(&ro).iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, ["look"]);

        for empty in [View::NoHost, View::from_hosts(Err("refused".into()), &opts)] {
            let t = empty.tools(&opts);
            assert_eq!(t.len(), 1);
            assert_eq!(t[0].name, STATUS_TOOL);
            assert!(empty
                .status_text("/s")
                .contains("Houdini is not running with Synapse"));
        }
        let two = parse_hosts(&json!([host("h1"), host("h2")])).expect("parse");
        let amb = View::from_hosts(Ok(two.clone()), &opts);
        assert!(amb.status_text("/s").contains("h1") && amb.status_text("/s").contains("h2"));
        let chosen = View::from_hosts(
            Ok(two),
            &Options {
                host_id: Some("h2".into()),
                ..Default::default()
            },
        );
        assert!(matches!(chosen, View::Ready { ref host } if host.host_id == "h2"));
        assert_ne!(v.fingerprint(&opts), View::NoHost.fingerprint(&opts));
    }
}
