//! The consumer loop: bounded concurrency, lease extension, settlement by outcome, hooks,
//! health and graceful shutdown.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::dispatch::{Dispatch, Outcome, Processed, Settlement, dispatch_within};
use super::hooks::{Health, Hook};
use crate::backend::{BackendError, Delivery, Source};
use crate::backoff::Backoff;

/// What to do with a message no handler can take: undecodable, failing validation, of an
/// unknown type or major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InvalidMessages {
    /// Move it to the dead-letter queue at once (SQS: send to `HEDWIG-<QUEUE>-DLQ`, then
    /// delete; Pub/Sub: publish to `hedwig-<QUEUE>-dlq`, then acknowledge; in-memory: the
    /// queue's dead-letter queue). No retry can fix it. Where the source cannot, it is
    /// negatively acknowledged with the retry backoff.
    #[default]
    DeadLetter,
    /// Negatively acknowledge it with the retry backoff and let the broker's redrive policy
    /// decide, as the Hedwig libraries do.
    Nack,
}

/// The consumer's knobs. `ConsumerSettings { max_in_flight: 32, ..Default::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Handlers running at once (default 10). The consumer receives only while fewer are in
    /// flight, and never more than there is room for.
    pub max_in_flight: usize,
    /// Messages asked for per receive, at most (default 10, SQS's maximum).
    pub batch_size: usize,
    /// A handler still running after this is dropped and its message retried like a
    /// failure (default 15 min; `None`: no limit).
    pub handler_timeout: Option<Duration>,
    /// Each lease extension makes the delivery invisible for this long from then (default
    /// 30 s). Extensions happen when a third of the current lease is left.
    pub lease_extension: Duration,
    /// No lease is extended past this long after receipt (default 1 h); the broker then
    /// redelivers a message whose handler still runs. Pub/Sub sources renew leases
    /// themselves, up to their own `SubscribeSettings::max_lease`.
    pub max_lease: Duration,
    /// Delay before a failed, panicked or timed-out message is redelivered, by delivery
    /// attempt (default 1 s doubling to 10 min, jittered).
    pub retry: Backoff,
    /// What becomes of messages no handler can take (default: dead-lettered at once).
    pub invalid_messages: InvalidMessages,
    /// On shutdown, how long in-flight handlers may still run (default 30 s); the ones
    /// still running then are dropped and their messages redelivered at once.
    pub shutdown_deadline: Duration,
    /// A message due later ([`Routed::not_before`](super::Routed::not_before), a delayed
    /// task) is held until then when it is due within this (default 45 min, at most
    /// `max_lease` less two `lease_extension`s; keep it under a Pub/Sub source's
    /// `SubscribeSettings::max_lease` too), its lease kept alive, and its handler then has
    /// `max_lease` of lease anew; one due later is negatively acknowledged to come back when
    /// due, or as late as the broker allows (Pub/Sub: 10 min), and counts as a delivery.
    pub max_hold: Duration,
    /// Messages held until due without taking a handler slot (default 1,000); more are
    /// held in their slot.
    pub max_held: usize,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            max_in_flight: 10,
            batch_size: 10,
            handler_timeout: Some(Duration::from_secs(15 * 60)),
            lease_extension: Duration::from_secs(30),
            max_lease: Duration::from_secs(60 * 60),
            retry: Backoff::new(Duration::from_secs(1), Duration::from_secs(600)),
            invalid_messages: InvalidMessages::DeadLetter,
            shutdown_deadline: Duration::from_secs(30),
            max_hold: Duration::from_secs(45 * 60),
            max_held: 1000,
        }
    }
}

/// Where a consumer's run is: what its messages' tasks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Receiving and handling.
    Running,
    /// Shutting down: messages held until due are given back at once; handlers run on.
    Draining,
    /// The shutdown deadline passed: handlers still running are dropped.
    Stopping,
}

/// The longest a message due later is given back for (SQS keeps a received message
/// invisible at most 12 h from its receipt).
const MAX_NOT_DUE: Duration = Duration::from_secs(11 * 60 * 60);

/// Backoff between failed receives.
const RECEIVE_RETRY: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
/// Backoff between failed lease extensions, while the lease lasts.
const EXTEND_RETRY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

/// Pulls deliveries from a [`Source`], hands them to a [`Dispatch`]'s handlers (a Hedwig
/// [`Router`](crate::Router)'s, up to
/// [`ConsumerSettings::max_in_flight`] at once), keeps their leases alive while they run,
/// and settles each according to its [`Outcome`].
pub struct Consumer {
    worker: Arc<Worker>,
}

/// What each message's task needs. Cheap to clone: configuring a consumer makes a new one
/// (tasks of an earlier `poll` that was dropped keep the old settings).
#[derive(Clone)]
struct Worker {
    source: Arc<dyn Source>,
    router: Arc<dyn Dispatch>,
    settings: ConsumerSettings,
    /// One per handler that may run: shared by every `poll` and `run_until` of the consumer.
    permits: Arc<Semaphore>,
    /// One per message held until due outside a handler slot.
    held: Arc<Semaphore>,
    hooks: Vec<Arc<dyn Hook>>,
    health: Arc<Mutex<Health>>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("settings", &self.worker.settings)
            .field("hooks", &self.worker.hooks.len())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer of `source` handing messages to `router`'s handlers (a Hedwig
    /// [`Router`](crate::Router), or any [`Dispatch`]), with the default [`ConsumerSettings`].
    pub fn new(source: impl Source, router: impl Dispatch) -> Self {
        let worker = Worker {
            source: Arc::new(source),
            router: Arc::new(router),
            settings: ConsumerSettings::default(),
            permits: Arc::new(Semaphore::new(ConsumerSettings::default().max_in_flight)),
            held: Arc::new(Semaphore::new(ConsumerSettings::default().max_held)),
            hooks: Vec::new(),
            health: Arc::default(),
        };
        Self { worker: Arc::new(worker) }
    }

    fn configure(self, change: impl FnOnce(&mut Worker)) -> Self {
        let mut worker = Arc::unwrap_or_clone(self.worker);
        change(&mut worker);
        Self { worker: Arc::new(worker) }
    }

    /// Uses `settings`. Zero counts (`max_held` excepted: 0 holds every message in its slot)
    /// are raised to 1, `lease_extension` to at least 1 s,
    /// `max_lease` is capped at 12 h (SQS's limit) and `max_hold` at `max_lease` less two
    /// `lease_extension`s.
    pub fn with_settings(self, settings: ConsumerSettings) -> Self {
        let settings = ConsumerSettings {
            max_in_flight: settings.max_in_flight.max(1),
            batch_size: settings.batch_size.max(1),
            lease_extension: settings.lease_extension.max(Duration::from_secs(1)),
            max_lease: settings.max_lease.min(Duration::from_secs(12 * 60 * 60)),
            ..settings
        };
        // A hold ends while the lease is still kept: then the handler gets `max_lease` anew.
        let hold_limit = settings.max_lease.saturating_sub(2 * settings.lease_extension);
        let settings = ConsumerSettings { max_hold: settings.max_hold.min(hold_limit), ..settings };
        self.configure(|worker| {
            worker.permits = Arc::new(Semaphore::new(settings.max_in_flight));
            worker.held = Arc::new(Semaphore::new(settings.max_held));
            worker.settings = settings;
        })
    }

    /// Runs `hook` around every delivery, after the hooks added before it.
    pub fn with_hook(self, hook: impl Hook) -> Self {
        self.configure(|worker| worker.hooks.push(Arc::new(hook)))
    }

    /// The settings in use.
    pub fn settings(&self) -> &ConsumerSettings {
        &self.worker.settings
    }

    /// A snapshot of the consumer's health and counts.
    pub fn health(&self) -> Health {
        self.worker.health().clone()
    }

    /// Receives one batch (waiting for a free handler slot, then as the source's long poll
    /// does), handles its messages concurrently, settles each by its outcome, and reports
    /// them in order. Dropping the future interrupts the handlers (their messages are
    /// negatively acknowledged for redelivery at once).
    pub async fn poll(&self) -> Result<Vec<Processed>, BackendError> {
        let batch = self.worker.next_batch().await?;
        let (_stop, stopped) = watch::channel(Phase::Running);
        let tasks: Vec<_> = batch
            .into_iter()
            .map(|(delivery, permit)| tokio::spawn(self.worker.clone().process(delivery, permit, stopped.clone())))
            .collect();
        let mut report = Vec::with_capacity(tasks.len());
        for task in tasks {
            report.push(task.await.expect("message tasks catch their handlers' and hooks' panics"));
        }
        Ok(report)
    }

    /// Runs until `shutdown` completes (e.g. [`shutdown_signal`], or a channel closing),
    /// then stops receiving, lets in-flight handlers finish within
    /// [`ConsumerSettings::shutdown_deadline`], settles every message, and returns.
    /// Transient broker failures are logged and retried with backoff; a permanent one (the
    /// queue does not exist) ends the loop, after the same drain, with that error.
    ///
    /// Dropping the future instead aborts the handlers in flight; their messages come back
    /// when their leases run out (on Pub/Sub, once the source is dropped too: it renews the
    /// leases of what it handed out).
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), BackendError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let (stop, stopped) = watch::channel(Phase::Running);
        let mut tasks = JoinSet::new();
        let mut receive_errors = 0;
        let result = loop {
            while tasks.try_join_next().is_some() {}
            let batch = tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                batch = self.worker.next_batch() => batch,
            };
            match batch {
                Ok(batch) => {
                    receive_errors = 0;
                    for (delivery, permit) in batch {
                        tasks.spawn(self.worker.clone().process(delivery, permit, stopped.clone()));
                    }
                }
                Err(error) if error.is_retryable() => {
                    receive_errors += 1;
                    let pause = RECEIVE_RETRY.delay(receive_errors);
                    tracing::warn!(%error, ?pause, "receive failed; retrying");
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break Ok(()),
                        () = tokio::time::sleep(pause) => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "receive failed for good; stopping");
                    break Err(error);
                }
            }
        };
        self.drain(tasks, stop).await;
        result
    }

    /// Waits for the tasks in flight, up to the shutdown deadline; then tells the rest to
    /// drop their handlers and waits for them to settle.
    async fn drain(&self, mut tasks: JoinSet<Processed>, stop: watch::Sender<Phase>) {
        let _ = stop.send(Phase::Draining);
        let in_flight = tasks.len();
        let deadline = self.worker.settings.shutdown_deadline;
        tracing::info!(in_flight, ?deadline, "shutting down: waiting for handlers in flight");
        let finished = tokio::time::timeout(deadline, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tracing::warn!(left = tasks.len(), "shutdown deadline passed: dropping the handlers still running");
            let _ = stop.send(Phase::Stopping);
            while tasks.join_next().await.is_some() {}
        }
        tracing::info!(in_flight, "consumer stopped");
    }
}

impl Worker {
    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a free handler slot, takes every other free one (at most a batch), then
    /// receives as many messages as it holds slots, each with its slot. The slots are taken
    /// before receiving: a message received must not wait for a slot, its lease not kept.
    async fn next_batch(&self) -> Result<Vec<(Delivery, OwnedSemaphorePermit)>, BackendError> {
        let first = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let mut slots = vec![first];
        while slots.len() < self.settings.batch_size {
            match self.permits.clone().try_acquire_owned() {
                Ok(slot) => slots.push(slot),
                Err(_) => break,
            }
        }
        let deliveries = self.receive(slots.len()).await?;
        if deliveries.len() > slots.len() {
            tracing::error!(asked = slots.len(), got = deliveries.len(), "the source handed out more than asked for");
        }
        // Slots left over go back when dropped.
        Ok(deliveries.into_iter().zip(slots).collect())
    }

    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, BackendError> {
        let batch = self.source.receive(max).await;
        let mut health = self.health();
        match &batch {
            Ok(deliveries) => {
                health.consecutive_receive_errors = 0;
                health.last_receive = Some(SystemTime::now());
                health.received += deliveries.len() as u64;
            }
            Err(_) => health.consecutive_receive_errors = health.consecutive_receive_errors.saturating_add(1),
        }
        batch
    }

    /// Handles one delivery (keeping its lease alive), settles it, and reports it; its
    /// handler slot is freed at the end.
    async fn process(
        self: Arc<Self>,
        delivery: Delivery,
        slot: OwnedSemaphorePermit,
        stopped: watch::Receiver<Phase>,
    ) -> Processed {
        let _in_flight = InFlight::enter(&self);
        let received_at = Instant::now();
        let span = self.router.span(&delivery.provider);
        self.run_hooks("before", |hook| hook.before(&delivery));
        let mut until_stopping = stopped.clone();
        let stop = async move {
            let _ = until_stopping.wait_for(|phase| *phase == Phase::Stopping).await;
        };
        let limit = self.settings.handler_timeout;
        let mut slot = Some(slot);
        // Leases are kept up to `max_lease` after receipt, or after the hold when held.
        let lease_limit = std::sync::Mutex::new(received_at + self.settings.max_lease);
        let hold = |due| self.hold(due, &mut slot, stopped, &lease_limit);
        let dispatch = dispatch_within(&*self.router, &delivery, limit, stop, &span, hold);
        // The lease keeper finishes an extension it started before it stops: one cut off
        // mid-call could reach the broker after the settlement and undo it. (Not in `span`:
        // entering it before dispatching would fix its trace parent too early.)
        let handled = Notify::new();
        let dispatch = async {
            let processed = dispatch.await;
            handled.notify_one();
            processed
        };
        let (mut processed, ()) =
            tokio::join!(dispatch, self.keep_lease(&delivery, received_at, &lease_limit, &handled));
        self.settle(&delivery, &mut processed).instrument(span).await;
        self.run_hooks("after", |hook| hook.after(&delivery, &processed));
        self.health().record(&processed);
        processed
    }

    /// Holds a delivery until `due` (its lease kept alive meanwhile by the keeper), giving
    /// its handler slot back while it waits when there is room among the held; `None` when
    /// its handler is to run, with its slot, now, and [`ConsumerSettings::max_lease`] of
    /// lease ahead (`lease_limit`). A delivery due after [`ConsumerSettings::max_hold`] is
    /// given back to come when due ([`Outcome::NotDue`], at most 11 h: SQS keeps a message
    /// 12 h from its receipt); one held at shutdown is given back at once.
    async fn hold(
        &self,
        due: SystemTime,
        slot: &mut Option<OwnedSemaphorePermit>,
        mut stopped: watch::Receiver<Phase>,
        lease_limit: &std::sync::Mutex<Instant>,
    ) -> Option<Outcome> {
        let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
        if wait.is_zero() {
            return None;
        }
        if wait > self.settings.max_hold {
            return Some(Outcome::NotDue { after: wait.min(MAX_NOT_DUE) });
        }
        let renew =
            || *lease_limit.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now() + self.settings.max_lease;
        let held = self.held.clone().try_acquire_owned().ok();
        if held.is_some() {
            *slot = None;
        }
        tracing::debug!(?wait, in_slot = held.is_none(), "holding the message until it is due");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|phase| *phase >= Phase::Draining) => return Some(Outcome::Interrupted),
        }
        renew();
        if slot.is_none() {
            tokio::select! {
                permit = self.permits.clone().acquire_owned() => {
                    *slot = Some(permit.expect("the semaphore is never closed"));
                }
                _ = stopped.wait_for(|phase| *phase >= Phase::Draining) => return Some(Outcome::Interrupted),
            }
            renew();
        }
        None
    }

    fn run_hooks(&self, stage: &str, run: impl Fn(&dyn Hook)) {
        for hook in &self.hooks {
            if catch_unwind(AssertUnwindSafe(|| run(hook.as_ref()))).is_err() {
                tracing::error!(stage, "a consumer hook panicked");
            }
        }
    }

    /// Until `handled` is notified: extends the delivery's lease when a third of it is
    /// left, by [`ConsumerSettings::lease_extension`], up to [`ConsumerSettings::max_lease`]
    /// after receipt, or after the hold (`lease_limit`, which the hold moves). A transient failure is retried while the lease lasts. Does nothing
    /// for sources that renew leases themselves.
    async fn keep_lease(
        &self,
        delivery: &Delivery,
        received_at: Instant,
        lease_limit: &std::sync::Mutex<Instant>,
        handled: &Notify,
    ) {
        let Some(lease) = delivery.lease else { return handled.notified().await };
        let mut expires = received_at + lease;
        let mut next = expires - lease / 3;
        let mut failures = 0;
        loop {
            tokio::select! {
                () = handled.notified() => return,
                () = tokio::time::sleep_until(next) => {}
            }
            let now = Instant::now();
            let limit = *lease_limit.lock().unwrap_or_else(PoisonError::into_inner);
            let left = limit.saturating_duration_since(now);
            if left < Duration::from_secs(1) {
                return handled.notified().await;
            }
            let by = self.settings.lease_extension.min(left);
            match self.source.extend(&delivery.ack_id, by).await {
                Ok(()) => {
                    (expires, next, failures) = (now + by, now + by - by / 3, 0);
                }
                Err(error) if error.is_retryable() && Instant::now() < expires => {
                    failures += 1;
                    next = (Instant::now() + EXTEND_RETRY.delay(failures)).min(expires);
                    tracing::warn!(ack_id = %delivery.ack_id, %error, "cannot extend the lease; retrying");
                }
                Err(error) => {
                    tracing::warn!(
                        ack_id = %delivery.ack_id,
                        %error,
                        "cannot extend the lease; the message may be redelivered while handled"
                    );
                    return handled.notified().await;
                }
            }
        }
    }

    /// Acknowledges, negatively acknowledges or dead-letters the delivery by its outcome.
    async fn settle(&self, delivery: &Delivery, processed: &mut Processed) {
        log_outcome(processed);
        let attempt = delivery.provider.delivery_attempt().unwrap_or(1);
        let backoff = Settlement::Nacked { delay: self.settings.retry.delay(attempt) };
        let mut settlement = match &processed.outcome {
            Outcome::Acked | Outcome::Ignored => Settlement::Acked,
            Outcome::Retry { after } | Outcome::NotDue { after } => Settlement::Nacked { delay: *after },
            Outcome::Interrupted => Settlement::Nacked { delay: Duration::ZERO },
            Outcome::Failed { .. } | Outcome::Panicked { .. } | Outcome::TimedOut { .. } => backoff,
            Outcome::Rejected(_) => match self.settings.invalid_messages {
                InvalidMessages::DeadLetter => Settlement::DeadLettered,
                InvalidMessages::Nack => backoff,
            },
        };
        if settlement == Settlement::DeadLettered
            && let Err(error) = self.source.dead_letter(delivery).await
        {
            tracing::error!(%error, "cannot dead-letter the message; it will be retried");
            processed.settle_error = Some(error);
            settlement = backoff;
        }
        // A dead-lettered message was copied: from here on it is acknowledged, whatever
        // happens (a failed ack means a second copy later, not a retry of the handler).
        let result = match settlement {
            Settlement::Acked | Settlement::DeadLettered => self.source.ack(&delivery.ack_id).await,
            Settlement::Nacked { delay } => self.source.nack(&delivery.ack_id, delay).await,
        };
        processed.settlement = Some(settlement);
        if let Err(error) = result {
            tracing::error!(%error, "cannot settle the message with the broker; it comes back when its lease runs out");
            processed.settle_error = Some(error);
        }
    }
}

/// Counts a delivery in flight until dropped (also when its task is aborted).
struct InFlight<'a>(&'a Worker);

impl<'a> InFlight<'a> {
    fn enter(worker: &'a Worker) -> Self {
        worker.health().in_flight += 1;
        Self(worker)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.health().in_flight -= 1;
    }
}

fn log_outcome(processed: &Processed) {
    match &processed.outcome {
        Outcome::Acked => tracing::debug!("handled"),
        Outcome::Ignored => tracing::info!("handler ignored the message; acknowledged"),
        Outcome::Retry { after } => tracing::debug!(?after, "handler asked for a retry"),
        Outcome::Failed { error } => tracing::error!(%error, "handler failed; message will be retried"),
        Outcome::Panicked { message } => tracing::error!(panic = %message, "handler panicked; message will be retried"),
        Outcome::TimedOut { after } => tracing::error!(?after, "handler timed out; message will be retried"),
        Outcome::Interrupted => tracing::warn!("handler interrupted by shutdown; message will be redelivered"),
        Outcome::NotDue { after } => tracing::debug!(?after, "message due later than the consumer holds; given back"),
        Outcome::Rejected(error) => tracing::error!(%error, "message rejected: no handler can take it"),
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM: `consumer.run_until(shutdown_signal())`.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
