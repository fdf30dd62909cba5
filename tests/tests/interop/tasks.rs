//! Interoperability with the reference Taskhawk library (taskhawk-python 4.7.0) on the local
//! emulators: every cell of {owlpost dispatches → taskhawk-python's worker runs it,
//! taskhawk-python dispatches → owlpost's worker runs it} × {SNS/SQS, Pub/Sub} × {high,
//! default, low, bulk}, checking id, task name, kwargs, `args == []`, headers, priority and
//! timestamp on the receiving side. The service's queues are provisioned by owlpost with
//! Taskhawk's names and taskhawk-python finds them from its `TASKHAWK_QUEUE` alone, so every
//! cell also proves the two agree on names (TASKHAWK.md §3). Then, in `others`, what
//! schedulers and taskhawk-go send, and the reference's defects as expectations.
//!
//! One test per direction and broker carries the four priorities (one peer run each: the
//! suite runs in CI). The peer is `tests/interop/taskhawk/peer.py` in the virtualenv
//! `cargo xtask interop` (or `ci`) installs; it registers the tasks of `schemas/tasks.json`
//! under their wire names.

mod others;

use owlpost::HandlerResult;
use owlpost::taskhawk::{Dispatched, Dispatcher, OutgoingTask, Priority, ReceivedTask, Task, TaskRouter};
use owlpost_e2e::tasks::*;
use serde_json::{Value, json};

use crate::brokers::{Broker, Observed, TaskSetup};
use crate::peer::TASKHAWK;
use crate::support::now_millis;

/// Every task of the schema with its default priority, as the peer registers them.
const TASKS: [(&str, Priority); 3] = [
    (SendInvoiceInput::NAME, SendInvoiceInput::PRIORITY),
    (ChargeCustomerCardInput::NAME, ChargeCustomerCardInput::PRIORITY),
    (RebuildInput::NAME, RebuildInput::PRIORITY),
];

/// The task of each priority's cell and its kwargs: high, default and bulk are their tasks'
/// own priorities, low is chosen at dispatch. `memo` is free text: non-ASCII in the kwargs
/// (taskhawk-python writes it as `\u` escapes, owlpost as UTF-8), as in one header.
fn cells() -> [(Priority, &'static str, Value); 4] {
    [
        (
            Priority::High,
            ChargeCustomerCardInput::NAME,
            json!({"invoice_id": "INV-1001", "amount_cents": 12999, "currency": "EUR"}),
        ),
        (
            Priority::Default,
            SendInvoiceInput::NAME,
            json!({"invoice_id": "INV-1002", "cc": "zoe@example.com", "memo": "Danke, Zoë — 請求書 🦉"}),
        ),
        (
            Priority::Low,
            SendInvoiceInput::NAME,
            json!({"invoice_id": "INV-1003", "cc": "billing@example.com", "memo": "Paiement reçu — merci\n"}),
        ),
        (Priority::Bulk, RebuildInput::NAME, json!({"month": "2026-11"})),
    ]
}

/// A cell's headers (one non-ASCII).
fn headers(priority: Priority) -> Value {
    json!({"request_id": format!("req-{priority}"), "tenant": "zoë & co"})
}

/// A task owlpost ran, in the peer's shape (typed tasks have no `args`).
fn observe<T: Task>(task: &ReceivedTask<T>) -> Value {
    json!({
        "id": task.id, "task": T::NAME, "priority": task.priority.as_str(), "timestamp": task.timestamp,
        "headers": task.headers, "kwargs": serde_json::to_value(&task.input).unwrap(),
    })
}

impl SendInvoiceHandler for Observed {
    async fn send_invoice(&self, task: ReceivedTask<SendInvoiceInput>) -> HandlerResult {
        self.record(observe(&task));
        Ok(())
    }
}

impl ChargeCustomerCardHandler for Observed {
    async fn charge_customer_card(&self, task: ReceivedTask<ChargeCustomerCardInput>) -> HandlerResult {
        self.record(observe(&task));
        Ok(())
    }
}

impl RebuildHandler for Observed {
    async fn rebuild(&self, task: ReceivedTask<RebuildInput>) -> HandlerResult {
        self.record(observe(&task));
        Ok(())
    }
}

/// owlpost's router recording every task of the schema, registered as a service does.
fn every_task(observed: &Observed) -> TaskRouter {
    let mut router = TaskRouter::new();
    register_send_invoice(&mut router, observed.clone());
    register_charge_customer_card(&mut router, observed.clone());
    register_rebuild(&mut router, observed.clone());
    router
}

fn outgoing<T: Task>(priority: Priority, kwargs: &Value, headers: &Value) -> OutgoingTask<T> {
    let mut task = OutgoingTask::new(serde_json::from_value::<T>(kwargs.clone()).unwrap());
    if priority != T::PRIORITY {
        task = task.priority(priority);
    }
    headers.as_object().unwrap().iter().fold(task, |task, (key, value)| task.header(key, value.as_str().unwrap()))
}

/// Dispatches task `name` with the generated function, as a service does.
async fn dispatch(
    dispatcher: &Dispatcher,
    priority: Priority,
    name: &str,
    kwargs: &Value,
    headers: &Value,
) -> Dispatched {
    let dispatched = match name {
        SendInvoiceInput::NAME => dispatch_send_invoice(dispatcher, outgoing(priority, kwargs, headers)).await,
        ChargeCustomerCardInput::NAME => {
            dispatch_charge_customer_card(dispatcher, outgoing(priority, kwargs, headers)).await
        }
        RebuildInput::NAME => dispatch_rebuild(dispatcher, outgoing(priority, kwargs, headers)).await,
        _ => panic!("no task {name} in the schema"),
    };
    dispatched.unwrap_or_else(|e| panic!("dispatching {name}: {e}"))
}

/// The peer's result: its tasks (`messages`), after checking that nothing escaped its workers.
fn tasks_of(result: &Value) -> Vec<Value> {
    assert_eq!(result["escaped"], json!({}), "an exception escaped taskhawk-python's worker");
    result["messages"].as_array().cloned().unwrap_or_default()
}

fn assert_within(task: &Value, before: i64, after: i64) {
    let timestamp = task["timestamp"].as_i64().unwrap_or_default();
    assert!((before..=after).contains(&timestamp), "timestamp {timestamp} outside the dispatch ({before}..={after})");
}

/// One cell's line; `headers` and `tail` say what else the cell showed.
fn matrix_line(from: &str, to: &str, broker: Broker, priority: Priority, headers: &str, tail: &str) {
    println!(
        "matrix | {from} → {to} | {broker:?} | {priority} | ok: id, task, kwargs, args [], headers{headers}, priority, timestamp{tail}"
    );
}

async fn owlpost_to_python(broker: Broker) {
    let setup = TaskSetup::new(broker).await;
    let dispatcher = setup.dispatcher();
    let before = now_millis();
    let mut expected = Vec::new();
    for (priority, task, kwargs) in cells() {
        let sent = dispatch(&dispatcher, priority, task, &kwargs, &headers(priority)).await;
        assert_eq!(sent.priority, priority);
        expected.push(json!({
            "id": sent.id, "task": task, "priority": priority.as_str(), "headers": headers(priority),
            "args": [], "kwargs": kwargs,
        }));
    }
    let after = now_millis();
    let mut spec = setup.peer_spec(&TASKS);
    spec["expect"] = Priority::ALL.iter().map(|p| (p.as_str().to_owned(), json!(1))).collect();
    let got = tasks_of(&TASKHAWK.run("consume", spec).await);
    assert_eq!(got.len(), 4, "taskhawk-python ran {got:#?}");
    for (mut expected, (priority, ..)) in expected.into_iter().zip(cells()) {
        let run = got.iter().find(|run| run["id"] == expected["id"]).unwrap_or_else(|| {
            panic!("taskhawk-python did not run {}: it ran {got:#?}", expected["id"]);
        });
        assert_within(run, before, after);
        expected["timestamp"] = run["timestamp"].clone();
        assert_eq!(run, &expected, "taskhawk-python ran (left) what owlpost did not dispatch (right)");
        matrix_line("owlpost", "taskhawk-python", broker, priority, "", "");
    }
}

/// A cell's headers plus one whose value is a number: taskhawk-python keeps it as it is in
/// the body (and `str()`s it in the attributes); owlpost reads it as its JSON text.
fn with_number(priority: Priority, attempt: Value) -> Value {
    let mut headers = headers(priority);
    headers["attempt"] = attempt;
    headers
}

async fn python_to_owlpost(broker: Broker) {
    let setup = TaskSetup::new(broker).await;
    let mut spec = setup.peer_spec(&TASKS);
    spec["dispatch"] = cells()
        .iter()
        .map(|(priority, task, kwargs)| {
            let headers = with_number(*priority, json!(2));
            json!({"task": task, "priority": priority.as_str(), "kwargs": kwargs, "headers": headers})
        })
        .collect();
    let before = now_millis();
    let sent = TASKHAWK.run("dispatch", spec).await["messages"].as_array().cloned().unwrap_or_default();
    let after = now_millis();
    // Reference defect 2 (TASKHAWK.md §6): on AWS, dispatch() publishes, fails reading a
    // boto2-era response path, and its @retry publishes twice more: 3 copies of one id.
    let (copies, error, note) = match broker {
        Broker::Sns => (3, json!("KeyError('PublishResponse')"), "; 3 runs of one id (reference defect 2)"),
        Broker::PubSub => (1, Value::Null, ""),
    };
    let observed = Observed::default();
    let got = observed.drain_exactly(&setup.worker(every_task(&observed)).await, copies * cells().len()).await;
    assert_eq!(sent.len(), cells().len(), "taskhawk-python dispatched {sent:#?}");
    for (sent, (priority, task, kwargs)) in sent.iter().zip(cells()) {
        assert_eq!(sent["error"], error, "taskhawk-python's dispatch() raised (or no longer raises): {sent:#}");
        assert_eq!(sent["args"], json!([]), "taskhawk-python sent positional args");
        assert_eq!(sent["headers"], with_number(priority, json!(2)), "taskhawk-python's headers");
        assert_within(sent, before, after);
        let expected = json!({
            "id": sent["id"], "task": task, "priority": priority.as_str(), "timestamp": sent["timestamp"],
            "headers": with_number(priority, json!("2")), "kwargs": kwargs,
        });
        let runs: Vec<_> = got.iter().filter(|run| run["id"] == sent["id"]).collect();
        assert_eq!(runs.len(), copies, "owlpost ran {} ({copies} expected) of {sent:#}; it ran {got:#?}", runs.len());
        for run in runs {
            assert_eq!(run, &expected, "owlpost ran (left) what taskhawk-python did not dispatch (right)");
        }
        matrix_line("taskhawk-python", "owlpost", broker, priority, " (a number as text)", note);
    }
}

macro_rules! directions {
    ($($name:ident: $direction:ident, $broker:ident;)*) => {$(
        #[tokio::test]
        async fn $name() {
            $direction(Broker::$broker).await;
        }
    )*};
}

directions! {
    taskhawk_owlpost_to_python_sns_every_priority: owlpost_to_python, Sns;
    taskhawk_owlpost_to_python_pubsub_every_priority: owlpost_to_python, PubSub;
    taskhawk_python_to_owlpost_sns_every_priority: python_to_owlpost, Sns;
    taskhawk_python_to_owlpost_pubsub_every_priority: python_to_owlpost, PubSub;
}
