//! The generated code the benchmarks (`benches/speed.rs`) measure, and what they share.
#![deny(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

use owlpost::{BackendError, BoxFuture, Message, Outgoing, ProviderMetadata, Received, Router, Sink, WireMessage};

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

/// The data one schema's benchmarks publish and consume, and the peers' setup for it: what
/// the criterion suite (`benches/speed.rs`) times and the callgrind loop
/// (`examples/profile.rs`) counts, so both measure the same operations.
pub struct Case<M> {
    /// `reference` or `example`.
    pub name: &'static str,
    /// Makes the payload.
    pub payload: fn() -> M,
    /// The schema file, for the hedwig crate.
    pub schema: &'static str,
    /// The schema URL of the payload's version, for the hedwig crate.
    pub url: &'static str,
}

/// hedwig's own `user-created` 1.0: a `user_id` string.
pub const REFERENCE: Case<reference::UserCreatedV1> = Case {
    name: "reference",
    payload: || reference::UserCreatedV1 { user_id: String::from("U_1001").into() },
    schema: include_str!("../../codegen/tests/fixtures/hedwig_reference.json"),
    url: "https://hedwig.standard.ai/schema#/schemas/user-created/1.0",
};

/// `schemas/example.json`'s `user-created` 1.1: a pattern, an e-mail format, an enum, an
/// optional field.
pub const EXAMPLE: Case<example::UserCreatedV1> = Case {
    name: "example",
    payload: || example::UserCreatedV1 {
        user_id: "U_1001".parse().expect("a valid user id"),
        email: "ada@example.com".into(),
        plan: example::Plan::Pro,
        referrer: Some("newsletter".into()),
    },
    schema: include_str!("../../schemas/example.json"),
    url: "https://owlpost.dev/schemas/example#/schemas/user-created/1.1",
};

impl<M: Message> Case<M> {
    /// The message owlpost publishes: the payload and a `request_id` header.
    pub fn outgoing(&self) -> Outgoing<M> {
        Outgoing::new((self.payload)()).header("request_id", "req-42")
    }

    /// The hedwig crate's validator for the schema file. valico resolves schema URLs by
    /// `$id` only, so a file with a draft-04 `id` gets the same value as `$id` too.
    pub fn hedwig_validator(&self) -> hedwig::validators::JsonSchemaValidator {
        let mut schema: serde_json::Value = serde_json::from_str(self.schema).expect("a JSON schema file");
        let id = schema["id"].clone();
        schema.as_object_mut().expect("a schema object").entry("$id").or_insert(id);
        hedwig::validators::JsonSchemaValidator::from_json(schema).expect("a schema valico compiles")
    }

    /// What the hedwig crate validates with the payload: its headers.
    pub fn hedwig_headers(&self) -> hedwig::Headers {
        [("request_id".to_owned(), "req-42".to_owned())].into()
    }

    /// A router whose handler of `M` does nothing: what the consume path runs.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        router.route(|m: Received<M>| async move {
            black_box(m);
            Ok(())
        });
        router
    }

    /// The wire message owlpost publishes for [`Case::outgoing`]: what consuming decodes.
    pub fn wire(&self) -> WireMessage {
        wire_of(self.outgoing())
    }
}

/// Serialize, draw an id, read the clock: the least a publisher can do.
pub fn floor<T: serde::Serialize>(payload: &T) -> (Vec<u8>, uuid::Uuid, SystemTime) {
    (serde_json::to_vec(payload).expect("a payload serializes"), uuid::Uuid::new_v4(), SystemTime::now())
}

/// The hedwig crate's publish up to its backend: validate with a fresh id and time.
pub fn hedwig_publish<M: serde::Serialize>(
    validator: &hedwig::validators::JsonSchemaValidator,
    url: &'static str,
    headers: hedwig::Headers,
    payload: &M,
) -> hedwig::ValidatedMessage {
    validator.validate(uuid::Uuid::new_v4(), SystemTime::now(), url, headers, payload).expect("hedwig validates")
}

/// The provider metadata consumed messages carry.
pub fn provider() -> ProviderMetadata {
    ProviderMetadata::Memory { queue: "bench".into(), receive_count: 1 }
}
