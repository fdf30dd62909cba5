//! Publishing: validate, wrap in an envelope, encode, route to a topic, send.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::Instrument;

use super::message::{FORMAT_VERSION, IntoOutgoing, Message, Metadata, Outgoing, RESERVED_PREFIX};
use super::naming::default_topic;
use super::validation;
use super::wire::{self, EncodeError, Encoding};
use crate::backend::{BackendError, Sink, WireMessage};
use crate::schema::{Schema, ValidationError, Version};

/// Publishes messages for one service: holds its name, a broker's [`Sink`], the routing
/// from (message type, major) to topic, and the encoding mode.
#[derive(Clone)]
pub struct Publisher {
    name: String,
    sink: Arc<dyn Sink>,
    /// Message type → major → topic.
    routes: BTreeMap<String, BTreeMap<u32, String>>,
    encoding: Encoding,
    default_headers: Option<Arc<DefaultHeaders>>,
}

/// Headers added to every message a [`Publisher`] sends (see [`Publisher::with_default_headers`]).
type DefaultHeaders = dyn Fn(&DynamicMessage) -> BTreeMap<String, String> + Send + Sync;

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("name", &self.name)
            .field("routes", &self.routes)
            .field("encoding", &self.encoding)
            .field("default_headers", &self.default_headers.is_some())
            .finish_non_exhaustive()
    }
}

/// A message the broker accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The Hedwig message id (the `hedwig_id`).
    pub id: String,
    /// The topic it went to.
    pub topic: String,
    /// The broker's own id for it.
    pub broker_id: String,
}

/// A message of a type known only at run time: for proxies, tools and tests. Typed code
/// uses the generated `publish_<type>()` functions instead.
#[derive(Debug, Clone)]
pub struct DynamicMessage {
    /// Message type, e.g. `user-created`.
    pub message_type: String,
    /// The version to publish as; its minor must not be newer than the schema's `x-version`.
    pub version: Version,
    /// The payload.
    pub data: Value,
    /// A caller-chosen id; a random UUID v4 when `None`.
    pub id: Option<String>,
    /// Custom headers.
    pub headers: BTreeMap<String, String>,
}

/// Why a message was not published. Nothing was sent unless the variant is [`PublishError::Backend`],
/// and even then the broker did not confirm it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The payload does not match its schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The payload could not be serialized to JSON.
    #[error("`{message_type}`: payload does not serialize to JSON: {reason}")]
    Serialize {
        /// Message type.
        message_type: String,
        /// Serializer message.
        reason: String,
    },
    /// The schema has no such message type or major version.
    #[error("`{message_type}` major {major} is not in schema {root}")]
    UnknownMessage {
        /// Message type.
        message_type: String,
        /// Major version.
        major: u32,
        /// The schema's root URL.
        root: String,
    },
    /// The minor version is newer than the schema's `x-version`.
    #[error("`{message_type}`: unknown minor version {version} (the schema's latest is {latest})")]
    UnknownMinor {
        /// Message type.
        message_type: String,
        /// The version asked for.
        version: Version,
        /// The schema's `x-version`.
        latest: Version,
    },
    /// A header key uses the reserved `hedwig_` prefix.
    #[error("`{message_type}`: header {key:?} uses the reserved prefix `hedwig_`")]
    ReservedHeader {
        /// Message type.
        message_type: String,
        /// The offending key.
        key: String,
    },
    /// The message cannot be put in the configured encoding.
    #[error("`{message_type}`: {source}")]
    Encode {
        /// Message type.
        message_type: String,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// The broker failed or refused; `message` is what was being sent, to retry with.
    #[error("`{message_type}`: publishing to topic {topic:?} failed: {source}")]
    Backend {
        /// Message type.
        message_type: String,
        /// Topic.
        topic: String,
        /// The encoded message, handed back.
        message: Box<WireMessage>,
        /// The broker's error.
        #[source]
        source: BackendError,
    },
}

impl PublishError {
    /// Whether publishing the same message again may succeed (a transient broker failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Backend { source, .. } if source.is_retryable())
    }
}

impl Publisher {
    /// A publisher for the service `name` sending through `sink`, in attributes encoding.
    pub fn new(name: impl Into<String>, sink: impl Sink) -> Self {
        Self {
            name: name.into(),
            sink: Arc::new(sink),
            routes: BTreeMap::new(),
            encoding: Encoding::default(),
            default_headers: None,
        }
    }

    /// Adds the headers `headers` returns to every message, under the message's own
    /// (Hedwig's `default_headers` hook): a request id, the deploy version, … They are
    /// checked like any header (no `hedwig_` prefix) and count against broker limits.
    pub fn with_default_headers(
        mut self,
        headers: impl Fn(&DynamicMessage) -> BTreeMap<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.default_headers = Some(Arc::new(headers));
        self
    }

    /// Sends `message_type` major `major` to `topic` instead of its default topic.
    pub fn with_route(mut self, message_type: impl Into<String>, major: u32, topic: impl Into<String>) -> Self {
        self.routes.entry(message_type.into()).or_default().insert(major, topic.into());
        self
    }

    /// Uses `encoding` for every message (default: [`Encoding::Attributes`]).
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The publishing service's name (`hedwig_publisher`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The topic a message type's major goes to: its route, else `default`.
    pub fn topic<'a>(&'a self, message_type: &str, major: u32, default: &'a str) -> &'a str {
        let route = self.routes.get(message_type).and_then(|majors| majors.get(&major));
        route.map_or(default, String::as_str)
    }

    /// Validates and publishes a typed message. Generated `publish_<type>()` functions call this.
    pub async fn publish<O: IntoOutgoing>(&self, message: O) -> Result<Published, PublishError> {
        let topic = self.topic_of::<O::Message>().to_owned();
        self.send(<O::Message as Message>::MESSAGE_TYPE, topic, || self.prepare_typed(message)).await
    }

    /// Validates and publishes several messages of one type to its topic, using the
    /// sink's batch API where it has one (SNS `PublishBatch`, 10 a request). One result
    /// per message, in order; a message that fails validation fails alone.
    pub async fn publish_batch<O: IntoOutgoing>(
        &self,
        messages: impl IntoIterator<Item = O>,
    ) -> Vec<Result<Published, PublishError>> {
        let topic = self.topic_of::<O::Message>().to_owned();
        let span = publish_span(<O::Message as Message>::MESSAGE_TYPE, &topic);
        self.publish_batch_in_span(messages, topic).instrument(span).await
    }

    async fn publish_batch_in_span<O: IntoOutgoing>(
        &self,
        messages: impl IntoIterator<Item = O>,
        topic: String,
    ) -> Vec<Result<Published, PublishError>> {
        let mut results: Vec<Option<Result<Published, PublishError>>> = Vec::new();
        let (mut slots, mut ids, mut wires) = (Vec::new(), Vec::new(), Vec::new());
        for message in messages {
            match self.prepare_typed(message) {
                Ok((id, wire)) => {
                    slots.push(results.len());
                    ids.push(id);
                    wires.push(wire);
                    results.push(None);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        let mut sent = self.sink.publish_batch(&topic, &wires).await;
        sent.resize_with(wires.len(), || {
            Err(BackendError::Unavailable { reason: "the sink returned no result for this message".into() })
        });
        let message_type = <O::Message as Message>::MESSAGE_TYPE;
        for (((slot, id), wire), outcome) in slots.into_iter().zip(ids).zip(wires).zip(sent) {
            results[slot] = Some(match outcome {
                Ok(broker_id) => Ok(Published { id, topic: topic.clone(), broker_id }),
                Err(source) => Err(PublishError::Backend {
                    message_type: message_type.to_owned(),
                    topic: topic.clone(),
                    message: Box::new(wire),
                    source,
                }),
            });
        }
        // Every slot is filled: validation failures above, broker results here.
        results.into_iter().flatten().collect()
    }

    fn topic_of<M: Message>(&self) -> &str {
        self.topic(M::MESSAGE_TYPE, M::MAJOR, M::DEFAULT_TOPIC)
    }

    /// Validates and publishes a message of a type known at run time to its routed topic
    /// (default `<type>-v<major>`).
    pub async fn publish_dynamic(&self, schema: &Schema, message: DynamicMessage) -> Result<Published, PublishError> {
        let default = default_topic(&message.message_type, message.version.major);
        let topic = self.topic(&message.message_type, message.version.major, &default).to_owned();
        let message_type = message.message_type.clone();
        self.send(&message_type, topic, || self.prepare(schema, message)).await
    }

    /// Prepares one message with `prepare` (its id and wire form) and sends it to `topic`,
    /// both in the publish span.
    async fn send(
        &self,
        message_type: &str,
        topic: String,
        prepare: impl FnOnce() -> Result<(String, WireMessage), PublishError>,
    ) -> Result<Published, PublishError> {
        let span = publish_span(message_type, &topic);
        async {
            let (id, wire) = prepare()?;
            tracing::Span::current().record("id", id.as_str());
            match self.sink.publish(&topic, &wire).await {
                Ok(broker_id) => {
                    tracing::debug!(%message_type, %topic, %id, "published");
                    Ok(Published { id, topic, broker_id })
                }
                Err(source) => Err(PublishError::Backend {
                    message_type: message_type.to_owned(),
                    topic,
                    message: Box::new(wire),
                    source,
                }),
            }
        }
        .instrument(span)
        .await
    }

    /// Checks and encodes a message without sending it.
    pub fn encode(&self, schema: &Schema, message: DynamicMessage) -> Result<WireMessage, PublishError> {
        self.prepare(schema, message).map(|(_, wire)| wire)
    }

    /// Checks and encodes a typed message. A payload whose type enforces its schema
    /// ([`Message::VALIDATION`]), in attributes encoding, with no default headers to compute
    /// from its data, is serialized straight to the body, then the strings its type leaves to
    /// the schema are checked; any other goes through its `Value` and the schema walk.
    /// Returns the message id and the wire message.
    fn prepare_typed<O: IntoOutgoing>(&self, message: O) -> Result<(String, WireMessage), PublishError> {
        type M<O> = <O as IntoOutgoing>::Message;
        let direct = M::<O>::VALIDATION.direct().filter(|_| self.encoding == Encoding::Attributes);
        let (Some(checks), None) = (direct, &self.default_headers) else {
            return self.prepare(M::<O>::schema(), dynamic_of(message)?);
        };
        let (message_type, schema, version) = (M::<O>::MESSAGE_TYPE, M::<O>::schema(), M::<O>::version());
        let Outgoing { data, id, headers } = message.into_outgoing();
        let serialize_error = |e: serde_json::Error| PublishError::Serialize {
            message_type: message_type.to_owned(),
            reason: e.to_string(),
        };
        let body = serde_json::to_vec(&data).map_err(serialize_error)?;
        if !validation::strings_valid(schema, checks, &body) {
            // The walk has the last word, and its error the JSON pointer.
            schema.validate(message_type, version, &serde_json::to_value(&data).map_err(serialize_error)?)?;
        }
        let metadata = self.metadata(message_type, id, headers, schema.url(message_type, version))?;
        Ok((metadata.id.clone(), wire::encode_attributes(metadata, body)))
    }

    /// The envelope of a message: its headers checked (no `hedwig_` prefix; with the
    /// `otel` feature, the trace context added), a new UUID v4 unless `id` is given, now.
    fn metadata(
        &self,
        message_type: &str,
        id: Option<String>,
        headers: BTreeMap<String, String>,
        schema: String,
    ) -> Result<Metadata, PublishError> {
        #[cfg(feature = "otel")]
        let headers = {
            let mut headers = headers;
            crate::otel::inject(&mut headers);
            headers
        };
        if let Some(key) = headers.keys().find(|k| k.starts_with(RESERVED_PREFIX)) {
            return Err(PublishError::ReservedHeader { message_type: message_type.to_owned(), key: key.clone() });
        }
        Ok(Metadata {
            id: id.unwrap_or_else(|| {
                // Not `to_string`: `Display` goes through the formatter at several times the cost.
                let mut buffer = uuid::Uuid::encode_buffer();
                uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer).to_owned()
            }),
            timestamp: now_millis(),
            publisher: self.name.clone(),
            headers,
            schema,
            format_version: FORMAT_VERSION.to_owned(),
        })
    }

    /// Returns the message id and the wire message.
    fn prepare(&self, schema: &Schema, message: DynamicMessage) -> Result<(String, WireMessage), PublishError> {
        let extra = self.default_headers.as_ref().map(|headers| headers(&message)).unwrap_or_default();
        let DynamicMessage { message_type, version, data, id, mut headers } = message;
        for (key, value) in extra {
            headers.entry(key).or_insert(value);
        }
        let Some(latest) = schema.latest(&message_type, version.major) else {
            return Err(PublishError::UnknownMessage {
                message_type,
                major: version.major,
                root: schema.root().to_owned(),
            });
        };
        if version.minor > latest.minor {
            return Err(PublishError::UnknownMinor { message_type, version, latest });
        }
        schema.validate(&message_type, version, &data)?;
        let metadata = self.metadata(&message_type, id, headers, schema.url(&message_type, version))?;
        match wire::encode(&metadata, &data, self.encoding) {
            Ok(wire) => Ok((metadata.id, wire)),
            Err(source) => Err(PublishError::Encode { message_type, source }),
        }
    }
}

/// The span of one publish (or batch): `publish/<type>` for OpenTelemetry.
fn publish_span(message_type: &str, topic: &str) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = format!("publish/{message_type}"),
        otel.kind = "producer",
        message_type,
        topic,
        id = tracing::field::Empty,
    )
}

/// The untyped form of a typed message.
fn dynamic_of<O: IntoOutgoing>(message: O) -> Result<DynamicMessage, PublishError> {
    let outgoing = message.into_outgoing();
    let message_type = <O::Message as Message>::MESSAGE_TYPE;
    let data = serde_json::to_value(&outgoing.data)
        .map_err(|e| PublishError::Serialize { message_type: message_type.to_owned(), reason: e.to_string() })?;
    Ok(DynamicMessage {
        message_type: message_type.to_owned(),
        version: <O::Message as Message>::version(),
        data,
        id: outgoing.id,
        headers: outgoing.headers,
    })
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
