//! The names of a service's SNS topics and SQS queues.

use super::secs;
use crate::HedwigNaming;
use crate::cadence::ScheduledMessage;
use crate::layout::{ConsumedTopic, Layout, Naming, Provisioning};

/// Where a service's resources are in one AWS account and region, named by a protocol's
/// [`Naming`] (Hedwig's unless told otherwise).
#[derive(Debug, Clone)]
pub struct AwsLayout {
    naming: &'static dyn Naming,
    region: String,
    account_id: String,
}

impl AwsLayout {
    /// The layout in `region` of account `account_id`, with Hedwig's names.
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Self {
        Self { naming: &HedwigNaming, region: region.into(), account_id: account_id.into() }
    }

    /// Names resources with `naming`.
    pub fn with_naming(mut self, naming: &'static dyn Naming) -> Self {
        self.naming = naming;
        self
    }

    /// The protocol's naming.
    pub fn naming(&self) -> &'static dyn Naming {
        self.naming
    }

    /// The region ARNs are built for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The SNS topic name of `topic` (`hedwig-<topic>`).
    pub fn topic_name(&self, topic: &str) -> String {
        self.naming.topic(topic)
    }

    /// The ARN of a topic. A route that is already an ARN (e.g. a topic in another account)
    /// is used as it is.
    pub fn topic_arn(&self, topic: &str) -> String {
        if topic.starts_with("arn:") { topic.to_owned() } else { self.arn_in(&self.account_id, topic) }
    }

    /// The ARN of a consumed topic, in its owner's account.
    pub fn consumed_topic_arn(&self, consumed: &ConsumedTopic) -> String {
        self.arn_in(consumed.owner.as_deref().unwrap_or(&self.account_id), &consumed.topic)
    }

    fn arn_in(&self, account: &str, topic: &str) -> String {
        format!("arn:aws:sns:{}:{account}:{}", self.region, self.naming.topic(topic))
    }

    /// The SQS queue of a service (`HEDWIG-<QUEUE>`).
    pub fn queue_name(&self, queue: &str) -> String {
        self.naming.queue(queue)
    }

    /// The ARN of the SQS queue of a service.
    pub fn queue_arn(&self, queue: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{}", self.region, self.account_id, self.queue_name(queue))
    }

    /// The EventBridge Scheduler group of a service's schedules (`taskhawk-<queue>`).
    pub fn schedule_group(&self, queue: &str) -> String {
        self.naming.topic(queue)
    }

    /// The SQS dead-letter queue of a service (`HEDWIG-<QUEUE>-DLQ`).
    pub fn dead_letter_queue_name(&self, queue: &str) -> String {
        self.naming.dead_letter_queue(queue)
    }

    /// The name (own topics) or ARN (another account's) a subscription is shown with.
    fn shown(&self, consumed: &ConsumedTopic) -> String {
        match consumed.owner {
            None => self.topic_name(&consumed.topic),
            Some(_) => self.consumed_topic_arn(consumed),
        }
    }
}

impl Layout for AwsLayout {
    fn plan(&self, provisioning: &Provisioning) -> Vec<String> {
        let queue = self.queue_name(&provisioning.queue);
        let dead_letters = self.dead_letter_queue_name(&provisioning.queue);
        let mut plan: Vec<String> =
            provisioning.owned_topics().into_iter().map(|t| format!("SNS topic {}", self.topic_name(t))).collect();
        plan.push(format!("SQS queue {dead_letters} (dead-letter queue)"));
        plan.push(format!(
            "SQS queue {queue} (visibility timeout {} s; after {} receives to {dead_letters})",
            secs(super::provision::visibility_timeout(provisioning)),
            provisioning.max_deliveries,
        ));
        for consumed in &provisioning.consumes {
            plan.push(format!(
                "SNS subscription {} → {queue} (raw delivery {})",
                self.shown(consumed),
                if provisioning.raw_delivery { "on" } else { "off" }
            ));
        }
        plan
    }

    fn dead_letter_queue(&self, queue: &str) -> String {
        self.dead_letter_queue_name(queue)
    }

    fn requeue_target(&self, queue: &str) -> String {
        self.queue_name(queue)
    }

    /// `EventBridge Scheduler schedule <group>/<name>: <expression> (<zone>) → <queue>`,
    /// then what happens to the group's other schedules.
    fn schedule_plan(&self, group: &str, schedules: &[ScheduledMessage]) -> Vec<String> {
        let group = self.schedule_group(group);
        let mut plan: Vec<String> = schedules
            .iter()
            .map(|s| {
                format!(
                    "EventBridge Scheduler schedule {group}/{}: {} ({}) → SQS queue {}",
                    s.name,
                    s.cadence.eventbridge(),
                    s.time_zone,
                    self.queue_name(&s.topic)
                )
            })
            .collect();
        plan.push(format!("EventBridge Scheduler group {group}: other schedules deleted"));
        plan
    }
}
