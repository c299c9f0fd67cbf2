//! Permission and budget settings (design §11, §12): what a turn may do
//! without asking, and what it may spend.
//!
//! Read from the same TOML file as the agent settings (its unknown keys are
//! ignored there), then the environment; flags > env > file > defaults.
//!
//! | key | env | default |
//! |---|---|---|
//! | `default_mode` | `SYNAPSE_DEFAULT_MODE` | `ask` |
//! | `allow_tools` (names) | — | `[]` |
//! | `approval_timeout_s` | `SYNAPSE_APPROVAL_TIMEOUT_S` | 600, in (0, 86400] |
//! | `max_turn_cost_usd` | `SYNAPSE_MAX_TURN_COST_USD` | none |
//! | `daily_budget_usd` | `SYNAPSE_DAILY_BUDGET_USD` | none |
//! | `[prices."MODEL"]` `input`, `output`, `cache_write`, `cache_read` | — | the shipped table |
//!
//! Caps must be finite and ≥ 0 (0 blocks every request). A price table
//! needs `input` and `output`; `cache_write` and `cache_read` default to
//! 1.25× and 0.1× `input` (Anthropic's published ratios).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use synapse_agent::models::{self, Price};
use synapse_protocol::PermissionMode;

/// Default `approval_timeout_s`: 600 s.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest `approval_timeout_s`: one day.
pub const MAX_APPROVAL_TIMEOUT_S: f64 = 86_400.0;

/// A bad permission or budget setting.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML or a key has the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The key or variable.
        name: String,
        /// Why.
        message: String,
    },
}

/// Permission and budget settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Mode of a turn that names none in a session without one.
    pub default_mode: PermissionMode,
    /// Tools that never wait for approval.
    pub allow_tools: HashSet<String>,
    /// How long a call waits for `turn.approve`.
    pub approval_timeout: Duration,
    /// Per-turn cap in USD (a `turn.submit` param overrides it).
    pub max_turn_cost_usd: Option<f64>,
    /// Cap on the local calendar day's spend in USD.
    pub daily_budget_usd: Option<f64>,
    /// Prices from the config, over the shipped table.
    pub prices: HashMap<String, Price>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            default_mode: PermissionMode::Ask,
            allow_tools: HashSet::new(),
            approval_timeout: DEFAULT_APPROVAL_TIMEOUT,
            max_turn_cost_usd: None,
            daily_budget_usd: None,
            prices: HashMap::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct FilePolicy {
    default_mode: Option<String>,
    allow_tools: Option<Vec<String>>,
    approval_timeout_s: Option<f64>,
    max_turn_cost_usd: Option<f64>,
    daily_budget_usd: Option<f64>,
    prices: Option<BTreeMap<String, FilePrice>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrice {
    input: f64,
    output: f64,
    cache_write: Option<f64>,
    cache_read: Option<f64>,
}

impl Policy {
    /// Load from `file` (must exist when given; `None`: the default config
    /// file if it exists) and then `env` (empty values count as unset).
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, PolicyError> {
        let mut p = Policy::default();
        let path = match file {
            Some(f) => Some(f.to_owned()),
            None => synapse_agent::Settings::default_config_path().filter(|f| f.is_file()),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::Read {
                path: path.clone(),
                source,
            })?;
            let f: FilePolicy = toml::from_str(&text).map_err(|e| PolicyError::Parse {
                path: path.clone(),
                message: synapse_agent::config::toml_error_message(&text, &e),
            })?;
            p.apply_file(f)?;
        }
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("SYNAPSE_DEFAULT_MODE") {
            p.default_mode = mode("SYNAPSE_DEFAULT_MODE", v.trim())?;
        }
        if let Some(v) = get("SYNAPSE_APPROVAL_TIMEOUT_S") {
            p.approval_timeout = approval_timeout(
                "SYNAPSE_APPROVAL_TIMEOUT_S",
                number("SYNAPSE_APPROVAL_TIMEOUT_S", &v)?,
            )?;
        }
        if let Some(v) = get("SYNAPSE_MAX_TURN_COST_USD") {
            p.max_turn_cost_usd = Some(usd(
                "SYNAPSE_MAX_TURN_COST_USD",
                number("SYNAPSE_MAX_TURN_COST_USD", &v)?,
            )?);
        }
        if let Some(v) = get("SYNAPSE_DAILY_BUDGET_USD") {
            p.daily_budget_usd = Some(usd(
                "SYNAPSE_DAILY_BUDGET_USD",
                number("SYNAPSE_DAILY_BUDGET_USD", &v)?,
            )?);
        }
        Ok(p)
    }

    fn apply_file(&mut self, f: FilePolicy) -> Result<(), PolicyError> {
        if let Some(m) = f.default_mode {
            self.default_mode = mode("default_mode", &m)?;
        }
        if let Some(names) = f.allow_tools {
            self.allow_tools = names.into_iter().collect();
        }
        if let Some(s) = f.approval_timeout_s {
            self.approval_timeout = approval_timeout("approval_timeout_s", s)?;
        }
        if let Some(v) = f.max_turn_cost_usd {
            self.max_turn_cost_usd = Some(usd("max_turn_cost_usd", v)?);
        }
        if let Some(v) = f.daily_budget_usd {
            self.daily_budget_usd = Some(usd("daily_budget_usd", v)?);
        }
        for (model, fp) in f.prices.unwrap_or_default() {
            let price = Price {
                input: fp.input,
                output: fp.output,
                cache_write: fp.cache_write.unwrap_or(fp.input * 1.25),
                cache_read: fp.cache_read.unwrap_or(fp.input * 0.1),
            };
            if !price.is_valid() {
                return Err(PolicyError::Invalid {
                    name: format!("prices.{model:?}"),
                    message: "prices must be finite numbers ≥ 0 (USD per million tokens)".into(),
                });
            }
            self.prices.insert(model, price);
        }
        Ok(())
    }

    /// The price of `model`: the config's (exact id), else the shipped
    /// table's (exact or dated id), else none.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.prices
            .get(model)
            .copied()
            .or_else(|| models::price_of(model))
    }
}

fn mode(name: &str, v: &str) -> Result<PermissionMode, PolicyError> {
    PermissionMode::parse(v).ok_or_else(|| PolicyError::Invalid {
        name: name.to_owned(),
        message: format!("{v:?} is not one of \"ask\", \"read_only\", \"auto\""),
    })
}

fn number(name: &str, v: &str) -> Result<f64, PolicyError> {
    v.trim().parse::<f64>().map_err(|_| PolicyError::Invalid {
        name: name.to_owned(),
        message: format!("{v:?} is not a number"),
    })
}

fn usd(name: &str, v: f64) -> Result<f64, PolicyError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(PolicyError::Invalid {
            name: name.to_owned(),
            message: format!("{v} is not an amount in USD (a finite number ≥ 0)"),
        })
    }
}

fn approval_timeout(name: &str, secs: f64) -> Result<Duration, PolicyError> {
    if secs.is_finite() && secs > 0.0 && secs <= MAX_APPROVAL_TIMEOUT_S {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(PolicyError::Invalid {
            name: name.to_owned(),
            message: format!("{secs} must be a number of seconds in (0, 86400]"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml_text: &str, env: &[(&str, &str)]) -> Result<Policy, PolicyError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml_text).expect("write");
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Policy::load_from(Some(&path), |k| env.get(k).cloned())
    }

    #[test]
    fn a_wrongly_typed_key_is_located_by_line_and_column() {
        let err = load("model = \"m\"\n\ndefault_mode = 5\n", &[]).expect_err("wrong type");
        let text = err.to_string();
        assert!(
            text.contains("line 3, column 16: invalid type: integer `5`, expected a string"),
            "{text}"
        );
    }

    #[test]
    fn defaults_and_file_and_env() {
        let p = load("", &[]).expect("empty file");
        assert_eq!(p, Policy::default());
        assert_eq!(p.default_mode, PermissionMode::Ask);
        assert_eq!(p.approval_timeout, Duration::from_secs(600));
        let p = load(
            "default_mode = \"auto\"\nallow_tools = [\"a\"]\napproval_timeout_s = 5\n\
             max_turn_cost_usd = 0.5\ndaily_budget_usd = 10\n\
             [prices.\"my-model\"]\ninput = 2.0\noutput = 8.0\n",
            &[
                ("SYNAPSE_DEFAULT_MODE", "read_only"),
                ("SYNAPSE_DAILY_BUDGET_USD", "3"),
            ],
        )
        .expect("valid");
        assert_eq!(p.default_mode, PermissionMode::ReadOnly);
        assert!(p.allow_tools.contains("a"));
        assert_eq!(p.approval_timeout, Duration::from_secs(5));
        assert_eq!(p.max_turn_cost_usd, Some(0.5));
        assert_eq!(p.daily_budget_usd, Some(3.0));
        let price = p.price("my-model").expect("configured price");
        assert_eq!(price.cache_write, 2.5);
        assert!((price.cache_read - 0.2).abs() < 1e-12);
        assert!(p.price("claude-sonnet-4-5").is_some());
        assert!(p.price("unknown").is_none());
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let err = |t: &str, env: &[(&str, &str)]| load(t, env).expect_err("must fail").to_string();
        assert!(err("daily_budget_usd = -1", &[]).contains("daily_budget_usd"));
        assert!(err("max_turn_cost_usd = nan", &[]).contains("max_turn_cost_usd"));
        assert!(
            err("", &[("SYNAPSE_DAILY_BUDGET_USD", "-0.5")]).contains("SYNAPSE_DAILY_BUDGET_USD")
        );
        assert!(err("", &[("SYNAPSE_MAX_TURN_COST_USD", "lots")]).contains("not a number"));
        assert!(err("default_mode = \"yolo\"", &[]).contains("default_mode"));
        assert!(err("approval_timeout_s = 0", &[]).contains("(0, 86400]"));
        assert!(err("", &[("SYNAPSE_APPROVAL_TIMEOUT_S", "86401")]).contains("(0, 86400]"));
        assert!(err("[prices.m]\ninput = -1.0\noutput = 1.0", &[]).contains("prices"));
        assert!(err("[prices.m]\ninput = 1.0", &[]).contains("output"));
    }
}
