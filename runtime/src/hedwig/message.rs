//! The message model: what generated payload types implement, and what travels with them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::validation::Validation;
use crate::backend::ProviderMetadata;
use crate::schema::{Schema, Version};

/// The only Hedwig format version there is.
pub const FORMAT_VERSION: &str = "1.0";

/// Header keys starting with this prefix are reserved for Hedwig's own attributes.
pub const RESERVED_PREFIX: &str = "hedwig_";

/// A payload type of one message major version. `owlpost-codegen` implements it for
/// every `<Type>V<major>` it generates; generated code adds nothing else.
pub trait Message: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The message type, e.g. `user-created`.
    const MESSAGE_TYPE: &'static str;
    /// The major version this type is the payload of.
    const MAJOR: u32;
    /// The latest minor version of this major (`x-version`); messages are published with it.
    const MINOR: u32;
    /// The topic messages of this major go to unless the publisher routes them elsewhere.
    const DEFAULT_TOPIC: &'static str;
    /// What this Rust type enforces of its major's schema, so what the typed publish and
    /// consume still check (see [`Validation`]). The code generator sets it; keep the
    /// default in a hand-written impl.
    const VALIDATION: Validation = Validation::Schema;

    /// The compiled schema document this type was generated from.
    fn schema() -> &'static Schema;

    /// `major.minor` this type publishes.
    fn version() -> Version {
        Version::new(Self::MAJOR, Self::MINOR)
    }
}

/// Envelope metadata of a message (WIRE.md section 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Message id: a random UUID v4 unless the publisher supplied one.
    pub id: String,
    /// Creation time, epoch milliseconds.
    pub timestamp: i64,
    /// Name of the publishing service.
    pub publisher: String,
    /// Custom headers; no key starts with `hedwig_`.
    pub headers: BTreeMap<String, String>,
    /// Schema URL: `<root>#/schemas/<type>/<major>.<minor>`.
    pub schema: String,
    /// Always `1.0`.
    pub format_version: String,
}

/// A message to publish: the payload plus optional id and headers.
///
/// `publish_<type>()` accepts either a bare payload or an `Outgoing`:
/// `Outgoing::new(payload).header("request_id", "r-1")`.
#[derive(Debug, Clone)]
pub struct Outgoing<M> {
    /// The payload.
    pub data: M,
    /// A caller-chosen message id; a new UUID v4 when `None`.
    pub id: Option<String>,
    /// Custom headers.
    pub headers: BTreeMap<String, String>,
}

impl<M> Outgoing<M> {
    /// Wraps a payload with no headers and a fresh id.
    pub fn new(data: M) -> Self {
        Self { data, id: None, headers: BTreeMap::new() }
    }

    /// Adds a header (keys starting with `hedwig_` are rejected at publish time).
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// Uses `id` as the message id instead of a random UUID.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

/// What `publish_<type>()` accepts: a payload or an [`Outgoing`] wrapping one.
pub trait IntoOutgoing {
    /// The payload type.
    type Message: Message;
    /// Converts into an [`Outgoing`].
    fn into_outgoing(self) -> Outgoing<Self::Message>;
}

impl<M: Message> IntoOutgoing for M {
    type Message = M;
    fn into_outgoing(self) -> Outgoing<M> {
        Outgoing::new(self)
    }
}

impl<M: Message> IntoOutgoing for Outgoing<M> {
    type Message = M;
    fn into_outgoing(self) -> Outgoing<M> {
        self
    }
}

/// A message handed to a handler: the typed payload plus everything known about it.
#[derive(Debug, Clone)]
pub struct Received<M> {
    /// The decoded, validated payload.
    pub data: M,
    /// The version it was published as (its minor may be newer than this build knows).
    pub version: Version,
    /// Envelope metadata.
    pub metadata: Metadata,
    /// What the broker says about this delivery.
    pub provider: ProviderMetadata,
}
