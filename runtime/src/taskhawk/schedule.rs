//! Schedules declared in a task schema (`schedules.<name>`): a task the broker's own
//! scheduler dispatches on a cron or a rate, with a fixed input, checked against the
//! task's input schema when the schema is compiled (so at build and `owlpost check` time).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Priority;
use super::wire::{self, EncodeError, TaskMessage};
use crate::cadence::{Cadence, ScheduledMessage};
use crate::schema::{TaskSchema, escape_pointer};

/// The keys a schedule entry may have.
const SCHEDULE_KEYS: [&str; 8] = ["description", "task", "cron", "rate", "timezone", "input", "headers", "priority"];

/// One schedule of a task schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its name (the key under `schedules`): lower-case letters, digits and `-`.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The task it dispatches (a key of `tasks`).
    pub task: String,
    /// When (`cron` or `rate`).
    pub cadence: Cadence,
    /// The IANA time zone of a cron (`timezone`, default `UTC`).
    pub time_zone: String,
    /// The task's input (its kwargs), valid against the task's input schema.
    pub input: Map<String, Value>,
    /// Custom headers of every firing.
    pub headers: BTreeMap<String, String>,
    /// The priority queue it goes to: `priority`, else the task's.
    pub priority: Priority,
    /// JSON pointer of the entry (`/schedules/daily-reminders`).
    pub pointer: String,
}

impl Schedule {
    /// What the scheduler sends for the service queue `queue`: the Taskhawk body of
    /// TASKHAWK.md §1 (`args: []`, the input as `kwargs`, the headers) to the priority's
    /// queue, with `taskhawk_task` among the attributes. Schedulers send the same body at
    /// every firing, so its `id` is `schedule-<name>` and its `timestamp` 0, except where
    /// the scheduler fills them in ([`ScheduledMessage::firing_id`], `firing_time`:
    /// EventBridge's execution id and scheduled time).
    pub fn scheduled_message(&self, queue: &str) -> Result<ScheduledMessage, EncodeError> {
        let message = wire::encode(&TaskMessage {
            id: format!("schedule-{}", self.name),
            task: self.task.clone(),
            priority: self.priority,
            timestamp: 0,
            headers: self.headers.clone(),
            args: Vec::new(),
            kwargs: self.input.clone(),
        })?;
        Ok(ScheduledMessage {
            name: self.name.clone(),
            description: self.description.clone(),
            topic: self.priority.queue(queue),
            cadence: self.cadence.clone(),
            time_zone: self.time_zone.clone(),
            message,
            firing_id: Some("/id"),
            firing_time: Some("/metadata/timestamp"),
        })
    }
}

/// The `schedules` of a task document, reporting every problem of every entry; inputs are
/// checked later, against the compiled task schemas.
pub(crate) fn parse_schedules(
    entries: &Value,
    tasks: &BTreeMap<String, TaskSchema>,
    problem: &mut impl FnMut(String, String),
) -> BTreeMap<String, Schedule> {
    let mut schedules = BTreeMap::new();
    let Some(entries) = entries.as_object() else {
        problem("/schedules".into(), "`schedules` must be an object of schedule names".into());
        return schedules;
    };
    for (name, entry) in entries {
        let pointer = format!("/schedules/{}", escape_pointer(name));
        if let Some(schedule) = parse_schedule(name, entry, &pointer, tasks, problem) {
            schedules.insert(name.clone(), schedule);
        }
    }
    schedules
}

fn parse_schedule(
    name: &str,
    entry: &Value,
    pointer: &str,
    tasks: &BTreeMap<String, TaskSchema>,
    problem: &mut impl FnMut(String, String),
) -> Option<Schedule> {
    let mut ok = true;
    let mut fail = |at: String, reason: String| {
        ok = false;
        problem(at, reason);
    };
    let valid_name = !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_name {
        fail(pointer.to_owned(), format!("invalid schedule name {name:?}: 1 to 40 lower-case letters, digits and `-`"));
    }
    let Some(fields) = entry.as_object() else {
        fail(pointer.to_owned(), "a schedule must be an object with `task`, `cron` or `rate`, and `input`".into());
        return None;
    };
    let at = |key: &str| format!("{pointer}/{key}");
    for key in fields.keys().filter(|k| !SCHEDULE_KEYS.contains(&k.as_str())) {
        fail(
            format!("{pointer}/{}", escape_pointer(key)),
            format!("unknown key `{key}`: a schedule has `{}`", SCHEDULE_KEYS.join("`, `")),
        );
    }
    let text = |key: &str, fail: &mut dyn FnMut(String, String)| match fields.get(key) {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            fail(at(key), format!("`{key}` must be a string, found {other}"));
            None
        }
    };
    let description = text("description", &mut fail);
    let task = text("task", &mut fail);
    let declared = match &task {
        None => {
            if !fields.contains_key("task") {
                fail(pointer.to_owned(), "missing `task` (the name of a task of this schema)".into());
            }
            None
        }
        Some(task) => tasks.get(task).or_else(|| {
            fail(at("task"), format!("no task {task:?} in this schema"));
            None
        }),
    };
    let cadence = match (text("cron", &mut fail), text("rate", &mut fail)) {
        (Some(cron), None) => Cadence::cron(&cron).map_err(|e| fail(at("cron"), e)).ok(),
        (None, Some(rate)) => Cadence::rate(&rate).map_err(|e| fail(at("rate"), e)).ok(),
        (Some(_), Some(_)) => {
            fail(pointer.to_owned(), "a schedule has `cron` or `rate`, not both".into());
            None
        }
        (None, None) => {
            if !fields.contains_key("cron") && !fields.contains_key("rate") {
                fail(
                    pointer.to_owned(),
                    "missing `cron` (`minute hour day month weekday`) or `rate` (`15 minutes`)".into(),
                );
            }
            None
        }
    };
    let time_zone = text("timezone", &mut fail).unwrap_or_else(|| "UTC".to_owned());
    if !is_time_zone(&time_zone) {
        fail(at("timezone"), format!("{time_zone:?} is not an IANA time zone name like \"Europe/Paris\" or \"UTC\""));
    }
    let input = match fields.get("input") {
        Some(Value::Object(input)) => Some(input.clone()),
        Some(other) => {
            fail(at("input"), format!("`input` must be an object (the task's kwargs), found {other}"));
            None
        }
        None => {
            fail(pointer.to_owned(), "missing `input` (the task's kwargs; `{}` for none)".into());
            None
        }
    };
    let mut headers = BTreeMap::new();
    match fields.get("headers") {
        None => {}
        Some(Value::Object(entries)) => {
            for (key, value) in entries {
                let at = format!("{}/{}", at("headers"), escape_pointer(key));
                match value {
                    _ if key.starts_with(wire::attr::RESERVED_PREFIX) => {
                        fail(at, format!("header {key:?} uses the reserved prefix `taskhawk_`"));
                    }
                    Value::String(text) if !text.is_empty() => {
                        headers.insert(key.clone(), text.clone());
                    }
                    _ => fail(at, format!("header {key:?} must be a non-empty string")),
                }
            }
        }
        Some(other) => fail(at("headers"), format!("`headers` must be an object of strings, found {other}")),
    }
    let priority = match fields.get("priority") {
        None => declared.map(|task| task.priority),
        Some(Value::String(text)) => text.parse().map_err(|e| fail(at("priority"), format!("{e}"))).ok(),
        Some(other) => {
            fail(at("priority"), format!("`priority` must be a string (high, default, low or bulk), found {other}"));
            None
        }
    };
    let (task, cadence, input, priority) = (task?, cadence?, input?, priority?);
    ok.then(|| Schedule {
        name: name.to_owned(),
        description,
        task,
        cadence,
        time_zone,
        input,
        headers,
        priority,
        pointer: pointer.to_owned(),
    })
}

/// `UTC`, or an `Area/Location` name of the IANA database; the scheduler checks that it
/// exists (owlpost carries no time zone database).
fn is_time_zone(name: &str) -> bool {
    let part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    name == "UTC"
        || (name.contains('/') && name.split('/').all(part) && name.starts_with(|c: char| c.is_ascii_uppercase()))
}
