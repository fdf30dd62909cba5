//! The in-memory broker: topics fanning out to queues, with visibility timeouts,
//! acknowledgements, redelivery and dead-lettering, in one process.
//!
//! It is the embedded default for quick starts and for users' own tests. It follows SNS +
//! SQS semantics: publishing to a topic that does not exist fails; a topic without
//! subscriptions accepts and drops messages; a received message is hidden until it is
//! acknowledged, negatively acknowledged or its visibility timeout runs out; after
//! `max_receives` deliveries a message moves to the queue's dead-letter queue.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backend::WireMessage;
use crate::backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, Requeued, Sink, Source};
use crate::layout::{Broker, Layout, Provisioning};

/// The longest delay or lease the broker keeps (SQS's maximum, 12 hours); longer ones are
/// capped rather than overflowing the clock.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 60 * 60);

fn later(now: Instant, by: Duration) -> Instant {
    now + by.min(MAX_DELAY)
}

/// Settings of one in-memory queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a received message stays hidden before it is redelivered (default 30 s).
    pub visibility_timeout: Duration,
    /// How long `receive` waits for a message when none is ready (default 1 s).
    pub receive_wait: Duration,
    /// Where messages go after too many deliveries: `(queue, max_receives)`. The consumer
    /// also moves invalid messages there at once (to `<queue>-dlq` when this is `None`).
    pub dead_letter: Option<(String, u32)>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { visibility_timeout: Duration::from_secs(30), receive_wait: Duration::from_secs(1), dead_letter: None }
    }
}

/// Counts of one queue's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Visible now, waiting to be received.
    pub ready: usize,
    /// Waiting for a delay (negative acknowledgement with a delay) to pass.
    pub delayed: usize,
    /// Received and not yet settled.
    pub in_flight: usize,
}

/// An in-memory broker. Cloning gives another handle to the same broker.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryBroker").field("topics", &state.topics).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Default)]
struct State {
    topics: BTreeMap<String, BTreeSet<String>>,
    queues: BTreeMap<String, Queue>,
    sequence: u64,
}

#[derive(Default)]
struct Queue {
    config: QueueConfig,
    ready: VecDeque<Stored>,
    in_flight: BTreeMap<String, (Stored, Instant)>,
}

struct Stored {
    message: WireMessage,
    receive_count: u32,
    visible_at: Instant,
}

impl MemoryBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-changed (every
        // change is a single push or remove), so a poisoned lock is still usable.
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a topic (no-op if it exists).
    pub fn create_topic(&self, topic: &str) {
        self.state().topics.entry(topic.to_owned()).or_default();
    }

    /// Creates a queue, or changes the settings of an existing one. A dead-letter queue
    /// must be another queue and `max_receives` at least 1.
    pub fn create_queue(&self, queue: &str, config: QueueConfig) -> Result<(), BackendError> {
        if let Some((dlq, max_receives)) = &config.dead_letter {
            let reason = if dlq == queue {
                Some("a queue cannot be its own dead-letter queue")
            } else if *max_receives == 0 {
                Some("max_receives must be at least 1")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(BackendError::Rejected { reason: format!("queue {queue:?}: {reason}") });
            }
        }
        let mut state = self.state();
        if let Some((dlq, _)) = &config.dead_letter {
            state.queues.entry(dlq.clone()).or_default();
        }
        state.queues.entry(queue.to_owned()).or_default().config = config;
        Ok(())
    }

    /// Subscribes `queue` to `topic`, creating either with default settings if missing.
    pub fn subscribe(&self, topic: &str, queue: &str) {
        let mut state = self.state();
        state.queues.entry(queue.to_owned()).or_default();
        state.topics.entry(topic.to_owned()).or_default().insert(queue.to_owned());
    }

    /// The sink publishing to this broker's topics (another handle on the broker).
    pub fn sink(&self) -> MemoryBroker {
        self.clone()
    }

    /// The consumer's source reading `queue`.
    pub fn source(&self, queue: &str) -> MemorySource {
        MemorySource { broker: self.clone(), name: queue.to_owned() }
    }

    /// Puts a raw wire message on `topic` as a broker would deliver it, without any
    /// check: for tests of how consumers treat malformed or foreign messages.
    pub fn inject(&self, topic: &str, message: WireMessage) -> Result<String, BackendError> {
        let mut state = self.state();
        let queues =
            state.topics.get(topic).ok_or_else(|| BackendError::TopicNotFound { topic: topic.to_owned() })?.clone();
        state.sequence += 1;
        let id = format!("mem-{}", state.sequence);
        let now = Instant::now();
        for queue in queues {
            if let Some(queue) = state.queues.get_mut(&queue) {
                queue.ready.push_back(Stored { message: message.clone(), receive_count: 0, visible_at: now });
            }
        }
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(id)
    }

    /// The counts of `queue`'s messages, or `None` if it does not exist.
    pub fn stats(&self, queue: &str) -> Option<QueueStats> {
        let mut state = self.state();
        let now = Instant::now();
        let queue = state.queues.get_mut(queue)?;
        queue.expire(now);
        let delayed = queue.ready.iter().filter(|m| m.visible_at > now).count();
        Some(QueueStats { ready: queue.ready.len() - delayed, delayed, in_flight: queue.in_flight.len() })
    }

    fn take(&self, name: &str, max: usize) -> Result<Taken, BackendError> {
        let mut state = self.state();
        let now = Instant::now();
        let State { queues, sequence, .. } = &mut *state;
        let queue = queues.get_mut(name).ok_or_else(|| BackendError::QueueNotFound { queue: name.to_owned() })?;
        queue.expire(now);
        let mut deliveries = Vec::new();
        let mut dead = Vec::new();
        let mut index = 0;
        while deliveries.len() < max && index < queue.ready.len() {
            if queue.ready[index].visible_at > now {
                index += 1;
                continue;
            }
            let Some(mut stored) = queue.ready.remove(index) else { break };
            if let Some((dlq, max_receives)) = &queue.config.dead_letter
                && stored.receive_count >= *max_receives
            {
                dead.push((dlq.clone(), stored));
                continue;
            }
            stored.receive_count += 1;
            *sequence += 1;
            let ack_id = format!("{name}/{sequence}");
            deliveries.push(Delivery {
                ack_id: ack_id.clone(),
                message: stored.message.clone(),
                provider: ProviderMetadata::Memory { queue: name.to_owned(), receive_count: stored.receive_count },
                lease: Some(queue.config.visibility_timeout.min(MAX_DELAY)),
                origin: None,
            });
            queue.in_flight.insert(ack_id, (stored, later(now, queue.config.visibility_timeout)));
        }
        let next_change = queue
            .ready
            .iter()
            .map(|m| m.visible_at)
            .chain(queue.in_flight.values().map(|(_, deadline)| *deadline))
            .min();
        let wait = queue.config.receive_wait;
        let moved = !dead.is_empty();
        for (dlq, mut stored) in dead {
            stored.receive_count = 0;
            stored.visible_at = now;
            queues.entry(dlq).or_default().ready.push_back(stored);
        }
        if moved {
            // Wake receivers waiting on the dead-letter queue.
            self.shared.changed.notify_waiters();
        }
        Ok(Taken { deliveries, next_change, wait })
    }

    /// `name`'s dead-letter queue: its configured one, else `<name>-dlq`.
    fn dead_letter_queue_of(state: &State, name: &str) -> Result<String, BackendError> {
        let queue = state.queues.get(name).ok_or_else(|| BackendError::QueueNotFound { queue: name.to_owned() })?;
        Ok(queue.config.dead_letter.as_ref().map_or_else(|| dead_letter_queue(name), |(dlq, _)| dlq.clone()))
    }

    /// Puts a copy of `message` on `name`'s dead-letter queue: its configured one, else
    /// `<name>-dlq` (created on first use).
    fn copy_to_dead_letters(&self, name: &str, message: &WireMessage) -> Result<(), BackendError> {
        let mut state = self.state();
        let dlq = Self::dead_letter_queue_of(&state, name)?;
        let stored = Stored { message: message.clone(), receive_count: 0, visible_at: Instant::now() };
        state.queues.entry(dlq).or_default().ready.push_back(stored);
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(())
    }

    /// Takes an in-flight message out and hands it to `settle` (which may put it back).
    fn settle(
        &self,
        name: &str,
        ack_id: &str,
        settle: impl FnOnce(&mut Queue, Stored, Instant),
    ) -> Result<(), BackendError> {
        let mut state = self.state();
        let now = Instant::now();
        let queue = state.queues.get_mut(name).ok_or_else(|| BackendError::QueueNotFound { queue: name.to_owned() })?;
        queue.expire(now);
        let (stored, _) =
            queue.in_flight.remove(ack_id).ok_or_else(|| BackendError::InvalidAckId { ack_id: ack_id.to_owned() })?;
        settle(queue, stored, now);
        drop(state);
        self.shared.changed.notify_waiters();
        Ok(())
    }
}

struct Taken {
    deliveries: Vec<Delivery>,
    next_change: Option<Instant>,
    wait: Duration,
}

impl Queue {
    /// Returns messages whose visibility timeout ran out to the ready list.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<String> =
            self.in_flight.iter().filter(|(_, (_, deadline))| *deadline <= now).map(|(id, _)| id.clone()).collect();
        for id in expired {
            if let Some((mut stored, _)) = self.in_flight.remove(&id) {
                stored.visible_at = now;
                self.ready.push_back(stored);
            }
        }
    }
}

/// `<queue>-dlq`, the default dead-letter queue.
fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}-dlq")
}

impl MemoryBroker {
    fn create_resources(&self, plan: &Provisioning) -> Result<(), BackendError> {
        for topic in plan.owned_topics() {
            self.create_topic(topic);
        }
        let exists = self.state().queues.contains_key(&plan.queue);
        if !exists {
            let config = QueueConfig {
                visibility_timeout: plan.lease.unwrap_or(QueueConfig::default().visibility_timeout),
                dead_letter: Some((dead_letter_queue(&plan.queue), plan.max_deliveries)),
                ..QueueConfig::default()
            };
            self.create_queue(&plan.queue, config)?;
        }
        for consumed in &plan.consumes {
            self.subscribe(&consumed.topic, &plan.queue);
        }
        Ok(())
    }

    /// Moves every message of `queue`'s dead-letter queue back to `queue`, as it was.
    fn move_dead_letters(
        &self,
        queue: &str,
        progress: &mut (dyn FnMut(&Requeued) + Send),
    ) -> Result<Requeued, BackendError> {
        let mut state = self.state();
        let dlq = Self::dead_letter_queue_of(&state, queue)?;
        let now = Instant::now();
        let moved: Vec<Stored> = state.queues.get_mut(&dlq).map(|q| q.ready.drain(..).collect()).unwrap_or_default();
        let report = Requeued { moved: moved.len(), failed: Vec::new() };
        // The queue exists: `dead_letter_queue_of` found it.
        let target = state.queues.entry(queue.to_owned()).or_default();
        target.ready.extend(moved.into_iter().map(|stored| Stored { receive_count: 0, visible_at: now, ..stored }));
        drop(state);
        self.shared.changed.notify_waiters();
        progress(&report);
        Ok(report)
    }
}

/// The in-memory broker's names are the protocol's topic and queue names as they are, with
/// dead-letter queues `<queue>-dlq`.
impl Layout for MemoryBroker {
    fn plan(&self, provisioning: &Provisioning) -> Vec<String> {
        let queue = &provisioning.queue;
        let dead_letters = dead_letter_queue(queue);
        let visibility = provisioning.lease.unwrap_or(QueueConfig::default().visibility_timeout);
        let mut plan: Vec<String> = provisioning.owned_topics().into_iter().map(|t| format!("topic {t}")).collect();
        plan.push(format!("queue {dead_letters} (dead-letter queue)"));
        plan.push(format!(
            "queue {queue} (visibility timeout {} s; after {} receives to {dead_letters})",
            visibility.as_secs(),
            provisioning.max_deliveries
        ));
        plan.extend(provisioning.consumes.iter().map(|c| format!("subscription {} → {queue}", c.topic)));
        plan
    }

    fn dead_letter_queue(&self, queue: &str) -> String {
        Self::dead_letter_queue_of(&self.state(), queue).unwrap_or_else(|_| dead_letter_queue(queue))
    }

    fn requeue_target(&self, queue: &str) -> String {
        queue.to_owned()
    }
}

/// Provisions with [`MemoryBroker::create_topic`], [`MemoryBroker::create_queue`] (a
/// dead-letter queue after `max_deliveries`) and [`MemoryBroker::subscribe`].
impl Broker for MemoryBroker {
    fn layout(&self) -> &dyn Layout {
        self
    }

    fn provision<'a>(&'a self, provisioning: &'a Provisioning) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move { self.create_resources(provisioning) })
    }

    fn requeue_dead_letters<'a>(
        &'a self,
        queue: &'a str,
        progress: &'a mut (dyn FnMut(&Requeued) + Send),
    ) -> BoxFuture<'a, Result<Requeued, BackendError>> {
        Box::pin(async move { self.move_dead_letters(queue, progress) })
    }
}

impl Sink for MemoryBroker {
    fn publish<'a>(&'a self, topic: &'a str, message: &'a WireMessage) -> BoxFuture<'a, Result<String, BackendError>> {
        Box::pin(async move { self.inject(topic, message.clone()) })
    }
}

/// The consumer's source reading one in-memory queue.
#[derive(Clone, Debug)]
pub struct MemorySource {
    broker: MemoryBroker,
    name: String,
}

impl MemorySource {
    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Source for MemorySource {
    fn receive(&self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, BackendError>> {
        Box::pin(async move {
            let mut give_up: Option<Instant> = None;
            loop {
                let mut changed = pin!(self.broker.shared.changed.notified());
                changed.as_mut().enable();
                let taken = self.broker.take(&self.name, max)?;
                let now = Instant::now();
                let give_up = *give_up.get_or_insert(later(now, taken.wait));
                if !taken.deliveries.is_empty() || now >= give_up {
                    return Ok(taken.deliveries);
                }
                let wake = taken.next_change.map_or(give_up, |at| at.min(give_up));
                let _ = tokio::time::timeout_at(wake, changed).await;
            }
        })
    }

    fn ack<'a>(&'a self, ack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move { self.broker.settle(&self.name, ack_id, |_, _, _| ()) })
    }

    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.broker.settle(&self.name, ack_id, |queue, mut stored, now| {
                stored.visible_at = later(now, delay);
                queue.ready.push_back(stored);
            })
        })
    }

    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.broker.settle(&self.name, ack_id, |queue, stored, now| {
                queue.in_flight.insert(ack_id.to_owned(), (stored, later(now, by)));
            })
        })
    }

    /// Puts a copy of the message on the queue's dead-letter queue: the configured one, else
    /// `<queue>-dlq` (created on first use).
    fn dead_letter<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move { self.broker.copy_to_dead_letters(&self.name, &delivery.message) })
    }
}
