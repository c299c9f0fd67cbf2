//! The client → daemon methods, registered on a jsonrpsee `RpcModule`.
//!
//! Each handler parses its params with [`parse_params`] (absent params are
//! `{}`; a mismatch is `-32602` with `data` saying what is wrong), finds the
//! calling connection's [`Peer`] in the call's extensions when it needs it,
//! and maps domain errors to the contract's codes.

use std::collections::HashSet;
use std::sync::Arc;

use jsonrpsee_core::server::{Extensions, RpcModule};
use jsonrpsee_core::RegisterMethodError;
use jsonrpsee_types::{ErrorObjectOwned, Params};
use synapse_protocol::{code, method, DaemonStatus, Empty, HostRegisterParams, HostRegisterResult, NoParams};
use synapse_rpc::dispatch::parse_params;
use synapse_rpc::Peer;

use crate::state::State;

/// A JSON-RPC error with a code from the contract.
pub fn rpc_error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned::<()>(code, message.into(), None)
}

/// `-32602` with `data`.
pub fn invalid_params(detail: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code::INVALID_PARAMS, "Invalid params", Some(detail.into()))
}

fn peer(ext: &Extensions) -> Result<Peer, ErrorObjectOwned> {
    ext.get::<Peer>().cloned().ok_or_else(|| rpc_error(code::INTERNAL_ERROR, "no connection context"))
}

/// Build the module with every method.
pub fn module(state: Arc<State>) -> Result<RpcModule<Arc<State>>, RegisterMethodError> {
    let mut m = RpcModule::new(state);

    m.register_method(method::DAEMON_STATUS, |params: Params<'_>, st: &Arc<State>, _| {
        parse_params::<NoParams>(&params)?;
        Ok::<DaemonStatus, ErrorObjectOwned>(st.status())
    })?;

    m.register_method(method::DAEMON_SHUTDOWN, |params: Params<'_>, st: &Arc<State>, _| {
        parse_params::<NoParams>(&params)?;
        tracing::info!("daemon.shutdown requested");
        st.shutdown.cancel();
        Ok::<Empty, ErrorObjectOwned>(Empty {})
    })?;

    m.register_method(method::HOST_REGISTER, |params: Params<'_>, st: &Arc<State>, ext: &Extensions| {
        let p: HostRegisterParams = parse_params(&params)?;
        validate_tools(&p)?;
        let peer = peer(ext)?;
        let host = st.hosts.register(&peer, p);
        tracing::info!(host_id = %host.host_id, name = %host.name, tools = host.tools().len(), "host registered");
        Ok::<HostRegisterResult, ErrorObjectOwned>(HostRegisterResult { host_id: host.host_id })
    })?;

    Ok(m)
}

fn validate_tools(p: &HostRegisterParams) -> Result<(), ErrorObjectOwned> {
    let mut seen = HashSet::new();
    for (i, t) in p.tools.iter().enumerate() {
        let ok_name = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok_name {
            return Err(invalid_params(format!(
                "tools[{i}].name {:?} must match ^[a-zA-Z0-9_-]{{1,64}}$",
                t.name
            )));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(invalid_params(format!("tools[{i}].name {:?} is registered twice", t.name)));
        }
        if !t.input_schema.is_object() {
            return Err(invalid_params(format!("tools[{i}].input_schema must be a JSON object")));
        }
        if let Some(s) = t.timeout_s {
            if !(s.is_finite() && s > 0.0) {
                return Err(invalid_params(format!("tools[{i}].timeout_s must be a positive number")));
            }
        }
    }
    Ok(())
}
