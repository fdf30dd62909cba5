//! Google Cloud Pub/Sub against the official emulator (started by `cargo xtask ci`), through
//! the generated API. Every test provisions its own uniquely named topics and subscriptions,
//! and every consumer streams from fresh subscriptions (see the emulator's known bug in
//! shared/EMULATORS.md).

#[macro_use]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::gcp::{BatchSettings, Gcp, GcpSettings, MAX_MESSAGE_BYTES, PubSubSink, PubSubSource, SubscribeSettings};
use owlpost::taskhawk::{Priority, TaskhawkNaming};
use owlpost::{
    BackendError, Broker, ConsumedTopic, HandlerResult, Outgoing, ProviderMetadata, Provisioning, PublishError,
    Publisher, Received, Router, Sink, Source, WireMessage,
};
use owlpost_e2e::fixtures::hedwig_reference;
use owlpost_e2e::messages::*;
use support::{Recorder, consumer, drain, dynamic, gcp_project, pubsub_emulator, receive_one, unique, user};

/// Receives return after 1 s without messages, so tests notice quickly.
fn quick() -> SubscribeSettings {
    SubscribeSettings { wait: Duration::from_secs(1), ..SubscribeSettings::default() }
}

/// A provisioned queue consuming one fresh topic, the `user-created` v1 route to it, a source
/// on the queue's subscriptions and handles.
struct Setup {
    gcp: Gcp,
    topic: String,
    plan: Provisioning,
    source: PubSubSource,
    publisher: Publisher,
}

async fn setup(configure: impl FnOnce(&mut Provisioning)) -> Setup {
    setup_with(configure, quick()).await
}

async fn setup_with(configure: impl FnOnce(&mut Provisioning), settings: SubscribeSettings) -> Setup {
    let gcp = Gcp::from_env(gcp_project()).await.unwrap();
    let topic = unique("t");
    let mut plan = Provisioning::new(unique("q"));
    plan.consumes.push(ConsumedTopic::new(&topic));
    configure(&mut plan);
    gcp.provision(&plan).await.expect("provisioning");
    gcp.provision(&plan).await.expect("provisioning is idempotent");
    let source = gcp.source(&plan.queue, &plan.consumes, settings).await.unwrap();
    let publisher = Publisher::new("gcp-e2e", gcp.sink()).with_route("user-created", 1, topic.clone());
    Setup { gcp, topic, plan, source, publisher }
}

#[tokio::test]
async fn generated_publish_reaches_the_typed_handler_through_pubsub() {
    let s = setup(|_| {}).await;
    let sent = publish_user_created(&s.publisher, Outgoing::new(user(1)).header("request_id", "r-1")).await.unwrap();
    assert_eq!(sent.topic, s.topic);
    let recorder = Recorder::default();
    drain(&consumer(&s.source, &recorder), &recorder, 1).await;
    let seen = recorder.seen.lock().unwrap();
    let message = &seen[0].1;
    assert_eq!(seen[0].0, "U_1");
    assert_eq!(serde_json::to_value(&message.data).unwrap(), serde_json::to_value(user(1)).unwrap());
    assert_eq!(message.metadata.id, sent.id);
    assert_eq!(message.metadata.publisher, "gcp-e2e");
    assert!(!message.metadata.headers.contains_key("hedwig_encoding"), "not a header: {:?}", message.metadata.headers);
    assert_eq!(message.metadata.headers.get("request_id").map(String::as_str), Some("r-1"));
    let ProviderMetadata::Gcp { ack_id, subscription, message_id, publish_time, delivery_attempt } = &message.provider
    else {
        panic!("expected Pub/Sub metadata, got {:?}", message.provider)
    };
    assert!(!ack_id.is_empty() && !message_id.is_empty());
    let expected = s.gcp.layout().subscription_path(&format!("hedwig-{}-{}", s.plan.queue, s.topic));
    assert_eq!(subscription, &expected);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(publish_time.is_some_and(|t| (now - t).abs() < 60_000), "{publish_time:?} vs {now}");
    assert_eq!(*delivery_attempt, Some(1), "the subscription has a dead-letter policy, so attempts are counted");
}

#[tokio::test]
async fn json_is_published_with_hedwig_encoding_utf8() {
    let s = setup(|_| {}).await;
    publish_user_created(&s.publisher, user(2)).await.unwrap();
    let delivery = receive_one(&s.source).await;
    assert_eq!(delivery.message.attributes.get("hedwig_encoding").map(String::as_str), Some("utf8"));
    assert_eq!(delivery.message.body, serde_json::to_vec(&user(2)).unwrap());
    s.source.ack(&delivery.ack_id).await.unwrap();
}

#[tokio::test]
async fn batch_publishing_sends_every_message_once() {
    let s = setup(|_| {}).await;
    let batching = BatchSettings { max_messages: 40, ..BatchSettings::default() };
    let publisher =
        Publisher::new("gcp-e2e", s.gcp.sink().with_batching(batching)).with_route("user-created", 1, &s.topic);
    let started = Instant::now();
    let results = publisher.publish_batch((0..200).map(user)).await;
    let published = started.elapsed();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 200, "{:?}", results.iter().find(|r| r.is_err()));
    let recorder = Recorder::default();
    let started = Instant::now();
    let consumer = consumer(&s.source, &recorder);
    drain(&consumer, &recorder, 200).await;
    let consumed = started.elapsed();
    // Nothing more arrives: each message was published and delivered once.
    for _ in 0..3 {
        consumer.poll().await.unwrap();
    }
    let mut ids = recorder.user_ids();
    assert_eq!(ids.len(), 200, "handled more often than published");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    eprintln!(
        "figures (Pub/Sub emulator, debug build): published 200 in {published:?} ({:.0} msg/s), consumed 200 in {consumed:?} ({:.0} msg/s)",
        200.0 / published.as_secs_f64(),
        200.0 / consumed.as_secs_f64()
    );
}

/// What the `hedwig_reference` fixture's handler saw.
#[derive(Clone, Default)]
struct ReferenceRecorder(Arc<Mutex<Vec<Received<hedwig_reference::UserCreatedV1>>>>);

impl hedwig_reference::UserCreatedHandler for ReferenceRecorder {
    async fn user_created_v1(&self, message: Received<hedwig_reference::UserCreatedV1>) -> HandlerResult {
        self.0.lock().unwrap().push(message);
        Ok(())
    }
}

/// Publishes through the emulator's REST API, as a client that is not owlpost would.
fn rest_publish(topic_path: &str, data: &[u8], attributes: &serde_json::Value) {
    use base64::Engine;
    let body = serde_json::json!({"messages": [{
        "data": base64::engine::general_purpose::STANDARD.encode(data),
        "attributes": attributes,
    }]})
    .to_string();
    let host = pubsub_emulator();
    let mut stream = TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "POST /v1/{topic_path}:publish HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The emulator keeps the connection open: read the status line, not to the end.
    let mut response = [0u8; 512];
    let read = stream.read(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response[..read]);
    assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{response}");
}

/// The reference library's Pub/Sub captures, published byte for byte as captured, and again
/// without `hedwig_encoding` (as hedwig-go and hedwig-rust send), reach the typed handler
/// with what the reference consumed.
#[tokio::test]
async fn reference_captures_are_consumed_with_and_without_hedwig_encoding() {
    let s = setup(|_| {}).await;
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/tests/fixtures/wire-samples");
    let mut expected = Vec::new();
    for name in ["pubsub-attributes-mode.json", "pubsub-container-mode.json"] {
        let sample: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{samples}/{name}")).unwrap()).unwrap();
        let raw = &sample["raw_wire_message"];
        let data = raw["data"].as_str().unwrap().as_bytes();
        assert_eq!(raw["attributes"]["hedwig_encoding"], "utf8", "{name}");
        rest_publish(&s.gcp.layout().topic_path(&s.topic), data, &raw["attributes"]);
        let mut without = raw["attributes"].clone();
        without.as_object_mut().unwrap().remove("hedwig_encoding");
        rest_publish(&s.gcp.layout().topic_path(&s.topic), data, &without);
        expected.extend([sample["consumed"][0].clone(), sample["consumed"][0].clone()]);
    }
    let recorder = ReferenceRecorder::default();
    let mut router = Router::new();
    hedwig_reference::register_user_created(&mut router, recorder.clone());
    let consumer = owlpost::Consumer::new(s.source.clone(), router);
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.0.lock().unwrap().len() < expected.len() {
        assert!(Instant::now() < deadline, "only {} of {} consumed", recorder.0.lock().unwrap().len(), expected.len());
        for processed in consumer.poll().await.unwrap() {
            assert!(processed.outcome.is_acked(), "{processed:?}");
        }
    }
    let mut seen: Vec<serde_json::Value> = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.metadata.id,
                "publisher": m.metadata.publisher,
                "headers": m.metadata.headers,
                "data": m.data,
                "timestamp": m.metadata.timestamp,
            })
        })
        .collect();
    let mut wanted: Vec<serde_json::Value> = expected
        .iter()
        .map(|c| {
            let metadata = c["metadata"].as_str().unwrap();
            let timestamp: i64 =
                metadata.split("timestamp=").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
            serde_json::json!({
                "id": c["id"],
                "publisher": "myapp",
                "headers": c["headers"],
                "data": c["data"],
                "timestamp": timestamp,
            })
        })
        .collect();
    let key = |v: &serde_json::Value| v.to_string();
    seen.sort_by_key(key);
    wanted.sort_by_key(key);
    assert_eq!(seen, wanted);
}

#[tokio::test]
async fn a_nacked_message_is_redelivered_with_delivery_attempt_two() {
    let s = setup(|_| {}).await;
    publish_user_created(&s.publisher, user(4)).await.unwrap();
    let recorder = Recorder::failing_first(1);
    drain(&consumer(&s.source, &recorder), &recorder, 1).await;
    assert_eq!(recorder.seen.lock().unwrap()[0].1.provider.delivery_attempt(), Some(2));
}

/// A dropped source closes its streams (one or several): the messages published after it was dropped all
/// reach the next source within seconds, not after their 60 s lease. (The emulator fails on
/// a stream that is reset rather than ended, keeps it, and hands it messages that then wait
/// out their lease; one that arrives at a stream still closing is handed back at once.)
#[tokio::test]
async fn a_dropped_source_closes_its_streams() {
    for streams in [1, 3] {
        let Setup { gcp, plan, source, publisher, .. } =
            setup_with(|_| {}, SubscribeSettings { streams, ..quick() }).await;
        // An empty receive waits out `quick()`'s 1 s: the streams are open by then.
        assert!(source.receive(1).await.unwrap().is_empty());
        drop(source);
        for id in 0..10 {
            publish_user_created(&publisher, user(id)).await.unwrap();
        }
        let next = gcp.source(&plan.queue, &plan.consumes, quick()).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut ids = std::collections::BTreeSet::new();
        while ids.len() < 10 && Instant::now() < deadline {
            for delivery in next.receive(10).await.unwrap() {
                ids.insert(delivery.message.attributes["hedwig_id"].clone());
                next.ack(&delivery.ack_id).await.unwrap();
            }
        }
        assert_eq!(ids.len(), 10, "all 10 within 5 s, after a source of {streams} stream(s) was dropped");
    }
}

/// `SubscribeSettings::streams` StreamingPulls run on each subscription (each logs its
/// opening at DEBUG with its client id, which a reopened stream keeps), and together they
/// deliver every message once.
#[test]
fn each_subscription_gets_as_many_streams_as_asked() {
    let (captured, subscriber) = support::capturing(tracing_subscriber::filter::LevelFilter::DEBUG);
    // The pulling tasks' client ids, from their "open" events.
    let clients = || -> std::collections::BTreeSet<String> {
        let text = captured.text();
        let opened = text.lines().filter(|line| line.contains("StreamingPull stream open"));
        opened.filter_map(|line| Some(line.split("client_id=").nth(1)?.split_whitespace().next()?.to_owned())).collect()
    };
    // A runtime on this thread only, so that the streams' tasks log to this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _default = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);
    runtime.block_on(async {
        let s = setup_with(|_| {}, SubscribeSettings { streams: 3, ..quick() }).await;
        for id in 0..30 {
            publish_user_created(&s.publisher, user(id)).await.unwrap();
        }
        let recorder = Recorder::default();
        drain(&consumer(&s.source, &recorder), &recorder, 30).await;
        let ids: std::collections::BTreeSet<_> =
            recorder.seen.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids.len(), 30, "every message, once");
        // One stream may deliver everything before the others are open: give them time.
        let deadline = Instant::now() + Duration::from_secs(10);
        while clients().len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(clients().len(), 3, "streams on the one subscription:\n{}", captured.text());
}

/// Two messages with a 10 s ack deadline, whose leases the source renews for 12 s at most:
/// the one extended explicitly by 60 s is not redelivered; the other one outlives its first
/// ack deadline and comes back only after the renewals stop (so the test can tell).
#[tokio::test]
async fn leases_are_renewed_past_the_ack_deadline_and_extended_on_request() {
    let ack_deadline = Duration::from_secs(10);
    let settings = SubscribeSettings { ack_deadline, max_lease: Duration::from_secs(12), ..quick() };
    let s = setup_with(|plan| plan.lease = Some(ack_deadline), settings).await;
    let source = &s.source;
    let extended = publish_user_created(&s.publisher, user(5)).await.unwrap().id;
    publish_user_created(&s.publisher, user(6)).await.unwrap();
    let mut first = Vec::new();
    while first.len() < 2 {
        first.push(receive_one(source).await);
    }
    let received = Instant::now();
    let id_of = |d: &owlpost::Delivery| d.message.attributes["hedwig_id"].clone();
    let held = first.iter().find(|d| id_of(d) == extended).expect("the extended message");
    source.extend(&held.ack_id, Duration::from_secs(60)).await.unwrap();
    let mut redelivered = Vec::new();
    while received.elapsed() < Duration::from_secs(28) && redelivered.is_empty() {
        for delivery in source.receive(10).await.unwrap() {
            redelivered.push((id_of(&delivery), received.elapsed()));
            source.ack(&delivery.ack_id).await.unwrap();
        }
    }
    assert_eq!(redelivered.len(), 1, "{redelivered:?}");
    let (id, after) = &redelivered[0];
    assert_ne!(id, &extended, "redelivered although extended for 60 s");
    assert!(*after > ack_deadline + Duration::from_secs(2), "back after {after:?}: its lease was not renewed");
    source.ack(&held.ack_id).await.unwrap();
}

#[tokio::test]
async fn poison_messages_left_to_the_redrive_policy_are_dead_lettered_and_requeued() {
    let s = setup(|plan| plan.max_deliveries = 5).await;
    // Data that fails the schema, as a broken publisher might send it.
    let mut wire = Publisher::new("bad", s.gcp.sink()).encode(schema(), dynamic(&user(6))).unwrap();
    wire.body = br#"{"user_id":"nope"}"#.to_vec();
    s.gcp.sink().publish(&s.topic, &wire).await.unwrap();
    let recorder = Recorder::default();
    let consumer = consumer(&s.source, &recorder).with_settings(support::like_hedwig());
    let mut rejections = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while rejections < 5 {
        assert!(Instant::now() < deadline, "rejected {rejections} times");
        rejections += consumer.poll().await.unwrap().iter().filter(|p| !p.outcome.is_acked()).count();
    }
    // Pub/Sub moves it to the dead-letter topic after the fifth attempt; re-queue it.
    let mut moved = 0;
    while moved == 0 {
        assert!(Instant::now() < deadline, "nothing reached the dead-letter subscription");
        let report = s.gcp.requeue_dead_letters(&s.plan.queue, &mut |_| {}).await.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        moved = report.moved;
    }
    assert_eq!(moved, 1);
    let back = receive_one(&s.source).await;
    let ProviderMetadata::Gcp { subscription, .. } = &back.provider else { panic!("{:?}", back.provider) };
    assert_eq!(
        subscription,
        &s.gcp.layout().subscription_path(&format!("hedwig-{}", s.plan.queue)),
        "back on the queue's own subscription"
    );
    assert_eq!(back.message.body, wire.body);
    let mut attributes = back.message.attributes.clone();
    assert_eq!(attributes.remove("hedwig_encoding").as_deref(), Some("utf8"));
    assert_eq!(attributes, wire.attributes, "dead-letter attributes are dropped, the rest kept");
    s.source.ack(&back.ack_id).await.unwrap();
}

#[tokio::test]
async fn a_topic_in_another_project_is_reached_by_its_full_name() {
    let other_project = format!("{}-other", gcp_project());
    let other = Gcp::from_env(&other_project).await.unwrap();
    let topic = unique("t");
    other.provision(&Provisioning { publishes: vec![topic.clone()], ..Provisioning::new(unique("o")) }).await.unwrap();
    let gcp = Gcp::from_env(gcp_project()).await.unwrap();
    let mut plan = Provisioning::new(unique("q"));
    plan.consumes.push(ConsumedTopic::foreign(&other_project, &topic));
    gcp.provision(&plan).await.unwrap();
    let source = gcp.source(&plan.queue, &plan.consumes, quick()).await.unwrap();
    let publisher = Publisher::new("gcp-e2e", gcp.sink()).with_route(
        "user-created",
        1,
        gcp.layout().topic_in(&other_project, &topic),
    );
    publish_user_created(&publisher, user(7)).await.unwrap();
    let recorder = Recorder::default();
    drain(&consumer(&source, &recorder), &recorder, 1).await;
    let provider = recorder.seen.lock().unwrap()[0].1.provider.clone();
    let ProviderMetadata::Gcp { subscription, .. } = provider else { panic!("{provider:?}") };
    assert_eq!(subscription, gcp.layout().subscription_path(&format!("hedwig-{}-{other_project}-{topic}", plan.queue)));
}

#[tokio::test]
async fn messages_over_pubsub_limits_are_refused_before_sending() {
    let gcp = Gcp::from_env(gcp_project()).await.unwrap();
    // The topic does not exist: a message that reached Pub/Sub would fail with TopicNotFound.
    let publisher = Publisher::new("limits", gcp.sink()).with_route("user-created", 1, unique("never-created"));
    // 5 hedwig_* attributes + hedwig_encoding + traceparent + 94 headers = 101 (the trace
    // context set here, so that the `otel` feature's own does not depend on a tracer).
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = Outgoing::new(user(8)).header("traceparent", traceparent);
    let too_many = (0..94).fold(traced, |m, i| m.header(format!("h{i}"), "v"));
    let error = publish_user_created(&publisher, too_many).await.unwrap_err();
    assert!(
        matches!(
            error,
            PublishError::Backend { source: BackendError::LimitExceeded { max: 100, actual: 101, .. }, .. }
        ),
        "{error:?}"
    );
    let long_value = Outgoing::new(user(9)).header("trace", "x".repeat(1025));
    let error = publish_user_created(&publisher, long_value).await.unwrap_err();
    assert!(
        matches!(&error, PublishError::Backend { source: BackendError::InvalidAttribute { name, .. }, .. } if name == "trace"),
        "{error:?}"
    );
    let huge = UserCreatedV1 { referrer: Some("x".repeat(MAX_MESSAGE_BYTES)), ..user(10) };
    let error = publish_user_created(&publisher, huge).await.unwrap_err();
    assert!(
        matches!(&error, PublishError::Backend { source: BackendError::LimitExceeded { max: MAX_MESSAGE_BYTES, actual, .. }, .. } if *actual > MAX_MESSAGE_BYTES),
        "{error:?}"
    );
    // Within the limits, the same publisher reaches Pub/Sub, which says the topic is missing.
    let error = publish_user_created(&publisher, user(11)).await.unwrap_err();
    assert!(matches!(error, PublishError::Backend { source: BackendError::TopicNotFound { .. }, .. }), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_emulator_is_a_retryable_error_within_bounded_time() {
    let started = Instant::now();
    let settings = GcpSettings { project_id: gcp_project(), emulator_host: Some("127.0.0.1:9".into()) };
    let outcome = tokio::time::timeout(Duration::from_secs(30), Gcp::connect(settings)).await;
    let error = outcome.expect("connecting must give up, not hang").unwrap_err();
    assert!(matches!(error, BackendError::Unavailable { .. }) && error.is_retryable(), "{error:?}");
    eprintln!("unreachable emulator reported in {:?}", started.elapsed());
}

#[tokio::test]
async fn a_missing_subscription_is_reported_when_the_source_opens() {
    let gcp = Gcp::from_env(gcp_project()).await.unwrap();
    let error = gcp.source(&unique("q"), &[ConsumedTopic::new("nothing")], quick()).await.unwrap_err();
    assert!(matches!(error, BackendError::QueueNotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn a_binary_body_is_sent_as_bytes_without_an_encoding_attribute() {
    let s = setup(|_| {}).await;
    let binary = WireMessage { body: vec![0xff, 0x00, 0xfe], attributes: [("k".to_owned(), "v".to_owned())].into() };
    s.gcp.sink().publish(&s.topic, &binary).await.unwrap();
    let got = receive_one(&s.source).await;
    assert_eq!(got.message, binary);
    s.source.ack(&got.ack_id).await.unwrap();
}

/// A Pub/Sub emulator of this test's own on `port`.
fn own_emulator(port: u16) -> support::OwnEmulator {
    let mut command =
        std::process::Command::new("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator");
    command.args(["--host=127.0.0.1", &format!("--port={port}")]);
    support::OwnEmulator::start(command, port, "/")
}

/// The emulator host of an emulator of this test's own.
fn host_of(emulator: &support::OwnEmulator) -> String {
    format!("127.0.0.1:{}", emulator.port)
}

/// The emulator goes away under an open source and comes back (empty, as emulators do): the
/// source reports the outage as a retryable error, reopens its stream with backoff, and
/// delivers what is published after the restart.
#[tokio::test]
async fn the_source_reconnects_after_the_broker_restarts() {
    pubsub_emulator();
    let port = support::free_port();
    let mut broker = own_emulator(port);
    let settings = GcpSettings { project_id: gcp_project(), emulator_host: Some(host_of(&broker)) };
    let gcp = Gcp::connect(settings).await.unwrap();
    let mut plan = Provisioning::new(unique("q"));
    plan.consumes.push(ConsumedTopic::new(unique("t")));
    gcp.provision(&plan).await.unwrap();
    let source = gcp.source(&plan.queue, &plan.consumes, quick()).await.unwrap();
    assert!(source.receive(10).await.unwrap().is_empty());

    drop(broker);
    let deadline = Instant::now() + Duration::from_secs(60);
    let outage = loop {
        assert!(Instant::now() < deadline, "the outage was never reported");
        if let Err(error) = source.receive(10).await {
            break error;
        }
    };
    assert!(outage.is_retryable(), "{outage:?}");

    broker = own_emulator(port);
    gcp.provision(&plan).await.unwrap();
    let publisher = Publisher::new("gcp-e2e", gcp.sink()).with_route("user-created", 1, &plan.consumes[0].topic);
    let sent = publish_user_created(&publisher, user(12)).await.unwrap();
    let back = loop {
        assert!(Instant::now() < deadline, "nothing received after the restart");
        if let Ok(batch) = source.receive(10).await
            && let Some(delivery) = batch.into_iter().next()
        {
            break delivery;
        }
    };
    assert_eq!(back.message.attributes.get("hedwig_id"), Some(&sent.id));
    source.ack(&back.ack_id).await.unwrap();
    drop(broker);
}

/// The emulator is killed in the middle of a stream of publishes: every publish returns,
/// within bounded time, either its id or a retryable error that hands back the very message
/// it was sending; after a restart, those messages published again as they were are all
/// delivered. (What the emulator had accepted before it died died with it: it keeps nothing.)
#[tokio::test]
async fn publishes_during_an_outage_hand_back_their_messages_and_publishing_resumes() {
    pubsub_emulator();
    let port = support::free_port();
    let mut broker = Some(own_emulator(port));
    let host = broker.as_ref().map(host_of);
    let gcp = Gcp::connect(GcpSettings { project_id: gcp_project(), emulator_host: host }).await.unwrap();
    let mut plan = Provisioning::new(unique("q"));
    plan.consumes.push(ConsumedTopic::new(unique("t")));
    gcp.provision(&plan).await.unwrap();
    let topic = plan.consumes[0].topic.clone();
    let publisher = Publisher::new("gcp-e2e", gcp.sink()).with_route("user-created", 1, &topic);
    let (mut published, mut handed_back) = (Vec::new(), Vec::new());
    for n in 0..16u32 {
        if n == 6 {
            broker = None;
        }
        let id = format!("m-{n}");
        let started = Instant::now();
        match publish_user_created(&publisher, Outgoing::new(user(n)).id(&id)).await {
            Ok(sent) => published.push(sent.id),
            Err(PublishError::Backend { message, source, .. }) => {
                assert!(source.is_retryable(), "{source:?}");
                assert_eq!(message.attributes.get("hedwig_id"), Some(&id), "the error hands back its own message");
                handed_back.push(*message);
            }
            Err(other) => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(30), "publish {n} took {:?}", started.elapsed());
    }
    let back: Vec<String> = handed_back.iter().map(|m| m.attributes["hedwig_id"].clone()).collect();
    assert_eq!(published, (0..6).map(|n| format!("m-{n}")).collect::<Vec<_>>(), "before the outage");
    assert_eq!(back, (6..16).map(|n| format!("m-{n}")).collect::<Vec<_>>(), "during it, each handed back");

    assert!(broker.is_none());
    let _restarted = own_emulator(port);
    gcp.provision(&plan).await.unwrap();
    let source = gcp.source(&plan.queue, &plan.consumes, quick()).await.unwrap();
    for message in &handed_back {
        gcp.sink().publish(&topic, message).await.expect("publishing resumes");
    }
    let mut delivered = support::collect(&source, back.len()).await;
    let mut ids: Vec<String> = delivered.drain(..).map(|m| m.attributes["hedwig_id"].clone()).collect();
    ids.sort_by_key(|id| id[2..].parse::<u32>().unwrap());
    assert_eq!(ids, back, "every handed-back message, published again, is delivered");
}

/// The consumer suite's fixture: a provisioned queue on a fresh topic, streamed from with
/// the ack deadline `lease`.
struct PubSub {
    setup: Setup,
}

impl support::suite::Fixture for PubSub {
    type Source = PubSubSource;
    /// Pub/Sub's shortest ack deadline.
    const SHORT_LEASE: Duration = Duration::from_secs(10);
    const SLACK: Duration = Duration::from_secs(2);

    async fn new(lease: Duration) -> Self {
        let settings = SubscribeSettings { ack_deadline: lease, ..quick() };
        Self { setup: setup_with(|plan| plan.lease = Some(lease), settings).await }
    }
    fn publisher(&self) -> Publisher {
        self.setup.publisher.clone()
    }
    fn source(&self) -> PubSubSource {
        self.setup.source.clone()
    }
    async fn publish_raw(&self, message: WireMessage) {
        self.setup.gcp.sink().publish(&self.setup.topic, &message).await.unwrap();
    }
    async fn dead_letters(&self, expected: usize) -> Vec<WireMessage> {
        let id = self.setup.gcp.layout().dead_letter_id(&self.setup.plan.queue);
        let source = PubSubSource::open(&self.setup.gcp, &[id], quick()).await.unwrap();
        support::collect(&source, expected).await
    }
}

consumer_suite!(PubSub);

/// The task suite's fixture: a fresh service's four priorities, named the Taskhawk way, with
/// Pub/Sub's shortest ack deadline (a message the emulator sends to a closed stream comes back
/// after it).
struct PubSubTasks {
    gcp: Gcp,
    service: String,
}

impl PubSubTasks {
    const LEASE: Duration = Duration::from_secs(10);

    fn settings() -> SubscribeSettings {
        SubscribeSettings { ack_deadline: Self::LEASE, ..quick() }
    }
}

impl support::task_suite::TaskFixture for PubSubTasks {
    type Broker = Gcp;
    type Sink = PubSubSink;
    type Source = PubSubSource;
    const SLACK: Duration = Duration::from_secs(2);

    async fn new() -> Self {
        let gcp = Gcp::from_env(gcp_project()).await.unwrap().with_naming(&TaskhawkNaming);
        let service = unique("billing");
        support::task_suite::provision(&gcp, &service, Some(Self::LEASE)).await;
        Self { gcp, service }
    }
    fn service(&self) -> &str {
        &self.service
    }
    fn broker(&self) -> &Gcp {
        &self.gcp
    }
    fn sink(&self) -> PubSubSink {
        self.gcp.sink()
    }
    /// The subscription `taskhawk-<queue>` (named like its topic).
    async fn source(&self, priority: Priority) -> PubSubSource {
        let queue = priority.queue(&self.service);
        self.gcp.source(&queue, &[ConsumedTopic::new(&queue)], Self::settings()).await.unwrap()
    }
    /// The subscription `taskhawk-<queue>-dlq`.
    async fn dead_letters(&self, priority: Priority) -> PubSubSource {
        let id = self.gcp.layout().dead_letter_id(&priority.queue(&self.service));
        PubSubSource::open(&self.gcp, &[id], Self::settings()).await.unwrap()
    }
}

task_suite!(PubSubTasks);

/// The words of a shell command as `owlpost provision` prints them: single quotes, `'\''`.
fn shell_words(command: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted) = (Vec::new(), None::<String>, false);
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_default();
            }
            '\\' if !quoted => word.get_or_insert_default().extend(chars.next()),
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// Cloud Scheduler has no emulator: the job `owlpost provision` plans for a declared schedule
/// is checked by publishing what its `gcloud` command says (body, attributes, topic) to the
/// Pub/Sub emulator, where the worker runs it as an ordinary task of its priority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_of_a_planned_cloud_scheduler_job_runs_its_task() {
    use owlpost::Layout;
    use owlpost::taskhawk::Task;
    use owlpost_e2e::tasks::{RemindOverdueInput, schema};
    use support::task_suite::{self, Billing, TaskFixture, succeed};

    let f = <PubSubTasks as TaskFixture>::new().await;
    let schedule = schema().schedules().find(|s| s.name == "weekday-reminders").unwrap();
    let scheduled = schedule.scheduled_message(f.service()).unwrap();
    let plan = f.gcp.layout().schedule_plan(f.service(), std::slice::from_ref(&scheduled));
    let line = plan.iter().find(|line| line.contains(" create pubsub ")).expect("a create command");
    let (_, create) = line.split_once("; else ").expect("update, else create");
    let words = shell_words(create.strip_suffix("; fi").expect("one if"));
    let flag = |name: &str| {
        let prefix = format!("--{name}=");
        words.iter().find_map(|w| w.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{name} in {words:?}")).to_owned()
    };
    assert_eq!(words[5], format!("taskhawk-{}-weekday-reminders", f.service()), "{words:?}");
    assert_eq!((flag("schedule"), flag("time-zone")), ("0 9 * * 1-5".to_owned(), "Europe/Paris".to_owned()));
    assert_eq!(flag("topic"), f.gcp.layout().topic_path(&Priority::Low.queue(f.service())));
    let attributes = flag("attributes");
    let (delimiter, pairs) = attributes.strip_prefix('^').and_then(|a| a.split_once('^')).expect("^D^ list");
    let attributes = pairs.split(delimiter).map(|p| p.split_once('=').unwrap()).map(|(k, v)| (k.to_owned(), v));
    let job = WireMessage { body: flag("message-body").into_bytes(), attributes: attributes.collect() };
    assert_eq!(job, scheduled.message, "the command carries the scheduled message exactly");

    f.sink().publish(&scheduled.topic, &job).await.unwrap();
    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = task_suite::worker(&f, billing.router(), support::suite::quick_retries()).await;
    support::suite::run_until(&consumer, &billing, |b| b.finished().len() == 1).await;
    let run = billing.runs().remove(0);
    assert_eq!(
        (run.task, run.priority, run.id.as_str()),
        (RemindOverdueInput::NAME, Priority::Low, "schedule-weekday-reminders")
    );
    assert_eq!(run.input, serde_json::json!({"days": 30}));
    assert_eq!(run.headers.get("source").map(String::as_str), Some("schedule"));
}
