//! Taskhawk's side of consuming: decode a task message, validate its input, and route it by
//! task name to a typed handler.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde_json::Value;

use super::Priority;
use super::task::{ReceivedTask, Task};
use super::wire::{self, TaskMessage};
use crate::backend::{BoxFuture, Delivery, ProviderMetadata};
use crate::consume::{ConsumeError, Dispatch, HandlerResult, Outcome, Routed, panic_message};
use crate::schema::Schema;

/// Makes the handler's future from a validated input (the message's `kwargs`, taken out).
type ErasedHandler = Arc<
    dyn Fn(Value, TaskMessage, ProviderMetadata) -> Result<BoxFuture<'static, HandlerResult>, ConsumeError>
        + Send
        + Sync,
>;

struct Route {
    schema: &'static Schema,
    handler: ErasedHandler,
}

/// Maps task names to handlers. Generated `register_<task>()` functions fill it; a
/// [`Consumer`](crate::Consumer) runs it over a service's priority queues
/// ([`sources`](super::sources)).
#[derive(Default)]
pub struct TaskRouter {
    routes: HashMap<String, Route>,
}

impl fmt::Debug for TaskRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.routes.keys().collect();
        names.sort();
        f.debug_struct("TaskRouter").field("tasks", &names).finish()
    }
}

impl TaskRouter {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes task `T` to `handler`, replacing an earlier route.
    pub fn route<T, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        T: Task,
        F: Fn(ReceivedTask<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let erased: ErasedHandler = Arc::new(move |input: Value, message: TaskMessage, provider| {
            let input = serde_json::from_value::<T>(input).map_err(|e| ConsumeError::Deserialize {
                message_type: T::NAME.to_owned(),
                schema_url: T::schema().task_url(T::NAME),
                reason: e.to_string(),
            })?;
            Ok(Box::pin(handler(ReceivedTask::new(input, message, provider))) as BoxFuture<'static, HandlerResult>)
        });
        self.routes.insert(T::NAME.to_owned(), Route { schema: T::schema(), handler: erased });
        self
    }

    /// Whether a handler is registered for task `name`.
    pub fn handles(&self, name: &str) -> bool {
        self.routes.contains_key(name)
    }

    fn resolve(
        &self,
        mut message: TaskMessage,
        provider: ProviderMetadata,
    ) -> Result<BoxFuture<'static, HandlerResult>, Outcome> {
        let reject = |error| Outcome::Rejected(error);
        let Some(route) = self.routes.get(&message.task) else {
            return Err(reject(ConsumeError::UnknownTask { task: message.task }));
        };
        let input = Value::Object(std::mem::take(&mut message.kwargs));
        route.schema.validate_task(&message.task, &input).map_err(|e| reject(e.into()))?;
        match catch_unwind(AssertUnwindSafe(|| (route.handler)(input, message, provider))) {
            Ok(handler) => handler.map_err(reject),
            Err(panic) => Err(Outcome::Panicked { message: panic_message(&*panic) }),
        }
    }
}

impl Dispatch for TaskRouter {
    /// `task_received`, named `task_received/<task>` for OpenTelemetry once the task is
    /// known; with the `otel` feature, the trace context of the message's attributes
    /// becomes its parent.
    fn span(&self, provider: &ProviderMetadata) -> tracing::Span {
        tracing::info_span!(
            "task_received",
            otel.name = "task_received",
            otel.kind = "consumer",
            task = tracing::field::Empty,
            id = tracing::field::Empty,
            priority = tracing::field::Empty,
            delivery_attempt = provider.delivery_attempt(),
        )
    }

    /// Decodes with the priority of the queue it came from ([`Delivery::origin`]) for
    /// messages that name none; a delayed task is not handled before its
    /// [`DUE_HEADER`](wire::DUE_HEADER) time ([`Routed::not_before`]).
    fn route(&self, delivery: &Delivery, span: &tracing::Span) -> Routed {
        #[cfg(feature = "otel")]
        crate::otel::set_parent(span, &delivery.message.attributes);
        let queue_priority = delivery.origin.and_then(|label| label.parse().ok()).unwrap_or(Priority::Default);
        let message = match wire::decode(&delivery.message, queue_priority) {
            Ok(message) => message,
            Err(error) => return Routed::rejected(None, None, error.into()),
        };
        span.record("id", message.id.as_str());
        span.record("task", message.task.as_str());
        span.record("priority", message.priority.as_str());
        if !span.is_disabled() {
            span.record("otel.name", format!("task_received/{}", message.task));
        }
        let (id, route) = (Some(message.id.clone()), Some(message.task.clone()));
        let not_before = match wire::due(&message) {
            Ok(due) => due,
            Err(error) => return Routed::rejected(id, route, error.into()),
        };
        Routed::new(id, route, self.resolve(message, delivery.provider.clone())).not_before(not_before)
    }
}
