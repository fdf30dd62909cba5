//! Step 2: the checked model of a schema file: message types, their majors and
//! `x-version`s, descriptions, definitions, and the Rust names they get. No tokens here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use owlpost::schema::{Document, Schema, Version, escape_pointer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::naming::{self, MessageNames};
use crate::parse::SchemaFile;

/// Everything the renderer needs to know about one schema file.
#[derive(Debug, Clone)]
pub struct Model {
    /// The file, as given.
    pub path: PathBuf,
    /// The file name (no directories), for generated docs.
    pub file_name: String,
    /// The root URL.
    pub root: String,
    /// The document's own `description`.
    pub description: Option<String>,
    /// The whole document as compact JSON, embedded in generated code.
    pub schema_json: String,
    /// Message types, sorted by name.
    pub messages: Vec<MessageDef>,
    /// Definitions, sorted by pointer.
    pub definitions: Vec<Definition>,
}

/// A message type and its majors.
#[derive(Debug, Clone)]
pub struct MessageDef {
    /// The message type as written in the schema.
    pub message_type: String,
    /// Its per-type Rust names.
    pub names: MessageNames,
    /// Its majors, ascending.
    pub majors: Vec<MajorDef>,
}

/// One major version of a message type.
#[derive(Debug, Clone)]
pub struct MajorDef {
    /// The major.
    pub major: u32,
    /// `x-version`: the latest `major.minor`.
    pub latest: Version,
    /// The schema's `description`.
    pub description: Option<String>,
    /// Payload type name, e.g. `UserCreatedV1`.
    pub type_name: String,
    /// Handler method name, e.g. `user_created_v1`.
    pub method: String,
    /// JSON pointer of its schema (`/schemas/user-created/1.*`).
    pub pointer: String,
    /// Its schema object.
    pub schema: Value,
}

/// A reusable definition under `definitions`.
#[derive(Debug, Clone)]
pub struct Definition {
    /// JSON pointer (`/definitions/UserId/1.0`).
    pub pointer: String,
    /// Its Rust type name.
    pub type_name: String,
    /// Its schema.
    pub schema: Value,
}

impl Model {
    /// Checks a schema file (layout, `$ref`s, compilation by the validator) and names
    /// everything in it.
    pub fn build(file: &SchemaFile) -> Result<Self> {
        let label = file.path.display().to_string();
        let document = Document::parse(&label, file.value.clone())?;
        // Compile it exactly as the runtime will, so that generated code never meets a
        // schema the validator rejects.
        let schema = Schema::compile(document, &label)?;
        let document = schema.document();
        let mut names = Names { path: file.path.clone(), taken: BTreeMap::new() };
        let mut messages = Vec::new();
        for (message_type, majors) in &document.messages {
            let pointer = format!("/schemas/{}", escape_pointer(message_type));
            if !naming::is_nameable(message_type) {
                return Err(unsupported(
                    file,
                    &pointer,
                    "the message type has no letters or digits to name Rust items after",
                ));
            }
            let type_names = MessageNames::new(message_type);
            let origin = format!("message type `{message_type}`");
            for name in [&type_names.marker, &type_names.handler, &type_names.publish, &type_names.register] {
                names.claim(name, &origin)?;
            }
            let majors = majors
                .iter()
                .map(|(major, declared)| {
                    let type_name = naming::payload_type(message_type, *major);
                    names.claim(&type_name, &format!("`{message_type}` major {major}"))?;
                    Ok(MajorDef {
                        major: *major,
                        latest: declared.latest,
                        description: description(&declared.schema),
                        method: naming::handler_method(message_type, *major),
                        type_name,
                        pointer: format!("{pointer}/{major}.*"),
                        schema: declared.schema.clone(),
                    })
                })
                .collect::<Result<_>>()?;
            messages.push(MessageDef { message_type: message_type.clone(), names: type_names, majors });
        }
        let definitions = definitions(file, &document.value, &mut names)?;
        Ok(Self {
            path: file.path.clone(),
            file_name: file.name.clone(),
            root: document.root.clone(),
            description: description(&document.value),
            schema_json: document.value.to_string(),
            messages,
            definitions,
        })
    }
}

/// `definitions` is a map of name → version → schema (Hedwig's layout); a name whose
/// keys are not all versions is taken as a schema itself.
fn definitions(file: &SchemaFile, document: &Value, names: &mut Names) -> Result<Vec<Definition>> {
    let Some(definitions) = document.get("definitions") else { return Ok(Vec::new()) };
    let Some(definitions) = definitions.as_object() else {
        return Err(unsupported(file, "/definitions", "`definitions` must be an object"));
    };
    let mut out = Vec::new();
    for (name, entry) in definitions {
        let pointer = format!("/definitions/{}", escape_pointer(name));
        if !naming::is_nameable(name) {
            return Err(unsupported(
                file,
                &pointer,
                "the definition name has no letters or digits to name a Rust type after",
            ));
        }
        let versions: Option<Vec<(Version, &String, &Value)>> = entry
            .as_object()
            .filter(|m| !m.is_empty())
            .and_then(|m| m.iter().map(|(k, v)| Some((Version::parse(k)?, k, v))).collect());
        match versions {
            Some(versions) => {
                let all: Vec<Version> = versions.iter().map(|(v, _, _)| *v).collect();
                for (version, key, schema) in versions {
                    let type_name = naming::definition_type(name, version, &all);
                    names.claim(&type_name, &format!("definition `{name}/{key}`"))?;
                    out.push(Definition {
                        pointer: format!("{pointer}/{}", escape_pointer(key)),
                        type_name,
                        schema: schema.clone(),
                    });
                }
            }
            None => {
                let type_name = naming::definition_type(name, Version::new(0, 0), &[Version::new(0, 0)]);
                names.claim(&type_name, &format!("definition `{name}`"))?;
                out.push(Definition { pointer, type_name, schema: entry.clone() });
            }
        }
    }
    Ok(out)
}

fn description(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn unsupported(file: &SchemaFile, pointer: &str, reason: &str) -> Error {
    Error::Unsupported { path: file.path.clone(), pointer: pointer.to_owned(), reason: reason.to_owned() }
}

/// The Rust names claimed so far, to report collisions.
struct Names {
    path: PathBuf,
    taken: BTreeMap<String, String>,
}

impl Names {
    fn claim(&mut self, name: &str, origin: &str) -> Result<()> {
        if !naming::is_identifier(name) {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                pointer: String::new(),
                reason: format!("{origin} gives `{name}`, which is not a Rust identifier"),
            });
        }
        match self.taken.get(name) {
            Some(first) => Err(Error::NameCollision {
                path: self.path.clone(),
                name: name.to_owned(),
                first: first.clone(),
                second: origin.to_owned(),
            }),
            _ => {
                self.taken.insert(name.to_owned(), origin.to_owned());
                Ok(())
            }
        }
    }
}
