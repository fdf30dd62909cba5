//! The Taskhawk wire format (TASKHAWK.md §1, §2, §7): one JSON body carrying everything,
//! `{"id", "metadata": {"timestamp", "priority", "version"}, "headers", "task", "args",
//! "kwargs"}`, plus string attributes that only transports and tracing read.
//!
//! [`encode`] writes what both reference libraries consume: compact JSON with every field,
//! `args: []` and the input as `kwargs`, and the headers plus `taskhawk_task` as attributes
//! (taskhawk-go routes by it; taskhawk-python's SQS consumer crashes on a message without
//! any attribute). [`decode`] reads what any of them sends: no `args` (taskhawk-go), no
//! attributes (EventBridge), RFC 3339 timestamps and ids that are not UUIDs (the schedulers'
//! templates), scalar header values, and no `priority` (the receiving queue's).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::Priority;
use crate::attributes::Attributes;
use crate::backend::WireMessage;
use crate::schema::escape_pointer;

/// The only Taskhawk format version there is.
pub const FORMAT_VERSION: &str = "1.0";

/// The header of a delayed task: when it is due, an RFC 3339 UTC time with milliseconds.
/// owlpost's workers hold the task until then; the reference libraries know no such header
/// and run the task when it arrives (SQS `DelaySeconds` and EventBridge Scheduler delay
/// the arrival itself; on Pub/Sub the header is all there is).
pub const DUE_HEADER: &str = "owlpost_due";

/// The beginning of EventBridge Scheduler's context placeholders
/// (`<aws.scheduler.scheduled-time>`), which emulators leave unfilled.
const SCHEDULER_PLACEHOLDER: &str = "<aws.scheduler.";

/// The [`DUE_HEADER`] value for `due`, rounded up to the millisecond (never earlier).
pub fn due_header(due: std::time::SystemTime) -> String {
    let due = chrono::DateTime::<chrono::Utc>::from(due);
    let sub_millisecond = due.timestamp_subsec_nanos() % 1_000_000;
    let due = if sub_millisecond == 0 {
        due
    } else {
        due + chrono::Duration::nanoseconds(i64::from(1_000_000 - sub_millisecond))
    };
    due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// When the task is due, from its [`DUE_HEADER`]; `None` for a task to run at once.
pub fn due(message: &TaskMessage) -> Result<Option<std::time::SystemTime>, DecodeError> {
    let Some(text) = message.headers.get(DUE_HEADER) else { return Ok(None) };
    let time = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| invalid(&format!("/headers/{DUE_HEADER}"), format!("{text:?} is not an RFC 3339 time: {e}")))?;
    Ok(Some(time.with_timezone(&chrono::Utc).into()))
}

/// Attribute names.
pub mod attr {
    /// The task name, for consumers that route before reading the body (taskhawk-go).
    pub const TASK: &str = "taskhawk_task";
    /// Body encoding (`utf8` or `base64`); set by transports (taskhawk-go on SQS).
    pub const ENCODING: &str = "taskhawk_encoding";
    /// Header keys starting with this are reserved for Taskhawk's own attributes.
    pub const RESERVED_PREFIX: &str = "taskhawk_";
}

/// One task message: what a dispatch sends and a worker receives.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    /// The task id: a UUID v4 unless the dispatcher chose one (schedulers send fixed ones).
    pub id: String,
    /// The task name, e.g. `billing.tasks.send_invoice`.
    pub task: String,
    /// The priority it was dispatched with.
    pub priority: Priority,
    /// When it was dispatched, epoch milliseconds.
    pub timestamp: i64,
    /// Custom headers.
    pub headers: BTreeMap<String, String>,
    /// Positional arguments (always empty for typed tasks, whose input is `kwargs`).
    pub args: Vec<Value>,
    /// Keyword arguments: a typed task's input.
    pub kwargs: Map<String, Value>,
}

/// A task message that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A header key uses the reserved `taskhawk_` prefix.
    #[error("task `{task}`: header {key:?} uses the reserved prefix `taskhawk_`")]
    ReservedHeader {
        /// The task name.
        task: String,
        /// The offending key.
        key: String,
    },
}

/// A task message whose wire form cannot be read. It is never acknowledged unhandled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not JSON (or not UTF-8).
    #[error("body is not JSON: {reason}")]
    BodyNotJson {
        /// Parser message.
        reason: String,
    },
    /// `taskhawk_encoding` says base64 but the body is not base64.
    #[error("body is not valid base64 (taskhawk_encoding=base64): {reason}")]
    Base64 {
        /// Decoder message.
        reason: String,
    },
    /// `metadata.version` is not `1.0`.
    #[error("unsupported format version {found:?} at /metadata/version (expected \"1.0\")")]
    FormatVersion {
        /// What was found.
        found: String,
    },
    /// A field is missing or of the wrong kind.
    #[error("invalid task message at {pointer:?}: {reason}")]
    Invalid {
        /// JSON pointer into the body.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(pointer: &str, reason: impl Into<String>) -> DecodeError {
    DecodeError::Invalid { pointer: pointer.to_owned(), reason: reason.into() }
}

#[derive(Serialize)]
struct BodyOut<'a> {
    id: &'a str,
    metadata: MetadataOut<'a>,
    headers: &'a BTreeMap<String, String>,
    task: &'a str,
    args: &'a [Value],
    kwargs: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct MetadataOut<'a> {
    timestamp: i64,
    priority: &'a str,
    version: &'a str,
}

/// Encodes a task message: the body as compact JSON with every field, the headers and
/// `taskhawk_task` as attributes.
pub fn encode(message: &TaskMessage) -> Result<WireMessage, EncodeError> {
    if let Some(key) = message.headers.keys().find(|k| k.starts_with(attr::RESERVED_PREFIX)) {
        return Err(EncodeError::ReservedHeader { task: message.task.clone(), key: key.clone() });
    }
    let body = BodyOut {
        id: &message.id,
        metadata: MetadataOut {
            timestamp: message.timestamp,
            priority: message.priority.as_str(),
            version: FORMAT_VERSION,
        },
        headers: &message.headers,
        task: &message.task,
        args: &message.args,
        kwargs: &message.kwargs,
    };
    let mut attributes = Attributes::from(message.headers.clone());
    attributes.insert(attr::TASK, message.task.clone());
    // A struct of strings, numbers and `Value`s always serializes.
    Ok(WireMessage { body: serde_json::to_vec(&body).unwrap_or_default(), attributes })
}

/// Decodes a task message received from the queue of priority `queue_priority` (used when
/// the body names none). A body with `taskhawk_encoding=base64` is base64-decoded first.
pub fn decode(wire: &WireMessage, queue_priority: Priority) -> Result<TaskMessage, DecodeError> {
    let body = wire.decoded_body(attr::ENCODING).map_err(|reason| DecodeError::Base64 { reason })?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| DecodeError::BodyNotJson { reason: e.to_string() })?;
    let Value::Object(mut body) = value else { return Err(invalid("", "the body must be a JSON object")) };
    let id = non_empty_string(body.remove("id"), "/id")?;
    let task = non_empty_string(body.remove("task"), "/task")?;
    let Some(Value::Object(metadata)) = body.remove("metadata") else {
        return Err(invalid("/metadata", "must be an object"));
    };
    match metadata.get("version") {
        Some(Value::String(version)) if version == FORMAT_VERSION => {}
        Some(Value::String(version)) => return Err(DecodeError::FormatVersion { found: version.clone() }),
        Some(_) => return Err(invalid("/metadata/version", "must be the string \"1.0\"")),
        None => return Err(invalid("/metadata/version", "is required")),
    }
    let timestamp = timestamp(metadata.get("timestamp"))?;
    let priority = match metadata.get("priority") {
        None | Some(Value::Null) => queue_priority,
        Some(Value::String(name)) => name.parse().map_err(|e| invalid("/metadata/priority", format!("{e}")))?,
        Some(_) => return Err(invalid("/metadata/priority", "must be a string")),
    };
    let headers = headers(body.remove("headers"))?;
    let args = match body.remove("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(args)) => args,
        Some(_) => return Err(invalid("/args", "must be an array")),
    };
    let kwargs = match body.remove("kwargs") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(kwargs)) => kwargs,
        Some(_) => return Err(invalid("/kwargs", "must be an object")),
    };
    Ok(TaskMessage { id, task, priority, timestamp, headers, args, kwargs })
}

fn non_empty_string(value: Option<Value>, pointer: &str) -> Result<String, DecodeError> {
    match value {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(Value::String(_)) => Err(invalid(pointer, "must not be empty")),
        Some(_) => Err(invalid(pointer, "must be a string")),
        None => Err(invalid(pointer, "is required")),
    }
}

/// Epoch milliseconds as an integer (what the libraries write), or an RFC 3339 string
/// (what EventBridge puts in a scheduled message). EventBridge Scheduler's
/// `<aws.scheduler.scheduled-time>` left unfilled (emulators do not fill it) reads as now.
fn timestamp(value: Option<&Value>) -> Result<i64, DecodeError> {
    const POINTER: &str = "/metadata/timestamp";
    match value {
        Some(Value::String(text)) if text.starts_with(SCHEDULER_PLACEHOLDER) => {
            Ok(crate::hedwig::publish::now_millis())
        }
        Some(Value::Number(number)) => {
            number.as_i64().ok_or_else(|| invalid(POINTER, "must be whole epoch milliseconds or an RFC 3339 time"))
        }
        Some(Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|time| time.timestamp_millis())
            .map_err(|e| invalid(POINTER, format!("{text:?} is not an RFC 3339 time: {e}"))),
        Some(_) => Err(invalid(POINTER, "must be epoch milliseconds or an RFC 3339 time")),
        None => Err(invalid(POINTER, "is required")),
    }
}

/// Headers: strings as they are, numbers and booleans as their JSON text (taskhawk-python
/// keeps whatever a caller passed).
fn headers(value: Option<Value>) -> Result<BTreeMap<String, String>, DecodeError> {
    let headers = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(headers)) => headers,
        Some(_) => return Err(invalid("/headers", "must be an object")),
    };
    headers
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => Ok((key, text)),
            Value::Number(_) | Value::Bool(_) => Ok((key, value.to_string())),
            _ => Err(invalid(&format!("/headers/{}", escape_pointer(&key)), "must be a string, number or boolean")),
        })
        .collect()
}
