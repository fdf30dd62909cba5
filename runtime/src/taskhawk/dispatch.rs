//! Dispatching tasks: validate the input, wrap it in a Taskhawk body, send it to the queue
//! of its priority.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use tracing::Instrument;

use super::Priority;
use super::task::{IntoOutgoingTask, Task};
use super::wire::{self, EncodeError, TaskMessage};
use crate::backend::{BackendError, Sink, WireMessage};
use crate::hedwig::publish::now_millis;
use crate::schema::{Schema, ValidationError};

/// Dispatches the tasks of one service: holds its queue name and the sink of its broker.
///
/// A task of priority `p` goes to the topic `p.queue(queue)` (`<queue>-high-priority`,
/// `<queue>`, `<queue>-low-priority`, `<queue>-bulk`), which the broker's naming turns into
/// `taskhawk-…` topics: make the sink from a handle named with
/// [`TaskhawkNaming`](super::TaskhawkNaming) (`aws.with_naming(&TaskhawkNaming).sink()`);
/// the in-memory broker uses the names as they are.
#[derive(Clone)]
pub struct Dispatcher {
    queue: String,
    sink: Arc<dyn Sink>,
    default_headers: Option<Arc<DefaultHeaders>>,
}

/// Headers added to every task a [`Dispatcher`] sends (see [`Dispatcher::with_default_headers`]).
type DefaultHeaders = dyn Fn(&str) -> BTreeMap<String, String> + Send + Sync;

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("queue", &self.queue)
            .field("default_headers", &self.default_headers.is_some())
            .finish_non_exhaustive()
    }
}

/// A task the broker accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// The task id.
    pub id: String,
    /// The priority it went with.
    pub priority: Priority,
    /// The topic it went to (`<queue>` plus the priority's suffix).
    pub topic: String,
    /// The broker's own id for it.
    pub broker_id: String,
}

/// A task known only at run time: for tools, proxies and tests. Typed code uses the
/// generated `dispatch_<task>()` functions instead.
#[derive(Debug, Clone)]
pub struct DynamicTask {
    /// The task name.
    pub task: String,
    /// The priority; the schema's default for the task when `None`.
    pub priority: Option<Priority>,
    /// The input (`kwargs`).
    pub input: Value,
    /// A caller-chosen id; a random UUID v4 when `None`.
    pub id: Option<String>,
    /// Custom headers.
    pub headers: BTreeMap<String, String>,
    /// When it is to run, at the earliest; at once when `None`.
    pub due: Option<SystemTime>,
}

/// Why a task was not dispatched. Nothing was sent unless the variant is
/// [`DispatchError::Backend`], and even then the broker did not confirm it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The input does not match the task's schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The input could not be serialized to a JSON object.
    #[error("task `{task}`: input does not serialize to a JSON object: {reason}")]
    Serialize {
        /// The task name.
        task: String,
        /// Why.
        reason: String,
    },
    /// The schema has no such task.
    #[error("task `{task}` is not in schema {root}")]
    UnknownTask {
        /// The task name.
        task: String,
        /// The schema's root URL.
        root: String,
    },
    /// The task cannot be put on the wire (a reserved header).
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The broker failed or refused; `message` is what was being sent, to retry with.
    #[error("task `{task}`: dispatching to topic {topic:?} failed: {source}")]
    Backend {
        /// The task name.
        task: String,
        /// Topic.
        topic: String,
        /// The encoded message, handed back.
        message: Box<WireMessage>,
        /// The broker's error.
        #[source]
        source: BackendError,
    },
}

impl DispatchError {
    /// Whether dispatching the same task again may succeed (a transient broker failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Backend { source, .. } if source.is_retryable())
    }
}

impl Dispatcher {
    /// A dispatcher for the service queue `queue` sending through `sink`.
    pub fn new(queue: impl Into<String>, sink: impl Sink) -> Self {
        Self { queue: queue.into(), sink: Arc::new(sink), default_headers: None }
    }

    /// Adds the headers `headers` returns for a task name to every task, under the task's
    /// own: a request id, the deploy version, … Checked like any header.
    pub fn with_default_headers(
        mut self,
        headers: impl Fn(&str) -> BTreeMap<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.default_headers = Some(Arc::new(headers));
        self
    }

    /// The service queue name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Validates and dispatches a typed task. Generated `dispatch_<task>()` functions call this.
    pub async fn dispatch<O: IntoOutgoingTask>(&self, task: O) -> Result<Dispatched, DispatchError> {
        let outgoing = task.into_outgoing_task();
        let name = <O::Task as Task>::NAME;
        let input = serde_json::to_value(&outgoing.input)
            .map_err(|e| DispatchError::Serialize { task: name.to_owned(), reason: e.to_string() })?;
        let dynamic = DynamicTask {
            task: name.to_owned(),
            priority: Some(outgoing.priority.unwrap_or(<O::Task as Task>::PRIORITY)),
            input,
            id: outgoing.id,
            headers: outgoing.headers,
            due: outgoing.due,
        };
        self.dispatch_dynamic(<O::Task as Task>::schema(), dynamic).await
    }

    /// Validates and dispatches a task known at run time against `schema`.
    pub async fn dispatch_dynamic(&self, schema: &Schema, task: DynamicTask) -> Result<Dispatched, DispatchError> {
        let span = tracing::info_span!(
            "dispatch",
            otel.name = format!("dispatch/{}", task.task),
            otel.kind = "producer",
            task = task.task.as_str(),
            id = tracing::field::Empty,
            topic = tracing::field::Empty,
        );
        self.send(schema, task).instrument(span).await
    }

    async fn send(&self, schema: &Schema, task: DynamicTask) -> Result<Dispatched, DispatchError> {
        let due = task.due;
        let (message, wire) = self.prepare(schema, task)?;
        let topic = message.priority.queue(&self.queue);
        let span = tracing::Span::current();
        span.record("id", message.id.as_str());
        span.record("topic", topic.as_str());
        let sent = match due {
            Some(due) => self.sink.publish_at(&topic, &wire, due).await,
            None => self.sink.publish(&topic, &wire).await,
        };
        match sent {
            Ok(broker_id) => {
                tracing::debug!(task = %message.task, %topic, id = %message.id, "dispatched");
                Ok(Dispatched { id: message.id, priority: message.priority, topic, broker_id })
            }
            Err(source) => Err(DispatchError::Backend { task: message.task, topic, message: Box::new(wire), source }),
        }
    }

    /// Checks and encodes a task without sending it.
    pub fn encode(&self, schema: &Schema, task: DynamicTask) -> Result<WireMessage, DispatchError> {
        self.prepare(schema, task).map(|(_, wire)| wire)
    }

    fn prepare(&self, schema: &Schema, task: DynamicTask) -> Result<(TaskMessage, WireMessage), DispatchError> {
        let DynamicTask { task, priority, input, id, mut headers, due } = task;
        let Some(declared) = schema.task(&task) else {
            return Err(DispatchError::UnknownTask { task, root: schema.root().to_owned() });
        };
        let priority = priority.unwrap_or(declared.priority);
        schema.validate_task(&task, &input)?;
        let Value::Object(kwargs) = input else {
            return Err(DispatchError::Serialize { task, reason: "the input is not a JSON object".into() });
        };
        if let Some(defaults) = &self.default_headers {
            for (key, value) in defaults(&task) {
                headers.entry(key).or_insert(value);
            }
        }
        if let Some(due) = due {
            headers.insert(wire::DUE_HEADER.to_owned(), wire::due_header(due));
        }
        let message = TaskMessage {
            id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            task,
            priority,
            timestamp: now_millis(),
            headers,
            args: Vec::new(),
            kwargs,
        };
        #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
        let mut wire = wire::encode(&message)?;
        // Trace context travels in the attributes only, as taskhawk-python sends it.
        #[cfg(feature = "otel")]
        crate::otel::inject(&mut wire.attributes);
        Ok((message, wire))
    }
}
