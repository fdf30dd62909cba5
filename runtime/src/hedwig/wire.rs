//! The Hedwig wire format: a body plus string attributes, in either encoding mode.
//!
//! * [`Encoding::Attributes`] (the default everywhere): the body is the data as compact
//!   JSON; metadata travels as `hedwig_*` attributes, headers as plain attributes.
//! * [`Encoding::Container`] (legacy): the body is a JSON container holding metadata and
//!   data; headers are also copied to plain attributes.
//!
//! [`decode`] reads both (and hedwig-go's capitalised container metadata) without being
//! told which one a message uses.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::message::{FORMAT_VERSION, Metadata, RESERVED_PREFIX};
use crate::attributes::Attributes;
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

/// The attributes that carry the metadata in attributes mode, sorted (decoding and
/// encoding rely on this order).
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
    Ok(WireMessage { body, attributes: metadata.headers.clone().into() })
}

/// The attributes-mode message of `metadata` around a body already serialized.
pub(crate) fn encode_attributes(metadata: Metadata, body: Vec<u8>) -> WireMessage {
    let Metadata { id, timestamp, publisher, headers, schema, format_version } = metadata;
    let metadata = [
        (attr::FORMAT_VERSION, format_version),
        (attr::ID, id),
        (attr::TIMESTAMP, itoa::Buffer::new().format(timestamp).to_owned()),
        (attr::PUBLISHER, publisher),
        (attr::SCHEMA, schema),
    ];
    // Both runs are sorted (the headers are a map, `METADATA_ATTRIBUTES` in order), so they
    // are merged rather than sorted. A header named like a metadata attribute is left out,
    // so the metadata wins (`Publisher` refuses every `hedwig_` header before this).
    let mut entries = Vec::with_capacity(headers.len() + metadata.len());
    let is_metadata = |key: &str| key.starts_with(RESERVED_PREFIX) && METADATA_ATTRIBUTES.contains(&key);
    let headers = headers.into_iter().filter(|(key, _)| !is_metadata(key));
    let mut headers = headers.map(|(k, v)| (Cow::<'static, str>::Owned(k), v)).peekable();
    for (key, value) in metadata {
        while let Some(header) = headers.next_if(|(k, _)| k.as_ref() < key) {
            entries.push(header);
        }
        entries.push((Cow::Borrowed(key), value));
    }
    entries.extend(headers);
    WireMessage { body, attributes: Attributes::from_sorted(entries) }
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
    let data = parse(&body)?;
    if is_attributes_mode(wire) { Ok((attributes_metadata(wire)?, data)) } else { decode_container(wire, data) }
}

/// A message's data as [`decode_lazily`] leaves it.
pub(crate) enum Data<'a> {
    /// The body of an attributes-mode message, base64-decoded if need be but not parsed.
    Body(Cow<'a, [u8]>),
    /// The data of a container, parsed with it.
    Parsed(Value),
}

impl Data<'_> {
    /// The data as a `Value`.
    pub(crate) fn into_value(self) -> Result<Value, DecodeError> {
        match self {
            Data::Body(body) => parse(&body),
            Data::Parsed(value) => Ok(value),
        }
    }

    /// Why the body is not JSON, if it is not: the error [`decode`] gives before any other.
    pub(crate) fn json_error(&self) -> Option<DecodeError> {
        match self {
            Data::Body(body) => parse(body).err(),
            Data::Parsed(_) => None,
        }
    }
}

/// [`decode`], but an attributes-mode body is left unparsed, for a consumer that reads it
/// straight into its payload type. A message `decode` refuses, this refuses with the same
/// error, except one whose body is not JSON, which is left to [`Data::into_value`].
pub(crate) fn decode_lazily(wire: &WireMessage) -> Result<(Metadata, Data<'_>), DecodeError> {
    if !is_attributes_mode(wire) {
        return decode(wire).map(|(metadata, data)| (metadata, Data::Parsed(data)));
    }
    let body = Data::Body(wire.decoded_body(attr::ENCODING).map_err(|reason| DecodeError::Base64 { reason })?);
    match attributes_metadata(wire) {
        Ok(metadata) => Ok((metadata, body)),
        Err(error) => Err(body.json_error().unwrap_or(error)),
    }
}

fn parse(body: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(body).map_err(body_not_json)
}

fn body_not_json(error: serde_json::Error) -> DecodeError {
    DecodeError::BodyNotJson { reason: error.to_string() }
}

/// Attributes mode when any `hedwig_*` metadata attribute is present (container mode sends none).
fn is_attributes_mode(wire: &WireMessage) -> bool {
    wire.attributes.keys().any(|key| METADATA_ATTRIBUTES.contains(&key))
}

fn attributes_metadata(wire: &WireMessage) -> Result<Metadata, DecodeError> {
    // One pass over the attributes rather than a lookup each (the names differ in length,
    // so most comparisons stop there).
    let mut found: [Option<&String>; METADATA_ATTRIBUTES.len()] = [None; METADATA_ATTRIBUTES.len()];
    for (key, value) in &wire.attributes {
        if let Some(i) = METADATA_ATTRIBUTES.iter().position(|name| *name == key) {
            found[i] = Some(value);
        }
    }
    let [format_version, id, timestamp, publisher, schema] = found;
    let get = |value: Option<&String>, name| value.cloned().ok_or(DecodeError::MissingAttribute { name });
    let format_version = check_format_version(get(format_version, attr::FORMAT_VERSION)?)?;
    let timestamp = get(timestamp, attr::TIMESTAMP)?;
    Ok(Metadata {
        id: get(id, attr::ID)?,
        timestamp: timestamp.parse().map_err(|_| DecodeError::Timestamp { found: timestamp })?,
        publisher: get(publisher, attr::PUBLISHER)?,
        headers: headers_of(&wire.attributes),
        schema: get(schema, attr::SCHEMA)?,
        format_version,
    })
}

/// Every attribute that is not reserved: the custom headers.
pub fn headers_of(attributes: &Attributes) -> BTreeMap<String, String> {
    attributes.iter().filter(|(k, _)| !k.starts_with(RESERVED_PREFIX)).map(|(k, v)| (k.to_owned(), v.clone())).collect()
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
