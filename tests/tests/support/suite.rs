//! The consumer's guarantees, as one suite every backend runs (`consumer_suite!`): bounded
//! concurrency, leases kept while a handler runs, `Retry { after }`, panics, invalid
//! messages dead-lettered at once, graceful shutdown, and trace context end to end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::{
    Backoff, Consumer, ConsumerSettings, HandlerError, HandlerResult, Publisher, Received, Router, Source, WireMessage,
};
use owlpost_e2e::messages::*;

use super::{dynamic, user};

/// One backend, set up for one test: a queue consuming `user-created` v1.
pub trait Fixture: Sized {
    /// The consumer's source.
    type Source: Source + Clone;
    /// The shortest lease the backend allows a test to use (its visibility timeout or ack deadline).
    const SHORT_LEASE: Duration;
    /// How late a redelivery may come after the delay asked for (the broker's timer
    /// granularity and long-poll wake-up).
    const SLACK: Duration;

    /// A fresh queue whose deliveries are leased for `lease`.
    async fn new(lease: Duration) -> Self;
    /// A publisher routing `user-created` v1 to the queue.
    fn publisher(&self) -> Publisher;
    /// The queue's source (clones of one source: consumers one after the other share it).
    fn source(&self) -> Self::Source;
    /// Sends a wire message as it is, unchecked, to the queue's topic.
    async fn publish_raw(&self, message: WireMessage);
    /// What reached the queue's dead-letter queue within a few seconds.
    async fn dead_letters(&self, expected: usize) -> Vec<WireMessage>;
}

/// One handler invocation.
#[derive(Debug, Clone)]
pub struct Start {
    pub user_id: String,
    pub attempt: u32,
    pub at: Instant,
    pub headers: BTreeMap<String, String>,
    /// The trace id of the span the handler runs in.
    pub trace_id: Option<String>,
}

/// A `user-created` handler that sleeps, then answers as `script` says, measuring
/// concurrency and recording every start and every completion.
#[derive(Clone)]
pub struct Probe {
    pub delay: Duration,
    pub script: fn(&Received<UserCreatedV1>) -> HandlerResult,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    starts: Arc<Mutex<Vec<Start>>>,
    finished: Arc<Mutex<Vec<String>>>,
}

fn succeed(_: &Received<UserCreatedV1>) -> HandlerResult {
    Ok(())
}

impl Probe {
    pub fn new(delay: Duration, script: fn(&Received<UserCreatedV1>) -> HandlerResult) -> Self {
        Self {
            delay,
            script,
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            starts: Arc::default(),
            finished: Arc::default(),
        }
    }

    pub fn starts(&self) -> Vec<Start> {
        self.starts.lock().unwrap().clone()
    }

    /// User ids whose handler returned `Ok`, in completion order.
    pub fn finished(&self) -> Vec<String> {
        self.finished.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// A consumer of `source` with this probe as the `user-created` handler.
    pub fn consumer(&self, source: impl Source, settings: ConsumerSettings) -> Consumer {
        let mut router = Router::new();
        register_user_created(&mut router, self.clone());
        Consumer::new(source, router).with_settings(settings)
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("starts", &self.starts()).field("finished", &self.finished()).finish()
    }
}

impl UserCreatedHandler for Probe {
    async fn user_created_v1(&self, message: Received<UserCreatedV1>) -> HandlerResult {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.starts.lock().unwrap().push(Start {
            user_id: (*message.data.user_id).clone(),
            attempt: message.provider.delivery_attempt().unwrap_or(1),
            at: Instant::now(),
            headers: message.metadata.headers.clone(),
            trace_id: current_trace_id(),
        });
        // Decrements even when the script panics or the handler is dropped.
        let _leaving = Leaving(self.in_flight.clone());
        tokio::time::sleep(self.delay).await;
        (self.script)(&message)?;
        self.finished.lock().unwrap().push((*message.data.user_id).clone());
        Ok(())
    }
    async fn user_created_v2(&self, _: Received<UserCreatedV2>) -> HandlerResult {
        Err(HandlerError::failed("unexpected v2"))
    }
}

/// Decrements an in-flight count when dropped (also when a handler panics or is dropped).
pub struct Leaving(pub Arc<AtomicUsize>);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The trace id of the current span, with the `otel` feature.
#[cfg(feature = "otel")]
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

#[cfg(not(feature = "otel"))]
pub fn current_trace_id() -> Option<String> {
    None
}

/// Runs `consumer` until `done` holds of `subject` (failing the test, showing `subject`, after 60 s).
pub async fn run_until<P: std::fmt::Debug>(consumer: &Consumer, subject: &P, done: impl Fn(&P) -> bool) {
    run_until_within(consumer, subject, Duration::from_secs(60), done).await;
}

/// [`run_until`] with a time limit of `limit`.
pub async fn run_until_within<P: std::fmt::Debug>(
    consumer: &Consumer,
    subject: &P,
    limit: Duration,
    done: impl Fn(&P) -> bool,
) {
    let deadline = Instant::now() + limit;
    let condition = async {
        while !done(subject) {
            assert!(Instant::now() < deadline, "not done in {limit:?}: {subject:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    consumer.run_until(condition).await.expect("the consumer ran");
}

/// Quick retries, so tests of retries do not wait long.
pub fn quick_retries() -> ConsumerSettings {
    ConsumerSettings { retry: Backoff::new(Duration::from_millis(200), Duration::from_secs(1)), ..Default::default() }
}

async fn publish(publisher: &Publisher, ids: std::ops::Range<u32>) {
    for id in ids {
        publish_user_created(publisher, user(id)).await.unwrap();
    }
}

/// At most `max_in_flight` handlers run at once, and the consumer fills every slot.
pub async fn concurrency_is_bounded<F: Fixture>() {
    let f = F::new(Duration::from_secs(30)).await;
    publish(&f.publisher(), 0..16).await;
    let probe = Probe::new(Duration::from_millis(300), succeed);
    let consumer = probe.consumer(f.source(), ConsumerSettings { max_in_flight: 4, ..Default::default() });
    run_until(&consumer, &probe, |p| p.finished().len() == 16).await;
    println!("max in flight: {} (bound 4, 16 messages of 300 ms)", probe.max_in_flight());
    assert_eq!(probe.max_in_flight(), 4, "never more than the bound in flight, and the bound reached");
    assert_eq!(probe.starts().len(), 16, "each handled once");
    assert_eq!(consumer.health().acked, 16);
}

/// A handler running longer than the lease keeps its message: the consumer (or, on Pub/Sub,
/// the source) extends the lease, so the message is not redelivered meanwhile.
pub async fn slow_handler_outlives_its_lease<F: Fixture>() {
    let f = F::new(F::SHORT_LEASE).await;
    publish(&f.publisher(), 1..2).await;
    let probe = Probe::new(F::SHORT_LEASE * 5 / 2, succeed);
    let settings = ConsumerSettings { lease_extension: F::SHORT_LEASE, ..Default::default() };
    let consumer = probe.consumer(f.source(), settings);
    run_until(&consumer, &probe, |p| p.finished().len() == 1).await;
    let starts = probe.starts();
    assert_eq!(
        starts.len(),
        1,
        "redelivered while its handler ran {:?} past a lease of {:?}",
        probe.delay,
        F::SHORT_LEASE
    );
    assert_eq!(consumer.health().acked, 1);
}

/// `Retry { after }` brings the message back after roughly `after`, and is not a failure.
pub async fn retry_after_redelivers_after_the_delay<F: Fixture>() {
    let f = F::new(Duration::from_secs(30)).await;
    publish(&f.publisher(), 1..2).await;
    let probe = Probe::new(Duration::ZERO, |m| match m.provider.delivery_attempt() {
        Some(1) | None => Err(HandlerError::Retry { after: Duration::from_secs(2) }),
        _ => Ok(()),
    });
    let consumer = probe.consumer(f.source(), ConsumerSettings::default());
    run_until(&consumer, &probe, |p| p.finished().len() == 1).await;
    let starts = probe.starts();
    assert_eq!(starts.len(), 2, "{starts:?}");
    let gap = starts[1].at - starts[0].at;
    println!("Retry {{ after: 2s }} came back after {gap:?}");
    assert!(gap >= Duration::from_millis(1900) && gap <= Duration::from_secs(2) + F::SLACK, "back after {gap:?}");
    let health = consumer.health();
    assert_eq!((health.nacked, health.acked, health.consecutive_failures), (1, 1, 0));
}

/// A panicking handler's message is retried after a backoff; the loop goes on.
pub async fn a_panic_is_retried_and_the_loop_goes_on<F: Fixture>() {
    let f = F::new(Duration::from_secs(30)).await;
    publish(&f.publisher(), 1..3).await;
    let probe = Probe::new(Duration::ZERO, |m| {
        if *m.data.user_id == "U_1" && m.provider.delivery_attempt().unwrap_or(1) == 1 {
            panic!("handler bug");
        }
        Ok(())
    });
    let consumer = probe.consumer(f.source(), quick_retries());
    run_until(&consumer, &probe, |p| p.finished().len() == 2).await;
    let attempts: Vec<_> = probe.starts().iter().filter(|s| s.user_id == "U_1").map(|s| s.attempt).collect();
    assert_eq!(attempts, [1, 2], "the panicked message came back");
    assert!(probe.finished().contains(&"U_2".to_owned()), "the other message was handled");
    let health = consumer.health();
    assert_eq!((health.nacked, health.acked, health.consecutive_failures), (1, 2, 0));
}

/// A message no handler can take goes to the dead-letter queue on its first delivery.
pub async fn invalid_messages_are_dead_lettered_at_once<F: Fixture>() {
    let f = F::new(Duration::from_secs(30)).await;
    let publisher = f.publisher();
    let mut invalid = publisher.encode(owlpost_e2e::messages::schema(), dynamic(&user(1))).unwrap();
    invalid.body = br#"{"user_id":5,"email":"x@example.com","plan":"pro"}"#.to_vec();
    f.publish_raw(invalid.clone()).await;
    publish(&publisher, 2..3).await;
    let probe = Probe::new(Duration::ZERO, succeed);
    let consumer = probe.consumer(f.source(), ConsumerSettings::default());
    run_until(&consumer, &probe, |p| p.finished().len() == 1 && consumer.health().dead_lettered == 1).await;
    assert_eq!(probe.finished(), ["U_2"], "the handler never saw the invalid message");
    let dead = f.dead_letters(1).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].body, invalid.body);
    assert_eq!(dead[0].attributes.get("hedwig_id"), invalid.attributes.get("hedwig_id"));
    assert_eq!(consumer.health().nacked, 0, "not retried");
}

/// Shutdown with handlers in flight: receiving stops, every started handler finishes and is
/// acknowledged; a second consumer handles the rest; nothing lost, nothing handled twice.
pub async fn shutdown_finishes_in_flight_work<F: Fixture>() {
    let f = F::new(Duration::from_secs(5)).await;
    publish(&f.publisher(), 0..12).await;
    let probe = Probe::new(Duration::from_millis(500), succeed);
    let settings = ConsumerSettings { max_in_flight: 4, ..Default::default() };
    let first = probe.consumer(f.source(), settings);
    first
        .run_until(async {
            while probe.starts().len() < 4 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
    let (started, finished, health) = (probe.starts().len(), probe.finished().len(), first.health());
    println!("shutdown with handlers in flight: {started} started, {finished} finished, {} acked", health.acked);
    assert!(started >= 4, "{started}");
    assert_eq!(finished, started, "every handler that started finished before run_until returned");
    assert_eq!((health.acked, health.nacked, health.in_flight), (finished as u64, 0, 0));
    drop(first);

    let second = probe.consumer(f.source(), settings);
    run_until(&second, &probe, |p| p.finished().len() >= 12).await;
    let mut handled = probe.finished();
    println!("after the restart: {} handled in all", handled.len());
    handled.sort();
    let mut expected: Vec<_> = (0..12).map(|id| format!("U_{id}")).collect();
    expected.sort();
    assert_eq!(handled, expected, "every message handled exactly once");
}

/// The publisher's trace context reaches the handler's span (`traceparent` in the headers).
#[cfg(feature = "otel")]
pub async fn trace_context_survives_publish_and_consume<F: Fixture>() {
    use opentelemetry::trace::TraceContextExt;
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    super::install_tracer();
    let f = F::new(Duration::from_secs(30)).await;
    let request = tracing::info_span!("request");
    let trace_id = request.context().span().span_context().trace_id().to_string();
    publish_user_created(&f.publisher(), user(1)).instrument(request).await.unwrap();
    let probe = Probe::new(Duration::ZERO, succeed);
    let consumer = probe.consumer(f.source(), ConsumerSettings::default());
    run_until(&consumer, &probe, |p| p.finished().len() == 1).await;
    let start = probe.starts().remove(0);
    let traceparent = start.headers.get("traceparent").expect("traceparent header");
    assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{traceparent}");
    assert_eq!(start.trace_id.as_deref(), Some(trace_id.as_str()), "the handler's span continues the trace");
}

/// Generates one `#[tokio::test]` per suite test for the fixture `$fixture`.
macro_rules! consumer_suite {
    ($fixture:ty) => {
        mod consumer_suite {
            use super::*;
            use crate::support::suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrency_is_bounded() {
                suite::concurrency_is_bounded::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn slow_handler_outlives_its_lease() {
                suite::slow_handler_outlives_its_lease::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn retry_after_redelivers_after_the_delay() {
                suite::retry_after_redelivers_after_the_delay::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_panic_is_retried_and_the_loop_goes_on() {
                suite::a_panic_is_retried_and_the_loop_goes_on::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn invalid_messages_are_dead_lettered_at_once() {
                suite::invalid_messages_are_dead_lettered_at_once::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn shutdown_finishes_in_flight_work() {
                suite::shutdown_finishes_in_flight_work::<$fixture>().await;
            }
            #[cfg(feature = "otel")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn trace_context_survives_publish_and_consume() {
                suite::trace_context_survives_publish_and_consume::<$fixture>().await;
            }
        }
    };
}
