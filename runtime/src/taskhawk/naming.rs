//! Taskhawk's resource names (TASKHAWK.md §3), for the queue name of one priority
//! ([`Priority::queue`](super::Priority::queue)): SNS and Pub/Sub topic
//! `taskhawk-<q>` in lower case, SQS queue `TASKHAWK-<Q>` in upper case with its
//! dead-letter queue `TASKHAWK-<Q>-DLQ`; on Pub/Sub the subscription is named like its
//! topic, and the dead letters go to `taskhawk-<q>-dlq`.

use crate::layout::{ConsumedTopic, Naming};

/// Taskhawk's [`Naming`]: `Aws::with_naming(&TaskhawkNaming)`, `Gcp::with_naming(&TaskhawkNaming)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskhawkNaming;

impl Naming for TaskhawkNaming {
    fn topic(&self, topic: &str) -> String {
        format!("taskhawk-{}", topic.to_lowercase())
    }

    fn queue(&self, queue: &str) -> String {
        format!("TASKHAWK-{}", queue.to_uppercase())
    }

    fn dead_letter_queue(&self, queue: &str) -> String {
        format!("{}-DLQ", self.queue(queue))
    }

    /// The topic's own name: a priority's queue is its topic's only subscriber.
    fn subscription(&self, _queue: &str, topic: &ConsumedTopic) -> String {
        self.topic(&topic.topic)
    }

    fn queue_topic(&self, queue: &str) -> String {
        self.topic(queue)
    }

    fn dead_letter_topic(&self, queue: &str) -> String {
        format!("{}-dlq", self.topic(queue))
    }

    fn encoding_attribute(&self) -> &'static str {
        super::wire::attr::ENCODING
    }
}
