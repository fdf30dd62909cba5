//! Creating the Hedwig layout of topics and subscriptions, idempotently, and moving dead
//! letters back.

use std::time::Duration;

use gcloud_gax::grpc::{Code, Status};
use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, DeadLetterPolicy, PubsubMessage, PullRequest, ReceivedMessage, Subscription,
};

use super::publish::{MAX_REQUEST_BYTES, TopicClient, message_size};
use super::{
    ConsumedTopic, Gcp, MAX_BATCH, call, dead_letter_name, deadline_secs, queue_name, subscribe::SubscribeSettings,
    topic_path,
};
use crate::backend::{BackendError, Requeued};

/// What a service publishes and consumes.
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// The service's queue name: subscriptions `hedwig-<queue>-<topic>`, topic and
    /// subscription `hedwig-<queue>` and `hedwig-<queue>-dlq`.
    pub queue: String,
    /// Topics the queue subscribes to; those of the own project are created if missing.
    pub consumes: Vec<ConsumedTopic>,
    /// Topics the service publishes to (created, not subscribed).
    pub publishes: Vec<String>,
    /// Deliveries after which Pub/Sub moves a message to `hedwig-<queue>-dlq` (default 5;
    /// Pub/Sub allows 5 to 100).
    pub max_delivery_attempts: u32,
    /// The subscriptions' ack deadline (default 60 s, 10 to 600 s).
    pub ack_deadline: Duration,
}

impl Provisioning {
    /// A queue consuming nothing yet, with the defaults.
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            consumes: Vec::new(),
            publishes: Vec::new(),
            max_delivery_attempts: 5,
            ack_deadline: SubscribeSettings::default().ack_deadline,
        }
    }
}

impl Provisioning {
    /// What [`Gcp::provision`] creates in `project`, one line per resource (for dry runs).
    pub fn plan(&self, project: &str) -> Vec<String> {
        let own = self.consumes.iter().filter(|c| c.project.is_none()).map(|c| c.topic.as_str());
        let mut plan: Vec<String> = self
            .publishes
            .iter()
            .map(String::as_str)
            .chain(own)
            .map(|t| format!("topic {}", topic_path(project, t)))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        plan.retain(|line| seen.insert(line.clone()));
        let dead_letters = topic_path(project, &format!("{}-dlq", self.queue));
        plan.push(format!("topic {}", topic_path(project, &self.queue)));
        plan.push(format!("topic {dead_letters}"));
        let subscription = |id: &str, topic: &str, dead_letter: bool| {
            let policy = if dead_letter {
                format!("; after {} deliveries to {dead_letters}", self.max_delivery_attempts.clamp(5, 100))
            } else {
                String::new()
            };
            format!(
                "subscription projects/{project}/subscriptions/{id} on {topic} (ack deadline {} s{policy})",
                deadline_secs(self.ack_deadline.max(Duration::from_secs(10)))
            )
        };
        plan.push(subscription(&dead_letter_name(&self.queue), &dead_letters, false));
        plan.push(subscription(&queue_name(&self.queue), &topic_path(project, &self.queue), true));
        for consumed in &self.consumes {
            plan.push(subscription(&consumed.subscription_id(&self.queue), &consumed.path(project), true));
        }
        plan
    }
}

/// Attributes Pub/Sub adds when it dead-letters a message, dropped when re-queueing.
const DEAD_LETTER_ATTRIBUTE_PREFIX: &str = "CloudPubSubDeadLetterSource";

impl Gcp {
    /// Creates (or leaves as they are) the published and consumed topics of this project,
    /// the queue's topic and subscription, the dead-letter topic and subscription, and a
    /// subscription per consumed topic with a dead-letter policy. Safe to run again; on real
    /// Pub/Sub the service agent also needs publish rights on the dead-letter topic.
    pub async fn provision(&self, plan: &Provisioning) -> Result<(), BackendError> {
        let own = plan.consumes.iter().filter(|c| c.project.is_none()).map(|c| c.topic.as_str());
        for topic in plan.publishes.iter().map(String::as_str).chain(own) {
            self.ensure_topic(&self.topic_path(topic)).await?;
        }
        let dead_letter_topic = self.dead_letter_topic(&plan.queue);
        let queue_topic = self.topic_path(&plan.queue);
        self.ensure_topic(&queue_topic).await?;
        self.ensure_topic(&dead_letter_topic).await?;
        self.ensure_subscription(&dead_letter_name(&plan.queue), &dead_letter_topic, plan, None).await?;
        let policy = DeadLetterPolicy {
            dead_letter_topic,
            max_delivery_attempts: plan.max_delivery_attempts.clamp(5, 100) as i32,
        };
        self.ensure_subscription(&queue_name(&plan.queue), &queue_topic, plan, Some(policy.clone())).await?;
        for consumed in &plan.consumes {
            let id = consumed.subscription_id(&plan.queue);
            self.ensure_subscription(&id, &consumed.path(&self.project), plan, Some(policy.clone())).await?;
        }
        Ok(())
    }

    async fn ensure_topic(&self, name: &str) -> Result<(), BackendError> {
        let missing = || BackendError::TopicNotFound { topic: name.to_owned() };
        call("Pub/Sub CreateTopic", existing_is_fine(self.client.topic(name).create(None, None)), missing).await
    }

    async fn ensure_subscription(
        &self,
        id: &str,
        topic: &str,
        plan: &Provisioning,
        dead_letter_policy: Option<DeadLetterPolicy>,
    ) -> Result<(), BackendError> {
        let subscription = Subscription {
            name: self.subscription_path(id),
            topic: topic.to_owned(),
            ack_deadline_seconds: deadline_secs(plan.ack_deadline.max(Duration::from_secs(10))),
            dead_letter_policy,
            ..Default::default()
        };
        let created = self.subscriber.create_subscription(subscription, None);
        let missing = || BackendError::TopicNotFound { topic: topic.to_owned() };
        call("Pub/Sub CreateSubscription", existing_is_fine(created), missing).await
    }

    /// Moves every message of subscription `hedwig-<QUEUE>-dlq` to topic `hedwig-<QUEUE>`
    /// (data and attributes as they were, without Pub/Sub's dead-letter attributes); each
    /// batch is acknowledged only once it was published (at least once: a crash between
    /// the two leaves a copy in both).
    pub async fn requeue_dead_letters(&self, queue: &str) -> Result<Requeued, BackendError> {
        self.requeue_dead_letters_with_progress(queue, |_| {}).await
    }

    /// [`requeue_dead_letters`](Self::requeue_dead_letters), calling `progress` with the
    /// report so far after every chunk.
    pub async fn requeue_dead_letters_with_progress(
        &self,
        queue: &str,
        mut progress: impl FnMut(&Requeued),
    ) -> Result<Requeued, BackendError> {
        let dead_letters = self.subscription_path(&dead_letter_name(queue));
        let target = self.topic_path(queue);
        let mut report = Requeued::default();
        let publisher = self.topic_client(&target);
        let mut empty_pulls = 0;
        // Pub/Sub may answer an immediate pull with nothing while messages remain: only a
        // few empty answers in a row end the loop.
        while empty_pulls < 3 {
            #[allow(deprecated)]
            let request = PullRequest {
                subscription: dead_letters.clone(),
                max_messages: MAX_BATCH as i32,
                return_immediately: true,
            };
            let missing = || BackendError::QueueNotFound { queue: dead_letters.clone() };
            let pulled = call("Pub/Sub Pull", self.subscriber.pull(request, None), missing).await?.into_inner();
            if pulled.received_messages.is_empty() {
                empty_pulls += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            empty_pulls = 0;
            for chunk in by_request_size(pulled.received_messages) {
                if let Err(error) = self.requeue_chunk(&publisher, &dead_letters, chunk, &mut report).await {
                    // What is left stays in the dead-letter subscription; its lease runs out.
                    report.failed.push(error.to_string());
                    publisher.shutdown().await;
                    return Ok(report);
                }
                progress(&report);
            }
        }
        publisher.shutdown().await;
        Ok(report)
    }
}

impl Gcp {
    /// Publishes one chunk of dead letters to the queue's topic, then acknowledges them.
    async fn requeue_chunk(
        &self,
        publisher: &TopicClient,
        dead_letters: &str,
        chunk: Vec<ReceivedMessage>,
        report: &mut Requeued,
    ) -> Result<(), BackendError> {
        let (ack_ids, messages): (Vec<String>, Vec<PubsubMessage>) = chunk
            .into_iter()
            .map(|received| {
                let mut message = received.message.unwrap_or_default();
                message.attributes.retain(|name, _| !name.starts_with(DEAD_LETTER_ATTRIBUTE_PREFIX));
                (
                    received.ack_id,
                    PubsubMessage { data: message.data, attributes: message.attributes, ..Default::default() },
                )
            })
            .unzip();
        let count = ack_ids.len();
        publisher.publish(messages).await?;
        let request = AcknowledgeRequest { subscription: dead_letters.to_owned(), ack_ids };
        let missing = || BackendError::QueueNotFound { queue: dead_letters.to_owned() };
        match call("Pub/Sub Acknowledge", self.subscriber.acknowledge(request, None), missing).await {
            Ok(_) => report.moved += count,
            Err(error) => {
                report.failed.extend(std::iter::repeat_n(format!("re-queued but not removed: {error}"), count))
            }
        }
        Ok(())
    }
}

/// Splits pulled messages into publish requests of at most [`MAX_REQUEST_BYTES`].
fn by_request_size(messages: Vec<ReceivedMessage>) -> Vec<Vec<ReceivedMessage>> {
    let size = |m: &ReceivedMessage| m.message.as_ref().map_or(0, |m| message_size(&m.data, &m.attributes));
    let mut chunks: Vec<Vec<ReceivedMessage>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let message_size = size(&message);
        match chunks.last_mut() {
            Some(chunk) if bytes + message_size <= MAX_REQUEST_BYTES => chunk.push(message),
            _ => {
                bytes = 0;
                chunks.push(vec![message]);
            }
        }
        bytes += message_size;
    }
    chunks
}

/// A create call whose "already exists" answer means there is nothing to do.
async fn existing_is_fine<T>(created: impl Future<Output = Result<T, Status>>) -> Result<(), Status> {
    match created.await {
        Err(status) if status.code() != Code::AlreadyExists => Err(status),
        _ => Ok(()),
    }
}
