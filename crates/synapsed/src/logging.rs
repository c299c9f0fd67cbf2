//! Logs go to stderr; the level comes from `SYNAPSE_LOG`, else `RUST_LOG`,
//! else `info`. `SYNAPSE_LOG_FORMAT=json` writes one JSON object per line
//! (for log collectors); the default is plain text, coloured on a terminal.
//!
//! The filter is a list of `target=level` and `level` directives
//! (`synapse_agent=debug,info`), parsed as tracing-subscriber's `Targets`;
//! a spec that does not parse falls back to `info`. (`EnvFilter`'s span and
//! field directives are not supported: its regex engine was most of a
//! megabyte of the binary, ADR 0033.)

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter for a spec; `info` when it does not parse.
fn filter(spec: &str) -> Targets {
    spec.parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO))
}

pub fn init() {
    let spec = std::env::var("SYNAPSE_LOG")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "info".to_owned());
    let filter = filter(&spec);
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_target(false);
    let json = std::env::var("SYNAPSE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        builder
            .json()
            .with_current_span(false)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .finish()
            .with(filter)
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    fn on(spec: &str, target: &str, level: Level) -> bool {
        filter(spec).would_enable(target, &level)
    }

    #[test]
    fn levels_and_targets_as_documented() {
        assert!(on("info", "synapse_daemon", Level::INFO));
        assert!(!on("info", "synapse_daemon", Level::DEBUG));
        assert!(!on("warn", "synapsed::serve", Level::INFO));
        // docs/operations.md: the API client only.
        let spec = "synapse_agent=debug,info";
        assert!(on(spec, "synapse_agent::anthropic::client", Level::DEBUG));
        assert!(!on(spec, "synapse_agent::anthropic::client", Level::TRACE));
        assert!(!on(spec, "synapse_daemon::turns", Level::DEBUG));
        assert!(on(spec, "synapse_daemon::turns", Level::INFO));
        assert!(on("trace", "reqwest::connect", Level::TRACE));
        assert!(!on("off", "synapsed", Level::ERROR));
        assert!(on("synapsed", "synapsed::serve", Level::TRACE));
        assert!(!on("synapsed", "synapse_daemon", Level::ERROR));
        assert!(on("INFO,synapse_store=ERROR", "synapse_rpc", Level::INFO));
        assert!(!on(
            "INFO,synapse_store=ERROR",
            "synapse_store::db",
            Level::WARN
        ));
    }

    #[test]
    fn a_spec_that_does_not_parse_is_info() {
        for bad in ["synapse_agent=loud", "synapse_agent=debug=info"] {
            assert!(on(bad, "synapse_daemon", Level::INFO), "{bad}");
            assert!(!on(bad, "synapse_daemon", Level::DEBUG), "{bad}");
        }
    }
}
