//! Publishing and consuming a hand-written `Message` through the in-memory broker: typed
//! delivery, checks on publish, rejection on consume without acknowledgement, every handler
//! outcome, encodings, routes and broker failures.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use owlpost::memory::{MemoryBroker, QueueConfig, QueueStats};
use owlpost::wire::{self, EncodeError, Encoding, attr};
use owlpost::{BackendError, Message, Outgoing, ProviderMetadata, Received, Schema, Source, Version};
use owlpost::{
    ConsumeError, Consumer, ConsumerSettings, HandlerError, HandlerResult, InvalidMessages, Outcome, Processed, Router,
    Settlement,
};
use owlpost::{DynamicMessage, PublishError, Publisher, Step, StringCheck, Validation, WireMessage};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ROOT: &str = "https://example.com/schemas/test";
const TOPIC: &str = "user-created-v1";
const QUEUE: &str = "app";

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let document = json!({
        "id": ROOT,
        "$schema": "http://json-schema.org/draft-04/schema#",
        "schemas": {
            "user-created": {
                "1.*": {
                    "type": "object",
                    "x-version": "1.1",
                    "required": ["user_id"],
                    "properties": {
                        "user_id": {"$ref": "#/definitions/UserId/1.0"},
                        "address": {
                            "type": "object",
                            "required": ["country"],
                            "properties": {"country": {"type": "string", "minLength": 2, "maxLength": 2}}
                        },
                        "nickname": {}
                    }
                },
                "2.*": {"type": "object", "x-version": "2.0", "properties": {}}
            }
        },
        "definitions": {"UserId": {"1.0": {"type": "string", "pattern": "^U_"}}}
    });
    Schema::from_json("test.json", &document.to_string()).unwrap()
});

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserCreated {
    user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<Address>,
    /// The schema accepts anything here; this type only a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nickname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    country: String,
}

impl Message for UserCreated {
    const MESSAGE_TYPE: &'static str = "user-created";
    const MAJOR: u32 = 1;
    const MINOR: u32 = 1;
    const DEFAULT_TOPIC: &'static str = TOPIC;

    fn schema() -> &'static Schema {
        &SCHEMA
    }
}

fn user(user_id: &str) -> UserCreated {
    UserCreated { user_id: user_id.into(), address: None, nickname: None }
}

fn url(version: &str) -> String {
    format!("{ROOT}#/schemas/user-created/{version}")
}

/// A broker with `TOPIC` fanning out to `QUEUE`, whose empty receives return quickly.
fn broker() -> MemoryBroker {
    let broker = MemoryBroker::new();
    broker
        .create_queue(QUEUE, QueueConfig { receive_wait: Duration::from_millis(20), ..QueueConfig::default() })
        .unwrap();
    broker.subscribe(TOPIC, QUEUE);
    broker
}

fn stats(ready: usize, delayed: usize, in_flight: usize) -> Option<QueueStats> {
    Some(QueueStats { ready, delayed, in_flight })
}

type Log = Arc<Mutex<Vec<Received<UserCreated>>>>;

/// A consumer of `QUEUE` whose `UserCreated` handler records each message, then answers with `behaviour`.
fn consumer(broker: &MemoryBroker, behaviour: fn(&Received<UserCreated>) -> HandlerResult) -> (Consumer, Log) {
    let log = Log::default();
    let mut router = Router::new();
    let handler_log = log.clone();
    router.route(move |received: Received<UserCreated>| {
        let log = handler_log.clone();
        async move {
            log.lock().unwrap().push(received.clone());
            behaviour(&received)
        }
    });
    (Consumer::new(broker.source(QUEUE), router), log)
}

fn succeed(_: &Received<UserCreated>) -> HandlerResult {
    Ok(())
}

async fn poll_one(consumer: &Consumer) -> Processed {
    let mut processed = consumer.poll().await.unwrap();
    assert_eq!(processed.len(), 1, "{processed:?}");
    processed.remove(0)
}

/// An attributes-mode message from another service, exactly as given.
fn foreign(schema_url: &str, body: &[u8]) -> WireMessage {
    let attributes = [
        (attr::FORMAT_VERSION, "1.0"),
        (attr::ID, "ext-1"),
        (attr::TIMESTAMP, "1700000000000"),
        (attr::PUBLISHER, "other-service"),
        (attr::SCHEMA, schema_url),
    ];
    WireMessage {
        body: body.to_vec(),
        attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn receive_count(received: &Received<UserCreated>) -> u32 {
    received.provider.delivery_attempt().unwrap()
}

#[tokio::test]
async fn a_published_message_reaches_its_handler_typed() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    let sent = UserCreated { address: Some(Address { country: "FR".into() }), ..user("U_1") };
    let before = now_millis();
    let published = publisher.publish(Outgoing::new(sent.clone()).header("request_id", "r-1")).await.unwrap();
    let after = now_millis();
    assert_eq!(published.topic, TOPIC);
    assert!(published.broker_id.starts_with("mem-"), "{published:?}");
    let id = uuid::Uuid::parse_str(&published.id).unwrap();
    assert_eq!((id.get_version_num(), id.hyphenated().to_string()), (4, published.id.clone()), "a lower-case UUID v4");

    let (consumer, log) = consumer(&broker, succeed);
    let processed = poll_one(&consumer).await;
    assert!(matches!(processed.outcome, Outcome::Acked), "{processed:?}");
    assert_eq!(processed.id.as_deref(), Some(published.id.as_str()));
    assert_eq!(processed.route.as_deref(), Some("user-created"));
    assert!(processed.settle_error.is_none());

    let received = log.lock().unwrap().remove(0);
    assert_eq!(received.data, sent);
    assert_eq!(received.version, Version::new(1, 1));
    assert_eq!(received.metadata.id, published.id);
    assert_eq!(received.metadata.publisher, "svc");
    assert_eq!(received.metadata.schema, url("1.1"));
    assert_eq!(received.metadata.headers, BTreeMap::from([("request_id".to_owned(), "r-1".to_owned())]));
    assert!((before..=after).contains(&received.metadata.timestamp), "timestamp in epoch ms");
    assert_eq!(received.provider, ProviderMetadata::Memory { queue: QUEUE.into(), receive_count: 1 });
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0), "acknowledged");
}

#[tokio::test]
async fn invalid_data_is_refused_on_publish_with_its_pointer() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    let cases = [
        (user("X_1"), "/user_id"),
        (UserCreated { address: Some(Address { country: "FRA".into() }), ..user("U_1") }, "/address/country"),
    ];
    for (data, pointer) in cases {
        match publisher.publish(data).await {
            Err(PublishError::Invalid(error)) => {
                assert_eq!(error.pointer, pointer);
                assert_eq!(error.message_type, "user-created");
                assert_eq!(error.schema_url, url("1.1"));
            }
            other => panic!("{pointer}: expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0), "nothing was sent");
}

#[tokio::test]
async fn reserved_headers_are_refused() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    let error = publisher.publish(Outgoing::new(user("U_1")).header("hedwig_id", "mine")).await.unwrap_err();
    assert!(
        matches!(&error, PublishError::ReservedHeader { key, message_type } if key == "hedwig_id" && message_type == "user-created"),
        "{error:?}"
    );
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0));
}

/// `UserCreated` claiming to be valid by construction, which it is not (its `user_id` is any
/// string): what it publishes shows which path skipped the schema walk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct Unchecked(UserCreated);

impl Message for Unchecked {
    const MESSAGE_TYPE: &'static str = "user-created";
    const MAJOR: u32 = 1;
    const MINOR: u32 = 1;
    const DEFAULT_TOPIC: &'static str = TOPIC;
    const VALIDATION: Validation = Validation::Construction;

    fn schema() -> &'static Schema {
        &SCHEMA
    }
}

#[tokio::test]
async fn a_type_valid_by_construction_is_published_without_the_schema_walk() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    let published = publisher.publish(Outgoing::new(Unchecked(user("X_1"))).header("request_id", "r-1")).await.unwrap();
    let wire = broker.source(QUEUE).receive(1).await.unwrap().remove(0).message;
    assert_eq!(wire.body, br#"{"user_id":"X_1"}"#, "the struct serialized straight to the body");
    assert_eq!(wire.attributes[attr::ID], published.id);
    assert_eq!(wire.attributes[attr::SCHEMA], url("1.1"));
    assert_eq!(wire.attributes["request_id"], "r-1");
    assert_eq!(wire.attributes[attr::PUBLISHER], "svc");
    assert!(wire.attributes[attr::TIMESTAMP].parse::<i64>().unwrap() > 0);
    let reserved = publisher.publish(Outgoing::new(Unchecked(user("U_1"))).header("hedwig_id", "mine")).await;
    assert!(matches!(reserved, Err(PublishError::ReservedHeader { .. })), "{reserved:?}");

    // Container mode and default headers (computed from the data) take the validating path.
    let container = Publisher::new("svc", broker.clone()).with_encoding(Encoding::Container);
    let refused = container.publish(Unchecked(user("X_1"))).await;
    assert!(matches!(refused, Err(PublishError::Invalid(_))), "{refused:?}");
    let hooked = Publisher::new("svc", broker.clone()).with_default_headers(|_| BTreeMap::new());
    let refused = hooked.publish(Unchecked(user("X_1"))).await;
    assert!(matches!(refused, Err(PublishError::Invalid(_))), "{refused:?}");
}

/// The consume side of the same claim: a body `Unchecked` reads strictly reaches its handler
/// without the schema walk; what only serde would read (an array for the struct, `null` for
/// an optional field, a key twice) takes the walk, which refuses it with its pointer.
#[tokio::test]
async fn a_type_valid_by_construction_is_consumed_without_the_schema_walk() {
    let handled = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new();
    let log = handled.clone();
    router.route(move |received: Received<Unchecked>| {
        log.lock().unwrap().push(received.data.0.user_id);
        async { Ok(()) }
    });
    let provider = || ProviderMetadata::Memory { queue: QUEUE.into(), receive_count: 1 };
    let processed = router.dispatch(foreign(&url("1.1"), br#"{"user_id":"X_1"}"#), provider()).await;
    assert!(matches!(processed.outcome, Outcome::Acked), "read straight from the body: {processed:?}");
    assert_eq!(*handled.lock().unwrap(), ["X_1"]);
    for (body, pointer) in [
        (&br#"["X_1"]"#[..], ""),
        (br#"{"user_id":"X_1","nickname":null}"#, "/user_id"),
        (br#"{"user_id":"U_1","user_id":"X_1"}"#, "/user_id"),
    ] {
        let processed = router.dispatch(foreign(&url("1.1"), body), provider()).await;
        let text = String::from_utf8_lossy(body);
        match processed.outcome {
            Outcome::Rejected(ConsumeError::Invalid(error)) => assert_eq!(error.pointer, pointer, "{text}"),
            other => panic!("{text}: expected the walk's refusal, got {other:?}"),
        }
    }
    let processed = router.dispatch(foreign(&url("1.1"), b"{"), provider()).await;
    assert!(matches!(processed.outcome, Outcome::Rejected(ConsumeError::Decode(_))), "{processed:?}");
    assert_eq!(handled.lock().unwrap().len(), 1, "no refused message reached the handler");
}

/// `UserCreated` claiming that its type enforces all but the address's country, which it
/// does not (its `user_id` is any string): what passes shows that only that string is checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct CountryChecked(UserCreated);

impl Message for CountryChecked {
    const MESSAGE_TYPE: &'static str = "user-created";
    const MAJOR: u32 = 1;
    const MINOR: u32 = 1;
    const DEFAULT_TOPIC: &'static str = TOPIC;
    const VALIDATION: Validation = Validation::Strings(&[StringCheck {
        path: &[Step::Field("address"), Step::Field("country")],
        schema: "#/schemas/user-created/1.*/properties/address/properties/country",
    }]);

    fn schema() -> &'static Schema {
        &SCHEMA
    }
}

#[tokio::test]
async fn checked_strings_are_all_a_typed_publish_and_consume_validate() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    let with_country = |user_id: &str, country: &str| {
        CountryChecked(UserCreated { address: Some(Address { country: country.into() }), ..user(user_id) })
    };
    publisher.publish(with_country("X_1", "FR")).await.unwrap();
    let wire = broker.source(QUEUE).receive(1).await.unwrap().remove(0).message;
    assert_eq!(wire.body, br#"{"user_id":"X_1","address":{"country":"FR"}}"#, "serialized straight to the body");
    let refused = publisher.publish(with_country("U_1", "FRA")).await.unwrap_err();
    match refused {
        PublishError::Invalid(error) => assert_eq!(error.pointer, "/address/country"),
        other => panic!("expected the walk's refusal, got {other:?}"),
    }

    let handled = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new();
    let log = handled.clone();
    router.route(move |received: Received<CountryChecked>| {
        log.lock().unwrap().push(received.data.0.user_id);
        async { Ok(()) }
    });
    let provider = || ProviderMetadata::Memory { queue: QUEUE.into(), receive_count: 1 };
    let body = br#"{"user_id":"X_2","address":{"country":"DE"}}"#;
    let processed = router.dispatch(foreign(&url("1.1"), body), provider()).await;
    assert!(matches!(processed.outcome, Outcome::Acked), "read straight, its country checked: {processed:?}");
    let body = br#"{"user_id":"U_2","address":{"country":"D"}}"#;
    match router.dispatch(foreign(&url("1.1"), body), provider()).await.outcome {
        Outcome::Rejected(ConsumeError::Invalid(error)) => assert_eq!(error.pointer, "/address/country"),
        other => panic!("expected the walk's refusal, got {other:?}"),
    }
    assert_eq!(*handled.lock().unwrap(), ["X_2"]);
}

fn dynamic(version: Version, data: Value) -> DynamicMessage {
    DynamicMessage { message_type: "user-created".into(), version, data, id: None, headers: BTreeMap::new() }
}

#[tokio::test]
async fn dynamic_publishing_checks_the_version() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    let error =
        publisher.publish_dynamic(&SCHEMA, dynamic(Version::new(1, 2), json!({"user_id": "U_1"}))).await.unwrap_err();
    assert!(
        matches!(error, PublishError::UnknownMinor { version, latest, .. } if version == Version::new(1, 2) && latest == Version::new(1, 1)),
        "{error:?}"
    );
    let error = publisher.publish_dynamic(&SCHEMA, dynamic(Version::new(3, 0), json!({}))).await.unwrap_err();
    assert!(matches!(&error, PublishError::UnknownMessage { major: 3, root, .. } if root == ROOT), "{error:?}");
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0));

    // An older minor is fine and goes to the conventional `<type>-v<major>` topic.
    let published =
        publisher.publish_dynamic(&SCHEMA, dynamic(Version::new(1, 0), json!({"user_id": "U_1"}))).await.unwrap();
    assert_eq!(published.topic, TOPIC);
    let (consumer, log) = consumer(&broker, succeed);
    assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Acked));
    assert_eq!(log.lock().unwrap()[0].version, Version::new(1, 0));
}

#[tokio::test]
async fn a_newer_minor_is_accepted_on_consume() {
    let broker = broker();
    broker.inject(TOPIC, foreign(&url("1.7"), br#"{"user_id":"U_9","added_in_1_7":true}"#)).unwrap();
    let (consumer, log) = consumer(&broker, succeed);
    let processed = poll_one(&consumer).await;
    assert!(matches!(processed.outcome, Outcome::Acked), "{processed:?}");
    let received = log.lock().unwrap().remove(0);
    assert_eq!((received.version, received.data.user_id.as_str()), (Version::new(1, 7), "U_9"));
    assert_eq!((received.metadata.id.as_str(), received.metadata.publisher.as_str()), ("ext-1", "other-service"));
}

#[tokio::test]
async fn undeliverable_messages_are_dead_lettered_at_once_never_acknowledged() {
    // (what is wrong, the message, whether the rejection says so)
    type Case = (&'static str, WireMessage, fn(&ConsumeError) -> bool);
    let cases: [Case; 7] = [
        (
            "invalid data",
            foreign(&url("1.0"), br#"{"user_id":5}"#),
            |e| matches!(e, ConsumeError::Invalid(v) if v.pointer == "/user_id"),
        ),
        (
            "unknown type",
            foreign(&format!("{ROOT}#/schemas/user-deleted/1.0"), b"{}"),
            |e| matches!(e, ConsumeError::UnknownMessage { message_type, major: 1, .. } if message_type == "user-deleted"),
        ),
        ("unknown major", foreign(&url("2.0"), b"{}"), |e| matches!(e, ConsumeError::UnknownMessage { major: 2, .. })),
        (
            "foreign root",
            foreign("https://other.example/s#/schemas/user-created/1.0", br#"{"user_id":"U_1"}"#),
            |e| matches!(e, ConsumeError::ForeignSchema { root, .. } if root == ROOT),
        ),
        ("body not JSON", foreign(&url("1.0"), b"user_id=U_1"), |e| {
            matches!(e, ConsumeError::Decode(wire::DecodeError::BodyNotJson { .. }))
        }),
        ("schema URL", foreign(&format!("{ROOT}#/schemas/user-created"), b"{}"), |e| {
            matches!(e, ConsumeError::SchemaUrl { .. })
        }),
        ("valid but not the type", foreign(&url("1.0"), br#"{"user_id":"U_1","nickname":5}"#), |e| {
            matches!(e, ConsumeError::Deserialize { .. })
        }),
    ];
    for (name, message, expected) in cases {
        let broker = broker();
        broker.inject(TOPIC, message.clone()).unwrap();
        let (consumer, log) = consumer(&broker, succeed);
        let processed = poll_one(&consumer).await;
        match processed.outcome {
            Outcome::Rejected(error) => assert!(expected(&error), "{name}: {error:?}"),
            other => panic!("{name}: expected a rejection, got {other:?}"),
        }
        assert_eq!(processed.settlement, Some(Settlement::DeadLettered), "{name}");
        assert!(log.lock().unwrap().is_empty(), "{name}: no handler ran");
        assert_eq!(broker.stats(QUEUE), stats(0, 0, 0), "{name}: not retried");
        let dead = broker.source(&format!("{QUEUE}-dlq")).receive(1).await.unwrap();
        assert_eq!((&dead[0].message, dead[0].provider.delivery_attempt()), (&message, Some(1)), "{name}: unchanged");
    }
}

/// The Hedwig libraries' behaviour, on request: nack and let the redrive policy decide.
#[tokio::test(start_paused = true)]
async fn undeliverable_messages_can_be_left_to_the_redrive_policy() {
    let broker = MemoryBroker::new();
    let config = QueueConfig { dead_letter: Some(("graveyard".into(), 2)), ..QueueConfig::default() };
    broker.create_queue(QUEUE, config).unwrap();
    broker.subscribe(TOPIC, QUEUE);
    broker.inject(TOPIC, foreign(&url("1.0"), br#"{"user_id":5}"#)).unwrap();
    let (consumer, _) = consumer(&broker, succeed);
    let settings = ConsumerSettings { invalid_messages: InvalidMessages::Nack, ..ConsumerSettings::default() };
    let consumer = consumer.with_settings(settings);
    for attempt in 1..=2 {
        let processed = poll_one(&consumer).await;
        let Some(Settlement::Nacked { delay }) = processed.settlement else { panic!("{processed:?}") };
        assert!(matches!(processed.outcome, Outcome::Rejected(_)), "{processed:?}");
        assert_eq!(broker.stats(QUEUE), stats(0, 1, 0), "attempt {attempt}: back after a backoff of {delay:?}");
        tokio::time::advance(delay).await;
    }
    assert!(consumer.poll().await.unwrap().is_empty(), "the redrive policy moved it");
    assert_eq!(broker.stats("graveyard"), stats(1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_handler_gets_the_message_again_after_a_backoff() {
    let broker = broker();
    Publisher::new("svc", broker.clone()).publish(user("U_1")).await.unwrap();
    let (consumer, log) =
        consumer(&broker, |r| if receive_count(r) == 1 { Err(HandlerError::failed("database down")) } else { Ok(()) });
    let processed = poll_one(&consumer).await;
    match processed.outcome {
        Outcome::Failed { error } => assert_eq!(error, "database down"),
        other => panic!("expected Failed, got {other:?}"),
    }
    let Some(Settlement::Nacked { delay }) = processed.settlement else { panic!("{:?}", processed.settlement) };
    let first = ConsumerSettings::default().retry.initial;
    assert!(delay >= first / 2 && delay <= first, "first retry after {delay:?}: half to all of {first:?}");
    assert_eq!(broker.stats(QUEUE), stats(0, 1, 0), "negatively acknowledged with a delay");
    tokio::time::advance(delay).await;
    assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Acked));
    let log = log.lock().unwrap();
    assert_eq!(log.iter().map(receive_count).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(log[1].provider, ProviderMetadata::Memory { queue: QUEUE.into(), receive_count: 2 });
    assert_eq!(log[0].metadata.id, log[1].metadata.id);
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_retry_comes_back_after_its_delay() {
    let broker = broker();
    Publisher::new("svc", broker.clone()).publish(user("U_1")).await.unwrap();
    let (consumer, log) = consumer(&broker, |r| match receive_count(r) {
        1 => Err(HandlerError::Retry { after: Duration::from_secs(30) }),
        _ => Ok(()),
    });
    let processed = poll_one(&consumer).await;
    assert!(matches!(processed.outcome, Outcome::Retry { after } if after == Duration::from_secs(30)), "{processed:?}");
    assert_eq!(broker.stats(QUEUE), stats(0, 1, 0), "delayed");
    assert!(consumer.poll().await.unwrap().is_empty(), "not before the delay");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(broker.stats(QUEUE), stats(1, 0, 0));
    assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Acked));
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_ignored_message_is_acknowledged() {
    let broker = broker();
    Publisher::new("svc", broker.clone()).publish(user("U_1")).await.unwrap();
    let (consumer, log) = consumer(&broker, |_| Err(HandlerError::Ignore));
    let outcome = poll_one(&consumer).await.outcome;
    assert!(matches!(outcome, Outcome::Ignored) && outcome.is_acked(), "{outcome:?}");
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0));
    assert!(consumer.poll().await.unwrap().is_empty());
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_does_not_stop_the_consumer() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    for id in ["U_panic", "U_2", "U_3"] {
        publisher.publish(user(id)).await.unwrap();
    }
    let (consumer, log) =
        consumer(&broker, |r| if r.data.user_id == "U_panic" { panic!("handler bug") } else { Ok(()) });
    let settings = ConsumerSettings { batch_size: 1, ..*consumer.settings() };
    let consumer = consumer.with_settings(settings);
    match poll_one(&consumer).await.outcome {
        Outcome::Panicked { message } => assert_eq!(message, "handler bug"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    for _ in 0..2 {
        assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Acked));
    }
    tokio::time::advance(ConsumerSettings::default().retry.initial).await;
    assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Panicked { .. }), "redelivered after the backoff");
    let seen: Vec<_> = log.lock().unwrap().iter().map(|r| (r.data.user_id.clone(), receive_count(r))).collect();
    let expected = [("U_panic", 1), ("U_2", 1), ("U_3", 1), ("U_panic", 2)];
    assert_eq!(seen, expected.map(|(id, n)| (id.to_owned(), n)));
    assert_eq!(broker.stats(QUEUE), stats(0, 1, 0));
    assert_eq!(consumer.health().consecutive_failures, 1, "the successes in between reset the count");
}

#[tokio::test]
async fn a_handler_that_panics_before_returning_its_future_is_caught_too() {
    let broker = broker();
    Publisher::new("svc", broker.clone()).publish(user("U_1")).await.unwrap();
    let mut router = Router::new();
    router.route(|_: Received<UserCreated>| -> std::future::Ready<HandlerResult> { panic!("eager {}", 1) });
    let consumer = Consumer::new(broker.source(QUEUE), router);
    match poll_one(&consumer).await.outcome {
        Outcome::Panicked { message } => assert_eq!(message, "eager 1"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(broker.stats(QUEUE), stats(0, 1, 0));
}

#[tokio::test]
async fn container_encoding_round_trips() {
    let broker = broker();
    broker.subscribe(TOPIC, "tap");
    let publisher = Publisher::new("svc", broker.clone()).with_encoding(Encoding::Container);
    let published = publisher.publish(Outgoing::new(user("U_1")).header("request_id", "r-1")).await.unwrap();

    let raw = broker.source("tap").receive(1).await.unwrap().remove(0).message;
    assert_eq!(raw.attributes, BTreeMap::from([("request_id".to_owned(), "r-1".to_owned())]), "no hedwig_* attributes");
    let body: Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(
        (&body["id"], &body["schema"], &body["data"]),
        (&json!(published.id), &json!(url("1.1")), &json!({"user_id": "U_1"}))
    );

    let (consumer, log) = consumer(&broker, succeed);
    assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Acked));
    let received = log.lock().unwrap().remove(0);
    assert_eq!((received.data, received.metadata.id), (user("U_1"), published.id));
    assert_eq!(received.metadata.headers["request_id"], "r-1");

    let error = publisher.publish(Outgoing::new(user("U_1")).id("order-42")).await.unwrap_err();
    assert!(matches!(error, PublishError::Encode { source: EncodeError::ContainerIdNotUuid { .. }, .. }), "{error:?}");
}

#[tokio::test]
async fn caller_ids_travel_in_attributes_mode() {
    let broker = broker();
    let published =
        Publisher::new("svc", broker.clone()).publish(Outgoing::new(user("U_1")).id("order-42")).await.unwrap();
    assert_eq!(published.id, "order-42");
    let (consumer, log) = consumer(&broker, succeed);
    assert_eq!(poll_one(&consumer).await.id.as_deref(), Some("order-42"));
    assert_eq!(log.lock().unwrap()[0].metadata.id, "order-42");
}

#[tokio::test]
async fn routes_override_the_default_topic() {
    let broker = broker();
    broker.subscribe("users", "users-q");
    let publisher = Publisher::new("svc", broker.clone()).with_route("user-created", 1, "users");
    assert_eq!(publisher.publish(user("U_1")).await.unwrap().topic, "users");
    let published =
        publisher.publish_dynamic(&SCHEMA, dynamic(Version::new(1, 1), json!({"user_id": "U_2"}))).await.unwrap();
    assert_eq!(published.topic, "users");
    assert_eq!(broker.stats("users-q"), stats(2, 0, 0));
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0));
}

#[tokio::test]
async fn a_missing_topic_hands_the_message_back() {
    let broker = MemoryBroker::new();
    let publisher = Publisher::new("svc", broker.clone());
    let error = publisher.publish(Outgoing::new(user("U_1")).id("order-42")).await.unwrap_err();
    assert!(!error.is_retryable());
    let PublishError::Backend { topic, message, source, .. } = error else { panic!("expected Backend, got {error:?}") };
    assert_eq!(topic, TOPIC);
    assert!(matches!(&source, BackendError::TopicNotFound { topic } if topic == TOPIC), "{source:?}");
    let (metadata, data) = wire::decode(&message).unwrap();
    assert_eq!((metadata.id.as_str(), metadata.schema), ("order-42", url("1.1")));
    assert_eq!(data, json!({"user_id": "U_1"}));

    broker.create_topic(TOPIC);
    broker.subscribe(TOPIC, QUEUE);
    broker.inject(TOPIC, *message).unwrap();
    let (consumer, log) = consumer(&broker, succeed);
    assert!(matches!(poll_one(&consumer).await.outcome, Outcome::Acked), "the handed-back message can be resent as is");
    assert_eq!(log.lock().unwrap()[0].metadata.id, "order-42");
}

/// A queue whose first `extend` fails as a throttled or unreachable broker would.
#[derive(Clone)]
struct FlakyExtend {
    queue: owlpost::memory::MemorySource,
    extends: Arc<Mutex<u32>>,
}

impl Source for FlakyExtend {
    fn receive(&self, max: usize) -> owlpost::BoxFuture<'_, Result<Vec<owlpost::Delivery>, BackendError>> {
        self.queue.receive(max)
    }
    fn ack<'a>(&'a self, ack_id: &'a str) -> owlpost::BoxFuture<'a, Result<(), BackendError>> {
        self.queue.ack(ack_id)
    }
    fn nack<'a>(&'a self, ack_id: &'a str, delay: Duration) -> owlpost::BoxFuture<'a, Result<(), BackendError>> {
        self.queue.nack(ack_id, delay)
    }
    fn extend<'a>(&'a self, ack_id: &'a str, by: Duration) -> owlpost::BoxFuture<'a, Result<(), BackendError>> {
        let first = {
            let mut extends = self.extends.lock().unwrap();
            *extends += 1;
            *extends == 1
        };
        if first {
            return Box::pin(async { Err(BackendError::Unavailable { reason: "throttled".into() }) });
        }
        self.queue.extend(ack_id, by)
    }
}

/// A router whose handler sleeps `delay` and records how many run at once.
fn sleeping(delay: Duration) -> (Router, Arc<Mutex<(u32, u32)>>) {
    let running = Arc::new(Mutex::new((0, 0)));
    let mut router = Router::new();
    let counter = running.clone();
    router.route(move |_: Received<UserCreated>| {
        let counter = counter.clone();
        async move {
            {
                let mut c = counter.lock().unwrap();
                c.0 += 1;
                c.1 = c.1.max(c.0);
            }
            tokio::time::sleep(delay).await;
            counter.lock().unwrap().0 -= 1;
            HandlerResult::Ok(())
        }
    });
    (router, running)
}

#[tokio::test(start_paused = true)]
async fn a_failed_lease_extension_is_retried_while_the_lease_lasts() {
    let broker = broker();
    Publisher::new("svc", broker.clone()).publish(user("U_1")).await.unwrap();
    let (router, _) = sleeping(Duration::from_secs(90));
    let source = FlakyExtend { queue: broker.source(QUEUE), extends: Arc::default() };
    let consumer = Consumer::new(source.clone(), router);
    let processed = consumer.poll().await.unwrap();
    assert_eq!(processed.len(), 1);
    assert!(matches!(processed[0].outcome, Outcome::Acked), "{processed:?}");
    assert!(processed[0].settle_error.is_none(), "the lease held for 90 s: {processed:?}");
    assert!(*source.extends.lock().unwrap() >= 4, "the failed extension was retried, then renewed on");
    assert_eq!(broker.stats(QUEUE), stats(0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn the_bound_on_handlers_holds_across_concurrent_polls() {
    let broker = broker();
    let publisher = Publisher::new("svc", broker.clone());
    for id in ["U_1", "U_2", "U_3"] {
        publisher.publish(user(id)).await.unwrap();
    }
    let (router, running) = sleeping(Duration::from_secs(1));
    let consumer = Consumer::new(broker.source(QUEUE), router)
        .with_settings(ConsumerSettings { max_in_flight: 2, ..ConsumerSettings::default() });
    let (a, b) = tokio::join!(consumer.poll(), consumer.poll());
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 3, "the second poll waited for a free slot");
    assert_eq!(running.lock().unwrap().1, 2, "never more than 2 at once");
}

/// Milliseconds since the Unix epoch, now (to bracket a message's timestamp).
fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A protocol of its own: the consumer acks what its handler took, dead-letters what it
/// rejected, and survives a `route` that panics.
struct Toy;

impl owlpost::Dispatch for Toy {
    fn span(&self, _: &ProviderMetadata) -> tracing::Span {
        tracing::info_span!("toy")
    }

    fn route(&self, delivery: &owlpost::Delivery, _: &tracing::Span) -> owlpost::Routed {
        let handler: Result<owlpost::BoxFuture<'static, HandlerResult>, Outcome> =
            match delivery.message.body.as_slice() {
                b"ok" => Ok(Box::pin(async { Ok(()) })),
                b"bad" => Err(Outcome::Rejected(ConsumeError::UnknownTask { task: "bad".into() })),
                _ => panic!("the toy protocol cannot read this"),
            };
        owlpost::Routed::new(None, Some("toy".into()), handler)
    }
}

#[tokio::test]
async fn a_foreign_dispatch_is_consumed_and_settled_and_its_panics_are_contained() {
    let broker = broker();
    for body in ["ok", "bad", "boom"] {
        broker.inject(TOPIC, WireMessage { body: body.into(), attributes: Default::default() }).unwrap();
    }
    let consumer = Consumer::new(broker.source(QUEUE), Toy);
    let mut outcomes = Vec::new();
    while outcomes.len() < 3 {
        for processed in consumer.poll().await.unwrap() {
            outcomes.push((format!("{:?}", processed.outcome), processed.settlement));
        }
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(matches!(outcomes[0], (ref o, Some(Settlement::Acked)) if o == "Acked"), "{outcomes:?}");
    assert!(
        outcomes[1].0.starts_with("Panicked") && matches!(outcomes[1].1, Some(Settlement::Nacked { .. })),
        "{outcomes:?}"
    );
    assert!(outcomes[2].0.starts_with("Rejected") && outcomes[2].1 == Some(Settlement::DeadLettered), "{outcomes:?}");
}
