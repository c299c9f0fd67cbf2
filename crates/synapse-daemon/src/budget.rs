//! Spending caps (design §12): the price of each round-trip, the turn's and
//! the day's spend, and the check before each request.
//!
//! - Each API round-trip's usage is priced at the turn's model's price
//!   ([`Policy::price`]) in nano-USD and recorded in the store's `spend`
//!   table (through the turn's side writer), so the day's spend spans
//!   turns, sessions and restarts: at start the day's total is read back from
//!   the store, then kept up to date in memory.
//! - The day is the local calendar day of the daemon's time zone; it rolls
//!   over at local midnight ([`Clock`] is injectable for tests).
//! - Before each request ([`TurnMeter::check`]): once the turn's spend has
//!   reached `max_turn_cost_usd` (the submit param, else the config), or the
//!   day's has reached `daily_budget_usd`, the request is not sent and the
//!   turn ends `budget_exceeded` (`error.kind: "budget"`).
//! - A model without a price has `cost_usd: null`; its spend cannot be
//!   counted, so a turn cap cannot apply to it (logged once per turn, and
//!   listed in `daemon.status.spend.warnings`).

use std::sync::{Arc, Mutex};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use synapse_agent::models::Price;
use synapse_protocol::{ErrorKind, SpendStatus, Timestamp, TurnError, Usage};
use synapse_store::{spend::nusd_to_usd, SpendRecord, Store};

use crate::policy::Policy;

/// The wall clock and time zone the day is counted in.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> jiff::Timestamp;
    /// The local time zone.
    fn time_zone(&self) -> TimeZone;
}

/// The system clock in the system's time zone.
#[derive(Debug)]
pub struct SystemClock {
    tz: TimeZone,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            tz: TimeZone::try_system().unwrap_or(TimeZone::UTC),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
    fn time_zone(&self) -> TimeZone {
        self.tz.clone()
    }
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<jiff::Timestamp>,
    tz: TimeZone,
}

impl ManualClock {
    /// A clock at `now` in `tz`.
    pub fn new(now: jiff::Timestamp, tz: TimeZone) -> Self {
        Self {
            now: Mutex::new(now),
            tz,
        }
    }

    /// Move to `now`.
    pub fn set(&self, now: jiff::Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn time_zone(&self) -> TimeZone {
        self.tz.clone()
    }
}

/// The local day `t` falls in, and its bounds as protocol timestamps.
fn day_of(t: jiff::Timestamp, tz: &TimeZone) -> (Date, Timestamp, Timestamp) {
    let date = t.to_zoned(tz.clone()).date();
    let start = date
        .to_zoned(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(i64::MIN);
    let end = date
        .tomorrow()
        .and_then(|d| d.to_zoned(tz.clone()))
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(i64::MAX);
    (
        date,
        Timestamp::from_unix_ms(start),
        Timestamp::from_unix_ms(end),
    )
}

#[derive(Debug)]
struct Today {
    date: Date,
    priced_nusd: u64,
    unpriced_models: Vec<String>,
}

/// The daemon's budget: the policy, the clock and the day's spend.
#[derive(Debug)]
pub struct Budget {
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    today: Mutex<Today>,
    default_model: String,
}

impl Budget {
    /// A budget whose day starts with what the store recorded today.
    pub fn new(
        policy: Arc<Policy>,
        store: &Store,
        clock: Arc<dyn Clock>,
        default_model: &str,
    ) -> Result<Self, synapse_store::StoreError> {
        let tz = clock.time_zone();
        let (date, start, end) = day_of(clock.now(), &tz);
        let total = store.spend_between(start, end)?;
        if policy.price(default_model).is_none()
            && (policy.daily_budget_usd.is_some() || policy.max_turn_cost_usd.is_some())
        {
            tracing::warn!(
                model = default_model,
                "the default model has no price: its spend is not counted and caps cannot apply to it; \
                 add [prices.\"{default_model}\"] to the config"
            );
        }
        Ok(Self {
            policy,
            clock,
            today: Mutex::new(Today {
                date,
                priced_nusd: total.priced_nusd,
                unpriced_models: Vec::new(),
            }),
            default_model: default_model.to_owned(),
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    fn today(&self) -> std::sync::MutexGuard<'_, Today> {
        let mut t = self.today.lock().unwrap_or_else(|p| p.into_inner());
        let (date, _, _) = day_of(self.clock.now(), &self.clock.time_zone());
        if t.date != date {
            // Local midnight passed: a new day starts empty.
            *t = Today {
                date,
                priced_nusd: 0,
                unpriced_models: Vec::new(),
            };
        }
        t
    }

    /// Today's priced spend in nano-USD.
    pub fn today_nusd(&self) -> u64 {
        self.today().priced_nusd
    }

    /// `daemon.status.spend`.
    pub fn status(&self) -> SpendStatus {
        let today = self.today();
        let mut warnings = Vec::new();
        if self.policy.price(&self.default_model).is_none() {
            warnings.push(format!(
                "the default model {} has no price: its cost is null and spending caps cannot count it",
                self.default_model
            ));
        }
        for m in &today.unpriced_models {
            if *m != self.default_model {
                warnings.push(format!(
                    "model {m} has no price: its spend today is not counted against the caps"
                ));
            }
        }
        SpendStatus {
            today_usd: nusd_to_usd(today.priced_nusd),
            daily_budget_usd: self.policy.daily_budget_usd,
            max_turn_cost_usd: self.policy.max_turn_cost_usd,
            warnings,
        }
    }

    /// A meter for one turn on `model`; `turn_cap` is its submit param.
    pub fn meter(
        self: &Arc<Self>,
        turn_id: &str,
        session_id: &str,
        model: &str,
        turn_cap: Option<f64>,
    ) -> TurnMeter {
        TurnMeter {
            budget: self.clone(),
            turn_id: turn_id.to_owned(),
            session_id: session_id.to_owned(),
            model: model.to_owned(),
            price: self.policy.price(model),
            cap: turn_cap.or(self.policy.max_turn_cost_usd),
            state: Mutex::new(MeterState::default()),
        }
    }
}

#[derive(Debug, Default)]
struct MeterState {
    priced_nusd: u64,
    unpriced: bool,
    warned: bool,
}

/// One turn's spend.
#[derive(Debug)]
pub struct TurnMeter {
    budget: Arc<Budget>,
    turn_id: String,
    session_id: String,
    model: String,
    price: Option<Price>,
    cap: Option<f64>,
    state: Mutex<MeterState>,
}

impl TurnMeter {
    fn state(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Price one round-trip's usage: adds it to the turn and the day and
    /// returns the usage with `cost_usd` and the row for the store.
    pub fn record(&self, usage: &Usage) -> (Usage, SpendRecord) {
        let cost = self.price.map(|p| p.cost_nusd(usage));
        {
            let mut st = self.state();
            match cost {
                Some(c) => st.priced_nusd = st.priced_nusd.saturating_add(c),
                None => st.unpriced = true,
            }
        }
        {
            let mut today = self.budget.today();
            match cost {
                Some(c) => today.priced_nusd = today.priced_nusd.saturating_add(c),
                None => {
                    if !today.unpriced_models.contains(&self.model) {
                        today.unpriced_models.push(self.model.clone());
                    }
                }
            }
        }
        let mut priced = *usage;
        priced.cost_usd = cost.map(nusd_to_usd);
        let record = SpendRecord {
            turn_id: self.turn_id.clone(),
            session_id: self.session_id.clone(),
            at: Timestamp::from_unix_ms(self.budget.clock.now().as_millisecond()),
            model: self.model.clone(),
            usage: *usage,
            cost_nusd: cost,
        };
        (priced, record)
    }

    /// The turn's cost so far: `None` once a round-trip could not be priced
    /// (a turn that made no request cost nothing, priced or not).
    pub fn cost_usd(&self) -> Option<f64> {
        let st = self.state();
        if st.unpriced {
            None
        } else {
            Some(nusd_to_usd(st.priced_nusd))
        }
    }

    /// May the next request be sent? See the module docs.
    pub fn check(&self) -> Result<(), TurnError> {
        let policy = &self.budget.policy;
        if let Some(daily) = policy.daily_budget_usd {
            let today = nusd_to_usd(self.budget.today_nusd());
            if today >= daily {
                return Err(TurnError {
                    kind: ErrorKind::Budget,
                    message: format!(
                        "daily_budget_usd reached: ${today:.4} spent today of ${daily:.4}; \
                         no request was sent (the budget resets at local midnight)"
                    ),
                });
            }
        }
        if let Some(cap) = self.cap {
            if self.price.is_none() {
                let mut st = self.state();
                if !st.warned {
                    st.warned = true;
                    tracing::warn!(turn_id = %self.turn_id, model = %self.model,
                        "max_turn_cost_usd cannot apply: the model has no price");
                }
                return Ok(());
            }
            let spent = nusd_to_usd(self.state().priced_nusd);
            if spent >= cap {
                return Err(TurnError {
                    kind: ErrorKind::Budget,
                    message: format!(
                        "max_turn_cost_usd reached: this turn spent ${spent:.4} of ${cap:.4}; \
                         no further request was sent"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(daily: Option<f64>, turn: Option<f64>) -> Arc<Policy> {
        Arc::new(Policy {
            daily_budget_usd: daily,
            max_turn_cost_usd: turn,
            ..Policy::default()
        })
    }

    fn usage(input: u64) -> Usage {
        Usage {
            input_tokens: input,
            ..Default::default()
        }
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn the_daily_cap_resets_at_local_midnight() {
        let store = Store::open_in_memory().expect("store");
        let tz = TimeZone::fixed(jiff::tz::offset(-5)); // UTC-5, no DST
        let clock = Arc::new(ManualClock::new(ts("2026-12-02T04:50:00Z"), tz)); // 23:50 local
        let budget = Arc::new(
            Budget::new(
                policy(Some(3.0), None),
                &store,
                clock.clone(),
                "claude-sonnet-4-5",
            )
            .expect("budget"),
        );
        let m = budget.meter("t1", "s1", "claude-sonnet-4-5", None);
        assert!(m.check().is_ok());
        // 1M input tokens of sonnet = $3: the cap is reached.
        let (priced, row) = m.record(&usage(1_000_000));
        assert_eq!(priced.cost_usd, Some(3.0));
        store.record_spend(&row).expect("row");
        let e = m.check().expect_err("cap reached");
        assert_eq!(e.kind, ErrorKind::Budget);
        assert!(e.message.contains("daily_budget_usd") && e.message.contains("$3.0000"));
        // Another turn, another session: still over.
        assert!(budget
            .meter("t2", "s2", "claude-sonnet-4-5", None)
            .check()
            .is_err());
        // 00:00:01 local the next day: a new day.
        clock.set(ts("2026-12-02T05:00:01Z"));
        assert!(budget
            .meter("t3", "s3", "claude-sonnet-4-5", None)
            .check()
            .is_ok());
        assert_eq!(budget.status().today_usd, 0.0);
        // A restart the same (old) day reads the day's spend from the store.
        clock.set(ts("2026-12-02T04:59:59Z"));
        let again = Arc::new(
            Budget::new(
                policy(Some(3.0), None),
                &store,
                clock.clone(),
                "claude-sonnet-4-5",
            )
            .expect("budget"),
        );
        assert_eq!(again.status().today_usd, 3.0);
        assert!(again
            .meter("t4", "s4", "claude-sonnet-4-5", None)
            .check()
            .is_err());
    }

    #[test]
    fn turn_cap_and_unknown_prices() {
        let store = Store::open_in_memory().expect("store");
        let clock = Arc::new(ManualClock::new(ts("2026-12-02T12:00:00Z"), TimeZone::UTC));
        let budget = Arc::new(
            Budget::new(policy(None, Some(1.0)), &store, clock, "claude-sonnet-4-5")
                .expect("budget"),
        );
        let m = budget.meter("t1", "s1", "claude-sonnet-4-5", Some(0.5));
        m.record(&usage(100_000)); // $0.30
        assert!(m.check().is_ok());
        m.record(&usage(100_000)); // $0.60 ≥ $0.50 (the submit param wins)
        let e = m.check().expect_err("turn cap");
        assert!(e.message.contains("max_turn_cost_usd"), "{}", e.message);
        let u = budget.meter("t2", "s1", "mystery-model", None);
        let (priced, row) = u.record(&usage(1_000_000));
        assert_eq!(priced.cost_usd, None);
        assert_eq!(row.cost_nusd, None);
        assert!(u.check().is_ok(), "a cap cannot apply to an unpriced model");
        assert_eq!(u.cost_usd(), None);
        assert!(budget
            .status()
            .warnings
            .iter()
            .any(|w| w.contains("mystery-model")));
    }
}
