//! Hedwig's resource names: topics `hedwig-<topic>` (a topic per message major,
//! `<type>-v<major>` by default), queue `HEDWIG-<QUEUE>` with `HEDWIG-<QUEUE>-DLQ` on SQS,
//! and on Pub/Sub a subscription `hedwig-<queue>-<topic>` per consumed topic, plus
//! `hedwig-<queue>` (re-queued messages) and `hedwig-<queue>-dlq` (dead letters).

use crate::layout::{ConsumedTopic, Naming};

/// Hedwig's [`Naming`], what every backend uses unless told otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HedwigNaming;

impl Naming for HedwigNaming {
    fn topic(&self, topic: &str) -> String {
        format!("hedwig-{topic}")
    }

    fn queue(&self, queue: &str) -> String {
        format!("HEDWIG-{queue}")
    }

    fn dead_letter_queue(&self, queue: &str) -> String {
        format!("HEDWIG-{queue}-DLQ")
    }

    /// `hedwig-<queue>-<topic>`, or `hedwig-<queue>-<project>-<topic>` for another
    /// project's topic.
    fn subscription(&self, queue: &str, topic: &ConsumedTopic) -> String {
        match &topic.owner {
            None => format!("hedwig-{queue}-{}", topic.topic),
            Some(project) => format!("hedwig-{queue}-{project}-{}", topic.topic),
        }
    }

    fn queue_topic(&self, queue: &str) -> String {
        format!("hedwig-{queue}")
    }

    fn dead_letter_topic(&self, queue: &str) -> String {
        format!("hedwig-{queue}-dlq")
    }

    fn encoding_attribute(&self) -> &'static str {
        super::wire::attr::ENCODING
    }
}

/// Hedwig's conventional topic for a message major: `<type>-v<major>`.
pub fn default_topic(message_type: &str, major: u32) -> String {
    format!("{message_type}-v{major}")
}
