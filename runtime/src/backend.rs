//! What a broker backend implements, whatever the protocol: a [`Sink`] that publishes wire
//! messages to topics, and a [`Source`] of deliveries to acknowledge. Generated code never
//! sees a backend; it talks to [`Publisher`](crate::Publisher) and
//! [`Consumer`](crate::Consumer), which hold these as trait objects, so a new broker is a
//! new implementation of these two traits (plus a [`Broker`](crate::Broker) for tools).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::attributes::Attributes;

/// A boxed, sendable future: what the object-safe backend traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The broker side of publishing: where a [`Publisher`](crate::Publisher) sends.
pub trait Sink: Send + Sync + 'static {
    /// Sends one encoded message to `topic` (the protocol's topic name, without the prefix
    /// that the backend's naming adds, e.g. `hedwig-`). Returns the broker's message id.
    fn publish<'a>(&'a self, topic: &'a str, message: &'a WireMessage) -> BoxFuture<'a, Result<String, BackendError>>;

    /// Sends one message to `topic` to be delivered no earlier than `due`. The default sends
    /// it at once: the message must say itself when it is due (Taskhawk's
    /// [`DUE_HEADER`](crate::taskhawk::wire::DUE_HEADER)), and owlpost's consumers hold it
    /// until then. [`SnsSink`](crate::aws::SnsSink) delays its arrival instead (SQS
    /// `DelaySeconds`, EventBridge Scheduler).
    fn publish_at<'a>(
        &'a self,
        topic: &'a str,
        message: &'a WireMessage,
        due: SystemTime,
    ) -> BoxFuture<'a, Result<String, BackendError>> {
        let _ = due;
        self.publish(topic, message)
    }

    /// Sends several messages to `topic`, one result per message in order. The default
    /// sends them one by one; backends with a batch API (SNS `PublishBatch`) override it.
    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        messages: &'a [WireMessage],
    ) -> BoxFuture<'a, Vec<Result<String, BackendError>>> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(messages.len());
            for message in messages {
                results.push(self.publish(topic, message).await);
            }
            results
        })
    }
}

/// The broker side of consuming: a queue or subscription that hands out deliveries.
pub trait Source: Send + Sync + 'static {
    /// Receives up to `max` deliveries, waiting a backend-specific time (long poll) when
    /// none is ready; an empty batch is not an error.
    fn receive(&self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, BackendError>>;
    /// Acknowledges a delivery: the broker forgets the message.
    fn ack<'a>(&'a self, ack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Negatively acknowledges: the message becomes visible again after `delay` (at once
    /// when zero).
    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Extends the delivery's lease (visibility timeout, ack deadline) to `by` from now.
    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Sends a copy of a delivery, as received, to the queue's dead-letter queue: for
    /// messages no retry can fix. The consumer acknowledges the delivery once this succeeded.
    /// The default refuses, and the consumer negatively acknowledges instead.
    fn dead_letter<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), BackendError>> {
        let _ = delivery;
        Box::pin(async { Err(BackendError::Rejected { reason: "this source has no dead-letter queue".into() }) })
    }
}

/// A message as brokers carry it: body bytes plus string attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireMessage {
    /// The body.
    pub body: Vec<u8>,
    /// Attributes (SNS/SQS message attributes, Pub/Sub attributes), sorted by key.
    pub attributes: Attributes,
}

impl WireMessage {
    /// The message inside SNS's JSON envelope, which is the body of an SQS message from a
    /// subscription without raw delivery (and what an AWS Lambda SQS event carries): its
    /// `Message`, and its `MessageAttributes` of type `String`. `None` when `body` is not
    /// such a `Notification`.
    pub fn from_sns_notification(body: &str) -> Option<WireMessage> {
        let notification = serde_json::from_str::<SnsNotification>(body).ok()?;
        (notification.kind == "Notification").then(|| WireMessage {
            body: notification.message.into_bytes(),
            attributes: notification
                .message_attributes
                .into_iter()
                .filter(|(_, a)| a.kind == "String")
                .map(|(k, a)| (k, a.value))
                .collect(),
        })
    }

    /// The body as sent: base64-decoded (with or without line breaks, as hedwig-python wraps
    /// it at 76 characters) when the attribute `encoding_attribute` says `base64`.
    pub(crate) fn decoded_body(&self, encoding_attribute: &str) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        use base64::Engine;
        if self.attributes.get(encoding_attribute).is_none_or(|e| e != "base64") {
            return Ok(std::borrow::Cow::Borrowed(&self.body));
        }
        let compact: Vec<u8> = self.body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|e| e.to_string())?;
        Ok(std::borrow::Cow::Owned(decoded))
    }
}

/// SNS's envelope of a message delivered without raw delivery.
#[derive(serde::Deserialize)]
struct SnsNotification {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "MessageAttributes", default)]
    message_attributes: BTreeMap<String, SnsAttribute>,
}

#[derive(serde::Deserialize)]
struct SnsAttribute {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Value")]
    value: String,
}

/// One received message, not yet acknowledged.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Backend token for [`Source::ack`], [`Source::nack`] and [`Source::extend`]
    /// (SQS receipt handle, Pub/Sub ack id, in-memory receipt).
    pub ack_id: String,
    /// The message as it arrived.
    pub message: WireMessage,
    /// What the broker says about this delivery.
    pub provider: ProviderMetadata,
    /// How long the delivery stays hidden from other consumers, from its receipt, unless it
    /// is extended; `None` when the source renews leases itself (Pub/Sub).
    pub lease: Option<Duration>,
    /// Which of a combined source's queues it came from ([`Prioritized`](crate::Prioritized)
    /// sets the label the queue was added with, e.g. a Taskhawk priority); `None` otherwise.
    pub origin: Option<&'static str>,
}

/// Broker-specific facts about a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderMetadata {
    /// Delivered by the in-memory broker.
    Memory {
        /// The queue it was received from.
        queue: String,
        /// How many times it has been received, this time included (1 on first delivery).
        receive_count: u32,
    },
    /// Delivered by SQS.
    Aws {
        /// The receipt handle (the ack id).
        receipt_handle: String,
        /// `ApproximateReceiveCount`: deliveries so far, this one included.
        receive_count: u32,
        /// `SentTimestamp`, epoch milliseconds.
        sent_timestamp: Option<i64>,
        /// `ApproximateFirstReceiveTimestamp`, epoch milliseconds.
        first_receive_timestamp: Option<i64>,
    },
    /// Delivered by Google Cloud Pub/Sub.
    Gcp {
        /// The ack id Pub/Sub gave this delivery (the source's [`Delivery::ack_id`] also
        /// names the subscription; use that one to ack).
        ack_id: String,
        /// The subscription it came from (`projects/<project>/subscriptions/<id>`).
        subscription: String,
        /// Pub/Sub's message id.
        message_id: String,
        /// When Pub/Sub received the message, epoch milliseconds.
        publish_time: Option<i64>,
        /// Deliveries so far, this one included; Pub/Sub only counts on subscriptions with a
        /// dead-letter policy.
        delivery_attempt: Option<u32>,
    },
    /// No broker involved (a message handed to a handler directly, e.g. in tests).
    None,
}

impl ProviderMetadata {
    /// How many times the message has been delivered, this time included, when the broker says.
    pub fn delivery_attempt(&self) -> Option<u32> {
        match self {
            Self::Memory { receive_count, .. } | Self::Aws { receive_count, .. } => Some(*receive_count),
            Self::Gcp { delivery_attempt, .. } => *delivery_attempt,
            Self::None => None,
        }
    }
}

/// What a dead-letter re-queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requeued {
    /// Messages sent back to the queue and removed from the dead-letter queue.
    pub moved: usize,
    /// Messages that could not be moved, with the reason; they stay in the dead-letter queue.
    pub failed: Vec<String>,
}

/// A broker operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The topic does not exist on the broker.
    #[error("topic {topic:?} does not exist")]
    TopicNotFound {
        /// Topic name.
        topic: String,
    },
    /// The queue or subscription does not exist on the broker.
    #[error("queue {queue:?} does not exist")]
    QueueNotFound {
        /// Queue name.
        queue: String,
    },
    /// The ack id is unknown or expired (the lease ran out and the message was redelivered).
    #[error("ack id {ack_id:?} is unknown or expired")]
    InvalidAckId {
        /// The ack id.
        ack_id: String,
    },
    /// The message is over a broker limit; nothing was sent.
    #[error("over the limit of {limit}: {actual} (at most {max}); nothing was sent")]
    LimitExceeded {
        /// Which limit.
        limit: &'static str,
        /// The limit.
        max: usize,
        /// What the message has.
        actual: usize,
    },
    /// An attribute the broker would refuse; nothing was sent.
    #[error("attribute {name:?}: {reason}; nothing was sent")]
    InvalidAttribute {
        /// Attribute name.
        name: String,
        /// Why the broker would refuse it.
        reason: String,
    },
    /// The broker could not be reached or answered with a transient failure.
    #[error("broker unavailable: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// The broker (or owlpost's backend for it) cannot do this at all.
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked for.
        what: String,
    },
    /// The broker rejected the request.
    #[error("broker rejected the request: {reason}")]
    Rejected {
        /// What the broker said.
        reason: String,
    },
}

impl BackendError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
