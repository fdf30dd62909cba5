//! The cost of owlpost's publish and consume paths, each next to its baseline in the same
//! run: `cargo xtask bench`.
//!
//! * `baseline/serialize`: `serde_json::to_vec` of the payload: what any JSON publisher pays.
//! * `validate`: checking the payload against its `<major>.*` schema (compiled once).
//! * `publish/encode`: what `Publisher` adds before the network: validation, envelope (UUID
//!   v4 id, timestamp), attributes encoding.
//! * `consume/decode+validate`: what the consumer does before the handler.
//! * `memory/round_trip`: publish to the in-memory broker, receive, dispatch to a handler,
//!   acknowledge.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use owlpost::memory::MemoryBroker;
use owlpost::{Consumer, DynamicMessage, Publisher, Received, Router, Schema, Version};
use serde_json::{Value, json};

fn schema() -> Schema {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/example.json");
    Schema::from_json("example.json", &std::fs::read_to_string(path).expect("example schema")).expect("compiles")
}

fn payload() -> Value {
    json!({"user_id": "U_1001", "email": "ada@example.com", "plan": "pro", "referrer": "newsletter"})
}

fn message() -> DynamicMessage {
    DynamicMessage {
        message_type: "user-created".into(),
        version: Version::new(1, 1),
        data: payload(),
        id: None,
        headers: [("request_id".to_owned(), "req-42".to_owned())].into(),
    }
}

fn pipeline(c: &mut Criterion) {
    let schema = schema();
    let data = payload();
    let version = Version::new(1, 1);
    let broker = MemoryBroker::new();
    broker.subscribe("user-created-v1", "bench");
    let publisher = Publisher::new("bench", broker.clone());
    let wire = publisher.encode(&schema, message()).expect("valid");

    c.bench_function("baseline/serialize", |b| b.iter(|| serde_json::to_vec(black_box(&data)).unwrap()));
    c.bench_function("validate", |b| b.iter(|| schema.validate("user-created", version, black_box(&data)).unwrap()));
    c.bench_function("publish/encode", |b| {
        b.iter_batched(message, |m| publisher.encode(&schema, m).unwrap(), BatchSize::SmallInput)
    });
    c.bench_function("consume/decode+validate", |b| {
        b.iter(|| {
            let (metadata, data) = owlpost::wire::decode(black_box(&wire)).unwrap();
            schema.validate("user-created", version, &data).unwrap();
            metadata
        })
    });

    let schema: &'static Schema = Box::leak(Box::new(schema));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    PAYLOAD_SCHEMA.set(schema).unwrap();
    let mut router = Router::new();
    router.route(|message: Received<Payload>| async move {
        black_box(message.data);
        Ok(())
    });
    let consumer = Consumer::new(broker.source("bench"), router);
    c.bench_function("memory/round_trip", |b| {
        b.iter(|| {
            runtime.block_on(async {
                publisher.publish_dynamic(schema, message()).await.unwrap();
                assert_eq!(consumer.poll().await.unwrap().len(), 1);
            })
        })
    });
}

static PAYLOAD_SCHEMA: std::sync::OnceLock<&'static Schema> = std::sync::OnceLock::new();

/// A hand-written payload type standing in for a generated one.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    user_id: String,
    email: String,
    plan: String,
    referrer: Option<String>,
}

impl owlpost::Message for Payload {
    const MESSAGE_TYPE: &'static str = "user-created";
    const MAJOR: u32 = 1;
    const MINOR: u32 = 1;
    const DEFAULT_TOPIC: &'static str = "user-created-v1";
    fn schema() -> &'static Schema {
        PAYLOAD_SCHEMA.get().expect("set before use")
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
