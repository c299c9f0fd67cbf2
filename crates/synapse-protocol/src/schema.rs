//! JSON Schema generation for every wire type.
//!
//! `proto/schemas/*.json` are generated from here and checked in; the test
//! `schemas_are_fresh` (crate `synapse-protocol`, `tests/schemas.rs`) fails when
//! they are stale. Regenerate with
//! `SYNAPSE_UPDATE_SCHEMAS=1 cargo test -p synapse-protocol --test schemas`.

use schemars::{schema_for, Schema};

use crate::types::*;
use crate::ErrorObject;

/// `(file stem, schema)` for every type on the wire, in a stable order.
pub fn all() -> Vec<(&'static str, Schema)> {
    vec![
        ("Usage", schema_for!(Usage)),
        ("TurnStatus", schema_for!(TurnStatus)),
        ("ErrorKind", schema_for!(ErrorKind)),
        ("ErrorObject", schema_for!(ErrorObject)),
        ("TurnResult", schema_for!(TurnResult)),
        ("TurnInfo", schema_for!(TurnInfo)),
        ("ToolSpec", schema_for!(ToolSpec)),
        ("ToolErrorEnvelope", schema_for!(ToolErrorEnvelope)),
        ("DaemonStatus", schema_for!(DaemonStatus)),
        ("HostRegisterParams", schema_for!(HostRegisterParams)),
        ("HostRegisterResult", schema_for!(HostRegisterResult)),
        ("TurnSubmitParams", schema_for!(TurnSubmitParams)),
        ("TurnSubmitResult", schema_for!(TurnSubmitResult)),
        ("TurnRef", schema_for!(TurnRef)),
        ("TurnWaitParams", schema_for!(TurnWaitParams)),
        ("TurnCancelResult", schema_for!(TurnCancelResult)),
        ("TurnSubscribeParams", schema_for!(TurnSubscribeParams)),
        ("TurnEvent", schema_for!(TurnEvent)),
        ("SessionSummary", schema_for!(SessionSummary)),
        ("SessionRef", schema_for!(SessionRef)),
        ("SessionDetail", schema_for!(SessionDetail)),
        ("ToolInvokeParams", schema_for!(ToolInvokeParams)),
        ("ToolInvokeResult", schema_for!(ToolInvokeResult)),
        ("ToolCancelParams", schema_for!(ToolCancelParams)),
        ("Empty", schema_for!(Empty)),
        ("ReadyLine", schema_for!(ReadyLine)),
        ("ToolImage", schema_for!(crate::ToolImage)),
        ("HostListEntry", schema_for!(crate::HostListEntry)),
        ("ToolCallParams", schema_for!(crate::ToolCallParams)),
        (
            "ToolCallCancelParams",
            schema_for!(crate::ToolCallCancelParams),
        ),
        (
            "ToolCallCancelResult",
            schema_for!(crate::ToolCallCancelResult),
        ),
        ("PermissionMode", schema_for!(PermissionMode)),
        ("TurnApproveParams", schema_for!(TurnApproveParams)),
        ("TurnApproveResult", schema_for!(TurnApproveResult)),
        ("SpendStatus", schema_for!(SpendStatus)),
    ]
}

/// Render a schema the way it is checked in: pretty JSON plus a final newline.
pub fn render(schema: &Schema) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}
