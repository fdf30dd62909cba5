//! Hooks around handling, and the consumer's health.

use std::time::SystemTime;

use super::dispatch::{Outcome, Processed};
use crate::backend::Delivery;

/// Code run around every delivery, like Hedwig's pre- and post-process hooks: metrics, a
/// logging context, a heartbeat. Hooks run in the order they were added; a hook that panics
/// is logged and does not stop the message or the consumer.
pub trait Hook: Send + Sync + 'static {
    /// Before the message is decoded and handed to its handler.
    fn before(&self, delivery: &Delivery) {
        let _ = delivery;
    }

    /// After the handler ran and the message was settled with the broker.
    fn after(&self, delivery: &Delivery, processed: &Processed) {
        let _ = (delivery, processed);
    }
}

/// A consumer's health, as [`Consumer::health`](super::Consumer::health) reports it: enough
/// for a liveness probe ("no success for 5 minutes while messages fail") or a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Deliveries being handled now.
    pub in_flight: usize,
    /// Deliveries received so far.
    pub received: u64,
    /// Acknowledged (handled or ignored).
    pub acked: u64,
    /// Negatively acknowledged (retries, failures, panics, time-outs, interruptions).
    pub nacked: u64,
    /// Moved to the dead-letter queue.
    pub dead_lettered: u64,
    /// Handler failures, panics and time-outs since the last success.
    pub consecutive_failures: u32,
    /// Failed receives since the last successful one.
    pub consecutive_receive_errors: u32,
    /// When a handler last succeeded.
    pub last_success: Option<SystemTime>,
    /// When a receive last succeeded (with or without messages).
    pub last_receive: Option<SystemTime>,
}

impl Health {
    /// Counts one settled delivery.
    pub(super) fn record(&mut self, processed: &Processed) {
        use super::Settlement;
        match processed.settlement {
            Some(Settlement::Acked) => self.acked += 1,
            Some(Settlement::Nacked { .. }) => self.nacked += 1,
            Some(Settlement::DeadLettered) => self.dead_lettered += 1,
            None => {}
        }
        match processed.outcome {
            Outcome::Acked | Outcome::Ignored => {
                self.consecutive_failures = 0;
                self.last_success = Some(SystemTime::now());
            }
            Outcome::Failed { .. } | Outcome::Panicked { .. } | Outcome::TimedOut { .. } => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            }
            Outcome::Retry { .. } | Outcome::NotDue { .. } | Outcome::Interrupted | Outcome::Rejected(_) => {}
        }
    }
}
