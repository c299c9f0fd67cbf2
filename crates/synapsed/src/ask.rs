//! `synapsed ask`: submit a turn and stream it to the terminal.
//!
//! Text deltas go to stdout as they arrive; each tool call is one line
//! (`→ name {input}` then `  ✓`/`  ✗` with its duration); retries are noted on
//! stderr. Ctrl-C cancels the turn, waits for its final status and exits 130.
//! The exit code is 0 for `complete`, 1 for any other final status.

use std::io::Write;
use std::process::ExitCode;

use synapse_protocol::{
    method, TurnEvent, TurnEventKind, TurnRef, TurnResult, TurnStatus, TurnSubmitParams,
    TurnSubmitResult,
};
use synapse_rpc::Incoming;

use crate::cli::{AskArgs, Global};
use crate::client_cmds::connect;

pub async fn run(global: &Global, args: AskArgs) -> anyhow::Result<ExitCode> {
    let mut client = match connect(global).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // Listen for Ctrl-C before the turn exists and keep one listener for the
    // whole turn: a fresh `ctrl_c()` future per loop iteration would miss a
    // SIGINT delivered while an event is being printed (the handler being
    // installed, the default action would not run either).
    let mut sigint = crate::interrupt::Interrupt::new()?;
    let params = TurnSubmitParams {
        prompt: args.prompt.clone(),
        session_id: args.session.clone(),
        host_id: args.host.clone(),
        model: args.model.clone(),
        max_iterations: args.max_iterations,
        mode: args.mode,
        ..Default::default()
    };
    let submitted: TurnSubmitResult = match client.call(method::TURN_SUBMIT, &params).await {
        Ok(s) => s,
        Err(synapse_rpc::ClientError::Rpc(e)) => {
            if args.json {
                println!("{}", serde_json::json!({"error": e}));
            }
            eprintln!("synapsed: {}", crate::client_cmds::rpc_line(&e));
            if e.code == synapse_protocol::code::NO_CREDENTIAL {
                shell_key_note();
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if !args.json {
        eprintln!(
            "turn {} in session {}",
            submitted.turn_id, submitted.session_id
        );
    }
    let mut approver = crate::approve_prompt::Approver::new(args.yes);
    let mut cancelled_by_user = false;
    let mut at_line_start = true;
    let result: Option<TurnResult> = loop {
        let incoming = tokio::select! {
            i = client.next_incoming() => i,
            _ = sigint.recv(), if !cancelled_by_user => {
                cancelled_by_user = true;
                eprintln!("\n^C: cancelling turn {}", submitted.turn_id);
                let _ = client.call_value(method::TURN_CANCEL, TurnRef { turn_id: submitted.turn_id.clone() }).await;
                continue;
            }
            line = approver.next_line(), if approver.prompting() && !cancelled_by_user => {
                approver.on_line(&client, &submitted.turn_id, line).await;
                continue;
            }
        };
        let Some(incoming) = incoming else { break None };
        let Incoming::Notification(n) = incoming else {
            continue;
        };
        if n.method != method::TURN_EVENT {
            continue;
        }
        let Some(params) = n.params else { continue };
        if args.json {
            println!("{params}");
        }
        let Ok(ev) = serde_json::from_value::<TurnEvent>(params) else {
            continue;
        };
        if ev.turn_id != submitted.turn_id {
            continue;
        }
        match &ev.kind {
            TurnEventKind::ApprovalRequest {
                call_id,
                name,
                input,
                ..
            } if !cancelled_by_user => {
                if !at_line_start && !args.json {
                    println!();
                    at_line_start = true;
                }
                approver
                    .on_request(&client, &submitted.turn_id, call_id, name, input)
                    .await;
            }
            TurnEventKind::Status {
                status: TurnStatus::Running,
            } => approver.on_running(),
            _ => {}
        }
        if args.json {
            if let TurnEventKind::Done { result } = ev.kind {
                break Some(result);
            }
            continue;
        }
        let mut out = std::io::stdout().lock();
        match ev.kind {
            TurnEventKind::Text { text } => {
                let _ = out.write_all(text.as_bytes());
                at_line_start = text.ends_with('\n');
            }
            TurnEventKind::ToolCall { name, input, .. } => {
                if !at_line_start {
                    let _ = writeln!(out);
                }
                let mut shown = input.to_string();
                if shown.chars().count() > 120 {
                    shown = shown.chars().take(117).collect::<String>() + "...";
                }
                let _ = writeln!(out, "→ {name} {shown}");
                at_line_start = true;
            }
            TurnEventKind::ToolResult {
                call_id,
                is_error,
                duration_ms,
                ..
            } => {
                let _ = if approver.was_denied(&call_id) {
                    writeln!(out, "  ✗ denied")
                } else {
                    writeln!(
                        out,
                        "  {} {duration_ms} ms",
                        if is_error { "✗ error," } else { "✓" }
                    )
                };
                at_line_start = true;
            }
            TurnEventKind::Retry {
                attempt,
                delay_ms,
                reason,
            } => {
                eprintln!("(retry {attempt} in {delay_ms} ms: {reason})");
            }
            TurnEventKind::Compaction {
                method,
                tokens_before,
                tokens_after,
            } => {
                let how = if method == "summary" {
                    "the oldest turns summarized"
                } else {
                    "older tool results set aside"
                };
                eprintln!(
                    "(long session: {how}, ~{tokens_before} → ~{tokens_after} tokens sent; nothing stored was changed)"
                );
            }
            TurnEventKind::Status { .. } | TurnEventKind::ApprovalRequest { .. } => {}
            TurnEventKind::Done { result } => {
                if !at_line_start {
                    let _ = writeln!(out);
                }
                break Some(result);
            }
        }
        let _ = out.flush();
    };
    let Some(result) = result else {
        eprintln!("synapsed: the daemon closed the connection before the turn ended");
        return Ok(ExitCode::from(1));
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        let u = &result.usage;
        let cost = match u.cost_usd {
            Some(c) => format!(", ${c:.4}"),
            None => String::new(),
        };
        eprintln!(
            "[{}] {} iteration{}, {} tool call{}, {} in / {} out tokens{cost}",
            result.status,
            result.iterations,
            if result.iterations == 1 { "" } else { "s" },
            result.tool_calls.len(),
            if result.tool_calls.len() == 1 {
                ""
            } else {
                "s"
            },
            u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens,
            u.output_tokens
        );
        if let Some(e) = &result.error {
            eprintln!("error ({}): {}", e.kind.as_str(), e.message);
            if e.kind == synapse_protocol::ErrorKind::Authentication {
                shell_key_note();
            }
        }
    }
    Ok(if cancelled_by_user {
        ExitCode::from(130)
    } else if result.status == TurnStatus::Complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A key exported in this shell does not reach a daemon that is running.
fn shell_key_note() {
    if std::env::var_os("ANTHROPIC_API_KEY").is_some_and(|v| !v.is_empty()) {
        eprintln!("note: ANTHROPIC_API_KEY is set in this shell, but a running daemon keeps the environment it was started with; `synapsed auth login` stores the key where the daemon finds it at the next turn");
    }
}
