//! The consumer's and publisher's extension points on the in-memory broker: time limits,
//! the shutdown deadline, hooks, default headers, and the testing helpers users get.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use owlpost::memory::{MemoryBroker, QueueConfig, QueueStats};
use owlpost::testing::{self, Recording};
use owlpost::{
    Consumer, ConsumerSettings, Delivery, HandlerResult, Hook, Outcome, Processed, PublishError, Publisher, Received,
    Router, Settlement,
};
use owlpost_e2e::messages::*;

fn user(id: u32) -> UserCreatedV1 {
    UserCreatedV1 {
        user_id: format!("U_{id}").parse().unwrap(),
        email: format!("u{id}@example.com"),
        plan: Plan::Free,
        referrer: None,
    }
}

/// A broker with `user-created-v1` feeding `q`, a publisher, and a router whose handler sleeps `delay`.
fn setup(delay: Duration) -> (MemoryBroker, Publisher, Router) {
    let broker = MemoryBroker::new();
    let config = QueueConfig { receive_wait: Duration::from_millis(50), ..QueueConfig::default() };
    broker.create_queue("q", config).unwrap();
    broker.subscribe("user-created-v1", "q");
    let mut router = Router::new();
    router.route(move |_: Received<UserCreatedV1>| async move {
        tokio::time::sleep(delay).await;
        HandlerResult::Ok(())
    });
    (broker.clone(), Publisher::new("api", broker), router)
}

#[tokio::test]
async fn a_handler_over_its_time_limit_is_dropped_and_retried() {
    let (broker, publisher, router) = setup(Duration::from_secs(60));
    publish_user_created(&publisher, user(1)).await.unwrap();
    let settings = ConsumerSettings { handler_timeout: Some(Duration::from_millis(100)), ..Default::default() };
    let consumer = Consumer::new(broker.source("q"), router).with_settings(settings);
    let processed = consumer.poll().await.unwrap().remove(0);
    assert!(matches!(processed.outcome, Outcome::TimedOut { after } if after == Duration::from_millis(100)));
    assert!(matches!(processed.settlement, Some(Settlement::Nacked { delay }) if delay > Duration::ZERO));
    assert_eq!(broker.stats("q"), Some(QueueStats { ready: 0, delayed: 1, in_flight: 0 }), "retried after a backoff");
    assert_eq!(consumer.health().consecutive_failures, 1);
}

#[tokio::test]
async fn past_the_shutdown_deadline_handlers_are_dropped_and_their_messages_returned() {
    let (broker, publisher, router) = setup(Duration::from_secs(60));
    publish_user_created(&publisher, user(1)).await.unwrap();
    let settings = ConsumerSettings { shutdown_deadline: Duration::from_millis(200), ..Default::default() };
    let consumer = Consumer::new(broker.source("q"), router).with_settings(settings);
    let started = std::time::Instant::now();
    consumer
        .run_until(async {
            while consumer.health().in_flight == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "returned after the deadline, not the handler");
    let health = consumer.health();
    assert_eq!((health.in_flight, health.acked, health.nacked), (0, 0, 1));
    assert_eq!(broker.stats("q"), Some(QueueStats { ready: 1, delayed: 0, in_flight: 0 }), "back at once");
}

/// Records what the hooks saw; panics in `before` when told to.
#[derive(Clone, Default)]
struct Tap {
    seen: Arc<Mutex<Vec<String>>>,
    panic_before: bool,
}

impl Hook for Tap {
    fn before(&self, delivery: &Delivery) {
        self.seen.lock().unwrap().push(format!("before {}", delivery.message.attributes["hedwig_id"]));
        assert!(!self.panic_before, "hook bug");
    }
    fn after(&self, _: &Delivery, processed: &Processed) {
        let id = processed.id.clone().unwrap_or_default();
        self.seen.lock().unwrap().push(format!("after {id} {:?}", processed.settlement));
    }
}

#[tokio::test]
async fn hooks_run_around_each_message_in_order_and_a_panicking_hook_is_contained() {
    let (broker, publisher, router) = setup(Duration::ZERO);
    let sent = publish_user_created(&publisher, user(1)).await.unwrap();
    let (broken, tap) = (Tap { panic_before: true, ..Tap::default() }, Tap::default());
    let consumer = Consumer::new(broker.source("q"), router).with_hook(broken.clone()).with_hook(tap.clone());
    let processed = consumer.poll().await.unwrap().remove(0);
    assert!(matches!(processed.outcome, Outcome::Acked), "{processed:?}");
    let expected = [format!("before {}", sent.id), format!("after {} Some(Acked)", sent.id)];
    assert_eq!(*tap.seen.lock().unwrap(), expected);
    assert_eq!(broken.seen.lock().unwrap().len(), 2, "the panicking hook's `after` still ran");
    let health = consumer.health();
    assert_eq!((health.received, health.acked, health.consecutive_failures), (1, 1, 0));
    assert!(health.last_success.is_some() && health.last_receive.is_some());
}

#[tokio::test]
async fn default_headers_are_added_under_the_message_s_own() {
    let recording = Recording::new();
    let publisher = recording.publisher("api").with_default_headers(|message| {
        BTreeMap::from([("deploy".into(), "v7".into()), ("kind".into(), message.message_type.clone())])
    });
    let message = owlpost::Outgoing::new(user(1)).header("deploy", "canary");
    publish_user_created(&publisher, message).await.unwrap();
    let sent = recording.assert_published::<UserCreatedV1>(|_| true);
    let expected = BTreeMap::from([("deploy".into(), "canary".into()), ("kind".into(), "user-created".into())]);
    assert_eq!(sent.metadata.headers, expected);

    let reserved =
        recording.publisher("api").with_default_headers(|_| BTreeMap::from([("hedwig_x".into(), "1".into())]));
    let error = publish_user_created(&reserved, user(2)).await.unwrap_err();
    assert!(matches!(error, PublishError::ReservedHeader { ref key, .. } if key == "hedwig_x"), "{error:?}");
}

#[tokio::test]
async fn the_recording_publisher_asserts_on_typed_messages() {
    let recording = Recording::new();
    let publisher = recording.publisher("signup");
    publish_user_created(&publisher, user(1)).await.unwrap();
    publish_user_created(&publisher, user(2)).await.unwrap();
    let found = recording.assert_published::<UserCreatedV1>(|m| m.data.email == "u2@example.com");
    assert_eq!((found.metadata.publisher.as_str(), *found.data.user_id == "U_2"), ("signup", true));
    assert_eq!(recording.published::<UserCreatedV1>().len(), 2);
    recording.assert_not_published::<UserCreatedV2>();
    assert_eq!(recording.messages()[0].0, "user-created-v1");

    let missing = std::panic::catch_unwind(|| {
        recording.assert_published::<UserCreatedV1>(|m| m.data.email == "nobody@example.com");
    });
    let message = *missing.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("no `user-created` major 1 published that matches"), "{message}");
    assert!(message.contains("u1@example.com") && message.contains("u2@example.com"), "lists what was sent: {message}");
}

#[tokio::test]
async fn a_handler_runs_on_a_message_without_a_broker() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new();
    let sink = seen.clone();
    router.route(move |m: Received<UserCreatedV1>| {
        sink.lock().unwrap().push((m.data.email.clone(), m.provider.clone()));
        async { HandlerResult::Ok(()) }
    });
    let processed = testing::handle(&router, user(3)).await.unwrap();
    assert!(matches!(processed.outcome, Outcome::Acked) && processed.settlement.is_none(), "{processed:?}");
    assert_eq!(*seen.lock().unwrap(), [("u3@example.com".to_owned(), owlpost::ProviderMetadata::None)]);

    let invalid = UserCreatedV1 { email: "not-an-email".into(), ..user(4) };
    let error = testing::handle(&router, invalid).await.unwrap_err();
    assert!(matches!(error, PublishError::Invalid(ref e) if e.pointer == "/email"), "{error:?}");
}
