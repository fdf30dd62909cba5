//! Wire messages that cannot be read give a typed error saying why.

use std::collections::BTreeMap;

use owlpost::wire::{self, DecodeError, EncodeError, Encoding, WireMessage};

const SCHEMA: &str = "https://example.com/s#/schemas/thing/1.0";

fn attributes_message() -> WireMessage {
    let attributes = [
        ("hedwig_format_version", "1.0"),
        ("hedwig_id", "not-a-uuid-and-that-is-fine"),
        ("hedwig_message_timestamp", "1700000000000"),
        ("hedwig_publisher", "svc"),
        ("hedwig_schema", SCHEMA),
        ("hedwig_encoding", "utf8"),
        ("hedwig_future_thing", "x"),
        ("request_id", "r-1"),
    ];
    WireMessage {
        body: br#"{"a":1}"#.to_vec(),
        attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn container(body: &str) -> WireMessage {
    WireMessage { body: body.as_bytes().to_vec(), attributes: BTreeMap::new() }
}

#[test]
fn attributes_mode_accepts_any_id_and_keeps_only_custom_headers() {
    let (metadata, _) = wire::decode(&attributes_message()).unwrap();
    assert_eq!(metadata.id, "not-a-uuid-and-that-is-fine");
    assert_eq!(metadata.headers, BTreeMap::from([("request_id".to_owned(), "r-1".to_owned())]));
}

#[test]
fn attributes_mode_errors() {
    for name in ["hedwig_format_version", "hedwig_id", "hedwig_message_timestamp", "hedwig_publisher"] {
        let mut message = attributes_message();
        message.attributes.remove(name);
        assert!(
            matches!(wire::decode(&message), Err(DecodeError::MissingAttribute { name: n }) if n == name),
            "{name}"
        );
    }
    let mut message = attributes_message();
    message.attributes.insert("hedwig_format_version".into(), "2.0".into());
    assert!(matches!(wire::decode(&message), Err(DecodeError::FormatVersion { found }) if found == "2.0"));
    let mut message = attributes_message();
    message.attributes.insert("hedwig_message_timestamp".into(), "yesterday".into());
    assert!(matches!(wire::decode(&message), Err(DecodeError::Timestamp { .. })));
    let mut message = attributes_message();
    message.body = b"{\"a\":".to_vec();
    assert!(matches!(wire::decode(&message), Err(DecodeError::BodyNotJson { .. })));
}

#[test]
fn container_mode_errors_name_the_pointer() {
    let valid = serde_json::json!({
        "format_version": "1.0", "schema": SCHEMA, "id": "c65be7b1-4023-4e84-928c-4094d3f6cee0",
        "metadata": {"timestamp": 1, "publisher": "p", "headers": {}}, "data": {}
    });
    assert!(wire::decode(&container(&valid.to_string())).is_ok());
    let cases = [
        ("/id", serde_json::json!("C65BE7B1-4023-4E84-928C-4094D3F6CEE0")),
        ("/id", serde_json::json!("abc")),
        ("/data", serde_json::json!([1])),
        ("/metadata", serde_json::json!({"publisher": "p"})),
        ("/schema", serde_json::json!(7)),
    ];
    for (pointer, value) in cases {
        let mut body = valid.clone();
        body[&pointer[1..]] = value;
        let error = wire::decode(&container(&body.to_string())).unwrap_err();
        assert!(matches!(&error, DecodeError::Container { pointer: p, .. } if p == pointer), "{pointer}: {error:?}");
    }
    let mut body = valid.clone();
    body.as_object_mut().unwrap().remove("data");
    assert!(
        matches!(wire::decode(&container(&body.to_string())), Err(DecodeError::Container { pointer, .. }) if pointer == "/data")
    );
    let mut body = valid;
    body["format_version"] = "0.9".into();
    assert!(matches!(wire::decode(&container(&body.to_string())), Err(DecodeError::FormatVersion { .. })));
    assert!(matches!(wire::decode(&container("[1]")), Err(DecodeError::Container { .. })));
}

#[test]
fn container_mode_needs_a_uuid_id_to_encode() {
    let (metadata, data) = wire::decode(&attributes_message()).unwrap();
    assert!(matches!(wire::encode(&metadata, &data, Encoding::Container), Err(EncodeError::ContainerIdNotUuid { .. })));
}
