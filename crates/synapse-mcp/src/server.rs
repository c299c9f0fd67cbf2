//! The MCP `ServerHandler`: `tools/list`, `tools/call`, cancellation.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use synapse_protocol::{code, ToolCallParams, ToolCallResult};

use crate::arguments;
use crate::catalog::{parse_hosts, Options, View, STATUS_TOOL};
use crate::link::{Link, LinkError};

/// How long a cancelled call may take to come back from the daemon.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// The MCP server: a client of the daemon.
#[derive(Clone, Debug)]
pub struct SynapseMcp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    link: Link,
    opts: Options,
    /// The last view and the fingerprint of the tool list last offered.
    seen: Mutex<(View, String)>,
}

impl SynapseMcp {
    /// A server talking to the daemon through `link`.
    pub fn new(link: Link, opts: Options) -> Self {
        let view = View::NoDaemon {
            reason: "not asked yet".into(),
        };
        let fp = view.fingerprint(&opts);
        Self {
            inner: Arc::new(Inner {
                link,
                opts,
                seen: Mutex::new((view, fp)),
            }),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, (View, String)> {
        self.inner.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask the daemon for its hosts now; returns the view and whether the
    /// tool list changed since it was last offered.
    pub async fn refresh(&self) -> (View, bool) {
        let hosts = match self.inner.link.host_list().await {
            Ok(v) => parse_hosts(&v),
            Err(LinkError::NoDaemon { reason, .. }) => Err(reason),
            Err(e) => Err(e.to_string()),
        };
        let view = View::from_hosts(hosts, &self.inner.opts);
        let fp = view.fingerprint(&self.inner.opts);
        let mut seen = self.seen();
        let changed = seen.1 != fp;
        *seen = (view.clone(), fp);
        (view, changed)
    }

    fn cached(&self) -> View {
        self.seen().0.clone()
    }

    fn socket(&self) -> String {
        self.inner.link.socket().display().to_string()
    }

    /// Poll `host.list` every `every` and send `notifications/tools/list_changed`
    /// when the offered tools change. Ends when the client goes away.
    pub async fn watch(self, peer: rmcp::Peer<RoleServer>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let (view, changed) = self.refresh().await;
            if changed {
                tracing::info!(state = %view.status_text(&self.socket()), "tool list changed");
                if let Err(e) = peer.notify_tool_list_changed().await {
                    tracing::info!(error = %e, "client gone; stopping the host watch");
                    return;
                }
            }
        }
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        ct: tokio_util::sync::CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        let name = request.name.to_string();
        let mut view = self.cached();
        let offered = |v: &View| {
            v.host_tools(&self.inner.opts)
                .into_iter()
                .find(|t| t.spec.name == name)
                .cloned()
        };
        if offered(&view).is_none() || !matches!(view, View::Ready { .. }) {
            view = self.refresh().await.0;
        }
        if name == STATUS_TOOL {
            return Ok(CallToolResult::success(vec![ContentBlock::text(
                view.status_text(&self.socket()),
            )]));
        }
        let host = match &view {
            View::Ready { host } => host.clone(),
            View::NoDaemon { .. } | View::NoHost => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "Cannot run {name}: {}",
                    view.status_text(&self.socket())
                ))]));
            }
            View::Ambiguous { .. } | View::HostMissing { .. } if offered(&view).is_some() => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                    "Cannot run {name}: {}",
                    view.status_text(&self.socket())
                ))]));
            }
            View::Ambiguous { .. } | View::HostMissing { .. } => {
                return Err(unknown_tool(&name));
            }
        };
        let Some(tool) = offered(&view) else {
            return Err(unknown_tool(&name));
        };
        let input = Value::Object(request.arguments.unwrap_or_default());
        if let Err(why) = arguments::check(&tool.spec.input_schema, &input) {
            return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "Invalid arguments for {name}: {why}. Input schema: {}",
                tool.spec.input_schema
            ))]));
        }
        let call_id = format!("mcp_{}", uuid::Uuid::now_v7().simple());
        let params = ToolCallParams {
            name: name.clone(),
            input,
            host_id: Some(host.host_id.clone()),
            timeout_s: None,
            call_id: Some(call_id.clone()),
        };
        let link = &self.inner.link;
        let call = link.tool_call(&params);
        tokio::pin!(call);
        let outcome = tokio::select! {
            r = &mut call => r,
            () = ct.cancelled() => {
                tracing::info!(%call_id, tool = %name, "cancelled by the MCP client");
                if let Err(e) = link.cancel(&call_id).await {
                    tracing::warn!(%call_id, error = %e, "tool.call.cancel failed");
                }
                match tokio::time::timeout(CANCEL_GRACE, &mut call).await {
                    Ok(r) => r,
                    Err(_) => return Ok(CallToolResult::error(vec![ContentBlock::text(
                        format!("{name} was cancelled"),
                    )])),
                }
            }
        };
        Ok(match outcome {
            Ok(r) => to_mcp(r),
            Err(LinkError::Rpc(e)) if e.code == code::NOT_FOUND || e.code == code::NO_HOST => {
                // The host or tool went away between list and call.
                let (view, _) = self.refresh().await;
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "Cannot run {name}: {} {}",
                    e.message,
                    view.status_text(&self.socket())
                ))])
            }
            Err(e) => {
                CallToolResult::error(vec![ContentBlock::text(format!("Cannot run {name}: {e}"))])
            }
        })
    }
}

fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(
        format!("Unknown tool: {name}"),
        Some(serde_json::json!({"tool": name})),
    )
}

/// The host's result as MCP content: the JSON text, then the images.
pub fn to_mcp(r: ToolCallResult) -> CallToolResult {
    let text = match &r.content {
        Value::String(s) => s.clone(),
        v => synapse_protocol::to_sorted_json(v),
    };
    let mut blocks = vec![ContentBlock::text(text)];
    blocks.extend(
        r.images
            .into_iter()
            .map(|i| ContentBlock::image(i.data, i.media_type)),
    );
    if r.is_error {
        CallToolResult::error(blocks)
    } else {
        CallToolResult::success(blocks)
    }
}

impl ServerHandler for SynapseMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
        .with_server_info(Implementation::new("synapse", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools of the Houdini session connected to Synapse. Every call runs on Houdini's main \
             thread with a timeout and, for tools that change the scene, in one undo group. If only \
             synapse_status is listed, call it to learn what is missing.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (view, _) = self.refresh().await;
        Ok(ListToolsResult::with_all_items(
            view.tools(&self.inner.opts),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(request, context.ct.clone()).await.map(Into::into)
    }
}
