//! Consuming from Pub/Sub: StreamingPulls on each subscription (reopened with backoff), flow
//! control, leases kept alive until ack or nack, and ack / nack / extension by ack id.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};
use std::time::Duration;

use gcloud_gax::grpc::{Request, Status, Streaming};
use gcloud_googleapis::pubsub::v1::subscriber_client::SubscriberClient as StreamingClient;
use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, GetSubscriptionRequest, ModifyAckDeadlineRequest, ReceivedMessage, StreamingPullRequest,
    StreamingPullResponse,
};
use gcloud_pubsub::apiv1::conn_pool::ConnectionManager;
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::PubSubSink;
use super::{Gcp, MAX_ACK_DEADLINE, call, deadline_secs, status_error};
use crate::acks::{AckGroups, SendGroup};
use crate::backend::WireMessage;
use crate::backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, Sink, Source};
use crate::backoff::Backoff;

/// How a [`PubSubSource`] pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeSettings {
    /// Messages Pub/Sub may have handed out and not yet seen acknowledged, per stream
    /// (server-side flow control; default 100). Also the size of the local buffer, which the
    /// streams of every subscription share; deliveries waiting for room have their leases
    /// renewed all the same.
    pub max_outstanding_messages: usize,
    /// Bytes likewise (default 100 MB).
    pub max_outstanding_bytes: usize,
    /// The lease a delivery gets, renewed by the source until it is acked or nacked
    /// (default 60 s; 10 to 600 s).
    pub ack_deadline: Duration,
    /// How long the source keeps renewing a delivery's lease (default 1 h); after that the
    /// lease runs out unless extended explicitly, and Pub/Sub redelivers the message.
    pub max_lease: Duration,
    /// How long a receive waits for a message before it returns an empty batch (default 20 s).
    pub wait: Duration,
    /// StreamingPull streams open at once per subscription (default 1, as in Google's Java and
    /// Python clients; Java's `parallelPullCount`, Go's `NumGoroutines`). Raise it when one
    /// stream does not keep up: each stream has its own server-side flow control (so up to
    /// `streams × max_outstanding_messages` may be outstanding), and the emulator hands a
    /// stream at most 100 messages every 50 ms (about 2,000 a second).
    /// Zero counts as one.
    pub streams: usize,
}

impl Default for SubscribeSettings {
    fn default() -> Self {
        Self {
            max_outstanding_messages: 100,
            max_outstanding_bytes: 100_000_000,
            ack_deadline: Duration::from_secs(60),
            max_lease: Duration::from_secs(60 * 60),
            wait: Duration::from_secs(20),
            streams: 1,
        }
    }
}

impl SubscribeSettings {
    fn ack_deadline(&self) -> Duration {
        self.ack_deadline.clamp(Duration::from_secs(10), MAX_ACK_DEADLINE)
    }
}

/// A source streaming from one or more subscriptions. It renews the lease of every delivery
/// it has received until the delivery is acked or nacked (or [`SubscribeSettings::max_lease`]
/// passed), whether it waits in the buffer or is being handled. Clones share the streams,
/// which are closed when the last clone is dropped (their requests end, and the server ends
/// them); deliveries not yet handed out, and any that arrive while a stream closes, are then
/// nacked, so they are redelivered at once.
#[derive(Clone, Debug)]
pub struct PubSubSource {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    buffer: Mutex<mpsc::Receiver<Delivery>>,
    wait: Duration,
    /// The task renewing leases, aborted with the source.
    renew: JoinHandle<()>,
    /// Dropped with the source, which tells the pulling tasks to close their streams.
    _stop: watch::Sender<()>,
    /// Where [`Source::dead_letter`] publishes: a publisher and the full topic name.
    dead_letters: Option<(PubSubSink, String)>,
    /// Per subscription (by index), acks grouped into `Acknowledge` requests.
    acks: Vec<Arc<AckGroups>>,
}

/// What the source's tasks and its handle share.
#[derive(Debug)]
struct Shared {
    client: SubscriberClient,
    /// The connections the streams run on.
    streams: Arc<ConnectionManager>,
    /// Full subscription names; a delivery's ack id starts with its index here.
    subscriptions: Vec<String>,
    /// Outstanding deliveries by ack id.
    leases: SyncMutex<HashMap<String, Lease>>,
    /// Why the last attempt to open a stream failed; cleared when one opens.
    stream_error: SyncMutex<Option<BackendError>>,
    /// The streams open now, of every subscription: a receive reports `stream_error` only
    /// when there is none.
    open_streams: AtomicUsize,
    settings: SubscribeSettings,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    received: Instant,
    expires: Instant,
}

/// How often an open stream sends a keep-alive request.
const KEEPALIVE: Duration = Duration::from_secs(30);
/// Backoff between reconnections: from 100 ms, doubling, at most 10 s, with jitter.
const RECONNECT: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
/// A stream that stayed open this long was healthy: the next failure starts the backoff anew.
const HEALTHY_STREAM: Duration = Duration::from_secs(10);
/// ModifyAckDeadline and Acknowledge take at most this many ack ids.
const MAX_ACK_IDS: usize = 1000;
/// Pub/Sub's limit on a request or response (10 MiB).
const MAX_GRPC_MESSAGE: usize = 10 * 1024 * 1024;

impl PubSubSource {
    /// Streams from the subscriptions `ids` of `gcp`'s project (Hedwig names:
    /// [`Gcp::source`]). Fails if one does not exist.
    pub async fn open(gcp: &Gcp, ids: &[String], settings: SubscribeSettings) -> Result<Self, BackendError> {
        Self::open_with_dead_letters(gcp, ids, settings, None).await
    }

    /// As [`PubSubSource::open`], dead-lettering to the topic `dead_letter_topic` (full name).
    pub(super) async fn open_with_dead_letters(
        gcp: &Gcp,
        ids: &[String],
        settings: SubscribeSettings,
        dead_letter_topic: Option<String>,
    ) -> Result<Self, BackendError> {
        let client = gcp.subscriber.clone();
        let subscriptions: Vec<String> = ids.iter().map(|id| gcp.layout.subscription_path(id)).collect();
        for subscription in &subscriptions {
            let request = GetSubscriptionRequest { subscription: subscription.clone() };
            call("Pub/Sub GetSubscription", client.get_subscription(request, None), || not_found(subscription)).await?;
        }
        let shared = Arc::new(Shared {
            client,
            streams: gcp.streams.clone(),
            subscriptions,
            leases: SyncMutex::default(),
            stream_error: SyncMutex::default(),
            open_streams: AtomicUsize::new(0),
            settings,
        });
        let (sender, buffer) = mpsc::channel(settings.max_outstanding_messages.max(1));
        let (stop, stopped) = watch::channel(());
        for index in 0..shared.subscriptions.len() {
            for _ in 0..settings.streams.max(1) {
                tokio::spawn(pull(shared.clone(), index, sender.clone(), stopped.clone()));
            }
        }
        let renew = tokio::spawn(renew_leases(Arc::downgrade(&shared)));
        let dead_letters = dead_letter_topic.map(|topic| (gcp.sink(), topic));
        let buffer = Mutex::new(buffer);
        let acks = shared
            .subscriptions
            .iter()
            .map(|subscription| AckGroups::new(MAX_ACK_IDS, acknowledge(shared.client.clone(), subscription.clone())))
            .collect();
        let inner = Inner { shared, buffer, wait: settings.wait, renew, _stop: stop, dead_letters, acks };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The full names of the subscriptions streamed from.
    pub fn subscriptions(&self) -> &[String] {
        &self.inner.shared.subscriptions
    }

    /// The subscription (its index and name) and the Pub/Sub ack id behind a delivery's ack id.
    fn locate<'a>(&self, ack_id: &'a str) -> Result<(usize, &str, &'a str), BackendError> {
        split_ack_id(ack_id)
            .and_then(|(index, id)| Some((index, self.inner.shared.subscriptions.get(index)?.as_str(), id)))
            .ok_or_else(|| BackendError::InvalidAckId { ack_id: ack_id.to_owned() })
    }

    /// Sets the deadline of one delivery, which the source stops renewing.
    async fn settle_with_deadline(&self, ack_id: &str, deadline: Duration) -> Result<(), BackendError> {
        let (_, subscription, id) = self.locate(ack_id)?;
        self.inner.shared.forget(ack_id);
        modify_deadlines(&self.inner.shared.client, subscription, vec![id.to_owned()], deadline).await
    }
}

/// One `Acknowledge` of a group of `subscription`'s ack ids: one result for all of them.
fn acknowledge(client: SubscriberClient, subscription: String) -> SendGroup {
    Arc::new(move |ack_ids: Vec<String>| {
        let (client, subscription) = (client.clone(), subscription.clone());
        Box::pin(async move {
            let count = ack_ids.len();
            let request = AcknowledgeRequest { subscription: subscription.clone(), ack_ids };
            let result = call("Pub/Sub Acknowledge", client.acknowledge(request, None), || not_found(&subscription))
                .await
                .map(drop);
            vec![result; count]
        })
    })
}

/// `<subscription index>:<Pub/Sub ack id>`.
fn split_ack_id(ack_id: &str) -> Option<(usize, &str)> {
    let (index, id) = ack_id.split_once(':')?;
    Some((index.parse().ok()?, id))
}

impl Shared {
    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, ack_id: &str) {
        self.leases().remove(ack_id);
    }

    fn set_stream_error(&self, error: Option<BackendError>) {
        *self.stream_error.lock().unwrap_or_else(PoisonError::into_inner) = error;
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
    /// Waits up to [`SubscribeSettings::wait`] for a delivery; while no stream is open and
    /// the last attempt to open one failed, a receive that finds nothing returns why.
    fn receive(&self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, BackendError>> {
        Box::pin(async move {
            let mut buffer = self.inner.buffer.lock().await;
            let first = match tokio::time::timeout(self.inner.wait, buffer.recv()).await {
                Ok(Some(first)) => first,
                Ok(None) => return Err(BackendError::Unavailable { reason: "the Pub/Sub streams stopped".into() }),
                Err(_) => {
                    let shared = &self.inner.shared;
                    if shared.open_streams.load(Ordering::SeqCst) > 0 {
                        return Ok(Vec::new());
                    }
                    let error = shared.stream_error.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    return error.map_or(Ok(Vec::new()), Err);
                }
            };
            let mut deliveries = vec![first];
            while deliveries.len() < max
                && let Ok(delivery) = buffer.try_recv()
            {
                deliveries.push(delivery);
            }
            Ok(deliveries)
        })
    }

    /// Grouped with the subscription's acks that arrive while a request is out: one
    /// `Acknowledge` settles many under load; an ack alone goes at once.
    fn ack<'a>(&'a self, ack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (index, _, id) = self.locate(ack_id)?;
            self.inner.shared.forget(ack_id);
            self.inner.acks[index].ack(id).await
        })
    }

    /// Sets the ack deadline to `delay` (at most 600 s): redelivery after the delay, at once
    /// when zero.
    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.settle_with_deadline(ack_id, delay))
    }

    /// ModifyAckDeadline to `by` from now (rounded up to seconds, at most 600 s); the source
    /// renews the lease again only once this extension is about to run out.
    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (_, subscription, id) = self.locate(ack_id)?;
            modify_deadlines(&self.inner.shared.client, subscription, vec![id.to_owned()], by).await?;
            if let Some(lease) = self.inner.shared.leases().get_mut(ack_id) {
                lease.expires = Instant::now() + by.min(MAX_ACK_DEADLINE);
            }
            Ok(())
        })
    }

    /// Publishes the message to the queue's dead-letter topic `hedwig-<QUEUE>-dlq`. Only
    /// sources from [`Gcp::source`] know that topic.
    fn dead_letter<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let Some((publisher, topic)) = &self.inner.dead_letters else {
                return Err(BackendError::Rejected {
                    reason: "this source was opened without a dead-letter topic".into(),
                });
            };
            publisher.publish(topic, &delivery.message).await?;
            Ok(())
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.renew.abort();
        // Hand back what was received but never given out, so it is redelivered at once.
        let mut unclaimed: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let buffer = self.buffer.get_mut();
        buffer.close();
        while let Ok(delivery) = buffer.try_recv() {
            if let Some((index, id)) = split_ack_id(&delivery.ack_id) {
                unclaimed.entry(index).or_default().push(id.to_owned());
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        for (index, ack_ids) in unclaimed {
            let shared = self.shared.clone();
            runtime.spawn(async move { hand_back(&shared, index, ack_ids).await });
        }
    }
}

/// Keeps one subscription's stream open, reopening it with backoff, until the source is
/// dropped (`stopped` then changes) or its buffer closes; then closes the stream.
async fn pull(shared: Arc<Shared>, index: usize, buffer: mpsc::Sender<Delivery>, mut stopped: watch::Receiver<()>) {
    let subscription = &shared.subscriptions[index];
    let settings = shared.settings;
    let client_id = uuid::Uuid::new_v4().to_string();
    let mut failures = 0u32;
    loop {
        let first = StreamingPullRequest {
            subscription: subscription.clone(),
            stream_ack_deadline_seconds: deadline_secs(settings.ack_deadline()),
            client_id: client_id.clone(),
            max_outstanding_messages: settings.max_outstanding_messages as i64,
            max_outstanding_bytes: settings.max_outstanding_bytes as i64,
            ..Default::default()
        };
        let opened_at = Instant::now();
        let (requests, sent) = mpsc::channel(1);
        let _ = requests.try_send(first);
        // No time limit on opening: a gRPC server may send the response headers only with
        // the first message. A dead connection is found by HTTP/2 keep-alive (`Gcp::connect`).
        let mut opening = std::pin::pin!(open_stream(&shared.streams, subscription, sent));
        let stream = tokio::select! {
            stream = &mut opening => stream,
            _ = stopped.changed() => {
                drop(requests);
                if let Ok(Ok(stream)) = tokio::time::timeout(CLOSE_GRACE, opening).await {
                    close_stream(&shared, index, stream).await;
                }
                return;
            }
        };
        match stream {
            Ok(stream) => {
                tracing::debug!(%subscription, %client_id, "StreamingPull stream open");
                shared.set_stream_error(None);
                shared.open_streams.fetch_add(1, Ordering::SeqCst);
                let read = read(&shared, index, stream, requests, &buffer, &mut stopped).await;
                shared.open_streams.fetch_sub(1, Ordering::SeqCst);
                if let Read::Stopped = read {
                    return;
                }
            }
            Err(status) => {
                let error = status_error("Pub/Sub StreamingPull", &status, || not_found(subscription));
                tracing::warn!(%subscription, %error, "cannot open the stream; retrying");
                shared.set_stream_error(Some(error));
            }
        }
        if opened_at.elapsed() >= HEALTHY_STREAM {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(RECONNECT.delay(failures)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// How reading a stream ended.
enum Read {
    /// The stream ended or failed: open another.
    Reopen,
    /// The source was dropped and the stream closed.
    Stopped,
}

/// Hands `stream`'s messages to `buffer`, sending a keep-alive request every [`KEEPALIVE`],
/// until the stream ends or the source is dropped.
async fn read(
    shared: &Shared,
    index: usize,
    mut stream: Streaming<StreamingPullResponse>,
    requests: mpsc::Sender<StreamingPullRequest>,
    buffer: &mpsc::Sender<Delivery>,
    stopped: &mut watch::Receiver<()>,
) -> Read {
    let subscription = &shared.subscriptions[index];
    let mut keepalive = tokio::time::interval_at(Instant::now() + KEEPALIVE, KEEPALIVE);
    'reading: loop {
        let response = tokio::select! {
            response = stream.message() => response,
            _ = keepalive.tick() => {
                // A full channel means the last keep-alive is still unsent: enough.
                let _ = requests.try_send(StreamingPullRequest::default());
                continue;
            }
            _ = stopped.changed() => break 'reading,
        };
        match response {
            Ok(Some(response)) => {
                // Every lease counts from arrival, so those waiting for room in the buffer are
                // renewed too (several streams may have more out than the buffer holds).
                let received = response.received_messages.into_iter();
                let mut deliveries = received.map(|m| delivery(shared, index, m)).collect::<Vec<_>>().into_iter();
                while let Some(next) = deliveries.next() {
                    if let Err(unsent) = buffer.send(next).await {
                        // The source is gone: hand back what it will not take, then close.
                        let unsent = std::iter::once(unsent.0).chain(deliveries).filter_map(|delivery| {
                            shared.forget(&delivery.ack_id);
                            split_ack_id(&delivery.ack_id).map(|(_, id)| id.to_owned())
                        });
                        hand_back(shared, index, unsent.collect()).await;
                        break 'reading;
                    }
                }
            }
            Ok(None) => return Read::Reopen,
            Err(status) => {
                let error = status_error("Pub/Sub StreamingPull", &status, || not_found(subscription));
                tracing::warn!(%subscription, %error, "stream ended; reopening");
                return Read::Reopen;
            }
        }
    }
    drop(requests);
    close_stream(shared, index, stream).await;
    Read::Stopped
}

/// How long a closing stream may take to end before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Closes a stream whose requests have ended: waits (at most [`CLOSE_GRACE`]) for the server
/// to end it, handing back at once whatever still arrives. A stream ended this way is closed
/// on both sides; one merely dropped is reset, and the Pub/Sub emulator (0.8.20) fails on the
/// reset (`NoSuchMethodError` in its log) and keeps the stream, handing it messages that then
/// wait for their lease to run out.
async fn close_stream(shared: &Shared, index: usize, mut stream: Streaming<StreamingPullResponse>) {
    let drain = async {
        while let Ok(Some(response)) = stream.message().await {
            let ack_ids = response.received_messages.into_iter().map(|m| m.ack_id).collect();
            hand_back(shared, index, ack_ids).await;
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, drain).await;
}

/// Sets the deadline of `ack_ids` (Pub/Sub's) to zero, for redelivery at once.
async fn hand_back(shared: &Shared, index: usize, ack_ids: Vec<String>) {
    if ack_ids.is_empty() {
        return;
    }
    let subscription = &shared.subscriptions[index];
    for chunk in ack_ids.chunks(MAX_ACK_IDS) {
        if let Err(error) = modify_deadlines(&shared.client, subscription, chunk.to_vec(), Duration::ZERO).await {
            tracing::warn!(%subscription, %error, "cannot hand back deliveries; they come back when their lease runs out");
        }
    }
}

/// Opens a StreamingPull on `subscription` whose requests are what `requests` receives: the
/// requests end, and so does the stream, once their sender is dropped.
async fn open_stream(
    connections: &ConnectionManager,
    subscription: &str,
    requests: mpsc::Receiver<StreamingPullRequest>,
) -> Result<Streaming<StreamingPullResponse>, Status> {
    let mut request = Request::new(ReceiverStream::new(requests));
    if let Ok(params) = format!("subscription={subscription}").parse() {
        request.metadata_mut().insert("x-goog-request-params", params);
    }
    let mut client = StreamingClient::new(connections.conn())
        .max_decoding_message_size(MAX_GRPC_MESSAGE)
        .max_encoding_message_size(MAX_GRPC_MESSAGE);
    client.streaming_pull(request).await.map(|response| response.into_inner())
}

/// A received message as a delivery, with its lease recorded.
fn delivery(shared: &Shared, index: usize, received: ReceivedMessage) -> Delivery {
    let message = received.message.unwrap_or_default();
    let publish_time = message.publish_time.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
    let ack_id = format!("{index}:{}", received.ack_id);
    let now = Instant::now();
    shared.leases().insert(ack_id.clone(), Lease { received: now, expires: now + shared.settings.ack_deadline() });
    Delivery {
        ack_id,
        message: WireMessage { body: message.data, attributes: message.attributes.into_iter().collect() },
        provider: ProviderMetadata::Gcp {
            ack_id: received.ack_id,
            subscription: shared.subscriptions[index].clone(),
            message_id: message.message_id,
            publish_time,
            delivery_attempt: u32::try_from(received.delivery_attempt).ok().filter(|n| *n > 0),
        },
        lease: None,
        origin: None,
    }
}

/// Renews, every third of the ack deadline, the leases that would run out before the next
/// round; leases older than `max_lease` are left to run out. Ends with the source.
async fn renew_leases(shared: std::sync::Weak<Shared>) {
    loop {
        let Some(period) = shared.upgrade().map(|s| s.settings.ack_deadline() / 3) else { return };
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else { return };
        let deadline = shared.settings.ack_deadline();
        let now = Instant::now();
        let mut due: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        shared.leases().retain(|ack_id, lease| {
            if now.duration_since(lease.received) >= shared.settings.max_lease {
                return false;
            }
            if lease.expires <= now + 2 * period
                && let Some((index, id)) = split_ack_id(ack_id)
            {
                due.entry(index).or_default().push(id.to_owned());
                lease.expires = now + deadline;
            }
            true
        });
        for (index, ack_ids) in due {
            for chunk in ack_ids.chunks(MAX_ACK_IDS) {
                let subscription = &shared.subscriptions[index];
                if let Err(error) = modify_deadlines(&shared.client, subscription, chunk.to_vec(), deadline).await {
                    tracing::warn!(%subscription, %error, count = chunk.len(), "cannot renew leases");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_ids_keep_everything_after_the_first_colon() {
        assert_eq!(split_ack_id("2:abc:def"), Some((2, "abc:def")));
        assert_eq!(split_ack_id("x:abc"), None);
        assert_eq!(split_ack_id("abc"), None);
    }
}
