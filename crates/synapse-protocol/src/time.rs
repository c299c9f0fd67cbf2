//! RFC 3339 UTC timestamps with milliseconds, as every timestamp on the wire.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// A point in time, written `2026-11-23T20:41:07.123Z` (always UTC, always milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Milliseconds since the Unix epoch.
    pub fn from_unix_ms(ms: i64) -> Self {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self(dt)
    }

    fn from_datetime(dt: OffsetDateTime) -> Self {
        let dt = dt.to_offset(UtcOffset::UTC);
        let ms = dt.unix_timestamp_nanos() / 1_000_000;
        let dt = OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap_or(dt);
        Self(dt)
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(&self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Parse an RFC 3339 string (any offset; converted to UTC).
    pub fn parse(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Self::from_datetime)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 UTC timestamp with milliseconds, e.g. 2026-11-23T20:41:07.123Z"
        })
    }
}

/// Longest timeout a peer may ask for, in seconds: one hour (`tool.invoke`
/// and `tool.call` `timeout_s`, `turn.wait` `timeout_s`).
pub const MAX_TIMEOUT_S: f64 = 3600.0;

/// A duration from a number of seconds that a peer, a header or a config
/// gave: `None` unless it is finite and within `[0, max_s]`. Never panics,
/// whatever the number (`from_secs_f64` does on overflow and NaN).
pub fn seconds(secs: f64, max_s: f64) -> Option<std::time::Duration> {
    if !(secs.is_finite() && secs >= 0.0 && secs <= max_s) {
        return None;
    }
    std::time::Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn seconds_never_panics_and_bounds() {
        use std::time::Duration;
        assert_eq!(super::seconds(1.5, 10.0), Some(Duration::from_millis(1500)));
        assert_eq!(super::seconds(0.0, 10.0), Some(Duration::ZERO));
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300, 10.000001, -0.0001] {
            assert_eq!(super::seconds(bad, 10.0), None, "{bad}");
        }
        assert!(super::seconds(1e300, f64::MAX).is_none());
    }

    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        let t = Timestamp::from_unix_ms(1_795_466_467_123);
        assert_eq!(t.to_string(), "2026-11-23T20:41:07.123Z");
        assert_eq!(
            Timestamp::parse("2026-11-23T21:41:07.123+01:00").ok(),
            Some(t)
        );
        assert_eq!(t.unix_ms(), 1_795_466_467_123);
    }

    #[test]
    fn round_trips_through_json() {
        let t = Timestamp::now();
        let s = serde_json::to_string(&t).expect("serialize");
        let back: Timestamp = serde_json::from_str(&s).expect("parse");
        assert_eq!(t, back);
    }
}
