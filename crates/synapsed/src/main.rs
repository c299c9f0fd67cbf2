//! `synapsed`: the Synapse daemon (`serve`) and its command-line client.
//!
//! Exit codes: 0 ok; 1 no daemon, or a turn that did not end `complete`;
//! 2 bad usage; 130 after Ctrl-C.

mod approve_prompt;
mod ask;
mod auth;
mod cli;
mod client_cmds;
#[cfg(test)]
mod docs_check;
mod doctor;
mod interrupt;
mod keystore;
mod logging;
mod mcp;
mod models_cmd;
mod os_keyring;
mod serve;
mod setup;
mod usage;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init();
    if let cli::Command::Mcp(args) = &cli.command {
        return mcp::run(&cli.global, args);
    }
    // `auth` talks to the OS keyring with blocking calls: outside the runtime.
    let cli = match cli.command {
        cli::Command::Auth(args) => {
            return auth::run(args).unwrap_or_else(|e| {
                eprintln!("synapsed: {e:#}");
                ExitCode::from(1)
            })
        }
        cli::Command::Setup(args) => return setup::run(args),
        command => cli::Cli {
            global: cli.global,
            command,
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("synapsed: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve::run(args).await,
            cli::Command::Status(args) => client_cmds::status(&cli.global, args).await,
            cli::Command::Stop => client_cmds::stop(&cli.global).await,
            cli::Command::Ask(args) => ask::run(&cli.global, args).await,
            cli::Command::Cancel(args) => client_cmds::cancel(&cli.global, args).await,
            cli::Command::Sessions(args) => client_cmds::sessions(&cli.global, args).await,
            cli::Command::Show(args) => client_cmds::show(&cli.global, args).await,
            cli::Command::Usage(args) => usage::run(args),
            cli::Command::Mcp(_) => Ok(ExitCode::from(2)), // handled above
            cli::Command::Models(args) => models_cmd::run(args).await,
            cli::Command::Doctor(args) => doctor::run(&cli.global, args).await,
            cli::Command::Auth(_) | cli::Command::Setup(_) => Ok(ExitCode::from(2)),
        }
    });
    match code {
        Ok(code) => code,
        Err(e) => {
            // A daemon error: its explanation, not its numeric code.
            match e.downcast_ref::<synapse_rpc::ClientError>() {
                Some(synapse_rpc::ClientError::Rpc(rpc)) => {
                    eprintln!("synapsed: {}", client_cmds::rpc_line(rpc))
                }
                _ => eprintln!("synapsed: {e:#}"),
            }
            ExitCode::from(1)
        }
    }
}
