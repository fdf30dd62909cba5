//! Creating a service's topics, queues and subscriptions, idempotently, and moving dead
//! letters back: [`Aws`] as a [`Broker`].

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{Aws, sdk_error, secs};
use crate::backend::{BackendError, BoxFuture, Requeued};
use crate::cadence::ScheduledMessage;
use crate::layout::{Broker, Layout, Provisioning, Rescheduled};

/// SQS's visibility timeout of a provisioned queue: the provisioning's lease, else 30 s.
pub(super) fn visibility_timeout(provisioning: &Provisioning) -> Duration {
    provisioning.lease.unwrap_or(Duration::from_secs(30))
}

/// Creates (or leaves as they are) the topics, the queue and its dead-letter queue with a
/// redrive policy, a queue policy letting the topics deliver, and the subscriptions; moves
/// dead letters back with SQS batches. Usable against real AWS.
impl Broker for Aws {
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
        Box::pin(async move { self.source(queue).await?.move_dead_letters(progress).await })
    }

    /// EventBridge Scheduler schedules in the group `taskhawk-<group>`, sending to the SQS
    /// queues directly as the role of [`Aws::with_scheduler_role`].
    fn schedule<'a>(
        &'a self,
        group: &'a str,
        schedules: &'a [ScheduledMessage],
    ) -> BoxFuture<'a, Result<Rescheduled, BackendError>> {
        Box::pin(self.reschedule(group, schedules))
    }
}

impl Aws {
    async fn create_resources(&self, plan: &Provisioning) -> Result<(), BackendError> {
        let (sns, sqs, layout) = (self.sns(), self.sqs(), &self.layout);
        let mut created = std::collections::BTreeMap::new();
        for topic in plan.owned_topics() {
            let output = sns.create_topic().name(layout.topic_name(topic)).send().await.map_err(|e| {
                sdk_error("SNS CreateTopic", e, || BackendError::TopicNotFound { topic: topic.to_owned() })
            })?;
            created.insert(topic, output.topic_arn.unwrap_or_else(|| layout.topic_arn(topic)));
        }
        // The ARN SNS gave an owned topic; another account's is built from its owner.
        let topic_arns: Vec<String> = plan
            .consumes
            .iter()
            .map(|c| match (&c.owner, created.get(c.topic.as_str())) {
                (None, Some(arn)) => arn.clone(),
                _ => layout.consumed_topic_arn(c),
            })
            .collect();
        let (_, dlq_arn) = self.create_queue(&sqs, &layout.dead_letter_queue_name(&plan.queue)).await?;
        let (queue_url, queue_arn) = self.create_queue(&sqs, &layout.queue_name(&plan.queue)).await?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": plan.max_deliveries.to_string()});
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}}
            }]
        });
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(QueueAttributeName::VisibilityTimeout, secs(visibility_timeout(plan)).to_string())
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| sdk_error("SQS SetQueueAttributes", e, || queue_missing(&queue_url)))?;
        for topic_arn in &topic_arns {
            sns.subscribe()
                .topic_arn(topic_arn)
                .protocol("sqs")
                .endpoint(&queue_arn)
                .attributes("RawMessageDelivery", plan.raw_delivery.to_string())
                .send()
                .await
                .map_err(|e| {
                    sdk_error("SNS Subscribe", e, || BackendError::TopicNotFound { topic: topic_arn.clone() })
                })?;
        }
        Ok(())
    }

    /// Creates a queue (no-op if it exists) and returns its URL and ARN.
    async fn create_queue(&self, sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String), BackendError> {
        let created = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("SQS CreateQueue", e, || queue_missing(name)))?;
        let url = created.queue_url.ok_or_else(|| queue_missing(name))?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sdk_error("SQS GetQueueAttributes", e, || queue_missing(name)))?;
        let arn = attributes
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| queue_missing(name))?;
        Ok((url, arn))
    }
}

fn queue_missing(queue: &str) -> BackendError {
    BackendError::QueueNotFound { queue: queue.to_owned() }
}
