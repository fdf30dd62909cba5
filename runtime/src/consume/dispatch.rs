//! Dispatching one delivery, whatever its protocol: the protocol's [`Dispatch`] decodes,
//! validates and routes it to a handler; this module runs the handler (catching panics,
//! within a time limit) and says what should become of the delivery. No broker is
//! involved here.

use std::any::Any;
use std::fmt;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime};

use tracing::Instrument;

use crate::backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, WireMessage};
use crate::hedwig::wire::DecodeError;
use crate::schema::ValidationError;

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
    /// The wire form is unreadable (Hedwig).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The wire form is unreadable (Taskhawk).
    #[error(transparent)]
    TaskDecode(#[from] crate::taskhawk::wire::DecodeError),
    /// No handler is registered for this task.
    #[error("no handler for task `{task}`")]
    UnknownTask {
        /// The task name.
        task: String,
    },
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
    /// The consumer shut down and its deadline passed while the handler ran, or it shut
    /// down while the message was held until due: the handler was dropped (or never ran)
    /// and the message negatively acknowledged for immediate redelivery.
    Interrupted,
    /// The message is due later than the consumer holds messages
    /// ([`ConsumerSettings::max_hold`](super::ConsumerSettings::max_hold)): negatively
    /// acknowledged to come back then (or as late as the broker allows).
    NotDue {
        /// How long until it is due.
        after: Duration,
    },
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
    /// The message (or task) id, when it could be read.
    pub id: Option<String>,
    /// What the delivery was routed by (the Hedwig message type), when it could be read.
    pub route: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// What was done at the broker; `None` when no broker was involved
    /// ([`dispatch`]).
    pub settlement: Option<Settlement>,
    /// Set when settling failed at the broker (the message is then redelivered when its
    /// lease runs out), or when dead-lettering failed and it was negatively acknowledged instead.
    pub settle_error: Option<BackendError>,
}

/// A protocol's side of consuming: turns a delivery into the future of the handler that
/// takes it (decoding, validating and routing it on the way), or the outcome when no
/// handler can. Hedwig's [`Router`](crate::Router) is one; the [`Consumer`](crate::Consumer)
/// loop, its leases, retries, dead letters, shutdown and hooks work the same for any.
pub trait Dispatch: Send + Sync + 'static {
    /// The span a delivery is handled in, not entered yet: [`Dispatch::route`] fills in
    /// what it learns (id, route, trace parent), and the handler and the settlement run in it.
    fn span(&self, provider: &ProviderMetadata) -> tracing::Span;

    /// Decodes, validates and routes a delivery, without running its handler.
    fn route(&self, delivery: &Delivery, span: &tracing::Span) -> Routed;
}

/// What [`Dispatch::route`] found for a delivery: [`Routed::new`], [`Routed::rejected`].
#[non_exhaustive]
pub struct Routed {
    /// The message (or task) id, when it could be read.
    pub id: Option<String>,
    /// What the delivery is routed by (the Hedwig message type), when it could be read.
    pub route: Option<String>,
    /// The handler's future, or the outcome when there is none to run
    /// ([`Outcome::Rejected`], or [`Outcome::Panicked`] when making the future panicked).
    pub handler: Result<BoxFuture<'static, HandlerResult>, Outcome>,
    /// When the message asks to be handled no earlier than a time (a delayed Taskhawk
    /// task): the consumer holds it until then, keeping its lease, without taking a
    /// handler slot while fewer than `ConsumerSettings::max_held` are held (in its slot
    /// otherwise).
    pub not_before: Option<SystemTime>,
}

impl Routed {
    /// A delivery routed to `handler` (or to the outcome it gets instead), due now.
    pub fn new(
        id: Option<String>,
        route: Option<String>,
        handler: Result<BoxFuture<'static, HandlerResult>, Outcome>,
    ) -> Self {
        Self { id, route, handler, not_before: None }
    }

    /// The same, not to be handled before `time` ([`Routed::not_before`]).
    pub fn not_before(mut self, time: Option<SystemTime>) -> Self {
        self.not_before = time;
        self
    }

    /// A delivery no handler takes.
    pub fn rejected(id: Option<String>, route: Option<String>, error: ConsumeError) -> Self {
        Self { id, route, handler: Err(Outcome::Rejected(error)), not_before: None }
    }
}

impl fmt::Debug for Routed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routed")
            .field("id", &self.id)
            .field("route", &self.route)
            .field("handler", &self.handler.as_ref().map(|_| "<future>"))
            .field("not_before", &self.not_before)
            .finish()
    }
}

/// Routes a delivery with `dispatch`, waits with `hold` when it is not due yet, and runs its
/// handler, giving up on it after `limit` or when `stop` completes, in `span` (from
/// [`Dispatch::span`], not entered yet). `hold` returns the outcome when the handler is not
/// to run after all.
pub(crate) async fn dispatch_within<H: Future<Output = Option<Outcome>>>(
    dispatch: &dyn Dispatch,
    delivery: &Delivery,
    limit: Option<Duration>,
    stop: impl Future<Output = ()>,
    span: &tracing::Span,
    hold: impl FnOnce(SystemTime) -> H,
) -> Processed {
    // A protocol's routing that panics costs its message, never the consumer.
    let routed = catch_unwind(AssertUnwindSafe(|| dispatch.route(delivery, span)));
    let Routed { id, route, handler, not_before } = routed.unwrap_or_else(|panic| Routed {
        id: None,
        route: None,
        handler: Err(Outcome::Panicked { message: panic_message(&*panic) }),
        not_before: None,
    });
    let held = match (&handler, not_before) {
        (Ok(_), Some(due)) => hold(due).instrument(span.clone()).await,
        _ => None,
    };
    let outcome = match (handler, held) {
        (_, Some(outcome)) | (Err(outcome), None) => outcome,
        (Ok(handler), None) => run_handler(handler, limit, stop).instrument(span.clone()).await,
    };
    Processed { id, route, outcome, settlement: None, settle_error: None }
}

/// Routes one delivery and runs its handler (catching panics), saying what should become
/// of it, without a broker: for tests and tools. A consumer does this and then settles.
/// A message that is not due yet ([`Routed::not_before`]) runs at once.
pub async fn dispatch(dispatch: &dyn Dispatch, message: WireMessage, provider: ProviderMetadata) -> Processed {
    let span = dispatch.span(&provider);
    let delivery = Delivery { ack_id: String::new(), message, provider, lease: None, origin: None };
    dispatch_within(dispatch, &delivery, None, std::future::pending(), &span, |_| async { None }).await
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

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "non-string panic payload".to_owned(),
    }
}
