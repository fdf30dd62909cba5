//! Publishing to Pub/Sub: limits checked before the network, `hedwig_encoding=utf8` (the
//! protocol's encoding attribute), and
//! batching by count, bytes and delay with a result per message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gcloud_googleapis::pubsub::v1::PubsubMessage;
use gcloud_pubsub::publisher::{Publisher, PublisherConfig};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{
    Gcp, MAX_ATTRIBUTE_KEY_BYTES, MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_BATCH, MAX_MESSAGE_BYTES, call,
};
use crate::backend::WireMessage;
use crate::backend::{BackendError, BoxFuture, Sink};

/// When a batch of messages for one topic is sent: as soon as it holds `max_messages`, or
/// `max_bytes`, or its first message has waited `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Messages per publish request (default 100, at most 1000).
    pub max_messages: usize,
    /// Bytes (data and attributes) per publish request (default 1 MB, at most 10 MB).
    pub max_bytes: usize,
    /// How long the first message of a batch waits for others (default 10 ms; zero sends
    /// what has been queued at once).
    pub max_delay: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self { max_messages: 100, max_bytes: 1_000_000, max_delay: Duration::from_millis(10) }
    }
}

/// The sink publishing to Pub/Sub topics (a [`Sink`]). Cloning shares the batches.
#[derive(Clone, Debug)]
pub struct PubSubSink {
    gcp: Gcp,
    settings: BatchSettings,
    batchers: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Pending>>>>,
}

/// A message waiting for its batch, and where its result goes.
struct Pending {
    message: PubsubMessage,
    size: usize,
    reply: oneshot::Sender<Result<String, BackendError>>,
}

type Reply = oneshot::Receiver<Result<String, BackendError>>;

/// The most message bytes one publish request carries (Pub/Sub takes 10 MB with the encoding).
pub(super) const MAX_REQUEST_BYTES: usize = 9_000_000;

impl PubSubSink {
    pub(super) fn new(gcp: Gcp) -> Self {
        Self { gcp, settings: BatchSettings::default(), batchers: Arc::default() }
    }

    /// Uses `settings` for the batches (limits are capped at Pub/Sub's).
    pub fn with_batching(mut self, settings: BatchSettings) -> Self {
        self.settings = BatchSettings {
            max_messages: settings.max_messages.clamp(1, MAX_BATCH),
            max_bytes: settings.max_bytes.clamp(1, MAX_REQUEST_BYTES),
            max_delay: settings.max_delay,
        };
        self
    }

    /// Checks the message and queues it for its topic's batch.
    fn enqueue(&self, topic: &str, message: &WireMessage) -> Result<Reply, BackendError> {
        let (message, size) = pubsub_message(message, self.gcp.layout.naming().encoding_attribute())?;
        let (reply, result) = oneshot::channel();
        let mut pending = Pending { message, size, reply };
        let path = self.gcp.layout.topic_path(topic);
        let mut batchers = self.batchers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = batchers.get(&path) {
            match sender.send(pending) {
                Ok(()) => return Ok(result),
                // The topic's batcher stopped (its runtime went away): start another, once.
                Err(mpsc::error::SendError(back)) => pending = back,
            }
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(self.gcp.topic_client(&path), self.settings, receiver));
        let sent = sender.send(pending).map(|()| result).map_err(|_| stopped());
        batchers.insert(path, sender);
        sent
    }
}

fn stopped() -> BackendError {
    BackendError::Unavailable { reason: "the publishing task stopped".into() }
}

async fn reply(result: Result<Reply, BackendError>) -> Result<String, BackendError> {
    result?.await.unwrap_or_else(|_| Err(stopped()))
}

impl Sink for PubSubSink {
    fn publish<'a>(&'a self, topic: &'a str, message: &'a WireMessage) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move { reply(self.enqueue(topic, message)).await })
    }

    fn publish_batch<'a>(
        &'a self,
        topic: &'a str,
        messages: &'a [WireMessage],
    ) -> BoxFuture<'a, Vec<Result<String, BackendError>>> {
        Box::pin(async move {
            // Everything is queued before waiting, so that the messages share requests.
            let queued: Vec<_> = messages.iter().map(|message| self.enqueue(topic, message)).collect();
            let mut results = Vec::with_capacity(queued.len());
            for queued in queued {
                results.push(reply(queued).await);
            }
            results
        })
    }
}

/// The Pub/Sub message of `wire` and its size, or why Pub/Sub would refuse it. JSON (UTF-8)
/// bodies get the protocol's `encoding` attribute (`hedwig_encoding`) set to `utf8`, which
/// hedwig-python needs to read them.
fn pubsub_message(wire: &WireMessage, encoding: &str) -> Result<(PubsubMessage, usize), BackendError> {
    let mut attributes: HashMap<String, String> =
        wire.attributes.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    if std::str::from_utf8(&wire.body).is_ok() {
        attributes.entry(encoding.to_owned()).or_insert_with(|| "utf8".to_owned());
    }
    check_limits(&wire.body, &attributes)
        .map(|size| (PubsubMessage { data: wire.body.clone(), attributes, ..Default::default() }, size))
}

/// Pub/Sub's limits; returns the message's size.
fn check_limits(data: &[u8], attributes: &HashMap<String, String>) -> Result<usize, BackendError> {
    let limit = |limit, max, actual| BackendError::LimitExceeded { limit, max, actual };
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(limit("Pub/Sub attributes per message", MAX_ATTRIBUTES, attributes.len()));
    }
    let invalid = |name: &str, reason: String| BackendError::InvalidAttribute { name: name.to_owned(), reason };
    for (name, value) in attributes {
        if name.is_empty() || name.len() > MAX_ATTRIBUTE_KEY_BYTES {
            return Err(invalid(
                name,
                format!("names are 1 to {MAX_ATTRIBUTE_KEY_BYTES} bytes, this is {}", name.len()),
            ));
        }
        if name.starts_with("goog") {
            return Err(invalid(name, "names starting with `goog` are reserved by Pub/Sub".into()));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_BYTES {
            return Err(invalid(
                name,
                format!("values are at most {MAX_ATTRIBUTE_VALUE_BYTES} bytes, this is {}", value.len()),
            ));
        }
    }
    let size = message_size(data, attributes);
    if size > MAX_MESSAGE_BYTES {
        return Err(limit("Pub/Sub message bytes (data and attributes)", MAX_MESSAGE_BYTES, size));
    }
    Ok(size)
}

/// gcloud's publisher for one topic, used only to send whole requests (its own batching is
/// not used: one worker that rarely wakes is enough).
pub(super) struct TopicClient {
    publisher: Publisher,
    topic: String,
}

impl Gcp {
    pub(super) fn topic_client(&self, topic_path: &str) -> TopicClient {
        let config =
            PublisherConfig { workers: 1, flush_interval: Duration::from_secs(3600), ..PublisherConfig::default() };
        TopicClient {
            publisher: self.client.topic(topic_path).new_publisher(Some(config)),
            topic: topic_path.to_owned(),
        }
    }
}

impl TopicClient {
    /// One publish request; the message ids in order.
    pub(super) async fn publish(&self, messages: Vec<PubsubMessage>) -> Result<Vec<String>, BackendError> {
        let missing = || BackendError::TopicNotFound { topic: self.topic.clone() };
        call("Pub/Sub Publish", self.publisher.publish_immediately(messages, None), missing).await
    }

    /// Stops gcloud's idle worker.
    pub(super) async fn shutdown(mut self) {
        self.publisher.shutdown().await;
    }
}

/// What Pub/Sub counts against its message limit: data plus attribute names and values.
pub(super) fn message_size(data: &[u8], attributes: &HashMap<String, String>) -> usize {
    data.len() + attributes.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

/// Collects one topic's messages into batches and sends each batch as one request; ends
/// when every sender is gone and the last batch is sent.
async fn batch_loop(client: TopicClient, settings: BatchSettings, mut queue: mpsc::UnboundedReceiver<Pending>) {
    let client = Arc::new(client);
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => break,
            },
        };
        let deadline = Instant::now() + settings.max_delay;
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < settings.max_messages && bytes < settings.max_bytes {
            let next = match queue.try_recv() {
                Ok(next) => next,
                Err(_) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) | Err(_) => break,
                },
            };
            if bytes + next.size > settings.max_bytes {
                carried = Some(next);
                break;
            }
            bytes += next.size;
            batch.push(next);
        }
        tokio::spawn(send_batch(client.clone(), batch));
    }
    if let Ok(client) = Arc::try_unwrap(client) {
        client.shutdown().await;
    }
}

/// One publish request; every message of the batch gets the outcome.
async fn send_batch(client: Arc<TopicClient>, batch: Vec<Pending>) {
    let (messages, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|p| (p.message, p.reply)).unzip();
    let count = messages.len();
    let published = client.publish(messages).await;
    tracing::debug!(topic = client.topic, count, ok = published.is_ok(), "Pub/Sub publish request");
    match published {
        Ok(ids) => {
            let mut ids = ids.into_iter();
            for reply in replies {
                let result = ids.next().ok_or_else(|| BackendError::Rejected {
                    reason: format!("Pub/Sub Publish: fewer message ids than the {count} messages sent"),
                });
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENCODING: &str = "hedwig_encoding";

    fn wire(body: &[u8], attributes: &[(&str, String)]) -> WireMessage {
        WireMessage {
            body: body.to_vec(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        }
    }

    #[test]
    fn json_bodies_are_marked_utf8_and_binary_bodies_are_not() {
        let (json, _) = pubsub_message(&wire(b"{}", &[("hedwig_id", "1".into())]), ENCODING).unwrap();
        assert_eq!(json.attributes.get("hedwig_encoding").map(String::as_str), Some("utf8"));
        let (binary, _) = pubsub_message(&wire(&[0xff, 0xfe], &[]), ENCODING).unwrap();
        assert!(!binary.attributes.contains_key("hedwig_encoding"));
    }

    #[test]
    fn limits_are_checked_with_the_encoding_attribute_counted() {
        let attributes: Vec<(String, String)> = (0..MAX_ATTRIBUTES).map(|i| (format!("h{i}"), "v".into())).collect();
        let refs: Vec<(&str, String)> = attributes.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        // 100 attributes plus hedwig_encoding: one too many.
        let error = pubsub_message(&wire(b"{}", &refs), ENCODING).unwrap_err();
        assert!(matches!(error, BackendError::LimitExceeded { max: 100, actual: 101, .. }), "{error:?}");
        // Binary data gets no encoding attribute, so 100 fit.
        assert!(pubsub_message(&wire(&[0xff], &refs), ENCODING).is_ok());

        let long_value = "x".repeat(MAX_ATTRIBUTE_VALUE_BYTES + 1);
        let error = pubsub_message(&wire(b"{}", &[("request_id", long_value)]), ENCODING).unwrap_err();
        assert!(matches!(&error, BackendError::InvalidAttribute { name, .. } if name == "request_id"), "{error:?}");
        let long_key = "k".repeat(MAX_ATTRIBUTE_KEY_BYTES + 1);
        assert!(matches!(
            pubsub_message(&wire(b"{}", &[(&long_key, "v".into())]), ENCODING),
            Err(BackendError::InvalidAttribute { .. })
        ));
        assert!(matches!(
            pubsub_message(&wire(b"{}", &[("goog-x", "v".into())]), ENCODING),
            Err(BackendError::InvalidAttribute { .. })
        ));

        let big = vec![b'a'; MAX_MESSAGE_BYTES];
        let error = pubsub_message(&wire(&big, &[]), ENCODING).unwrap_err();
        assert!(
            matches!(error, BackendError::LimitExceeded { actual, .. } if actual == MAX_MESSAGE_BYTES + "hedwig_encodingutf8".len()),
            "{error:?}"
        );
    }
}
