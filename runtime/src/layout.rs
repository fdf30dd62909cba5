//! A service's broker resources, for every backend alike: what it publishes to and
//! consumes from ([`Provisioning`]), what those resources are called on a broker
//! ([`Layout`], from the protocol's [`Naming`]), and what creates them and moves dead
//! letters back ([`Broker`]). A protocol adds its names; a backend adds its layout and broker.

use std::fmt;
use std::time::Duration;

use crate::backend::{BackendError, BoxFuture, Requeued};
use crate::cadence::ScheduledMessage;

/// How a protocol names its resources on the brokers, from a service's queue name and its
/// topics. Hedwig's is [`HedwigNaming`](crate::HedwigNaming).
pub trait Naming: Send + Sync + fmt::Debug + 'static {
    /// The broker's name of a topic (SNS topic, Pub/Sub topic id).
    fn topic(&self, topic: &str) -> String;
    /// The SQS queue a service consumes from.
    fn queue(&self, queue: &str) -> String;
    /// The SQS dead-letter queue of a service's queue.
    fn dead_letter_queue(&self, queue: &str) -> String;
    /// The Pub/Sub subscription of a service's queue on a topic it consumes.
    fn subscription(&self, queue: &str, topic: &ConsumedTopic) -> String;
    /// The Pub/Sub topic (and its subscription) of the queue itself, where re-queued dead
    /// letters go.
    fn queue_topic(&self, queue: &str) -> String;
    /// The Pub/Sub dead-letter topic (and its subscription) of a service's queue.
    fn dead_letter_topic(&self, queue: &str) -> String;
    /// The attribute that tells readers how a body travels (`utf8`, or `base64` for a
    /// body SNS cannot carry as text).
    fn encoding_attribute(&self) -> &'static str;
}

/// A topic a queue consumes: its owner's (the consumer's own account or project), or
/// another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedTopic {
    /// The topic, as the protocol names it (without the broker prefix).
    pub topic: String,
    /// The AWS account or Google Cloud project the topic lives in, when it is not the
    /// consumer's own; such a topic is subscribed to, never created.
    pub owner: Option<String>,
}

impl ConsumedTopic {
    /// A topic of the consumer's own account or project.
    pub fn new(topic: impl Into<String>) -> Self {
        Self { topic: topic.into(), owner: None }
    }

    /// A topic of another account or project.
    pub fn foreign(owner: impl Into<String>, topic: impl Into<String>) -> Self {
        Self { topic: topic.into(), owner: Some(owner.into()) }
    }

    /// `topic`, or `OWNER/topic` for another account's or project's topic.
    pub fn parse(text: &str) -> Self {
        match text.split_once('/') {
            Some((owner, topic)) => Self::foreign(owner, topic),
            None => Self::new(text),
        }
    }
}

impl From<&str> for ConsumedTopic {
    fn from(topic: &str) -> Self {
        Self::new(topic)
    }
}

/// What a service publishes and consumes: the input of [`Layout::plan`] and
/// [`Broker::provision`], the same for every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    /// The service's queue name (the protocol's [`Naming`] makes broker names of it).
    pub queue: String,
    /// Topics the queue subscribes to; those of the own account or project are created if
    /// missing.
    pub consumes: Vec<ConsumedTopic>,
    /// Topics the service publishes to (created, not subscribed).
    pub publishes: Vec<String>,
    /// Deliveries after which the broker moves a message to the dead-letter queue
    /// (default 5; Pub/Sub allows 5 to 100).
    pub max_deliveries: u32,
    /// How long a delivery stays hidden from other consumers unless extended: SQS's
    /// visibility timeout (default 30 s), Pub/Sub's ack deadline (default 60 s, 10 to
    /// 600 s). `None`: the backend's default.
    pub lease: Option<Duration>,
    /// SNS → SQS subscriptions with raw message delivery (default, and what the protocols
    /// expect); without it SQS bodies are SNS's JSON envelope, which owlpost also reads.
    /// Pub/Sub has no envelope.
    pub raw_delivery: bool,
}

impl Provisioning {
    /// A queue consuming nothing yet, with the defaults.
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            consumes: Vec::new(),
            publishes: Vec::new(),
            max_deliveries: 5,
            lease: None,
            raw_delivery: true,
        }
    }

    /// The published topics, then the consumed topics of the own account or project, each
    /// once: the topics provisioning creates.
    pub fn owned_topics(&self) -> Vec<&str> {
        let own = self.consumes.iter().filter(|c| c.owner.is_none()).map(|c| c.topic.as_str());
        let mut topics: Vec<&str> = Vec::new();
        for topic in self.publishes.iter().map(String::as_str).chain(own) {
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        topics
    }
}

/// Where a service's resources are on one kind of broker: their names, from the protocol's
/// [`Naming`]. Needs no connection, so a dry run can show them.
pub trait Layout: Send + Sync {
    /// What [`Broker::provision`] creates (unless it exists), one line per resource, in order.
    fn plan(&self, provisioning: &Provisioning) -> Vec<String>;
    /// The broker's name of a queue's dead-letter queue.
    fn dead_letter_queue(&self, queue: &str) -> String;
    /// The broker's name of where a queue's re-queued dead letters go.
    fn requeue_target(&self, queue: &str) -> String;
    /// What [`Broker::schedule`] makes of the schedules of `group` (a service queue), one
    /// line per schedule; for a scheduler owlpost does not call, the shell commands that do
    /// it. The default: this broker has no scheduler.
    fn schedule_plan(&self, group: &str, schedules: &[ScheduledMessage]) -> Vec<String> {
        let _ = group;
        schedules.iter().map(|s| format!("schedule {}: this broker has no scheduler", s.name)).collect()
    }
}

/// What [`Broker::schedule`] changed, by schedule name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rescheduled {
    /// Schedules that did not exist.
    pub created: Vec<String>,
    /// Schedules that existed and were written again with what was declared.
    pub updated: Vec<String>,
    /// Schedules of the group that are no longer declared.
    pub deleted: Vec<String>,
}

/// What every backend does to a service's resources, with one shape: create them, move
/// dead letters back. Generated code never sees this; tools (the `owlpost` CLI) and tests do.
pub trait Broker: Send + Sync {
    /// The names of the resources.
    fn layout(&self) -> &dyn Layout;

    /// Creates (or leaves as they are) what [`Layout::plan`] lists. Safe to run again.
    fn provision<'a>(&'a self, provisioning: &'a Provisioning) -> BoxFuture<'a, Result<(), BackendError>>;

    /// Moves every message of `queue`'s dead-letter queue back to where the queue's
    /// consumer reads it, calling `progress` with the report so far after every batch. At
    /// least once: a crash between sending and deleting leaves a copy in both.
    fn requeue_dead_letters<'a>(
        &'a self,
        queue: &'a str,
        progress: &'a mut (dyn FnMut(&Requeued) + Send),
    ) -> BoxFuture<'a, Result<Requeued, BackendError>>;

    /// Makes the broker's scheduler hold exactly `schedules` for `group` (a service
    /// queue): creates the missing ones, updates the others, and deletes the group's
    /// schedules that are not listed. Safe to run again. The default refuses: the broker
    /// has no scheduler owlpost can call ([`Layout::schedule_plan`] says what to do).
    fn schedule<'a>(
        &'a self,
        group: &'a str,
        schedules: &'a [ScheduledMessage],
    ) -> BoxFuture<'a, Result<Rescheduled, BackendError>> {
        let _ = (group, schedules);
        Box::pin(async { Err(BackendError::Unsupported { what: "schedules on this broker".into() }) })
    }
}
