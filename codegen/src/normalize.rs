//! Prepares schemas for typify, which cannot read a Hedwig document as it is: it does not
//! walk the `schemas` map, resolves a `$ref` by its last path segment only, panics on
//! references it cannot find, and wants draft-06 numeric `exclusiveMinimum`.
//!
//! Every message major, task input and definition becomes one named schema; every `$ref` is rewritten
//! to `#/definitions/<TypeName>`; draft-04 boolean exclusive bounds become numbers; any
//! construct typify cannot take is an error naming its JSON pointer.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::model::Model;
use crate::pointer;

/// Keywords whose value is one subschema.
const SCHEMA_KEYWORDS: &[&str] = &["additionalProperties", "additionalItems", "not", "items"];
/// Keywords whose value is an array of subschemas.
const SCHEMA_ARRAY_KEYWORDS: &[&str] = &["allOf", "anyOf", "oneOf", "items"];
/// Keywords whose value maps names to subschemas.
const SCHEMA_MAP_KEYWORDS: &[&str] = &["properties", "patternProperties", "definitions", "dependencies"];
/// Keywords typify cannot generate types for (it panics on some of them).
const UNSUPPORTED: &[&str] = &["if", "then", "else", "$dynamicRef", "$recursiveRef", "unevaluatedProperties"];

/// The named schemas to feed typify, in a deterministic order.
pub fn typify_inputs(model: &Model) -> Result<Vec<(String, schemars::schema::Schema)>> {
    let targets: BTreeMap<String, String> =
        model.typed_schemas().map(|(name, pointer, _)| (pointer.clone(), name.clone())).collect();
    let normalizer = Normalizer { model, targets: &targets };
    model
        .typed_schemas()
        .map(|(name, pointer, schema)| {
            let schema = normalizer.schema(schema, pointer)?;
            let schema = serde_json::from_value(schema)
                .map_err(|e| model.unsupported(pointer, &format!("not a schema the type generator can read: {e}")))?;
            Ok((name.clone(), schema))
        })
        .collect()
}

struct Normalizer<'a> {
    model: &'a Model,
    targets: &'a BTreeMap<String, String>,
}

impl Normalizer<'_> {
    fn schema(&self, schema: &Value, pointer: &str) -> Result<Value> {
        let Value::Object(map) = schema else {
            return match schema {
                Value::Bool(_) => Ok(schema.clone()),
                _ => Err(self.model.unsupported(pointer, "expected a schema object")),
            };
        };
        let mut out = Map::new();
        for (key, value) in map {
            let here = pointer::join(pointer, key);
            if UNSUPPORTED.contains(&key.as_str()) {
                return Err(self
                    .model
                    .unsupported(&here, &format!("`{key}` is not supported by owlpost's type generator")));
            }
            let value = match key.as_str() {
                "$ref" => Value::String(self.reference(value, &here)?),
                // Draft-04 identifiers and version markers mean nothing to typify.
                "id" | "$id" | "$schema" | "x-version" | "x-versions" => continue,
                k if SCHEMA_KEYWORDS.contains(&k) && value.is_object() => self.schema(value, &here)?,
                k if SCHEMA_ARRAY_KEYWORDS.contains(&k) && value.is_array() => self.each(value, &here)?,
                k if SCHEMA_MAP_KEYWORDS.contains(&k) && value.is_object() => self.map(value, &here)?,
                _ => value.clone(),
            };
            out.insert(key.clone(), value);
        }
        exclusive_bounds(&mut out);
        Ok(Value::Object(out))
    }

    fn each(&self, items: &Value, pointer: &str) -> Result<Value> {
        let items = items.as_array().into_iter().flatten().enumerate();
        items
            .map(|(i, item)| self.schema(item, &format!("{pointer}/{i}")))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    }

    fn map(&self, map: &Value, pointer: &str) -> Result<Value> {
        let mut out = Map::new();
        for (key, value) in map.as_object().into_iter().flatten() {
            // `dependencies` may also map to a list of property names.
            let value =
                if value.is_array() { value.clone() } else { self.schema(value, &pointer::join(pointer, key))? };
            out.insert(key.clone(), value);
        }
        Ok(Value::Object(out))
    }

    fn reference(&self, reference: &Value, pointer: &str) -> Result<String> {
        let text = reference.as_str().unwrap_or_default();
        // The document's check resolved every `$ref` already.
        let target = self.model.schema.document().resolve_ref(text).map(|(target, _)| target);
        match target.and_then(|target| self.targets.get(target)) {
            Some(type_name) => Ok(format!("#/definitions/{type_name}")),
            None => Err(self.model.unsupported(
                pointer,
                &format!(
                    "`$ref` {text:?}: owlpost generates types for references to a whole definition \
                     (`#/definitions/<name>/<version>`) or message schema (`#/schemas/<type>/<major>.*`), not to {:?}",
                    target.unwrap_or_default()
                ),
            )),
        }
    }
}

/// Rewrites draft-04 `"exclusiveMinimum": true` (with `minimum`) to draft-06's numeric form.
fn exclusive_bounds(schema: &mut Map<String, Value>) {
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match schema.get(exclusive) {
            Some(Value::Bool(true)) => {
                if let Some(value) = schema.remove(bound) {
                    schema.insert(exclusive.to_owned(), value);
                } else {
                    schema.remove(exclusive);
                }
            }
            Some(Value::Bool(false)) => {
                schema.remove(exclusive);
            }
            _ => {}
        }
    }
}
