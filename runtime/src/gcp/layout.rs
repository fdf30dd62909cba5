//! The names of a service's Pub/Sub topics and subscriptions.

use std::time::Duration;

use super::deadline_secs;
use super::subscribe::SubscribeSettings;
use crate::HedwigNaming;
use crate::cadence::ScheduledMessage;
use crate::layout::{ConsumedTopic, Layout, Naming, Provisioning};

/// Where a service's resources are in one Google Cloud project, named by a protocol's
/// [`Naming`] (Hedwig's unless told otherwise). Needs no connection.
#[derive(Debug, Clone)]
pub struct GcpLayout {
    naming: &'static dyn Naming,
    project: String,
    scheduler_location: String,
}

impl GcpLayout {
    /// The layout in `project`, with Hedwig's names.
    pub fn new(project: impl Into<String>) -> Self {
        Self { naming: &HedwigNaming, project: project.into(), scheduler_location: "us-central1".into() }
    }

    /// The Cloud Scheduler location (region) of the service's jobs (default `us-central1`).
    pub fn with_scheduler_location(mut self, location: impl Into<String>) -> Self {
        self.scheduler_location = location.into();
        self
    }

    /// The Cloud Scheduler job id of a service's schedule: `taskhawk-<queue>-<name>`.
    pub fn job_id(&self, queue: &str, name: &str) -> String {
        format!("{}-{name}", self.naming.topic(queue))
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

    /// The project.
    pub fn project_id(&self) -> &str {
        &self.project
    }

    /// The Cloud Scheduler location of the service's jobs.
    pub fn scheduler_location(&self) -> &str {
        &self.scheduler_location
    }

    /// The full name of a topic, `projects/<project>/topics/hedwig-<topic>`. A route that is
    /// already a full name (a topic in another project) is used as it is.
    pub fn topic_path(&self, topic: &str) -> String {
        if topic.starts_with("projects/") { topic.to_owned() } else { self.topic_in(&self.project, topic) }
    }

    /// The full name of topic `topic` in `project`, for routing to another project.
    pub fn topic_in(&self, project: &str, topic: &str) -> String {
        format!("projects/{project}/topics/{}", self.naming.topic(topic))
    }

    /// The full name of a consumed topic, in its owner's project.
    pub fn consumed_topic_path(&self, consumed: &ConsumedTopic) -> String {
        self.topic_in(consumed.owner.as_deref().unwrap_or(&self.project), &consumed.topic)
    }

    /// The full name of subscription `id` in this project.
    pub fn subscription_path(&self, id: &str) -> String {
        format!("projects/{}/subscriptions/{id}", self.project)
    }

    /// The subscription id of `queue` on a consumed topic (`hedwig-<queue>-<topic>`).
    pub fn subscription_id(&self, queue: &str, consumed: &ConsumedTopic) -> String {
        self.naming.subscription(queue, consumed)
    }

    /// The queue's own topic and subscription id, where re-queued dead letters go
    /// (`hedwig-<queue>`).
    pub fn queue_topic_id(&self, queue: &str) -> String {
        self.naming.queue_topic(queue)
    }

    /// The queue's dead-letter topic and subscription id (`hedwig-<queue>-dlq`).
    pub fn dead_letter_id(&self, queue: &str) -> String {
        self.naming.dead_letter_topic(queue)
    }

    fn full_topic(&self, id: &str) -> String {
        format!("projects/{}/topics/{id}", self.project)
    }

    /// The full name of the queue's own topic.
    pub fn queue_topic_path(&self, queue: &str) -> String {
        self.full_topic(&self.queue_topic_id(queue))
    }

    /// The full name of the queue's dead-letter topic.
    pub fn dead_letter_topic_path(&self, queue: &str) -> String {
        self.full_topic(&self.dead_letter_id(queue))
    }
}

/// The ack deadline of provisioned subscriptions: the provisioning's lease, else the
/// source's default, within Pub/Sub's 10 to 600 s.
pub(super) fn ack_deadline(provisioning: &Provisioning) -> i32 {
    let lease = provisioning.lease.unwrap_or(SubscribeSettings::default().ack_deadline);
    deadline_secs(lease.max(Duration::from_secs(10)))
}

/// Pub/Sub's range of delivery attempts before dead-lettering.
pub(super) fn max_delivery_attempts(provisioning: &Provisioning) -> i32 {
    provisioning.max_deliveries.clamp(5, 100) as i32
}

impl Layout for GcpLayout {
    fn plan(&self, provisioning: &Provisioning) -> Vec<String> {
        let queue = &provisioning.queue;
        let mut plan: Vec<String> =
            provisioning.owned_topics().into_iter().map(|t| format!("topic {}", self.topic_path(t))).collect();
        let dead_letters = self.dead_letter_topic_path(queue);
        plan.push(format!("topic {}", self.queue_topic_path(queue)));
        plan.push(format!("topic {dead_letters}"));
        let subscription = |id: &str, topic: &str, dead_letter: bool| {
            let policy = if dead_letter {
                format!("; after {} deliveries to {dead_letters}", max_delivery_attempts(provisioning))
            } else {
                String::new()
            };
            format!(
                "subscription {} on {topic} (ack deadline {} s{policy})",
                self.subscription_path(id),
                ack_deadline(provisioning)
            )
        };
        plan.push(subscription(&self.dead_letter_id(queue), &dead_letters, false));
        plan.push(subscription(&self.queue_topic_id(queue), &self.queue_topic_path(queue), true));
        for consumed in &provisioning.consumes {
            plan.push(subscription(&self.subscription_id(queue, consumed), &self.consumed_topic_path(consumed), true));
        }
        // Taskhawk's queue topic is the topic it consumes: each resource once.
        let mut seen = std::collections::BTreeSet::new();
        plan.retain(|line| seen.insert(line.clone()));
        plan
    }

    fn dead_letter_queue(&self, queue: &str) -> String {
        self.dead_letter_id(queue)
    }

    fn requeue_target(&self, queue: &str) -> String {
        self.queue_topic_id(queue)
    }

    /// There is no Cloud Scheduler emulator, so owlpost does not call Cloud Scheduler: the
    /// plan is the `gcloud` commands that make the jobs equal to `schedules` — per schedule
    /// an update of the job, or its creation when it does not exist, then a delete of the
    /// service's other jobs (those publishing to one of its topics).
    fn schedule_plan(&self, group: &str, schedules: &[ScheduledMessage]) -> Vec<String> {
        super::schedule::gcloud_commands(self, group, schedules)
    }
}
