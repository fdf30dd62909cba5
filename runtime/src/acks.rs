//! Acknowledgements sent in groups, the way a database commits in groups: the first ack
//! goes out at once, alone; the acks that arrive while a request is out wait for it and go
//! together in the next one (up to the broker's batch limit, and a full batch goes at
//! once). Under load one request settles many deliveries; when idle, an ack waits for
//! nothing. Each caller still gets the result of its own ack.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use crate::backend::{BackendError, BoxFuture};

/// Sends one request for a group of ack ids; one result per id, in order.
pub(crate) type SendGroup = Arc<dyn Fn(Vec<String>) -> BoxFuture<'static, Vec<Result<(), BackendError>>> + Send + Sync>;

/// The acks of one queue, grouped.
pub(crate) struct AckGroups {
    state: Mutex<State>,
    /// The most ids one request takes (SQS `DeleteMessageBatch`: 10).
    max: usize,
    send: SendGroup,
}

#[derive(Default)]
struct State {
    waiting: Vec<(String, oneshot::Sender<Result<(), BackendError>>)>,
    /// Whether a sender is running (it takes the waiting acks when its request returns).
    sending: bool,
}

impl std::fmt::Debug for AckGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckGroups").field("max", &self.max).finish_non_exhaustive()
    }
}

impl AckGroups {
    /// Groups of at most `max` ids, each sent by `send`.
    pub(crate) fn new(max: usize, send: SendGroup) -> Arc<Self> {
        Arc::new(Self { state: Mutex::default(), max: max.max(1), send })
    }

    /// Acknowledges `ack_id` in the next group; resolves with its own result. The request
    /// runs on its own task, so a caller that stops waiting loses no one's ack.
    pub(crate) async fn ack(self: &Arc<Self>, ack_id: &str) -> Result<(), BackendError> {
        let (reply, result) = oneshot::channel();
        let (full, start) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.waiting.push((ack_id.to_owned(), reply));
            let full = (state.waiting.len() >= self.max).then(|| std::mem::take(&mut state.waiting));
            let start = !state.sending && full.is_none();
            state.sending |= start;
            (full, start)
        };
        if let Some(group) = full {
            tokio::spawn(send_group(self.send.clone(), group));
        }
        if start {
            tokio::spawn(self.clone().sender());
        }
        result.await.unwrap_or_else(|_| Err(BackendError::Unavailable { reason: "the ack was not sent".into() }))
    }

    /// Sends what is waiting, group after group, until nothing is.
    async fn sender(self: Arc<Self>) {
        loop {
            let group = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.waiting.is_empty() {
                    state.sending = false;
                    return;
                }
                let take = state.waiting.len().min(self.max);
                state.waiting.drain(..take).collect::<Vec<_>>()
            };
            send_group(self.send.clone(), group).await;
        }
    }
}

/// One request for `group`, and each result to its caller.
async fn send_group(request: SendGroup, group: Vec<(String, oneshot::Sender<Result<(), BackendError>>)>) {
    let (ids, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
    let count = ids.len();
    let mut results = request(ids).await;
    results.resize_with(count, || Err(BackendError::Unavailable { reason: "no result for this ack".into() }));
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// The groups a sender was given, in order.
    type Sent = Arc<Mutex<Vec<Vec<String>>>>;

    /// A sender that records each group and takes 10 ms; ids starting with `bad` fail.
    fn recording() -> (Arc<AckGroups>, Sent) {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let seen = groups.clone();
        let send: SendGroup = Arc::new(move |ids: Vec<String>| {
            seen.lock().unwrap().push(ids.clone());
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ids.iter()
                    .map(|id| {
                        if id.starts_with("bad") { Err(BackendError::Rejected { reason: id.clone() }) } else { Ok(()) }
                    })
                    .collect()
            })
        });
        (AckGroups::new(10, send), groups)
    }

    #[tokio::test]
    async fn an_ack_alone_goes_at_once_and_the_ones_behind_it_go_together() {
        let (acks, groups) = recording();
        let first = tokio::spawn({
            let acks = acks.clone();
            async move { acks.ack("a0").await }
        });
        tokio::time::sleep(Duration::from_millis(2)).await;
        let rest: Vec<_> = (1..=14)
            .map(|i| {
                let acks = acks.clone();
                tokio::spawn(async move { acks.ack(&format!("a{i}")).await })
            })
            .collect();
        first.await.unwrap().unwrap();
        for ack in rest {
            ack.await.unwrap().unwrap();
        }
        let sizes: Vec<usize> = groups.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes[0], 1, "the first ack went alone: {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 15, "every ack sent once: {sizes:?}");
        assert!(sizes.len() <= 3 && sizes.iter().all(|s| *s <= 10), "grouped, at most 10 a request: {sizes:?}");
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_result() {
        let (acks, _) = recording();
        let calls = Arc::new(AtomicUsize::new(0));
        let results: Vec<_> = ["ok1", "bad2", "ok3"]
            .into_iter()
            .map(|id| {
                let (acks, calls) = (acks.clone(), calls.clone());
                tokio::spawn(async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    (id, acks.ack(id).await)
                })
            })
            .collect();
        for handle in results {
            let (id, result) = handle.await.unwrap();
            assert_eq!(result.is_err(), id.starts_with("bad"), "{id}: {result:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_loses_no_one_ack() {
        let (acks, groups) = recording();
        let first = tokio::spawn({
            let acks = acks.clone();
            async move { acks.ack("x0").await }
        });
        tokio::time::sleep(Duration::from_millis(2)).await;
        // Dropped while its group waits behind the first request.
        let dropped = tokio::spawn({
            let acks = acks.clone();
            async move { acks.ack("x1").await }
        });
        let kept = tokio::spawn({
            let acks = acks.clone();
            async move { acks.ack("x2").await }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        dropped.abort();
        first.await.unwrap().unwrap();
        kept.await.unwrap().unwrap();
        let sent: Vec<String> = groups.lock().unwrap().concat();
        assert_eq!(sent, ["x0", "x1", "x2"], "the abandoned ack was sent too");
    }
}
