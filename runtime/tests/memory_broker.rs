//! The in-memory broker alone, on paused tokio time so every wait is exact: visibility
//! timeouts, extension, settlement errors, dead-lettering, long-poll waits and stats.

use std::time::Duration;

use owlpost::memory::{MemoryBroker, QueueConfig, QueueStats};
use owlpost::{BackendError, Delivery, ProviderMetadata, Source, WireMessage};
use tokio::time::{Instant, advance};

const WAIT: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn message(body: &str) -> WireMessage {
    WireMessage { body: body.as_bytes().to_vec(), attributes: Default::default() }
}

/// A broker whose topic `t` feeds queue `q`, configured by `config`.
fn broker(config: QueueConfig) -> MemoryBroker {
    let broker = MemoryBroker::new();
    broker.create_queue("q", config).unwrap();
    broker.subscribe("t", "q");
    broker
}

/// Default settings, but long polls of `WAIT`.
fn config() -> QueueConfig {
    QueueConfig { receive_wait: WAIT, ..QueueConfig::default() }
}

fn visibility(timeout: Duration) -> QueueConfig {
    QueueConfig { visibility_timeout: timeout, ..config() }
}

fn stats(ready: usize, delayed: usize, in_flight: usize) -> Option<QueueStats> {
    Some(QueueStats { ready, delayed, in_flight })
}

/// Receives one delivery from `queue` and says how long it waited for it.
async fn receive_one(broker: &MemoryBroker, queue: &str) -> (Delivery, Duration) {
    let started = Instant::now();
    let mut got = broker.source(queue).receive(10).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    (got.remove(0), started.elapsed())
}

fn is_invalid_ack_id(result: Result<(), BackendError>, ack_id: &str) -> bool {
    matches!(result, Err(BackendError::InvalidAckId { ack_id: found }) if found == ack_id)
}

#[tokio::test(start_paused = true)]
async fn an_unsettled_message_is_redelivered_exactly_at_its_visibility_timeout() {
    let broker = broker(visibility(ms(50)));
    broker.inject("t", message("1")).unwrap();
    let (first, waited) = receive_one(&broker, "q").await;
    assert_eq!((waited, first.provider.delivery_attempt()), (Duration::ZERO, Some(1)));
    advance(ms(49)).await;
    assert_eq!(broker.stats("q"), stats(0, 0, 1), "still hidden at 49 ms");

    // A receiver waiting meanwhile is woken when the timeout runs out, not at the end of its wait.
    let (again, waited) = receive_one(&broker, "q").await;
    assert_eq!(waited, ms(1));
    assert_eq!(again.message, first.message);
    assert_eq!(again.provider, ProviderMetadata::Memory { queue: "q".into(), receive_count: 2 });
    assert_ne!(again.ack_id, first.ack_id);
    assert!(is_invalid_ack_id(broker.source("q").ack(&first.ack_id).await, &first.ack_id), "the first receipt expired");
    broker.source("q").ack(&again.ack_id).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn extend_sets_a_new_deadline_from_now() {
    let broker = broker(visibility(ms(50)));
    broker.inject("t", message("1")).unwrap();
    let queue = broker.source("q");
    let (delivery, _) = receive_one(&broker, "q").await;
    advance(ms(40)).await;
    queue.extend(&delivery.ack_id, ms(100)).await.unwrap();
    advance(ms(60)).await;
    assert_eq!(broker.stats("q"), stats(0, 0, 1), "hidden past the original 50 ms");
    advance(ms(40)).await;
    assert_eq!(broker.stats("q"), stats(1, 0, 0), "visible at 40 + 100 ms");

    let (delivery, _) = receive_one(&broker, "q").await;
    queue.extend(&delivery.ack_id, Duration::ZERO).await.unwrap();
    assert_eq!(broker.stats("q"), stats(1, 0, 0), "extending by zero releases it, like SQS visibility 0");
    assert!(is_invalid_ack_id(queue.extend(&delivery.ack_id, ms(100)).await, &delivery.ack_id));
}

#[tokio::test]
async fn settling_an_unknown_or_settled_receipt_fails() {
    let broker = broker(config());
    let queue = broker.source("q");
    assert!(is_invalid_ack_id(queue.ack("q/999").await, "q/999"));
    assert!(is_invalid_ack_id(queue.nack("q/999", Duration::ZERO).await, "q/999"));
    assert!(is_invalid_ack_id(queue.extend("q/999", ms(10)).await, "q/999"));

    broker.inject("t", message("1")).unwrap();
    let (delivery, _) = receive_one(&broker, "q").await;
    broker.create_queue("other", config()).unwrap();
    assert!(is_invalid_ack_id(broker.source("other").ack(&delivery.ack_id).await, &delivery.ack_id), "wrong queue");
    queue.ack(&delivery.ack_id).await.unwrap();
    assert!(is_invalid_ack_id(queue.ack(&delivery.ack_id).await, &delivery.ack_id), "acked twice");
    assert!(is_invalid_ack_id(queue.nack(&delivery.ack_id, Duration::ZERO).await, &delivery.ack_id));
    assert_eq!(broker.stats("q"), stats(0, 0, 0));

    let missing = broker.source("missing");
    assert!(matches!(missing.ack("x").await, Err(BackendError::QueueNotFound { queue }) if queue == "missing"));
    assert!(matches!(missing.receive(1).await, Err(BackendError::QueueNotFound { .. })));
    assert_eq!(broker.stats("missing"), None);
}

#[tokio::test(start_paused = true)]
async fn a_message_is_dead_lettered_after_max_receives_and_starts_over_there() {
    let broker = broker(QueueConfig { dead_letter: Some(("q-dlq".into(), 3)), ..visibility(ms(50)) });
    broker.inject("t", message("poison")).unwrap();
    broker.inject("t", message("fine")).unwrap();
    for attempt in 1..=3 {
        let got = broker.source("q").receive(10).await.unwrap();
        let poison = got.iter().find(|d| d.message.body == b"poison").unwrap();
        assert_eq!(poison.provider.delivery_attempt(), Some(attempt));
        for delivery in &got {
            if delivery.message.body == b"fine" {
                broker.source("q").ack(&delivery.ack_id).await.unwrap();
            }
        }
        advance(ms(50)).await; // let the visibility timeout run out
    }
    assert_eq!(broker.stats("q-dlq"), stats(0, 0, 0), "moved on the next receive, like SQS");

    // A receiver long-polling the dead-letter queue is woken by the move.
    broker.create_queue("q-dlq", config()).unwrap();
    let dead = tokio::spawn({
        let broker = broker.clone();
        async move { receive_one(&broker, "q-dlq").await }
    });
    tokio::task::yield_now().await; // the receiver is waiting now
    let q = tokio::spawn({
        let broker = broker.clone();
        async move { broker.source("q").receive(10).await }
    });
    let (dead, waited) = dead.await.unwrap();
    assert_eq!(waited, Duration::ZERO, "woken by the move, not at the end of its wait");
    assert!(q.await.unwrap().unwrap().is_empty());
    assert_eq!(broker.stats("q"), stats(0, 0, 0));
    assert_eq!(dead.message, message("poison"));
    assert_eq!(dead.provider, ProviderMetadata::Memory { queue: "q-dlq".into(), receive_count: 1 });
}

#[tokio::test(start_paused = true)]
async fn receive_waits_exactly_receive_wait_when_nothing_comes() {
    let broker = broker(QueueConfig { receive_wait: ms(200), ..config() });
    let started = Instant::now();
    assert!(broker.source("q").receive(10).await.unwrap().is_empty());
    assert_eq!(started.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn receive_wakes_as_soon_as_a_message_is_published() {
    let broker = broker(config());
    let publisher = broker.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(30)).await;
        publisher.inject("t", message("late")).unwrap();
    });
    let (delivery, waited) = receive_one(&broker, "q").await;
    assert_eq!((waited, delivery.message), (ms(30), message("late")));
}

#[tokio::test(start_paused = true)]
async fn receive_wakes_when_a_negative_acknowledgement_delay_ends() {
    let broker = broker(config());
    broker.inject("t", message("1")).unwrap();
    let (delivery, _) = receive_one(&broker, "q").await;
    broker.source("q").nack(&delivery.ack_id, ms(70)).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 1, 0));
    let (again, waited) = receive_one(&broker, "q").await;
    assert_eq!((waited, again.provider.delivery_attempt()), (ms(70), Some(2)));
}

#[tokio::test(start_paused = true)]
async fn stats_count_ready_delayed_and_in_flight() {
    let broker = broker(config());
    for i in 0..5 {
        broker.inject("t", message(&i.to_string())).unwrap();
    }
    assert_eq!(broker.stats("q"), stats(5, 0, 0));
    let queue = broker.source("q");
    let got = queue.receive(3).await.unwrap();
    assert_eq!(broker.stats("q"), stats(2, 0, 3));
    queue.ack(&got[0].ack_id).await.unwrap();
    queue.nack(&got[1].ack_id, ms(100)).await.unwrap();
    queue.nack(&got[2].ack_id, Duration::ZERO).await.unwrap();
    assert_eq!(broker.stats("q"), stats(3, 1, 0));
    advance(ms(100)).await;
    assert_eq!(broker.stats("q"), stats(4, 0, 0));
}

#[tokio::test]
async fn fanned_out_copies_are_settled_independently() {
    let broker = broker(config());
    broker.subscribe("t", "q2");
    broker.subscribe("t", "q2"); // subscribing twice delivers once
    let ids = [broker.inject("t", message("1")).unwrap(), broker.inject("t", message("2")).unwrap()];
    assert_ne!(ids[0], ids[1]);
    assert_eq!(broker.stats("q2"), stats(2, 0, 0));

    let in_q = broker.source("q").receive(10).await.unwrap();
    for delivery in &in_q {
        broker.source("q").ack(&delivery.ack_id).await.unwrap();
    }
    let in_q2 = broker.source("q2").receive(1).await.unwrap();
    broker.source("q2").nack(&in_q2[0].ack_id, Duration::ZERO).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 0, 0));
    assert_eq!(broker.stats("q2"), stats(2, 0, 0));
    assert!(
        matches!(broker.inject("nope", message("x")), Err(BackendError::TopicNotFound { topic }) if topic == "nope")
    );
}

#[tokio::test]
async fn huge_delays_are_capped_instead_of_overflowing_the_clock() {
    let broker = broker(QueueConfig { visibility_timeout: Duration::MAX, ..config() });
    broker.inject("t", message("m")).unwrap();
    let queue = broker.source("q");
    let (got, _) = receive_one(&broker, "q").await;
    queue.extend(&got.ack_id, Duration::MAX).await.unwrap();
    queue.nack(&got.ack_id, Duration::MAX).await.unwrap();
    assert_eq!(broker.stats("q"), stats(0, 1, 0));
}

#[test]
fn dead_letter_settings_that_would_lose_or_loop_messages_are_refused() {
    let broker = MemoryBroker::new();
    let own = QueueConfig { dead_letter: Some(("q".into(), 3)), ..config() };
    assert!(matches!(broker.create_queue("q", own), Err(BackendError::Rejected { .. })));
    let never = QueueConfig { dead_letter: Some(("dlq".into(), 0)), ..config() };
    assert!(matches!(broker.create_queue("q", never), Err(BackendError::Rejected { .. })));
    assert_eq!(broker.stats("q"), None, "nothing was created");
}
