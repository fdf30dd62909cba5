//! The benchmarks' operations (`owlpost_bench::Case`) in a loop, for callgrind, which
//! counts instructions where wall-clock timings are noisy:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='profile::measured*' \
//!     target/release/examples/profile <floor|publish|hedwig|consume> <reference|example> [N]
//! ```
//!
//! Only [`measured`] is counted: the inputs are made before it (and moved in, so it drops
//! them) and its outputs dropped after, as criterion's `iter_batched` does. The first call also compiles the schema, so
//! `cargo xtask bench` runs N and 2N and takes the difference.

use std::hint::black_box;

use owlpost::{Message, Publisher};
use owlpost_bench::{Case, EXAMPLE, NoopSink, REFERENCE, floor, hedwig_publish, provider, ready};

/// One operation of a case.
#[derive(Clone, Copy)]
enum Operation {
    Floor,
    Publish,
    Hedwig,
    Consume,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: profile <floor|publish|hedwig|consume> <reference|example> [N]";
    let operation = match args.next().as_deref() {
        Some("floor") => Operation::Floor,
        Some("publish") => Operation::Publish,
        Some("hedwig") => Operation::Hedwig,
        Some("consume") => Operation::Consume,
        _ => panic!("{usage}"),
    };
    let case = args.next().unwrap_or_else(|| panic!("{usage}"));
    let n: usize = args.next().map_or(100_000, |n| n.parse().expect("a count"));
    match case.as_str() {
        "reference" => run(&REFERENCE, operation, n),
        "example" => run(&EXAMPLE, operation, n),
        _ => panic!("{usage}"),
    }
}

fn run<M: Message>(case: &Case<M>, operation: Operation, n: usize) {
    let (publisher, hedwig, router) = (&Publisher::new("bench", NoopSink), &case.hedwig_validator(), &case.router());
    let wire = case.wire();
    for _ in 0..n {
        match operation {
            Operation::Floor => {
                let payload = (case.payload)();
                drop(measured(move || floor(&payload)));
            }
            Operation::Publish => {
                let message = case.outgoing();
                drop(measured(move || ready(publisher.publish(message)).expect("published")));
            }
            Operation::Hedwig => {
                let (payload, headers) = ((case.payload)(), case.hedwig_headers());
                drop(measured(move || hedwig_publish(hedwig, case.url, headers, &payload)));
            }
            Operation::Consume => {
                let wire = wire.clone();
                drop(measured(move || ready(router.dispatch(wire, provider()))));
            }
        }
    }
}

/// The measured part: what `f` does, and no more.
#[inline(never)]
fn measured<T>(f: impl FnOnce() -> T) -> T {
    black_box(f())
}
