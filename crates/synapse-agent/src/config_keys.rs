//! The keys the config file may hold, and a warning for the others (a
//! misspelt key would otherwise be ignored without a word).
//!
//! The list covers every crate's keys (agent, daemon, budgets, compaction,
//! permissions: design §5, §10–§12); a key added elsewhere belongs here too.

/// Every top-level key the config file may hold.
pub const KNOWN_KEYS: &[&str] = &[
    "api_key",
    "auth_token",
    "base_url",
    "model",
    "max_tokens",
    "max_iterations",
    "max_retries",
    "connect_timeout_s",
    "stream_idle_timeout_s",
    "concurrent_sessions",
    "max_tool_result_bytes",
    "system_prompt",
    "context_window",
    "compact_at",
    "default_mode",
    "allow_tools",
    "approval_timeout_s",
    "max_turn_cost_usd",
    "daily_budget_usd",
    "prices",
];

/// The unknown top-level keys of `table`, each with the nearest known key
/// when one is close (a likely typo).
pub fn unknown_keys(table: &toml::Table) -> Vec<(String, Option<&'static str>)> {
    table
        .keys()
        .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
        .map(|k| (k.clone(), nearest(k)))
        .collect()
}

/// The known key closest to `key` by edit distance, if within a third of
/// its length (at least 1, at most 3 edits).
pub fn nearest(key: &str) -> Option<&'static str> {
    let limit = (key.chars().count() / 3).clamp(1, 3);
    KNOWN_KEYS
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance (with adjacent transpositions counted as one edit).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_key() {
        assert_eq!(nearest("modle"), Some("model"));
        assert_eq!(nearest("max_token"), Some("max_tokens"));
        assert_eq!(nearest("api-key"), Some("api_key"));
        assert_eq!(nearest("colour"), None);
        let t: toml::Table = toml::from_str("modle = 1\nmodel = 2\nzzz = 3").expect("toml");
        assert_eq!(
            unknown_keys(&t),
            vec![
                ("modle".to_owned(), Some("model")),
                ("zzz".to_owned(), None)
            ]
        );
    }
}
