//! Hedwig's side of consuming: decode, validate, and route by (message type, major) to a
//! typed handler.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::message::{Message, Metadata, Received};
use super::validation;
use super::wire::{self, Data};
use crate::backend::{BoxFuture, Delivery, ProviderMetadata, WireMessage};
use crate::consume::{ConsumeError, Dispatch, HandlerResult, Outcome, Processed, Routed, panic_message};
use crate::schema::{SchemaUrl, Version};
use crate::strict;

/// A message decoded and routed, before its payload type is known.
struct Inbound<'a> {
    data: Data<'a>,
    version: Version,
    metadata: Metadata,
    provider: ProviderMetadata,
}

type ErasedHandler =
    Arc<dyn for<'a> Fn(Inbound<'a>) -> Result<BoxFuture<'static, HandlerResult>, ConsumeError> + Send + Sync>;

struct Route {
    schema: &'static crate::Schema,
    handler: ErasedHandler,
}

/// Maps (message type, major) to handlers. Generated `register_<type>()` functions fill it.
#[derive(Default)]
pub struct Router {
    routes: HashMap<String, HashMap<u32, Route>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<_> =
            self.routes.iter().flat_map(|(t, majors)| majors.keys().map(move |major| (t, major))).collect();
        keys.sort();
        f.debug_struct("Router").field("routes", &keys).finish()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes messages of `M`'s type and major to `handler`, replacing an earlier route.
    pub fn route<M, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        M: Message,
        F: Fn(Received<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let erased: ErasedHandler = Arc::new(move |inbound: Inbound<'_>| {
            let data = payload::<M>(inbound.data, inbound.version, &inbound.metadata.schema)?;
            let received =
                Received { data, version: inbound.version, metadata: inbound.metadata, provider: inbound.provider };
            Ok(Box::pin(handler(received)) as BoxFuture<'static, HandlerResult>)
        });
        let route = Route { schema: M::schema(), handler: erased };
        self.routes.entry(M::MESSAGE_TYPE.to_owned()).or_default().insert(M::MAJOR, route);
        self
    }

    /// Whether a handler is registered for this message type and major.
    pub fn handles(&self, message_type: &str, major: u32) -> bool {
        self.routes.get(message_type).is_some_and(|majors| majors.contains_key(&major))
    }

    /// Decodes, validates and routes one message, runs its handler (catching panics) and
    /// says what should become of it. Does not talk to the broker.
    pub async fn dispatch(&self, message: WireMessage, provider: ProviderMetadata) -> Processed {
        crate::consume::dispatch(self, message, provider).await
    }

    /// The handler's future for a decoded message, or the outcome when there is none to run.
    fn resolve(
        &self,
        url: SchemaUrl,
        metadata: Metadata,
        data: Data<'_>,
        provider: ProviderMetadata,
    ) -> Result<BoxFuture<'static, HandlerResult>, Outcome> {
        let reject = |error, data: &Data<'_>| Outcome::Rejected(first_error(data, error));
        let Some(route) = self.routes.get(&url.message_type).and_then(|majors| majors.get(&url.version.major)) else {
            return Err(reject(
                ConsumeError::UnknownMessage {
                    message_type: url.message_type,
                    major: url.version.major,
                    schema_url: metadata.schema,
                },
                &data,
            ));
        };
        if url.root != route.schema.root() {
            return Err(reject(
                ConsumeError::ForeignSchema {
                    message_type: url.message_type,
                    schema_url: metadata.schema,
                    root: route.schema.root().to_owned(),
                },
                &data,
            ));
        }
        let inbound = Inbound { data, version: url.version, metadata, provider };
        match catch_unwind(AssertUnwindSafe(|| (route.handler)(inbound))) {
            Ok(handler) => handler.map_err(Outcome::Rejected),
            Err(panic) => Err(Outcome::Panicked { message: panic_message(&*panic) }),
        }
    }
}

impl Dispatch for Router {
    /// `message_received`, named `message_received/<type>` for OpenTelemetry once the type
    /// is known; with the `otel` feature, the message's trace context becomes its parent.
    fn span(&self, provider: &ProviderMetadata) -> tracing::Span {
        tracing::info_span!(
            "message_received",
            otel.name = "message_received",
            otel.kind = "consumer",
            message_type = tracing::field::Empty,
            id = tracing::field::Empty,
            delivery_attempt = provider.delivery_attempt(),
        )
    }

    fn route(&self, delivery: &Delivery, span: &tracing::Span) -> Routed {
        let rejected = Routed::rejected;
        let (metadata, data) = match wire::decode_lazily(&delivery.message) {
            Ok(decoded) => decoded,
            Err(e) => return rejected(None, None, e.into()),
        };
        #[cfg(feature = "otel")]
        crate::otel::set_parent(span, &metadata.headers);
        span.record("id", metadata.id.as_str());
        let id = Some(metadata.id.clone());
        let Some(url) = SchemaUrl::parse(&metadata.schema) else {
            return rejected(id, None, first_error(&data, ConsumeError::SchemaUrl { found: metadata.schema }));
        };
        span.record("message_type", url.message_type.as_str());
        if !span.is_disabled() {
            span.record("otel.name", format!("message_received/{}", url.message_type));
        }
        let route = Some(url.message_type.clone());
        Routed::new(id, route, self.resolve(url, metadata, data, delivery.provider.clone()))
    }
}

/// `error`, unless the body is not JSON: that is refused as such before anything else, as
/// `wire::decode` does.
fn first_error(data: &Data<'_>, error: ConsumeError) -> ConsumeError {
    data.json_error().map_or(error, ConsumeError::from)
}

/// The payload of a routed message: read straight from its body when `M`'s type enforces
/// its schema ([`Message::VALIDATION`]), the strict reading accepts it (see `strict`) and
/// the strings the type leaves to the schema pass; otherwise parsed, validated against its
/// major's schema (the error names the JSON pointer) and converted.
fn payload<M: Message>(data: Data<'_>, version: Version, schema_url: &str) -> Result<M, ConsumeError> {
    if let Some(checks) = M::VALIDATION.direct()
        && let Data::Body(body) = &data
        && let Some(payload) = strict::from_slice::<M>(body)
        && validation::strings_valid(M::schema(), checks, body)
    {
        return Ok(payload);
    }
    let value = data.into_value()?;
    M::schema().validate(M::MESSAGE_TYPE, version, &value)?;
    serde_json::from_value::<M>(value).map_err(|e| ConsumeError::Deserialize {
        message_type: M::MESSAGE_TYPE.to_owned(),
        schema_url: schema_url.to_owned(),
        reason: e.to_string(),
    })
}
