//! P5: a consumer with 1,000 messages in flight, on the in-memory broker: its handlers all
//! wait until the thousandth has started, so that every message is decoded, validated and
//! held at once. Prints the process's peak resident set (`VmHWM`) then, in MiB.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use owlpost::memory::MemoryBroker;
use owlpost::{Consumer, ConsumerSettings, Outgoing, Publisher, Received, Router};
use owlpost_bench::example;
use tokio::sync::Notify;

const IN_FLIGHT: usize = 1_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = MemoryBroker::new();
    broker.subscribe("user-created-v1", "memory");
    let publisher = Publisher::new("bench", broker.clone());
    let messages = (0..IN_FLIGHT).map(|i| {
        Outgoing::new(example::UserCreatedV1 {
            user_id: format!("U_{i}").parse().unwrap(),
            email: format!("user{i}@example.com"),
            plan: example::Plan::Pro,
            referrer: Some("newsletter".into()),
        })
        .header("request_id", format!("req-{i}"))
    });
    for result in publisher.publish_batch(messages).await {
        result?;
    }
    let started = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let mut router = Router::new();
    let (count, gate) = (started.clone(), all_in.clone());
    router.route(move |message: Received<example::UserCreatedV1>| {
        let (count, gate) = (count.clone(), gate.clone());
        async move {
            let waiting = gate.notified();
            if count.fetch_add(1, Ordering::SeqCst) + 1 == IN_FLIGHT {
                gate.notify_waiters();
            } else {
                waiting.await;
            }
            std::hint::black_box(message);
            Ok(())
        }
    });
    let settings = ConsumerSettings { max_in_flight: IN_FLIGHT, ..ConsumerSettings::default() };
    let consumer = Consumer::new(broker.source("memory"), router).with_settings(settings);
    let done = started.clone();
    let stop = async move {
        while done.load(Ordering::SeqCst) < IN_FLIGHT {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    consumer.run_until(stop).await?;
    assert_eq!(started.load(Ordering::SeqCst), IN_FLIGHT, "every message was in flight");
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).ok_or("no VmHWM")?;
    let kib: f64 = peak.trim().trim_end_matches("kB").trim().parse()?;
    println!("memory/{IN_FLIGHT} in flight: {:.1} MiB peak RSS", kib / 1024.0);
    Ok(())
}
