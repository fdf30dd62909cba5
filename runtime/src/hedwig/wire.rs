//! The Hedwig wire format: a body plus string attributes, in either encoding mode.
//!
//! * [`Encoding::Attributes`] (the default everywhere): the body is the data as compact
//!   JSON; metadata travels as `hedwig_*` attributes, headers as plain attributes.
//! * [`Encoding::Container`] (legacy): the body is a JSON container holding metadata and
//!   data; headers are also copied to plain attributes.
//!
//! [`decode`] reads both (and hedwig-go's capitalised container metadata) without being
//! told which one a message uses.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::message::{FORMAT_VERSION, Metadata, RESERVED_PREFIX};
use crate::backend::WireMessage;

/// Attribute names of the attributes encoding.
pub mod attr {
    /// Format version, always `1.0`.
    pub const FORMAT_VERSION: &str = "hedwig_format_version";
    /// Message id.
    pub const ID: &str = "hedwig_id";
    /// Creation time in epoch milliseconds, as a decimal string.
    pub const TIMESTAMP: &str = "hedwig_message_timestamp";
    /// Publisher name.
    pub const PUBLISHER: &str = "hedwig_publisher";
    /// Schema URL.
    pub const SCHEMA: &str = "hedwig_schema";
    /// Body encoding (`utf8` or `base64`); set by brokers' transports, not part of metadata.
    pub const ENCODING: &str = "hedwig_encoding";
}

/// The attributes that carry the metadata in attributes mode.
const METADATA_ATTRIBUTES: [&str; 5] = [attr::FORMAT_VERSION, attr::ID, attr::TIMESTAMP, attr::PUBLISHER, attr::SCHEMA];

/// How metadata is carried on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// Metadata in `hedwig_*` attributes, body = data (every Hedwig library's default).
    #[default]
    Attributes,
    /// Metadata and data in one JSON container body (legacy mode).
    Container,
}

/// A message that cannot be encoded.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Container mode carries only object data (readers refuse anything else).
    #[error("container encoding needs object data (the message schema allows something else)")]
    ContainerDataNotObject,
    /// Container mode requires a lower-case hyphenated UUID id.
    #[error("container encoding needs a lower-case hyphenated UUID id, got {id:?}")]
    ContainerIdNotUuid {
        /// The offending id.
        id: String,
    },
}

/// A message whose wire form cannot be read. The message is never acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not JSON (or not UTF-8).
    #[error("body is not JSON: {reason}")]
    BodyNotJson {
        /// Parser message.
        reason: String,
    },
    /// `hedwig_encoding` says base64 but the body is not base64.
    #[error("body is not valid base64 (hedwig_encoding=base64): {reason}")]
    Base64 {
        /// Decoder message.
        reason: String,
    },
    /// A required `hedwig_*` attribute is absent.
    #[error("missing attribute `{name}`")]
    MissingAttribute {
        /// Attribute name.
        name: &'static str,
    },
    /// `hedwig_format_version` (or the container's `format_version`) is not `1.0`.
    #[error("unsupported format version {found:?} (expected \"1.0\")")]
    FormatVersion {
        /// What was found.
        found: String,
    },
    /// The timestamp is not an integer of epoch milliseconds.
    #[error("invalid timestamp {found:?}: expected epoch milliseconds")]
    Timestamp {
        /// What was found.
        found: String,
    },
    /// A container body with a missing or mistyped field.
    #[error("invalid container at {pointer:?}: {reason}")]
    Container {
        /// JSON pointer into the body.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
}

/// Encodes a message. `data` is serialized as compact JSON.
pub fn encode(metadata: &Metadata, data: &Value, encoding: Encoding) -> Result<WireMessage, EncodeError> {
    let body = match encoding {
        Encoding::Attributes => return Ok(encode_attributes(metadata.clone(), to_json(data))),
        Encoding::Container => {
            if !is_lower_uuid(&metadata.id) {
                return Err(EncodeError::ContainerIdNotUuid { id: metadata.id.clone() });
            }
            if !data.is_object() {
                return Err(EncodeError::ContainerDataNotObject);
            }
            to_json(&ContainerOut {
                format_version: &metadata.format_version,
                schema: &metadata.schema,
                id: &metadata.id,
                metadata: ContainerMetaOut {
                    timestamp: metadata.timestamp,
                    publisher: &metadata.publisher,
                    headers: &metadata.headers,
                },
                data,
            })
        }
    };
    Ok(WireMessage { body, attributes: metadata.headers.clone() })
}

/// The attributes-mode message of `metadata` around a body already serialized.
pub(crate) fn encode_attributes(metadata: Metadata, body: Vec<u8>) -> WireMessage {
    let Metadata { id, timestamp, publisher, headers, schema, format_version } = metadata;
    let metadata = [
        (attr::FORMAT_VERSION.to_owned(), format_version),
        (attr::ID.to_owned(), id),
        (attr::TIMESTAMP.to_owned(), itoa::Buffer::new().format(timestamp).to_owned()),
        (attr::PUBLISHER.to_owned(), publisher),
        (attr::SCHEMA.to_owned(), schema),
    ];
    // Collected (sorted, then built in bulk) rather than inserted one by one: a third of
    // the cost. A header named like a metadata attribute is left out, so the metadata wins
    // (`Publisher` refuses every `hedwig_` header before this).
    let headers = headers.into_iter().filter(|(key, _)| !METADATA_ATTRIBUTES.contains(&key.as_str()));
    WireMessage { body, attributes: headers.chain(metadata).collect() }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing a `Value` or a struct of strings and `Value`s cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a message in either encoding: attributes mode when any `hedwig_*` metadata
/// attribute is present (container mode sends none), container mode otherwise.
///
/// A body with attribute `hedwig_encoding=base64` (a binary body sent through SQS) is
/// base64-decoded first, with or without line breaks.
pub fn decode(wire: &WireMessage) -> Result<(Metadata, Value), DecodeError> {
    let body = wire.decoded_body(attr::ENCODING).map_err(|reason| DecodeError::Base64 { reason })?;
    let data: Value = serde_json::from_slice(&body).map_err(|e| DecodeError::BodyNotJson { reason: e.to_string() })?;
    if METADATA_ATTRIBUTES.iter().any(|name| wire.attributes.contains_key(*name)) {
        decode_attributes(wire, data)
    } else {
        decode_container(wire, data)
    }
}

fn decode_attributes(wire: &WireMessage, data: Value) -> Result<(Metadata, Value), DecodeError> {
    let get = |name: &'static str| wire.attributes.get(name).cloned().ok_or(DecodeError::MissingAttribute { name });
    let format_version = check_format_version(get(attr::FORMAT_VERSION)?)?;
    let timestamp = get(attr::TIMESTAMP)?;
    let metadata = Metadata {
        id: get(attr::ID)?,
        timestamp: timestamp.parse().map_err(|_| DecodeError::Timestamp { found: timestamp })?,
        publisher: get(attr::PUBLISHER)?,
        headers: headers_of(&wire.attributes),
        schema: get(attr::SCHEMA)?,
        format_version,
    };
    Ok((metadata, data))
}

/// Every attribute that is not reserved: the custom headers.
pub fn headers_of(attributes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    attributes.iter().filter(|(k, _)| !k.starts_with(RESERVED_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn check_format_version(found: String) -> Result<String, DecodeError> {
    if found == FORMAT_VERSION { Ok(found) } else { Err(DecodeError::FormatVersion { found }) }
}

fn decode_container(wire: &WireMessage, body: Value) -> Result<(Metadata, Value), DecodeError> {
    let Value::Object(mut body) = body else {
        return Err(container_error("", "the body must be a JSON object (or the message needs `hedwig_*` attributes)"));
    };
    let string = |body: &serde_json::Map<String, Value>, key: &str| match body.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(container_error(&format!("/{key}"), "must be a string")),
        None => Err(container_error(&format!("/{key}"), "is required")),
    };
    let format_version = check_format_version(string(&body, "format_version")?)?;
    let schema = string(&body, "schema")?;
    let id = string(&body, "id")?;
    if !is_lower_uuid(&id) {
        return Err(container_error("/id", "must be a lower-case hyphenated UUID"));
    }
    let data = match body.remove("data") {
        Some(data @ Value::Object(_)) => data,
        Some(_) => return Err(container_error("/data", "must be an object")),
        None => return Err(container_error("/data", "is required")),
    };
    let meta = match body.remove("metadata") {
        Some(meta @ Value::Object(_)) => meta,
        _ => return Err(container_error("/metadata", "must be an object")),
    };
    // Python writes `timestamp`, hedwig-go writes `Timestamp` (and omits empty headers).
    let meta: ContainerMetaIn =
        serde_json::from_value(meta).map_err(|e| container_error("/metadata", &e.to_string()))?;
    let mut headers = headers_of(&wire.attributes);
    headers.extend(meta.headers.unwrap_or_default().into_iter().filter(|(k, _)| !k.starts_with(RESERVED_PREFIX)));
    let metadata =
        Metadata { id, timestamp: meta.timestamp, publisher: meta.publisher, headers, schema, format_version };
    Ok((metadata, data))
}

fn container_error(pointer: &str, reason: &str) -> DecodeError {
    DecodeError::Container { pointer: pointer.to_owned(), reason: reason.to_owned() }
}

/// Whether `id` is a lower-case hyphenated UUID (container mode's requirement).
pub fn is_lower_uuid(id: &str) -> bool {
    id.len() == 36 && !id.bytes().any(|b| b.is_ascii_uppercase()) && uuid::Uuid::try_parse(id).is_ok()
}

#[derive(Serialize)]
struct ContainerOut<'a> {
    format_version: &'a str,
    schema: &'a str,
    id: &'a str,
    metadata: ContainerMetaOut<'a>,
    data: &'a Value,
}

#[derive(Serialize)]
struct ContainerMetaOut<'a> {
    timestamp: i64,
    publisher: &'a str,
    headers: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ContainerMetaIn {
    #[serde(alias = "Timestamp")]
    timestamp: i64,
    #[serde(alias = "Publisher")]
    publisher: String,
    #[serde(alias = "Headers", default)]
    headers: Option<BTreeMap<String, String>>,
}
