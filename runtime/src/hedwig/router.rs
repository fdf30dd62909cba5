//! Hedwig's side of consuming: decode, validate, and route by (message type, major) to a
//! typed handler.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde_json::Value;

use super::message::{Message, Metadata, Received};
use super::wire;
use crate::backend::{BoxFuture, Delivery, ProviderMetadata, WireMessage};
use crate::consume::{ConsumeError, Dispatch, HandlerResult, Outcome, Processed, Routed, panic_message};
use crate::schema::{SchemaUrl, Version};

/// A message decoded and validated, before its payload type is known.
struct Inbound {
    data: Value,
    version: Version,
    metadata: Metadata,
    provider: ProviderMetadata,
}

type ErasedHandler = Arc<dyn Fn(Inbound) -> Result<BoxFuture<'static, HandlerResult>, ConsumeError> + Send + Sync>;

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
        let erased: ErasedHandler = Arc::new(move |inbound: Inbound| {
            let data = serde_json::from_value::<M>(inbound.data).map_err(|e| ConsumeError::Deserialize {
                message_type: M::MESSAGE_TYPE.to_owned(),
                schema_url: inbound.metadata.schema.clone(),
                reason: e.to_string(),
            })?;
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
    pub async fn dispatch(&self, message: &WireMessage, provider: ProviderMetadata) -> Processed {
        crate::consume::dispatch(self, message, provider).await
    }

    /// The handler's future for a decoded message, or the outcome when there is none to run.
    fn resolve(
        &self,
        url: SchemaUrl,
        metadata: Metadata,
        data: Value,
        provider: ProviderMetadata,
    ) -> Result<BoxFuture<'static, HandlerResult>, Outcome> {
        let reject = |error| Outcome::Rejected(error);
        let Some(route) = self.routes.get(&url.message_type).and_then(|majors| majors.get(&url.version.major)) else {
            return Err(reject(ConsumeError::UnknownMessage {
                message_type: url.message_type,
                major: url.version.major,
                schema_url: metadata.schema,
            }));
        };
        if url.root != route.schema.root() {
            return Err(reject(ConsumeError::ForeignSchema {
                message_type: url.message_type,
                schema_url: metadata.schema,
                root: route.schema.root().to_owned(),
            }));
        }
        route.schema.validate(&url.message_type, url.version, &data).map_err(|e| reject(e.into()))?;
        let inbound = Inbound { data, version: url.version, metadata, provider };
        match catch_unwind(AssertUnwindSafe(|| (route.handler)(inbound))) {
            Ok(handler) => handler.map_err(reject),
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
        let (metadata, data) = match wire::decode(&delivery.message) {
            Ok(decoded) => decoded,
            Err(e) => return rejected(None, None, e.into()),
        };
        #[cfg(feature = "otel")]
        crate::otel::set_parent(span, &metadata.headers);
        span.record("id", metadata.id.as_str());
        let id = Some(metadata.id.clone());
        let Some(url) = SchemaUrl::parse(&metadata.schema) else {
            return rejected(id, None, ConsumeError::SchemaUrl { found: metadata.schema });
        };
        span.record("message_type", url.message_type.as_str());
        if !span.is_disabled() {
            span.record("otel.name", format!("message_received/{}", url.message_type));
        }
        let route = Some(url.message_type.clone());
        Routed::new(id, route, self.resolve(url, metadata, data, delivery.provider.clone()))
    }
}
