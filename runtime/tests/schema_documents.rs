//! Schema documents: every structural problem located by JSON pointer and reported at once,
//! the reference sample schema, validation errors, and edge cases of versions and schema URLs.
//! (`schema.rs` covers `$ref` resolution in validation.)

use std::path::Path;

use owlpost::taskhawk::Priority;
use owlpost::{Document, SchemaUrl};
use owlpost::{Schema, SchemaError, ValidationError, Version};
use serde_json::{Value, json};

const ROOT: &str = "https://example.com/schemas/app";

/// A valid document using both an absolute and a local `$ref`, with two majors.
fn document() -> Value {
    json!({
        "id": ROOT,
        "$schema": "http://json-schema.org/draft-04/schema#",
        "schemas": {
            "user-created": {
                "1.*": {
                    "type": "object",
                    "x-version": "1.2",
                    "required": ["user_id"],
                    "properties": {
                        "user_id": {"$ref": format!("{ROOT}#/definitions/UserId/1.0")},
                        "address": {
                            "type": "object",
                            "properties": {"country": {"$ref": "#/definitions/Country/1.0"}}
                        }
                    }
                },
                "2.*": {"type": "object", "x-version": "2.0", "properties": {}}
            }
        },
        "definitions": {
            "UserId": {"1.0": {"type": "string", "pattern": "^U_"}},
            "Country": {"1.0": {"type": "string", "minLength": 2, "maxLength": 2}}
        }
    })
}

/// `document()` with the value at `pointer` replaced (or removed when `value` is `None`).
fn edited(edits: &[(&str, Option<Value>)]) -> Value {
    let mut doc = document();
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let key = key.replace("~1", "/").replace("~0", "~");
        let parent = doc.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match value {
            Some(value) => parent.insert(key, value.clone()),
            None => parent.remove(&key),
        };
    }
    doc
}

fn problems(doc: Value) -> SchemaError {
    Document::parse("app.json", doc).expect_err("the document should be refused")
}

/// The pointers of every problem found in `doc`.
fn pointers(doc: Value) -> Vec<String> {
    problems(doc).problems.into_iter().map(|p| p.pointer).collect()
}

/// The single problem found in `doc`: `(pointer, reason)`.
fn only_problem(doc: Value) -> (String, String) {
    let error = problems(doc);
    assert_eq!(error.file, "app.json");
    match <[_; 1]>::try_from(error.problems) {
        Ok([problem]) => (problem.pointer, problem.reason),
        Err(all) => panic!("expected one problem, got {all:?}"),
    }
}

fn compiled() -> Schema {
    Schema::from_json("app.json", &document().to_string()).unwrap()
}

fn invalid(schema: &Schema, version: Version, data: Value) -> ValidationError {
    schema.validate("user-created", version, &data).expect_err("the data should be invalid")
}

#[test]
fn the_reference_sample_schema_compiles_and_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire-samples/schema.json");
    let schema = Schema::from_json("schema.json", &std::fs::read_to_string(path).unwrap()).unwrap();
    let root = "https://hedwig.standard.ai/schema";
    assert_eq!(schema.root(), root);
    assert_eq!(schema.latest("user-created", 1), Some(Version::new(1, 0)));
    assert_eq!(schema.latest("user-updated", 1), Some(Version::new(1, 0)));
    assert_eq!(schema.latest("user-created", 2), None);
    assert_eq!(schema.latest("user-deleted", 1), None);
    let messages: Vec<_> = schema.document().messages.keys().cloned().collect();
    assert_eq!(messages, ["user-created", "user-updated"]);

    schema.validate("user-created", Version::new(1, 0), &json!({"user_id": "U_1234"})).unwrap();
    let error = schema.validate("user-updated", Version::new(1, 0), &json!({"user_id": 1234})).unwrap_err();
    assert_eq!(error.message_type, "user-updated");
    assert_eq!(error.schema_url, format!("{root}#/schemas/user-updated/1.0"));
    assert_eq!(error.pointer, "/user_id");
}

#[test]
fn validation_errors_carry_type_url_and_pointer() {
    let schema = compiled();
    schema.validate("user-created", Version::new(1, 2), &json!({"user_id": "U_1"})).unwrap();

    let error = invalid(&schema, Version::new(1, 1), json!({"user_id": 7}));
    assert_eq!(error.message_type, "user-created");
    assert_eq!(error.schema_url, format!("{ROOT}#/schemas/user-created/1.1"));
    assert_eq!(error.pointer, "/user_id");
    assert_eq!(error.more, 0);

    let error = invalid(&schema, Version::new(1, 2), json!({"user_id": "U_1", "address": {"country": "FRA"}}));
    assert_eq!(error.pointer, "/address/country");
    assert!(error.to_string().contains("/address/country"), "{error}");

    let error = invalid(&schema, Version::new(1, 0), json!({"address": {"country": 1}}));
    assert_eq!(error.more, 1, "missing user_id and a mistyped country: {error}");

    let error = invalid(&schema, Version::new(1, 0), json!({}));
    assert_eq!(error.pointer, "", "a missing property is reported on its object");
    assert!(error.reason.contains("user_id"), "{}", error.reason);
}

#[test]
fn data_is_validated_against_its_major_schema() {
    let schema = compiled();
    // 2.* has no required properties: what 1.* refuses, 2.* accepts.
    schema.validate("user-created", Version::new(2, 0), &json!({})).unwrap();
    // A minor newer than x-version still validates against the major's schema.
    schema.validate("user-created", Version::new(1, 9), &json!({"user_id": "U_1"})).unwrap();
    let error = invalid(&schema, Version::new(3, 0), json!({}));
    assert_eq!(error.schema_url, format!("{ROOT}#/schemas/user-created/3.0"));
    assert!(error.reason.contains("major version 3"), "{}", error.reason);
    assert!(schema.validate("user-deleted", Version::new(1, 0), &json!({})).is_err());
}

#[test]
fn dollar_id_names_the_root_too() {
    let doc = edited(&[("/id", None), ("/$id", Some(json!(ROOT)))]);
    let schema = Schema::from_json("app.json", &doc.to_string()).unwrap();
    assert_eq!(schema.root(), ROOT);
    assert_eq!(schema.url("user-created", Version::new(1, 2)), format!("{ROOT}#/schemas/user-created/1.2"));
}

#[test]
fn structural_problems_are_located_by_pointer() {
    let (types, major) = ("/schemas/user-created", "/schemas/user-created/1.*");
    let (x_version, user_ref) =
        ("/schemas/user-created/1.*/x-version", "/schemas/user-created/1.*/properties/user_id/$ref");
    let remote = "https://other.example/schemas#/definitions/UserId/1.0";
    // (where to edit, the new value or `None` to remove it, where the problem is, what it says)
    let cases: [(&str, Option<Value>, &str, &str); 20] = [
        ("/schemas", None, "", "missing `schemas`"),
        ("/schemas", Some(json!({})), "/schemas", "non-empty"),
        ("/schemas", Some(json!([])), "/schemas", "non-empty"),
        (types, Some(json!({})), types, "major versions"),
        ("/schemas/a~1b", Some(json!({"1.*": {"x-version": "1.0"}})), "/schemas/a~1b", "without `/`"),
        ("/schemas/user-created/1.0", Some(json!({"x-version": "1.0"})), "/schemas/user-created/1.0", "version key"),
        ("/schemas/user-created/v1.*", Some(json!({"x-version": "1.0"})), "/schemas/user-created/v1.*", "version key"),
        ("/schemas/user-created/*", Some(json!({"x-version": "1.0"})), "/schemas/user-created/*", "version key"),
        (x_version, None, major, "missing `x-version`"),
        (x_version, Some(json!("2.0")), x_version, "does not match"),
        (x_version, Some(json!(1.0)), x_version, "must be a string"),
        (x_version, Some(json!("1")), x_version, "invalid `x-version`"),
        (major, Some(json!("1.0")), major, "must be an object"),
        (user_ref, Some(json!(remote)), user_ref, "outside this document"),
        (user_ref, Some(json!("#/definitions/Nope/1.0")), user_ref, "unresolvable"),
        (user_ref, Some(json!("#/schemas/user-created/1.*/x-version")), user_ref, "not a schema"),
        (user_ref, Some(json!(1)), user_ref, "must be a string"),
        ("/id", None, "", "missing root `id`"),
        ("/id", Some(json!(format!("{ROOT}#x"))), "/id", "without a fragment"),
        ("/id", Some(json!("")), "/id", "non-empty"),
    ];
    for (at, value, pointer, reason) in cases {
        // The absolute `$ref` made local, so that a document without a usable root has one problem.
        let doc = edited(&[(user_ref, Some(json!("#/definitions/UserId/1.0"))), (at, value.clone())]);
        let (found_pointer, found_reason) = only_problem(doc);
        assert_eq!(found_pointer, pointer, "{at} = {value:?}");
        assert!(found_reason.contains(reason), "{at} = {value:?}: {found_reason:?} should mention {reason:?}");
    }
}

#[test]
fn every_problem_of_a_document_is_reported_at_once() {
    let doc = edited(&[
        ("/id", None),
        ("/schemas/user-created/1.*/x-version", None),
        ("/schemas/user-created/v2", Some(json!({"x-version": "2.0"}))),
        ("/schemas/user-created/2.*/properties", Some(json!({"a": {"$ref": "#/definitions/Missing"}}))),
    ]);
    let found = pointers(doc.clone());
    let expected = [
        "",
        "/schemas/user-created/1.*",
        "/schemas/user-created/v2",
        // Without a root id, the absolute `$ref` no longer points inside the document.
        "/schemas/user-created/1.*/properties/user_id/$ref",
        "/schemas/user-created/2.*/properties/a/$ref",
    ];
    for pointer in expected {
        assert!(found.iter().any(|p| p == pointer), "{pointer:?} not in {found:?}");
    }
    assert_eq!(found.len(), expected.len(), "{found:?}");
    let message = Schema::from_json("app.json", &doc.to_string()).unwrap_err().to_string();
    assert!(message.starts_with("app.json: 5 problems"), "{message}");
}

#[test]
fn invalid_json_is_one_problem_on_the_whole_document() {
    let error = Schema::from_json("broken.json", r#"{"id": "x", "schemas": "#).unwrap_err();
    assert_eq!(error.file, "broken.json");
    assert_eq!(error.problems.len(), 1);
    assert_eq!(error.problems[0].pointer, "");
    assert!(error.problems[0].reason.starts_with("not valid JSON"), "{}", error.problems[0].reason);
    assert!(error.to_string().starts_with("broken.json: (document): not valid JSON"), "{error}");
}

#[test]
fn versions_parse_only_as_major_dot_minor() {
    assert_eq!(Version::parse("1.2"), Some(Version::new(1, 2)));
    assert_eq!(Version::parse("0.0"), Some(Version::new(0, 0)));
    assert_eq!(Version::parse("10.20"), Some(Version::new(10, 20)));
    assert_eq!(Version::parse("4294967295.0"), Some(Version::new(u32::MAX, 0)));
    for bad in ["", "1", "1.", ".1", "1.2.3", "+1.2", "-1.2", "1.-2", " 1.2", "1.2 ", "a.b", "1.*", "4294967296.0"] {
        assert_eq!(Version::parse(bad), None, "{bad:?}");
    }
    assert_eq!(Version::new(1, 2).to_string(), "1.2");
    assert!(Version::new(1, 10) > Version::new(1, 9));
    assert!(Version::new(2, 0) > Version::new(1, 99));
}

#[test]
fn schema_urls_parse_into_root_type_and_version() {
    for message_type in ["user-created", "device.created", "trip_created"] {
        let url = format!("{ROOT}#/schemas/{message_type}/1.2");
        let parsed = SchemaUrl::parse(&url).unwrap();
        assert_eq!(
            parsed,
            SchemaUrl { root: ROOT.into(), message_type: message_type.into(), version: Version::new(1, 2) }
        );
        assert_eq!(parsed.to_string(), url);
    }
    let bad = [
        format!("{ROOT}/schemas/user-created/1.2"),
        format!("{ROOT}#/schemas/1.2"),
        format!("{ROOT}#/schemas//1.2"),
        format!("{ROOT}#/schemas/a/b/1.2"),
        format!("{ROOT}#/schemas/user-created/1"),
        format!("{ROOT}#/schemas/user-created/1.*"),
        format!("{ROOT}#/definitions/user-created/1.2"),
    ];
    for url in bad {
        assert_eq!(SchemaUrl::parse(&url), None, "{url}");
    }
    let schema = compiled();
    let url = schema.url("user-created", Version::new(2, 0));
    assert_eq!(SchemaUrl::parse(&url).unwrap().root, schema.root());
}

const TASKS_ROOT: &str = "https://example.com/schemas/billing-tasks";
const SEND_INVOICE: &str = "/tasks/billing.tasks.send_invoice";

/// A valid task document: two tasks, one with every optional key, sharing a definition.
fn task_document() -> Value {
    json!({
        "id": TASKS_ROOT,
        "$schema": "http://json-schema.org/draft-04/schema#",
        "definitions": {"InvoiceId": {"1.0": {"type": "string", "pattern": "^INV-[0-9]+$"}}},
        "tasks": {
            "billing.tasks.send_invoice": {
                "description": "Emails an invoice to its customer.",
                "priority": "high",
                "x-version": "1.2",
                "x-rust-name": "email_invoice",
                "input": {
                    "type": "object",
                    "properties": {
                        "invoice_id": {"$ref": "#/definitions/InvoiceId/1.0"},
                        "copies": {"type": "integer", "minimum": 1}
                    },
                    "required": ["invoice_id"],
                    "additionalProperties": false
                }
            },
            "billing/rebuild": {"x-version": "1.0", "input": {"type": "object"}}
        }
    })
}

/// `task_document()` with the name `billing/rebuild` (refused) replaced by `billing.rebuild`.
fn valid_task_document() -> Value {
    let mut doc = task_document();
    let tasks = doc["tasks"].as_object_mut().unwrap();
    let rebuild = tasks.remove("billing/rebuild").unwrap();
    tasks.insert("billing.rebuild".into(), rebuild);
    doc
}

fn task_problems(doc: Value) -> Vec<(String, String)> {
    let error = Document::parse("tasks.json", doc).expect_err("the document should be refused");
    error.problems.into_iter().map(|p| (p.pointer, p.reason)).collect()
}

/// `valid_task_document()` with the value at `pointer` replaced (or removed when `value` is `None`).
fn edited_tasks(pointer: &str, value: Option<Value>) -> Value {
    let mut doc = valid_task_document();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = doc.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(value) => parent.insert(key.to_owned(), value),
        None => parent.remove(key),
    };
    doc
}

#[test]
fn a_task_document_parses_into_tasks() {
    let schema = Schema::from_json("tasks.json", &valid_task_document().to_string()).unwrap();
    let document = schema.document();
    assert!(document.messages.is_empty());
    assert_eq!(document.tasks.keys().collect::<Vec<_>>(), ["billing.rebuild", "billing.tasks.send_invoice"]);
    let send = schema.task("billing.tasks.send_invoice").unwrap();
    assert_eq!(send.priority, Priority::High);
    assert_eq!(send.latest, Version::new(1, 2));
    assert_eq!(send.rust_name.as_deref(), Some("email_invoice"));
    assert_eq!(send.description.as_deref(), Some("Emails an invoice to its customer."));
    assert_eq!(send.pointer, SEND_INVOICE);
    assert_eq!(send.input["required"], json!(["invoice_id"]));
    let rebuild = schema.task("billing.rebuild").unwrap();
    assert_eq!(
        (rebuild.priority, rebuild.rust_name.as_ref(), rebuild.description.as_ref()),
        (Priority::Default, None, None)
    );
    assert!(schema.task("billing.tasks.unknown").is_none());
    assert!(compiled().document().tasks.is_empty(), "a Hedwig document has no tasks");
}

#[test]
fn task_inputs_are_validated_with_task_url_and_pointer() {
    let schema = Schema::from_json("tasks.json", &valid_task_document().to_string()).unwrap();
    let task = "billing.tasks.send_invoice";
    schema.validate_task(task, &json!({"invoice_id": "INV-1", "copies": 2})).unwrap();
    let url = format!("{TASKS_ROOT}#/tasks/{task}/input");
    assert_eq!(schema.task_url(task), url);

    let error = schema.validate_task(task, &json!({"invoice_id": "X-1"})).unwrap_err();
    assert_eq!((error.message_type.as_str(), error.schema_url.as_str()), (task, url.as_str()));
    assert_eq!(error.pointer, "/invoice_id");
    let error = schema.validate_task(task, &json!({"invoice_id": "INV-1", "copies": 0, "extra": 1})).unwrap_err();
    assert_eq!(error.more, 1, "a minimum and an additional property: {error}");
    let error = schema.validate_task(task, &json!({"copies": 1})).unwrap_err();
    assert!(error.reason.contains("invoice_id"), "{}", error.reason);

    let error = schema.validate_task("billing.tasks.unknown", &json!({})).unwrap_err();
    assert!(error.reason.contains("no task"), "{}", error.reason);
    assert!(schema.validate("billing.tasks.send_invoice", Version::new(1, 2), &json!({})).is_err());
}

#[test]
fn task_layout_problems_are_located_by_pointer() {
    let (priority, x_version, rust_name, input) = (
        "/tasks/billing.tasks.send_invoice/priority",
        "/tasks/billing.tasks.send_invoice/x-version",
        "/tasks/billing.tasks.send_invoice/x-rust-name",
        "/tasks/billing.tasks.send_invoice/input",
    );
    // (where to edit, the new value or `None` to remove it, where the problem is, what it says)
    let cases: [(&str, Option<Value>, &str, &str); 17] = [
        ("/tasks", Some(json!({})), "/tasks", "non-empty"),
        ("/tasks", Some(json!([])), "/tasks", "non-empty"),
        ("/schemas", Some(json!({"a": {"1.*": {"x-version": "1.0"}}})), "", "not both"),
        (SEND_INVOICE, Some(json!("task")), SEND_INVOICE, "must be an object"),
        (priority, Some(json!("urgent")), priority, "unknown priority \"urgent\""),
        (priority, Some(json!(1)), priority, "must be a string"),
        (x_version, None, SEND_INVOICE, "missing `x-version`"),
        (x_version, Some(json!("1")), x_version, "invalid `x-version`"),
        (x_version, Some(json!(1.2)), x_version, "must be a string"),
        (rust_name, Some(json!("SendInvoice")), rust_name, "snake_case"),
        (rust_name, Some(json!("")), rust_name, "snake_case"),
        (
            "/tasks/billing.tasks.send_invoice/description",
            Some(json!(["a"])),
            "/tasks/billing.tasks.send_invoice/description",
            "must be a string",
        ),
        (input, None, SEND_INVOICE, "missing `input`"),
        (input, Some(json!({"type": "string"})), input, "object schema"),
        (input, Some(json!([])), input, "object schema"),
        (
            "/tasks/billing.tasks.send_invoice/prority",
            Some(json!("high")),
            "/tasks/billing.tasks.send_invoice/prority",
            "unknown key `prority`",
        ),
        (
            "/tasks/billing.tasks.send_invoice/input/properties/invoice_id/$ref",
            Some(json!("#/definitions/Nope/1.0")),
            "/tasks/billing.tasks.send_invoice/input/properties/invoice_id/$ref",
            "unresolvable",
        ),
    ];
    for (at, value, pointer, reason) in cases {
        let found = task_problems(edited_tasks(at, value.clone()));
        let [(found_pointer, found_reason)] = found.as_slice() else { panic!("{at} = {value:?}: {found:?}") };
        assert_eq!(found_pointer, pointer, "{at} = {value:?}");
        assert!(found_reason.contains(reason), "{at} = {value:?}: {found_reason:?} should mention {reason:?}");
    }
    let (pointer, reason) = only_problem(edited(&[("/schemas", None)]));
    assert_eq!(pointer, "");
    assert!(reason.contains("or `tasks`"), "{reason}");
}

#[test]
fn every_task_problem_is_reported_at_once() {
    let mut doc = task_document();
    let send = doc.pointer_mut(SEND_INVOICE).unwrap().as_object_mut().unwrap();
    send.insert("priority".into(), json!("urgent"));
    send.remove("x-version");
    send.insert("input".into(), json!({"type": "array"}));
    let found: Vec<String> = task_problems(doc).into_iter().map(|(pointer, _)| pointer).collect();
    assert_eq!(
        found,
        [
            "/tasks/billing.tasks.send_invoice/priority",
            "/tasks/billing.tasks.send_invoice",
            "/tasks/billing.tasks.send_invoice/input",
            "/tasks/billing~1rebuild",
        ],
        "in document order"
    );
}
