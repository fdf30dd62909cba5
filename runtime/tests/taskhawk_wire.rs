//! The Taskhawk wire format and names against taskhawk-python 4.7.0's captures
//! (`tests/fixtures/taskhawk-samples`, from `shared/wire-samples/taskhawk`): every captured
//! message decodes to what the reference ran, owlpost's encoding is the reference's body with
//! `args: []` plus `taskhawk_task`, the schedulers' and taskhawk-go's shapes are read, every
//! malformed body names its JSON pointer, and the names of every priority's resources are
//! the reference's.

use std::collections::BTreeMap;
use std::path::Path;

use owlpost::taskhawk::wire::{self, DecodeError, EncodeError, TaskMessage};
use owlpost::taskhawk::{Priority, TaskhawkNaming};
use owlpost::{ConsumedTopic, Naming, WireMessage};
use serde_json::{Value, json};

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/taskhawk-samples").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A captured message as owlpost's sources hand it over: SQS `Body` + `MessageAttributes`
/// or Pub/Sub `data` + `attributes`.
fn wire_of(raw: &Value) -> WireMessage {
    let (body, attributes) = match raw.get("Body") {
        Some(body) => {
            let attributes = raw["MessageAttributes"].as_object().cloned().unwrap_or_default();
            let attributes = attributes.into_iter().map(|(k, v)| (k, v["StringValue"].as_str().unwrap().to_owned()));
            (body, attributes.collect())
        }
        None => {
            let attributes = raw["attributes"].as_object().unwrap().clone();
            (&raw["data"], attributes.into_iter().map(|(k, v)| (k, v.as_str().unwrap().to_owned())).collect())
        }
    };
    WireMessage { body: body.as_str().unwrap().as_bytes().to_vec(), attributes }
}

/// The python round trips of every priority on both brokers, with the capture they came from.
fn round_trips() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for name in ["aws-sqs-default.json", "aws-sqs-high.json", "gcp-pubsub-default.json", "gcp-pubsub-high.json"] {
        found.push((name.to_owned(), sample(name)));
    }
    for name in ["aws-checks.json", "gcp-checks.json"] {
        let checks = sample(name);
        for priority in ["low", "bulk"] {
            found.push((format!("{name} {priority}"), checks["low_and_bulk_round_trips"][priority].clone()));
        }
    }
    found
}

fn headers(value: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(value.clone()).unwrap()
}

#[test]
fn every_python_capture_decodes_to_what_the_reference_ran() {
    let trips = round_trips();
    assert_eq!(trips.len(), 8, "4 priorities x 2 brokers");
    for (name, capture) in trips {
        let priority: Priority = capture["priority"].as_str().unwrap().parse().unwrap();
        let ran = &capture["executions"][0];
        for raw in capture["raw_wire_messages"].as_array().unwrap() {
            // Another queue's priority: the body's own wins.
            let decoded = wire::decode(&wire_of(raw), Priority::Bulk).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(decoded.task, ran["task"], "{name}");
            assert_eq!(decoded.id, ran["metadata"]["id"], "{name}");
            assert_eq!(decoded.priority, priority, "{name}");
            assert_eq!(json!(decoded.timestamp), ran["metadata"]["timestamp"], "{name}");
            assert_eq!(decoded.headers, headers(&ran["headers"]), "{name}");
            assert_eq!(json!(decoded.args), ran["args"], "{name}");
            assert_eq!(Value::Object(decoded.kwargs), ran["kwargs"], "{name}");
        }
    }
}

#[test]
fn owlpost_writes_the_reference_body_with_empty_args_and_the_task_attribute() {
    for (name, capture) in round_trips() {
        let raw = &capture["raw_wire_messages"][0];
        let python = wire::decode(&wire_of(raw), Priority::Default).unwrap();
        let ours = TaskMessage { args: Vec::new(), ..python.clone() };
        let encoded = wire::encode(&ours).unwrap();
        let mut expected: Value = serde_json::from_slice(&wire_of(raw).body).unwrap();
        expected["args"] = json!([]);
        let written: Value = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(written, expected, "{name}: the same fields, args empty");
        let text = String::from_utf8(encoded.body.clone()).unwrap();
        assert!(!text.contains(": ") && !text.contains(", "), "{name}: compact JSON: {text}");
        let mut attributes = ours.headers.clone();
        attributes.insert("taskhawk_task".into(), ours.task.clone());
        assert_eq!(encoded.attributes, attributes, "{name}: headers plus taskhawk_task");
        assert_eq!(wire::decode(&encoded, Priority::Bulk).unwrap(), ours, "{name}: round trip");
    }
}

#[test]
fn the_schedulers_shapes_are_read() {
    // EventBridge: no attributes at all, an RFC 3339 timestamp, a pretty-printed body.
    let eventbridge = sample("aws-sqs-scheduled-eventbridge.json");
    let message = wire::decode(&wire_of(&eventbridge["raw_wire_messages"][0]), Priority::High).unwrap();
    let ran = &eventbridge["executions"][0];
    assert_eq!(message.timestamp, 1_796_159_727_000, "2026-12-01T21:15:27Z");
    assert_eq!(
        (message.id.as_str(), message.task.as_str()),
        ("42934490-3493-46d8-9296-ebc900fe69d4", "th_tasks.send_email")
    );
    assert_eq!((json!(message.args), Value::Object(message.kwargs)), (ran["args"].clone(), ran["kwargs"].clone()));
    assert_eq!(message.priority, Priority::Default);

    // Cloud Scheduler: an id that is not a UUID, the task attribute, empty headers.
    let scheduler = sample("gcp-pubsub-scheduled-cloud-scheduler.json");
    let message = wire::decode(&wire_of(&scheduler["raw_wire_messages"][0]), Priority::Low).unwrap();
    assert_eq!(message.id, "00000000-0000-0000-0000000000000000");
    assert_eq!((message.timestamp, message.headers.len()), (1_604_040_483_000, 0));
}

#[test]
fn an_eventbridge_scheduler_placeholder_left_unfilled_reads_as_the_time_of_receipt() {
    // What ministack delivers for a schedule whose input has EventBridge Scheduler's context
    // attributes: it does not fill them in (AWS does).
    let unfilled = body(|b| {
        b["id"] = json!("<aws.scheduler.execution-id>");
        b["metadata"]["timestamp"] = json!("<aws.scheduler.scheduled-time>");
    });
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let message = wire::decode(&unfilled, Priority::Default).unwrap();
    assert_eq!(message.id, "<aws.scheduler.execution-id>");
    assert!(message.timestamp >= before && message.timestamp < before + 5_000, "{}", message.timestamp);
    let other = body(|b| b["metadata"]["timestamp"] = json!("<soon>"));
    assert_eq!(pointer_of(wire::decode(&other, Priority::Default).unwrap_err()), "/metadata/timestamp");
}

#[test]
fn the_due_time_of_a_delayed_task_travels_in_a_header_to_the_millisecond() {
    let due = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_159_727_123);
    assert_eq!(wire::due_header(due), "2026-12-01T21:15:27.123Z");
    let between = due + std::time::Duration::from_nanos(400_000);
    assert_eq!(wire::due_header(between), "2026-12-01T21:15:27.124Z", "rounded up: never before it is due");
    let delayed = body(|b| b["headers"][wire::DUE_HEADER] = json!(wire::due_header(due)));
    let message = wire::decode(&delayed, Priority::Default).unwrap();
    assert_eq!(wire::due(&message).unwrap(), Some(due));
    assert_eq!(wire::due(&wire::decode(&body(|_| {}), Priority::Default).unwrap()).unwrap(), None);
    let garbled = body(|b| b["headers"][wire::DUE_HEADER] = json!("tomorrow"));
    let error = wire::due(&wire::decode(&garbled, Priority::Default).unwrap()).unwrap_err();
    assert_eq!(pointer_of(error), "/headers/owlpost_due");
}

#[test]
fn a_taskhawk_go_message_without_args_is_read() {
    let go = sample("aws-checks.json")["go_shaped_message"]["body"].as_str().unwrap().to_owned();
    let message =
        wire::decode(&WireMessage { body: go.into_bytes(), attributes: Default::default() }, Priority::Default);
    let message = message.unwrap();
    assert!(message.args.is_empty());
    assert_eq!((message.priority, message.kwargs["to"].as_str()), (Priority::Low, Some("go@example.com")));
}

fn body(edit: impl FnOnce(&mut Value)) -> WireMessage {
    let mut body = json!({
        "id": "t-1",
        "metadata": {"timestamp": 1, "priority": "high", "version": "1.0"},
        "headers": {"request_id": "r"},
        "task": "app.tasks.work",
        "args": [],
        "kwargs": {"n": 1}
    });
    edit(&mut body);
    WireMessage { body: body.to_string().into_bytes(), attributes: Default::default() }
}

fn pointer_of(error: DecodeError) -> String {
    match error {
        DecodeError::Invalid { pointer, .. } => pointer,
        other => panic!("not an invalid field: {other:?}"),
    }
}

#[test]
fn tolerances_of_the_readers() {
    let missing_priority = body(|b| drop(b["metadata"].as_object_mut().unwrap().remove("priority")));
    assert_eq!(wire::decode(&missing_priority, Priority::Bulk).unwrap().priority, Priority::Bulk, "the queue's");
    let scalar_headers = body(|b| b["headers"] = json!({"n": 7, "ok": true, "s": "x"}));
    let headers = wire::decode(&scalar_headers, Priority::Default).unwrap().headers;
    assert_eq!(
        headers,
        BTreeMap::from([("n".into(), "7".into()), ("ok".into(), "true".into()), ("s".into(), "x".into())])
    );
    let no_headers_no_kwargs = body(|b| {
        let body = b.as_object_mut().unwrap();
        body.remove("headers");
        body.remove("kwargs");
    });
    let message = wire::decode(&no_headers_no_kwargs, Priority::Default).unwrap();
    assert!(message.headers.is_empty() && message.kwargs.is_empty());
    let offset = body(|b| b["metadata"]["timestamp"] = json!("2026-12-01T22:15:27+01:00"));
    assert_eq!(wire::decode(&offset, Priority::Default).unwrap().timestamp, 1_796_159_727_000);
}

#[test]
fn every_malformed_body_names_its_pointer() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 13] = [
        ("", |b| *b = json!([1])),
        ("/id", |b| drop(b.as_object_mut().unwrap().remove("id"))),
        ("/id", |b| b["id"] = json!("")),
        ("/task", |b| b["task"] = json!(5)),
        ("/metadata", |b| b["metadata"] = json!("x")),
        ("/metadata/version", |b| drop(b["metadata"].as_object_mut().unwrap().remove("version"))),
        ("/metadata/timestamp", |b| b["metadata"]["timestamp"] = json!(1.5)),
        ("/metadata/timestamp", |b| b["metadata"]["timestamp"] = json!("yesterday")),
        ("/metadata/priority", |b| b["metadata"]["priority"] = json!("urgent")),
        ("/headers", |b| b["headers"] = json!([])),
        ("/headers/a~1b", |b| b["headers"] = json!({"a/b": null})),
        ("/args", |b| b["args"] = json!({})),
        ("/kwargs", |b| b["kwargs"] = json!([1])),
    ];
    for (pointer, edit) in cases {
        let error = wire::decode(&body(edit), Priority::Default).unwrap_err();
        assert!(error.to_string().contains(&format!("{pointer:?}")), "{error}");
        assert_eq!(pointer_of(error), pointer);
    }
    let version = wire::decode(&body(|b| b["metadata"]["version"] = json!("2.0")), Priority::Default).unwrap_err();
    assert_eq!(version, DecodeError::FormatVersion { found: "2.0".into() });
    let not_json = WireMessage { body: b"{".to_vec(), attributes: Default::default() };
    assert!(matches!(wire::decode(&not_json, Priority::Default), Err(DecodeError::BodyNotJson { .. })));
}

#[test]
fn base64_bodies_are_read_when_the_attribute_says_so() {
    use base64::Engine;
    let plain = body(|_| {});
    let encoded = base64::engine::general_purpose::STANDARD.encode(&plain.body);
    let attributes = owlpost::Attributes::from([("taskhawk_encoding", "base64")]);
    let message = WireMessage { body: encoded.into_bytes(), attributes: attributes.clone() };
    assert_eq!(wire::decode(&message, Priority::Default).unwrap(), wire::decode(&plain, Priority::Default).unwrap());
    let broken = WireMessage { body: b"%%%".to_vec(), attributes };
    assert!(matches!(wire::decode(&broken, Priority::Default), Err(DecodeError::Base64 { .. })));
}

#[test]
fn reserved_headers_are_refused() {
    let message = wire::decode(&body(|_| {}), Priority::Default).unwrap();
    let mut headers = message.headers.clone();
    headers.insert("taskhawk_task".into(), "other".into());
    let error = wire::encode(&TaskMessage { headers, ..message }).unwrap_err();
    assert_eq!(error, EncodeError::ReservedHeader { task: "app.tasks.work".into(), key: "taskhawk_task".into() });
}

#[test]
fn priorities_parse_and_name_their_queues() {
    for priority in Priority::ALL {
        assert_eq!(priority.as_str().parse::<Priority>().unwrap(), priority);
    }
    assert!("urgent".parse::<Priority>().is_err());
    let queues: Vec<String> = Priority::ALL.iter().map(|p| p.queue("dev-myapp")).collect();
    assert_eq!(queues, ["dev-myapp-high-priority", "dev-myapp", "dev-myapp-low-priority", "dev-myapp-bulk"]);
}

/// Every capture's resource names, from its queue setting and priority.
#[test]
fn the_names_of_every_priority_are_the_references() {
    let naming = TaskhawkNaming;
    for (name, capture) in round_trips() {
        let priority: Priority = capture["priority"].as_str().unwrap().parse().unwrap();
        let queue = priority.queue(capture["settings"]["TASKHAWK_QUEUE"].as_str().unwrap());
        if let Some(sqs) = capture.get("sqs_queue") {
            assert_eq!(naming.queue(&queue), sqs.as_str().unwrap(), "{name}");
            assert_eq!(naming.dead_letter_queue(&queue), capture["sqs_dlq"].as_str().unwrap(), "{name}");
            let arn = capture["sns_topic_arn"].as_str().unwrap();
            assert_eq!(format!("arn:aws:sns:us-east-1:000000000000:{}", naming.topic(&queue)), arn, "{name}");
        } else {
            let last = |key: &str| capture[key].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
            assert_eq!(naming.topic(&queue), last("topic"), "{name}");
            assert_eq!(naming.subscription(&queue, &ConsumedTopic::new(&queue)), last("subscription"), "{name}");
            assert_eq!(naming.dead_letter_topic(&queue), last("dlq_topic"), "{name}");
            assert_eq!(naming.dead_letter_topic(&queue), last("dlq_subscription"), "{name}");
            assert_eq!(naming.queue_topic(&queue), last("topic"), "{name}: re-queued to the priority's own topic");
        }
    }
}
