//! Taskhawk tasks through the generated API of `schemas/tasks.json`, as one suite every
//! backend runs (`task_suite!`): every priority reaches its typed handler through one worker,
//! one in-flight bound over the four queues, `Retry { after }` and panics, invalid input
//! refused at dispatch, invalid and unknown tasks dead-lettered at once in their priority's
//! dead letters and re-queued to the same priority, trace context end to end, and delayed
//! dispatches run at their time, not before, once.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use owlpost::taskhawk::{
    self, DispatchError, Dispatched, Dispatcher, DynamicTask, OutgoingTask, Priority, ReceivedTask, Task, TaskRouter,
};
use owlpost::{Broker, Consumer, ConsumerSettings, HandlerError, HandlerResult, Sink, Source};
use owlpost_e2e::tasks::*;
use serde_json::{Value, json};

use super::suite::{Leaving, current_trace_id, quick_retries, run_until};

/// One backend, set up for one test: a fresh Taskhawk service with its four priorities provisioned.
pub trait TaskFixture: Sized {
    /// The backend's provisioning and re-queueing.
    type Broker: Broker;
    /// Where dispatches go.
    type Sink: Sink + Clone;
    /// A priority queue's source.
    type Source: Source;
    /// How late a redelivery may come after the delay asked for, and a delayed task after
    /// its time.
    const SLACK: Duration;

    /// A fresh service, every priority provisioned with [`provision`].
    async fn new() -> Self;
    /// The service's queue setting (`TASKHAWK_QUEUE`).
    fn service(&self) -> &str;
    /// The backend, named the Taskhawk way.
    fn broker(&self) -> &Self::Broker;
    /// The backend's sink, named the Taskhawk way.
    fn sink(&self) -> Self::Sink;
    /// A fresh source on `priority`'s queue.
    async fn source(&self, priority: Priority) -> Self::Source;
    /// A fresh source on `priority`'s dead letters.
    async fn dead_letters(&self, priority: Priority) -> Self::Source;
}

/// Provisions every priority of `service` with `lease` (the backend's default if `None`),
/// twice: provisioning is idempotent.
pub async fn provision(broker: &impl Broker, service: &str, lease: Option<Duration>) {
    for _ in 0..2 {
        for priority in Priority::ALL {
            let mut plan = taskhawk::provisioning(service, priority);
            plan.lease = lease;
            broker.provision(&plan).await.unwrap_or_else(|e| panic!("provisioning {priority} of {service}: {e}"));
        }
    }
}

pub fn dispatcher<F: TaskFixture>(f: &F) -> Dispatcher {
    Dispatcher::new(f.service(), f.sink())
}

/// One worker over the four priorities of `f`'s service (`taskhawk::sources`).
pub async fn worker<F: TaskFixture>(f: &F, router: TaskRouter, settings: ConsumerSettings) -> Consumer {
    worker_of(f, &Priority::ALL, router, settings).await
}

async fn worker_of<F: TaskFixture>(
    f: &F,
    priorities: &[Priority],
    router: TaskRouter,
    settings: ConsumerSettings,
) -> Consumer {
    let mut sources = Vec::new();
    for &priority in priorities {
        sources.push((priority, f.source(priority).await));
    }
    Consumer::new(taskhawk::sources(sources), router).with_settings(settings)
}

/// One task run.
#[derive(Debug, Clone)]
pub struct Run {
    pub task: &'static str,
    pub input: Value,
    pub id: String,
    pub priority: Priority,
    pub headers: BTreeMap<String, String>,
    pub attempt: u32,
    pub at: Instant,
    /// The trace id of the span the handler runs in.
    pub trace_id: Option<String>,
}

/// The handler of every task of `schemas/tasks.json`: sleeps, then answers as `script` says,
/// recording every start and completion and the most handlers ever in flight at once.
#[derive(Clone)]
pub struct Billing {
    delay: Duration,
    script: fn(&Run) -> HandlerResult,
    runs: Arc<Mutex<Vec<Run>>>,
    finished: Arc<Mutex<Vec<String>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing").field("runs", &self.runs()).field("finished", &self.finished()).finish()
    }
}

impl Billing {
    pub fn new(delay: Duration, script: fn(&Run) -> HandlerResult) -> Self {
        Self {
            delay,
            script,
            runs: Arc::default(),
            finished: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
        }
    }

    /// Every handler start, in order.
    pub fn runs(&self) -> Vec<Run> {
        self.runs.lock().unwrap().clone()
    }

    /// The ids of the tasks whose handler returned `Ok`, in completion order.
    pub fn finished(&self) -> Vec<String> {
        self.finished.lock().unwrap().clone()
    }

    /// A router with every task of the schema routed to this handler.
    pub fn router(&self) -> TaskRouter {
        let mut router = TaskRouter::new();
        register_send_invoice(&mut router, self.clone());
        register_charge_customer_card(&mut router, self.clone());
        register_rebuild(&mut router, self.clone());
        register_remind_overdue(&mut router, self.clone());
        router
    }

    async fn run<T: Task>(&self, task: ReceivedTask<T>) -> HandlerResult {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let _leaving = Leaving(self.in_flight.clone());
        let run = Run {
            task: T::NAME,
            input: serde_json::to_value(&task.input).unwrap(),
            id: task.id.clone(),
            priority: task.priority,
            headers: task.headers.clone(),
            attempt: task.provider.delivery_attempt().unwrap_or(1),
            at: Instant::now(),
            trace_id: current_trace_id(),
        };
        self.runs.lock().unwrap().push(run.clone());
        tokio::time::sleep(self.delay).await;
        (self.script)(&run)?;
        self.finished.lock().unwrap().push(run.id);
        Ok(())
    }
}

impl SendInvoiceHandler for Billing {
    async fn send_invoice(&self, task: ReceivedTask<SendInvoiceInput>) -> HandlerResult {
        self.run(task).await
    }
}

impl ChargeCustomerCardHandler for Billing {
    async fn charge_customer_card(&self, task: ReceivedTask<ChargeCustomerCardInput>) -> HandlerResult {
        self.run(task).await
    }
}

impl RemindOverdueHandler for Billing {
    async fn remind_overdue(&self, task: ReceivedTask<RemindOverdueInput>) -> HandlerResult {
        self.run(task).await
    }
}

impl RebuildHandler for Billing {
    async fn rebuild(&self, task: ReceivedTask<RebuildInput>) -> HandlerResult {
        self.run(task).await
    }
}

pub fn succeed(_: &Run) -> HandlerResult {
    Ok(())
}

/// A `billing.tasks.send_invoice` input.
pub fn invoice(n: u32) -> SendInvoiceInput {
    SendInvoiceInput { invoice_id: format!("INV-{n}").parse().unwrap(), cc: None, memo: None }
}

/// A `billing.tasks.charge_card` input.
pub fn charge(n: u32) -> ChargeCustomerCardInput {
    ChargeCustomerCardInput {
        invoice_id: format!("INV-{n}").parse().unwrap(),
        amount_cents: NonZeroU64::new(u64::from(n) * 100 + 1).unwrap(),
        currency: ChargeCustomerCardInputCurrency::Eur,
    }
}

/// A `billing.reports.rebuild` input.
pub fn rebuild(month: u32) -> RebuildInput {
    RebuildInput { month: format!("2026-{month:02}").parse().unwrap() }
}

/// Each task of the schema, at its default priority and at another, reaches its typed handler
/// through one worker with its input, id, priority and headers.
pub async fn every_priority_reaches_its_typed_handler<F: TaskFixture>() {
    let f = F::new().await;
    let dispatcher = dispatcher(&f);
    let memo = "Zahlbar in 30 Tagen — 30 日以内 🦉";
    let cc =
        SendInvoiceInput { cc: Some("billing@example.com".into()), memo: Some(memo.parse().unwrap()), ..invoice(2) };
    let sent: Vec<(Dispatched, &str, Value, Option<&str>)> = vec![
        (
            dispatch_send_invoice(&dispatcher, OutgoingTask::new(invoice(1)).header("request_id", "r-1"))
                .await
                .unwrap(),
            SendInvoiceInput::NAME,
            json!({"invoice_id": "INV-1"}),
            Some("r-1"),
        ),
        (
            dispatch_send_invoice(&dispatcher, OutgoingTask::new(cc).priority(Priority::Low)).await.unwrap(),
            SendInvoiceInput::NAME,
            json!({"invoice_id": "INV-2", "cc": "billing@example.com", "memo": memo}),
            None,
        ),
        (
            dispatch_charge_customer_card(&dispatcher, OutgoingTask::new(charge(3)).id("charge-3")).await.unwrap(),
            ChargeCustomerCardInput::NAME,
            json!({"invoice_id": "INV-3", "amount_cents": 301, "currency": "EUR"}),
            None,
        ),
        (
            dispatch_rebuild(&dispatcher, rebuild(11)).await.unwrap(),
            RebuildInput::NAME,
            json!({"month": "2026-11"}),
            None,
        ),
    ];
    let priorities: Vec<_> = sent.iter().map(|(d, ..)| d.priority).collect();
    assert_eq!(priorities, [Priority::Default, Priority::Low, Priority::High, Priority::Bulk]);
    assert_eq!(sent[2].0.id, "charge-3", "the id the dispatch chose");
    for (dispatched, ..) in &sent {
        assert_eq!(dispatched.topic, dispatched.priority.queue(f.service()), "the priority's topic");
    }

    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = worker(&f, billing.router(), ConsumerSettings::default()).await;
    run_until(&consumer, &billing, |b| b.finished().len() == sent.len()).await;
    let runs = billing.runs();
    assert_eq!(runs.len(), sent.len(), "each ran once: {runs:?}");
    for (dispatched, task, input, request_id) in &sent {
        let run = runs.iter().find(|r| r.id == dispatched.id).unwrap_or_else(|| panic!("{dispatched:?} ran"));
        assert_eq!((run.task, &run.input, run.priority), (*task, input, dispatched.priority), "{run:?}");
        assert_eq!(run.headers.get("request_id").map(String::as_str), *request_id, "{run:?}");
    }
    assert_eq!(consumer.health().acked, sent.len() as u64);
}

/// One worker runs at most `max_in_flight` tasks at once over all four queues, and fills
/// every slot.
pub async fn one_bound_over_every_priority<F: TaskFixture>() {
    let f = F::new().await;
    let dispatcher = dispatcher(&f);
    for priority in Priority::ALL {
        for n in 0..3 {
            dispatch_rebuild(&dispatcher, OutgoingTask::new(rebuild(n + 1)).priority(priority)).await.unwrap();
        }
    }
    let billing = Billing::new(Duration::from_millis(300), succeed);
    let settings = ConsumerSettings { max_in_flight: 3, ..ConsumerSettings::default() };
    let consumer = worker(&f, billing.router(), settings).await;
    run_until(&consumer, &billing, |b| b.finished().len() == 12).await;
    let max = billing.max_in_flight.load(Ordering::SeqCst);
    println!("max in flight over four queues: {max} (bound 3, 12 tasks of 300 ms)");
    assert_eq!(max, 3, "never more than the bound in flight, and the bound reached");
    let runs = billing.runs();
    assert_eq!(runs.len(), 12, "each ran once: {runs:?}");
    for priority in Priority::ALL {
        assert_eq!(runs.iter().filter(|r| r.priority == priority).count(), 3, "{priority}: {runs:?}");
    }
}

/// `Retry { after }` runs a task again after the delay, at its priority; a panicking handler
/// costs its task one attempt, not the worker.
pub async fn retries_and_panics_run_the_task_again<F: TaskFixture>() {
    let f = F::new().await;
    let dispatcher = dispatcher(&f);
    let retried = dispatch_charge_customer_card(&dispatcher, charge(1)).await.unwrap();
    let panicked = dispatch_send_invoice(&dispatcher, invoice(2)).await.unwrap();
    let billing = Billing::new(Duration::ZERO, |run| match (run.task, run.attempt) {
        (ChargeCustomerCardInput::NAME, 1) => Err(HandlerError::Retry { after: Duration::from_secs(2) }),
        (SendInvoiceInput::NAME, 1) => panic!("handler bug"),
        _ => Ok(()),
    });
    let consumer = worker(&f, billing.router(), quick_retries()).await;
    run_until(&consumer, &billing, |b| b.finished().len() == 2).await;
    let runs = billing.runs();
    let of = |id: &str| runs.iter().filter(|r| r.id == id).cloned().collect::<Vec<_>>();
    let (charges, invoices) = (of(&retried.id), of(&panicked.id));
    assert_eq!(charges.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2], "{runs:?}");
    assert!(charges.iter().all(|r| r.priority == Priority::High), "{charges:?}");
    let gap = charges[1].at - charges[0].at;
    println!("Retry {{ after: 2s }} came back after {gap:?}");
    assert!(gap >= Duration::from_millis(1900) && gap <= Duration::from_secs(2) + F::SLACK, "back after {gap:?}");
    assert_eq!(invoices.iter().map(|r| r.attempt).collect::<Vec<_>>(), [1, 2], "the panicked task came back");
    let health = consumer.health();
    assert_eq!((health.nacked, health.acked, health.consecutive_failures), (2, 2, 0));
}

/// Input that breaks the schema is refused at dispatch naming the task and pointer, and
/// nothing reaches the queue.
pub async fn invalid_input_is_refused_at_dispatch<F: TaskFixture>() {
    let f = F::new().await;
    let dispatcher = dispatcher(&f);
    let bad = SendInvoiceInput { cc: Some("not an address".into()), ..invoice(1) };
    let error = dispatch_send_invoice(&dispatcher, bad).await.unwrap_err();
    let DispatchError::Invalid(invalid) = &error else { panic!("{error:?}") };
    assert_eq!((invalid.message_type.as_str(), invalid.pointer.as_str()), (SendInvoiceInput::NAME, "/cc"));
    assert!(error.to_string().contains(SendInvoiceInput::NAME), "{error}");
    // Sent after the refused one: if that had gone out, it would run too.
    let valid = dispatch_send_invoice(&dispatcher, invoice(2)).await.unwrap();
    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = worker(&f, billing.router(), ConsumerSettings::default()).await;
    run_until(&consumer, &billing, |b| !b.finished().is_empty()).await;
    for _ in 0..2 {
        consumer.poll().await.unwrap();
    }
    let ids: Vec<_> = billing.runs().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [valid.id], "only the valid task ran");
}

/// A task with invalid input, and a task the worker has no handler for, go to their own
/// priority's dead letters at once (the handler never sees them, nothing is acked silently);
/// re-queued, a dead letter goes back to the queue of its own priority, intact.
pub async fn bad_tasks_are_dead_lettered_at_once_and_requeued_to_their_priority<F: TaskFixture>() {
    let f = F::new().await;
    let dispatcher = dispatcher(&f);
    let task = DynamicTask {
        task: SendInvoiceInput::NAME.into(),
        priority: Some(Priority::Bulk),
        input: json!({"invoice_id": "INV-1"}),
        id: None,
        headers: BTreeMap::new(),
        due: None,
    };
    let mut invalid = dispatcher.encode(schema(), task).unwrap();
    let mut body: Value = serde_json::from_slice(&invalid.body).unwrap();
    body["kwargs"]["invoice_id"] = json!("not an invoice");
    invalid.body = serde_json::to_vec(&body).unwrap();
    f.sink().publish(&Priority::Bulk.queue(f.service()), &invalid).await.unwrap();
    let unhandled =
        dispatch_rebuild(&dispatcher, OutgoingTask::new(rebuild(10)).priority(Priority::Low).header("k", "v"))
            .await
            .unwrap();

    // A worker deployed before `rebuild` had a handler.
    let billing = Billing::new(Duration::ZERO, succeed);
    let mut router = TaskRouter::new();
    register_send_invoice(&mut router, billing.clone());
    let consumer = worker(&f, router, ConsumerSettings::default()).await;
    run_until(&consumer, &billing, |_| consumer.health().dead_lettered == 2).await;
    assert!(billing.runs().is_empty(), "the handler saw neither: {billing:?}");
    assert_eq!((consumer.health().acked, consumer.health().nacked), (0, 0), "dead-lettered, not acked or retried");
    drop(consumer);

    let dead = super::collect(&f.dead_letters(Priority::Bulk).await, 1).await;
    assert_eq!(dead.len(), 1, "in the bulk queue's dead letters: {dead:?}");
    assert_eq!(dead[0].body, invalid.body, "as it was sent");
    assert_eq!(dead[0].attributes.get("taskhawk_task").map(String::as_str), Some(SendInvoiceInput::NAME));

    let moved = f.broker().requeue_dead_letters(&Priority::Low.queue(f.service()), &mut |_| {}).await.unwrap();
    assert_eq!(moved.moved, 1, "{moved:?}");
    // A worker on the low queue alone: the task is back there, not on the default queue.
    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = worker_of(&f, &[Priority::Low], billing.router(), ConsumerSettings::default()).await;
    run_until(&consumer, &billing, |b| b.finished().len() == 1).await;
    let run = billing.runs().remove(0);
    assert_eq!((run.task, run.id.as_str(), run.priority), (RebuildInput::NAME, unhandled.id.as_str(), Priority::Low));
    assert_eq!((run.input, run.headers.get("k").map(String::as_str)), (json!({"month": "2026-10"}), Some("v")));
}

/// A task dispatched to run a few seconds later runs at its time (within `F::SLACK`), not
/// before, and once; while it waits it does not hold the worker's only handler slot, so a
/// task dispatched after it for now runs first.
pub async fn a_delayed_task_runs_at_its_time_not_before_once<F: TaskFixture>() {
    let f = F::new().await;
    let dispatcher = dispatcher(&f);
    let delay = Duration::from_secs(4);
    let start = Instant::now();
    let due = SystemTime::now() + delay;
    let later = OutgoingTask::new(rebuild(1)).priority(Priority::High).at(due);
    let later = dispatch_rebuild(&dispatcher, later).await.unwrap();
    let now = dispatch_send_invoice(&dispatcher, OutgoingTask::new(invoice(2)).priority(Priority::Bulk)).await.unwrap();
    let billing = Billing::new(Duration::ZERO, succeed);
    let settings = ConsumerSettings { max_in_flight: 1, ..ConsumerSettings::default() };
    let consumer = worker(&f, billing.router(), settings).await;
    run_until(&consumer, &billing, |b| b.finished().len() == 2).await;
    // Long enough for a second run to show.
    let quiet = Instant::now() + Duration::from_secs(3);
    run_until(&consumer, &billing, |_| Instant::now() > quiet).await;
    let runs = billing.runs();
    let ids: Vec<_> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [now.id.as_str(), later.id.as_str()], "the task due now first, each once: {runs:?}");
    let late = runs[1].at.checked_duration_since(start + delay);
    println!("a task delayed by {delay:?} ran {late:?} after its time");
    let late = late.unwrap_or_else(|| panic!("ran before its time: {:?} after dispatch", runs[1].at - start));
    assert!(late <= F::SLACK, "ran {late:?} after its time");
    assert_eq!(runs[1].headers.get(taskhawk::wire::DUE_HEADER), Some(&taskhawk::wire::due_header(due)));
}

/// Counts the deliveries given back as not due yet.
struct GivenBack(Arc<AtomicUsize>);

impl owlpost::Hook for GivenBack {
    fn after(&self, _: &owlpost::Delivery, processed: &owlpost::Processed) {
        if matches!(processed.outcome, owlpost::Outcome::NotDue { .. }) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A task that arrives due later than the worker holds tasks (`max_hold`) is given back to
/// come when it is due, and runs then, once. (Published straight to its queue, so it arrives
/// early on SQS too, where a dispatch would have the queue delay it.)
pub async fn a_task_due_after_the_hold_limit_comes_back_when_due<F: TaskFixture>() {
    let f = F::new().await;
    let delay = Duration::from_secs(4);
    let start = Instant::now();
    let task = DynamicTask {
        task: ChargeCustomerCardInput::NAME.into(),
        priority: None,
        input: serde_json::to_value(charge(1)).unwrap(),
        id: Some("due-later".into()),
        headers: BTreeMap::new(),
        due: Some(SystemTime::now() + delay),
    };
    let early = dispatcher(&f).encode(schema(), task).unwrap();
    f.sink().publish(&Priority::High.queue(f.service()), &early).await.unwrap();
    let billing = Billing::new(Duration::ZERO, succeed);
    let settings = ConsumerSettings { max_hold: Duration::from_secs(1), ..ConsumerSettings::default() };
    let given_back = Arc::new(AtomicUsize::new(0));
    let consumer = worker(&f, billing.router(), settings).await.with_hook(GivenBack(given_back.clone()));
    run_until(&consumer, &billing, |b| b.finished().len() == 1).await;
    let runs = billing.runs();
    assert_eq!(runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["due-later"], "once: {runs:?}");
    assert!(given_back.load(Ordering::SeqCst) >= 1, "given back, not held");
    assert!(runs[0].attempt >= 2, "it ran on a redelivery: {runs:?}");
    let late = runs[0].at.checked_duration_since(start + delay).expect("not before its time");
    println!("a task due after the hold limit ran {late:?} after its time");
    assert!(late <= F::SLACK, "ran {late:?} after its time");
}

/// The dispatcher's trace context reaches the handler's span (`traceparent` in the attributes).
#[cfg(feature = "otel")]
pub async fn trace_context_survives_dispatch_and_run<F: TaskFixture>() {
    use opentelemetry::trace::TraceContextExt;
    use tracing::Instrument;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    super::install_tracer();
    let f = F::new().await;
    let request = tracing::info_span!("request");
    let trace_id = request.context().span().span_context().trace_id().to_string();
    dispatch_send_invoice(&dispatcher(&f), invoice(1)).instrument(request).await.unwrap();
    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = worker(&f, billing.router(), ConsumerSettings::default()).await;
    run_until(&consumer, &billing, |b| b.finished().len() == 1).await;
    let run = billing.runs().remove(0);
    assert_eq!(run.trace_id.as_deref(), Some(trace_id.as_str()), "the handler's span continues the trace");
}

/// Generates one `#[tokio::test]` per task suite test for the fixture `$fixture`.
macro_rules! task_suite {
    ($fixture:ty) => {
        mod task_suite {
            use super::*;
            use crate::support::task_suite;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn every_priority_reaches_its_typed_handler() {
                task_suite::every_priority_reaches_its_typed_handler::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_bound_over_every_priority() {
                task_suite::one_bound_over_every_priority::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn retries_and_panics_run_the_task_again() {
                task_suite::retries_and_panics_run_the_task_again::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn invalid_input_is_refused_at_dispatch() {
                task_suite::invalid_input_is_refused_at_dispatch::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_tasks_are_dead_lettered_at_once_and_requeued_to_their_priority() {
                task_suite::bad_tasks_are_dead_lettered_at_once_and_requeued_to_their_priority::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_delayed_task_runs_at_its_time_not_before_once() {
                task_suite::a_delayed_task_runs_at_its_time_not_before_once::<$fixture>().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_task_due_after_the_hold_limit_comes_back_when_due() {
                task_suite::a_task_due_after_the_hold_limit_comes_back_when_due::<$fixture>().await;
            }
            #[cfg(feature = "otel")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn trace_context_survives_dispatch_and_run() {
                task_suite::trace_context_survives_dispatch_and_run::<$fixture>().await;
            }
        }
    };
}
