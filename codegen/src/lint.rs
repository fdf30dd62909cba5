//! `owlpost check`: every problem the build would report for a schema file, plus lint
//! warnings about what builds but makes a poor contract.
//!
//! Warnings:
//! * a major, task, definition or property without `description` (the generated docs and
//!   the message catalogue come from it);
//! * an object schema without `additionalProperties` (say whether unknown properties are
//!   welcome: it decides which changes are compatible later);
//! * `x-versions` inconsistent with `x-version` (not a list of ascending `major.minor`
//!   of this major ending at `x-version`).

use std::fmt;
use std::path::Path;

use owlpost::Version;
use serde_json::Value;

use crate::error::Error;
use crate::model::definition_schemas;
use crate::{parse, pointer};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// The build would fail.
    Error,
    /// The build works; the contract could be better.
    Warning,
}

/// One finding in a schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as given.
    pub file: String,
    /// JSON pointer into the file (empty for the whole file).
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let pointer = if self.pointer.is_empty() { "(document)" } else { &self.pointer };
        write!(f, "{severity}: {}: {pointer}: {}", self.file, self.reason)
    }
}

/// Checks one schema file: the build's errors (all of the layout problems at once), then
/// the lint warnings, in document order.
pub fn check(path: &Path) -> Vec<Diagnostic> {
    let label = path.display().to_string();
    let diagnostic = |severity, pointer: &str, reason: String| Diagnostic {
        severity,
        file: label.clone(),
        pointer: pointer.to_owned(),
        reason,
    };
    let file = match parse::read(path) {
        Ok(file) => file,
        Err(error) => return errors(&error, diagnostic),
    };
    let mut found = match crate::generate_file(&file) {
        Ok(_) => Vec::new(),
        Err(error) => errors(&error, diagnostic),
    };
    let mut warn = |pointer: String, reason: String| found.push(diagnostic(Severity::Warning, &pointer, reason));
    if let Some(types) = file.value.get("schemas").and_then(Value::as_object) {
        for (message_type, majors) in types {
            for (key, schema) in majors.as_object().into_iter().flatten() {
                let pointer = pointer::join(&pointer::message(message_type), key);
                if schema.get("description").is_none() {
                    warn(pointer.clone(), format!("`{message_type}` {key} has no `description`"));
                }
                x_versions(schema, key, &pointer, &mut warn);
                walk(schema, &pointer, &mut warn);
            }
        }
    }
    if let Some(tasks) = file.value.get("tasks").and_then(Value::as_object) {
        for (name, task) in tasks {
            let pointer = pointer::task(name);
            if task.get("description").is_none() {
                warn(pointer.clone(), format!("task `{name}` has no `description`"));
            }
            if let Some(input) = task.get("input") {
                walk(input, &format!("{pointer}/input"), &mut warn);
            }
        }
    }
    for definition in definition_schemas(&file.value).into_iter().flatten() {
        let (name, schema) = (definition.name, definition.schema);
        if schema.get("description").is_none() && schema.get("$ref").is_none() {
            warn(definition.pointer.clone(), format!("definition `{name}` has no `description`"));
        }
        walk(schema, &definition.pointer, &mut warn);
    }
    found
}

/// An error of the build as diagnostics, one per problem.
fn errors(error: &Error, diagnostic: impl Fn(Severity, &str, String) -> Diagnostic) -> Vec<Diagnostic> {
    error.problems().into_iter().map(|p| diagnostic(Severity::Error, &p.pointer, p.reason)).collect()
}

/// Properties without a description and objects without `additionalProperties`, nested
/// ones included.
fn walk(schema: &Value, pointer: &str, warn: &mut impl FnMut(String, String)) {
    let Some(map) = schema.as_object() else { return };
    let is_object = match map.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == "object"),
        _ => false,
    } || map.contains_key("properties");
    if is_object && !map.contains_key("additionalProperties") {
        warn(
            pointer.to_owned(),
            "object without `additionalProperties`: say whether unknown properties are allowed".into(),
        );
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let pointer = pointer::join(&format!("{pointer}/properties"), name);
            if property.get("description").is_none() && property.get("$ref").is_none() {
                warn(pointer.clone(), format!("property `{name}` has no `description`"));
            }
            walk(property, &pointer, warn);
        }
    }
    for keyword in ["items", "additionalProperties"] {
        if let Some(child) = map.get(keyword).filter(|c| c.is_object()) {
            walk(child, &format!("{pointer}/{keyword}"), warn);
        }
    }
}

/// `x-versions`, when present: `major.minor` strings of this major, ascending, ending at
/// `x-version`.
fn x_versions(schema: &Value, key: &str, pointer: &str, warn: &mut impl FnMut(String, String)) {
    let Some(listed) = schema.get("x-versions") else { return };
    let pointer = format!("{pointer}/x-versions");
    let latest = schema.get("x-version").and_then(Value::as_str).and_then(Version::parse);
    let major = key.strip_suffix(".*").and_then(|m| m.parse::<u32>().ok());
    let Some(items) = listed.as_array() else {
        return warn(pointer, "`x-versions` must be a list of versions like [\"1.0\", \"1.1\"]".into());
    };
    let versions: Option<Vec<Version>> = items.iter().map(|v| v.as_str().and_then(Version::parse)).collect();
    let Some(versions) = versions else {
        return warn(pointer, "`x-versions` must hold `major.minor` strings".into());
    };
    if let Some(other) = versions.iter().find(|v| Some(v.major) != major) {
        warn(pointer.clone(), format!("`x-versions` lists {other}, which is not of major `{key}`"));
    }
    if versions.windows(2).any(|pair| pair[0] >= pair[1]) {
        warn(pointer.clone(), "`x-versions` must be in ascending order without repeats".into());
    }
    if let Some(latest) = latest
        && versions.last() != Some(&latest)
    {
        let last = versions.last().map_or_else(|| "nothing".to_owned(), ToString::to_string);
        warn(pointer, format!("`x-versions` ends at {last}, but `x-version` is {latest}"));
    }
}
