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
//! pattern, an e-mail format, an enum, an optional field): `owlpost_bench::REFERENCE` and
//! `EXAMPLE`, which `examples/profile.rs` counts the instructions of.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use owlpost::{Message, Publisher};
use owlpost_bench::{Case, EXAMPLE, NoopSink, REFERENCE, floor, hedwig_publish, provider, ready};

fn reference_paths(c: &mut Criterion) {
    paths(c, &REFERENCE);
}

fn example_paths(c: &mut Criterion) {
    paths(c, &EXAMPLE);
}

/// The P1 and P2 groups of one case.
fn paths<M: Message>(c: &mut Criterion, case: &Case<M>) {
    let publisher = Publisher::new("bench", NoopSink);
    let hedwig = case.hedwig_validator();

    let mut group = c.benchmark_group(format!("p1/{}", case.name));
    group.bench_function("floor", |b| b.iter_batched(case.payload, |p| floor(&p), BatchSize::SmallInput));
    // What the generated `publish_user_created(&publisher, message)` is: this one call.
    group.bench_function("owlpost", |b| {
        b.iter_batched(|| case.outgoing(), |m| ready(publisher.publish(m)).unwrap(), BatchSize::SmallInput)
    });
    group.bench_function("hedwig", |b| {
        b.iter_batched(
            || ((case.payload)(), case.hedwig_headers()),
            |(p, headers)| hedwig_publish(&hedwig, case.url, headers, &p),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let wire = case.wire();
    let router = case.router();
    let mut group = c.benchmark_group(format!("p2/{}", case.name));
    // The message is the consumer's own delivery: its copy is made outside the measurement.
    group.bench_function("owlpost", |b| {
        b.iter_batched(|| wire.clone(), |wire| ready(router.dispatch(wire, provider())), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, reference_paths, example_paths);
criterion_main!(benches);
