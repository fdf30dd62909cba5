//! End to end on the in-memory broker, through the generated API of `schemas/example.json`.

#[macro_use]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use owlpost::Source;
use owlpost::memory::{MemoryBroker, QueueConfig, QueueStats};
use owlpost::taskhawk::Priority;
use owlpost::{
    ConsumeError, Consumer, DynamicMessage, HandlerResult, Outcome, Outgoing, PublishError, Publisher, Received,
    Router, Version, WireMessage,
};
use owlpost_e2e::messages::*;
use serde_json::json;

/// Records what each handler method received.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
    fn push(&self, entry: String) {
        self.seen.lock().unwrap().push(entry);
    }
}

impl UserCreatedHandler for Recorder {
    async fn user_created_v1(&self, message: Received<UserCreatedV1>) -> HandlerResult {
        self.push(format!("v1 {} {} {}", message.version, *message.data.user_id, message.data.email));
        Ok(())
    }
    async fn user_created_v2(&self, message: Received<UserCreatedV2>) -> HandlerResult {
        let city = message.data.address.as_ref().map(|a| a.city.clone()).unwrap_or_default();
        self.push(format!("v2 {} {} {} {city}", message.version, *message.data.user_id, *message.data.name.given));
        Ok(())
    }
}

impl OrderPlacedHandler for Recorder {
    async fn order_placed_v1(&self, message: Received<OrderPlacedV1>) -> HandlerResult {
        let lines: Vec<_> = message.data.lines.iter().map(|l| format!("{}x{}", l.sku, l.quantity)).collect();
        self.push(format!("order {} {} {}", *message.data.order_id, message.data.total_cents, lines.join(",")));
        Ok(())
    }
}

/// A broker with every example topic feeding queue `q`, a publisher and a consumer on `q`.
fn setup() -> (MemoryBroker, Publisher, Consumer, Recorder) {
    let broker = MemoryBroker::new();
    for topic in ["user-created-v1", "user-created-v2", "order.placed-v1", "user_deleted-v1"] {
        broker.subscribe(topic, "q");
    }
    let publisher = Publisher::new("e2e", broker.clone());
    let recorder = Recorder::default();
    let mut router = Router::new();
    register_user_created(&mut router, recorder.clone());
    register_order_placed(&mut router, recorder.clone());
    (broker.clone(), publisher, Consumer::new(broker.source("q"), router), recorder)
}

fn user_v1(user_id: &str, email: &str) -> UserCreatedV1 {
    UserCreatedV1 { user_id: user_id.parse().unwrap(), email: email.into(), plan: Plan::Free, referrer: None }
}

/// A raw message in attributes encoding, as another Hedwig publisher would send it.
fn raw(schema_url: &str, body: &str) -> WireMessage {
    let attributes = [
        ("hedwig_format_version", "1.0"),
        ("hedwig_id", "raw-1"),
        ("hedwig_message_timestamp", "1700000000000"),
        ("hedwig_publisher", "elsewhere"),
        ("hedwig_schema", schema_url),
    ];
    WireMessage {
        body: body.as_bytes().to_vec(),
        attributes: attributes.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
    }
}

const ROOT: &str = "https://owlpost.dev/schemas/example";

#[tokio::test]
async fn typed_messages_reach_typed_handlers() {
    let (_, publisher, consumer, recorder) = setup();
    publish_user_created(&publisher, user_v1("U_1", "a@example.com")).await.unwrap();
    let v2 = UserCreatedV2 {
        user_id: "U_2".parse().unwrap(),
        name: UserCreatedV2Name { given: "Bo".parse().unwrap(), family: None },
        plan: Plan::Enterprise,
        address: Some(Address { street: "1 Main St".into(), city: "Oslo".into(), country: "NO".parse().unwrap() }),
    };
    publish_user_created(&publisher, v2).await.unwrap();
    let order = OrderPlacedV1 {
        order_id: "ord_abc123".parse().unwrap(),
        user_id: "U_1".parse().unwrap(),
        total_cents: 1250,
        lines: vec![OrderPlacedV1LinesItem { sku: "book".into(), quantity: std::num::NonZeroU64::new(2).unwrap() }],
        shipping: None,
    };
    publish_order_placed(&publisher, order).await.unwrap();

    let processed = consumer.poll().await.unwrap();
    assert!(processed.iter().all(|p| matches!(p.outcome, Outcome::Acked)), "{processed:?}");
    assert_eq!(recorder.seen(), ["v1 1.1 U_1 a@example.com", "v2 2.0 U_2 Bo Oslo", "order ord_abc123 1250 bookx2"]);
}

#[tokio::test]
async fn headers_id_and_publisher_round_trip() {
    let (broker, publisher, _, _) = setup();
    let seen = Arc::new(Mutex::new(None));
    let mut router = Router::new();
    let sink = seen.clone();
    router.route(move |m: Received<UserCreatedV1>| {
        let sink = sink.clone();
        async move {
            *sink.lock().unwrap() = Some(m.metadata);
            Ok(())
        }
    });
    let message = Outgoing::new(user_v1("U_7", "h@example.com")).header("request_id", "r-1").id("my-own-id");
    let sent = publish_user_created(&publisher, message).await.unwrap();
    assert_eq!(sent.id, "my-own-id");
    Consumer::new(broker.source("q"), router).poll().await.unwrap();
    let metadata = seen.lock().unwrap().clone().expect("handler ran");
    assert_eq!(metadata.id, "my-own-id");
    assert_eq!(metadata.publisher, "e2e");
    assert_eq!(metadata.headers.get("request_id").map(String::as_str), Some("r-1"));
    assert_eq!(metadata.schema, format!("{ROOT}#/schemas/user-created/1.1"));
    assert_eq!(metadata.format_version, "1.0");
}

#[tokio::test]
async fn invalid_data_is_refused_at_publish_with_its_pointer() {
    let (broker, publisher, _, _) = setup();
    let error = publish_user_created(&publisher, user_v1("U_1", "not-an-email")).await.unwrap_err();
    let PublishError::Invalid(invalid) = &error else { panic!("expected Invalid, got {error:?}") };
    assert_eq!(invalid.message_type, "user-created");
    assert_eq!(invalid.pointer, "/email");
    assert_eq!(invalid.schema_url, format!("{ROOT}#/schemas/user-created/1.1"));
    assert_eq!(broker.stats("q"), Some(QueueStats::default()), "nothing was sent");

    // A constraint below the top level, reached through a `$ref`: the order total's minimum.
    let data =
        json!({"order_id": "ord_abc123", "user_id": "U_1", "total_cents": -5, "lines": [{"sku": "a", "quantity": 1}]});
    let error = publisher.publish_dynamic(schema(), dynamic("order.placed", 1, 0, data)).await.unwrap_err();
    let PublishError::Invalid(invalid) = &error else { panic!("expected Invalid, got {error:?}") };
    assert_eq!(invalid.pointer, "/total_cents");
}

fn dynamic(message_type: &str, major: u32, minor: u32, data: serde_json::Value) -> DynamicMessage {
    DynamicMessage {
        message_type: message_type.into(),
        version: Version::new(major, minor),
        data,
        id: None,
        headers: Default::default(),
    }
}

#[tokio::test]
async fn reserved_header_prefix_is_refused() {
    let (_, publisher, _, _) = setup();
    let message = Outgoing::new(user_v1("U_1", "a@example.com")).header("hedwig_id", "spoofed");
    let error = publish_user_created(&publisher, message).await.unwrap_err();
    assert!(matches!(&error, PublishError::ReservedHeader { key, .. } if key == "hedwig_id"), "{error:?}");
}

#[tokio::test]
async fn unknown_minor_is_refused_at_publish_and_newer_minor_accepted_on_consume() {
    let (broker, publisher, consumer, recorder) = setup();
    let data = json!({"user_id": "U_1", "email": "a@example.com", "plan": "free"});
    let error = publisher.publish_dynamic(schema(), dynamic("user-created", 1, 2, data.clone())).await.unwrap_err();
    assert!(
        matches!(error, PublishError::UnknownMinor { latest, .. } if latest == Version::new(1, 1)),
        "expected UnknownMinor"
    );
    // An older minor is fine to publish.
    publisher.publish_dynamic(schema(), dynamic("user-created", 1, 0, data.clone())).await.unwrap();
    // A publisher that already knows 1.7 sends a field this build has never heard of.
    let body = json!({"user_id": "U_9", "email": "n@example.com", "plan": "pro", "nickname": "nine"}).to_string();
    broker.inject("user-created-v1", raw(&format!("{ROOT}#/schemas/user-created/1.7"), &body)).unwrap();
    let processed = consumer.poll().await.unwrap();
    assert!(processed.iter().all(|p| p.outcome.is_acked()), "{processed:?}");
    assert_eq!(recorder.seen(), ["v1 1.0 U_1 a@example.com", "v1 1.7 U_9 n@example.com"]);
}

/// Injects `message`, polls once, and returns the outcome; checks the message was moved to
/// the dead-letter queue unchanged, not acknowledged and not retried.
async fn rejected(message: WireMessage) -> ConsumeError {
    let (broker, _, consumer, recorder) = setup();
    broker.inject("user-created-v1", message.clone()).unwrap();
    let mut processed = consumer.poll().await.unwrap();
    assert_eq!(processed.len(), 1);
    assert!(recorder.seen().is_empty(), "no handler may run");
    assert_eq!(broker.stats("q"), Some(QueueStats::default()), "not retried");
    let dead = broker.source("q-dlq").receive(10).await.unwrap();
    assert_eq!(dead.iter().map(|d| &d.message).collect::<Vec<_>>(), [&message], "dead-lettered as it was");
    match processed.remove(0).outcome {
        Outcome::Rejected(error) => error,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_raw_message_is_dead_lettered_and_reported() {
    let body = json!({"user_id": "nope", "email": "a@example.com", "plan": "free"}).to_string();
    let error = rejected(raw(&format!("{ROOT}#/schemas/user-created/1.0"), &body)).await;
    let ConsumeError::Invalid(invalid) = error else { panic!("expected Invalid, got {error:?}") };
    assert_eq!(invalid.pointer, "/user_id");
}

#[tokio::test]
async fn unknown_message_type_and_major_are_rejected() {
    let error = rejected(raw(&format!("{ROOT}#/schemas/user-renamed/1.0"), "{}")).await;
    assert!(
        matches!(&error, ConsumeError::UnknownMessage { message_type, major: 1, .. } if message_type == "user-renamed")
    );
    let error = rejected(raw(&format!("{ROOT}#/schemas/user-created/3.0"), "{}")).await;
    assert!(matches!(&error, ConsumeError::UnknownMessage { major: 3, .. }), "{error:?}");
}

#[tokio::test]
async fn malformed_messages_are_rejected() {
    let valid = json!({"user_id": "U_1", "email": "a@example.com", "plan": "free"}).to_string();
    let error = rejected(raw(&format!("{ROOT}#/schemas/user-created/1.0"), "{not json")).await;
    assert!(matches!(error, ConsumeError::Decode(_)), "{error:?}");
    let error = rejected(raw("https://elsewhere.example/schema#/schemas/user-created/1.0", &valid)).await;
    assert!(matches!(error, ConsumeError::ForeignSchema { .. }), "{error:?}");
    let error = rejected(raw(&format!("{ROOT}#/schemas/user-created/one"), &valid)).await;
    assert!(matches!(error, ConsumeError::SchemaUrl { .. }), "{error:?}");
    let mut no_id = raw(&format!("{ROOT}#/schemas/user-created/1.0"), &valid);
    no_id.attributes.remove("hedwig_id");
    let error = rejected(no_id).await;
    assert!(matches!(error, ConsumeError::Decode(owlpost::wire::DecodeError::MissingAttribute { name: "hedwig_id" })));
}

/// Hostile deliveries, one per row: each is a typed rejection, dead-lettered as it came, and
/// no handler runs; nothing panics.
#[tokio::test]
async fn hostile_deliveries_are_typed_rejections_and_dead_lettered() {
    use owlpost::wire::DecodeError;
    let url = format!("{ROOT}#/schemas/user-created/1.0");
    let valid = json!({"user_id": "U_1", "email": "a@example.com", "plan": "free"}).to_string();
    let with = |name: &str, value: &str| {
        let mut message = raw(&url, &valid);
        message.attributes.insert(name.to_owned(), value.to_owned());
        message
    };
    let container =
        |body: serde_json::Value| WireMessage { body: body.to_string().into_bytes(), attributes: Default::default() };
    let container_body = json!({
        "format_version": "1.0", "schema": url, "id": "9b2b4b1e-3c53-4d6a-9e8e-1f2a3b4c5d6e",
        "metadata": {"timestamp": 1, "publisher": "p", "headers": {}}, "data": {"user_id": "U_1"},
    });
    let container_with = |pointer: &str, value: serde_json::Value| {
        let mut body = container_body.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        container(body)
    };
    let mut thousand = with(owlpost::wire::attr::TIMESTAMP, "soon");
    thousand.attributes.extend((0..1000).map(|i| (format!("h{i}"), "v".repeat(100))));
    let huge_email = json!({"user_id": "U_1", "email": "a".repeat(10_000_000), "plan": "free"}).to_string();
    let deep = format!("{{\"user_id\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    type Expected = fn(&ConsumeError) -> bool;
    let cases: Vec<(&str, WireMessage, Expected)> = vec![
        ("a 10 MB field", raw(&url, &huge_email), |e| matches!(e, ConsumeError::Invalid(i) if i.pointer == "/email")),
        ("nesting 100,000 deep", raw(&url, &deep), |e| {
            matches!(e, ConsumeError::Decode(DecodeError::BodyNotJson { .. }))
        }),
        ("a body that is not UTF-8", WireMessage { body: b"{\"user_id\": \"\xff\"}".to_vec(), ..raw(&url, "") }, |e| {
            matches!(e, ConsumeError::Decode(DecodeError::BodyNotJson { .. }))
        }),
        ("1,000 attributes and a bad timestamp", thousand, |e| {
            matches!(e, ConsumeError::Decode(DecodeError::Timestamp { .. }))
        }),
        ("format version 2.0", with(owlpost::wire::attr::FORMAT_VERSION, "2.0"), |e| {
            matches!(e, ConsumeError::Decode(DecodeError::FormatVersion { .. }))
        }),
        ("a fractional timestamp", with(owlpost::wire::attr::TIMESTAMP, "1.5"), |e| {
            matches!(e, ConsumeError::Decode(DecodeError::Timestamp { .. }))
        }),
        ("an empty timestamp", with(owlpost::wire::attr::TIMESTAMP, ""), |e| {
            matches!(e, ConsumeError::Decode(DecodeError::Timestamp { .. }))
        }),
        ("a schema URL that is not one", with(owlpost::wire::attr::SCHEMA, "user-created"), |e| {
            matches!(e, ConsumeError::SchemaUrl { .. })
        }),
        ("base64 that is not", with(owlpost::wire::attr::ENCODING, "base64"), |e| {
            matches!(e, ConsumeError::Decode(DecodeError::Base64 { .. }))
        }),
        (
            "data of the wrong type",
            raw(&url, "[1, 2]"),
            |e| matches!(e, ConsumeError::Invalid(i) if i.pointer.is_empty()),
        ),
        ("a container whose id is a number", container_with("/id", json!(7)), |e| container_pointer(e) == Some("/id")),
        ("a container whose schema is a list", container_with("/schema", json!([])), |e| {
            container_pointer(e) == Some("/schema")
        }),
        ("a container whose format version is a number", container_with("/format_version", json!(1.0)), |e| {
            container_pointer(e) == Some("/format_version")
        }),
        ("a container whose timestamp is text", container_with("/metadata/timestamp", json!("now")), |e| {
            container_pointer(e) == Some("/metadata")
        }),
        ("a container whose publisher is null", container_with("/metadata/publisher", json!(null)), |e| {
            container_pointer(e) == Some("/metadata")
        }),
        ("a container whose headers are not strings", container_with("/metadata/headers", json!({"a": 1})), |e| {
            container_pointer(e) == Some("/metadata")
        }),
        ("a container whose data is a list", container_with("/data", json!([])), |e| {
            container_pointer(e) == Some("/data")
        }),
        ("a container that is a list", container(json!([container_body])), |e| container_pointer(e) == Some("")),
    ];
    for (case, message, expected) in cases {
        let error = rejected(message).await;
        assert!(expected(&error), "{case}: {error:?}");
    }
}

/// The pointer of a rejection for a container body with a missing or mistyped field.
fn container_pointer(error: &ConsumeError) -> Option<&str> {
    match error {
        ConsumeError::Decode(owlpost::wire::DecodeError::Container { pointer, .. }) => Some(pointer),
        _ => None,
    }
}

/// The consumer suite's fixture: a broker with `user-created-v1` feeding queue `q`.
struct Memory {
    broker: MemoryBroker,
}

impl support::suite::Fixture for Memory {
    type Source = owlpost::memory::MemorySource;
    const SHORT_LEASE: Duration = Duration::from_secs(1);
    const SLACK: Duration = Duration::from_millis(300);

    async fn new(lease: Duration) -> Self {
        let broker = MemoryBroker::new();
        let config =
            QueueConfig { visibility_timeout: lease, receive_wait: Duration::from_millis(100), dead_letter: None };
        broker.create_queue("q", config).unwrap();
        broker.subscribe("user-created-v1", "q");
        Self { broker }
    }
    fn publisher(&self) -> Publisher {
        Publisher::new("e2e", self.broker.clone())
    }
    fn source(&self) -> Self::Source {
        self.broker.source("q")
    }
    async fn publish_raw(&self, message: WireMessage) {
        self.broker.inject("user-created-v1", message).unwrap();
    }
    async fn dead_letters(&self, expected: usize) -> Vec<WireMessage> {
        support::collect(&self.broker.source("q-dlq"), expected).await
    }
}

consumer_suite!(Memory);

/// The task suite's fixture: service `billing`'s four priority queues.
struct MemoryTasks {
    broker: MemoryBroker,
}

impl support::task_suite::TaskFixture for MemoryTasks {
    type Broker = MemoryBroker;
    type Sink = MemoryBroker;
    type Source = owlpost::memory::MemorySource;
    const SLACK: Duration = Duration::from_millis(300);

    async fn new() -> Self {
        let broker = MemoryBroker::new();
        support::task_suite::provision(&broker, "billing", None).await;
        Self { broker }
    }
    fn service(&self) -> &str {
        "billing"
    }
    fn broker(&self) -> &MemoryBroker {
        &self.broker
    }
    fn sink(&self) -> MemoryBroker {
        self.broker.clone()
    }
    async fn source(&self, priority: Priority) -> Self::Source {
        self.broker.source(&priority.queue("billing"))
    }
    async fn dead_letters(&self, priority: Priority) -> Self::Source {
        self.broker.source(&format!("{}-dlq", priority.queue("billing")))
    }
}

task_suite!(MemoryTasks);
