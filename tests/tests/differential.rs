//! Differential tests of the typed publish and consume paths against `jsonschema`, the
//! oracle.
//!
//! For every message type of `schemas/example.json` and of the codegen fixtures, instances
//! are generated from its schema (valid ones and near misses: absent required fields,
//! nulls, wrong types, unknown fields, strings of any shape, extreme integers, `1.0`).
//!
//! * Publish: each one the payload type deserializes goes through `Publisher::publish`: it
//!   must be published exactly when `jsonschema` accepts the payload's JSON, and its body
//!   must be that JSON.
//! * Consume: each one, written as JSON text with more near misses (a key twice, an object
//!   as the array of its values, a string enum's value as `{"value": null}`), goes through
//!   `Router::dispatch`: its handler must get the payload exactly when `jsonschema` accepts
//!   the document and `serde_json::from_value` reads it, with the same value, and every
//!   other document must be refused for the same reason as the oracle's.
//!
//! Types marked valid by construction skip the schema walk both ways, so this is what
//! proves the generator's rule (`codegen/src/enforced.rs`) and the strict reading of
//! bodies; the others prove the validating path.

use std::sync::LazyLock;

use std::sync::{Arc, Mutex};

use owlpost::testing::Recording;
use owlpost::wire::attr;
use owlpost::{
    ConsumeError, Document, Message, Outcome, ProviderMetadata, PublishError, Received, Router, Validation, WireMessage,
};
use owlpost_e2e::fixtures::{constructs, enforced, hedwig_reference, naming};
use owlpost_e2e::messages as example;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

/// Cases per message type.
const CASES: u32 = 512;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime"));

/// What the instances of one type came to.
#[derive(Debug, Default)]
struct Tally {
    instances: u32,
    published: u32,
    refused: u32,
}

/// Runs the differential property for `M` and returns the tally.
fn differential<M: Message>() -> Tally {
    let document = M::schema().document();
    let strategy = instance(document, &document.messages[M::MESSAGE_TYPE][&M::MAJOR].schema, 0);
    let tally = std::cell::RefCell::new(Tally::default());
    // A fixed seed: CI runs the same cases every time, and a failure reproduces.
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&strategy, |value| {
            let Ok(payload) = serde_json::from_value::<M>(value) else { return Ok(()) };
            let json = serde_json::to_value(&payload).expect("a payload serializes");
            let oracle = M::schema().validate(M::MESSAGE_TYPE, M::version(), &json);
            let recording = Recording::new();
            let published = RUNTIME.block_on(recording.publisher("differential").publish(payload));
            let mut tally = tally.borrow_mut();
            tally.instances += 1;
            match (published, oracle) {
                (Ok(_), Ok(())) => {
                    tally.published += 1;
                    let (_, wire) = recording.messages().pop().expect("one message sent");
                    // The same JSON (a direct body has the struct's field order, a validated one
                    // the `Value`'s sorted keys).
                    let body: Value = serde_json::from_slice(&wire.body).expect("a JSON body");
                    prop_assert_eq!(body, json, "the body is the payload's JSON");
                }
                (Err(PublishError::Invalid(_)), Err(_)) => tally.refused += 1,
                (published, oracle) => {
                    return Err(TestCaseError::fail(format!(
                        "{} {json}: publish {published:?}, jsonschema {oracle:?}",
                        M::MESSAGE_TYPE
                    )));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{}: {failure}", std::any::type_name::<M>()));
    tally.into_inner()
}

/// Runs the consume property for `M`; returns how many documents reached the handler.
fn consume_differential<M: Message>() -> u32 {
    let document = M::schema().document();
    let strategy = (instance(document, &document.messages[M::MESSAGE_TYPE][&M::MAJOR].schema, 0), any::<u64>());
    let handled = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new();
    let log = handled.clone();
    router.route(move |received: Received<M>| {
        log.lock().unwrap().push(serde_json::to_value(&received.data).expect("a payload serializes"));
        async { Ok(()) }
    });
    let url = M::schema().url(M::MESSAGE_TYPE, M::version());
    let attributes = [
        (attr::FORMAT_VERSION, "1.0"),
        (attr::ID, "d-1"),
        (attr::TIMESTAMP, "1700000000000"),
        (attr::PUBLISHER, "differential"),
        (attr::SCHEMA, url.as_str()),
    ];
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let reached = std::cell::Cell::new(0);
    runner
        .run(&strategy, |(value, seed)| {
            let text = Text { seed: seed | 1 }.write(&value);
            let wire = WireMessage {
                body: text.clone().into_bytes(),
                attributes: attributes.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            };
            let provider = ProviderMetadata::Memory { queue: "differential".into(), receive_count: 1 };
            let outcome = RUNTIME.block_on(router.dispatch(wire, provider)).outcome;
            let got = handled.lock().unwrap().pop();
            // The oracle: parse (the last of a key given twice wins), validate, convert.
            let parsed: Value = serde_json::from_str(&text).expect("the writer writes JSON");
            let oracle = M::schema()
                .validate(M::MESSAGE_TYPE, M::version(), &parsed)
                .map_err(|_| "invalid")
                .and_then(|()| serde_json::from_value::<M>(parsed).map_err(|_| "unreadable"));
            match (oracle, outcome, got) {
                (Ok(expected), Outcome::Acked, Some(got)) => {
                    reached.set(reached.get() + 1);
                    prop_assert_eq!(got, serde_json::to_value(&expected).unwrap(), "{}", text);
                }
                (Err("invalid"), Outcome::Rejected(ConsumeError::Invalid(_)), None) => {}
                (Err("unreadable"), Outcome::Rejected(ConsumeError::Deserialize { .. }), None) => {}
                (oracle, outcome, got) => {
                    let oracle = oracle.map(|p| serde_json::to_value(&p).unwrap());
                    return Err(TestCaseError::fail(format!(
                        "{} {text}: dispatch {outcome:?} (handler got {got:?}), oracle {oracle:?}",
                        M::MESSAGE_TYPE
                    )));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{}: {failure}", std::any::type_name::<M>()));
    reached.get()
}

/// Writes a `Value` as JSON text with near misses only text can hold, drawn from `seed`: an
/// object key given twice (before or after its real value), an object written as the array
/// of its values (in key order), a string as `{"<string>": null}` (serde's map form of a
/// unit variant).
struct Text {
    seed: u64,
}

impl Text {
    /// One in `n`, from the next draw (xorshift; the seed is odd, so never stuck at 0).
    fn one_in(&mut self, n: u64) -> bool {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed.is_multiple_of(n)
    }

    fn write(&mut self, value: &Value) -> String {
        match value {
            Value::Object(object) if self.one_in(24) => {
                let values: Vec<String> = object.values().map(|v| self.write(v)).collect();
                format!("[{}]", values.join(","))
            }
            Value::Object(object) => {
                let mut members: Vec<String> =
                    object.iter().map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), self.write(v))).collect();
                if let Some(key) = object.keys().next().filter(|_| self.one_in(8)) {
                    let twice = format!("{}:{}", Value::from(key.as_str()), self.write(&object[key]).len());
                    if self.one_in(2) { members.insert(0, twice) } else { members.push(twice) }
                }
                format!("{{{}}}", members.join(","))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|v| self.write(v)).collect();
                format!("[{}]", items.join(","))
            }
            Value::String(string) if self.one_in(24) => format!("{{{}:null}}", Value::from(string.as_str())),
            other => other.to_string(),
        }
    }
}

/// Values shaped by `schema`: fifteen in sixteen follow it (each property present or not,
/// enum values, strings matching its pattern), one in sixteen is noise of any JSON type.
fn instance(document: &'static Document, schema: &'static Value, depth: u32) -> BoxedStrategy<Value> {
    let (schema, _) = document.follow_refs(schema);
    let noise = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(1.0)),
        Just(json!(u64::MAX)),
        "[a-z]{0,3}".prop_map(Value::from),
        Just(json!({})),
        Just(json!([])),
    ];
    if depth > 6 {
        return noise.boxed();
    }
    let shaped = match schema.get("type").and_then(Value::as_str) {
        Some("object") => object(document, schema, depth),
        Some("array") => match schema.get("items") {
            Some(items) => {
                proptest::collection::vec(instance(document, items, depth + 1), 0..4).prop_map(Value::from).boxed()
            }
            None => noise.clone().boxed(),
        },
        Some("string") => string(schema),
        Some("integer") => {
            // Around the lower bound, mostly above it; sometimes anything.
            let low = schema.get("minimum").and_then(Value::as_i64).unwrap_or(-2);
            prop_oneof![6 => (low - 1)..(low + 5), 1 => any::<i64>()].prop_map(Value::from).boxed()
        }
        Some("number") => prop_oneof![-2.0f64..4.0, any::<f64>()].prop_map(Value::from).boxed(),
        Some("boolean") => any::<bool>().prop_map(Value::from).boxed(),
        _ => match schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
            // One of the branches.
            Some(branches) if !branches.is_empty() => {
                let branches: Vec<_> = branches.iter().map(|b| instance(document, b, depth + 1)).collect();
                proptest::sample::select((0..branches.len()).collect::<Vec<_>>())
                    .prop_flat_map(move |i| branches[i].clone())
                    .boxed()
            }
            _ => noise.clone().boxed(),
        },
    };
    prop_oneof![15 => shaped, 1 => noise].boxed()
}

fn object(document: &'static Document, schema: &'static Value, depth: u32) -> BoxedStrategy<Value> {
    let required =
        |name: &str| schema.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|n| n == name));
    let properties: Vec<(String, BoxedStrategy<Option<Value>>)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, property)| {
            let present = if required(name) { 0.97 } else { 0.75 };
            (name.clone(), proptest::option::weighted(present, instance(document, property, depth + 1)).boxed())
        })
        .collect();
    let (names, values): (Vec<String>, Vec<_>) = properties.into_iter().unzip();
    let unknown = proptest::option::weighted(0.1, "[a-z]{1,3}");
    (values, unknown)
        .prop_map(move |(values, unknown)| {
            let mut object: Map<String, Value> =
                names.iter().cloned().zip(values).filter_map(|(name, value)| Some((name, value?))).collect();
            if let Some(unknown) = unknown {
                object.insert(format!("zz_{unknown}"), json!(unknown));
            }
            Value::Object(object)
        })
        .boxed()
}

fn string(schema: &'static Value) -> BoxedStrategy<Value> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values = values.clone();
        return prop_oneof![4 => proptest::sample::select(values), 1 => "[a-z]{0,4}".prop_map(Value::from)].boxed();
    }
    let any = prop_oneof!["[a-zA-Z0-9_]{0,8}", "[a-z]{1,5}@[a-z]{1,5}\\.(com|org)", "[a-z@. ]{0,8}", "\\PC{0,6}",];
    // Strings of the format, so that a type it maps to (`Uuid`, `DateTime`) reads them.
    let formatted = match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => Some("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"),
        Some("date-time") => Some(
            "20[0-9]{2}-(0[1-9]|1[0-2])-[0-2][1-9]T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-]0[0-9]:00)",
        ),
        Some("date") => Some("20[0-9]{2}-(0[1-9]|1[0-2])-[0-3][0-9]"),
        Some("ipv4") => Some("(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}"),
        _ => None,
    };
    if let Some(formatted) = formatted {
        return prop_oneof![4 => formatted, 1 => any].prop_map(Value::from).boxed();
    }
    match schema.get("pattern").and_then(Value::as_str) {
        // Strings that match the pattern, so that its newtype accepts them too.
        Some(pattern) => match proptest::string::string_regex(pattern.trim_start_matches('^').trim_end_matches('$')) {
            Ok(matching) => prop_oneof![3 => matching, 1 => any].prop_map(Value::from).boxed(),
            Err(_) => any.prop_map(Value::from).boxed(),
        },
        None => any.prop_map(Value::from).boxed(),
    }
}

/// Checks a type and returns its tally, asserting that the generated values reached it.
macro_rules! check {
    ($($ty:ty),* $(,)?) => {{
        let mut tallies = Vec::new();
        $(
            let tally = differential::<$ty>();
            let reached = consume_differential::<$ty>();
            // Fewer than the instances: the text's near misses make more documents invalid.
            assert!(reached >= CASES / 32, "{}: only {reached} of {CASES} documents reached the handler", stringify!($ty));
            assert!(
                tally.instances >= CASES / 16,
                "{}: only {} of {CASES} generated values are instances: the generator misses the type",
                stringify!($ty), tally.instances
            );
            eprintln!("{}: {reached} of {CASES} documents reached the handler", stringify!($ty));
            tallies.push((stringify!($ty), <$ty as Message>::VALIDATION, tally));
        )*
        tallies
    }};
}

#[test]
fn typed_publish_and_consume_accept_exactly_what_jsonschema_accepts() {
    let tallies = check!(
        example::UserCreatedV1,
        example::UserCreatedV2,
        example::OrderPlacedV1,
        example::UserDeletedV1,
        hedwig_reference::UserCreatedV1,
        hedwig_reference::UserUpdatedV1,
        naming::DeviceCreatedV1,
        naming::TripCreatedV1,
        naming::TripCreatedV2,
        naming::M3dPrintFinishedV1,
        naming::UserAv1,
        naming::Xyv1,
        constructs::EverythingV1,
        enforced::TypedV1,
        enforced::BoundedIshV1,
        enforced::BoundedV1,
        enforced::CappedV1,
        enforced::ListedV1,
        enforced::UniqueV1,
        enforced::EmailedV1,
        enforced::MeasuredV1,
        enforced::SizedV1,
        enforced::PatternedV1,
        enforced::TaggedV1,
        enforced::FormattedV1,
        enforced::SteppedV1,
    );
    let kind = |validation: &Validation| match validation {
        Validation::Construction => "construction",
        Validation::Strings(_) => "strings",
        _ => "schema",
    };
    for (name, validation, tally) in &tallies {
        eprintln!("{name} (validation: {}): {tally:?}", kind(validation));
        if *validation == Validation::Construction {
            assert_eq!(tally.refused, 0, "{name}: a type valid by construction had an instance jsonschema refused");
        }
    }
    // Every type just outside the rule of construction (`fixtures/enforced.json`) had
    // instances that its schema refuses: were one marked valid by construction, the test
    // above would fail. Except three, whose every instance is valid: typify's newtypes check
    // `pattern` and `minLength` when a value is made, and the types it gives formats
    // (`DateTime`, `Uuid`, ...) write only valid strings. The rule still checks their strings,
    // because typify's regex engine (regress, ECMAScript) is not jsonschema's, and chrono's
    // text need not be what jsonschema calls a date-time.
    let newtype_checked = ["enforced::SizedV1", "enforced::PatternedV1", "enforced::FormattedV1"];
    let outside =
        tallies.iter().filter(|(name, v, _)| name.starts_with("enforced::") && *v != Validation::Construction);
    for (name, _, tally) in outside {
        let refused = tally.refused > 0 || newtype_checked.contains(name);
        assert!(refused && tally.published > 0, "{name}: no instance on one side of its constraint: {tally:?}");
    }
    let count = |k: &str| tallies.iter().filter(|(_, v, _)| kind(v) == k).count();
    assert!(count("construction") >= 8, "the fixtures' types valid by construction");
    // The example's user-created and user_deleted, and emailed, sized, patterned, tagged.
    assert!(count("strings") >= 7, "the fixtures' types with checked strings");
}
