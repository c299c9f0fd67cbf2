//! A small check of `tools/call` arguments against a tool's JSON Schema.
//!
//! The host validates every input itself (and answers `InvalidInput`); this
//! check only catches the common mistakes early, with a message naming the
//! field, so an MCP client gets an actionable `isError` result without a
//! round trip to Houdini. It understands the keywords the catalogue uses:
//! `type`, `properties`, `required`, `additionalProperties: false`, `enum`,
//! `items`, `minimum`, `maximum`. Anything else is left to the host.

use serde_json::{Map, Value};

/// Deepest nesting checked (schemas and arguments are peer input).
const MAX_DEPTH: usize = 16;

/// `Err(message)` naming the first argument that does not fit `schema`.
pub fn check(schema: &Value, arguments: &Value) -> Result<(), String> {
    check_at(schema, arguments, "arguments", 0)
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => {
            v.as_i64().is_some()
                || v.as_u64().is_some()
                || v.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true, // unknown type names are the host's business
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_at(schema: &Value, v: &Value, at: &str, depth: usize) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if depth > MAX_DEPTH {
        return Ok(());
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            return Err(format!("{at} must be {t}, got {}", kind(v)));
        }
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            if !names.is_empty() && !names.iter().any(|t| type_ok(t, v)) {
                return Err(format!(
                    "{at} must be one of {}, got {}",
                    names.join("|"),
                    kind(v)
                ));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(allowed)) = s.get("enum") {
        if !allowed.contains(v) {
            return Err(format!(
                "{at} must be one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{at} must be at least {min}, got {n}"));
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{at} must be at most {max}, got {n}"));
            }
        }
    }
    if let Value::Object(obj) = v {
        check_object(s, obj, at, depth)?;
    }
    if let (Value::Array(items), Some(item_schema)) = (v, s.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check_at(item_schema, item, &format!("{at}[{i}]"), depth + 1)?;
        }
    }
    Ok(())
}

fn check_object(
    s: &Map<String, Value>,
    obj: &Map<String, Value>,
    at: &str,
    depth: usize,
) -> Result<(), String> {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = s.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                return Err(format!("{at}.{r} is required"));
            }
        }
    }
    for (k, val) in obj {
        match props.and_then(|p| p.get(k)) {
            Some(ps) => check_at(ps, val, &format!("{at}.{k}"), depth + 1)?,
            None => {
                if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    return Err(format!(
                        "{at}.{k} is not an accepted field (accepted: {})",
                        known.join(", ")
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_field_that_does_not_fit() {
        let schema = json!({"type": "object", "additionalProperties": false,
            "required": ["path"],
            "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 10},
                           "mode": {"enum": ["a", "b"]}, "paths": {"type": "array", "items": {"type": "string"}}}});
        assert_eq!(check(&schema, &json!({"path": "/obj"})), Ok(()));
        let cases = [
            (json!({}), "arguments.path is required"),
            (json!({"path": 1}), "arguments.path must be string"),
            (json!({"path": "/", "limit": 0}), "at least"),
            (json!({"path": "/", "limit": 1.5}), "integer"),
            (json!({"path": "/", "mode": "c"}), "one of"),
            (json!({"path": "/", "x": 1}), "not an accepted field"),
            (
                json!({"path": "/", "paths": ["a", 2]}),
                "arguments.paths[1]",
            ),
            (json!([1]), "must be object"),
        ];
        for (args, want) in cases {
            let e = check(&schema, &args).expect_err("refused");
            assert!(e.contains(want), "{args}: {e}");
        }
    }
}
