//! Taskhawk tasks on the in-memory broker, with a hand-written task type (generated ones are
//! tested in the end-to-end crate): dispatch validates and sends to the priority's queue,
//! one consumer works all four queues preferring higher priorities without starving bulk,
//! a body without priority takes its queue's, invalid and unknown tasks are dead-lettered,
//! and dead letters go back to the queue of their own priority.

use std::sync::{Arc, LazyLock, Mutex};

use owlpost::memory::MemoryBroker;
use owlpost::taskhawk::{
    self, DispatchError, Dispatcher, DynamicTask, OutgoingTask, Priority, ReceivedTask, Task, TaskRouter, wire,
};
use owlpost::{
    Broker, ConsumeError, Consumer, ConsumerSettings, HandlerResult, Outcome, Schema, Settlement, Source, WireMessage,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

const SCHEMA: &str = r#"{
  "id": "https://example.com/schemas/app-tasks",
  "$schema": "http://json-schema.org/draft-04/schema#",
  "tasks": {
    "app.tasks.send_email": {
      "description": "Sends an email.",
      "priority": "default",
      "x-version": "1.0",
      "input": {
        "type": "object",
        "properties": { "to": { "type": "string", "format": "email" }, "n": { "type": "integer", "minimum": 0 } },
        "required": ["to", "n"],
        "additionalProperties": false
      }
    }
  }
}"#;

static TASKS: LazyLock<Schema> = LazyLock::new(|| Schema::from_json("tasks.json", SCHEMA).unwrap());

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SendEmail {
    to: String,
    n: u64,
}

impl Task for SendEmail {
    const NAME: &'static str = "app.tasks.send_email";
    const PRIORITY: Priority = Priority::Default;
    fn schema() -> &'static Schema {
        &TASKS
    }
}

fn email(n: u64) -> SendEmail {
    SendEmail { to: "ada@example.com".into(), n }
}

/// A broker with the four queues of service `app` provisioned.
async fn broker() -> MemoryBroker {
    let broker = MemoryBroker::new();
    for priority in Priority::ALL {
        broker.provision(&taskhawk::provisioning("app", priority)).await.unwrap();
    }
    broker
}

type Log = Arc<Mutex<Vec<(Priority, u64)>>>;

fn worker(broker: &MemoryBroker, settings: ConsumerSettings) -> (Consumer, Log) {
    let log = Log::default();
    let mut router = TaskRouter::new();
    let seen = log.clone();
    router.route(move |task: ReceivedTask<SendEmail>| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push((task.priority, task.input.n));
            HandlerResult::Ok(())
        }
    });
    let sources = taskhawk::sources(Priority::ALL.map(|p| (p, broker.source(&p.queue("app")))));
    (Consumer::new(sources, router).with_settings(settings), log)
}

#[tokio::test]
async fn a_dispatch_goes_to_its_prioritys_queue_validated_and_encoded() {
    let broker = broker().await;
    let dispatcher = Dispatcher::new("app", broker.clone());
    let sent = dispatcher.dispatch(email(1)).await.unwrap();
    assert_eq!((sent.topic.as_str(), sent.priority), ("app", Priority::Default));
    let urgent = OutgoingTask::new(email(2)).priority(Priority::High).header("request_id", "r-1").id("t-2");
    let sent = dispatcher.dispatch(urgent).await.unwrap();
    assert_eq!((sent.topic.as_str(), sent.id.as_str()), ("app-high-priority", "t-2"));

    let delivery = broker.source("app-high-priority").receive(10).await.unwrap().remove(0);
    assert_eq!(delivery.message.attributes["taskhawk_task"], "app.tasks.send_email");
    assert_eq!(delivery.message.attributes["request_id"], "r-1");
    let message = wire::decode(&delivery.message, Priority::Bulk).unwrap();
    assert_eq!((message.id.as_str(), message.priority), ("t-2", Priority::High));
    assert_eq!((json!(message.kwargs), message.args.len()), (json!({"to": "ada@example.com", "n": 2}), 0));
    assert_eq!(message.headers["request_id"], "r-1");
}

#[tokio::test]
async fn invalid_input_is_a_typed_error_and_nothing_is_sent() {
    let broker = broker().await;
    let dispatcher = Dispatcher::new("app", broker.clone());
    let error = dispatcher.dispatch(SendEmail { to: "not an email".into(), n: 1 }).await.unwrap_err();
    let DispatchError::Invalid(invalid) = &error else { panic!("{error:?}") };
    assert_eq!((invalid.message_type.as_str(), invalid.pointer.as_str()), ("app.tasks.send_email", "/to"));
    assert!(error.to_string().contains("app.tasks.send_email"), "{error}");
    let reserved = dispatcher.dispatch(OutgoingTask::new(email(1)).header("taskhawk_x", "1")).await.unwrap_err();
    assert!(matches!(reserved, DispatchError::Encode(wire::EncodeError::ReservedHeader { .. })), "{reserved:?}");
    let unknown = DynamicTask {
        task: "nope".into(),
        priority: None,
        input: json!({}),
        id: None,
        headers: Default::default(),
        due: None,
    };
    let error = dispatcher.dispatch_dynamic(&TASKS, unknown).await.unwrap_err();
    assert!(matches!(error, DispatchError::UnknownTask { .. }), "{error:?}");
    for priority in Priority::ALL {
        let stats = broker.stats(&priority.queue("app")).unwrap();
        assert_eq!(stats.ready, 0, "nothing sent to {priority}");
    }
}

#[tokio::test(start_paused = true)]
async fn one_worker_prefers_higher_priorities_and_bulk_does_not_starve() {
    let broker = broker().await;
    let dispatcher = Dispatcher::new("app", broker.clone());
    for priority in [Priority::Bulk, Priority::Low, Priority::Default, Priority::High] {
        for n in 0..30 {
            dispatcher.dispatch(OutgoingTask::new(email(n)).priority(priority)).await.unwrap();
        }
    }
    let settings = ConsumerSettings { max_in_flight: 1, ..ConsumerSettings::default() };
    let (consumer, log) = worker(&broker, settings);
    while log.lock().unwrap().len() < 120 {
        consumer.poll().await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    // While every queue has work, each round of 15 is 8 high, 4 default, 2 low, 1 bulk.
    for round in log.chunks(15).take(3) {
        let count = |p| round.iter().filter(|(q, _)| *q == p).count();
        let counts = Priority::ALL.map(count);
        assert_eq!(counts, [8, 4, 2, 1], "{round:?}");
    }
    assert_eq!(log[0].0, Priority::High, "the highest first");
    for priority in Priority::ALL {
        let mut handled: Vec<u64> = log.iter().filter(|(p, _)| *p == priority).map(|(_, n)| *n).collect();
        handled.sort();
        assert_eq!(handled, (0..30).collect::<Vec<_>>(), "every {priority} task once");
    }
}

fn raw(body: serde_json::Value) -> WireMessage {
    WireMessage { body: body.to_string().into_bytes(), attributes: Default::default() }
}

#[tokio::test]
async fn a_message_without_priority_takes_its_queues_and_bad_ones_are_dead_lettered() {
    let broker = broker().await;
    let body = |task: &str, kwargs| json!({"id": "x", "metadata": {"timestamp": 1, "version": "1.0"}, "headers": {}, "task": task, "kwargs": kwargs});
    broker.inject("app-low-priority", raw(body("app.tasks.send_email", json!({"to": "a@b.co", "n": 7})))).unwrap();
    let (consumer, log) = worker(&broker, ConsumerSettings::default());
    let processed = consumer.poll().await.unwrap();
    assert!(matches!(processed[0].outcome, Outcome::Acked), "{processed:?}");
    assert_eq!(log.lock().unwrap().as_slice(), [(Priority::Low, 7)], "the low queue's priority");

    let bad = [
        (body("app.tasks.other", json!({})), "unknown task"),
        (body("app.tasks.send_email", json!({"to": "a@b.co", "n": -1})), "invalid input"),
        (json!({"task": "app.tasks.send_email"}), "undecodable"),
        (
            {
                let mut delayed = body("app.tasks.send_email", json!({"to": "a@b.co", "n": 8}));
                delayed["headers"][wire::DUE_HEADER] = json!("tomorrow");
                delayed
            },
            "a due time that is not a time",
        ),
    ];
    for (message, _) in &bad {
        broker.inject("app-bulk", raw(message.clone())).unwrap();
    }
    let mut rejected = Vec::new();
    while rejected.len() < bad.len() {
        for processed in consumer.poll().await.unwrap() {
            assert_eq!(processed.settlement, Some(Settlement::DeadLettered), "{processed:?}");
            let Outcome::Rejected(error) = processed.outcome else { panic!("{processed:?}") };
            rejected.push(error);
        }
    }
    assert!(rejected.iter().any(|e| matches!(e, ConsumeError::UnknownTask { task } if task == "app.tasks.other")));
    assert!(rejected.iter().any(|e| matches!(e, ConsumeError::Invalid(v) if v.pointer == "/n")));
    assert!(rejected.iter().any(|e| matches!(e, ConsumeError::TaskDecode(_))));
    let due = |e: &ConsumeError| matches!(e, ConsumeError::TaskDecode(wire::DecodeError::Invalid { pointer, .. }) if pointer == "/headers/owlpost_due");
    assert!(rejected.iter().any(due), "{rejected:?}");
    assert_eq!(broker.stats("app-bulk-dlq").unwrap().ready, 4, "kept in the bulk queue's dead letters");

    let report = broker.requeue_dead_letters("app-bulk", &mut |_| {}).await.unwrap();
    assert_eq!(report.moved, 4);
    assert_eq!(broker.stats("app-bulk").unwrap().ready, 4, "back to the same priority");
    assert_eq!(broker.stats("app").unwrap().ready, 0, "not to the default queue (taskhawk-python's bug)");
}

#[tokio::test]
async fn a_task_held_until_due_is_given_back_at_once_on_shutdown() {
    let broker = broker().await;
    let dispatcher = Dispatcher::new("app", broker.clone());
    let later = OutgoingTask::new(email(1)).delay(std::time::Duration::from_secs(60));
    dispatcher.dispatch(later).await.unwrap();
    let settings = ConsumerSettings { shutdown_deadline: std::time::Duration::from_secs(20), ..Default::default() };
    let (consumer, log) = worker(&broker, settings);
    let started = std::time::Instant::now();
    consumer.run_until(tokio::time::sleep(std::time::Duration::from_millis(500))).await.unwrap();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "shutdown waited {took:?} for a held task");
    assert!(log.lock().unwrap().is_empty(), "not run before its time");
    assert_eq!(consumer.health().nacked, 1, "given back");
    // What the worker's source had buffered again goes back when it is dropped.
    drop(consumer);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stats = broker.stats("app").unwrap();
    assert_eq!(stats.ready, 1, "back in its queue for the next worker: {stats:?}");
}

#[tokio::test]
async fn a_handler_runs_on_a_task_without_a_broker() {
    let seen = Arc::new(Mutex::new(None));
    let mut router = TaskRouter::new();
    let slot = seen.clone();
    router.route(move |task: ReceivedTask<SendEmail>| {
        let slot = slot.clone();
        async move {
            *slot.lock().unwrap() = Some(task.input);
            Ok(())
        }
    });
    let processed =
        owlpost::testing::handle_task(&router, OutgoingTask::new(email(3)).priority(Priority::Low)).await.unwrap();
    assert!(matches!(processed.outcome, Outcome::Acked), "{processed:?}");
    assert_eq!(seen.lock().unwrap().clone(), Some(email(3)));
    let invalid = owlpost::testing::handle_task(&router, SendEmail { to: "x".into(), n: 0 }).await.unwrap_err();
    assert!(matches!(invalid, DispatchError::Invalid(_)));
}

#[tokio::test]
async fn a_recording_dispatcher_keeps_typed_tasks() {
    let recording = owlpost::testing::Recording::new();
    let dispatcher = recording.dispatcher("app");
    dispatcher.dispatch(OutgoingTask::new(email(5)).header("request_id", "r")).await.unwrap();
    let found = recording.assert_dispatched::<SendEmail>(|t| t.input.n == 5);
    assert_eq!((found.priority, found.headers["request_id"].as_str()), (Priority::Default, "r"));
    assert_eq!(recording.messages()[0].0, "app", "the default priority's topic");
    assert_eq!(recording.dispatched::<SendEmail>().len(), 1);
    let missing = std::panic::catch_unwind(|| recording.assert_dispatched::<SendEmail>(|t| t.input.n == 6));
    assert!(missing.is_err(), "no such task: the assert fails");
    recording.clear();
    recording.assert_not_dispatched::<SendEmail>();
}
