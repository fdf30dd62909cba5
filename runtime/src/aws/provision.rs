//! Creating the Hedwig layout of topics, queues and subscriptions, idempotently.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;

use super::{Aws, dead_letter_queue_name, queue_name, sdk_error, secs};
use crate::backend::BackendError;

/// What a service publishes and consumes.
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// The service's queue name (`HEDWIG-<queue>`, with `HEDWIG-<queue>-DLQ`).
    pub queue: String,
    /// Topics the queue subscribes to.
    pub consumes: Vec<String>,
    /// Raw message delivery on those subscriptions (default, and what Hedwig expects);
    /// without it SQS bodies are SNS's JSON envelope, which owlpost also reads.
    pub raw_delivery: bool,
    /// Topics the service publishes to (created, not subscribed).
    pub publishes: Vec<String>,
    /// Receives after which SQS moves a message to the dead-letter queue (default 5).
    pub max_receive_count: u32,
    /// The queue's visibility timeout (default 30 s).
    pub visibility_timeout: Duration,
}

impl Provisioning {
    /// A queue consuming nothing yet, with the defaults.
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            consumes: Vec::new(),
            raw_delivery: true,
            publishes: Vec::new(),
            max_receive_count: 5,
            visibility_timeout: Duration::from_secs(30),
        }
    }
}

impl Provisioning {
    /// What [`Aws::provision`] creates, one line per resource (for dry runs).
    pub fn plan(&self) -> Vec<String> {
        let mut plan: Vec<String> =
            self.publishes.iter().chain(&self.consumes).map(|t| format!("SNS topic {}", topic_name(t))).collect();
        let mut seen = std::collections::BTreeSet::new();
        plan.retain(|line| seen.insert(line.clone()));
        plan.push(format!("SQS queue {} (dead-letter queue)", dead_letter_queue_name(&self.queue)));
        plan.push(format!(
            "SQS queue {} (visibility timeout {} s; after {} receives to {})",
            queue_name(&self.queue),
            secs(self.visibility_timeout),
            self.max_receive_count,
            dead_letter_queue_name(&self.queue)
        ));
        for topic in &self.consumes {
            plan.push(format!(
                "SNS subscription {} → {} (raw delivery {})",
                topic_name(topic),
                queue_name(&self.queue),
                if self.raw_delivery { "on" } else { "off" }
            ));
        }
        plan
    }
}

/// The SNS topic of Hedwig topic `topic`: `hedwig-<topic>`.
pub fn topic_name(topic: &str) -> String {
    format!("hedwig-{topic}")
}

impl Aws {
    /// Creates (or leaves as they are) the topics, the queue and its dead-letter queue with
    /// a redrive policy, a queue policy letting the topics deliver, and raw-delivery
    /// subscriptions. Safe to run again; usable against real AWS.
    pub async fn provision(&self, plan: &Provisioning) -> Result<(), BackendError> {
        let (sns, sqs) = (self.sns(), self.sqs());
        let mut topic_arns = Vec::new();
        for topic in plan.publishes.iter().chain(&plan.consumes) {
            let created = sns.create_topic().name(topic_name(topic)).send().await.map_err(|e| {
                sdk_error("SNS CreateTopic", e, || BackendError::TopicNotFound { topic: topic.clone() })
            })?;
            if plan.consumes.contains(topic) {
                topic_arns.push(created.topic_arn.unwrap_or_else(|| self.topic_arn(topic)));
            }
        }
        let (_, dlq_arn) = self.create_queue(&sqs, &dead_letter_queue_name(&plan.queue)).await?;
        let (queue_url, queue_arn) = self.create_queue(&sqs, &queue_name(&plan.queue)).await?;
        let redrive =
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": plan.max_receive_count.to_string()});
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
            .attributes(QueueAttributeName::VisibilityTimeout, secs(plan.visibility_timeout).to_string())
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
