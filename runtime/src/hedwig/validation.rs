//! What a payload type's Rust type enforces of its schema ([`Validation`], set by the code
//! generator), and the check of the strings it leaves to the schema.
//!
//! A type of [`Validation::Strings`] is serialized straight to its body, or read straight
//! from it (`strict`), and then one pass over the JSON text reads the strings at the checks'
//! paths, each validated by the schema's own validator of that string's schema (the same
//! `jsonschema` options as the whole message's). Everything else in the schema the Rust type
//! enforces, so the message is valid exactly when every checked string is.
//! `tests/tests/differential.rs` checks that claim against the schema walk on arbitrary JSON.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::schema::Schema;

/// What a payload type's Rust type enforces of its major's schema, so what a typed publish
/// and consume still check. `owlpost-codegen` sets it from the schema and says why in the
/// generated impl's doc; a hand-written impl should keep the default, [`Validation::Schema`]:
/// one that claims more than its type enforces publishes invalid messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validation {
    /// Every payload is converted to a `serde_json::Value` and walked against the schema.
    Schema,
    /// The type enforces the whole schema: the payload is serialized straight to the body
    /// (its fields in the struct's order) and read straight from it.
    Construction,
    /// The type enforces the whole schema but these strings' `pattern`, `format` and
    /// lengths: the payload is serialized or read straight, then each string is checked.
    Strings(&'static [StringCheck]),
}

/// A string of a payload that is checked against its own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringCheck {
    /// Where the string is in the payload: object fields and array items, from the top.
    pub path: &'static [Step],
    /// Its schema in the document, as a URI-fragment JSON pointer
    /// (`#/definitions/UserId/1.0`).
    pub schema: &'static str,
}

/// One step of a [`StringCheck::path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The object field of this name.
    Field(&'static str),
    /// Every item of the array.
    Item,
}

impl Validation {
    /// The strings to check once the payload is serialized or read straight; `None` when it
    /// takes the schema walk.
    pub(crate) fn direct(self) -> Option<&'static [StringCheck]> {
        match self {
            Self::Schema => None,
            Self::Construction => Some(&[]),
            Self::Strings(checks) => Some(checks),
        }
    }
}

/// Whether every string of `body` (JSON text) at a check's path is valid against the
/// check's schema in `schema`. `false` also when the text is no JSON, a checked path leads
/// through something else than the objects and arrays of its steps or ends at no string,
/// the schema has no validator at a check's pointer, or there are more than 64 checks: the
/// caller then walks the whole schema, which has the last word and the error's JSON pointer.
pub(crate) fn strings_valid(schema: &Schema, checks: &[StringCheck], body: &[u8]) -> bool {
    let all = match checks.len() {
        0 => return true,
        n @ 1..=64 => u64::MAX >> (64 - n),
        _ => return false,
    };
    // One string value for every check, refilled: jsonschema validates a `Value`.
    let scratch = RefCell::new(Value::String(String::new()));
    let mut json = serde_json::Deserializer::from_slice(body);
    let root = Node { schema, checks, scratch: &scratch, active: all, depth: 0 };
    let valid = root.deserialize(&mut json).unwrap_or(false);
    valid && json.end().is_ok()
}

/// A place in the JSON text, `depth` steps down: the checks whose path leads here (bits of
/// `active`, by index in `checks`).
#[derive(Clone, Copy)]
struct Node<'a> {
    schema: &'a Schema,
    checks: &'a [StringCheck],
    scratch: &'a RefCell<Value>,
    active: u64,
    depth: usize,
}

impl<'a> Node<'a> {
    /// The active checks, each with its bit.
    fn checks(&self) -> impl Iterator<Item = (u64, &'a StringCheck)> + use<'a> {
        let active = self.active;
        self.checks.iter().enumerate().map(|(i, check)| (1 << i, check)).filter(move |(bit, _)| active & bit != 0)
    }

    /// The active checks' paths.
    fn paths(&self) -> impl Iterator<Item = (u64, &'static [Step])> + use<'a> {
        self.checks().map(|(bit, check)| (bit, check.path))
    }

    /// The node below through `step` (a field of this name, or an item).
    fn child(&self, step: impl Fn(&Step) -> bool) -> Self {
        let depth = self.depth;
        let active =
            self.paths().filter(|(_, path)| path.get(depth).is_some_and(&step)).fold(0, |mask, (bit, _)| mask | bit);
        Node { active, depth: depth + 1, ..*self }
    }

    /// Whether every active check goes on through a step `step` accepts (so this value is
    /// the container it needs, not a string nor the other kind of container).
    fn goes_on(&self, step: impl Fn(&Step) -> bool) -> bool {
        self.paths().all(|(_, path)| path.get(self.depth).is_some_and(&step))
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        if self.active == 0 {
            deserializer.deserialize_ignored_any(IgnoredAny)?;
            return Ok(true);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<bool, E> {
        // Here every active check must end: a path that went on would need an object or array.
        if self.paths().any(|(_, path)| path.len() != self.depth) {
            return Ok(false);
        }
        let mut value = self.scratch.borrow_mut();
        if let Value::String(string) = &mut *value {
            string.clear();
            string.push_str(text);
        }
        Ok(self.checks().all(|(_, check)| self.schema.is_valid_at(check.schema, &value)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut valid = self.goes_on(|step| matches!(step, Step::Field(_)));
        while let Some(child) = map.next_key_seed(Key(self))? {
            valid &= map.next_value_seed(child)?;
        }
        Ok(valid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut valid = self.goes_on(|step| *step == Step::Item);
        while let Some(item) = seq.next_element_seed(self.child(|step| *step == Step::Item))? {
            valid &= item;
        }
        Ok(valid)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// An object's key, read as the node of its value: the checks that go on through it.
struct Key<'a>(Node<'a>);

impl<'de, 'a> DeserializeSeed<'de> for Key<'a> {
    type Value = Node<'a>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'a>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'a> Visitor<'_> for Key<'a> {
    type Value = Node<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Node<'a>, E> {
        Ok(self.0.child(|step| matches!(step, Step::Field(name) if *name == key)))
    }
}

#[cfg(test)]
mod tests {
    use super::{Step, StringCheck, strings_valid};
    use crate::schema::Schema;

    const SCHEMA: &str = r##"{
        "id": "https://example.com/s", "$schema": "http://json-schema.org/draft-04/schema#",
        "schemas": {"m": {"1.*": {"x-version": "1.0", "type": "object", "properties": {
            "id": {"$ref": "#/definitions/Id/1.0"},
            "emails": {"type": "array", "items": {"type": "string", "format": "email"}},
            "inner": {"type": "object", "properties": {"id": {"$ref": "#/definitions/Id/1.0"}}}
        }}}},
        "definitions": {"Id": {"1.0": {"type": "string", "pattern": "^I_[0-9]+$"}}}
    }"##;

    const CHECKS: &[StringCheck] = &[
        StringCheck { path: &[Step::Field("id")], schema: "#/definitions/Id/1.0" },
        StringCheck { path: &[Step::Field("emails"), Step::Item], schema: "#/schemas/m/1.*/properties/emails/items" },
        StringCheck { path: &[Step::Field("inner"), Step::Field("id")], schema: "#/definitions/Id/1.0" },
    ];

    #[test]
    fn the_strings_at_the_paths_are_checked_and_nothing_else() {
        let schema = Schema::from_json("s.json", SCHEMA).unwrap();
        let valid = |body: &str| strings_valid(&schema, CHECKS, body.as_bytes());
        assert!(valid(r#"{"id": "I_1", "emails": ["a@b.com", "c@d.org"], "inner": {"id": "I_2", "x": "any"}}"#));
        assert!(valid(r#"{"other": "not an id", "emails": [], "inner": {}}"#), "absent strings are not checked");
        assert!(!valid(r#"{"id": "X_1"}"#), "the pattern at /id");
        assert!(!valid(r#"{"emails": ["a@b.com", "nope"]}"#), "the format of every item");
        assert!(!valid(r#"{"inner": {"id": "I_\u0031x"}}"#), "escapes read as JSON reads them");
        assert!(valid(r#"{"inner": {"id": "I_\u0031"}}"#));
        assert!(!valid(r#"{"id": 1}"#), "no string where one is checked");
        assert!(!valid(r#"{"inner": [{"id": "X"}]}"#), "an array where the path has a field");
        assert!(!valid(r#"{"emails": {"0": "nope"}}"#), "an object where the path has items");
        assert!(!valid(r#"{"id": "I_1"} trailing"#), "not JSON");
        let elsewhere = [StringCheck { path: &[Step::Field("id")], schema: "#/definitions/Missing" }];
        assert!(!strings_valid(&schema, &elsewhere, br#"{"id": "I_1"}"#), "no validator at the pointer");
        assert!(strings_valid(&schema, &[], b"not even JSON"), "nothing to check");
        assert!(strings_valid(&schema, &[CHECKS[0]; 64], br#"{"id": "I_1"}"#));
        assert!(!strings_valid(&schema, &[CHECKS[0]; 65], br#"{"id": "I_1"}"#), "more than 64 checks");
    }
}
