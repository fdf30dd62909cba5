//! The generated code the benchmarks (`benches/speed.rs`) measure, and what they share.
#![deny(missing_docs)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use owlpost::{BackendError, BoxFuture, Message, Outgoing, Sink, WireMessage};

/// Types and `publish_*` functions generated from `schemas/example.json`.
pub mod example {
    owlpost::include_messages!();
}

/// Types and `publish_*` functions generated from hedwig's reference schema
/// (`codegen/tests/fixtures/hedwig_reference.json`).
pub mod reference {
    owlpost::include_messages!("reference");
}

/// A sink that accepts every message at once: what is measured ends at the backend call.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopSink;

impl Sink for NoopSink {
    fn publish<'a>(&'a self, _topic: &'a str, message: &'a WireMessage) -> BoxFuture<'a, Result<String, BackendError>> {
        std::hint::black_box(message);
        Box::pin(std::future::ready(Ok(String::new())))
    }
}

/// Runs a future that completes without waiting (a publish to [`NoopSink`]), with no
/// executor in the measurement.
pub fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited: the benchmark measures only futures that complete at once"),
    }
}

/// The wire message a publish of `message` sends: what the consume benchmarks decode.
pub fn wire_of<M: Message>(message: Outgoing<M>) -> WireMessage {
    let recording = owlpost::testing::Recording::new();
    ready(recording.publisher("bench").publish(message)).expect("the benchmark's message publishes");
    recording.messages().remove(0).1
}
