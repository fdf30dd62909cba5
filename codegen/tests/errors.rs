//! Bad schema files give errors that name the file, the JSON pointer and the reason;
//! nothing panics and nothing is skipped.

use owlpost_codegen::{Error, generate};
use serde_json::{Value, json};

/// Writes `schema` to a file `bad.json` and generates from it; returns the error.
fn error_for(schema: &str) -> (Error, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, schema).unwrap();
    let error = generate(&path).expect_err("generation must fail");
    let text = error.to_string();
    assert!(text.contains(&*path.to_string_lossy()), "error does not name the file: {text}");
    (error, text)
}

/// A valid document with one message whose major-1 schema is `schema`, plus `extra` at the top.
fn document(schema: Value, extra: Value) -> String {
    let mut doc = json!({
        "id": "https://example.com/s",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "schemas": {"thing": {"1.*": schema}},
        "definitions": {"Id": {"1.0": {"type": "string"}}}
    });
    for (key, value) in extra.as_object().unwrap() {
        doc[key] = value.clone();
    }
    doc.to_string()
}

fn ok_schema() -> Value {
    json!({"type": "object", "x-version": "1.0", "properties": {"id": {"$ref": "#/definitions/Id/1.0"}}})
}

/// Asserts a schema-structure error lists a problem at `pointer` whose reason contains `reason`.
fn assert_problem(error: &Error, pointer: &str, reason: &str) {
    let Error::Schema(schema_error) = error else { panic!("expected a schema error, got {error:?}") };
    assert!(
        schema_error.problems.iter().any(|p| p.pointer == pointer && p.reason.contains(reason)),
        "no problem at {pointer:?} mentioning {reason:?} in {schema_error}"
    );
}

#[test]
fn missing_file() {
    let error = generate("/nonexistent/owlpost/schema.json").unwrap_err();
    assert!(matches!(error, Error::Read { .. }));
    assert!(error.to_string().contains("/nonexistent/owlpost/schema.json"));
}

#[test]
fn invalid_json_names_line_and_column() {
    let (error, text) = error_for("{\"schemas\": {\n  \"a\": }");
    assert!(matches!(error, Error::Json { .. }));
    assert!(text.contains("line 2"), "{text}");
}

#[test]
fn missing_or_empty_schemas() {
    let (error, _) = error_for(r#"{"id": "https://example.com/s"}"#);
    assert_problem(&error, "", "missing `schemas`");
    let (error, _) = error_for(r#"{"id": "https://example.com/s", "schemas": {}}"#);
    assert_problem(&error, "/schemas", "non-empty");
}

#[test]
fn bad_version_keys_and_x_versions_are_all_reported_at_once() {
    let doc = json!({
        "id": "https://example.com/s",
        "schemas": {
            "a": {"1.0": {"type": "object", "x-version": "1.0"}},
            "b": {"1.*": {"type": "object"}},
            "c": {"1.*": {"type": "object", "x-version": "2.0"}},
            "d": {"1.*": {"type": "object", "x-version": 1}},
            "e": {"1.*": {"type": "object", "x-version": "one"}},
            "f": {"1.*": {"type": "object", "x-version": "1.0"}, "01.*": {"type": "object", "x-version": "1.0"}}
        }
    });
    let (error, text) = error_for(&doc.to_string());
    assert_problem(&error, "/schemas/a/1.0", "invalid version key");
    assert_problem(&error, "/schemas/b/1.*", "missing `x-version`");
    assert_problem(&error, "/schemas/c/1.*/x-version", "does not match");
    assert_problem(&error, "/schemas/d/1.*/x-version", "must be a string");
    assert_problem(&error, "/schemas/e/1.*/x-version", "invalid `x-version`");
    assert_problem(&error, "/schemas/f/01.*", "invalid version key");
    assert!(text.contains("6 problems"), "{text}");
}

#[test]
fn unresolvable_ref() {
    let schema =
        json!({"type": "object", "x-version": "1.0", "properties": {"id": {"$ref": "#/definitions/Nope/1.0"}}});
    let (error, _) = error_for(&document(schema, json!({})));
    assert_problem(&error, "/schemas/thing/1.*/properties/id/$ref", "unresolvable");
}

#[test]
fn remote_ref_is_refused_not_fetched() {
    let schema = json!({"type": "object", "x-version": "1.0", "properties": {"id": {"$ref": "https://other.example/s#/definitions/Id/1.0"}}});
    let (error, _) = error_for(&document(schema, json!({})));
    assert_problem(&error, "/schemas/thing/1.*/properties/id/$ref", "never fetches");
}

#[test]
fn missing_root_id() {
    let mut doc: Value = serde_json::from_str(&document(ok_schema(), json!({}))).unwrap();
    doc.as_object_mut().unwrap().remove("id");
    let (error, _) = error_for(&doc.to_string());
    assert_problem(&error, "", "missing root `id`");
}

#[test]
fn unsupported_constructs_name_their_pointer() {
    let schema =
        json!({"type": "object", "x-version": "1.0", "properties": {"a": {"if": {"type": "string"}, "then": {}}}});
    let (error, text) = error_for(&document(schema, json!({})));
    assert!(
        matches!(&error, Error::Unsupported { pointer, .. } if pointer == "/schemas/thing/1.*/properties/a/if"),
        "{text}"
    );

    // A reference into the middle of a schema has no type of its own.
    let schema = json!({"type": "object", "x-version": "1.0", "properties": {
        "a": {"type": "string"},
        "b": {"$ref": "#/schemas/thing/1.*/properties/a"}
    }});
    let (error, text) = error_for(&document(schema, json!({})));
    assert!(matches!(&error, Error::Unsupported { pointer, .. } if pointer.ends_with("/properties/b/$ref")), "{text}");
}

#[test]
fn ref_to_something_that_is_not_a_schema() {
    let schema =
        json!({"type": "object", "x-version": "1.0", "properties": {"a": {"$ref": "#/definitions/Id/1.0/type"}}});
    let (error, _) = error_for(&document(schema, json!({})));
    assert_problem(&error, "/schemas/thing/1.*/properties/a/$ref", "not a schema");
}

#[test]
fn name_collisions_are_errors() {
    let doc = json!({
        "id": "https://example.com/s",
        "schemas": {
            "user-created": {"1.*": {"type": "object", "x-version": "1.0"}},
            "user_created": {"1.*": {"type": "object", "x-version": "1.0"}}
        }
    });
    let (error, text) = error_for(&doc.to_string());
    assert!(matches!(&error, Error::NameCollision { name, .. } if name == "UserCreatedMessage"), "{text}");
    assert!(text.contains("user-created") && text.contains("user_created"), "{text}");

    let doc = json!({
        "id": "https://example.com/s",
        "schemas": {"money": {"1.*": {"type": "object", "x-version": "1.0"}}},
        "definitions": {"MoneyV1": {"1.0": {"type": "string"}}}
    });
    let (error, _) = error_for(&doc.to_string());
    assert!(matches!(&error, Error::NameCollision { name, .. } if name == "MoneyV1"), "{error:?}");
}

#[test]
fn a_valid_document_generates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.json");
    std::fs::write(&path, document(ok_schema(), json!({}))).unwrap();
    let source = generate(&path).unwrap();
    assert!(source.contains("pub struct ThingV1"));
    assert!(source.contains("pub async fn publish_thing<O>"));
}

/// A valid task document with the tasks `tasks`, plus `extra` at the top.
fn task_document(tasks: Value, extra: Value) -> String {
    let mut doc = json!({
        "id": "https://example.com/tasks",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "tasks": tasks,
        "definitions": {"InvoiceId": {"1.0": {"type": "string"}}}
    });
    for (key, value) in extra.as_object().unwrap() {
        doc[key] = value.clone();
    }
    doc.to_string()
}

fn ok_task() -> Value {
    json!({"x-version": "1.0", "input": {"type": "object", "properties": {"id": {"$ref": "#/definitions/InvoiceId/1.0"}}}})
}

#[test]
fn a_document_has_schemas_or_tasks_not_both() {
    let (error, _) = error_for(&task_document(
        json!({"billing.send": ok_task()}),
        json!({"schemas": {"thing": {"1.*": ok_schema()}}}),
    ));
    assert_problem(&error, "", "not both");
    let (error, _) = error_for(r#"{"id": "https://example.com/s"}"#);
    assert_problem(&error, "", "or `tasks`");
}

#[test]
fn task_layout_problems_are_all_reported_at_once() {
    let mut no_version = ok_task();
    no_version.as_object_mut().unwrap().remove("x-version");
    let tasks = json!({
        "a.bad_priority": {"priority": "urgent", "x-version": "1.0", "input": {"type": "object"}},
        "a.no_version": no_version,
        "a.array_input": {"x-version": "1.0", "input": {"type": "array"}},
        "a.ref_input": {"x-version": "1.0", "input": {"$ref": "#/definitions/InvoiceId/1.0"}}
    });
    let (error, text) = error_for(&task_document(tasks, json!({})));
    assert_problem(&error, "/tasks/a.bad_priority/priority", "unknown priority \"urgent\"");
    assert_problem(&error, "/tasks/a.no_version", "missing `x-version`");
    assert_problem(&error, "/tasks/a.array_input/input", "object schema");
    assert_problem(&error, "/tasks/a.ref_input/input", "object schema");
    assert!(text.contains("4 problems"), "{text}");
}

#[test]
fn tasks_with_one_rust_name_collide() {
    let mut renamed = ok_task();
    renamed["x-rust-name"] = json!("send_invoice");
    let tasks = json!({"billing.tasks.send_invoice": ok_task(), "billing.emails.mail": renamed});
    let (error, text) = error_for(&task_document(tasks, json!({})));
    assert!(
        matches!(&error, Error::NameCollision { name, pointer, .. }
            if name == "SendInvoiceInput" && pointer == "/tasks/billing.tasks.send_invoice"),
        "{text}"
    );
    assert!(text.contains("billing.emails.mail") && text.contains("billing.tasks.send_invoice"), "{text}");

    let tasks = json!({"billing.tasks.send_invoice": ok_task(), "legacy.send-invoice": ok_task()});
    let (error, text) = error_for(&task_document(tasks, json!({})));
    assert!(matches!(&error, Error::NameCollision { .. }), "{text}");
}

#[test]
fn a_task_colliding_with_a_definition_is_an_error() {
    let definitions = json!({"definitions": {
        "InvoiceId": {"1.0": {"type": "string"}},
        "SendInvoiceHandler": {"1.0": {"type": "string"}}
    }});
    let (error, text) = error_for(&task_document(json!({"billing.tasks.send_invoice": ok_task()}), definitions));
    assert!(
        matches!(&error, Error::NameCollision { name, pointer, .. }
            if name == "SendInvoiceHandler" && pointer == "/definitions/SendInvoiceHandler/1.0"),
        "{text}"
    );
    assert!(
        text.contains("task `billing.tasks.send_invoice`") && text.contains("definition `SendInvoiceHandler/1.0`"),
        "{text}"
    );
}

#[test]
fn a_task_without_letters_needs_a_rust_name() {
    let (error, text) = error_for(&task_document(json!({"billing.": ok_task()}), json!({})));
    assert!(matches!(&error, Error::Unsupported { pointer, .. } if pointer == "/tasks/billing."), "{text}");
    assert!(text.contains("x-rust-name"), "{text}");
}

#[test]
fn a_valid_task_document_generates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.json");
    std::fs::write(&path, task_document(json!({"billing.tasks.send_invoice": ok_task()}), json!({}))).unwrap();
    let source = generate(&path).unwrap();
    assert!(source.contains("pub struct SendInvoiceInput"), "{source}");
    assert!(source.contains("pub async fn dispatch_send_invoice<T>"), "{source}");
    assert!(source.contains("Priority::Default"), "{source}");

    let written = owlpost_codegen::Config::new().schema(&path).out_dir(dir.path()).skip_rerun_if_changed().compile();
    assert_eq!(written.unwrap(), dir.path().join("owlpost_tasks.rs"), "a task schema's default file name");
    let ok = dir.path().join("ok.json");
    std::fs::write(&ok, document(ok_schema(), json!({}))).unwrap();
    let written = owlpost_codegen::Config::new().schema(&ok).out_dir(dir.path()).skip_rerun_if_changed().compile();
    assert_eq!(written.unwrap(), dir.path().join("owlpost_messages.rs"));
}
