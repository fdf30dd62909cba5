//! OpenTelemetry context in message headers (feature `otel`): the W3C `traceparent` and
//! `tracestate` headers, as hedwig-python's instrumentation writes and reads them.
//!
//! On publish, the context of the current `tracing` span (through `tracing-opentelemetry`)
//! is written into the headers, unless the caller set them; on consume, the headers become
//! the parent of the `message_received` span. They are ordinary headers, so on SNS they
//! count against the 10-attribute budget (the 5 `hedwig_*` ones leave 5 for headers).

use std::collections::BTreeMap;
use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header carrying trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// The header carrying vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// What trace context travels in: a message's headers or its attributes.
pub(crate) trait Carrier {
    /// The value of `key`.
    fn value(&self, key: &str) -> Option<&str>;
    /// Sets `key`.
    fn set(&mut self, key: &'static str, value: String);
}

impl Carrier for BTreeMap<String, String> {
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn set(&mut self, key: &'static str, value: String) {
        self.insert(key.to_owned(), value);
    }
}

impl Carrier for crate::Attributes {
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
    fn set(&mut self, key: &'static str, value: String) {
        self.insert(key, value);
    }
}

/// Adds the current span's context to `headers` (when there is one, and the caller did not
/// set `traceparent` already).
pub(crate) fn inject(headers: &mut impl Carrier) {
    if headers.value(TRACEPARENT).is_some() {
        return;
    }
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return;
    }
    headers.set(TRACEPARENT, traceparent(span_context));
    let state = span_context.trace_state().header();
    if !state.is_empty() {
        headers.set(TRACESTATE, state);
    }
}

/// Makes the context in `headers`, if any, the parent of `span`.
pub(crate) fn set_parent(span: &tracing::Span, headers: &impl Carrier) {
    let Some(parent) = headers.value(TRACEPARENT).and_then(parse_traceparent) else { return };
    let state = headers.value(TRACESTATE).and_then(|value| TraceState::from_str(value).ok()).unwrap_or_default();
    let (trace_id, span_id, flags) = parent;
    let remote = SpanContext::new(trace_id, span_id, flags, true, state);
    if let Err(error) = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote)) {
        tracing::debug!(%error, "cannot make the message's trace context the span's parent");
    }
}

/// `00-<trace id>-<span id>-<flags>`.
fn traceparent(context: &SpanContext) -> String {
    format!("00-{}-{}-{:02x}", context.trace_id(), context.span_id(), context.trace_flags().to_u8())
}

/// The parts of a version-00 `traceparent` (later versions are read by their first four
/// fields, as the W3C spec asks); `None` when malformed or all-zero.
fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, span_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex(version, 2) || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    if !hex(trace_id, 32) || !hex(span_id, 16) || !hex(flags, 2) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok().filter(|id| *id != TraceId::INVALID)?;
    let span_id = SpanId::from_hex(span_id).ok().filter(|id| *id != SpanId::INVALID)?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8());
    Some((trace_id, span_id, flags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_malformed_values_are_ignored() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (trace_id, span_id, flags) = parse_traceparent(value).unwrap();
        let context = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
        assert_eq!(traceparent(&context), value);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        assert!(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future").is_some());
    }
}
