//! Consuming: receive, decode, validate, route by (message type, major) to a typed
//! handler, then acknowledge according to the outcome.
//!
//! Nothing is acknowledged unless its handler succeeded or asked to ignore it: messages
//! that cannot be decoded, fail validation or have no handler are negatively acknowledged
//! and reported, so the broker retries them and, with a redrive policy, dead-letters them.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, Source};
use crate::message::{Message, Metadata, Received};
use crate::schema::{SchemaUrl, ValidationError, Version};
use crate::wire::{self, DecodeError, WireMessage};

/// What a handler returns.
pub type HandlerResult = Result<(), HandlerError>;

/// A handler's way of saying the message was not handled. Any `std::error::Error` converts
/// into [`HandlerError::Failed`] with `?`.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerError {
    /// Not now: redeliver after `after`, without logging an error.
    Retry {
        /// How long the broker should wait before redelivering.
        after: Duration,
    },
    /// Drop the message: it is acknowledged and logged at info level.
    Ignore,
    /// Handling failed: the message is negatively acknowledged and the error logged.
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// A failure described by a message.
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::Failed(message.to_string().into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::Failed(Box::new(error))
    }
}

/// A message that cannot be handed to any handler. It is never acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The wire form is unreadable.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The schema URL is not `<root>#/schemas/<type>/<major>.<minor>`.
    #[error("invalid schema URL {found:?}")]
    SchemaUrl {
        /// What was found.
        found: String,
    },
    /// No handler is registered for this message type and major.
    #[error("no handler for `{message_type}` major {major} ({schema_url})")]
    UnknownMessage {
        /// Message type.
        message_type: String,
        /// Major version.
        major: u32,
        /// The message's schema URL.
        schema_url: String,
    },
    /// The schema URL belongs to another schema document.
    #[error("`{message_type}`: schema URL {schema_url:?} is not under this schema's root {root:?}")]
    ForeignSchema {
        /// Message type.
        message_type: String,
        /// The message's schema URL.
        schema_url: String,
        /// The root the handler's schema has.
        root: String,
    },
    /// The data fails the message schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The data passed validation but does not fit the generated type.
    #[error("`{message_type}` ({schema_url}): data does not fit the payload type: {reason}")]
    Deserialize {
        /// Message type.
        message_type: String,
        /// The message's schema URL.
        schema_url: String,
        /// Deserializer message.
        reason: String,
    },
}

/// What became of one delivery.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// Handled and acknowledged.
    Acked,
    /// The handler asked to drop it: acknowledged.
    Ignored,
    /// The handler asked for a retry: negatively acknowledged with this delay.
    Retry {
        /// The delay asked for.
        after: Duration,
    },
    /// The handler failed: negatively acknowledged.
    Failed {
        /// The handler's error.
        error: String,
    },
    /// The handler panicked: negatively acknowledged; the consumer keeps running.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The message could not be handed to a handler: negatively acknowledged.
    Rejected(ConsumeError),
}

impl Outcome {
    /// Whether the message was acknowledged (the broker forgets it).
    pub fn is_acked(&self) -> bool {
        matches!(self, Self::Acked | Self::Ignored)
    }
}

/// The report for one delivery.
#[derive(Debug)]
pub struct Processed {
    /// The Hedwig message id, when it could be read.
    pub id: Option<String>,
    /// The message type, when it could be read.
    pub message_type: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Set when acknowledging (or negatively acknowledging) failed at the broker.
    pub settle_error: Option<BackendError>,
}

/// A message decoded and validated, before its payload type is known.
struct Inbound {
    data: Value,
    version: Version,
    metadata: Metadata,
    provider: ProviderMetadata,
}

type ErasedHandler = Arc<dyn Fn(Inbound) -> Result<BoxFuture<'static, HandlerResult>, ConsumeError> + Send + Sync>;

struct Route {
    schema: &'static crate::Schema,
    handler: ErasedHandler,
}

/// Maps (message type, major) to handlers. Generated `register_<type>()` functions fill it.
#[derive(Default)]
pub struct Router {
    routes: HashMap<String, HashMap<u32, Route>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<_> =
            self.routes.iter().flat_map(|(t, majors)| majors.keys().map(move |major| (t, major))).collect();
        keys.sort();
        f.debug_struct("Router").field("routes", &keys).finish()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes messages of `M`'s type and major to `handler`, replacing an earlier route.
    pub fn route<M, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        M: Message,
        F: Fn(Received<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let erased: ErasedHandler = Arc::new(move |inbound: Inbound| {
            let data = serde_json::from_value::<M>(inbound.data).map_err(|e| ConsumeError::Deserialize {
                message_type: M::MESSAGE_TYPE.to_owned(),
                schema_url: inbound.metadata.schema.clone(),
                reason: e.to_string(),
            })?;
            let received =
                Received { data, version: inbound.version, metadata: inbound.metadata, provider: inbound.provider };
            Ok(Box::pin(handler(received)) as BoxFuture<'static, HandlerResult>)
        });
        let route = Route { schema: M::schema(), handler: erased };
        self.routes.entry(M::MESSAGE_TYPE.to_owned()).or_default().insert(M::MAJOR, route);
        self
    }

    /// Whether a handler is registered for this message type and major.
    pub fn handles(&self, message_type: &str, major: u32) -> bool {
        self.routes.get(message_type).is_some_and(|majors| majors.contains_key(&major))
    }

    /// Decodes, validates and routes one message, runs its handler (catching panics) and
    /// says what should become of it. Does not talk to the broker.
    pub async fn dispatch(&self, message: &WireMessage, provider: ProviderMetadata) -> Processed {
        let report = |id, message_type, outcome| Processed { id, message_type, outcome, settle_error: None };
        let (metadata, data) = match wire::decode(message) {
            Ok(decoded) => decoded,
            Err(e) => return report(None, None, Outcome::Rejected(e.into())),
        };
        let id = Some(metadata.id.clone());
        let Some(url) = SchemaUrl::parse(&metadata.schema) else {
            return report(id, None, Outcome::Rejected(ConsumeError::SchemaUrl { found: metadata.schema }));
        };
        let message_type = Some(url.message_type.clone());
        let outcome = match self.resolve(url, metadata, data, provider) {
            Ok(handler) => run_handler(handler).await,
            Err(outcome) => outcome,
        };
        report(id, message_type, outcome)
    }

    /// The handler's future for a decoded message, or the outcome when there is none to run.
    fn resolve(
        &self,
        url: SchemaUrl,
        metadata: Metadata,
        data: Value,
        provider: ProviderMetadata,
    ) -> Result<BoxFuture<'static, HandlerResult>, Outcome> {
        let reject = |error| Outcome::Rejected(error);
        let Some(route) = self.routes.get(&url.message_type).and_then(|majors| majors.get(&url.version.major)) else {
            return Err(reject(ConsumeError::UnknownMessage {
                message_type: url.message_type,
                major: url.version.major,
                schema_url: metadata.schema,
            }));
        };
        if url.root != route.schema.root() {
            return Err(reject(ConsumeError::ForeignSchema {
                message_type: url.message_type,
                schema_url: metadata.schema,
                root: route.schema.root().to_owned(),
            }));
        }
        route.schema.validate(&url.message_type, url.version, &data).map_err(|e| reject(e.into()))?;
        let inbound = Inbound { data, version: url.version, metadata, provider };
        match catch_unwind(AssertUnwindSafe(|| (route.handler)(inbound))) {
            Ok(handler) => handler.map_err(reject),
            Err(panic) => Err(Outcome::Panicked { message: panic_message(&*panic) }),
        }
    }
}

/// Runs a handler future, turning a panic into [`Outcome::Panicked`].
async fn run_handler(mut future: BoxFuture<'static, HandlerResult>) -> Outcome {
    // `catch_unwind` wraps the poll's return value; a panic surfaces as its `Err`.
    let result = poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(std::task::Poll::Ready(result)) => std::task::Poll::Ready(Ok(result)),
        Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
        Err(panic) => std::task::Poll::Ready(Err(panic_message(&*panic))),
    })
    .await;
    match result {
        Ok(Ok(())) => Outcome::Acked,
        Ok(Err(HandlerError::Ignore)) => Outcome::Ignored,
        Ok(Err(HandlerError::Retry { after })) => Outcome::Retry { after },
        Ok(Err(HandlerError::Failed(error))) => Outcome::Failed { error: error_chain(&*error) },
        Err(message) => Outcome::Panicked { message },
    }
}

/// An error and its sources: `outer: inner: innermost`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "non-string panic payload".to_owned(),
    }
}

/// Pulls deliveries from a [`Source`], dispatches them through a [`Router`] and
/// acknowledges each according to its [`Outcome`].
pub struct Consumer {
    source: Arc<dyn Source>,
    router: Router,
    batch_size: usize,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer").field("router", &self.router).field("batch_size", &self.batch_size).finish()
    }
}

impl Consumer {
    /// A consumer of `source` handing messages to `router`'s handlers, 10 per receive.
    pub fn new(source: impl Source, router: Router) -> Self {
        Self { source: Arc::new(source), router, batch_size: 10 }
    }

    /// Receives up to `size` messages at a time (default 10, SQS's maximum).
    pub fn with_batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// Receives one batch (waiting as the source's long poll does), handles every
    /// message in it, acknowledges each by its outcome, and reports them.
    pub async fn poll(&self) -> Result<Vec<Processed>, BackendError> {
        let deliveries = self.source.receive(self.batch_size).await?;
        let mut report = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            report.push(self.process(delivery).await);
        }
        Ok(report)
    }

    async fn process(&self, delivery: Delivery) -> Processed {
        let Delivery { ack_id, message, provider } = delivery;
        let mut processed = self.router.dispatch(&message, provider).await;
        let (id, message_type) = (processed.id.as_deref(), processed.message_type.as_deref());
        log_outcome(id, message_type, &processed.outcome);
        let settled = match &processed.outcome {
            Outcome::Acked | Outcome::Ignored => self.source.ack(&ack_id).await,
            Outcome::Retry { after } => self.source.nack(&ack_id, *after).await,
            Outcome::Failed { .. } | Outcome::Panicked { .. } | Outcome::Rejected(_) => {
                self.source.nack(&ack_id, Duration::ZERO).await
            }
        };
        if let Err(e) = &settled {
            tracing::error!(id, message_type, error = %e, "could not settle message with the broker");
        }
        processed.settle_error = settled.err();
        processed
    }

    /// Polls until `shutdown` completes, then returns after the batch in hand is settled.
    /// Transient broker failures are logged and retried after a pause; a permanent one
    /// (e.g. the queue does not exist) ends the loop with that error.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), BackendError> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                batch = self.source.receive(self.batch_size) => batch,
            };
            match batch {
                Ok(deliveries) => {
                    for delivery in deliveries {
                        self.process(delivery).await;
                    }
                }
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "receive failed; retrying in 1s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn log_outcome(id: Option<&str>, message_type: Option<&str>, outcome: &Outcome) {
    match outcome {
        Outcome::Acked => tracing::debug!(id, message_type, "handled"),
        Outcome::Ignored => tracing::info!(id, message_type, "handler ignored the message; acknowledged"),
        Outcome::Retry { after } => tracing::debug!(id, message_type, ?after, "handler asked for a retry"),
        Outcome::Failed { error } => {
            tracing::error!(id, message_type, %error, "handler failed; message will be retried")
        }
        Outcome::Panicked { message } => {
            tracing::error!(id, message_type, panic = %message, "handler panicked; message will be retried")
        }
        Outcome::Rejected(error) => tracing::error!(id, message_type, %error, "message rejected; not acknowledged"),
    }
}
