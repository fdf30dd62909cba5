//! Creating a service's topics and subscriptions, idempotently, and moving dead letters
//! back: [`Gcp`] as a [`Broker`].

use std::time::Duration;

use gcloud_gax::grpc::{Code, Status};
use gcloud_googleapis::pubsub::v1::{
    AcknowledgeRequest, DeadLetterPolicy, PubsubMessage, PullRequest, ReceivedMessage, Subscription,
};

use super::layout::{ack_deadline, max_delivery_attempts};
use super::publish::{MAX_REQUEST_BYTES, TopicClient, message_size};
use super::{Gcp, MAX_BATCH, call};
use crate::backend::{BackendError, BoxFuture, Requeued};
use crate::layout::{Broker, Layout, Provisioning};

/// Attributes Pub/Sub adds when it dead-letters a message, dropped when re-queueing.
const DEAD_LETTER_ATTRIBUTE_PREFIX: &str = "CloudPubSubDeadLetterSource";

/// Creates (or leaves as they are) the published and consumed topics of this project, the
/// queue's topic and subscription, the dead-letter topic and subscription, and a
/// subscription per consumed topic with a dead-letter policy (on real Pub/Sub the service
/// agent also needs publish rights on the dead-letter topic); moves dead letters back to
/// the queue's topic, without Pub/Sub's dead-letter attributes.
impl Broker for Gcp {
    fn layout(&self) -> &dyn Layout {
        &self.layout
    }

    fn provision<'a>(&'a self, provisioning: &'a Provisioning) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(self.create_resources(provisioning))
    }

    fn requeue_dead_letters<'a>(
        &'a self,
        queue: &'a str,
        progress: &'a mut (dyn FnMut(&Requeued) + Send),
    ) -> BoxFuture<'a, Result<Requeued, BackendError>> {
        Box::pin(self.move_dead_letters(queue, progress))
    }
}

impl Gcp {
    async fn create_resources(&self, plan: &Provisioning) -> Result<(), BackendError> {
        let layout = &self.layout;
        for topic in plan.owned_topics() {
            self.ensure_topic(&layout.topic_path(topic)).await?;
        }
        let dead_letter_topic = layout.dead_letter_topic_path(&plan.queue);
        let queue_topic = layout.queue_topic_path(&plan.queue);
        self.ensure_topic(&queue_topic).await?;
        self.ensure_topic(&dead_letter_topic).await?;
        self.ensure_subscription(&layout.dead_letter_id(&plan.queue), &dead_letter_topic, plan, None).await?;
        let policy = DeadLetterPolicy { dead_letter_topic, max_delivery_attempts: max_delivery_attempts(plan) };
        let queue_id = layout.queue_topic_id(&plan.queue);
        self.ensure_subscription(&queue_id, &queue_topic, plan, Some(policy.clone())).await?;
        for consumed in &plan.consumes {
            let id = layout.subscription_id(&plan.queue, consumed);
            let topic = layout.consumed_topic_path(consumed);
            self.ensure_subscription(&id, &topic, plan, Some(policy.clone())).await?;
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
            name: self.layout.subscription_path(id),
            topic: topic.to_owned(),
            ack_deadline_seconds: ack_deadline(plan),
            dead_letter_policy,
            ..Default::default()
        };
        let created = self.subscriber.create_subscription(subscription, None);
        let missing = || BackendError::TopicNotFound { topic: topic.to_owned() };
        call("Pub/Sub CreateSubscription", existing_is_fine(created), missing).await
    }

    /// Moves every message of subscription `hedwig-<QUEUE>-dlq` to topic `hedwig-<QUEUE>`
    /// (data and attributes as they were); each batch is acknowledged only once it was
    /// published.
    async fn move_dead_letters(
        &self,
        queue: &str,
        progress: &mut (dyn FnMut(&Requeued) + Send),
    ) -> Result<Requeued, BackendError> {
        let dead_letters = self.layout.subscription_path(&self.layout.dead_letter_id(queue));
        let target = self.layout.queue_topic_path(queue);
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
