//! Step 2: the checked model of a schema file: message types, their majors and
//! `x-version`s, topics (Hedwig), or tasks with their priorities and inputs (Taskhawk);
//! descriptions, definitions, and the Rust names they get. No tokens here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use owlpost::taskhawk::Priority;
use owlpost::{Document, Schema, Version};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::naming::{self, MessageNames, TaskNames};
use crate::parse::SchemaFile;
use crate::pointer;

/// Everything the renderer needs to know about one schema file.
#[derive(Debug)]
pub struct Model {
    /// The file, as given.
    pub path: PathBuf,
    /// The file name (no directories), for generated docs.
    pub file_name: String,
    /// The root URL.
    pub root: String,
    /// The document's own `description`.
    pub description: Option<String>,
    /// The document, compiled exactly as the runtime compiles it (and embeds it in
    /// generated code).
    pub schema: Schema,
    /// Message types, sorted by name (none in a task document).
    pub messages: Vec<MessageDef>,
    /// Taskhawk tasks, sorted by name (none in a Hedwig document).
    pub tasks: Vec<TaskDef>,
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
    /// The topic it is published on by default ([`owlpost::default_topic`]: `user-created-v1`).
    pub topic: String,
    /// JSON pointer of its schema (`/schemas/user-created/1.*`).
    pub pointer: String,
    /// Its schema object.
    pub schema: Value,
}

/// One Taskhawk task.
#[derive(Debug, Clone)]
pub struct TaskDef {
    /// The task name on the wire (`billing.tasks.send_invoice`).
    pub name: String,
    /// Its Rust names.
    pub names: TaskNames,
    /// The queue it is dispatched to.
    pub priority: Priority,
    /// `x-version` of its input.
    pub latest: Version,
    /// Its `description`.
    pub description: Option<String>,
    /// JSON pointer of the task (`/tasks/billing.tasks.send_invoice`).
    pub pointer: String,
    /// JSON pointer of its input schema (`<pointer>/input`).
    pub input_pointer: String,
    /// Its input schema (the kwargs), documented by the task's description when it has
    /// none of its own.
    pub input: Value,
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
        // Compile it exactly as the runtime will, so that generated code never meets a
        // schema the validator rejects.
        let schema = Schema::compile(Document::parse(&label, file.value.clone())?, &label)?;
        let document = schema.document();
        let mut names = Names { path: &file.path, taken: BTreeMap::new() };
        let mut messages = Vec::new();
        for (message_type, majors) in &document.messages {
            let pointer = pointer::message(message_type);
            if !naming::is_nameable(message_type) {
                return Err(Error::unsupported(
                    &file.path,
                    &pointer,
                    "the message type has no letters or digits to name Rust items after",
                ));
            }
            let type_names = MessageNames::new(message_type);
            let origin = format!("message type `{message_type}`");
            for name in [&type_names.marker, &type_names.handler, &type_names.publish, &type_names.register] {
                names.claim(name, &origin, &pointer)?;
            }
            let majors = majors
                .iter()
                .map(|(major, declared)| {
                    let type_name = naming::payload_type(message_type, *major);
                    names.claim(&type_name, &format!("`{message_type}` major {major}"), &declared.pointer)?;
                    Ok(MajorDef {
                        major: *major,
                        latest: declared.latest,
                        description: description(&declared.schema),
                        method: naming::handler_method(message_type, *major),
                        topic: owlpost::default_topic(message_type, *major),
                        type_name,
                        pointer: declared.pointer.clone(),
                        schema: declared.schema.clone(),
                    })
                })
                .collect::<Result<_>>()?;
            messages.push(MessageDef { message_type: message_type.clone(), names: type_names, majors });
        }
        let tasks = tasks(document, &mut names)?;
        let definitions = definitions(&document.value, &mut names)?;
        Ok(Self {
            path: file.path.clone(),
            file_name: file.name.clone(),
            root: document.root.clone(),
            description: description(&document.value),
            messages,
            tasks,
            definitions,
            schema,
        })
    }

    /// Every schema that becomes a named type: message majors, task inputs, definitions,
    /// as `(type name, JSON pointer, schema)`.
    pub fn typed_schemas(&self) -> impl Iterator<Item = (&String, &String, &Value)> {
        let majors = self.messages.iter().flat_map(|m| m.majors.iter());
        let majors = majors.map(|major| (&major.type_name, &major.pointer, &major.schema));
        let tasks = self.tasks.iter().map(|task| (&task.names.input, &task.input_pointer, &task.input));
        majors.chain(tasks).chain(self.definitions.iter().map(|d| (&d.type_name, &d.pointer, &d.schema)))
    }
}

/// The tasks, named.
fn tasks(document: &Document, names: &mut Names) -> Result<Vec<TaskDef>> {
    let mut out = Vec::new();
    for (name, declared) in &document.tasks {
        let pointer = pointer::task(name);
        let base = naming::task_base(name, declared.rust_name.as_deref());
        if !naming::is_nameable(base) {
            return Err(Error::unsupported(
                names.path,
                &pointer,
                &format!("`{base}` has no letters or digits to name Rust items after: set `x-rust-name`"),
            ));
        }
        let task_names = TaskNames::new(base);
        let origin = format!("task `{name}`");
        for rust_name in [&task_names.input, &task_names.dispatch, &task_names.handler, &task_names.register] {
            names.claim(rust_name, &origin, &pointer)?;
        }
        out.push(TaskDef {
            name: name.clone(),
            names: task_names,
            priority: declared.priority,
            latest: declared.latest,
            description: declared.description.clone(),
            input_pointer: format!("{pointer}/input"),
            pointer,
            input: documented(&declared.input, declared.description.as_deref()),
        });
    }
    Ok(out)
}

impl Model {
    /// An [`Error::Unsupported`] at `pointer` in this model's file.
    pub fn unsupported(&self, pointer: &str, reason: &str) -> Error {
        Error::unsupported(&self.path, pointer, reason)
    }
}

/// One schema under `definitions`.
pub(crate) struct DefinitionSchema<'a> {
    /// The definition's name.
    pub name: &'a str,
    /// Its version and version key, for a schema at `definitions.<name>.<version>`.
    pub version: Option<(Version, &'a str)>,
    /// JSON pointer of the schema.
    pub pointer: String,
    /// The schema.
    pub schema: &'a Value,
}

/// The one reader of Hedwig's `definitions` layout: a map of name → version → schema,
/// where a name whose keys are not all versions is taken as a schema itself. `None` when
/// `definitions` is not an object.
pub(crate) fn definition_schemas(document: &Value) -> Option<Vec<DefinitionSchema<'_>>> {
    let Some(definitions) = document.get("definitions") else { return Some(Vec::new()) };
    let mut out = Vec::new();
    for (name, entry) in definitions.as_object()? {
        let pointer = pointer::join("/definitions", name);
        let versions: Option<Vec<(Version, &String, &Value)>> = entry
            .as_object()
            .filter(|m| !m.is_empty())
            .and_then(|m| m.iter().map(|(k, v)| Some((Version::parse(k)?, k, v))).collect());
        match versions {
            Some(versions) => out.extend(versions.into_iter().map(|(version, key, schema)| DefinitionSchema {
                name,
                version: Some((version, key.as_str())),
                pointer: pointer::join(&pointer, key),
                schema,
            })),
            None => out.push(DefinitionSchema { name, version: None, pointer, schema: entry }),
        }
    }
    Some(out)
}

/// A task's input schema, with the task's description when it has none of its own, so
/// that the input type is documented by it.
fn documented(input: &Value, description: Option<&str>) -> Value {
    let mut input = input.clone();
    if let (Some(map), Some(text)) = (input.as_object_mut(), description) {
        map.entry("description").or_insert_with(|| text.into());
    }
    input
}

/// The definitions, named.
fn definitions(document: &Value, names: &mut Names) -> Result<Vec<Definition>> {
    let schemas = definition_schemas(document)
        .ok_or_else(|| Error::unsupported(names.path, "/definitions", "`definitions` must be an object"))?;
    let mut out = Vec::new();
    for entry in &schemas {
        let name = entry.name;
        if !naming::is_nameable(name) {
            return Err(Error::unsupported(
                names.path,
                &pointer::join("/definitions", name),
                "the definition name has no letters or digits to name a Rust type after",
            ));
        }
        let (type_name, origin) = match entry.version {
            Some((version, key)) => {
                let all: Vec<Version> =
                    schemas.iter().filter(|e| e.name == name).filter_map(|e| Some(e.version?.0)).collect();
                (naming::definition_type(name, version, &all), format!("definition `{name}/{key}`"))
            }
            None => (
                naming::definition_type(name, Version::new(0, 0), &[Version::new(0, 0)]),
                format!("definition `{name}`"),
            ),
        };
        names.claim(&type_name, &origin, &entry.pointer)?;
        out.push(Definition { pointer: entry.pointer.clone(), type_name, schema: entry.schema.clone() });
    }
    Ok(out)
}

fn description(schema: &Value) -> Option<String> {
    schema.get("description").and_then(Value::as_str).map(str::to_owned)
}

/// The Rust names claimed so far, to report collisions.
struct Names<'a> {
    path: &'a Path,
    taken: BTreeMap<String, String>,
}

impl Names<'_> {
    /// Claims `name` for `origin`, found at `pointer`.
    fn claim(&mut self, name: &str, origin: &str, pointer: &str) -> Result<()> {
        if !naming::is_identifier(name) {
            return Err(Error::unsupported(
                self.path,
                pointer,
                &format!("{origin} gives `{name}`, which is not a Rust identifier"),
            ));
        }
        match self.taken.get(name) {
            Some(first) => Err(Error::NameCollision {
                path: self.path.to_owned(),
                pointer: pointer.to_owned(),
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
