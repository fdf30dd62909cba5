//! The Hedwig wire format against the reference captures: every sample decodes to what the
//! reference consumed, owlpost encodes the same messages byte for byte as the reference did,
//! hedwig-go's container spelling is read, and every malformed message gives the right
//! `DecodeError`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use owlpost::Metadata;
use owlpost::WireMessage;
use owlpost::wire::{self, DecodeError, EncodeError, Encoding, attr};
use serde_json::{Value, json};

const SCHEMA_URL: &str = "https://hedwig.standard.ai/schema#/schemas/user-created/1.0";

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire-samples")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every `*-mode.json` capture, by file name (the SNS-wrapped body is for the AWS backend).
fn samples() -> Vec<(String, Value)> {
    let mut found: Vec<_> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_str().unwrap().ends_with("-mode.json"))
        .map(|path| (path.file_name().unwrap().to_str().unwrap().to_owned(), read_json(&path)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found.len(),
        4,
        "expected the four captures, found {:?}",
        found.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    found
}

fn sample(name: &str) -> Value {
    read_json(&samples_dir().join(name))
}

/// A capture's raw message: SQS `Body` + `MessageAttributes.*.StringValue`, or Pub/Sub `data` + `attributes`.
fn wire_of(sample: &Value) -> WireMessage {
    let raw = &sample["raw_wire_message"];
    let (body, attributes) = match raw.get("Body") {
        Some(body) => (body, &raw["MessageAttributes"]),
        None => (&raw["data"], &raw["attributes"]),
    };
    let attributes = attributes.as_object().unwrap().iter().map(|(key, value)| {
        let value = value.get("StringValue").unwrap_or(value);
        (key.clone(), value.as_str().unwrap().to_owned())
    });
    WireMessage { body: body.as_str().unwrap().as_bytes().to_vec(), attributes: attributes.collect() }
}

/// `field` of the reference's printed `Metadata(timestamp=..., publisher='...', ...)`.
fn python_field(repr: &str, field: &str) -> String {
    let start = repr.find(&format!("{field}=")).unwrap() + field.len() + 1;
    repr[start..].split([',', ')']).next().unwrap().trim_matches('\'').to_owned()
}

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn decode_err(message: &WireMessage) -> DecodeError {
    wire::decode(message).expect_err("the message should not decode")
}

#[test]
fn every_capture_decodes_to_what_the_reference_consumed() {
    let root = read_json(&samples_dir().join("schema.json"))["id"].as_str().unwrap().to_owned();
    for (name, sample) in samples() {
        let consumed = &sample["consumed"][0];
        let (metadata, data) = wire::decode(&wire_of(&sample)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let repr = consumed["metadata"].as_str().unwrap();
        assert_eq!(metadata.id, consumed["id"].as_str().unwrap(), "{name}");
        assert_eq!(
            metadata.schema,
            format!("{root}#/schemas/{}/{}", consumed["type"].as_str().unwrap(), consumed["version"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(metadata.publisher, python_field(repr, "publisher"), "{name}");
        assert_eq!(metadata.timestamp.to_string(), python_field(repr, "timestamp"), "{name}");
        assert_eq!(
            metadata.headers,
            serde_json::from_value::<BTreeMap<String, String>>(consumed["headers"].clone()).unwrap(),
            "{name}"
        );
        assert_eq!(metadata.headers.get("request_id").map(String::as_str), Some("req-1"), "{name}");
        assert_eq!(metadata.format_version, "1.0", "{name}");
        assert_eq!(data, consumed["data"], "{name}");
    }
}

/// Metadata of owlpost's own, different from every capture's.
fn our_metadata() -> Metadata {
    Metadata {
        id: "0b7e5c3a-8f6d-4d2e-9a1b-3c4d5e6f7a8b".into(),
        timestamp: 1_700_000_000_123,
        publisher: "owlpost-test".into(),
        headers: strings(&[("request_id", "r-9")]),
        schema: SCHEMA_URL.into(),
        format_version: "1.0".into(),
    }
}

/// owlpost's encoding of the very message a capture carries (same id, timestamp, headers).
fn encode_like(sample: &Value, encoding: Encoding) -> WireMessage {
    let (metadata, data) = wire::decode(&wire_of(sample)).unwrap();
    wire::encode(&metadata, &data, encoding).unwrap()
}

/// A capture without the transport's own `hedwig_encoding` attribute (Pub/Sub adds it).
fn without_transport_attributes(sample: &Value) -> WireMessage {
    let mut message = wire_of(sample);
    message.attributes.remove(attr::ENCODING);
    message
}

#[test]
fn owlpost_encodes_exactly_what_the_reference_sent() {
    for (name, sample) in samples() {
        let encoding =
            if sample["transport_attrs"] == json!(true) { Encoding::Attributes } else { Encoding::Container };
        let ours = encode_like(&sample, encoding);
        let reference = without_transport_attributes(&sample);
        assert_eq!(String::from_utf8_lossy(&ours.body), String::from_utf8_lossy(&reference.body), "{name}: body");
        assert_eq!(ours.attributes, reference.attributes, "{name}: attributes");
        assert_eq!(wire::decode(&ours).unwrap(), wire::decode(&reference).unwrap(), "{name}: round trip");
    }
}

fn container(body: Value) -> WireMessage {
    WireMessage { body: body.to_string().into_bytes(), attributes: Default::default() }
}

#[test]
fn hedwig_go_capitalised_container_metadata_is_read() {
    let go = |metadata: Value| {
        container(json!({
            "format_version": "1.0", "schema": SCHEMA_URL, "id": "c65be7b1-4023-4e84-928c-4094d3f6cee0",
            "metadata": metadata, "data": {"user_id": "U_1"}
        }))
    };
    let (metadata, data) = wire::decode(&go(json!({"Timestamp": 1795463616122_i64, "Publisher": "goapp"}))).unwrap();
    assert_eq!((metadata.timestamp, metadata.publisher.as_str()), (1795463616122, "goapp"));
    assert!(metadata.headers.is_empty());
    assert_eq!(data, json!({"user_id": "U_1"}));

    let with_headers = json!({"Timestamp": 1, "Publisher": "goapp", "Headers": {"request_id": "r-1"}});
    assert_eq!(wire::decode(&go(with_headers)).unwrap().0.headers, strings(&[("request_id", "r-1")]));
}

#[test]
fn container_headers_come_from_the_body_and_the_transport() {
    let mut message = wire::encode(&our_metadata(), &json!({}), Encoding::Container).unwrap();
    message.attributes.extend(strings(&[("traceparent", "00-abc-def-01"), (attr::ENCODING, "utf8")]));
    let (metadata, _) = wire::decode(&message).unwrap();
    assert_eq!(metadata.headers, strings(&[("request_id", "r-9"), ("traceparent", "00-abc-def-01")]));
}

/// The SQS attributes-mode capture with `edit` applied to its attributes.
fn attributes_message(edit: impl FnOnce(&mut owlpost::Attributes)) -> WireMessage {
    let mut message = wire_of(&sample("sqs-attributes-mode.json"));
    edit(&mut message.attributes);
    message
}

#[test]
fn attributes_mode_takes_any_id_and_only_unreserved_headers() {
    let message = attributes_message(|a| {
        a.extend(strings(&[(attr::ID, "order-42"), (attr::ENCODING, "utf8"), ("hedwig_future", "x"), ("b", "2")]));
    });
    let (metadata, data) = wire::decode(&message).unwrap();
    assert_eq!(metadata.id, "order-42");
    assert_eq!(metadata.headers, strings(&[("b", "2"), ("request_id", "req-1")]));
    assert_eq!(data, json!({"user_id": "U_1234"}));
}

#[test]
fn every_missing_hedwig_attribute_is_named() {
    for name in [attr::FORMAT_VERSION, attr::ID, attr::TIMESTAMP, attr::PUBLISHER, attr::SCHEMA] {
        let error = decode_err(&attributes_message(|a| drop(a.remove(name))));
        assert!(
            matches!(error, DecodeError::MissingAttribute { name: missing } if missing == name),
            "{name}: {error:?}"
        );
    }
}

#[test]
fn bad_attribute_values_are_refused() {
    for version in ["2.0", "1", "1.0 ", ""] {
        let error = decode_err(&attributes_message(|a| drop(a.insert(attr::FORMAT_VERSION, version))));
        assert!(matches!(&error, DecodeError::FormatVersion { found } if found == version), "{version:?}: {error:?}");
    }
    for timestamp in ["yesterday", "1.7e12", "1795463612877.5", "", "2026-11-23T19:53:33Z"] {
        let error = decode_err(&attributes_message(|a| drop(a.insert(attr::TIMESTAMP, timestamp))));
        assert!(matches!(&error, DecodeError::Timestamp { found } if found == timestamp), "{timestamp:?}: {error:?}");
    }
}

#[test]
fn a_body_that_is_not_json_is_refused_in_both_modes() {
    for body in [&b"{\"user_id\":"[..], b"user_id=U_1", b"\xff\xfe", b""] {
        let mut message = attributes_message(|_| ());
        message.body = body.to_vec();
        assert!(matches!(decode_err(&message), DecodeError::BodyNotJson { .. }), "attributes mode, {body:?}");
        message.attributes.clear();
        assert!(matches!(decode_err(&message), DecodeError::BodyNotJson { .. }), "container mode, {body:?}");
    }
}

/// The SQS container-mode capture's body with `edit` applied.
fn container_edited(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> WireMessage {
    let mut body: Value = serde_json::from_slice(&wire_of(&sample("sqs-container-mode.json")).body).unwrap();
    edit(body.as_object_mut().unwrap());
    container(body)
}

fn container_pointer(message: &WireMessage) -> String {
    match decode_err(message) {
        DecodeError::Container { pointer, .. } => pointer,
        other => panic!("expected a container error, got {other:?}"),
    }
}

#[test]
fn container_ids_must_be_lower_case_hyphenated_uuids() {
    wire::decode(&container_edited(|_| ())).unwrap();
    for id in [
        json!("order-42"),
        json!("C65BE7B1-4023-4E84-928C-4094D3F6CEE0"),
        json!("c65be7b140234e84928c4094d3f6cee0"),
        json!("{c65be7b1-4023-4e84-928c-4094d3f6cee0}"),
        json!("urn:uuid:c65be7b1-4023-4e84-928c-4094d3f6cee0"),
        json!(42),
    ] {
        assert_eq!(container_pointer(&container_edited(|b| drop(b.insert("id".into(), id.clone())))), "/id", "{id}");
    }
    let metadata = Metadata { id: "C65BE7B1-4023-4E84-928C-4094D3F6CEE0".into(), ..our_metadata() };
    let error = wire::encode(&metadata, &json!({}), Encoding::Container).unwrap_err();
    assert!(matches!(&error, EncodeError::ContainerIdNotUuid { id } if *id == metadata.id), "{error:?}");
    assert!(wire::encode(&metadata, &json!({}), Encoding::Attributes).is_ok(), "attributes mode takes any id");
}

#[test]
fn container_data_must_be_an_object() {
    for data in [json!([1]), json!("U_1"), json!(null), json!(1)] {
        assert_eq!(
            container_pointer(&container_edited(|b| drop(b.insert("data".into(), data.clone())))),
            "/data",
            "{data}"
        );
    }
}

#[test]
fn container_fields_are_required() {
    for key in ["format_version", "schema", "id", "metadata", "data"] {
        assert_eq!(container_pointer(&container_edited(|b| drop(b.remove(key)))), format!("/{key}"), "{key}");
    }
    for key in ["timestamp", "publisher"] {
        let message = container_edited(|b| drop(b["metadata"].as_object_mut().unwrap().remove(key)));
        assert_eq!(container_pointer(&message), "/metadata", "metadata.{key}");
    }
    let message = container_edited(|b| b["metadata"]["timestamp"] = json!("1795463616122"));
    assert_eq!(container_pointer(&message), "/metadata", "a timestamp must be a number");
    let message = container_edited(|b| drop(b.insert("format_version".into(), json!("2.0"))));
    assert!(matches!(decode_err(&message), DecodeError::FormatVersion { found } if found == "2.0"));
    for body in [json!([1]), json!("text"), json!(7)] {
        assert_eq!(container_pointer(&container(body.clone())), "", "{body}");
    }
}

#[test]
fn container_mode_refuses_what_readers_would_refuse() {
    let error = wire::encode(&our_metadata(), &json!("not an object"), Encoding::Container).unwrap_err();
    assert!(matches!(error, owlpost::wire::EncodeError::ContainerDataNotObject));
    // Reserved keys in a container's headers are not headers.
    let body = json!({
        "format_version": "1.0", "schema": SCHEMA_URL, "id": "0b7e5c3a-8f6d-4d2e-9a1b-3c4d5e6f7a8b",
        "metadata": {"timestamp": 1, "publisher": "p", "headers": {"hedwig_id": "spoofed", "ok": "1"}}, "data": {}
    });
    let (metadata, _) = wire::decode(&container(body)).unwrap();
    assert_eq!(metadata.headers, strings(&[("ok", "1")]));
}
