//! `synapsed auth login | status | logout` and the key resolver the daemon
//! and the CLI share (see [`crate::keystore`]).
//!
//! - `login` reads the key without echo from the terminal, or from stdin when
//!   stdin is not a terminal (`synapsed auth login < key.txt`); surrounding
//!   whitespace and newlines are trimmed (and said); an empty key is refused.
//!   It goes to the OS keyring, or to the 0600 key file when no keyring is
//!   reachable (or with `--file`). A locked keyring is an error: nothing is
//!   stored.
//! - `status` says where the key comes from (env / keyring / file / none),
//!   never the key; exit 0 when there is one, 1 when not.
//! - `logout` removes the key from the keyring and the file.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;
use synapse_agent::credentials::CredentialResolver;
use synapse_agent::Settings;

use crate::keystore::{self, KeyringError, StoredKey};

/// The resolver of the daemon and the CLI: env > keyring > key file, at each request.
pub fn resolver(settings: &Settings) -> Arc<dyn CredentialResolver> {
    Arc::new(StoredKey::new(settings))
}

/// `synapsed auth ...`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    pub command: AuthCommand,
}

/// The auth subcommands.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store the Anthropic API key (read without echo, or from stdin) in the OS keyring, else a 0600 file.
    Login(LoginArgs),
    /// Say where the API key comes from (never the key).
    Status(AuthStatusArgs),
    /// Remove the stored API key (keyring and file).
    Logout,
}

/// Flags of `auth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Store the key in the 0600 key file in the config dir, not the OS keyring.
    #[arg(long)]
    pub file: bool,
}

/// Flags of `auth status`.
#[derive(Debug, Args)]
pub struct AuthStatusArgs {
    /// Print JSON: `{"source","detail","keyring","file"}`.
    #[arg(long)]
    pub json: bool,
}

/// Largest key input read from stdin.
const MAX_INPUT: u64 = 64 * 1024;

pub fn run(args: AuthArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuthCommand::Login(a) => login(a),
        AuthCommand::Status(a) => status(a),
        AuthCommand::Logout => logout(),
    }
}

fn key_file() -> anyhow::Result<PathBuf> {
    keystore::key_file()
        .ok_or_else(|| anyhow::anyhow!("no home directory: cannot place the key file"))
}

fn read_key() -> std::io::Result<String> {
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Anthropic API key (input hidden): ")
    } else {
        let mut s = String::new();
        std::io::stdin().take(MAX_INPUT).read_to_string(&mut s)?;
        Ok(s)
    }
}

fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let raw = match read_key() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("synapsed: cannot read the key: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let (key, trimmed) = match keystore::clean_key(&raw) {
        Ok(k) => k,
        Err(why) => {
            eprintln!("synapsed: {why}; nothing stored");
            return Ok(ExitCode::from(1));
        }
    };
    if trimmed {
        eprintln!("note: removed the whitespace/newline around the key");
    }
    let file = key_file()?;
    let stored_in = if args.file {
        None
    } else {
        match keystore::keyring_set(&key) {
            Ok(()) => match keystore::keyring_get() {
                Ok(Some(back)) if back == key => Some(keystore::KEYRING_NAME),
                Ok(_) => {
                    eprintln!("synapsed: the OS keyring did not keep the key; nothing stored (try `synapsed auth login --file`)");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => {
                    eprintln!("synapsed: {e}");
                    return Ok(ExitCode::from(1));
                }
            },
            Err(KeyringError::Unavailable(why)) => {
                eprintln!("note: no OS keyring is reachable ({why}); using the key file");
                None
            }
            Err(e) => {
                eprintln!("synapsed: {e}; nothing stored (or store it in a 0600 file with `synapsed auth login --file`)");
                return Ok(ExitCode::from(1));
            }
        }
    };
    match stored_in {
        Some(place) => {
            // An older key file would only confuse `auth status`.
            if matches!(keystore::file_delete(&file), Ok(true)) {
                eprintln!("note: removed the older key file {}", file.display());
            }
            println!("stored the API key in {place}");
        }
        None => {
            if let Err(e) = keystore::file_set(&file, &key) {
                eprintln!(
                    "synapsed: cannot write {}: {e}; nothing stored",
                    file.display()
                );
                return Ok(ExitCode::from(1));
            }
            println!(
                "stored the API key in {} ({})",
                file.display(),
                keystore::KEY_FILE_PROTECTION
            );
        }
    }
    if std::env::var_os("ANTHROPIC_API_KEY").is_some_and(|v| !v.is_empty()) {
        eprintln!(
            "note: ANTHROPIC_API_KEY is set in this environment and comes first where it is set"
        );
    }
    println!("a running daemon uses it from its next turn");
    Ok(ExitCode::SUCCESS)
}

fn status(args: AuthStatusArgs) -> anyhow::Result<ExitCode> {
    let env_var = ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]
        .into_iter()
        .find(|n| std::env::var(n).is_ok_and(|v| !v.trim().is_empty()));
    let settings = Settings::load_from(None, |n| std::env::var(n).ok()).ok();
    let from_config = env_var.is_none() && settings.as_ref().is_some_and(Settings::has_credential);
    let keyring = keystore::keyring_get();
    let file = key_file()?;
    let file_state = keystore::file_get(&file);
    let keyring_text = match &keyring {
        Ok(Some(_)) => "has a key".to_owned(),
        Ok(None) => "empty".to_owned(),
        Err(e) => e.to_string(),
    };
    let file_text = match &file_state {
        Ok(Some(_)) => format!("{} has a key", file.display()),
        Ok(None) => format!("{} (none)", file.display()),
        Err(e) => e.to_string(),
    };
    let (source, detail) = if let Some(v) = env_var {
        ("env", format!("the environment ({v})"))
    } else if from_config {
        ("env", "the config file (`api_key`)".to_owned())
    } else if matches!(keyring, Ok(Some(_))) {
        ("keyring", keystore::KEYRING_NAME.to_owned())
    } else if matches!(file_state, Ok(Some(_))) {
        ("file", file.display().to_string())
    } else if let Err(e @ (KeyringError::Locked(_) | KeyringError::Failed(_))) = &keyring {
        ("none", format!("no usable API key: {e}"))
    } else {
        ("none", "no API key: run `synapsed auth login`".to_owned())
    };
    if args.json {
        println!(
            "{}",
            json!({"source": source, "detail": detail, "keyring": keyring_text, "file": file_text})
        );
    } else {
        if source == "none" {
            println!("{detail}");
        } else {
            println!("API key from {detail}");
        }
        println!("  keyring   {keyring_text}");
        println!("  key file  {file_text}");
    }
    Ok(if source == "none" {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn logout() -> anyhow::Result<ExitCode> {
    let mut failed = false;
    match keystore::keyring_delete() {
        Ok(true) => println!("removed the API key from {}", keystore::KEYRING_NAME),
        Ok(false) => println!("the OS keyring had no key"),
        Err(KeyringError::Unavailable(_)) => {}
        Err(e) => {
            eprintln!("synapsed: {e}");
            failed = true;
        }
    }
    let file = key_file()?;
    match keystore::file_delete(&file) {
        Ok(true) => println!("removed {}", file.display()),
        Ok(false) => {}
        Err(e) => {
            eprintln!("synapsed: cannot remove {}: {e}", file.display());
            failed = true;
        }
    }
    if std::env::var_os("ANTHROPIC_API_KEY").is_some_and(|v| !v.is_empty()) {
        println!("note: ANTHROPIC_API_KEY is still set in this environment");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
