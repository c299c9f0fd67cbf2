//! Agent settings: defaults < TOML file < environment (< CLI flags, applied
//! by the binary on the pub fields).
//!
//! The file is `config.toml` in the `directories` config dir of
//! `ProjectDirs::from("", "", "synapse")` (e.g. `~/.config/synapse/config.toml`
//! on Linux), or a path given explicitly. Keys (all optional):
//! `api_key`, `auth_token`, `base_url`, `model`, `max_tokens`,
//! `max_iterations`, `max_retries`, `connect_timeout_s`,
//! `stream_idle_timeout_s`, `concurrent_sessions`, `max_tool_result_bytes`,
//! `context_window`, `compact_at`,
//! `system_prompt`.
//! Unknown keys are ignored with a warning naming the nearest known key
//! ([`crate::config_keys`]); parse errors give the line and column.
//!
//! The credential *may* be put in the file, but the environment
//! (`ANTHROPIC_API_KEY` / `ANTHROPIC_AUTH_TOKEN`) or Houdini's `hou.secure`
//! store are preferred: a file is easy to copy or commit by mistake. The
//! credential is held in a [`Secret`], which never prints itself.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default Messages API endpoint, without `/v1`.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// Default model (chosen in [`crate::models`]).
pub use crate::models::DEFAULT_MODEL;
/// Default per-response token limit: 8192.
pub const DEFAULT_MAX_TOKENS: u32 = 8192;
/// Default bound on Messages API calls per turn: 20.
pub const DEFAULT_MAX_ITERATIONS: u32 = 20;
/// Default number of retries after the first attempt: 2 (3 attempts).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default TCP/TLS connect timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default longest silence between two chunks of a response: 300 s.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default number of sessions whose turns run at the same time: 4.
pub const DEFAULT_CONCURRENT_SESSIONS: u32 = 4;
/// Default largest tool result sent to the model: 256 KiB of JSON (roughly
/// 60–80k tokens). Larger results are replaced by a `ToolResultTooLarge`
/// error so the model narrows its query instead of filling its context.
pub const DEFAULT_MAX_TOOL_RESULT_BYTES: u32 = 256 * 1024;
/// Default tool timeout when the `ToolSpec` gives none: 30 s.
pub const DEFAULT_TOOL_TIMEOUT_S: f64 = 30.0;

/// Default system prompt: a Houdini assistant.
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are Synapse, an assistant embedded in SideFX Houdini. \
You help artists understand and change their scenes: SOP and LOP networks, Solaris/USD stages, \
parameters, HDAs, VEX and Python. Inspect the scene with the tools you are given before you \
change it, prefer small reversible edits, and say what you changed. A tool error is data: read it, \
re-inspect (nodes may have been deleted or changed by the artist meanwhile) and adapt. \
Be concise and precise; use Houdini's own names for nodes, parameters and menus.";

/// A credential. `Debug` and `Display` print `***`; use [`Secret::expose`]
/// only where the value is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("invalid value for {name}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// A setting is out of range.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Everything the agent needs to know. Construct with [`Settings::default`]
/// or [`Settings::load`], then override fields (CLI flags) as needed.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `x-api-key` credential (`ANTHROPIC_API_KEY`). Default: none.
    pub api_key: Option<Secret>,
    /// `Authorization: Bearer` credential (`ANTHROPIC_AUTH_TOKEN`), used when
    /// no API key is set. Default: none.
    pub auth_token: Option<Secret>,
    /// API base URL without `/v1` (`ANTHROPIC_BASE_URL`). Default
    /// [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// Model (`SYNAPSE_MODEL`). Default [`DEFAULT_MODEL`].
    pub model: String,
    /// Per-response token limit (`SYNAPSE_MAX_TOKENS`). Default 8192.
    pub max_tokens: u32,
    /// Messages API calls per turn (`SYNAPSE_MAX_ITERATIONS`). Default 20.
    pub max_iterations: u32,
    /// Retries after a failed attempt (`SYNAPSE_MAX_RETRIES`). Default 2.
    pub max_retries: u32,
    /// Connect timeout (`SYNAPSE_CONNECT_TIMEOUT_S`). Default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for the response head or between two body chunks
    /// (`SYNAPSE_STREAM_IDLE_TIMEOUT_S`). Default 300 s.
    pub stream_idle_timeout: Duration,
    /// Sessions running at once, enforced by the daemon
    /// (`SYNAPSE_CONCURRENT_SESSIONS`). Default 4.
    pub concurrent_sessions: u32,
    /// Largest tool result, in bytes of JSON, passed to the model
    /// (`SYNAPSE_MAX_TOOL_RESULT_BYTES`). Default
    /// [`DEFAULT_MAX_TOOL_RESULT_BYTES`].
    pub max_tool_result_bytes: u32,
    /// System prompt when a turn gives none. Default [`DEFAULT_SYSTEM_PROMPT`].
    pub system_prompt: String,
    /// Context window in tokens for every model (`SYNAPSE_CONTEXT_WINDOW`);
    /// `None`: the model table's ([`crate::models::context_window`]).
    pub context_window: Option<u64>,
    /// Fraction of the context window past which the sent history is
    /// compacted (`SYNAPSE_COMPACT_AT`). Default [`DEFAULT_COMPACT_AT`].
    pub compact_at: f64,
}

/// Default compaction threshold: 0.8 of the context window.
pub const DEFAULT_COMPACT_AT: f64 = 0.8;

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_key: None,
            auth_token: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
            max_tokens: DEFAULT_MAX_TOKENS,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            max_retries: DEFAULT_MAX_RETRIES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            concurrent_sessions: DEFAULT_CONCURRENT_SESSIONS,
            max_tool_result_bytes: DEFAULT_MAX_TOOL_RESULT_BYTES,
            system_prompt: DEFAULT_SYSTEM_PROMPT.to_owned(),
            context_window: None,
            compact_at: DEFAULT_COMPACT_AT,
        }
    }
}

/// The keys of the TOML file.
#[derive(Debug, Default, Deserialize)]
struct FileSettings {
    api_key: Option<String>,
    auth_token: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
    max_tokens: Option<u32>,
    max_iterations: Option<u32>,
    max_retries: Option<u32>,
    connect_timeout_s: Option<f64>,
    stream_idle_timeout_s: Option<f64>,
    concurrent_sessions: Option<u32>,
    max_tool_result_bytes: Option<u32>,
    system_prompt: Option<String>,
    context_window: Option<u64>,
    compact_at: Option<f64>,
}

impl Settings {
    /// The default config file: `config.toml` in the `synapse` config dir
    /// (`SYNAPSE_CONFIG_DIR` when set).
    pub fn default_config_path() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SYNAPSE_CONFIG_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("config.toml"));
        }
        directories::ProjectDirs::from("", "", "synapse")
            .map(|d| d.config_dir().join("config.toml"))
    }

    /// Load from the default file (if it exists) and the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(None, |name| std::env::var(name).ok())
    }

    /// Load from `file` (must exist when given; `None`: the default file if
    /// it exists) and then from `env` (a lookup such as `std::env::var`;
    /// tests pass a map). Empty variables count as unset.
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut s = Settings::default();
        let file_settings = match file {
            Some(path) => Some(read_file(path)?),
            None => match Self::default_config_path() {
                Some(path) if path.is_file() => Some(read_file(&path)?),
                _ => None,
            },
        };
        if let Some(f) = file_settings {
            s.apply_file(f)?;
        }
        s.apply_env(env)?;
        s.validate()?;
        Ok(s)
    }

    fn apply_file(&mut self, f: FileSettings) -> Result<(), ConfigError> {
        if let Some(v) = f.api_key.filter(|v| !v.is_empty()) {
            self.api_key = Some(Secret::new(v));
        }
        if let Some(v) = f.auth_token.filter(|v| !v.is_empty()) {
            self.auth_token = Some(Secret::new(v));
        }
        if let Some(v) = f.base_url {
            self.base_url = v;
        }
        if let Some(v) = f.model {
            self.model = v;
        }
        if let Some(v) = f.max_tokens {
            self.max_tokens = v;
        }
        if let Some(v) = f.max_iterations {
            self.max_iterations = v;
        }
        if let Some(v) = f.max_retries {
            self.max_retries = v;
        }
        if let Some(v) = f.connect_timeout_s {
            self.connect_timeout = seconds("connect_timeout_s", v)?;
        }
        if let Some(v) = f.stream_idle_timeout_s {
            self.stream_idle_timeout = seconds("stream_idle_timeout_s", v)?;
        }
        if let Some(v) = f.concurrent_sessions {
            self.concurrent_sessions = v;
        }
        if let Some(v) = f.max_tool_result_bytes {
            self.max_tool_result_bytes = v;
        }
        if let Some(v) = f.system_prompt {
            self.system_prompt = v;
        }
        if let Some(v) = f.context_window {
            self.context_window = Some(v);
        }
        if let Some(v) = f.compact_at {
            self.compact_at = v;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("ANTHROPIC_API_KEY") {
            self.api_key = Some(Secret::new(v.trim()));
        }
        if let Some(v) = get("ANTHROPIC_AUTH_TOKEN") {
            self.auth_token = Some(Secret::new(v.trim()));
        }
        if let Some(v) = get("ANTHROPIC_BASE_URL") {
            self.base_url = v.trim().to_owned();
        }
        if let Some(v) = get("SYNAPSE_MODEL") {
            self.model = v.trim().to_owned();
        }
        if let Some(v) = get("SYNAPSE_MAX_TOKENS") {
            self.max_tokens = parse_env("SYNAPSE_MAX_TOKENS", &v)?;
        }
        if let Some(v) = get("SYNAPSE_MAX_ITERATIONS") {
            self.max_iterations = parse_env("SYNAPSE_MAX_ITERATIONS", &v)?;
        }
        if let Some(v) = get("SYNAPSE_MAX_RETRIES") {
            self.max_retries = parse_env("SYNAPSE_MAX_RETRIES", &v)?;
        }
        if let Some(v) = get("SYNAPSE_STREAM_IDLE_TIMEOUT_S") {
            let secs: f64 = parse_env("SYNAPSE_STREAM_IDLE_TIMEOUT_S", &v)?;
            self.stream_idle_timeout = seconds("SYNAPSE_STREAM_IDLE_TIMEOUT_S", secs)?;
        }
        if let Some(v) = get("SYNAPSE_CONNECT_TIMEOUT_S") {
            let secs: f64 = parse_env("SYNAPSE_CONNECT_TIMEOUT_S", &v)?;
            self.connect_timeout = seconds("SYNAPSE_CONNECT_TIMEOUT_S", secs)?;
        }
        if let Some(v) = get("SYNAPSE_CONCURRENT_SESSIONS") {
            self.concurrent_sessions = parse_env("SYNAPSE_CONCURRENT_SESSIONS", &v)?;
        }
        if let Some(v) = get("SYNAPSE_MAX_TOOL_RESULT_BYTES") {
            self.max_tool_result_bytes = parse_env("SYNAPSE_MAX_TOOL_RESULT_BYTES", &v)?;
        }
        if let Some(v) = get("SYNAPSE_CONTEXT_WINDOW") {
            self.context_window = Some(parse_env("SYNAPSE_CONTEXT_WINDOW", &v)?);
        }
        if let Some(v) = get("SYNAPSE_COMPACT_AT") {
            self.compact_at = parse_env("SYNAPSE_COMPACT_AT", &v)?;
        }
        Ok(())
    }

    /// Check ranges: positive `max_tokens`, `max_iterations`,
    /// `concurrent_sessions` and timeouts; an `http(s)://` base URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |name: &'static str, v: u32| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    name,
                    message: "must be at least 1".into(),
                })
            } else {
                Ok(())
            }
        };
        positive("max_tokens", self.max_tokens)?;
        positive("max_iterations", self.max_iterations)?;
        positive("concurrent_sessions", self.concurrent_sessions)?;
        positive("max_tool_result_bytes", self.max_tool_result_bytes)?;
        if let Some(w) = self.context_window {
            if w < 1000 {
                return Err(ConfigError::Invalid {
                    name: "context_window",
                    message: format!("{w} tokens is too small (at least 1000)"),
                });
            }
        }
        if !(self.compact_at > 0.0 && self.compact_at <= 1.0) {
            return Err(ConfigError::Invalid {
                name: "compact_at",
                message: format!(
                    "{} must be a fraction of the context window, more than 0 and at most 1",
                    self.compact_at
                ),
            });
        }
        if self.connect_timeout.is_zero() || self.stream_idle_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                name: "timeout",
                message: "timeouts must be greater than zero".into(),
            });
        }
        crate::anthropic::models::check_model_name(&self.model).map_err(|message| {
            ConfigError::Invalid {
                name: "model",
                message,
            }
        })?;
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name: "base_url",
                message: format!("{:?} is not an http(s) URL", self.base_url),
            });
        }
        Ok(())
    }

    /// The context window of `model`: the configured one, else the table's.
    pub fn context_window_of(&self, model: &str) -> u64 {
        self.context_window
            .unwrap_or_else(|| crate::models::context_window(model))
    }

    /// True when an API key or an auth token is set.
    pub fn has_credential(&self) -> bool {
        self.api_key.is_some() || self.auth_token.is_some()
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parsed: FileSettings = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: toml_error_message(&text, &e),
    })?;
    if let Ok(table) = toml::from_str::<toml::Table>(&text) {
        for (key, near) in crate::config_keys::unknown_keys(&table) {
            match near {
                Some(n) => {
                    tracing::warn!(file = %path.display(), "unknown config key `{key}` (ignored); did you mean `{n}`?")
                }
                None => {
                    tracing::warn!(file = %path.display(), "unknown config key `{key}` (ignored)")
                }
            }
        }
    }
    Ok(parsed)
}

/// A config file's TOML error as `line L, column C: reason`. The parser's own
/// rendering quotes the offending line, which could hold the API key: only
/// the location and the reason are kept. Shared by every reader of the file.
pub fn toml_error_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_owned(),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_env<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
        name,
        message: format!("{value:?}: {e}"),
    })
}

fn seconds(name: &'static str, secs: f64) -> Result<Duration, ConfigError> {
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(ConfigError::Invalid {
            name,
            message: format!("{secs} is not a positive number of seconds"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_match_design() {
        let s = Settings::default();
        assert_eq!(s.base_url, "https://api.anthropic.com");
        assert_eq!(s.max_tokens, 8192);
        assert_eq!(s.max_iterations, 20);
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.stream_idle_timeout, Duration::from_secs(300));
        assert_eq!(s.concurrent_sessions, 4);
        assert!(!s.has_credential());
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempdir();
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "model = \"file-model\"\nmax_tokens = 100\nstream_idle_timeout_s = 7\napi_key = \"file-key\"\nsocket = \"ignored\"\n",
        )
        .expect("write");
        let s = Settings::load_from(
            Some(&path),
            env_of(&[
                ("SYNAPSE_MODEL", "env-model"),
                ("ANTHROPIC_API_KEY", "sk-env"),
                ("SYNAPSE_STREAM_IDLE_TIMEOUT_S", "0.5"),
                ("SYNAPSE_MAX_RETRIES", ""),
            ]),
        )
        .expect("load");
        assert_eq!(s.model, "env-model");
        assert_eq!(s.max_tokens, 100);
        assert_eq!(s.max_retries, 2);
        assert_eq!(s.stream_idle_timeout, Duration::from_millis(500));
        assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("sk-env"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_env_is_an_error_without_the_key() {
        let err = Settings::load_from(
            Some(Path::new("/nonexistent/synapse/config.toml")),
            env_of(&[]),
        )
        .expect_err("missing explicit file");
        assert!(matches!(err, ConfigError::Read { .. }));
        let dir = tempdir();
        let path = dir.join("c.toml");
        std::fs::write(&path, "").expect("write");
        let err = Settings::load_from(
            Some(&path),
            env_of(&[
                ("SYNAPSE_MAX_TOKENS", "lots"),
                ("ANTHROPIC_API_KEY", "sk-secret-1"),
            ]),
        )
        .expect_err("bad number");
        assert!(err.to_string().contains("SYNAPSE_MAX_TOKENS"));
        assert!(!err.to_string().contains("sk-secret-1"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn secret_never_prints() {
        let s = Settings {
            api_key: Some(Secret::new("sk-ant-xyz")),
            ..Settings::default()
        };
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("sk-ant-xyz"));
        assert!(dbg.contains("***"));
        assert_eq!(format!("{}", Secret::new("x")), "***");
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "synapse-agent-config-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }
}
