//! One source over several queues, preferring some: what lets one consumer, under one
//! in-flight bound, read a Taskhawk service's four priority queues.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backend::{BackendError, BoxFuture, Delivery, Source};

/// Reads several sources at once and hands out their deliveries by weight.
///
/// Every source has a receive of its own under way whenever its deliveries have all been
/// handed out, so an empty queue's long poll never holds up the others. Deliveries are
/// handed out by smooth weighted round robin over the sources that have some: while every
/// source has work, each gets its weight's share (8:4:2:1 for Taskhawk's high, default, low
/// and bulk, so bulk still gets 1 delivery in 15 and never starves); a source with nothing
/// gives its share to the others. A delivery that waited here gets the rest of its lease
/// (extended first when less than a third is left).
///
/// Each delivery's [`Delivery::origin`] is its source's label; acks, nacks, extensions and
/// dead letters go to the source it came from.
pub struct Prioritized {
    shared: Arc<Shared>,
}

struct Shared {
    sources: Vec<Entry>,
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Clone)]
struct Entry {
    label: &'static str,
    weight: i64,
    source: Arc<dyn Source>,
}

struct State {
    /// Per source: deliveries received and not handed out yet, with when they arrived.
    buffers: Vec<VecDeque<(Delivery, Instant)>>,
    /// Per source: its receive under way.
    receiving: Vec<Option<JoinHandle<()>>>,
    /// Per source: the weighted round robin's current value.
    current: Vec<i64>,
    /// Per source: how many of its receives found nothing (or failed).
    empty_answers: Vec<u64>,
    /// A receive that failed, to report once nothing is buffered.
    error: Option<BackendError>,
}

impl std::fmt::Debug for Prioritized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<_> = self.shared.sources.iter().map(|e| (e.label, e.weight)).collect();
        f.debug_struct("Prioritized").field("sources", &labels).finish_non_exhaustive()
    }
}

impl Default for Prioritized {
    fn default() -> Self {
        Self::new()
    }
}

impl Prioritized {
    /// No sources yet.
    pub fn new() -> Self {
        Self::from_sources(Vec::new())
    }

    fn from_sources(sources: Vec<Entry>) -> Self {
        let n = sources.len();
        let state = State {
            buffers: (0..n).map(|_| VecDeque::new()).collect(),
            receiving: (0..n).map(|_| None).collect(),
            current: vec![0; n],
            empty_answers: vec![0; n],
            error: None,
        };
        Self { shared: Arc::new(Shared { sources, state: Mutex::new(state), changed: Notify::new() }) }
    }

    /// Adds `source`, labelled `label` in its deliveries' [`Delivery::origin`], with
    /// `weight` (at least 1) shares of the deliveries handed out while several have work.
    /// (Adding a source to one that was read from stops its receives and hands back what
    /// it buffered.)
    pub fn with_source(self, label: &'static str, weight: u32, source: impl Source) -> Self {
        let mut sources = self.shared.sources.clone();
        sources.push(Entry { label, weight: i64::from(weight.max(1)), source: Arc::new(source) });
        Self::from_sources(sources)
    }

    /// The labels of the sources, in the order they were added.
    pub fn labels(&self) -> Vec<&'static str> {
        self.shared.sources.iter().map(|e| e.label).collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }

    /// The source of an ack id this source handed out, and the source's own ack id.
    fn route<'a>(&self, ack_id: &'a str) -> Result<(&dyn Source, &'a str), BackendError> {
        let invalid = || BackendError::InvalidAckId { ack_id: ack_id.to_owned() };
        let (index, inner) = ack_id.split_once(':').ok_or_else(invalid)?;
        let entry = index.parse::<usize>().ok().and_then(|i| self.shared.sources.get(i)).ok_or_else(invalid)?;
        Ok((entry.source.as_ref(), inner))
    }

    /// Starts a receive on every source whose buffer is empty, that has none under way and
    /// that has not found nothing since `since` (its count of empty answers).
    fn start_receives(&self, state: &mut State, max: usize, since: &[u64]) {
        for (index, entry) in self.shared.sources.iter().enumerate() {
            let running = state.receiving[index].as_ref().is_some_and(|task| !task.is_finished());
            if running || !state.buffers[index].is_empty() || state.empty_answers[index] != since[index] {
                continue;
            }
            let (shared, source) = (Arc::downgrade(&self.shared), entry.source.clone());
            state.receiving[index] = Some(tokio::spawn(async move {
                let received = source.receive(max).await;
                let Some(shared) = shared.upgrade() else { return };
                let mut state = shared.state();
                let now = Instant::now();
                match received {
                    Ok(deliveries) if !deliveries.is_empty() => {
                        state.buffers[index].extend(deliveries.into_iter().map(|d| (d, now)));
                    }
                    Ok(_) => state.empty_answers[index] += 1,
                    Err(error) => {
                        state.error = Some(error);
                        state.empty_answers[index] += 1;
                    }
                }
                state.receiving[index] = None;
                drop(state);
                shared.changed.notify_waiters();
            }));
        }
    }

    /// Up to `max` buffered deliveries by weighted round robin.
    fn pick(&self, state: &mut State, max: usize) -> Vec<(usize, Delivery, Instant)> {
        let mut picked = Vec::new();
        while picked.len() < max {
            let ready: Vec<usize> = (0..state.buffers.len()).filter(|&i| !state.buffers[i].is_empty()).collect();
            let total: i64 = ready.iter().map(|&i| self.shared.sources[i].weight).sum();
            for &i in &ready {
                state.current[i] += self.shared.sources[i].weight;
            }
            // Ties go to the source added first.
            let Some(&best) = ready.iter().max_by_key(|&&i| (state.current[i], std::cmp::Reverse(i))) else {
                break;
            };
            state.current[best] -= total;
            if let Some((delivery, at)) = state.buffers[best].pop_front() {
                picked.push((best, delivery, at));
            }
        }
        picked
    }

    /// Labels a picked delivery, gives it the rest of its lease, and wraps its ack id.
    async fn hand_out(&self, index: usize, mut delivery: Delivery, at: Instant) -> Option<Delivery> {
        let entry = &self.shared.sources[index];
        if let Some(lease) = delivery.lease {
            let waited = at.elapsed();
            let left = lease.saturating_sub(waited);
            delivery.lease = Some(if left < lease / 3 {
                if let Err(error) = entry.source.extend(&delivery.ack_id, lease).await {
                    // Its lease ran out while it waited: the broker hands it out again.
                    tracing::warn!(%error, origin = entry.label, "a buffered delivery's lease ran out; dropped");
                    return None;
                }
                lease
            } else {
                left
            });
        }
        delivery.origin = Some(entry.label);
        delivery.ack_id = format!("{index}:{}", delivery.ack_id);
        Some(delivery)
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Prioritized {
    /// Stops the receives under way and negatively acknowledges what is buffered, so it
    /// comes back at once rather than when its lease runs out.
    fn drop(&mut self) {
        let mut state = self.state();
        for task in state.receiving.iter_mut().flatten() {
            task.abort();
        }
        let buffered: Vec<(usize, Delivery)> = state
            .buffers
            .iter_mut()
            .enumerate()
            .flat_map(|(i, buffer)| buffer.drain(..).map(move |(d, _)| (i, d)))
            .collect();
        drop(state);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        for (index, delivery) in buffered {
            let source = self.shared.sources[index].source.clone();
            runtime.spawn(async move {
                let _ = source.nack(&delivery.ack_id, Duration::ZERO).await;
            });
        }
    }
}

impl Source for Prioritized {
    fn receive(&self, max: usize) -> BoxFuture<'_, Result<Vec<Delivery>, BackendError>> {
        Box::pin(async move {
            if self.shared.sources.is_empty() {
                return Err(BackendError::Rejected { reason: "a Prioritized source without sources".into() });
            }
            // A source that found nothing is not asked again in this call: when all found
            // nothing, the call returns nothing, after the longest of their waits.
            let since = self.state().empty_answers.clone();
            loop {
                let changed = self.shared.changed.notified();
                let mut changed = std::pin::pin!(changed);
                changed.as_mut().enable();
                let picked = {
                    let mut state = self.state();
                    let picked = self.pick(&mut state, max.max(1));
                    if picked.is_empty() {
                        if let Some(error) = state.error.take() {
                            return Err(error);
                        }
                        if state.empty_answers.iter().zip(&since).all(|(now, then)| now != then) {
                            return Ok(Vec::new());
                        }
                    }
                    self.start_receives(&mut state, max.max(1), &since);
                    picked
                };
                if !picked.is_empty() {
                    let mut handed = Vec::with_capacity(picked.len());
                    for (index, delivery, at) in picked {
                        handed.extend(self.hand_out(index, delivery, at).await);
                    }
                    if !handed.is_empty() {
                        return Ok(handed);
                    }
                    continue;
                }
                changed.await;
            }
        })
    }

    fn ack<'a>(&'a self, ack_id: &'a str) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (source, inner) = self.route(ack_id)?;
            source.ack(inner).await
        })
    }

    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (source, inner) = self.route(ack_id)?;
            source.nack(inner, delay).await
        })
    }

    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (source, inner) = self.route(ack_id)?;
            source.extend(inner, by).await
        })
    }

    fn dead_letter<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let (source, inner) = self.route(&delivery.ack_id)?;
            let original = Delivery { ack_id: inner.to_owned(), origin: None, ..delivery.clone() };
            source.dead_letter(&original).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{ProviderMetadata, WireMessage};
    use crate::memory::MemoryBroker;

    fn delivery(n: usize) -> Delivery {
        Delivery {
            ack_id: n.to_string(),
            message: WireMessage::default(),
            provider: ProviderMetadata::None,
            lease: None,
            origin: None,
        }
    }

    /// Weights 8:4:2:1 with every buffer full, then with only some.
    #[tokio::test]
    async fn deliveries_are_handed_out_by_weight_and_none_starves() {
        let broker = MemoryBroker::new();
        let sources = [("a", 8), ("b", 4), ("c", 2), ("d", 1)]
            .into_iter()
            .fold(Prioritized::new(), |all, (label, weight)| all.with_source(label, weight, broker.source(label)));
        let mut state = sources.state();
        for buffer in &mut state.buffers {
            buffer.extend((0..100).map(|n| (delivery(n), Instant::now())));
        }
        let picked: Vec<usize> = sources.pick(&mut state, 15).into_iter().map(|(i, _, _)| i).collect();
        let count = |i| picked.iter().filter(|&&p| p == i).count();
        assert_eq!((count(0), count(1), count(2), count(3)), (8, 4, 2, 1), "{picked:?}");
        assert_eq!(picked[0], 0, "the heaviest goes first");
        let next: Vec<usize> = sources.pick(&mut state, 15).into_iter().map(|(i, _, _)| i).collect();
        assert_eq!(next.iter().filter(|&&p| p == 3).count(), 1, "bulk gets its turn in every round: {next:?}");

        state.buffers[0].clear();
        state.buffers[1].clear();
        let rest: Vec<usize> = sources.pick(&mut state, 9).into_iter().map(|(i, _, _)| i).collect();
        let count = |i| rest.iter().filter(|&&p| p == i).count();
        assert_eq!((count(2), count(3)), (6, 3), "idle sources give their share to the others: {rest:?}");
        state.buffers[2].clear();
        assert_eq!(sources.pick(&mut state, 5).len(), 5, "one source with work gets everything");
    }

    /// With nothing anywhere, a receive returns nothing once every source has waited its
    /// long poll (the `Source` contract), and a receive after that finds what arrived.
    #[tokio::test(start_paused = true)]
    async fn a_receive_with_nothing_anywhere_returns_nothing_after_the_waits() {
        use crate::memory::QueueConfig;
        let broker = MemoryBroker::new();
        for (queue, wait) in [("a", 1), ("b", 3)] {
            let config = QueueConfig { receive_wait: Duration::from_secs(wait), ..QueueConfig::default() };
            broker.create_queue(queue, config).unwrap();
            broker.subscribe(queue, queue);
        }
        let sources =
            Prioritized::new().with_source("a", 2, broker.source("a")).with_source("b", 1, broker.source("b"));
        let started = Instant::now();
        let received = tokio::time::timeout(Duration::from_secs(60), sources.receive(10)).await;
        assert!(received.expect("a receive that returns").unwrap().is_empty());
        assert!(started.elapsed() >= Duration::from_secs(3), "after the longest wait: {:?}", started.elapsed());
        broker.inject("b", WireMessage::default()).unwrap();
        let received = sources.receive(10).await.unwrap();
        assert_eq!(received.iter().map(|d| d.origin).collect::<Vec<_>>(), [Some("b")]);
    }
}
