//! Retry rules, as in the official Anthropic SDKs.
//!
//! - Retried: connection errors (including a stream cut or idle timeout
//!   before any content was forwarded), HTTP 408, 409, 429, every status
//!   ≥ 500 (529 included), and an in-band `overloaded_error` before any
//!   content was forwarded. `x-should-retry: true|false` overrides the
//!   status rules. Never retried otherwise (400, 401, 403, 404, 413, 422).
//! - Wait: `retry-after-ms`, else `retry-after` (seconds or an HTTP date),
//!   when between 0 and 60 s; otherwise `min(0.5 · 2^n, 8) s` times a jitter
//!   factor `1 − 0.25 · random` (n = retries already made).

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use synapse_protocol::ErrorKind;

/// Longest server-suggested wait that is honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// First backoff step.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Largest backoff step.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Whether a failed HTTP status should be retried.
pub fn should_retry_status(status: u16, headers: &HeaderMap) -> bool {
    match headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// The server's suggested wait, if any and if at most 60 s.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if let Some(d) = synapse_protocol::seconds(ms / 1000.0, MAX_RETRY_AFTER.as_secs_f64()) {
            return Some(d);
        }
    }
    let value = get("retry-after")?;
    let d = match value.parse::<f64>() {
        // Out of range (huge, negative, NaN): ignored, like any wait over 60 s.
        Ok(secs) => return synapse_protocol::seconds(secs, MAX_RETRY_AFTER.as_secs_f64()),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    (d <= MAX_RETRY_AFTER).then_some(d)
}

/// Exponential backoff for retry number `retries_done` (0 for the first
/// retry), with `random` in `[0, 1)` for the jitter.
pub fn backoff(retries_done: u32, random: f64) -> Duration {
    let base = INITIAL_BACKOFF.as_secs_f64() * 2f64.powi(retries_done.min(16) as i32);
    let capped = base.min(MAX_BACKOFF.as_secs_f64());
    let jitter = 1.0 - 0.25 * random.clamp(0.0, 1.0);
    synapse_protocol::seconds(capped * jitter, MAX_BACKOFF.as_secs_f64()).unwrap_or(MAX_BACKOFF)
}

/// The wait before retry number `retries_done`: the server's suggestion
/// when usable, else [`backoff`].
pub fn delay(retries_done: u32, headers: Option<&HeaderMap>) -> Duration {
    headers
        .and_then(|h| retry_after(h, SystemTime::now()))
        .unwrap_or_else(|| backoff(retries_done, rand::random::<f64>()))
}

/// The error kind of a failed HTTP status and the API's `error.type`.
pub fn kind_of(status: u16, error_type: Option<&str>) -> ErrorKind {
    if let Some(k) = error_type.and_then(kind_of_error_type) {
        return k;
    }
    match status {
        400 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        413 => ErrorKind::RequestTooLarge,
        429 => ErrorKind::RateLimit,
        529 => ErrorKind::Overloaded,
        s if s >= 500 => ErrorKind::Server,
        _ => ErrorKind::InvalidRequest,
    }
}

/// The error kind of an API `error.type` (`overloaded_error`, ...).
pub fn kind_of_error_type(error_type: &str) -> Option<ErrorKind> {
    Some(match error_type {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimit,
        "api_error" => ErrorKind::Server,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn status_rules() {
        let none = HeaderMap::new();
        for s in [408, 409, 429, 500, 502, 503, 529] {
            assert!(should_retry_status(s, &none), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!should_retry_status(s, &none), "{s}");
        }
        assert!(should_retry_status(
            400,
            &headers(&[("x-should-retry", "true")])
        ));
        assert!(!should_retry_status(
            529,
            &headers(&[("x-should-retry", "false")])
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::now();
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "61")]), now), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "60001")]), now),
            None
        );
        let later = now + Duration::from_secs(10);
        let date = httpdate::fmt_http_date(later);
        let d = retry_after(&headers(&[("retry-after", &date)]), now).expect("date");
        assert!(
            d <= Duration::from_secs(10) && d >= Duration::from_secs(9),
            "{d:?}"
        );
        let far = httpdate::fmt_http_date(now + Duration::from_secs(3600));
        assert_eq!(retry_after(&headers(&[("retry-after", &far)]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn absurd_retry_after_values_are_ignored_without_panicking() {
        let now = SystemTime::now();
        for v in ["1e300", "-1", "NaN", "inf", "1.8e308"] {
            assert_eq!(
                retry_after(&headers(&[("retry-after-ms", v)]), now),
                None,
                "{v}"
            );
            assert_eq!(
                retry_after(&headers(&[("retry-after", v)]), now),
                None,
                "{v}"
            );
        }
    }

    #[test]
    fn backoff_curve() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(4, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(10, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(0, 1.0), Duration::from_millis(375));
    }

    #[test]
    fn kinds() {
        assert_eq!(kind_of(529, None), ErrorKind::Overloaded);
        assert_eq!(
            kind_of(500, Some("overloaded_error")),
            ErrorKind::Overloaded
        );
        assert_eq!(kind_of(401, None), ErrorKind::Authentication);
        assert_eq!(kind_of(413, None), ErrorKind::RequestTooLarge);
        assert_eq!(kind_of(503, Some("weird")), ErrorKind::Server);
    }
}
