//! `synapsed models [--json] [--config PATH]`: the models the API key can use
//! (`GET /v1/models`, every page), newest first, with the default model and
//! the configured one (flags > env > config file) marked. Talks to the API
//! directly (no daemon needed), with the key resolved as the daemon does.
//! Exit 0 with a list; 1 when it cannot be read (offline, no key, an API
//! error), with one line saying why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use synapse_agent::anthropic::models::{names, ApiModel};
use synapse_agent::anthropic::AnthropicClient;
use synapse_agent::models::DEFAULT_MODEL;
use synapse_agent::{CancellationToken, Settings};

/// Flags of `synapsed models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print JSON: `{"default_model","configured_model","models":[{id,display_name,created_at,default,configured}]}`.
    #[arg(long)]
    pub json: bool,
    /// Config file (default: config.toml in the user's synapse config dir).
    #[arg(long, env = "SYNAPSE_CONFIG")]
    pub config: Option<PathBuf>,
}

pub async fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    let settings = match Settings::load_from(args.config.as_deref(), |n| std::env::var(n).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("synapsed: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let client = AnthropicClient::with_credentials(&settings, crate::auth::resolver(&settings))?;
    let list = match client.list_models(&CancellationToken::new()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "synapsed: cannot list models from {}: {e}",
                settings.base_url
            );
            return Ok(ExitCode::from(1));
        }
    };
    let configured = settings.model.as_str();
    if args.json {
        let models: Vec<_> = list
            .iter()
            .map(|m| {
                json!({
                    "id": m.id, "display_name": m.display_name, "created_at": m.created_at,
                    "default": names(&m.id, DEFAULT_MODEL), "configured": names(&m.id, configured),
                })
            })
            .collect();
        println!(
            "{}",
            json!({"default_model": DEFAULT_MODEL, "configured_model": configured, "models": models})
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&list, configured));
    Ok(ExitCode::SUCCESS)
}

/// The human listing.
fn render(list: &[ApiModel], configured: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let id_w = list.iter().map(|m| m.id.len()).max().unwrap_or(0);
    let name_w = list.iter().map(|m| m.display_name.len()).max().unwrap_or(0);
    for m in list {
        let mut marks = Vec::new();
        if names(&m.id, DEFAULT_MODEL) {
            marks.push("default");
        }
        if names(&m.id, configured) {
            marks.push("configured");
        }
        let date = m.created_at.get(..10).unwrap_or(&m.created_at);
        let line = format!(
            "{:id_w$}  {:name_w$}  {date}  {}",
            m.id,
            m.display_name,
            marks.join(", ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "{} model{}",
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    );
    let listed = |model: &str| list.iter().any(|m| names(&m.id, model));
    if configured != DEFAULT_MODEL {
        let _ = writeln!(out, "configured model: {configured}");
    }
    for (what, model) in [("default", DEFAULT_MODEL), ("configured", configured)] {
        if !listed(model) && (what == "default" || configured != DEFAULT_MODEL) {
            let _ = writeln!(
                out,
                "warning: the {what} model {model} is not in this list; pick another with --model, SYNAPSE_MODEL or `model` in the config file"
            );
        }
    }
    out
}
