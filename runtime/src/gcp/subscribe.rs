//! Consuming from Pub/Sub: one StreamingPull per subscription (reconnected with backoff),
//! flow control, and ack / nack / lease extension by ack id.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, GetSubscriptionRequest, ModifyAckDeadlineRequest, ReceivedMessage, StreamingPullRequest,
};
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use super::{Gcp, MAX_ACK_DEADLINE, call, deadline_secs, status_error};
use crate::backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, Source};
use crate::wire::WireMessage;

/// How a [`PubSubSource`] pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeSettings {
    /// Messages Pub/Sub may have handed out and not yet seen acknowledged, per subscription
    /// (server-side flow control; default 100). Also the size of the local buffer.
    pub max_outstanding_messages: usize,
    /// Bytes likewise (default 100 MB).
    pub max_outstanding_bytes: usize,
    /// The lease of a delivered message until it is acked, nacked or extended (default 60 s;
    /// 10 to 600 s).
    pub ack_deadline: Duration,
    /// How long a receive waits for a message before it returns an empty batch (default 20 s).
    pub wait: Duration,
}

impl Default for SubscribeSettings {
    fn default() -> Self {
        Self {
            max_outstanding_messages: 100,
            max_outstanding_bytes: 100_000_000,
            ack_deadline: Duration::from_secs(60),
            wait: Duration::from_secs(20),
        }
    }
}

/// A source streaming from one or more subscriptions. Clones share the streams, which stop
/// when the last clone is dropped; messages received but not yet handed out are then nacked.
#[derive(Clone, Debug)]
pub struct PubSubSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: SubscriberClient,
    /// Full subscription names; a delivery's ack id starts with its index here.
    subscriptions: Vec<String>,
    buffer: Mutex<mpsc::Receiver<Result<Delivery, BackendError>>>,
    wait: Duration,
    pullers: Vec<JoinHandle<()>>,
}

/// How often an open stream sends a keep-alive request.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Backoff between reconnections: from 100 ms, doubling, at most 10 s, with jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

impl PubSubSource {
    /// Streams from the subscriptions `ids` of `gcp`'s project (Hedwig names:
    /// [`Gcp::consumer_source`]). Fails if one does not exist.
    pub async fn open(gcp: &Gcp, ids: &[String], settings: SubscribeSettings) -> Result<Self, BackendError> {
        let client = gcp.subscriber.clone();
        let subscriptions: Vec<String> = ids.iter().map(|id| gcp.subscription_path(id)).collect();
        for subscription in &subscriptions {
            let request = GetSubscriptionRequest { subscription: subscription.clone() };
            call("Pub/Sub GetSubscription", client.get_subscription(request, None), || not_found(subscription)).await?;
        }
        let (sender, buffer) = mpsc::channel(settings.max_outstanding_messages.max(1));
        let pullers = subscriptions
            .iter()
            .enumerate()
            .map(|(index, subscription)| {
                let puller = Puller { client: client.clone(), subscription: subscription.clone(), index, settings };
                tokio::spawn(puller.run(sender.clone()))
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner { client, subscriptions, buffer: Mutex::new(buffer), wait: settings.wait, pullers }),
        })
    }

    /// The full names of the subscriptions streamed from.
    pub fn subscriptions(&self) -> &[String] {
        &self.inner.subscriptions
    }

    /// The subscription and Pub/Sub ack id behind a delivery's ack id.
    fn locate<'a>(&self, ack_id: &'a str) -> Result<(&str, &'a str), BackendError> {
        ack_id
            .split_once(':')
            .and_then(|(index, id)| Some((self.inner.subscriptions.get(index.parse::<usize>().ok()?)?.as_str(), id)))
            .ok_or_else(|| BackendError::InvalidAckId { ack_id: ack_id.to_owned() })
    }

    async fn modify_deadline(&self, ack_id: &str, deadline: Duration) -> Result<(), BackendError> {
        let (subscription, id) = self.locate(ack_id)?;
        modify_deadlines(&self.inner.client, subscription, vec![id.to_owned()], deadline).await
    }
}

async fn modify_deadlines(
    client: &SubscriberClient,
    subscription: &str,
    ack_ids: Vec<String>,
    deadline: Duration,
) -> Result<(), BackendError> {
    let request = ModifyAckDeadlineRequest {
        subscription: subscription.to_owned(),
        ack_deadline_seconds: deadline_secs(deadline),
        ack_ids,
    };
    call("Pub/Sub ModifyAckDeadline", client.modify_ack_deadline(request, None), || not_found(subscription)).await?;
    Ok(())
}

fn not_found(subscription: &str) -> BackendError {
    BackendError::QueueNotFound { queue: subscription.to_owned() }
}

impl Source for PubSubSource {
    fn receive(&self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, BackendError>> {
        Box::pin(async move {
            let mut buffer = self.inner.buffer.lock().await;
            let first = match tokio::time::timeout(self.inner.wait, buffer.recv()).await {
                Err(_) => return Ok(Vec::new()),
                Ok(None) => return Err(BackendError::Unavailable { reason: "the Pub/Sub streams stopped".into() }),
                Ok(Some(first)) => first?,
            };
            let mut deliveries = vec![first];
            while deliveries.len() < max {
                match buffer.try_recv() {
                    Ok(Ok(delivery)) => deliveries.push(delivery),
                    // Already logged by the stream; the next receive reports it if it lasts.
                    Ok(Err(_)) => {}
                    Err(_) => break,
                }
            }
            Ok(deliveries)
        })
    }

    fn ack<'a>(&'a self, ack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (subscription, id) = self.locate(ack_id)?;
            let request = AcknowledgeRequest { subscription: subscription.to_owned(), ack_ids: vec![id.to_owned()] };
            call("Pub/Sub Acknowledge", self.inner.client.acknowledge(request, None), || not_found(subscription))
                .await?;
            Ok(())
        })
    }

    /// Sets the ack deadline to `delay` (at most 600 s): redelivery after the delay, at once
    /// when zero.
    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.modify_deadline(ack_id, delay))
    }

    /// ModifyAckDeadline to `by` from now (rounded up to seconds, at most 600 s).
    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.modify_deadline(ack_id, by))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for puller in &self.pullers {
            puller.abort();
        }
        // Hand back what was received but never given out, so it is redelivered at once.
        let mut unclaimed: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let buffer = self.buffer.get_mut();
        buffer.close();
        while let Ok(item) = buffer.try_recv() {
            if let Ok(delivery) = item
                && let Some((index, id)) = delivery.ack_id.split_once(':')
                && let Ok(index) = index.parse()
            {
                unclaimed.entry(index).or_default().push(id.to_owned());
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        for (index, ack_ids) in unclaimed {
            let (client, subscription) = (self.client.clone(), self.subscriptions[index].clone());
            runtime.spawn(async move { modify_deadlines(&client, &subscription, ack_ids, Duration::ZERO).await });
        }
    }
}

/// The task keeping one subscription's stream open.
struct Puller {
    client: SubscriberClient,
    subscription: String,
    index: usize,
    settings: SubscribeSettings,
}

impl Puller {
    async fn run(self, buffer: mpsc::Sender<Result<Delivery, BackendError>>) {
        let client_id = uuid::Uuid::new_v4().to_string();
        let mut failures = 0u32;
        loop {
            let request = StreamingPullRequest {
                subscription: self.subscription.clone(),
                stream_ack_deadline_seconds: deadline_secs(
                    self.settings.ack_deadline.clamp(Duration::from_secs(10), MAX_ACK_DEADLINE),
                ),
                client_id: client_id.clone(),
                max_outstanding_messages: self.settings.max_outstanding_messages as i64,
                max_outstanding_bytes: self.settings.max_outstanding_bytes as i64,
                ..Default::default()
            };
            let opened = call("Pub/Sub StreamingPull", self.client.streaming_pull(request, KEEPALIVE, None), || {
                not_found(&self.subscription)
            })
            .await;
            match opened {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(response)) => {
                                failures = 0;
                                for received in response.received_messages {
                                    if buffer.send(Ok(self.delivery(received))).await.is_err() {
                                        return;
                                    }
                                }
                            }
                            Ok(None) => break,
                            Err(status) => {
                                let error =
                                    status_error("Pub/Sub StreamingPull", &status, || not_found(&self.subscription));
                                tracing::warn!(subscription = %self.subscription, %error, "stream ended; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(subscription = %self.subscription, %error, "cannot open the stream; retrying");
                    // Seen by the next receive; dropped if the buffer is full (the consumer is busy).
                    let _ = buffer.try_send(Err(error));
                }
            }
            failures = failures.saturating_add(1);
            tokio::time::sleep(backoff(failures)).await;
        }
    }

    fn delivery(&self, received: ReceivedMessage) -> Delivery {
        let message = received.message.unwrap_or_default();
        let publish_time = message.publish_time.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
        Delivery {
            ack_id: format!("{}:{}", self.index, received.ack_id),
            message: WireMessage { body: message.data, attributes: message.attributes.into_iter().collect() },
            provider: ProviderMetadata::Gcp {
                ack_id: received.ack_id,
                subscription: self.subscription.clone(),
                message_id: message.message_id,
                publish_time,
                delivery_attempt: u32::try_from(received.delivery_attempt).ok().filter(|n| *n > 0),
            },
        }
    }
}

/// The wait before reconnection attempt `failures`: exponential with full jitter in its upper half.
fn backoff(failures: u32) -> Duration {
    let ceiling = BACKOFF_FIRST.saturating_mul(1 << failures.min(10)).min(BACKOFF_MAX);
    let jitter = RandomState::new().hash_one(failures) % 1000;
    ceiling / 2 + ceiling / 2 * jitter as u32 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(200) && backoff(1) >= Duration::from_millis(100));
        assert!(backoff(5) >= Duration::from_millis(1600));
        assert!(backoff(30) <= BACKOFF_MAX && backoff(30) >= BACKOFF_MAX / 2);
    }
}
