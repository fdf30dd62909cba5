//! The in-memory broker on its own: fan-out, visibility, settlement, dead-lettering, waiting.

use std::time::Duration;

use owlpost::memory::{MemoryBroker, QueueConfig, QueueStats};
use owlpost::{BackendError, ProviderMetadata, PublishBackend, Source, WireMessage};

fn message(body: &str) -> WireMessage {
    WireMessage { body: body.as_bytes().to_vec(), attributes: Default::default() }
}

fn config(visibility_ms: u64) -> QueueConfig {
    QueueConfig {
        visibility_timeout: Duration::from_millis(visibility_ms),
        receive_wait: Duration::from_millis(20),
        dead_letter: None,
    }
}

fn stats(ready: usize, delayed: usize, in_flight: usize) -> Option<QueueStats> {
    Some(QueueStats { ready, delayed, in_flight })
}

#[tokio::test]
async fn topics_fan_out_to_every_subscribed_queue() {
    let broker = MemoryBroker::new();
    broker.subscribe("t", "a");
    broker.subscribe("t", "b");
    broker.create_topic("lonely");
    broker.publish("t", &message("1")).await.unwrap();
    broker.publish("lonely", &message("dropped, like SNS without subscribers")).await.unwrap();
    for queue in ["a", "b"] {
        let got = broker.queue(queue).receive(10).await.unwrap();
        assert_eq!(got.len(), 1, "{queue}");
        assert_eq!(got[0].message.body, b"1");
        assert_eq!(got[0].provider, ProviderMetadata::Memory { queue: queue.into(), receive_count: 1 });
    }
    let error = broker.publish("missing", &message("x")).await.unwrap_err();
    assert!(matches!(error, BackendError::TopicNotFound { .. }));
    assert!(matches!(broker.queue("nope").receive(1).await, Err(BackendError::QueueNotFound { .. })));
}

#[tokio::test]
async fn unacked_messages_come_back_after_the_visibility_timeout() {
    let broker = MemoryBroker::new();
    broker.create_queue("q", config(50));
    broker.subscribe("t", "q");
    broker.publish("t", &message("1")).await.unwrap();
    let queue = broker.queue("q");
    let first = queue.receive(10).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 0, 1));
    assert!(queue.receive(10).await.unwrap().is_empty(), "hidden while in flight");
    tokio::time::sleep(Duration::from_millis(60)).await;
    let again = queue.receive(10).await.unwrap();
    assert_eq!(again[0].provider.delivery_attempt(), Some(2));
    let error = queue.ack(&first[0].ack_id).await.unwrap_err();
    assert!(matches!(error, BackendError::InvalidAckId { .. }), "the old receipt expired");
    queue.ack(&again[0].ack_id).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 0, 0));
}

#[tokio::test]
async fn extend_keeps_a_message_hidden_past_its_timeout() {
    let broker = MemoryBroker::new();
    broker.create_queue("q", config(50));
    broker.subscribe("t", "q");
    broker.publish("t", &message("1")).await.unwrap();
    let queue = broker.queue("q");
    let got = queue.receive(1).await.unwrap();
    queue.extend(&got[0].ack_id, Duration::from_millis(300)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(queue.receive(1).await.unwrap().is_empty(), "still hidden after the original 50 ms");
    queue.ack(&got[0].ack_id).await.unwrap();
}

#[tokio::test]
async fn nack_redelivers_after_its_delay() {
    let broker = MemoryBroker::new();
    broker.create_queue("q", config(1000));
    broker.subscribe("t", "q");
    broker.publish("t", &message("1")).await.unwrap();
    let queue = broker.queue("q");
    let got = queue.receive(1).await.unwrap();
    queue.nack(&got[0].ack_id, Duration::from_millis(60)).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 1, 0));
    assert!(queue.receive(1).await.unwrap().is_empty(), "not before the delay");
    tokio::time::sleep(Duration::from_millis(70)).await;
    assert_eq!(queue.receive(1).await.unwrap()[0].provider.delivery_attempt(), Some(2));
    assert!(matches!(queue.nack("q/999", Duration::ZERO).await, Err(BackendError::InvalidAckId { .. })));
}

#[tokio::test]
async fn messages_move_to_the_dead_letter_queue_after_max_receives() {
    let broker = MemoryBroker::new();
    broker.create_queue("q", QueueConfig { dead_letter: Some(("q-dlq".into(), 2)), ..config(1000) });
    broker.subscribe("t", "q");
    broker.publish("t", &message("poison")).await.unwrap();
    let queue = broker.queue("q");
    for attempt in 1..=2 {
        let got = queue.receive(1).await.unwrap();
        assert_eq!(got[0].provider.delivery_attempt(), Some(attempt));
        queue.nack(&got[0].ack_id, Duration::ZERO).await.unwrap();
    }
    assert!(queue.receive(1).await.unwrap().is_empty());
    assert_eq!(broker.stats("q"), stats(0, 0, 0));
    let dead = broker.queue("q-dlq").receive(1).await.unwrap();
    assert_eq!(dead[0].message.body, b"poison");
}

#[tokio::test]
async fn receive_waits_for_a_message_and_wakes_when_one_arrives() {
    let broker = MemoryBroker::new();
    broker.create_queue("q", QueueConfig { receive_wait: Duration::from_secs(5), ..QueueConfig::default() });
    broker.subscribe("t", "q");
    let publisher = broker.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        publisher.publish("t", &message("late")).await.unwrap();
    });
    let started = std::time::Instant::now();
    let got = broker.queue("q").receive(1).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(4), "woke on publish, not at the end of the wait");

    // With nothing to receive it gives up after `receive_wait`.
    broker.create_queue("idle", config(1000));
    assert!(broker.queue("idle").receive(1).await.unwrap().is_empty());
}

#[tokio::test]
async fn receive_respects_max_and_order() {
    let broker = MemoryBroker::new();
    broker.subscribe("t", "q");
    for i in 0..5 {
        broker.publish("t", &message(&i.to_string())).await.unwrap();
    }
    let queue = broker.queue("q");
    let first: Vec<_> = queue.receive(3).await.unwrap().into_iter().map(|d| d.message.body).collect();
    assert_eq!(first, [b"0".to_vec(), b"1".to_vec(), b"2".to_vec()]);
    assert_eq!(broker.stats("q"), stats(2, 0, 3));
}
