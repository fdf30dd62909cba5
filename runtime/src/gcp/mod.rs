//! Google Cloud Pub/Sub: publish to topics, consume with streaming pull (feature `gcp`).
//!
//! The layout ([`GcpLayout`], names from the protocol's [`Naming`], Hedwig's by default),
//! in the project of a [`Gcp`] handle:
//! * topic `hedwig-<topic>` for every message topic;
//! * subscription `hedwig-<QUEUE>-<topic>` of a consuming service on each topic it consumes
//!   (`hedwig-<QUEUE>-<project>-<topic>` for a topic of another project);
//! * topic and subscription `hedwig-<QUEUE>`, where re-queued dead letters go;
//! * topic and subscription `hedwig-<QUEUE>-dlq`, the dead-letter queue, filled by the
//!   subscriptions' dead-letter policy.
//!
//! [`Gcp`] makes the [`PubSubSink`] and [`PubSubSource`]s and is the
//! [`Broker`](crate::Broker) that provisions and re-queues.
//!
//! `PUBSUB_EMULATOR_HOST` (or [`GcpSettings::emulator_host`]) selects the emulator, with no
//! credentials; otherwise Google's application default credentials are used.

mod layout;
mod provision;
mod publish;
mod schedule;
mod subscribe;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gcloud_gax::conn::{ConnectionOptions, Environment};
use gcloud_gax::grpc::{Code, Status};
use gcloud_pubsub::apiv1::conn_pool::ConnectionManager;
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;
use gcloud_pubsub::client::{Client, ClientConfig};

pub use layout::GcpLayout;
pub use publish::{BatchSettings, PubSubSink};
pub use subscribe::{PubSubSource, SubscribeSettings};

use crate::backend::BackendError;
use crate::layout::{ConsumedTopic, Naming};

/// Pub/Sub's limit on a message: data plus attribute names and values (10 MB).
pub const MAX_MESSAGE_BYTES: usize = 10_000_000;
/// Pub/Sub's limit on attributes per message.
pub const MAX_ATTRIBUTES: usize = 100;
/// Pub/Sub's limit on an attribute name, in bytes.
pub const MAX_ATTRIBUTE_KEY_BYTES: usize = 256;
/// Pub/Sub's limit on an attribute value, in bytes.
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// Pub/Sub's limit on messages in one publish request.
pub const MAX_BATCH: usize = 1000;
/// Pub/Sub's longest ack deadline (lease).
pub const MAX_ACK_DEADLINE: Duration = Duration::from_secs(600);

/// How long one unary call may take, retries included, before it counts as unavailable.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Explicit settings for [`Gcp::connect`].
#[derive(Debug, Clone, Default)]
pub struct GcpSettings {
    /// The project of the topics and subscriptions.
    pub project_id: String,
    /// `host:port` of a Pub/Sub emulator (otherwise `PUBSUB_EMULATOR_HOST`, otherwise Google).
    pub emulator_host: Option<String>,
}

/// A connection to Pub/Sub for one project: makes publishers and sources, provisions.
#[derive(Clone)]
pub struct Gcp {
    layout: GcpLayout,
    /// Publishing and topic administration.
    client: Client,
    /// Raw subscriber calls (Acknowledge, ModifyAckDeadline, subscriptions).
    subscriber: SubscriberClient,
    /// The connections StreamingPull streams run on. gcloud-pubsub's own `streaming_pull`
    /// sends keep-alive requests forever, so a stream it opened is never closed from this
    /// side: a dropped source would leave the server a stream that takes messages and never
    /// reads them. [`PubSubSource`] opens its streams here, with requests it ends.
    streams: Arc<ConnectionManager>,
}

impl fmt::Debug for Gcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gcp").field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl Gcp {
    /// Connects to the emulator named by `PUBSUB_EMULATOR_HOST`, or else to Google with the
    /// application default credentials.
    pub async fn from_env(project_id: impl Into<String>) -> Result<Self, BackendError> {
        Self::connect(GcpSettings { project_id: project_id.into(), emulator_host: None }).await
    }

    /// Connects with explicit settings. Fails with a retryable
    /// [`BackendError::Unavailable`] when the endpoint cannot be reached within 5 s.
    pub async fn connect(settings: GcpSettings) -> Result<Self, BackendError> {
        let emulator = settings.emulator_host.or_else(|| std::env::var("PUBSUB_EMULATOR_HOST").ok());
        let environment = match emulator {
            Some(host) => Environment::Emulator(host),
            None => google_credentials().await?,
        };
        let config = ClientConfig {
            project_id: Some(settings.project_id.clone()),
            environment,
            // HTTP/2 pings find a dead connection under an idle StreamingPull stream.
            connection_option: ConnectionOptions {
                connect_timeout: Some(CONNECT_TIMEOUT),
                http2_keep_alive_interval: Some(Duration::from_secs(30)),
                keep_alive_timeout: Some(Duration::from_secs(10)),
                keep_alive_while_idle: Some(true),
                ..ConnectionOptions::default()
            },
            ..ClientConfig::default()
        };
        let connect = async {
            let streams = ConnectionManager::new(
                config.pool_size,
                &config.endpoint,
                &config.environment,
                &config.connection_option,
            )
            .await?;
            Ok::<_, gcloud_pubsub::client::Error>((Client::new(config).await?, streams))
        };
        let (client, streams) = match tokio::time::timeout(CONNECT_TIMEOUT * 2, connect).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => return Err(unavailable(format!("cannot connect to Pub/Sub: {e}"))),
            Err(_) => return Err(unavailable("cannot connect to Pub/Sub: timed out".into())),
        };
        // gcloud-pubsub hands out its raw subscriber client only through a subscription handle.
        let subscriber = client.subscription("-").get_client();
        Ok(Self { layout: GcpLayout::new(settings.project_id), client, subscriber, streams: Arc::new(streams) })
    }

    /// The project of this handle.
    pub fn project_id(&self) -> &str {
        self.layout.project_id()
    }

    /// Names resources with `naming` instead of Hedwig's.
    pub fn with_naming(mut self, naming: &'static dyn Naming) -> Self {
        self.layout = self.layout.with_naming(naming);
        self
    }

    /// The names of this project's resources.
    pub fn layout(&self) -> &GcpLayout {
        &self.layout
    }

    /// The sink publishing to Pub/Sub topics, with the default [`BatchSettings`].
    pub fn sink(&self) -> PubSubSink {
        PubSubSink::new(self.clone())
    }

    /// The consumer's source streaming from the subscriptions of service queue `queue`:
    /// `hedwig-<QUEUE>-<topic>` for each consumed topic, and `hedwig-<QUEUE>` (re-queued
    /// dead letters); it dead-letters to the topic `hedwig-<QUEUE>-dlq`. Fails if a
    /// subscription does not exist.
    pub async fn source(
        &self,
        queue: &str,
        consumes: &[ConsumedTopic],
        settings: SubscribeSettings,
    ) -> Result<PubSubSource, BackendError> {
        let mut ids: Vec<String> = consumes.iter().map(|topic| self.layout.subscription_id(queue, topic)).collect();
        ids.push(self.layout.queue_topic_id(queue));
        // Taskhawk's queue subscription is its topic's subscription: one stream each.
        let mut seen = std::collections::BTreeSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        let dead_letters = self.layout.dead_letter_topic_path(queue);
        PubSubSource::open_with_dead_letters(self, &ids, settings, Some(dead_letters)).await
    }
}

async fn google_credentials() -> Result<Environment, BackendError> {
    let config = ClientConfig { project_id: Some(String::new()), ..ClientConfig::default() };
    match tokio::time::timeout(RPC_TIMEOUT, config.with_auth()).await {
        Ok(Ok(config)) => Ok(config.environment),
        Ok(Err(e)) => Err(BackendError::Rejected { reason: format!("Google credentials: {e}") }),
        Err(_) => Err(unavailable("Google credentials: no answer".into())),
    }
}

fn unavailable(reason: String) -> BackendError {
    BackendError::Unavailable { reason }
}

/// Runs one call with a time limit and maps its failure; `missing` is the error for "not
/// found". A timeout is a retryable [`BackendError::Unavailable`].
async fn call<T>(
    operation: &str,
    future: impl Future<Output = Result<T, Status>>,
    missing: impl FnOnce() -> BackendError,
) -> Result<T, BackendError> {
    match tokio::time::timeout(RPC_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(status)) => Err(status_error(operation, &status, missing)),
        Err(_) => Err(unavailable(format!("{operation}: no answer within {}s", RPC_TIMEOUT.as_secs()))),
    }
}

fn status_error(operation: &str, status: &Status, missing: impl FnOnce() -> BackendError) -> BackendError {
    let reason = format!("{operation}: {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::NotFound => missing(),
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Internal
        | Code::Unknown
        | Code::Cancelled => unavailable(reason),
        _ => BackendError::Rejected { reason },
    }
}

/// Whole seconds for an ack deadline: rounded up, at most 600.
fn deadline_secs(duration: Duration) -> i32 {
    let secs = duration.as_secs().saturating_add(u64::from(duration.subsec_nanos() > 0));
    secs.min(MAX_ACK_DEADLINE.as_secs()) as i32
}
