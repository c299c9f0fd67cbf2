//! `synapsed ask`'s answers to `approval_request` events (design §11).
//!
//! - `--yes`: every request is allowed.
//! - On a terminal: `Allow NAME {input}? [y]es / [n]o / [a]lways` on stderr,
//!   one request at a time; `y` allows, `n` denies, `a` allows the tool for
//!   the rest of the session (`allow_session`). Anything else asks again.
//!   End of input denies.
//! - Not on a terminal (and no `--yes`): denied, with a reason telling the
//!   model (and the log) how the artist can allow such calls.
//!
//! A prompt that another client answered (or that timed out) is dropped
//! when the turn's status goes back to `running`.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;
use synapse_protocol::{method, ApprovalDecision, TurnApproveParams, TurnApproveResult};
use synapse_rpc::Client;
use tokio::sync::mpsc;

/// Reason given when no terminal can ask the artist.
pub const NO_TERMINAL_REASON: &str = "synapsed ask is not on a terminal, so nobody could approve \
this call; rerun with --yes to allow calls that change the scene, or with --mode read_only to \
only inspect";

/// Answers approval requests for one `ask`.
pub struct Approver {
    yes: bool,
    tty: bool,
    lines: Option<mpsc::UnboundedReceiver<Option<String>>>,
    /// The request being prompted: `(call_id, name)`.
    pending: Option<(String, String)>,
    /// Calls this approver denied.
    denied: std::collections::HashSet<String>,
}

impl Approver {
    /// An approver; `yes` allows everything.
    pub fn new(yes: bool) -> Self {
        Self {
            yes,
            tty: std::io::stdin().is_terminal(),
            lines: None,
            pending: None,
            denied: Default::default(),
        }
    }

    /// True when this approver denied `call_id` (and the daemon took it).
    pub fn was_denied(&self, call_id: &str) -> bool {
        self.denied.contains(call_id)
    }

    /// True while a prompt waits for a line.
    pub fn prompting(&self) -> bool {
        self.pending.is_some()
    }

    /// The next line typed (`None`: end of input). Only call while
    /// [`Approver::prompting`].
    pub async fn next_line(&mut self) -> Option<String> {
        match &mut self.lines {
            Some(rx) => rx.recv().await.flatten(),
            None => None,
        }
    }

    fn start_reader(&mut self) {
        if self.lines.is_some() {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // A plain thread: stdin reads block, and the process exits without
        // waiting for it.
        let _ = std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                let mut lock = stdin.lock();
                loop {
                    let mut line = String::new();
                    match lock.read_line(&mut line) {
                        Ok(0) | Err(_) => {
                            let _ = tx.send(None);
                            return;
                        }
                        Ok(_) => {
                            if tx.send(Some(line)).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        self.lines = Some(rx);
    }

    /// An `approval_request` arrived.
    pub async fn on_request(
        &mut self,
        client: &Client,
        turn_id: &str,
        call_id: &str,
        name: &str,
        input: &Value,
    ) {
        if self.yes {
            eprintln!("(allowed by --yes: {name})");
            self.answer(client, turn_id, call_id, ApprovalDecision::Allow, None)
                .await;
        } else if !self.tty {
            eprintln!("(denied {name}: not on a terminal; --yes allows such calls)");
            self.answer(
                client,
                turn_id,
                call_id,
                ApprovalDecision::Deny,
                Some(NO_TERMINAL_REASON.to_owned()),
            )
            .await;
        } else {
            self.start_reader();
            self.pending = Some((call_id.to_owned(), name.to_owned()));
            prompt(name, input);
        }
    }

    /// A line was typed (or input ended) while prompting.
    pub async fn on_line(&mut self, client: &Client, turn_id: &str, line: Option<String>) {
        let Some((call_id, name)) = self.pending.clone() else {
            return;
        };
        let decision = match line.as_deref().map(|l| l.trim().to_ascii_lowercase()) {
            None => Some((
                ApprovalDecision::Deny,
                Some("the terminal's input ended before an answer".to_owned()),
            )),
            Some(l) if l == "y" || l == "yes" => Some((ApprovalDecision::Allow, None)),
            Some(l) if l == "n" || l == "no" => Some((
                ApprovalDecision::Deny,
                Some("the artist answered no at the terminal".to_owned()),
            )),
            Some(l) if l == "a" || l == "always" => Some((ApprovalDecision::AllowSession, None)),
            Some(_) => None,
        };
        match decision {
            Some((d, reason)) => {
                self.pending = None;
                self.answer(client, turn_id, &call_id, d, reason).await;
                if self.lines.is_some() && line.is_none() {
                    self.lines = None;
                }
            }
            None => {
                eprint!("please answer y, n or a: Allow {name}? [y]es / [n]o / [a]lways ");
                let _ = std::io::stderr().flush();
            }
        }
    }

    /// The turn runs again: a prompt still open was answered elsewhere or
    /// timed out.
    pub fn on_running(&mut self) {
        if let Some((_, name)) = self.pending.take() {
            eprintln!("\n(the approval of {name} was settled elsewhere)");
        }
    }
}

fn prompt(name: &str, input: &Value) {
    let mut shown = input.to_string();
    if shown.chars().count() > 200 {
        shown = shown.chars().take(197).collect::<String>() + "...";
    }
    eprint!("Allow {name} {shown}? [y]es / [n]o / [a]lways ");
    let _ = std::io::stderr().flush();
}

impl Approver {
    async fn answer(
        &mut self,
        client: &Client,
        turn_id: &str,
        call_id: &str,
        decision: ApprovalDecision,
        reason: Option<String>,
    ) {
        if answer(client, turn_id, call_id, decision, reason).await
            && decision == ApprovalDecision::Deny
        {
            self.denied.insert(call_id.to_owned());
        }
    }
}

/// Send the answer; true when the daemon took it.
async fn answer(
    client: &Client,
    turn_id: &str,
    call_id: &str,
    decision: ApprovalDecision,
    reason: Option<String>,
) -> bool {
    let params = TurnApproveParams {
        turn_id: turn_id.to_owned(),
        call_id: call_id.to_owned(),
        decision,
        reason,
    };
    match client
        .call::<TurnApproveResult>(method::TURN_APPROVE, &params)
        .await
    {
        Ok(r) if r.accepted => true,
        Ok(_) => {
            eprintln!("(another client answered first)");
            false
        }
        Err(e) => {
            eprintln!("synapsed: turn.approve failed: {e}");
            false
        }
    }
}
