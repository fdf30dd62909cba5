//! Schema documents: structure checks, schema URLs and validation.
//!
//! A schema file is one JSON Schema draft-04 document of one of two kinds. A Hedwig
//! document's `schemas` map holds one schema per message type and major version
//! (`schemas.<type>.<major>.*`), each with an `x-version` naming its latest `major.minor`.
//! A Taskhawk document's `tasks` map holds one entry per task name, with its `priority`,
//! `x-version` and `input` schema (the task's `kwargs`). [`Schema`] checks that structure,
//! compiles the whole document **once** with `jsonschema`, and validates message data
//! against the `<major>.*` schema and task input against the task's `input`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::taskhawk::{Priority, Schedule, parse_schedules};

/// A message version: `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version: a breaking change, a new schema entry and by convention a new topic.
    pub major: u32,
    /// Minor version: backward-compatible edits of the major's schema.
    pub minor: u32,
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Parses `major.minor` (both decimal, no sign, no leading `+`).
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.split_once('.')?;
        Some(Self::new(parse_decimal(major)?, parse_decimal(minor)?))
    }
}

fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A parsed schema URL: `<root>#/schemas/<message type>/<major>.<minor>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaUrl {
    /// The schema document's root URL (its `id`).
    pub root: String,
    /// The message type, e.g. `user-created`.
    pub message_type: String,
    /// The message version.
    pub version: Version,
}

impl SchemaUrl {
    /// Parses a schema URL; `None` when it is not of the form above.
    pub fn parse(url: &str) -> Option<Self> {
        // The first `#/schemas/`, found from its `#`s: a substring search's setup costs more
        // than the scan of a URL (every consumed message parses one).
        const FRAGMENT: &str = "#/schemas/";
        let at = url.match_indices('#').map(|(i, _)| i).find(|&i| url[i..].starts_with(FRAGMENT))?;
        let (root, fragment) = (&url[..at], &url[at + FRAGMENT.len()..]);
        let (message_type, version) = fragment.rsplit_once('/')?;
        if message_type.is_empty() || message_type.contains('/') {
            return None;
        }
        Some(Self { root: root.to_owned(), message_type: message_type.to_owned(), version: Version::parse(version)? })
    }
}

impl fmt::Display for SchemaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#/schemas/{}/{}", self.root, self.message_type, self.version)
    }
}

/// One problem found in a schema document, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// JSON pointer (RFC 6901) into the schema document; empty for the whole document.
    pub pointer: String,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "(document)" } else { &self.pointer };
        write!(f, "{pointer}: {}", self.reason)
    }
}

/// A schema document that cannot be used, with every problem found in it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub struct SchemaError {
    /// The file (or other source name) the document came from.
    pub file: String,
    /// Every problem found, in document order.
    pub problems: Vec<SchemaProblem>,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{}: {one}", self.file),
            many => {
                write!(f, "{}: {} problems", self.file, many.len())?;
                many.iter().try_for_each(|p| write!(f, "\n  {p}"))
            }
        }
    }
}

/// The declared schema of one message major version.
#[derive(Debug, Clone)]
pub struct MajorSchema {
    /// The latest version of this major, from `x-version`.
    pub latest: Version,
    /// JSON pointer of the schema object (`/schemas/user-created/1.*`).
    pub pointer: String,
    /// The schema object (`schemas.<type>.<major>.*`).
    pub schema: Value,
}

/// The declared schema of one Taskhawk task (`tasks.<task name>`).
#[derive(Debug, Clone)]
pub struct TaskSchema {
    /// The queue it goes to, from `priority` (`default` when absent).
    pub priority: Priority,
    /// The input's latest version, from `x-version`. Taskhawk sends no version: a
    /// compatible change bumps the minor, a breaking one needs a new task name.
    pub latest: Version,
    /// `x-rust-name`: the snake_case base of the task's Rust names, when given.
    pub rust_name: Option<String>,
    /// The task's `description`.
    pub description: Option<String>,
    /// JSON pointer of the task (`/tasks/billing.tasks.send_invoice`).
    pub pointer: String,
    /// The input schema (`tasks.<task name>.input`), an object schema: the task's `kwargs`.
    pub input: Value,
}

/// The keys a task entry may have.
const TASK_KEYS: [&str; 5] = ["description", "priority", "x-version", "x-rust-name", "input"];

/// A schema document whose structure was checked (no validators compiled yet).
#[derive(Debug, Clone)]
pub struct Document {
    /// Root URL: the document's `id` (draft-04) or `$id`.
    pub root: String,
    /// Message types → major → declared schema, sorted; empty for a task document.
    pub messages: BTreeMap<String, BTreeMap<u32, MajorSchema>>,
    /// Task names → declared task, sorted; empty for a Hedwig document.
    pub tasks: BTreeMap<String, TaskSchema>,
    /// Schedule names → schedule (a task document's `schedules`), sorted.
    pub schedules: BTreeMap<String, Schedule>,
    /// The whole document.
    pub value: Value,
}

impl Document {
    /// Checks the layout of a schema document (Hedwig `schemas` or Taskhawk `tasks`)
    /// and collects every problem.
    ///
    /// `file` names the source in errors.
    pub fn parse(file: &str, value: Value) -> Result<Self, SchemaError> {
        let mut problems = Vec::new();
        let mut problem = |pointer: String, reason: String| problems.push(SchemaProblem { pointer, reason });
        let root = match value.get("id").or_else(|| value.get("$id")) {
            Some(Value::String(id)) if !id.is_empty() && !id.contains('#') => id.clone(),
            Some(_) => {
                problem("/id".into(), "`id` must be a non-empty URL without a fragment".into());
                String::new()
            }
            None => {
                problem(String::new(), "missing root `id` (the schema's root URL)".into());
                String::new()
            }
        };
        let (mut messages, mut tasks) = (BTreeMap::new(), BTreeMap::new());
        match (value.get("schemas"), value.get("tasks")) {
            (Some(_), Some(_)) => problem(
                String::new(),
                "a document has `schemas` (Hedwig messages) or `tasks` (Taskhawk tasks), not both".into(),
            ),
            (Some(types), None) => messages = parse_messages(types, &mut problem),
            (None, Some(entries)) => tasks = parse_tasks(entries, &mut problem),
            (None, None) => problem(
                String::new(),
                "missing `schemas` (Hedwig: message types to versions) or `tasks` (Taskhawk: task names to inputs)"
                    .into(),
            ),
        }
        let schedules = match value.get("schedules") {
            None => BTreeMap::new(),
            Some(_) if !messages.is_empty() => {
                problem("/schedules".into(), "`schedules` belong to a task document (`tasks`)".into());
                BTreeMap::new()
            }
            Some(entries) => parse_schedules(entries, &tasks, &mut problem),
        };
        check_refs(&value, &root, &value, &mut String::new(), &mut problem);
        if problems.is_empty() {
            Ok(Self { root, messages, tasks, schedules, value })
        } else {
            Err(SchemaError { file: file.to_owned(), problems })
        }
    }

    /// What a `$ref` names in this document: the JSON pointer and the value there; `None`
    /// when it points outside the document or at nothing.
    pub fn resolve_ref<'a>(&'a self, reference: &'a str) -> Option<(&'a str, &'a Value)> {
        let pointer = local_pointer(reference, &self.root).ok()?;
        Some((pointer, resolve_pointer(&self.value, pointer)?))
    }

    /// Follows `schema`'s `$ref` chain (at most 32 steps, so cycles end) to the schema it
    /// ends at, with the JSON pointer of that schema (`None` when `schema` is no `$ref`).
    pub fn follow_refs<'a>(&'a self, mut schema: &'a Value) -> (&'a Value, Option<&'a str>) {
        let mut target = None;
        for _ in 0..32 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else { break };
            let Some((pointer, next)) = self.resolve_ref(reference) else { break };
            target = Some(pointer);
            schema = next;
        }
        (schema, target)
    }
}

/// The `schemas` of a Hedwig document: message type → major → schema.
fn parse_messages(
    types: &Value,
    problem: &mut impl FnMut(String, String),
) -> BTreeMap<String, BTreeMap<u32, MajorSchema>> {
    let mut messages = BTreeMap::new();
    match types {
        Value::Object(types) if !types.is_empty() => {
            for (message_type, majors) in types {
                let pointer = format!("/schemas/{}", escape_pointer(message_type));
                if message_type.is_empty() || message_type.contains('/') {
                    problem(
                        pointer.clone(),
                        format!("invalid message type {message_type:?}: must be non-empty, without `/`"),
                    );
                }
                let Some(majors) = majors.as_object().filter(|m| !m.is_empty()) else {
                    problem(pointer, "expected a non-empty object of major versions (`\"1.*\": {...}`)".into());
                    continue;
                };
                let mut parsed = BTreeMap::new();
                for (key, schema) in majors {
                    let pointer = format!("{pointer}/{}", escape_pointer(key));
                    match parse_major_key(key) {
                        None => {
                            problem(pointer, format!("invalid version key {key:?}: expected `<major>.*`, e.g. `1.*`"))
                        }
                        Some(major) => match check_x_version(major, schema) {
                            Ok(latest) => {
                                parsed.insert(major, MajorSchema { latest, pointer, schema: schema.clone() });
                            }
                            Err((at_x_version, reason)) => {
                                problem(if at_x_version { format!("{pointer}/x-version") } else { pointer }, reason)
                            }
                        },
                    }
                }
                messages.insert(message_type.clone(), parsed);
            }
        }
        _ => problem("/schemas".into(), "`schemas` must be a non-empty object of message types".into()),
    }
    messages
}

/// The `tasks` of a Taskhawk document: task name → task.
fn parse_tasks(entries: &Value, problem: &mut impl FnMut(String, String)) -> BTreeMap<String, TaskSchema> {
    let mut tasks = BTreeMap::new();
    let Some(entries) = entries.as_object().filter(|t| !t.is_empty()) else {
        problem("/tasks".into(), "`tasks` must be a non-empty object of task names".into());
        return tasks;
    };
    for (name, entry) in entries {
        let pointer = format!("/tasks/{}", escape_pointer(name));
        if name.is_empty() || name.contains('/') {
            problem(pointer.clone(), format!("invalid task name {name:?}: must be non-empty, without `/`"));
        }
        if let Some(task) = parse_task(entry, &pointer, problem) {
            tasks.insert(name.clone(), task);
        }
    }
    tasks
}

/// One task entry, or `None` after reporting every problem in it.
fn parse_task(entry: &Value, pointer: &str, problem: &mut impl FnMut(String, String)) -> Option<TaskSchema> {
    let Some(fields) = entry.as_object() else {
        problem(pointer.to_owned(), "a task must be an object with `x-version` and `input`".into());
        return None;
    };
    let at = |key: &str| format!("{pointer}/{}", escape_pointer(key));
    let mut ok = true;
    let mut fail = |at: String, reason: String| {
        ok = false;
        problem(at, reason);
    };
    for key in fields.keys().filter(|k| !TASK_KEYS.contains(&k.as_str())) {
        fail(at(key), format!("unknown key `{key}`: a task has `{}`", TASK_KEYS.join("`, `")));
    }
    let priority = match fields.get("priority") {
        None => Priority::Default,
        Some(Value::String(text)) => text.parse().unwrap_or_else(|e| {
            fail(at("priority"), format!("{e}"));
            Priority::Default
        }),
        Some(other) => {
            fail(at("priority"), format!("`priority` must be a string (high, default, low or bulk), found {other}"));
            Priority::Default
        }
    };
    let latest = match fields.get("x-version") {
        None => {
            fail(pointer.to_owned(), "missing `x-version` (the input's `major.minor`, e.g. \"1.0\")".into());
            None
        }
        Some(Value::String(text)) => Version::parse(text).or_else(|| {
            fail(at("x-version"), format!("invalid `x-version` {text:?}: expected `major.minor`"));
            None
        }),
        Some(other) => {
            fail(at("x-version"), format!("`x-version` must be a string like \"1.0\", found {other}"));
            None
        }
    };
    let rust_name = match fields.get("x-rust-name") {
        None => None,
        Some(Value::String(name)) if is_snake_case(name) => Some(name.clone()),
        Some(other) => {
            fail(
                at("x-rust-name"),
                format!("`x-rust-name` must be a snake_case name like \"send_invoice\", found {other}"),
            );
            None
        }
    };
    let description = match fields.get("description") {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            fail(at("description"), format!("`description` must be a string, found {other}"));
            None
        }
    };
    let input = match fields.get("input") {
        None => {
            fail(pointer.to_owned(), "missing `input` (the schema of the task's kwargs)".into());
            None
        }
        Some(input) if input.get("type") == Some(&Value::from("object")) => Some(input.clone()),
        Some(_) => {
            fail(
                at("input"),
                "`input` must be an object schema (`\"type\": \"object\"`): it travels as the task's kwargs".into(),
            );
            None
        }
    };
    let (latest, input) = (latest?, input?);
    ok.then(|| TaskSchema { priority, latest, rust_name, description, pointer: pointer.to_owned(), input })
}

/// Lower-case ASCII letters, digits and `_`, starting with a letter.
fn is_snake_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `<major>.*` without leading zeros (so `1.*` and `01.*` cannot both name major 1).
fn parse_major_key(key: &str) -> Option<u32> {
    let major = key.strip_suffix(".*")?;
    if major.len() > 1 && major.starts_with('0') {
        return None;
    }
    parse_decimal(major)
}

/// The major's `x-version`, or the problem and whether it lies at `x-version` itself
/// (rather than at the major's schema).
fn check_x_version(major: u32, schema: &Value) -> Result<Version, (bool, String)> {
    if !schema.is_object() {
        return Err((false, "a major version's schema must be an object".into()));
    }
    let x_version = match schema.get("x-version") {
        None => return Err((false, "missing `x-version` (the latest `major.minor` of this major)".into())),
        Some(Value::String(text)) => text,
        Some(other) => return Err((true, format!("`x-version` must be a string like \"{major}.0\", found {other}"))),
    };
    let version = Version::parse(x_version)
        .ok_or_else(|| (true, format!("invalid `x-version` {x_version:?}: expected `major.minor`")))?;
    if version.major != major {
        return Err((true, format!("`x-version` {x_version:?} does not match its key `{major}.*`")));
    }
    Ok(version)
}

/// Walks every `$ref` and checks it points inside this document.
fn check_refs(doc: &Value, root: &str, node: &Value, pointer: &mut String, problem: &mut impl FnMut(String, String)) {
    match node {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref") {
                let here = format!("{pointer}/$ref");
                match reference.as_str().map(|r| local_pointer(r, root)) {
                    None => problem(here, "`$ref` must be a string".into()),
                    Some(Err(reason)) => problem(here, reason),
                    Some(Ok(target)) => match resolve_pointer(doc, target) {
                        None => problem(here, format!("unresolvable `$ref` {reference}: nothing at {target:?}")),
                        Some(Value::Object(_) | Value::Bool(_)) => {}
                        Some(other) => problem(here, format!("`$ref` {reference} points at {other}, not a schema")),
                    },
                }
            }
            for (key, child) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_pointer(key));
                check_refs(doc, root, child, pointer, problem);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{index}"));
                check_refs(doc, root, child, pointer, problem);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// The JSON pointer a `$ref` names inside the document rooted at `root`, or why it is not local.
fn local_pointer<'r>(reference: &'r str, root: &str) -> Result<&'r str, String> {
    let (base, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    if !base.is_empty() && base != root {
        return Err(format!(
            "`$ref` {reference:?} points outside this document (root {root:?}); owlpost never fetches schemas over the network"
        ));
    }
    Ok(fragment)
}

/// Looks up an RFC 6901 pointer (`""` is the whole document).
fn resolve_pointer<'v>(doc: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.is_empty() {
        return Some(doc);
    }
    doc.pointer(pointer)
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub(crate) fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Data that does not match its message (or task input) schema.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid `{message_type}` data for {schema_url}: at {pointer:?}: {reason}{}", more_errors(*.more))]
#[non_exhaustive]
pub struct ValidationError {
    /// The message type, or the task name for a task's input.
    pub message_type: String,
    /// The schema URL the data was checked against.
    pub schema_url: String,
    /// JSON pointer of the first failing value in the data (`""` is the whole payload).
    pub pointer: String,
    /// Why that value fails.
    pub reason: String,
    /// How many further errors the validator found.
    pub more: usize,
}

fn more_errors(more: usize) -> String {
    match more {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    }
}

/// A schema document compiled for validation: built once, used for every message.
pub struct Schema {
    document: Document,
    validators: jsonschema::ValidatorMap,
    /// The validators' keys of the message majors (`#/schemas/<type>/<major>.*`), computed
    /// once: validating looks its validator up without formatting a key.
    fragments: HashMap<String, HashMap<u32, String>>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema").field("root", &self.document.root).finish_non_exhaustive()
    }
}

impl Schema {
    /// Parses, checks and compiles a schema document from JSON text.
    pub fn from_json(file: &str, json: &str) -> Result<Self, SchemaError> {
        let value = serde_json::from_str(json).map_err(|e| SchemaError {
            file: file.to_owned(),
            problems: vec![SchemaProblem { pointer: String::new(), reason: format!("not valid JSON: {e}") }],
        })?;
        Self::compile(Document::parse(file, value)?, file)
    }

    /// Compiles a checked document.
    pub fn compile(document: Document, file: &str) -> Result<Self, SchemaError> {
        // The root is the base URI even when the document names it with `$id`, which
        // draft-04 ignores: absolute `$ref`s to the root must resolve either way.
        let validators = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .with_base_uri(document.root.clone())
            .should_validate_formats(true)
            .build_map(&document.value)
            .map_err(|e| SchemaError {
                file: file.to_owned(),
                problems: vec![SchemaProblem { pointer: e.schema_path().to_string(), reason: e.to_string() }],
            })?;
        let fragments: HashMap<String, HashMap<u32, String>> = document
            .messages
            .iter()
            .map(|(t, majors)| (t.clone(), majors.keys().map(|major| (*major, major_fragment(t, *major))).collect()))
            .collect();
        let mut missing = Vec::new();
        for (message_type, majors) in &document.messages {
            for major in majors.keys() {
                if validators.get(&fragments[message_type][major]).is_none() {
                    missing.push(SchemaProblem {
                        pointer: format!("/schemas/{}/{major}.*", escape_pointer(message_type)),
                        reason: "the validator did not compile this schema".into(),
                    });
                }
            }
        }
        for (task, declared) in &document.tasks {
            if validators.get(&task_fragment(task)).is_none() {
                missing.push(SchemaProblem {
                    pointer: format!("{}/input", declared.pointer),
                    reason: "the validator did not compile this schema".into(),
                });
            }
        }
        if !missing.is_empty() {
            return Err(SchemaError { file: file.to_owned(), problems: missing });
        }
        let schema = Self { document, validators, fragments };
        let invalid: Vec<SchemaProblem> =
            schema.document.schedules.values().flat_map(|s| schema.check_schedule(s)).collect();
        if !invalid.is_empty() {
            return Err(SchemaError { file: file.to_owned(), problems: invalid });
        }
        Ok(schema)
    }

    /// The root URL (the document's `id`).
    pub fn root(&self) -> &str {
        &self.document.root
    }

    /// The checked document.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The latest version declared for a message type's major (`x-version`), if any.
    pub fn latest(&self, message_type: &str, major: u32) -> Option<Version> {
        Some(self.document.messages.get(message_type)?.get(&major)?.latest)
    }

    /// The schema URL of a message version in this document.
    pub fn url(&self, message_type: &str, version: Version) -> String {
        // Built by hand: every publish pays for it, and `format!` costs several times more.
        let (mut major, mut minor) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (major, minor) = (major.format(version.major), minor.format(version.minor));
        let parts = [self.document.root.as_str(), "#/schemas/", message_type, "/", major, ".", minor];
        let mut url = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        parts.iter().for_each(|part| url.push_str(part));
        url
    }

    /// Validates `data` against the `<major>.*` schema of `message_type`; `version` names
    /// the schema URL in the error.
    pub fn validate(&self, message_type: &str, version: Version, data: &Value) -> Result<(), ValidationError> {
        let fragment = self.fragments.get(message_type).and_then(|majors| majors.get(&version.major));
        let url = || self.url(message_type, version);
        let missing = || format!("no schema for major version {}", version.major);
        self.check(fragment.map_or("", String::as_str), message_type, url, data, missing)
    }

    /// A task declared in this document (Taskhawk), if any.
    pub fn task(&self, name: &str) -> Option<&TaskSchema> {
        self.document.tasks.get(name)
    }

    /// The schema URL of a task's input: `<root>#/tasks/<task>/input`.
    pub fn task_url(&self, task: &str) -> String {
        format!("{}#/tasks/{task}/input", self.document.root)
    }

    /// Validates a task's `input` (its kwargs) against the task's `input` schema; the
    /// error's `message_type` is the task name.
    pub fn validate_task(&self, task: &str, input: &Value) -> Result<(), ValidationError> {
        let url = || self.task_url(task);
        self.check(&task_fragment(task), task, url, input, || format!("no task {task:?} in this schema"))
    }

    /// The schedules of this task document.
    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.document.schedules.values()
    }

    /// Every way a schedule's input fails its task's input schema, at
    /// `/schedules/<name>/input<pointer>`.
    fn check_schedule(&self, schedule: &Schedule) -> Vec<SchemaProblem> {
        let Some(validator) = self.validators.get(&task_fragment(&schedule.task)) else { return Vec::new() };
        let input = Value::Object(schedule.input.clone());
        let problems = validator.iter_errors(&input).map(|error| SchemaProblem {
            pointer: format!("{}/input{}", schedule.pointer, error.instance_path()),
            reason: format!("the input of task `{}`: {error}", schedule.task),
        });
        problems.collect()
    }

    /// Whether a subschema was compiled at `fragment`, a URI-fragment JSON pointer such as
    /// `#/definitions/UserId/1.0` (what a [`StringCheck`](crate::StringCheck) names).
    pub fn has_subschema(&self, fragment: &str) -> bool {
        self.validators.contains_key(fragment)
    }

    /// Whether `value` is valid against the subschema at `fragment` (a URI-fragment JSON
    /// pointer); `false` when no subschema was compiled there.
    pub(crate) fn is_valid_at(&self, fragment: &str, value: &Value) -> bool {
        self.validators.get(fragment).is_some_and(|validator| validator.is_valid(value))
    }

    /// Validates `data` with the validator compiled at `fragment`; `name` and `url` name
    /// what it was checked against in the error, `missing` says why there is no validator.
    fn check(
        &self,
        fragment: &str,
        name: &str,
        url: impl Fn() -> String,
        data: &Value,
        missing: impl FnOnce() -> String,
    ) -> Result<(), ValidationError> {
        let error = |pointer: String, reason: String, more| ValidationError {
            message_type: name.to_owned(),
            schema_url: url(),
            pointer,
            reason,
            more,
        };
        let Some(validator) = self.validators.get(fragment) else {
            return Err(error(String::new(), missing(), 0));
        };
        // `is_valid` stops at the first failure and builds no error: the common case pays
        // only for the check; the errors (with their pointers) are collected on failure.
        if validator.is_valid(data) {
            return Ok(());
        }
        let mut errors = validator.iter_errors(data);
        match errors.next() {
            None => Ok(()),
            Some(first) => Err(error(first.instance_path().to_string(), first.to_string(), errors.count())),
        }
    }
}

fn major_fragment(message_type: &str, major: u32) -> String {
    format!("#/schemas/{}/{major}.*", escape_pointer(message_type))
}

fn task_fragment(task: &str) -> String {
    format!("#/tasks/{}/input", escape_pointer(task))
}
