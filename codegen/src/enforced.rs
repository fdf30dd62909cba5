//! Which message schemas the generated Rust types enforce completely, so that a typed
//! publish can skip the schema walk and serialize its payload straight to the body.
//!
//! The rule is deliberately narrow: a schema qualifies when every schema reachable from it
//! (through `properties`, `items` and `$ref`) is one whose every instance the typify type
//! serializes to is valid, namely
//!
//! * an object (`type: object`) with `properties`, `required` and `additionalProperties`
//!   (absent, `true` or `false`): a struct writes exactly its fields, required ones always,
//!   optional ones only when set;
//! * a string (`type: string`) with no constraint but an `enum` of strings (a Rust enum);
//! * an integer (`type: integer`) with no bounds (`i64`), or `minimum` 0 or 1 (`u64`,
//!   `NonZeroU64`);
//! * a boolean; an array (`type: array`) of such `items` with no other constraint.
//!
//! Anything else (a `pattern`, a `format`, lengths, other bounds, `multipleOf`, numbers
//! (`f64` serializes NaN as `null`), `null`, composition keywords, a type list…) keeps the
//! schema walk, and the generated impl says which construct at which pointer. The
//! differential tests (`tests/tests/enforced.rs`) check the rule against `jsonschema`.

use serde_json::{Map, Value};

use owlpost::Document;

use crate::pointer::join;

/// Keywords that describe a schema without constraining its instances.
const ANNOTATIONS: [&str; 5] = ["description", "title", "examples", "default", "$comment"];

/// `None` when the Rust type generated for `schema` (at `pointer`) enforces all of it;
/// otherwise the first construct it does not enforce, with its pointer.
pub fn unenforced(document: &Document, pointer: &str, schema: &Value) -> Option<String> {
    walk(document, pointer, schema, 0)
}

fn walk(document: &Document, pointer: &str, schema: &Value, depth: usize) -> Option<String> {
    if depth > 32 {
        return Some(format!("`$ref`s nested deeper than 32 at {pointer}"));
    }
    let Some(object) = schema.as_object() else { return Some(format!("a boolean schema at {pointer}")) };
    if let Some(reference) = object.get("$ref") {
        let Some((target, resolved)) = reference.as_str().and_then(|r| document.resolve_ref(r)) else {
            return Some(format!("an unresolved `$ref` at {pointer}"));
        };
        return walk(document, target, resolved, depth + 1);
    }
    let kind = object.get("type").and_then(Value::as_str);
    let allowed: &[&str] = match kind {
        Some("object") => &["type", "properties", "required", "additionalProperties"],
        Some("string") if string_enum(object) => &["type", "enum"],
        Some("string") => &["type"],
        Some("integer") => &["type", "minimum"],
        Some("boolean") => &["type"],
        Some("array") => &["type", "items"],
        _ => {
            let found = object.get("type").map_or("a schema without `type`".to_owned(), |t| format!("`type` {t}"));
            return Some(format!("{found} at {pointer}"));
        }
    };
    let extra = object.keys().find(|k| !allowed.contains(&k.as_str()) && !is_annotation(k));
    if let Some(keyword) = extra {
        return Some(format!("`{keyword}` at {pointer}"));
    }
    match kind {
        Some("integer") => match object.get("minimum") {
            None => None,
            Some(min) if min.as_u64().is_some_and(|m| m <= 1) => None,
            Some(_) => Some(format!("`minimum` at {pointer}")),
        },
        Some("object") => object_rest(document, pointer, object, depth),
        Some("array") => match object.get("items") {
            Some(items) => walk(document, &join(pointer, "items"), items, depth + 1),
            None => Some(format!("an array without `items` at {pointer}")),
        },
        _ => None,
    }
}

fn object_rest(document: &Document, pointer: &str, object: &Map<String, Value>, depth: usize) -> Option<String> {
    if object.get("additionalProperties").is_some_and(|a| !a.is_boolean()) {
        return Some(format!("`additionalProperties` with a schema at {pointer}"));
    }
    let empty = Map::new();
    let properties = match object.get("properties") {
        None => &empty,
        Some(Value::Object(properties)) => properties,
        Some(_) => return Some(format!("`properties` that is no object at {pointer}")),
    };
    // A required name with no property schema is a field typify does not generate.
    let required = object.get("required").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if let Some(name) = required.iter().find(|n| n.as_str().is_none_or(|n| !properties.contains_key(n))) {
        return Some(format!("`required` {name} without a property at {pointer}"));
    }
    properties
        .iter()
        .find_map(|(name, property)| walk(document, &join(&format!("{pointer}/properties"), name), property, depth + 1))
}

fn string_enum(object: &Map<String, Value>) -> bool {
    object
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_string))
}

fn is_annotation(keyword: &str) -> bool {
    ANNOTATIONS.contains(&keyword) || keyword.starts_with("x-")
}
