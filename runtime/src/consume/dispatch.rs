//! Dispatching one message: decode, validate, route by (message type, major) to a typed
//! handler and run it (catching panics, within a time limit), and say what should become
//! of it. No broker is involved here.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracing::Instrument;

use crate::backend::{BackendError, BoxFuture, ProviderMetadata};
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

/// Why a message cannot be handed to any handler. Such a message is dead-lettered (or
/// negatively acknowledged, see [`InvalidMessages`](super::InvalidMessages)), never
/// acknowledged without a copy kept.
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
    /// The handler did not finish within the consumer's time limit: it was dropped, and the
    /// message is negatively acknowledged like a failure.
    TimedOut {
        /// The limit.
        after: Duration,
    },
    /// The consumer shut down and its deadline passed while the handler ran: the handler was
    /// dropped and the message negatively acknowledged for immediate redelivery.
    Interrupted,
    /// The message could not be handed to a handler: dead-lettered (or negatively
    /// acknowledged, see [`InvalidMessages`](super::InvalidMessages)).
    Rejected(ConsumeError),
}

impl Outcome {
    /// Whether the handler succeeded or asked to drop the message: what gets it
    /// acknowledged (a rejected message may be acknowledged too, once dead-lettered: see
    /// [`Processed::settlement`]).
    pub fn is_acked(&self) -> bool {
        matches!(self, Self::Acked | Self::Ignored)
    }
}

/// What the consumer did with a delivery at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// Acknowledged: the broker forgets it.
    Acked,
    /// Negatively acknowledged: redelivered after `delay`.
    Nacked {
        /// How long the broker waits before redelivering.
        delay: Duration,
    },
    /// Moved to the dead-letter queue.
    DeadLettered,
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
    /// What was done at the broker; `None` when no broker was involved
    /// ([`Router::dispatch`]).
    pub settlement: Option<Settlement>,
    /// Set when settling failed at the broker (the message is then redelivered when its
    /// lease runs out), or when dead-lettering failed and it was negatively acknowledged instead.
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
        let span = received_span(&provider);
        self.dispatch_within(message, provider, None, std::future::pending(), &span).await
    }

    /// [`Router::dispatch`], giving up on the handler after `limit` or when `stop` completes,
    /// in `span` (a [`received_span`] not entered yet: with the `otel` feature, the message's
    /// trace context becomes its parent).
    pub(crate) async fn dispatch_within(
        &self,
        message: &WireMessage,
        provider: ProviderMetadata,
        limit: Option<Duration>,
        stop: impl Future<Output = ()>,
        span: &tracing::Span,
    ) -> Processed {
        let report =
            |id, message_type, outcome| Processed { id, message_type, outcome, settlement: None, settle_error: None };
        let (metadata, data) = match wire::decode(message) {
            Ok(decoded) => decoded,
            Err(e) => return report(None, None, Outcome::Rejected(e.into())),
        };
        #[cfg(feature = "otel")]
        crate::otel::set_parent(span, &metadata.headers);
        span.record("id", metadata.id.as_str());
        let id = Some(metadata.id.clone());
        let Some(url) = SchemaUrl::parse(&metadata.schema) else {
            return report(id, None, Outcome::Rejected(ConsumeError::SchemaUrl { found: metadata.schema }));
        };
        span.record("message_type", url.message_type.as_str());
        if !span.is_disabled() {
            span.record("otel.name", format!("message_received/{}", url.message_type));
        }
        let message_type = Some(url.message_type.clone());
        let outcome = match self.resolve(url, metadata, data, provider) {
            Ok(handler) => run_handler(handler, limit, stop).instrument(span.clone()).await,
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

/// The span a delivery is handled in; dispatching fills in the message's id and type, and
/// names it `message_received/<type>` for OpenTelemetry.
pub(crate) fn received_span(provider: &ProviderMetadata) -> tracing::Span {
    tracing::info_span!(
        "message_received",
        otel.name = "message_received",
        otel.kind = "consumer",
        message_type = tracing::field::Empty,
        id = tracing::field::Empty,
        delivery_attempt = provider.delivery_attempt(),
    )
}

/// Runs a handler future, turning a panic into [`Outcome::Panicked`], and dropping it after
/// `limit` ([`Outcome::TimedOut`]) or when `stop` completes ([`Outcome::Interrupted`]).
async fn run_handler(
    mut future: BoxFuture<'static, HandlerResult>,
    limit: Option<Duration>,
    stop: impl Future<Output = ()>,
) -> Outcome {
    // `catch_unwind` wraps the poll's return value; a panic surfaces as its `Err`.
    let handled = poll_fn(|cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
        Ok(std::task::Poll::Ready(result)) => std::task::Poll::Ready(Ok(result)),
        Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
        Err(panic) => std::task::Poll::Ready(Err(panic_message(&*panic))),
    });
    let timer = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = handled => result,
        () = timer => return Outcome::TimedOut { after: limit.unwrap_or_default() },
        () = stop => return Outcome::Interrupted,
    };
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
