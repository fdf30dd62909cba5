//! P3 of `cargo xtask bench`: messages per second through the emulators, owlpost against
//! hedwig-python on the same broker and the same messages (`user-created` 1.1 of
//! `schemas/example.json`). Needs the emulators and hedwig-python that `cargo xtask bench`
//! starts and installs.
//!
//! For each broker (SNS→SQS on ministack, the Pub/Sub emulator), on a fresh queue each:
//! * owlpost publishes `N` messages with `Publisher::publish_batch` (SNS `PublishBatch` of 10;
//!   8 batches of 50 in flight), then consumes them with `max_in_flight` 64 (on Pub/Sub once
//!   with one StreamingPull, the default, and again with [`STREAMS`]);
//! * hedwig-python (`tests/interop/peer.py`) publishes `N` with `Message.publish()` (its
//!   default, synchronous publisher) and consumes them with `listen_for_messages`
//!   (10 a receive), timed by the peer itself, without the interpreter's start.
//!
//! Prints `p3/<broker>/<library>/<publish|consume>: <messages per second> msg/s` lines.
//! `N` is `OWLPOST_P3_MESSAGES` (default 1,000).

#[path = "../tests/support/mod.rs"]
#[allow(unused_macros)]
#[macro_use]
mod support;

#[path = "../tests/interop/brokers.rs"]
#[allow(dead_code)]
mod brokers;

#[path = "../tests/interop/peer.rs"]
#[allow(dead_code)]
mod peer;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use owlpost::gcp::SubscribeSettings;
use owlpost::wire::Encoding;
use owlpost::{ConsumerSettings, Outgoing, Received, Router};
use owlpost_e2e::messages::UserCreatedV1;
use serde_json::json;

use brokers::{Broker, Setup};

/// StreamingPulls per subscription in owlpost's second Pub/Sub consume (the first has the
/// default, one). The emulator hands a stream at most 100 messages every 50 ms.
const STREAMS: usize = 4;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("OWLPOST_P3_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000);
    for (name, broker) in [("sns-sqs", Broker::Sns), ("pubsub", Broker::PubSub)] {
        let (publish, consume) = owlpost(broker, n, 1).await;
        println!("p3/{name}/owlpost/publish: {:.0} msg/s", n as f64 / publish.as_secs_f64());
        println!("p3/{name}/owlpost/consume: {:.0} msg/s", n as f64 / consume.as_secs_f64());
        if let Broker::PubSub = broker {
            let (_, consume) = owlpost(broker, n, STREAMS).await;
            println!("p3/{name}/owlpost/consume-{STREAMS}-streams: {:.0} msg/s", n as f64 / consume.as_secs_f64());
        }
        let (publish, consume) = hedwig_python(broker, n).await;
        println!("p3/{name}/hedwig-python/publish: {:.0} msg/s", n as f64 / publish);
        println!("p3/{name}/hedwig-python/consume: {:.0} msg/s", n as f64 / consume);
    }
}

/// How long owlpost takes to publish `n` messages, then to consume them (on Pub/Sub with
/// `streams` StreamingPulls).
async fn owlpost(broker: Broker, n: usize, streams: usize) -> (Duration, Duration) {
    let setup = Setup::new(broker, &[("user-created", 1)]).await;
    let publisher = setup.publisher(Encoding::Attributes);
    let start = Instant::now();
    let mut batches = tokio::task::JoinSet::new();
    let ids: Vec<u32> = (0..n as u32).collect();
    for chunk in ids.chunks(50).map(<[u32]>::to_vec) {
        if batches.len() >= 8 {
            assert_published(batches.join_next().await);
        }
        let publisher = publisher.clone();
        batches.spawn(async move {
            let results = publisher.publish_batch(chunk.into_iter().map(|id| Outgoing::new(support::user(id)))).await;
            results.into_iter().filter(Result::is_err).count()
        });
    }
    while let Some(joined) = batches.join_next().await {
        assert_published(Some(joined));
    }
    let published = start.elapsed();

    let handled = Arc::new(AtomicUsize::new(0));
    let mut router = Router::new();
    let count = handled.clone();
    router.route(move |message: Received<UserCreatedV1>| {
        let count = count.clone();
        async move {
            std::hint::black_box(message);
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let settings = ConsumerSettings { max_in_flight: 64, ..ConsumerSettings::default() };
    let pubsub = SubscribeSettings { streams, ..SubscribeSettings::default() };
    let consumer = setup.consumer_with(router, pubsub).await.with_settings(settings);
    let start = Instant::now();
    let done = handled.clone();
    let all_handled = async move {
        while done.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(600), consumer.run_until(all_handled))
        .await
        .expect("every message consumed within 10 minutes")
        .expect("the consumer ran");
    (published, start.elapsed())
}

fn assert_published(joined: Option<Result<usize, tokio::task::JoinError>>) {
    let failed = joined.expect("a batch").expect("the batch ran");
    assert_eq!(failed, 0, "every message of the batch was published");
}

/// hedwig-python's own times (seconds) to publish `n` messages, then to consume them.
async fn hedwig_python(broker: Broker, n: usize) -> (f64, f64) {
    let setup = Setup::new(broker, &[("user-created", 1)]).await;
    let messages: Vec<_> = (0..n as u32)
        .map(|id| json!({"type": "user-created", "version": "1.1", "data": serde_json::to_value(support::user(id)).unwrap()}))
        .collect();
    let mut spec = setup.peer_spec("attributes");
    spec["schema"] = json!(peer::schema_path());
    spec["messages"] = json!(messages);
    let published = peer::HEDWIG.run("publish", spec.clone()).await;
    spec["expect"] = json!(n);
    spec["handles"] = json!([["user-created", 1]]);
    spec["timeout_s"] = json!(600);
    let consumed = peer::HEDWIG.run("consume", spec).await;
    let seconds = |result: &serde_json::Value| result["elapsed_s"].as_f64().expect("the peer's elapsed_s");
    (seconds(&published), seconds(&consumed))
}
