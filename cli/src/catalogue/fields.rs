//! A payload schema as a flat list of fields (`name.given`, `lines[].sku`) with their type,
//! whether they are required, their description and their constraints.

use owlpost::Document;
use serde::Serialize;
use serde_json::{Map, Value};

/// One row of a message's field table.
#[derive(Serialize)]
pub struct Field {
    path: String,
    kind: String,
    /// What its `$ref` (or its items' `$ref`) reaches, as the schema names it (`UserId/1.0`,
    /// `/schemas/trip_created/1.*`), if anything.
    definition: String,
    /// The anchor of the definition that holds it on the page; empty for a `$ref` outside
    /// `definitions`.
    definition_anchor: String,
    required: bool,
    description: String,
    constraints: String,
}

/// A definition's name as the schema writes it: `/definitions/UserId/1.0` → `UserId/1.0`
/// (any other pointer is left as it is).
pub fn definition_name(pointer: &str) -> String {
    let name = pointer.strip_prefix("/definitions/").unwrap_or(pointer);
    name.split('/').map(|token| token.replace("~1", "/").replace("~0", "~")).collect::<Vec<_>>().join("/")
}

/// The anchor of the definition (`/definitions/<name>/<version>`) that `pointer` reaches into.
fn definition_anchor(pointer: &str) -> Option<String> {
    let mut tokens = pointer.strip_prefix("/definitions/")?.splitn(3, '/');
    let (name, version) = (tokens.next()?, tokens.next()?);
    Some(super::anchor("definition-", &definition_name(&format!("/definitions/{name}/{version}"))))
}

/// Every field of `schema`, depth first, properties in name order.
pub fn list(document: &Document, schema: &Value) -> Vec<Field> {
    let mut fields = Vec::new();
    walk(document, schema, "", &mut fields, 0);
    fields
}

fn walk(document: &Document, schema: &Value, prefix: &str, fields: &mut Vec<Field>, depth: usize) {
    let (schema, _) = document.follow_refs(schema);
    let Some(map) = schema.as_object() else { return };
    if depth > 8 {
        return;
    }
    let required: Vec<&str> =
        map.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, property) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
        let path = format!("{prefix}{name}");
        let (resolved, definition) = document.follow_refs(property);
        let resolved_map = resolved.as_object().cloned().unwrap_or_default();
        let items_definition = || resolved_map.get("items").and_then(|items| document.follow_refs(items).1);
        let reached = definition.or_else(items_definition);
        let definition = reached.map(definition_name).unwrap_or_default();
        let description = text(property, "description").or_else(|| text(resolved, "description")).unwrap_or_default();
        fields.push(Field {
            path: path.clone(),
            kind: kind(&resolved_map),
            definition_anchor: reached.and_then(definition_anchor).unwrap_or_default(),
            definition,
            required: required.contains(&name.as_str()),
            description: description.replace('\n', " "),
            constraints: constraints(&resolved_map),
        });
        walk(document, resolved, &format!("{path}."), fields, depth + 1);
        if let Some(items) = resolved_map.get("items").filter(|i| i.is_object()) {
            walk(document, items, &format!("{path}[]."), fields, depth + 1);
        }
    }
}

fn text(schema: &Value, key: &str) -> Option<String> {
    schema.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The JSON type of a schema (`string`, `integer | null`, `array of string`, `enum`, `any`).
pub fn kind(map: &Map<String, Value>) -> String {
    let base = match map.get("type") {
        Some(Value::String(one)) => one.clone(),
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ if map.contains_key("enum") => "enum".into(),
        _ => "any".into(),
    };
    match (base.as_str(), map.get("items").and_then(|i| i.get("type")).and_then(Value::as_str)) {
        ("array", Some(item)) => format!("array of {item}"),
        _ => base,
    }
}

/// A schema's constraints as one line (`format: email; maxLength: 254`).
pub fn constraints(map: &Map<String, Value>) -> String {
    let mut out = Vec::new();
    if let Some(values) = map.get("enum").and_then(Value::as_array) {
        out.push(format!("one of {}", values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")));
    }
    for key in [
        "const",
        "format",
        "pattern",
        "minimum",
        "exclusiveMinimum",
        "maximum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "additionalProperties",
    ] {
        match map.get(key) {
            Some(Value::String(text)) => out.push(format!("{key}: {text}")),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => out.push(format!("{key}: {value}")),
            Some(Value::Object(_)) => out.push(format!("{key}: schema")),
            _ => {}
        }
    }
    out.join("; ")
}
