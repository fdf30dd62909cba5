//! Example payloads derived from a schema, for generated docs and the message catalogue.
//!
//! The schema's own `examples`, `example`, `default`, `const` or first `enum` value wins;
//! otherwise a value is built from `type`, `format`, `pattern` and the bounds. Callers
//! validate the result before showing it as valid (a schema can be too clever for this).

use owlpost::Document;
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Map, Value, json};

/// Builds example data for `schema`, resolving `$ref`s in `document`.
pub fn payload(document: &Document, schema: &Value) -> Value {
    Builder { document }.value(schema, 0)
}

/// Counts and lengths taken from the schema are capped: an example stays small.
const MAX_REPEAT: usize = 64;

struct Builder<'a> {
    document: &'a Document,
}

impl<'a> Builder<'a> {
    fn value(&self, schema: &'a Value, depth: usize) -> Value {
        let (schema, _) = self.document.follow_refs(schema);
        let Some(map) = schema.as_object() else { return Value::Null };
        if depth > 8 {
            return Value::Null;
        }
        let first = |key: &str| map.get(key).and_then(Value::as_array).and_then(|a| a.first()).cloned();
        let own_properties = || -> Map<String, Value> {
            map.get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, property)| (name.clone(), self.value(property, depth + 1)))
                .collect()
        };
        if let Some(given) =
            first("examples").or_else(|| map.get("example").cloned()).or_else(|| map.get("default").cloned())
        {
            return given;
        }
        if let Some(fixed) = map.get("const").cloned().or_else(|| first("enum")) {
            return fixed;
        }
        if let Some(all) = map.get("allOf").and_then(Value::as_array) {
            let mut merged = own_properties();
            for part in all {
                if let Value::Object(fields) = self.value(part, depth + 1) {
                    merged.extend(fields);
                }
            }
            return Value::Object(merged);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branch) = map.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
                return match self.value(branch, depth + 1) {
                    Value::Object(mut fields) => {
                        fields.extend(own_properties());
                        Value::Object(fields)
                    }
                    other => other,
                };
            }
        }
        match kind(map) {
            "object" => Value::Object(own_properties()),
            "array" => {
                let count = (bound(map, "minItems").unwrap_or(1.0).max(1.0) as usize).min(MAX_REPEAT);
                match map.get("items") {
                    Some(Value::Array(tuple)) => tuple.iter().map(|item| self.value(item, depth + 1)).collect(),
                    // Copies of one item: a schema with `uniqueItems` and `minItems` > 1 gets
                    // an example its validation refuses (shown as such).
                    Some(item) => vec![self.value(item, depth + 1); count].into(),
                    None => vec![Value::Null; count].into(),
                }
            }
            "string" => Value::String(string(map)),
            "integer" => json!(number(map, true) as i64),
            "number" => json!(number(map, false)),
            "boolean" => Value::Bool(true),
            _ => Value::Null,
        }
    }
}

/// The schema's type (the first non-null one), or the one its keywords imply.
fn kind(map: &Map<String, Value>) -> &str {
    let declared = match map.get("type") {
        Some(Value::String(one)) => Some(one.as_str()),
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    };
    declared.unwrap_or(if map.contains_key("properties") {
        "object"
    } else if map.contains_key("items") {
        "array"
    } else if ["pattern", "format", "minLength", "maxLength"].iter().any(|k| map.contains_key(*k)) {
        "string"
    } else if map.contains_key("minimum") || map.contains_key("maximum") {
        "number"
    } else {
        "null"
    })
}

fn bound(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

fn string(map: &Map<String, Value>) -> String {
    let by_format = match map.get("format").and_then(Value::as_str) {
        Some("email") => Some("user@example.com"),
        Some("date-time") => Some("2026-01-01T12:00:00Z"),
        Some("date") => Some("2026-01-01"),
        Some("time") => Some("12:00:00Z"),
        Some("uri" | "url" | "iri") => Some("https://example.com/"),
        Some("uuid") => Some("5f0c6e3a-1c2b-4d5e-8f60-718293a4b5c6"),
        Some("hostname") => Some("example.com"),
        Some("ipv4") => Some("192.0.2.1"),
        Some("ipv6") => Some("2001:db8::1"),
        _ => None,
    };
    if let Some(text) = by_format {
        return text.to_owned();
    }
    if let Some(text) = map.get("pattern").and_then(Value::as_str).and_then(from_pattern) {
        return text;
    }
    let min = (bound(map, "minLength").unwrap_or(0.0) as usize).min(MAX_REPEAT);
    let max = bound(map, "maxLength").map_or(usize::MAX, |m| m as usize);
    let mut text = String::from("example");
    text.push_str(&"x".repeat(min.saturating_sub(text.len())));
    text.chars().take(max).collect()
}

fn number(map: &Map<String, Value>, integer: bool) -> f64 {
    // draft-04 `exclusiveMinimum: true` or draft-06 `exclusiveMinimum: <number>`.
    let exclusive = |flag: &str, bound_key: &str| match map.get(flag) {
        Some(Value::Bool(true)) => bound(map, bound_key).map(|b| (b, true)),
        Some(Value::Number(n)) => n.as_f64().map(|b| (b, true)),
        _ => bound(map, bound_key).map(|b| (b, false)),
    };
    let step = if integer { 1.0 } else { 0.5 };
    // With a numeric exclusive bound, `minimum`/`maximum` may still bind harder.
    let low = exclusive("exclusiveMinimum", "minimum")
        .map(|(b, ex)| if ex { b + step } else { b })
        .map(|b| bound(map, "minimum").map_or(b, |m| b.max(m)));
    let high = exclusive("exclusiveMaximum", "maximum")
        .map(|(b, ex)| if ex { b - step } else { b })
        .map(|b| bound(map, "maximum").map_or(b, |m| b.min(m)));
    let mut value = match (low, high) {
        (Some(low), _) => low,
        (None, Some(high)) => high.min(1.0),
        (None, None) => 1.0,
    };
    if integer {
        value = value.ceil();
    }
    if let Some(multiple) = bound(map, "multipleOf").filter(|m| *m > 0.0) {
        value = (value / multiple).ceil() * multiple;
    }
    value
}

/// A string matching `pattern`: the shortest walk through its regex (first alternative,
/// fewest repetitions, a letter or digit from each class).
fn from_pattern(pattern: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let mut out = String::new();
    emit(&hir, &mut out);
    Some(out)
}

fn emit(hir: &Hir, out: &mut String) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.push_str(&String::from_utf8_lossy(&literal.0)),
        HirKind::Class(Class::Unicode(class)) => {
            out.extend(pick(class.ranges().iter().map(|r| (r.start(), r.end()))));
        }
        HirKind::Class(Class::Bytes(class)) => {
            out.extend(pick(class.ranges().iter().map(|r| (char::from(r.start()), char::from(r.end())))));
        }
        HirKind::Repetition(repetition) => {
            for _ in 0..repetition.min.min(MAX_REPEAT as u32) {
                emit(&repetition.sub, out);
            }
        }
        HirKind::Capture(capture) => emit(&capture.sub, out),
        HirKind::Concat(parts) => parts.iter().for_each(|part| emit(part, out)),
        HirKind::Alternation(branches) => {
            if let Some(first) = branches.first() {
                emit(first, out);
            }
        }
    }
}

/// A readable character of a class: a letter or digit when it has one.
fn pick(ranges: impl Iterator<Item = (char, char)> + Clone) -> Option<char> {
    let readable = ranges.clone().find_map(|(start, end)| (start..=end).take(256).find(|c| c.is_ascii_alphanumeric()));
    readable.or_else(|| ranges.clone().find_map(|(start, end)| (start..=end).take(256).find(|c| !c.is_control())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_matching_strings() {
        for pattern in ["^U_[0-9]+$", "^ord_[0-9a-z]{6,}$", "^[A-Z]{2}$", "a|b", ".+@.+", "^\\d{3}-\\w+$"] {
            let text = from_pattern(pattern).unwrap();
            let regex = regress::Regex::new(pattern).unwrap();
            assert!(regex.find(&text).is_some(), "{text:?} does not match {pattern}");
        }
    }

    #[test]
    fn bounds_are_respected() {
        let document = Document {
            root: String::new(),
            messages: Default::default(),
            tasks: Default::default(),
            schedules: Default::default(),
            value: json!({}),
        };
        let schema = json!({"type": "integer", "minimum": 5, "exclusiveMinimum": true, "multipleOf": 4});
        assert_eq!(payload(&document, &schema), json!(8));
        let schema = json!({"type": "string", "minLength": 10, "maxLength": 12});
        assert_eq!(payload(&document, &schema).as_str().unwrap().len(), 10);
        let schema = json!({"type": ["null", "number"], "maximum": -3});
        assert_eq!(payload(&document, &schema), json!(-3.0));
    }
}
