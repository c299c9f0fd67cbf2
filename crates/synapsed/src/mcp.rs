//! `synapsed mcp`: the MCP server on stdio (crate `synapse-mcp`), on a
//! single-threaded runtime to keep its footprint small.

use std::process::ExitCode;

use crate::cli::{Global, McpArgs};

pub fn run(global: &Global, args: &McpArgs) -> ExitCode {
    let socket = global
        .socket
        .clone()
        .unwrap_or_else(synapse_rpc::endpoint::default_socket_path);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("synapsed mcp: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let opts = synapse_mcp::Options {
        host_id: args.host_id.clone(),
        read_only: args.read_only,
    };
    match runtime.block_on(synapse_mcp::run(socket, opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synapsed mcp: {e}");
            ExitCode::from(1)
        }
    }
}
