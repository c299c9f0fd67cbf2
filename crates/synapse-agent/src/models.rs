//! The model table: the default model, each model's context window and its
//! price, in one place.
//!
//! - The default model is chosen here, with the date it was chosen
//!   ([`DEFAULT_MODEL`], [`DEFAULT_MODEL_CHOSEN`]).
//! - Context windows (tokens) drive compaction (`context_window` in the
//!   config overrides the table; unknown models get
//!   [`DEFAULT_CONTEXT_WINDOW`]).
//! - Prices (USD per million tokens) drive `cost_usd` and budgets; a model
//!   without a price has no cost (`cost_usd: null`), and the config's
//!   `[prices."MODEL"]` tables add or override entries.
//!
//! A dated model id (`claude-sonnet-4-5-20250929`) resolves to the entry of
//! its undated alias (`claude-sonnet-4-5`).

/// The default model (see [`DEFAULT_MODEL_CHOSEN`]): the newest Sonnet the
/// official Anthropic Python SDK (`anthropic` 2.16.0, `types/model_param.py`)
/// names.
pub const DEFAULT_MODEL: &str = "claude-sonnet-5-5";

/// When [`DEFAULT_MODEL`] was chosen (UTC date).
pub const DEFAULT_MODEL_CHOSEN: &str = "2026-12-02";

/// Context window of a model the table does not know: 200,000 tokens.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 200_000;

/// When the shipped prices were taken (UTC date).
pub const PRICES_TAKEN: &str = "2026-12-02";

/// USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Tokens written to the prompt cache (5-minute cache).
    pub cache_write: f64,
    /// Tokens read from the prompt cache.
    pub cache_read: f64,
}

/// One known model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelInfo {
    /// The model id (undated alias).
    pub id: &'static str,
    /// Context window in tokens.
    pub context_window: u64,
    /// Price, when known.
    pub price: Option<Price>,
}

const fn price(input: f64, output: f64) -> Option<Price> {
    // Anthropic's published ratios: cache writes 1.25x input, reads 0.1x.
    Some(Price {
        input,
        output,
        cache_write: input * 1.25,
        cache_read: input * 0.1,
    })
}

const fn listed_price(input: f64, output: f64, cache_write: f64, cache_read: f64) -> Option<Price> {
    Some(Price {
        input,
        output,
        cache_write,
        cache_read,
    })
}

const M: u64 = 1_000_000;

/// Every model the table knows, newest families first: the models the
/// official Python SDK lists (`anthropic` 2.16.0) plus the previous default.
///
/// Sources (stored public pages, taken [`PRICES_TAKEN`]): Anthropic's pricing
/// page (platform.claude.com/docs/en/about-claude/pricing: Fable/Mythos 5 and
/// 5.1, Opus 4.5–5) and its model pages (Sonnet 5 and 5.5 overviews; Opus 5.5
/// and Haiku 5.5 in their comparison tables). Where no Anthropic page gave a
/// price the entry has `price: None` (its `cost_usd` is null):
/// - `claude-haiku-5-5`: priced in two bands by prompt length (≤ 100k
///   tokens, above), which one flat price cannot express;
/// - `claude-fable-5-2`, `claude-mythos-5-2` (released 2026-11-09): only
///   resellers' pages were found;
/// - `claude-mythos-preview`: no price published.
///
/// Notes: Sonnet 5.5's cache read is $0.20 on its model page as stored;
/// third-party changelogs report a cut to $0.10 on 2026-10-07, not seen on an
/// Anthropic page here (the higher price is kept: budgets err on the safe
/// side). Opus 5.5's cache prices are not on the pages found: its 5-minute
/// write uses the 1.25x ratio and its read the $0.20 reported for it.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        id: "claude-sonnet-5-5",
        context_window: M,
        price: listed_price(2.0, 10.0, 2.5, 0.2),
    },
    ModelInfo {
        id: "claude-opus-5-5",
        context_window: M,
        price: listed_price(4.0, 20.0, 5.0, 0.2),
    },
    ModelInfo {
        id: "claude-haiku-5-5",
        context_window: M,
        price: None,
    },
    ModelInfo {
        id: "claude-fable-5-2",
        context_window: M,
        price: None,
    },
    ModelInfo {
        id: "claude-mythos-5-2",
        context_window: M,
        price: None,
    },
    ModelInfo {
        id: "claude-fable-5-1",
        context_window: M,
        price: listed_price(10.0, 50.0, 12.5, 0.25),
    },
    ModelInfo {
        id: "claude-mythos-5-1",
        context_window: M,
        price: listed_price(10.0, 50.0, 12.5, 0.25),
    },
    ModelInfo {
        id: "claude-sonnet-5",
        context_window: M,
        price: listed_price(2.0, 10.0, 2.5, 0.2),
    },
    ModelInfo {
        id: "claude-fable-5",
        context_window: M,
        price: listed_price(10.0, 50.0, 12.5, 1.0),
    },
    ModelInfo {
        id: "claude-mythos-5",
        context_window: M,
        price: listed_price(10.0, 50.0, 12.5, 1.0),
    },
    ModelInfo {
        id: "claude-opus-5",
        context_window: M,
        price: price(5.0, 25.0),
    },
    ModelInfo {
        id: "claude-opus-4-8",
        context_window: M,
        price: price(5.0, 25.0),
    },
    ModelInfo {
        id: "claude-opus-4-7",
        context_window: M,
        price: price(5.0, 25.0),
    },
    ModelInfo {
        id: "claude-mythos-preview",
        context_window: M,
        price: None,
    },
    ModelInfo {
        id: "claude-opus-4-6",
        context_window: M,
        price: price(5.0, 25.0),
    },
    ModelInfo {
        id: "claude-sonnet-4-6",
        context_window: M,
        price: price(3.0, 15.0),
    },
    ModelInfo {
        id: "claude-sonnet-4-5",
        context_window: 200_000,
        price: price(3.0, 15.0),
    },
    ModelInfo {
        id: "claude-opus-4-5",
        context_window: 200_000,
        price: price(5.0, 25.0),
    },
    ModelInfo {
        id: "claude-haiku-4-5",
        context_window: 200_000,
        price: price(1.0, 5.0),
    },
];

/// The table entry of `model` (exact id, or a dated id of a known alias).
pub fn lookup(model: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.id == model).or_else(|| {
        MODELS.iter().find(|m| {
            model
                .strip_prefix(m.id)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|date| date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// The context window of `model` from the table, else [`DEFAULT_CONTEXT_WINDOW`].
pub fn context_window(model: &str) -> u64 {
    lookup(model).map_or(DEFAULT_CONTEXT_WINDOW, |m| m.context_window)
}

impl Price {
    /// What `usage`'s tokens cost at this price, in nano-USD (rounded to the
    /// nearest nano-dollar; integers so sums are exact). The price is per
    /// million tokens, so one token at `p` USD/MTok is `p * 1000` nano-USD.
    pub fn cost_nusd(&self, usage: &synapse_protocol::Usage) -> u64 {
        let part = |tokens: u64, per_mtok: f64| tokens as f64 * per_mtok * 1000.0;
        let total = part(usage.input_tokens, self.input)
            + part(usage.output_tokens, self.output)
            + part(usage.cache_creation_input_tokens, self.cache_write)
            + part(usage.cache_read_input_tokens, self.cache_read);
        if total.is_finite() && total > 0.0 {
            // `as` saturates at u64::MAX.
            total.round() as u64
        } else {
            0
        }
    }

    /// True when every rate is a finite number ≥ 0.
    pub fn is_valid(&self) -> bool {
        [self.input, self.output, self.cache_write, self.cache_read]
            .iter()
            .all(|v| v.is_finite() && *v >= 0.0)
    }
}

/// The shipped price of `model` (see [`PRICES_TAKEN`]), if the table has one.
pub fn price_of(model: &str) -> Option<Price> {
    lookup(model).and_then(|m| m.price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_per_million_tokens_in_nano_usd() {
        let p = Price {
            input: 3.0,
            output: 15.0,
            cache_write: 3.75,
            cache_read: 0.3,
        };
        let u = synapse_protocol::Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000,
            cache_read_input_tokens: 10,
            cache_creation_input_tokens: 0,
            cost_usd: None,
        };
        // $3 + $0.015 + 10 * $0.3e-6
        assert_eq!(p.cost_nusd(&u), 3_000_000_000 + 15_000_000 + 3_000);
        assert_eq!(p.cost_nusd(&synapse_protocol::Usage::default()), 0);
        assert!(price_of("claude-sonnet-4-5-20250929").is_some());
        assert!(price_of("no-such-model").is_none());
    }

    #[test]
    fn the_default_model_is_in_the_table_with_a_window_and_a_price() {
        assert_eq!(DEFAULT_MODEL, "claude-sonnet-5-5");
        let m = lookup(DEFAULT_MODEL).expect("default model in the table");
        assert_eq!(m.context_window, 1_000_000);
        let p = m.price.expect("the default model has a price");
        assert_eq!((p.input, p.output), (2.0, 10.0));
    }

    #[test]
    fn every_entry_is_unique_and_sane() {
        for (i, m) in MODELS.iter().enumerate() {
            assert!(m.id.starts_with("claude-"), "{}", m.id);
            assert!(m.context_window >= 200_000, "{}", m.id);
            assert!(
                MODELS[i + 1..].iter().all(|o| o.id != m.id),
                "duplicate {}",
                m.id
            );
            if let Some(p) = m.price {
                assert!(p.input > 0.0 && p.output > p.input, "{}", m.id);
                assert!(
                    p.cache_read < p.input && p.cache_write >= p.input,
                    "{}",
                    m.id
                );
            }
        }
        // Documented as unknown (see MODELS).
        for id in ["claude-haiku-5-5", "claude-fable-5-2", "claude-mythos-5-2"] {
            assert!(lookup(id).is_some_and(|m| m.price.is_none()), "{id}");
        }
    }

    #[test]
    fn dated_ids_resolve_to_their_alias() {
        assert_eq!(
            lookup("claude-sonnet-4-5-20250929").map(|m| m.id),
            Some("claude-sonnet-4-5")
        );
        assert!(lookup("claude-sonnet-4-5-x").is_none());
        assert!(lookup("gpt-4").is_none());
        assert_eq!(context_window("unknown"), DEFAULT_CONTEXT_WINDOW);
    }
}
