//! owlpost's typed paths next to the hedwig crate 7.2 and the `serde_json` floor, on the same
//! schema and data, in one process: `cargo xtask bench` runs this and prints the ratios.
//!
//! * `p1/<schema>/floor`: serialize the payload, draw a v4 id, read the clock: what any
//!   publisher pays.
//! * `p1/<schema>/owlpost`: the typed publish of the generated `publish_user_created()` up to
//!   the backend call (a sink that returns at once).
//! * `p1/<schema>/hedwig`: the hedwig crate's `JsonSchemaValidator::validate` with a fresh id
//!   and time, which is all its publisher does before its backend.
//! * `p2/<schema>/owlpost`: `Router::dispatch` of the published wire message: decode,
//!   validate, typed payload, a handler that does nothing. (The hedwig crate decodes
//!   protobuf only: it has no JSON equivalent. hedwig-python's `Message.deserialize` is
//!   measured by `cargo xtask bench` in Python.)
//!
//! `<schema>` is `reference` (hedwig's own `user-created` 1.0: a `user_id` string and a
//! `request_id` header) or `example` (`schemas/example.json`'s `user-created` 1.1: a
//! pattern, an e-mail format, an enum, an optional field).

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use owlpost::{Message, Outgoing, ProviderMetadata, Publisher, Received, Router};
use owlpost_bench::{NoopSink, example, ready, reference, wire_of};

const REFERENCE_SCHEMA: &str = include_str!("../../codegen/tests/fixtures/hedwig_reference.json");
const EXAMPLE_SCHEMA: &str = include_str!("../../schemas/example.json");

fn provider() -> ProviderMetadata {
    ProviderMetadata::Memory { queue: "bench".into(), receive_count: 1 }
}

/// Serialize, draw an id, read the clock: the least a publisher can do.
fn floor<T: serde::Serialize>(payload: &T) -> (Vec<u8>, uuid::Uuid, SystemTime) {
    (serde_json::to_vec(payload).unwrap(), uuid::Uuid::new_v4(), SystemTime::now())
}

/// The hedwig crate's validator for a schema file. valico resolves schema URLs by `$id`
/// only, so a file with a draft-04 `id` gets the same value as `$id` too.
fn hedwig_validator(schema: &str) -> hedwig::validators::JsonSchemaValidator {
    let mut schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let id = schema["id"].clone();
    schema.as_object_mut().unwrap().entry("$id").or_insert(id);
    hedwig::validators::JsonSchemaValidator::from_json(schema).unwrap()
}

fn hedwig_headers() -> hedwig::Headers {
    [("request_id".to_owned(), "req-42".to_owned())].into()
}

fn reference_paths(c: &mut Criterion) {
    let payload = || reference::UserCreatedV1 { user_id: String::from("U_1001").into() };
    let url = "https://hedwig.standard.ai/schema#/schemas/user-created/1.0";
    paths(c, "reference", payload, REFERENCE_SCHEMA, url);
}

fn example_paths(c: &mut Criterion) {
    let payload = || example::UserCreatedV1 {
        user_id: "U_1001".parse().unwrap(),
        email: "ada@example.com".into(),
        plan: example::Plan::Pro,
        referrer: Some("newsletter".into()),
    };
    let url = "https://owlpost.dev/schemas/example#/schemas/user-created/1.1";
    paths(c, "example", payload, EXAMPLE_SCHEMA, url);
}

/// The P1 and P2 groups of one schema: `payload` makes the data, `schema` and `url` are what
/// the hedwig crate validates it with.
fn paths<M: Message>(c: &mut Criterion, name: &str, payload: impl Fn() -> M, schema: &str, url: &'static str) {
    let outgoing = || Outgoing::new(payload()).header("request_id", "req-42");
    let publisher = Publisher::new("bench", NoopSink);
    let hedwig = hedwig_validator(schema);

    let mut group = c.benchmark_group(format!("p1/{name}"));
    group.bench_function("floor", |b| b.iter_batched(&payload, |p| floor(&p), BatchSize::SmallInput));
    // What the generated `publish_user_created(&publisher, message)` is: this one call.
    group.bench_function("owlpost", |b| {
        b.iter_batched(outgoing, |m| ready(publisher.publish(m)).unwrap(), BatchSize::SmallInput)
    });
    group.bench_function("hedwig", |b| {
        b.iter_batched(
            || (payload(), hedwig_headers()),
            |(p, headers)| hedwig.validate(uuid::Uuid::new_v4(), SystemTime::now(), url, headers, &p).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let wire = wire_of(outgoing());
    let mut router = Router::new();
    router.route(|m: Received<M>| async move {
        black_box(m);
        Ok(())
    });
    let mut group = c.benchmark_group(format!("p2/{name}"));
    group.bench_function("owlpost", |b| b.iter(|| ready(router.dispatch(black_box(&wire), provider()))));
    group.finish();
}

criterion_group!(benches, reference_paths, example_paths);
criterion_main!(benches);
