//! # owlpost
//!
//! The runtime of owlpost: typed, schema-validated messaging over the
//! [Hedwig](https://github.com/cloudchacho/hedwig-python) wire protocol.
//!
//! `owlpost-codegen` turns a Hedwig schema file into payload types, `publish_<type>()`
//! functions and handler traits; this crate does the rest: the envelope, validation
//! against the schema (on publish and on consume), encoding, broker I/O and the consumer
//! loop. The in-memory broker ([`memory::MemoryBroker`]) is always available; SNS/SQS
//! ([`aws`]) and Pub/Sub ([`gcp`]) are behind features of those names.
//!
//! A service generates its messages in `build.rs` with `owlpost_codegen::Config` and
//! includes them with [`include_messages!`] (`mod messages { owlpost::include_messages!(); }`);
//! the README shows the whole generated API.
#![deny(missing_docs)]

#[cfg(any(feature = "aws", feature = "gcp"))]
mod acks;
mod attributes;
#[cfg(feature = "aws")]
pub mod aws;
mod backend;
mod backoff;
mod cadence;
mod consume;
#[cfg(feature = "gcp")]
pub mod gcp;
mod hedwig;
mod layout;
pub mod memory;
#[cfg(feature = "otel")]
pub mod otel;
mod schema;
mod strict;
pub mod taskhawk;
pub mod testing;

pub use attributes::Attributes;
pub use backend::{BackendError, BoxFuture, Delivery, ProviderMetadata, Requeued, Sink, Source, WireMessage};
pub use backoff::Backoff;
pub use cadence::{Cadence, RateUnit, ScheduledMessage};
pub use consume::{
    ConsumeError, Consumer, ConsumerSettings, Dispatch, HandlerError, HandlerResult, Health, Hook, InvalidMessages,
    Outcome, Prioritized, Processed, Routed, Settlement, dispatch, shutdown_signal,
};
pub use hedwig::message::{IntoOutgoing, Message, Metadata, Outgoing, Received};
pub use hedwig::naming::{HedwigNaming, default_topic};
pub use hedwig::publish::{DynamicMessage, PublishError, Published, Publisher};
pub use hedwig::router::Router;
pub use hedwig::validation::{Step, StringCheck, Validation};
pub use hedwig::wire;
pub use layout::{Broker, ConsumedTopic, Layout, Naming, Provisioning, Rescheduled};
pub use schema::{
    Document, MajorSchema, Schema, SchemaError, SchemaProblem, SchemaUrl, TaskSchema, ValidationError, Version,
};

/// Includes the code `owlpost-codegen` generated into `OUT_DIR`.
///
/// `include_messages!()` includes `owlpost_messages.rs` (the default output of
/// `owlpost_codegen::Config::compile`); `include_messages!("name")` includes `name.rs`,
/// for a build script that set `Config::file_name("name")`.
#[macro_export]
macro_rules! include_messages {
    () => {
        $crate::include_messages!("owlpost_messages");
    };
    ($name:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $name, ".rs"));
    };
}

/// Includes the task code `owlpost-codegen` generated into `OUT_DIR` from a task schema:
/// `owlpost_tasks.rs` by default, `name.rs` with `include_tasks!("name")`.
#[macro_export]
macro_rules! include_tasks {
    () => {
        $crate::include_messages!("owlpost_tasks");
    };
    ($name:literal) => {
        $crate::include_messages!($name);
    };
}

/// What generated code uses. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use chrono;
    pub use regress;
    pub use serde;
    pub use serde_json;
    pub use uuid;

    /// Compiles the schema document `owlpost-codegen` embedded in generated code.
    ///
    /// # Panics
    /// When the document does not compile; the code generator compiled the same text
    /// at build time, so this cannot happen for generated code.
    pub fn schema(file: &str, json: &str) -> crate::Schema {
        match crate::Schema::from_json(file, json) {
            Ok(schema) => schema,
            Err(e) => panic!("owlpost: the schema embedded by owlpost-codegen does not compile (a bug): {e}"),
        }
    }
}
