//! The task model: what generated input types implement, and what travels with them.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Priority;
use super::wire::TaskMessage;
use crate::backend::ProviderMetadata;
use crate::schema::Schema;

/// The input type of one task. `owlpost-codegen` implements it for every task of a task
/// schema; generated code adds nothing else.
pub trait Task: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The task name on the wire, e.g. `billing.tasks.send_invoice`.
    const NAME: &'static str;
    /// The priority it is dispatched with unless the dispatch says otherwise.
    const PRIORITY: Priority;

    /// The compiled task schema this type was generated from.
    fn schema() -> &'static Schema;
}

/// A task to dispatch: the input plus optional priority, id and headers.
///
/// `dispatch_<task>()` accepts either a bare input or an `OutgoingTask`:
/// `OutgoingTask::new(input).priority(Priority::High).header("request_id", "r-1")`.
#[derive(Debug, Clone)]
pub struct OutgoingTask<T> {
    /// The input.
    pub input: T,
    /// The priority; the task's default when `None`.
    pub priority: Option<Priority>,
    /// A caller-chosen task id; a new UUID v4 when `None`.
    pub id: Option<String>,
    /// Custom headers.
    pub headers: BTreeMap<String, String>,
    /// When it is to run, at the earliest; at once when `None`.
    pub due: Option<SystemTime>,
}

impl<T> OutgoingTask<T> {
    /// Wraps an input with the task's default priority, no headers and a fresh id.
    pub fn new(input: T) -> Self {
        Self { input, priority: None, id: None, headers: BTreeMap::new(), due: None }
    }

    /// Runs the task `delay` from now, not before. On SNS/SQS up to 15 minutes is SQS's
    /// `DelaySeconds` on the priority's queue and longer a one-shot EventBridge Scheduler
    /// schedule; on Pub/Sub and the in-memory broker the task arrives at once and owlpost's
    /// workers hold it until due (README, Delays).
    pub fn delay(self, delay: Duration) -> Self {
        self.at(SystemTime::now() + delay)
    }

    /// Runs the task at `time`, not before (see [`OutgoingTask::delay`]); a time past runs it at once.
    pub fn at(mut self, time: SystemTime) -> Self {
        self.due = Some(time);
        self
    }

    /// Dispatches at `priority` instead of the task's default.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Adds a header (keys starting with `taskhawk_` are rejected at dispatch).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// Uses `id` as the task id instead of a random UUID.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// What `dispatch_<task>()` accepts: an input or an [`OutgoingTask`] wrapping one.
pub trait IntoOutgoingTask {
    /// The input type.
    type Task: Task;
    /// Converts into an [`OutgoingTask`].
    fn into_outgoing_task(self) -> OutgoingTask<Self::Task>;
}

impl<T: Task> IntoOutgoingTask for T {
    type Task = T;
    fn into_outgoing_task(self) -> OutgoingTask<T> {
        OutgoingTask::new(self)
    }
}

impl<T: Task> IntoOutgoingTask for OutgoingTask<T> {
    type Task = T;
    fn into_outgoing_task(self) -> OutgoingTask<T> {
        self
    }
}

impl<T> ReceivedTask<T> {
    /// The received form of `message`, with its decoded input.
    pub(crate) fn new(input: T, message: TaskMessage, provider: ProviderMetadata) -> Self {
        let TaskMessage { id, priority, timestamp, headers, .. } = message;
        Self { input, id, priority, timestamp, headers, provider }
    }
}

/// A task handed to a handler: the typed input plus everything known about it.
#[derive(Debug, Clone)]
pub struct ReceivedTask<T> {
    /// The decoded, validated input.
    pub input: T,
    /// The task id.
    pub id: String,
    /// The priority it was dispatched with (the receiving queue's when the message named none).
    pub priority: Priority,
    /// When it was dispatched, epoch milliseconds.
    pub timestamp: i64,
    /// Custom headers (from the body, as the reference libraries read them).
    pub headers: BTreeMap<String, String>,
    /// What the broker says about this delivery.
    pub provider: ProviderMetadata,
}
