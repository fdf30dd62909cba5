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
//! differential test (`tests/tests/differential.rs`) checks the rule against `jsonschema`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use owlpost::Document;

use crate::pointer::join;

/// Keywords that describe a schema without constraining its instances.
const ANNOTATIONS: [&str; 5] = ["description", "title", "examples", "default", "$comment"];

/// `None` when the Rust type generated for `schema` (at `pointer`) enforces all of it;
/// otherwise the first construct it does not enforce, with its pointer.
pub fn unenforced(document: &Document, pointer: &str, schema: &Value) -> Option<String> {
    Walk { document, targets: HashMap::new() }.schema(pointer, schema, 0)
}

/// One walk: each `$ref` target is judged once (a definition shared by many properties
/// costs one walk), and a target met again while it is being judged is recursive.
struct Walk<'a> {
    document: &'a Document,
    /// `$ref` target pointer → its verdict; `None` while it is being judged.
    targets: HashMap<String, Option<Option<String>>>,
}

impl Walk<'_> {
    fn schema(&mut self, pointer: &str, schema: &Value, depth: usize) -> Option<String> {
        if depth > 128 {
            return Some(format!("schemas nested deeper than 128 at {pointer}"));
        }
        let Some(object) = schema.as_object() else { return Some(format!("a schema that is no object at {pointer}")) };
        match object.get("$ref") {
            Some(reference) => self.reference(pointer, reference, depth),
            None => self.object(pointer, object, depth),
        }
    }

    fn reference(&mut self, pointer: &str, reference: &Value, depth: usize) -> Option<String> {
        let document = self.document;
        let Some((target, resolved)) = reference.as_str().and_then(|r| document.resolve_ref(r)) else {
            return Some(format!("an unresolved `$ref` at {pointer}"));
        };
        match self.targets.get(target) {
            Some(Some(verdict)) => return verdict.clone(),
            Some(None) => return Some(format!("a recursive `$ref` at {pointer}")),
            None => {}
        }
        self.targets.insert(target.to_owned(), None);
        let verdict = self.schema(target, resolved, depth + 1);
        self.targets.insert(target.to_owned(), Some(verdict.clone()));
        verdict
    }

    /// A schema that is no `$ref`: its `type` and keywords.
    fn object(&mut self, pointer: &str, object: &Map<String, Value>, depth: usize) -> Option<String> {
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
            Some("object") => self.properties(pointer, object, depth),
            Some("array") => match object.get("items") {
                Some(items) => self.schema(&join(pointer, "items"), items, depth + 1),
                None => Some(format!("an array without `items` at {pointer}")),
            },
            _ => None,
        }
    }

    /// An object schema's `properties`, `required` and `additionalProperties`.
    fn properties(&mut self, pointer: &str, object: &Map<String, Value>, depth: usize) -> Option<String> {
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
        let at = format!("{pointer}/properties");
        properties.iter().find_map(|(name, property)| self.schema(&join(&at, name), property, depth + 1))
    }
}

fn string_enum(object: &Map<String, Value>) -> bool {
    object
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|values| !values.is_empty() && values.iter().all(Value::is_string))
}

/// `x-rust-type` is no annotation: typify can map such a schema to a type of the user's.
fn is_annotation(keyword: &str) -> bool {
    ANNOTATIONS.contains(&keyword) || (keyword.starts_with("x-") && keyword != "x-rust-type")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use owlpost::Document;

    /// The verdict on message `m` major 1 of a document with these `definitions`.
    fn verdict(schema: Value, definitions: Value) -> Option<String> {
        let mut message = schema;
        message["x-version"] = json!("1.0");
        let value =
            json!({"id": "https://example.com/s", "schemas": {"m": {"1.*": message}}, "definitions": definitions});
        let document = Document::parse("s.json", value).expect("a valid document");
        let major = &document.messages["m"][&1];
        super::unenforced(&document, &major.pointer, &major.schema)
    }

    #[test]
    fn a_recursive_ref_keeps_the_schema_walk() {
        let node = json!({"1.0": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node/1.0"}}}});
        let found = verdict(
            json!({"type": "object", "properties": {"n": {"$ref": "#/definitions/Node/1.0"}}}),
            json!({"Node": node}),
        );
        assert_eq!(found.as_deref(), Some("a recursive `$ref` at /definitions/Node/1.0/properties/next"));
    }

    #[test]
    fn a_definition_shared_at_every_level_is_judged_once() {
        // Level k refers to level k+1 twice: 2^40 paths, one verdict per definition.
        let mut definitions = serde_json::Map::new();
        for level in 0..40 {
            let next = json!({"$ref": format!("#/definitions/L{}/1.0", level + 1)});
            let schema = json!({"type": "object", "properties": {"a": next, "b": next}});
            definitions.insert(format!("L{level}"), json!({"1.0": schema}));
        }
        // Every path must be seen to find nothing: without the memo this would not end.
        definitions.insert("L40".into(), json!({"1.0": {"type": "string"}}));
        let found = verdict(
            json!({"type": "object", "properties": {"x": {"$ref": "#/definitions/L0/1.0"}}}),
            definitions.into(),
        );
        assert_eq!(found, None);
    }

    #[test]
    fn a_user_rust_type_and_tuple_items_keep_the_schema_walk() {
        let mapped = json!({"type": "object", "properties": {"t": {"type": "string", "x-rust-type": {"crate": "x"}}}});
        assert_eq!(verdict(mapped, json!({})).as_deref(), Some("`x-rust-type` at /schemas/m/1.*/properties/t"));
        let tuple = json!({"type": "object", "properties": {"t": {"type": "array", "items": [{"type": "string"}]}}});
        assert_eq!(
            verdict(tuple, json!({})).as_deref(),
            Some("a schema that is no object at /schemas/m/1.*/properties/t/items")
        );
    }

    #[test]
    fn annotations_and_closed_objects_are_enforced() {
        let schema = json!({
            "type": "object", "description": "d", "x-versions": ["1.0"], "additionalProperties": false,
            "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 1, "title": "t"}}
        });
        assert_eq!(verdict(schema, json!({})), None);
    }
}
