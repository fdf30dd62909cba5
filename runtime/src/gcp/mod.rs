//! Google Cloud Pub/Sub: publish to topics, consume with streaming pull (feature `gcp`).
//!
//! Hedwig's Pub/Sub layout, in the project of a [`Gcp`] handle:
//! * topic `hedwig-<topic>` for every message topic;
//! * subscription `hedwig-<QUEUE>-<topic>` of a consuming service on each topic it consumes
//!   (`hedwig-<QUEUE>-<project>-<topic>` for a topic of another project);
//! * topic and subscription `hedwig-<QUEUE>`, where re-queued dead letters go;
//! * topic and subscription `hedwig-<QUEUE>-dlq`, the dead-letter queue, filled by the
//!   subscriptions' dead-letter policy.
//!
//! `PUBSUB_EMULATOR_HOST` (or [`GcpSettings::emulator_host`]) selects the emulator, with no
//! credentials; otherwise Google's application default credentials are used.

mod provision;
mod publish;
mod subscribe;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use gcloud_gax::conn::{ConnectionOptions, Environment};
use gcloud_gax::grpc::{Code, Status};
use gcloud_pubsub::apiv1::subscriber_client::SubscriberClient;
use gcloud_pubsub::client::{Client, ClientConfig};

pub use provision::Provisioning;
pub use publish::{BatchSettings, PubSubPublisher};
pub use subscribe::{PubSubSource, SubscribeSettings};

use crate::backend::BackendError;

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
    project: String,
    /// Publishing and topic administration.
    client: Client,
    /// Raw subscriber calls (StreamingPull, Acknowledge, ModifyAckDeadline, subscriptions).
    subscriber: SubscriberClient,
}

impl fmt::Debug for Gcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gcp").field("project", &self.project).finish_non_exhaustive()
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
        let client = match tokio::time::timeout(CONNECT_TIMEOUT * 2, Client::new(config)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(unavailable(format!("cannot connect to Pub/Sub: {e}"))),
            Err(_) => return Err(unavailable("cannot connect to Pub/Sub: timed out".into())),
        };
        // gcloud-pubsub hands out its raw subscriber client only through a subscription handle.
        let subscriber = client.subscription("-").get_client();
        Ok(Self { project: settings.project_id, client, subscriber })
    }

    /// The project of this handle.
    pub fn project_id(&self) -> &str {
        &self.project
    }

    /// The full name of a Hedwig topic, `projects/<project>/topics/hedwig-<topic>`. A route
    /// that is already a full name (a topic in another project, see [`topic_path`]) is used
    /// as it is.
    pub fn topic_path(&self, topic: &str) -> String {
        if topic.starts_with("projects/") { topic.to_owned() } else { topic_path(&self.project, topic) }
    }

    /// The full name of `queue`'s dead-letter topic, `hedwig-<QUEUE>-dlq`.
    pub fn dead_letter_topic(&self, queue: &str) -> String {
        self.topic_path(&format!("{queue}-dlq"))
    }

    /// The full name of subscription `id` in this project.
    pub fn subscription_path(&self, id: &str) -> String {
        format!("projects/{}/subscriptions/{id}", self.project)
    }

    /// A publish backend sending to Pub/Sub, with the default [`BatchSettings`].
    pub fn publisher(&self) -> PubSubPublisher {
        PubSubPublisher::new(self.clone())
    }

    /// A source streaming from the subscriptions of `queue`: `hedwig-<QUEUE>-<topic>` for
    /// each consumed topic, and `hedwig-<QUEUE>` (re-queued dead letters); it dead-letters
    /// to the topic `hedwig-<QUEUE>-dlq`. Fails if a subscription does not exist.
    pub async fn consumer_source(
        &self,
        queue: &str,
        consumes: &[ConsumedTopic],
        settings: SubscribeSettings,
    ) -> Result<PubSubSource, BackendError> {
        let mut ids: Vec<String> = consumes.iter().map(|topic| topic.subscription_id(queue)).collect();
        ids.push(queue_name(queue));
        let dead_letters = self.dead_letter_topic(queue);
        PubSubSource::open_with_dead_letters(self, &ids, settings, Some(dead_letters)).await
    }
}

/// The full name of Hedwig topic `topic` in `project`, for routing to another project.
pub fn topic_path(project: &str, topic: &str) -> String {
    format!("projects/{project}/topics/hedwig-{topic}")
}

/// A topic a queue consumes: in the queue's own project, or in another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedTopic {
    /// The Hedwig topic (without `hedwig-`).
    pub topic: String,
    /// The topic's project, when it is not the consumer's.
    pub project: Option<String>,
}

impl ConsumedTopic {
    /// A topic of the consumer's own project.
    pub fn new(topic: impl Into<String>) -> Self {
        Self { topic: topic.into(), project: None }
    }

    /// A topic of another project.
    pub fn in_project(project: impl Into<String>, topic: impl Into<String>) -> Self {
        Self { topic: topic.into(), project: Some(project.into()) }
    }

    /// The subscription of `queue` on this topic: `hedwig-<QUEUE>-<topic>`, or
    /// `hedwig-<QUEUE>-<project>-<topic>` for another project's topic.
    pub fn subscription_id(&self, queue: &str) -> String {
        match &self.project {
            None => format!("hedwig-{queue}-{}", self.topic),
            Some(project) => format!("hedwig-{queue}-{project}-{}", self.topic),
        }
    }

    fn path(&self, own_project: &str) -> String {
        topic_path(self.project.as_deref().unwrap_or(own_project), &self.topic)
    }
}

impl From<&str> for ConsumedTopic {
    fn from(topic: &str) -> Self {
        Self::new(topic)
    }
}

/// `hedwig-<QUEUE>`: the queue's own topic and subscription (re-queued messages).
pub fn queue_name(queue: &str) -> String {
    format!("hedwig-{queue}")
}

/// `hedwig-<QUEUE>-dlq`: the dead-letter topic and subscription.
pub fn dead_letter_name(queue: &str) -> String {
    format!("hedwig-{queue}-dlq")
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
