//! The load suite of `cargo xtask load`: messages through each broker, published in batches
//! and consumed with `max_in_flight` 64, every one counted by id. Needs the emulators that
//! `cargo xtask load` (and `cargo xtask ci`, with smaller counts) starts.
//!
//! For each broker (SNS→SQS on ministack, the Pub/Sub emulator, the in-memory broker), on a
//! fresh queue: `Publisher::publish_batch` in batches of 50, 8 batches in flight; a
//! publish that fails is returned to the caller with its error, and counted as such. Then a
//! consumer with `max_in_flight` 64 runs until every published id was handled (or nothing
//! new arrived for 60 s). It reports, per broker, the messages published, failed, handled,
//! lost (published and never handled), unexpected (handled and never published; must be 0)
//! and duplicates (handled more than once; at-least-once delivery allows them), the publish
//! and consume rates, and the peak RSS of the consume phase (`VmHWM`, reset before it).
//! Exits with 1 when a message was lost or unexpected, or a publish failed (nothing here
//! makes a broker fail).
//!
//! Counts: `OWLPOST_LOAD_MEMORY` (default 100,000) and `OWLPOST_LOAD_EMULATORS` (default
//! 20,000).

#[path = "../tests/support/mod.rs"]
#[allow(unused_macros)]
#[macro_use]
mod support;

#[path = "../tests/interop/brokers.rs"]
#[allow(dead_code)]
mod brokers;

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::memory::MemoryBroker;
use owlpost::wire::Encoding;
use owlpost::{Consumer, ConsumerSettings, Outgoing, Publisher, Received, Router};
use owlpost_e2e::messages::UserCreatedV1;

use brokers::{Broker, Setup};

/// Handled ids, with how many times each was handled.
type Handled = Arc<Mutex<HashMap<String, u32>>>;

#[tokio::main]
async fn main() -> ExitCode {
    let count = |name: &str, default: usize| std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default);
    let (memory, emulators) = (count("OWLPOST_LOAD_MEMORY", 100_000), count("OWLPOST_LOAD_EMULATORS", 20_000));
    let mut ok = true;
    // The emulators first: the in-memory run leaves its freed pages to the process, which
    // would raise the peak RSS of whatever ran after it.
    for (name, broker) in [("sns-sqs", Broker::Sns), ("pubsub", Broker::PubSub)] {
        let setup = Setup::new(broker, &[("user-created", 1)]).await;
        let publisher = setup.publisher(Encoding::Attributes);
        ok &= run(name, emulators, publisher, |router| async move { setup.consumer(router).await }).await;
    }
    let memory_broker = MemoryBroker::new();
    memory_broker.subscribe("user-created-v1", "load");
    let publisher = Publisher::new("load", memory_broker.clone()).with_route("user-created", 1, "user-created-v1");
    ok &= run("memory", memory, publisher, |router| async move { Consumer::new(memory_broker.source("load"), router) })
        .await;
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Publishes `n` messages with `publisher`, consumes them with the consumer `consumer`
/// makes, prints the report line; whether nothing was lost or unexpected.
async fn run<F, Fut>(name: &str, n: usize, publisher: Publisher, consumer: F) -> bool
where
    F: FnOnce(Router) -> Fut,
    Fut: Future<Output = Consumer>,
{
    let start = Instant::now();
    let mut batches = tokio::task::JoinSet::new();
    let (mut published, mut failed) = (HashSet::new(), 0usize);
    let ids: Vec<u32> = (0..n as u32).collect();
    for chunk in ids.chunks(50).map(<[u32]>::to_vec) {
        if batches.len() >= 8
            && let Some(joined) = batches.join_next().await
        {
            tally(joined, &mut published, &mut failed);
        }
        let publisher = publisher.clone();
        batches.spawn(async move {
            publisher.publish_batch(chunk.into_iter().map(|id| Outgoing::new(support::user(id)))).await
        });
    }
    while let Some(joined) = batches.join_next().await {
        tally(joined, &mut published, &mut failed);
    }
    let publishing = start.elapsed();

    let handled: Handled = Arc::default();
    let mut router = Router::new();
    let seen = handled.clone();
    router.route(move |message: Received<UserCreatedV1>| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap().entry(message.metadata.id).or_default() += 1;
            Ok(())
        }
    });
    let settings = ConsumerSettings { max_in_flight: 64, ..ConsumerSettings::default() };
    let consumer = consumer(router).await.with_settings(settings);
    reset_peak_rss();
    let start = Instant::now();
    let expected = published.clone();
    let progress = handled.clone();
    let done = async move {
        let (mut last, mut since) = (0, Instant::now());
        loop {
            let now = {
                let handled = progress.lock().unwrap();
                if expected.iter().all(|id| handled.contains_key(id)) {
                    return;
                }
                handled.len()
            };
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() > Duration::from_secs(60) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    consumer.run_until(done).await.expect("the consumer ran");
    let consuming = start.elapsed();
    let handled = handled.lock().unwrap().clone();
    let lost = published.iter().filter(|id| !handled.contains_key(*id)).count();
    let unexpected = handled.keys().filter(|id| !published.contains(*id)).count();
    let duplicates: u32 = handled.values().map(|times| times - 1).sum();
    let rate = |count: usize, took: Duration| count as f64 / took.as_secs_f64();
    println!(
        "load/{name}: published {} failed {failed} handled {} lost {lost} unexpected {unexpected} duplicates {duplicates}; publish {:.0} msg/s, consume {:.0} msg/s; consume peak RSS {:.1} MiB",
        published.len(),
        handled.len(),
        rate(published.len(), publishing),
        rate(handled.len(), consuming),
        peak_rss_mib(),
    );
    lost == 0 && unexpected == 0 && failed == 0 && published.len() == n
}

fn tally(
    joined: Result<Vec<Result<owlpost::Published, owlpost::PublishError>>, tokio::task::JoinError>,
    published: &mut HashSet<String>,
    failed: &mut usize,
) {
    for result in joined.expect("the batch ran") {
        match result {
            Ok(sent) => {
                published.insert(sent.id);
            }
            Err(error) => {
                eprintln!("publish failed (returned to the caller): {error}");
                *failed += 1;
            }
        }
    }
}

/// Resets the process's peak resident set (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set since the last reset, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().trim_end_matches("kB").trim());
    kib.and_then(|k| k.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}
