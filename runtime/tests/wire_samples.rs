//! The messages hedwig-python (the reference library) put on the wire, decoded by owlpost,
//! and owlpost's own encoding of the same message compared with them byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use owlpost::message::Metadata;
use owlpost::schema::{Schema, SchemaUrl, Version};
use owlpost::wire::{self, Encoding, WireMessage, attr};
use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire-samples").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The raw message of a sample as a `WireMessage` (SQS: Body + MessageAttributes.StringValue;
/// Pub/Sub: data + attributes).
fn wire_of(sample: &Value) -> WireMessage {
    let raw = &sample["raw_wire_message"];
    let (body, attributes) = match sample["backend"].as_str().unwrap() {
        "aws" => (
            &raw["Body"],
            raw["MessageAttributes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v["StringValue"].as_str().unwrap().to_owned()))
                .collect(),
        ),
        _ => (
            &raw["data"],
            raw["attributes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
        ),
    };
    WireMessage { body: body.as_str().unwrap().as_bytes().to_vec(), attributes }
}

/// `field=value` out of the reference's printed `Metadata(...)`.
fn printed(metadata: &str, field: &str) -> String {
    let start = metadata.find(&format!("{field}=")).unwrap() + field.len() + 1;
    metadata[start..].split([',', ')']).next().unwrap().trim_matches('\'').to_owned()
}

const SAMPLES: [&str; 4] = [
    "sqs-attributes-mode.json",
    "sqs-container-mode.json",
    "pubsub-attributes-mode.json",
    "pubsub-container-mode.json",
];

#[test]
fn every_reference_message_decodes_to_what_the_reference_consumed() {
    let schema = Schema::from_json("schema.json", &sample("schema.json").to_string()).unwrap();
    for name in SAMPLES {
        let sample = sample(name);
        let consumed = &sample["consumed"][0];
        let (metadata, data) = wire::decode(&wire_of(&sample)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let url = SchemaUrl::parse(&metadata.schema).unwrap();
        assert_eq!(metadata.id, consumed["id"].as_str().unwrap(), "{name}");
        assert_eq!(url.message_type, consumed["type"].as_str().unwrap(), "{name}");
        assert_eq!(url.version.to_string(), consumed["version"].as_str().unwrap(), "{name}");
        assert_eq!(url.root, schema.root(), "{name}");
        assert_eq!(data, consumed["data"], "{name}");
        let headers: BTreeMap<String, String> = serde_json::from_value(consumed["headers"].clone()).unwrap();
        assert_eq!(metadata.headers, headers, "{name}");
        let printed_metadata = consumed["metadata"].as_str().unwrap();
        assert_eq!(metadata.timestamp.to_string(), printed(printed_metadata, "timestamp"), "{name}");
        assert_eq!(metadata.publisher, printed(printed_metadata, "publisher"), "{name}");
        assert_eq!(metadata.format_version, "1.0");
        schema.validate(&url.message_type, url.version, &data).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// owlpost's encoding of the message a sample carries.
fn encode_like(sample: &Value, encoding: Encoding) -> WireMessage {
    let (metadata, data) = wire::decode(&wire_of(sample)).unwrap();
    let metadata = Metadata { format_version: "1.0".into(), ..metadata };
    wire::encode(&metadata, &data, encoding).unwrap()
}

#[test]
fn attributes_mode_matches_the_reference_byte_for_byte() {
    for name in ["sqs-attributes-mode.json", "pubsub-attributes-mode.json"] {
        let sample = sample(name);
        let mut reference = wire_of(&sample);
        // Pub/Sub's transport adds `hedwig_encoding`; it is not part of the message.
        reference.attributes.remove(attr::ENCODING);
        assert_eq!(encode_like(&sample, Encoding::Attributes), reference, "{name}");
    }
}

#[test]
fn container_mode_matches_the_reference_byte_for_byte() {
    for name in ["sqs-container-mode.json", "pubsub-container-mode.json"] {
        let sample = sample(name);
        let mut reference = wire_of(&sample);
        reference.attributes.remove(attr::ENCODING);
        let ours = encode_like(&sample, Encoding::Container);
        assert_eq!(String::from_utf8(ours.body.clone()).unwrap(), String::from_utf8(reference.body.clone()).unwrap());
        assert_eq!(ours, reference, "{name}");
    }
}

#[test]
fn hedwig_go_capitalised_container_metadata_is_read() {
    let body = r#"{"format_version":"1.0","schema":"https://hedwig.standard.ai/schema#/schemas/user-created/1.0","id":"c65be7b1-4023-4e84-928c-4094d3f6cee0","metadata":{"Timestamp":1795463616122,"Publisher":"goapp"},"data":{"user_id":"U_1"}}"#;
    let (metadata, data) = wire::decode(&WireMessage { body: body.into(), attributes: BTreeMap::new() }).unwrap();
    assert_eq!(metadata.timestamp, 1795463616122);
    assert_eq!(metadata.publisher, "goapp");
    assert!(metadata.headers.is_empty());
    assert_eq!(data["user_id"], "U_1");
    assert_eq!(SchemaUrl::parse(&metadata.schema).unwrap().version, Version::new(1, 0));
}
