//! Which message schemas the generated Rust types enforce, so that a typed publish can skip
//! the schema walk, serialize its payload straight to the body and check only the strings
//! its type leaves to the schema (`owlpost::Validation`).
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
//! * a boolean; an array (`type: array`) of such `items` with no other constraint;
//!
//! or a string with a `pattern`, a `format`, `minLength` or `maxLength`: its Rust type (a
//! `String`, a typify newtype of one, or the type typify gives the format: `Uuid`,
//! `DateTime<Utc>`, `NaiveDate`, the `std::net` addresses) serializes as a JSON string,
//! and it is one of the *checked strings*: the typed paths validate the string in the body
//! against its own schema (at most [`MAX_CHECKS`] of them).
//!
//! Anything else (other bounds, `multipleOf`,
//! numbers (`f64` serializes NaN as `null`), `null`, composition keywords, a type list…)
//! keeps the schema walk, and the generated impl says which construct at which pointer. The
//! differential test (`tests/tests/differential.rs`) checks the rule against `jsonschema`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use owlpost::Document;

use crate::pointer::join;

/// Keywords that describe a schema without constraining its instances.
const ANNOTATIONS: [&str; 5] = ["description", "title", "examples", "default", "$comment"];
/// The string keywords a checked string's schema may have.
const STRING_CONSTRAINTS: [&str; 4] = ["pattern", "format", "minLength", "maxLength"];
/// More checked strings than this keep the schema walk (a definition shared at every level
/// of a deep schema would otherwise make exponentially many).
const MAX_CHECKS: usize = 64;

/// A string the typed paths check against its own schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedString {
    /// Where it is in the payload.
    pub path: Vec<Step>,
    /// The JSON pointer of its schema in the document.
    pub pointer: String,
}

impl CheckedString {
    /// Its schema's pointer as a URI fragment, as jsonschema's validator map and
    /// `owlpost::StringCheck::schema` name it.
    pub fn fragment(&self) -> String {
        format!("#{}", self.pointer)
    }
}

/// One step of a [`CheckedString::path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The object field of this name.
    Field(String),
    /// Every item of the array.
    Item,
}

/// `Ok` with the strings to check when the Rust type generated for `schema` (at `pointer`)
/// enforces all the rest of it (none: all of it); otherwise the first construct it does not
/// enforce, with its pointer.
pub fn enforced(document: &Document, pointer: &str, schema: &Value) -> Result<Vec<CheckedString>, String> {
    Walk { document, targets: HashMap::new() }.schema(pointer, schema, 0)
}

type Verdict = Result<Vec<CheckedString>, String>;

/// One walk: each `$ref` target is judged once (a definition shared by many properties
/// costs one walk), and a target met again while it is being judged is recursive.
struct Walk<'a> {
    document: &'a Document,
    /// `$ref` target pointer → its verdict (paths relative to it); `None` while it is being
    /// judged.
    targets: HashMap<String, Option<Verdict>>,
}

impl Walk<'_> {
    fn schema(&mut self, pointer: &str, schema: &Value, depth: usize) -> Verdict {
        if depth > 128 {
            return Err(format!("schemas nested deeper than 128 at {pointer}"));
        }
        let Some(object) = schema.as_object() else { return Err(format!("a schema that is no object at {pointer}")) };
        match object.get("$ref") {
            Some(reference) => self.reference(pointer, reference, depth),
            None => self.object(pointer, object, depth),
        }
    }

    fn reference(&mut self, pointer: &str, reference: &Value, depth: usize) -> Verdict {
        let document = self.document;
        let Some((target, resolved)) = reference.as_str().and_then(|r| document.resolve_ref(r)) else {
            return Err(format!("an unresolved `$ref` at {pointer}"));
        };
        match self.targets.get(target) {
            Some(Some(verdict)) => return verdict.clone(),
            Some(None) => return Err(format!("a recursive `$ref` at {pointer}")),
            None => {}
        }
        self.targets.insert(target.to_owned(), None);
        let verdict = self.schema(target, resolved, depth + 1);
        self.targets.insert(target.to_owned(), Some(verdict.clone()));
        verdict
    }

    /// A schema that is no `$ref`: its `type` and keywords.
    fn object(&mut self, pointer: &str, object: &Map<String, Value>, depth: usize) -> Verdict {
        let kind = object.get("type").and_then(Value::as_str);
        let allowed: &[&str] = match kind {
            Some("object") => &["type", "properties", "required", "additionalProperties"],
            Some("string") if string_enum(object) => &["type", "enum"],
            Some("string") => &["type", "pattern", "format", "minLength", "maxLength"],
            Some("integer") => &["type", "minimum"],
            Some("boolean") => &["type"],
            Some("array") => &["type", "items"],
            _ => {
                let found = object.get("type").map_or("a schema without `type`".to_owned(), |t| format!("`type` {t}"));
                return Err(format!("{found} at {pointer}"));
            }
        };
        let extra = object.keys().find(|k| !allowed.contains(&k.as_str()) && !is_annotation(k));
        if let Some(keyword) = extra {
            return Err(format!("`{keyword}` at {pointer}"));
        }
        match kind {
            Some("integer") => match object.get("minimum") {
                None => Ok(Vec::new()),
                Some(min) if min.as_u64().is_some_and(|m| m <= 1) => Ok(Vec::new()),
                Some(_) => Err(format!("`minimum` at {pointer}")),
            },
            Some("string") => string(pointer, object),
            Some("object") => self.properties(pointer, object, depth),
            Some("array") => match object.get("items") {
                Some(items) => Ok(under(Step::Item, self.schema(&join(pointer, "items"), items, depth + 1)?)),
                None => Err(format!("an array without `items` at {pointer}")),
            },
            _ => Ok(Vec::new()),
        }
    }

    /// An object schema's `properties`, `required` and `additionalProperties`.
    fn properties(&mut self, pointer: &str, object: &Map<String, Value>, depth: usize) -> Verdict {
        if object.get("additionalProperties").is_some_and(|a| !a.is_boolean()) {
            return Err(format!("`additionalProperties` with a schema at {pointer}"));
        }
        let empty = Map::new();
        let properties = match object.get("properties") {
            None => &empty,
            Some(Value::Object(properties)) => properties,
            Some(_) => return Err(format!("`properties` that is no object at {pointer}")),
        };
        // A required name with no property schema is a field typify does not generate.
        let required = object.get("required").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        if let Some(name) = required.iter().find(|n| n.as_str().is_none_or(|n| !properties.contains_key(n))) {
            return Err(format!("`required` {name} without a property at {pointer}"));
        }
        let at = format!("{pointer}/properties");
        let mut checks = Vec::new();
        for (name, property) in properties {
            checks.extend(under(Step::Field(name.clone()), self.schema(&join(&at, name), property, depth + 1)?));
            if checks.len() > MAX_CHECKS {
                return Err(format!("more than {MAX_CHECKS} strings to check at {pointer}"));
            }
        }
        Ok(checks)
    }
}

/// A string that is no enum: nothing to check, or a checked string.
fn string(pointer: &str, object: &Map<String, Value>) -> Verdict {
    if object.get("format").is_some_and(|format| !format.is_string()) {
        return Err(format!("`format` that is no string at {pointer}"));
    }
    if STRING_CONSTRAINTS.iter().any(|keyword| object.contains_key(*keyword)) {
        Ok(vec![CheckedString { path: Vec::new(), pointer: pointer.to_owned() }])
    } else {
        Ok(Vec::new())
    }
}

/// `checks` of a schema one `step` below the one that holds it.
fn under(step: Step, mut checks: Vec<CheckedString>) -> Vec<CheckedString> {
    checks.iter_mut().for_each(|check| check.path.insert(0, step.clone()));
    checks
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

    use super::{CheckedString, Step};

    /// The verdict on message `m` major 1 of a document with these `definitions`.
    fn verdict(schema: Value, definitions: Value) -> Result<Vec<CheckedString>, String> {
        let mut message = schema;
        message["x-version"] = json!("1.0");
        let value =
            json!({"id": "https://example.com/s", "schemas": {"m": {"1.*": message}}, "definitions": definitions});
        let document = Document::parse("s.json", value).expect("a valid document");
        let major = &document.messages["m"][&1];
        super::enforced(&document, &major.pointer, &major.schema)
    }

    #[test]
    fn a_recursive_ref_keeps_the_schema_walk() {
        let node = json!({"1.0": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node/1.0"}}}});
        let found = verdict(
            json!({"type": "object", "properties": {"n": {"$ref": "#/definitions/Node/1.0"}}}),
            json!({"Node": node}),
        );
        assert_eq!(found.unwrap_err(), "a recursive `$ref` at /definitions/Node/1.0/properties/next");
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
            definitions.clone().into(),
        );
        assert_eq!(found, Ok(Vec::new()));
        // With a checked string at the bottom, the checks double per level until too many.
        let string = json!({"1.0": {"type": "string", "pattern": "^a$"}});
        definitions.insert("L40".into(), string);
        let found = verdict(
            json!({"type": "object", "properties": {"x": {"$ref": "#/definitions/L0/1.0"}}}),
            definitions.into(),
        );
        assert_eq!(found.unwrap_err(), "more than 64 strings to check at /definitions/L33/1.0");
    }

    #[test]
    fn a_user_rust_type_and_tuple_items_keep_the_schema_walk() {
        let mapped = json!({"type": "object", "properties": {"t": {"type": "string", "x-rust-type": {"crate": "x"}}}});
        assert_eq!(verdict(mapped, json!({})).unwrap_err(), "`x-rust-type` at /schemas/m/1.*/properties/t");
        let tuple = json!({"type": "object", "properties": {"t": {"type": "array", "items": [{"type": "string"}]}}});
        assert_eq!(
            verdict(tuple, json!({})).unwrap_err(),
            "a schema that is no object at /schemas/m/1.*/properties/t/items"
        );
    }

    #[test]
    fn annotations_and_closed_objects_are_enforced() {
        let schema = json!({
            "type": "object", "description": "d", "x-versions": ["1.0"], "additionalProperties": false,
            "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 1, "title": "t"}}
        });
        assert_eq!(verdict(schema, json!({})), Ok(Vec::new()));
    }

    #[test]
    fn constrained_strings_are_checked_where_they_are() {
        let schema = json!({"type": "object", "properties": {
            "id": {"$ref": "#/definitions/Id/1.0"},
            "emails": {"type": "array", "items": {"type": "string", "format": "email"}},
            "inner": {"type": "object", "properties": {"id": {"$ref": "#/definitions/Id/1.0"}, "any": {"type": "string"}}}
        }});
        let id = json!({"1.0": {"type": "string", "pattern": "^I_[0-9]+$", "maxLength": 9}});
        let field = |name: &str| Step::Field(name.to_owned());
        let check = |path: Vec<Step>, pointer: &str| CheckedString { path, pointer: pointer.to_owned() };
        assert_eq!(
            verdict(schema, json!({"Id": id})).unwrap(),
            [
                check(vec![field("emails"), Step::Item], "/schemas/m/1.*/properties/emails/items"),
                check(vec![field("id")], "/definitions/Id/1.0"),
                check(vec![field("inner"), field("id")], "/definitions/Id/1.0"),
            ]
        );
    }
}
