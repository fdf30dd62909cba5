//! What the consumer does with each handler outcome, and publisher options, on the
//! in-memory broker through the generated API.

use std::time::Duration;

use owlpost::memory::{MemoryBroker, QueueStats};
use owlpost::{
    Consumer, Encoding, HandlerError, HandlerResult, Outcome, ProviderMetadata, PublishError, Publisher, Received,
    Router,
};
use owlpost_e2e::messages::*;

/// Answers every `user_deleted` message with the outcome its `reason` asks for.
struct ByReason;

impl UserDeletedHandler for ByReason {
    async fn user_deleted_v1(&self, message: Received<UserDeletedV1>) -> HandlerResult {
        match message.data.reason {
            Some(UserDeletedV1Reason::Requested) => Ok(()),
            Some(UserDeletedV1Reason::Fraud) => Err(HandlerError::Retry { after: Duration::from_secs(60) }),
            Some(UserDeletedV1Reason::Inactive) => Err(HandlerError::Ignore),
            None => Err(std::io::Error::other("database down").into()),
        }
    }
}

fn deleted(reason: Option<UserDeletedV1Reason>) -> UserDeletedV1 {
    UserDeletedV1 { user_id: "U_1".parse().unwrap(), reason }
}

async fn outcome_of(reason: Option<UserDeletedV1Reason>) -> (Outcome, Option<QueueStats>, MemoryBroker, Consumer) {
    let broker = MemoryBroker::new();
    broker.subscribe("user_deleted-v1", "q");
    publish_user_deleted(&Publisher::new("svc", broker.clone()), deleted(reason)).await.unwrap();
    let mut router = Router::new();
    register_user_deleted(&mut router, ByReason);
    let consumer = Consumer::new(broker.queue("q"), router);
    let mut processed = consumer.poll().await.unwrap();
    assert_eq!(processed.len(), 1);
    let processed = processed.remove(0);
    assert!(processed.settle_error.is_none(), "{:?}", processed.settle_error);
    (processed.outcome, broker.stats("q"), broker, consumer)
}

#[tokio::test]
async fn success_and_ignore_acknowledge() {
    for reason in [UserDeletedV1Reason::Requested, UserDeletedV1Reason::Inactive] {
        let (outcome, stats, ..) = outcome_of(Some(reason)).await;
        assert!(outcome.is_acked(), "{reason}: {outcome:?}");
        assert_eq!(stats, Some(QueueStats::default()), "{reason}: the broker forgot it");
    }
}

#[tokio::test]
async fn retry_negatively_acknowledges_with_the_delay() {
    let (outcome, stats, ..) = outcome_of(Some(UserDeletedV1Reason::Fraud)).await;
    assert!(matches!(outcome, Outcome::Retry { after } if after == Duration::from_secs(60)), "{outcome:?}");
    assert_eq!(stats, Some(QueueStats { ready: 0, delayed: 1, in_flight: 0 }));
}

#[tokio::test]
async fn handler_error_redelivers_with_a_higher_receive_count() {
    let (outcome, stats, broker, _) = outcome_of(None).await;
    assert!(matches!(&outcome, Outcome::Failed { error } if error == "database down"), "{outcome:?}");
    assert_eq!(stats, Some(QueueStats { ready: 1, delayed: 0, in_flight: 0 }));
    // Seen again, as the second delivery, by a consumer that records what it receives.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let mut router = Router::new();
    let sink = seen.clone();
    router.route(move |m: Received<UserDeletedV1>| {
        let sink = sink.clone();
        async move {
            *sink.lock().unwrap() = Some(m.provider);
            Ok(())
        }
    });
    Consumer::new(broker.queue("q"), router).poll().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(ProviderMetadata::Memory { queue: "q".into(), receive_count: 2 }));
}

#[tokio::test]
async fn container_encoding_and_routes_round_trip() {
    let broker = MemoryBroker::new();
    broker.subscribe("deletions", "q");
    let publisher = Publisher::new("svc", broker.clone()).with_encoding(Encoding::Container).with_route(
        "user_deleted",
        1,
        "deletions",
    );
    let sent = publish_user_deleted(&publisher, deleted(Some(UserDeletedV1Reason::Requested))).await.unwrap();
    assert_eq!(sent.topic, "deletions");
    let mut router = Router::new();
    register_user_deleted(&mut router, ByReason);
    let processed = Consumer::new(broker.queue("q"), router).poll().await.unwrap();
    assert!(processed[0].outcome.is_acked(), "{processed:?}");
    assert_eq!(processed[0].id.as_deref(), Some(sent.id.as_str()));
}

#[tokio::test]
async fn a_failed_publish_is_an_error_that_hands_the_message_back() {
    let broker = MemoryBroker::new(); // no topics at all
    let publisher = Publisher::new("svc", broker);
    let error = publish_user_deleted(&publisher, deleted(None)).await.unwrap_err();
    let PublishError::Backend { topic, message, .. } = &error else {
        panic!("expected a backend error, got {error:?}")
    };
    assert_eq!(topic, "user_deleted-v1");
    assert_eq!(message.body, br#"{"user_id":"U_1"}"#);
    assert!(!error.is_retryable(), "a missing topic will not appear by retrying");
}
