//! Beyond the matrix: what schedulers and taskhawk-go send, sent as they send it (TASKHAWK.md
//! §4, §7; the captures in `wire-samples/taskhawk/`) and run by owlpost's worker; and the
//! SQS consumer's crash on a message without attributes (reference defect 3), shown next to
//! the owlpost-dispatched task it does run.

use owlpost::taskhawk::{Priority, Task};
use owlpost_e2e::tasks::*;
use serde_json::{Value, json};

use super::{TASKS, dispatch, every_task};
use crate::brokers::{Broker, Observed, TaskSetup};
use crate::peer::TASKHAWK;

/// A message `via` the broker's own API to the queue or topic of `priority`.
fn raw(setup: &TaskSetup, via: &str, priority: Priority, body: &str, attributes: Value) -> Value {
    json!({"via": via, "to": setup.raw_target(via, priority), "body": body, "attributes": attributes})
}

/// What an EventBridge rule of terraform-aws-taskhawk-scheduler sends straight to the SQS
/// queue: its template filled in, `id` the event id (also in a header), `timestamp` the
/// event's ISO-8601 time, and no message attributes.
fn eventbridge(id: &str, priority: Priority, kwargs: &str) -> String {
    format!(
        r#"{{
    "id": "{id}",
    "metadata": {{
        "priority": "{priority}",
        "timestamp": "2026-12-01T21:15:27Z",
        "version": "1.0"
    }},
    "headers": {{"request_id":"{id}"}},
    "task": "{task}",
    "args": [],
    "kwargs": {kwargs}
}}"#,
        task = SendInvoiceInput::NAME,
    )
}

/// 2026-12-01T21:15:27Z in epoch milliseconds.
const EVENTBRIDGE_TIME: i64 = 1_796_159_727_000;

/// taskhawk-go's body: compact, no `args`, `<>&` escaped (its attributes: `taskhawk_task`
/// and the headers).
fn taskhawk_go(id: &str, priority: Priority, task: &str, kwargs: &str) -> String {
    format!(
        r#"{{"id":"{id}","metadata":{{"priority":"{priority}","timestamp":1796159728123,"version":"1.0"}},"headers":{{"request_id":"go-1","tenant":"zoë \u0026 co"}},"task":"{task}","kwargs":{kwargs}}}"#
    )
}

fn go_attributes(task: &str) -> Value {
    json!({"taskhawk_task": task, "request_id": "go-1", "tenant": "zoë & co"})
}

fn task(id: &str, name: &str, priority: Priority, timestamp: i64, headers: Value, kwargs: Value) -> Value {
    json!({"id": id, "task": name, "priority": priority.as_str(), "timestamp": timestamp, "headers": headers,
           "kwargs": kwargs})
}

/// Sends `raw` with the peer; returns what owlpost's worker ran, sorted by id.
async fn owlpost_runs(setup: &TaskSetup, raw: Vec<Value>) -> Vec<Value> {
    let count = raw.len();
    let mut spec = setup.peer_spec(&[]);
    spec["raw"] = json!(raw);
    TASKHAWK.run("raw", spec).await;
    let observed = Observed::default();
    let mut got = observed.drain_exactly(&setup.worker(every_task(&observed)).await, count).await;
    got.sort_by_key(|run| run["id"].as_str().map(str::to_owned));
    got
}

/// EventBridge's scheduled task (SQS, no attributes, ISO-8601 timestamp) and taskhawk-go's
/// (through SNS, no `args`).
#[tokio::test]
async fn taskhawk_scheduled_and_go_tasks_reach_owlpost_sns() {
    let setup = TaskSetup::new(Broker::Sns).await;
    let (scheduled, go) = ("1f0c6a4e-5b3d-4e8a-9c2f-7d6b5a4e3c21", "7d1e9b2a-4c6f-4a8e-b3d5-2e1f0a9c8b7d");
    let go_kwargs = r#"{"invoice_id":"INV-2002","amount_cents":500,"currency":"USD"}"#;
    let got = owlpost_runs(
        &setup,
        vec![
            raw(
                &setup,
                "sqs",
                Priority::Default,
                &eventbridge(scheduled, Priority::Default, r#"{"invoice_id":"INV-2001"}"#),
                json!({}),
            ),
            raw(
                &setup,
                "sns",
                Priority::Low,
                &taskhawk_go(go, Priority::Low, ChargeCustomerCardInput::NAME, go_kwargs),
                go_attributes(ChargeCustomerCardInput::NAME),
            ),
        ],
    )
    .await;
    let expected = [
        task(
            scheduled,
            SendInvoiceInput::NAME,
            Priority::Default,
            EVENTBRIDGE_TIME,
            json!({"request_id": scheduled}),
            json!({"invoice_id": "INV-2001"}),
        ),
        task(
            go,
            ChargeCustomerCardInput::NAME,
            Priority::Low,
            1_796_159_728_123,
            json!({"request_id": "go-1", "tenant": "zoë & co"}),
            serde_json::from_str(go_kwargs).unwrap(),
        ),
    ];
    assert_eq!(got, expected);
    println!("others | EventBridge-scheduled (SQS, no attributes) and taskhawk-go (no args) → owlpost | Sns | ok");
}

/// Cloud Scheduler's job (fixed id that is not a UUID, fixed timestamp, `taskhawk_task`) and
/// taskhawk-go's task.
#[tokio::test]
async fn taskhawk_scheduled_and_go_tasks_reach_owlpost_pubsub() {
    let setup = TaskSetup::new(Broker::PubSub).await;
    // terraform-google-taskhawk-queue's data.v1.0.tpl: every firing has this id and timestamp.
    let (scheduled, go) = ("00000000-0000-0000-0000000000000000", "3b9d7f1e-2a4c-4e6b-8d0f-1c3e5a7b9d2f");
    let cloud_scheduler = format!(
        "{{\n    \"id\": \"{scheduled}\",\n    \"metadata\": {{\n        \"priority\": \"bulk\",\n        \"timestamp\": 1604040483000,\n        \"version\": \"1.0\"\n    }},\n    \"headers\": {{}},\n    \"task\": \"{}\",\n    \"args\": [],\n    \"kwargs\": {{\"month\":\"2026-11\"}}\n}}\n",
        RebuildInput::NAME
    );
    let go_kwargs = r#"{"invoice_id":"INV-2003","cc":"ops@example.com"}"#;
    let got = owlpost_runs(
        &setup,
        vec![
            raw(&setup, "pubsub", Priority::Bulk, &cloud_scheduler, json!({"taskhawk_task": RebuildInput::NAME})),
            raw(
                &setup,
                "pubsub",
                Priority::Default,
                &taskhawk_go(go, Priority::Default, SendInvoiceInput::NAME, go_kwargs),
                go_attributes(SendInvoiceInput::NAME),
            ),
        ],
    )
    .await;
    let expected = [
        task(scheduled, RebuildInput::NAME, Priority::Bulk, 1_604_040_483_000, json!({}), json!({"month": "2026-11"})),
        task(
            go,
            SendInvoiceInput::NAME,
            Priority::Default,
            1_796_159_728_123,
            json!({"request_id": "go-1", "tenant": "zoë & co"}),
            serde_json::from_str(go_kwargs).unwrap(),
        ),
    ];
    assert_eq!(got, expected);
    println!(
        "others | Cloud Scheduler (fixed non-UUID id and timestamp) and taskhawk-go (no args) → owlpost | PubSub | ok"
    );
}

/// Reference defect 3 (TASKHAWK.md §6): taskhawk-python's SQS worker crashes on a message
/// without message attributes (an EventBridge-scheduled one) because opentelemetry is
/// importable (`taskhawk[gcp]` installs it) and its receive hook reads the attributes
/// unconditionally; the exception escapes `listen_for_messages`. The task owlpost dispatched
/// to another priority runs, because owlpost always sets `taskhawk_task`. If this test fails
/// on the low queue because the task ran, upstream fixed the defect.
#[tokio::test]
async fn taskhawk_python_sqs_worker_crashes_on_a_message_without_attributes() {
    let setup = TaskSetup::new(Broker::Sns).await;
    let mut spec = setup.peer_spec(&[]);
    let body = eventbridge("5e8a2c4d-6f1b-4a3e-9d7c-0b2e4f6a8c1d", Priority::Low, r#"{"invoice_id":"INV-3001"}"#);
    spec["raw"] = json!([raw(&setup, "sqs", Priority::Low, &body, json!({}))]);
    TASKHAWK.run("raw", spec).await;
    let kwargs = json!({"invoice_id": "INV-3002"});
    let sent = dispatch(&setup.dispatcher(), Priority::Default, SendInvoiceInput::NAME, &kwargs, &json!({})).await;

    let mut spec = setup.peer_spec(&TASKS);
    spec["expect"] = json!({"default": 1, "low": 1});
    let result = TASKHAWK.run("consume", spec).await;
    assert_eq!(
        result["escaped"],
        json!({"low": "AttributeError: 'NoneType' object has no attribute 'items'"}),
        "taskhawk-python's SQS worker on the attribute-less message (low) and on owlpost's (default)"
    );
    let runs = result["messages"].as_array().cloned().unwrap_or_default();
    let ran: Vec<_> = runs.iter().map(|run| (&run["id"], &run["priority"], &run["kwargs"])).collect();
    assert_eq!(ran, [(&json!(sent.id), &json!("default"), &kwargs)], "taskhawk-python ran {runs:#?}");
    println!(
        "others | attribute-less message → taskhawk-python | Sns | ok: AttributeError escapes its worker (reference defect 3); owlpost's task next to it ran"
    );
}
