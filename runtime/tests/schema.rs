//! Schema documents: compiled once, validated against `<major>.*`, errors with pointers.

use owlpost::{Schema, Version};
use serde_json::json;

fn schema() -> Schema {
    let doc = json!({
        "id": "https://example.com/s",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "schemas": {
            "thing": {
                "1.*": {
                    "type": "object", "x-version": "1.2", "required": ["id", "home"],
                    "properties": {
                        "id": {"$ref": "https://example.com/s#/definitions/Id/1.0"},
                        "home": {"$ref": "#/definitions/Place/1.0"},
                        "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true}
                    }
                }
            }
        },
        "definitions": {
            "Id": {"1.0": {"type": "string", "pattern": "^T[0-9]+$"}},
            "Place": {"1.0": {"type": "object", "properties": {"country": {"type": "string", "maxLength": 2}}}}
        }
    });
    Schema::from_json("s.json", &doc.to_string()).unwrap()
}

#[test]
fn absolute_and_local_refs_both_validate() {
    let schema = schema();
    let v = Version::new(1, 0);
    schema.validate("thing", v, &json!({"id": "T1", "home": {"country": "NO"}})).unwrap();
    let error = schema.validate("thing", v, &json!({"id": "X1", "home": {}})).unwrap_err();
    assert_eq!(error.pointer, "/id", "absolute $ref enforced");
    let error = schema.validate("thing", v, &json!({"id": "T1", "home": {"country": "NOR"}})).unwrap_err();
    assert_eq!(error.pointer, "/home/country", "local $ref enforced, nested pointer");
    assert_eq!(error.message_type, "thing");
    assert_eq!(error.schema_url, "https://example.com/s#/schemas/thing/1.0");
    let error = schema.validate("thing", v, &json!({"id": "T1", "home": {}, "n": 0})).unwrap_err();
    assert_eq!(error.pointer, "/n", "draft-04 boolean exclusiveMinimum enforced");
}

#[test]
fn every_error_is_counted() {
    let error = schema().validate("thing", Version::new(1, 0), &json!({"home": 3})).unwrap_err();
    assert_eq!(error.more, 1, "{error}");
    assert!(error.to_string().contains("(and 1 more)"));
}

#[test]
fn versions_come_from_x_version() {
    let schema = schema();
    assert_eq!(schema.latest("thing", 1), Some(Version::new(1, 2)));
    assert_eq!(schema.latest("thing", 2), None);
    assert_eq!(schema.url("thing", Version::new(1, 2)), "https://example.com/s#/schemas/thing/1.2");
    assert!(schema.validate("thing", Version::new(2, 0), &json!({})).is_err(), "unknown major");
}
