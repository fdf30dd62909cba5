//! SNS → SQS against a local emulator (ministack, started by `cargo xtask ci`), through the
//! generated API. Every test provisions its own uniquely named topics and queue.

#[macro_use]
mod support;
#[path = "aws/schedules.rs"]
mod schedules;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::aws::{Aws, AwsSettings, SnsSink, SqsSource};
use owlpost::taskhawk::{Priority, TaskhawkNaming};
use owlpost::{
    BackendError, Broker, ConsumedTopic, Consumer, ConsumerSettings, Outgoing, ProviderMetadata, Provisioning,
    PublishError, Publisher, Received, Router, Sink, Source, WireMessage,
};
use owlpost_e2e::messages::*;
use support::{Recorder, aws_account, consumer, drain, dynamic, receive_one, unique, user};

/// A provisioned queue consuming one fresh topic, the `user-created` v1 route to it, and handles.
struct Setup {
    aws: Aws,
    /// The queue's Hedwig name (without `HEDWIG-`).
    name: String,
    topic: String,
    queue: SqsSource,
    publisher: Publisher,
}

async fn setup(configure: impl FnOnce(&mut Provisioning)) -> Setup {
    let aws = Aws::from_env(aws_account()).await;
    let topic = unique("t");
    let mut plan = Provisioning::new(unique("Q"));
    plan.consumes.push(ConsumedTopic::new(&topic));
    configure(&mut plan);
    aws.provision(&plan).await.expect("provisioning");
    aws.provision(&plan).await.expect("provisioning is idempotent");
    let queue = aws.source(&plan.queue).await.unwrap().with_wait_time(Duration::from_secs(1));
    let publisher = Publisher::new("aws-e2e", aws.sink()).with_route("user-created", 1, topic.clone());
    Setup { aws, name: plan.queue, topic, queue, publisher }
}

#[tokio::test]
async fn generated_publish_reaches_the_typed_handler_through_sns_and_sqs() {
    let s = setup(|_| {}).await;
    let sent = publish_user_created(&s.publisher, Outgoing::new(user(1)).header("request_id", "r-1")).await.unwrap();
    assert_eq!(sent.topic, s.topic);
    let recorder = Recorder::default();
    drain(&consumer(&s.queue, &recorder), &recorder, 1).await;
    let seen = recorder.seen.lock().unwrap();
    let message = &seen[0].1;
    assert_eq!(seen[0].0, "U_1");
    assert_eq!(message.metadata.id, sent.id);
    assert_eq!(message.metadata.publisher, "aws-e2e");
    assert_eq!(message.metadata.headers.get("request_id").map(String::as_str), Some("r-1"));
    let ProviderMetadata::Aws { receive_count, receipt_handle, sent_timestamp, first_receive_timestamp } =
        &message.provider
    else {
        panic!("expected SQS metadata, got {:?}", message.provider)
    };
    assert_eq!(*receive_count, 1);
    assert!(!receipt_handle.is_empty() && sent_timestamp.is_some() && first_receive_timestamp.is_some());
}

#[tokio::test]
async fn batch_publishing_sends_every_message_once() {
    let s = setup(|_| {}).await;
    let started = Instant::now();
    let results = s.publisher.publish_batch((0..25).map(user)).await;
    let published = started.elapsed();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 25, "{results:?}");
    let recorder = Recorder::default();
    let started = Instant::now();
    drain(&consumer(&s.queue, &recorder), &recorder, 25).await;
    let consumed = started.elapsed();
    let mut ids = recorder.user_ids();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    eprintln!(
        "figures (ministack, debug build): published 25 in {published:?} ({:.0} msg/s), consumed 25 in {consumed:?} ({:.0} msg/s)",
        25.0 / published.as_secs_f64(),
        25.0 / consumed.as_secs_f64()
    );
}

#[tokio::test]
async fn sns_wrapped_bodies_are_consumed() {
    let s = setup(|plan| plan.raw_delivery = false).await;
    publish_user_created(&s.publisher, Outgoing::new(user(2)).header("request_id", "r-2")).await.unwrap();
    let recorder = Recorder::default();
    drain(&consumer(&s.queue, &recorder), &recorder, 1).await;
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen[0].1.metadata.headers.get("request_id").map(String::as_str), Some("r-2"));
}

#[tokio::test]
async fn base64_bodies_are_consumed_and_binary_bodies_sent_as_base64() {
    let s = setup(|_| {}).await;
    // What hedwig-python sends for a binary body: base64 wrapped at 76 characters.
    let mut wire = Publisher::new("py", s.aws.sink()).encode(schema(), dynamic(&user(3))).unwrap();
    let encoded = base64_lines(&wire.body);
    wire.body = encoded.into_bytes();
    wire.attributes.insert("hedwig_encoding", "base64");
    s.aws.sink().publish(&s.topic, &wire).await.unwrap();
    let recorder = Recorder::default();
    drain(&consumer(&s.queue, &recorder), &recorder, 1).await;

    // A body that is not UTF-8 leaves as base64 with `hedwig_encoding=base64`.
    let binary = WireMessage { body: vec![0xff, 0x00, 0xfe], attributes: Default::default() };
    s.aws.sink().publish(&s.topic, &binary).await.unwrap();
    let got = receive_one(&s.queue).await;
    assert_eq!(got.message.attributes.get("hedwig_encoding").map(String::as_str), Some("base64"));
    assert_eq!(got.message.body, b"/wD+");
    s.queue.ack(&got.ack_id).await.unwrap();
}

/// SQS delays are whole seconds: a sub-second nack delay is rounded up, not down to an
/// immediate redelivery.
#[tokio::test]
async fn a_sub_second_nack_delay_is_not_an_immediate_redelivery() {
    let s = setup(|_| {}).await;
    publish_user_created(&s.publisher, user(1)).await.unwrap();
    let first = receive_one(&s.queue).await;
    let nacked = Instant::now();
    s.queue.nack(&first.ack_id, Duration::from_millis(300)).await.unwrap();
    let again = receive_one(&s.queue).await;
    let gap = nacked.elapsed();
    println!("a 300 ms nack delay came back after {gap:?}");
    assert!(gap >= Duration::from_millis(900), "redelivered after {gap:?}");
    s.queue.ack(&again.ack_id).await.unwrap();
}

/// A container message without headers would reach SQS with no attribute map at all, which
/// stops hedwig-python's SQS consumer: it gets `hedwig_encoding=utf8`, which no reader makes a header.
#[tokio::test]
async fn a_container_message_without_headers_still_carries_an_attribute() {
    let s = setup(|_| {}).await;
    let publisher = Publisher::new("aws-e2e", s.aws.sink())
        .with_route("user-created", 1, s.topic.clone())
        .with_encoding(owlpost::wire::Encoding::Container);
    let sent = publish_user_created(&publisher, user(4)).await.unwrap();
    let got = receive_one(&s.queue).await;
    let attributes: Vec<_> = got.message.attributes.iter().map(|(k, v)| (k, v.as_str())).collect();
    assert_eq!(attributes, [("hedwig_encoding", "utf8")]);
    let (metadata, _) = owlpost::wire::decode(&got.message).unwrap();
    assert_eq!((metadata.id, metadata.headers.len()), (sent.id, 0));
    s.queue.ack(&got.ack_id).await.unwrap();
}

/// Standard base64 with a newline every 76 characters, as Python's `base64.encodebytes`.
fn base64_lines(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    out.as_bytes().chunks(76).map(|line| format!("{}\n", String::from_utf8_lossy(line))).collect()
}

#[tokio::test]
async fn a_failed_message_is_redelivered_with_receive_count_two() {
    let s = setup(|_| {}).await;
    publish_user_created(&s.publisher, user(4)).await.unwrap();
    let recorder = Recorder::failing_first(1);
    drain(&consumer(&s.queue, &recorder), &recorder, 1).await;
    assert_eq!(recorder.seen.lock().unwrap()[0].1.provider.delivery_attempt(), Some(2));
}

#[tokio::test]
async fn extending_visibility_keeps_a_message_hidden_past_its_timeout() {
    let s = setup(|plan| plan.lease = Some(Duration::from_secs(2))).await;
    publish_user_created(&s.publisher, user(5)).await.unwrap();
    let held = receive_one(&s.queue).await;
    s.queue.extend(&held.ack_id, Duration::from_secs(8)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(s.queue.receive(10).await.unwrap().is_empty(), "visible again although extended");
    s.queue.ack(&held.ack_id).await.unwrap();
}

#[tokio::test]
async fn poison_messages_left_to_the_redrive_policy_are_dead_lettered_and_requeued() {
    let s = setup(|plan| plan.max_deliveries = 2).await;
    // Data that fails the schema, as a broken publisher might send it.
    let mut wire = Publisher::new("bad", s.aws.sink()).encode(schema(), dynamic(&user(6))).unwrap();
    wire.body = br#"{"user_id":"nope"}"#.to_vec();
    s.aws.sink().publish(&s.topic, &wire).await.unwrap();
    let recorder = Recorder::default();
    let consumer = consumer(&s.queue, &recorder).with_settings(support::like_hedwig());
    let mut rejections = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while rejections < 2 {
        assert!(Instant::now() < deadline, "rejected {rejections} times");
        rejections += consumer.poll().await.unwrap().iter().filter(|p| !p.outcome.is_acked()).count();
    }
    // The redrive policy moves it on the next receive.
    assert!(s.queue.receive(10).await.unwrap().is_empty());
    let report = s.aws.requeue_dead_letters(&s.name, &mut |_| {}).await.unwrap();
    assert_eq!((report.moved, report.failed.len()), (1, 0), "{report:?}");
    let back = receive_one(&s.queue).await;
    assert_eq!(back.message.body, wire.body);
    assert_eq!(back.message.attributes.get("hedwig_id"), wire.attributes.get("hedwig_id"));
}

#[tokio::test]
async fn messages_over_sns_limits_are_refused_before_sending() {
    let aws = Aws::from_env(aws_account()).await;
    // The topic does not exist: a message that reached SNS would fail with TopicNotFound.
    let publisher = Publisher::new("limits", aws.sink()).with_route("user-created", 1, unique("never-created"));
    // A trace context is a header like any other (set here, so that the `otel` feature's
    // own does not depend on whether a tracer is installed).
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let too_many =
        (0..5).fold(Outgoing::new(user(7)).header("traceparent", traceparent), |m, i| m.header(format!("h{i}"), "v"));
    let error = publish_user_created(&publisher, too_many).await.unwrap_err();
    assert!(
        matches!(error, PublishError::Backend { source: BackendError::LimitExceeded { max: 10, actual: 11, .. }, .. }),
        "{error:?}"
    );
    let huge = UserCreatedV1 { referrer: Some("x".repeat(300 * 1024)), ..user(8) };
    let error = publish_user_created(&publisher, huge).await.unwrap_err();
    assert!(
        matches!(&error, PublishError::Backend { source: BackendError::LimitExceeded { max: 262_144, actual, .. }, .. } if *actual > 300 * 1024),
        "{error:?}"
    );
    let empty = Outgoing::new(user(9)).header("trace", "");
    let error = publish_user_created(&publisher, empty).await.unwrap_err();
    assert!(matches!(error, PublishError::Backend { source: BackendError::InvalidAttribute { .. }, .. }), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_broker_is_a_retryable_error_not_a_hang() {
    let settings = AwsSettings {
        account_id: aws_account(),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        region: Some("us-east-1".into()),
    };
    let aws = Aws::load(settings).await;
    let publisher = Publisher::new("nowhere", aws.sink());
    let outcome = tokio::time::timeout(Duration::from_secs(60), publish_user_created(&publisher, user(10))).await;
    let error = outcome.expect("publishing must give up, not hang").unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    let queue = tokio::time::timeout(Duration::from_secs(60), aws.source("nowhere")).await.expect("no hang");
    assert!(matches!(queue, Err(BackendError::Unavailable { .. })), "{queue:?}");
}

/// The consumer suite's fixture: a provisioned queue on a fresh topic, its visibility
/// timeout asked for on every receive.
struct Sqs {
    setup: Setup,
    lease: Duration,
}

impl support::suite::Fixture for Sqs {
    type Source = SqsSource;
    const SHORT_LEASE: Duration = Duration::from_secs(2);
    const SLACK: Duration = Duration::from_secs(2);

    async fn new(lease: Duration) -> Self {
        Self { setup: setup(|_| {}).await, lease }
    }
    fn publisher(&self) -> Publisher {
        self.setup.publisher.clone()
    }
    fn source(&self) -> SqsSource {
        self.setup.queue.clone().with_visibility_timeout(self.lease)
    }
    async fn publish_raw(&self, message: WireMessage) {
        self.setup.aws.sink().publish(&self.setup.topic, &message).await.unwrap();
    }
    async fn dead_letters(&self, expected: usize) -> Vec<WireMessage> {
        let dlq = self.setup.aws.source(&format!("{}-DLQ", self.setup.name)).await.unwrap();
        let dlq = dlq.with_wait_time(Duration::from_secs(1));
        support::collect(&dlq, expected).await
    }
}

consumer_suite!(Sqs);

/// The task suite's fixture: a fresh service's four priorities, named the Taskhawk way.
struct SqsTasks {
    aws: Aws,
    service: String,
}

impl support::task_suite::TaskFixture for SqsTasks {
    type Broker = Aws;
    type Sink = SnsSink;
    type Source = SqsSource;
    const SLACK: Duration = Duration::from_secs(2);

    async fn new() -> Self {
        let aws = Aws::from_env(aws_account()).await.with_naming(&TaskhawkNaming);
        let service = unique("billing");
        support::task_suite::provision(&aws, &service, None).await;
        Self { aws, service }
    }
    fn service(&self) -> &str {
        &self.service
    }
    fn broker(&self) -> &Aws {
        &self.aws
    }
    fn sink(&self) -> SnsSink {
        self.aws.sink()
    }
    async fn source(&self, priority: Priority) -> SqsSource {
        let source = self.aws.source(&priority.queue(&self.service)).await.unwrap();
        source.with_wait_time(Duration::from_secs(1))
    }
    /// `TASKHAWK-<QUEUE>-DLQ`.
    async fn dead_letters(&self, priority: Priority) -> SqsSource {
        let source = self.aws.source(&format!("{}-dlq", priority.queue(&self.service))).await.unwrap();
        source.with_wait_time(Duration::from_secs(1))
    }
}

task_suite!(SqsTasks);

/// No credential reaches a log line or an error message: with the AWS credentials of the
/// environment (`cargo xtask ci` sets a distinctive secret key and session token), a
/// publish, a consume and two failures, with every event of owlpost and of the AWS SDK
/// captured as text at TRACE level, never show the secret key or the session token.
#[test]
fn credentials_never_reach_logs_or_errors() {
    let secrets: Vec<String> = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
        .iter()
        .map(|name| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (cargo xtask ci sets it)")))
        .collect();
    assert!(secrets.iter().all(|s| s.len() >= 16), "distinctive values, which no log line has by chance");
    let (captured, subscriber) = support::capturing(tracing_subscriber::filter::LevelFilter::TRACE);
    // A runtime on this thread only, so that every event reaches this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let errors = {
        let _default = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);
        runtime.block_on(async {
            let s = setup(|_| {}).await;
            publish_user_created(&s.publisher, user(1)).await.unwrap();
            let recorder = Recorder::default();
            drain(&consumer(&s.queue, &recorder), &recorder, 1).await;
            let missing = Publisher::new("aws-e2e", s.aws.sink()).with_route("user-created", 1, unique("missing"));
            let publish = publish_user_created(&missing, user(2)).await.unwrap_err();
            let source = s.aws.source(&unique("MISSING")).await.unwrap_err();
            [format!("{publish} {publish:?}"), format!("{source} {source:?}")]
        })
    };
    let log = captured.text();
    assert!(log.contains("TRACE") && log.contains("aws_smithy"), "the SDK's TRACE events were captured");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a log line holds a credential");
        for error in &errors {
            assert!(!error.contains(secret.as_str()), "an error holds a credential: {error}");
        }
    }
}

/// A ministack of this test's own on `port`, keeping its state in `state` across a stop
/// and a start (as a real broker keeps its queues and messages).
fn own_ministack(port: u16, state: &std::path::Path) -> support::OwnEmulator {
    let mut command = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/ministack"));
    command
        .env("BIND_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        .env("SERVICES", "sqs,sns")
        .env("PERSIST_STATE", "1")
        .env("STATE_DIR", state);
    support::OwnEmulator::start(command, port, "/_ministack/health")
}

/// The broker stops under a running consumer and comes back: the consumer reports the
/// outage (its health counts the failed receives), backs off, reconnects and handles what
/// is published after the restart, each message once; nothing is acknowledged that was not
/// handled.
#[tokio::test]
async fn a_consumer_rides_out_a_broker_restart() {
    aws_account();
    let port = support::free_port();
    let state = std::env::temp_dir().join(unique("ministack-state"));
    let mut broker = Some(own_ministack(port, &state));
    let endpoint_url = broker.as_ref().map(|b| format!("http://127.0.0.1:{}", b.port));
    let aws = Aws::load(AwsSettings { account_id: aws_account(), endpoint_url, region: None }).await;
    let topic = unique("t");
    let mut plan = Provisioning::new(unique("Q"));
    plan.consumes.push(ConsumedTopic::new(&topic));
    aws.provision(&plan).await.unwrap();
    let publisher = Publisher::new("aws-e2e", aws.sink()).with_route("user-created", 1, topic.clone());
    let queue = aws.source(&plan.queue).await.unwrap().with_wait_time(Duration::from_secs(1));
    let recorder = Recorder::default();
    let consumer = consumer(&queue, &recorder);
    for id in 0..3 {
        publish_user_created(&publisher, user(id)).await.unwrap();
    }
    let handled = |n: usize| {
        let recorder = recorder.clone();
        move || recorder.seen.lock().unwrap().len() >= n
    };
    let mut restarted = None;
    let outage = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !handled(3)() {
            assert!(Instant::now() < deadline, "the first three were not handled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Off the runtime: the consumer keeps running while the broker stops and starts.
        let stopping = broker.take().unwrap();
        tokio::task::spawn_blocking(move || stopping.stop()).await.unwrap();
        while consumer.health().consecutive_receive_errors < 2 {
            assert!(Instant::now() < deadline, "the outage was never reported");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let state = state.clone();
        restarted = Some(tokio::task::spawn_blocking(move || own_ministack(port, &state)).await.unwrap());
        for id in 3..6 {
            publish_user_created(&publisher, user(id)).await.unwrap();
        }
        while !handled(6)() {
            assert!(Instant::now() < deadline, "nothing handled after the restart: {:?}", consumer.health());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    consumer.run_until(outage).await.expect("the consumer rode out the outage");
    assert!(broker.is_none() && restarted.is_some());
    let mut ids: Vec<String> = recorder.seen.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["U_0", "U_1", "U_2", "U_3", "U_4", "U_5"], "each handled once");
    assert_eq!(consumer.health().acked, 6, "acknowledged: the handled ones, no other");
    drop(restarted);
    let _ = std::fs::remove_dir_all(state);
}

/// A consumer process killed (SIGKILL) with handlers in flight: the messages it had not
/// acknowledged come back when their lease runs out, and a second consumer handles them.
/// Every message is handled; the ones handled twice (the first consumer finished them but
/// its acknowledgement did not go out) are counted and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_of_a_killed_consumer_come_back_after_their_lease() {
    use std::collections::HashSet;
    use tokio::io::AsyncBufReadExt;
    let lease = Duration::from_secs(3);
    let s = setup(|plan| plan.lease = Some(lease)).await;
    let mut published = HashSet::new();
    for id in 0..20 {
        published.insert(publish_user_created(&s.publisher, user(id)).await.unwrap().id);
    }
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fault-consumer"))
        .args([s.name.as_str(), "1500"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut started, mut finished) = (HashSet::new(), HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    // Killed once some of its handlers finished and others are still running.
    while finished.len() < 4 || started.len() - finished.len() < 4 {
        assert!(Instant::now() < deadline, "the consumer process stalled: {started:?} {finished:?}");
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap();
        match line.as_deref().and_then(|l| l.split_once(' ')) {
            Some(("started", id)) => started.insert(id.to_owned()),
            Some(("handled", id)) => finished.insert(id.to_owned()),
            _ => panic!("the consumer process ended: {line:?}"),
        };
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let in_flight: HashSet<String> = started.difference(&finished).cloned().collect();

    let recorder = Recorder::default();
    let second = consumer(&s.queue, &recorder);
    let ids = |recorder: &Recorder| -> HashSet<String> {
        recorder.seen.lock().unwrap().iter().map(|(_, m)| m.metadata.id.clone()).collect()
    };
    let everything = published.clone();
    let all_handled =
        |recorder: &Recorder| everything.iter().all(|id| finished.contains(id) || ids(recorder).contains(id));
    while !all_handled(&recorder) {
        assert!(Instant::now() < deadline, "not every message was handled within 60 s");
        second.poll().await.unwrap();
    }
    // Long enough for a late redelivery to show.
    let quiet = Instant::now() + lease + Duration::from_secs(1);
    while Instant::now() < quiet {
        second.poll().await.unwrap();
    }
    let handled_second = ids(&recorder);
    assert!(in_flight.is_subset(&handled_second), "every message in flight at the kill came back");
    assert!(handled_second.iter().chain(&finished).all(|id| published.contains(id)), "nothing unexpected");
    let twice = finished.intersection(&handled_second).count();
    let handled = recorder.seen.lock().unwrap().len();
    assert_eq!(handled, handled_second.len(), "the second consumer handled each once");
    println!(
        "killed with {} in flight and {} finished: {} handled by the second consumer, {twice} of them twice in all",
        in_flight.len(),
        finished.len(),
        handled_second.len()
    );
}

/// A TCP proxy of the test's own on loopback, to the emulator: forwards both ways until
/// stalled, then holds every byte (the connection stays open, nothing crosses) until
/// resumed, as a network that blackholes traffic for a while.
struct StallingProxy {
    address: String,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl StallingProxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (stalled, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(Self::pipe(client_read, server_write, watch.clone()));
                tokio::spawn(Self::pipe(server_read, client_write, watch.clone()));
            }
        });
        Self { address, stalled }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut stalled: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            if stalled.wait_for(|stalled| !stalled).await.is_err() {
                return;
            }
            let Ok(n @ 1..) = from.read(&mut buffer).await else { return };
            // Bytes read just before a stall wait for the resume too.
            if stalled.wait_for(|stalled| !stalled).await.is_err() || to.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    }

    fn stall(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }
}

/// The network between consumer and broker stalls for 35 s, longer than the 3 s lease and
/// than the SDK's 30 s attempt timeout (`Aws::load`), while handlers are in flight: their
/// acknowledgements cannot go out, their leases run out, and after the resume the broker
/// hands the messages out again; the consumer runs on through it (the SDK retries a timed
/// out attempt, so the consumer may never see an error). Nothing is lost; the double
/// deliveries are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_network_loses_nothing() {
    use std::collections::HashSet;
    let emulator = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let proxy = StallingProxy::start(emulator.trim_start_matches("http://").to_owned()).await;
    let settings = AwsSettings { account_id: aws_account(), endpoint_url: Some(proxy.address.clone()), region: None };
    let aws = Aws::load(settings).await;
    let topic = unique("t");
    let mut plan = Provisioning::new(unique("Q"));
    plan.consumes.push(ConsumedTopic::new(&topic));
    plan.lease = Some(Duration::from_secs(3));
    aws.provision(&plan).await.unwrap();
    let publisher = Publisher::new("aws-e2e", aws.sink()).with_route("user-created", 1, topic.clone());
    let mut published = HashSet::new();
    for id in 0..6 {
        published.insert(publish_user_created(&publisher, user(id)).await.unwrap().id);
    }
    let queue = aws.source(&plan.queue).await.unwrap().with_wait_time(Duration::from_secs(1));
    let (started, handled) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let mut router = Router::new();
    let (on_start, on_end) = (started.clone(), handled.clone());
    router.route(move |message: Received<UserCreatedV1>| {
        let (on_start, on_end) = (on_start.clone(), on_end.clone());
        async move {
            on_start.lock().unwrap().push(message.metadata.id.clone());
            tokio::time::sleep(Duration::from_secs(1)).await;
            on_end.lock().unwrap().push(message.metadata.id);
            Ok(())
        }
    });
    let consumer =
        Consumer::new(queue, router).with_settings(ConsumerSettings { max_in_flight: 2, ..Default::default() });
    let scenario = async {
        let deadline = Instant::now() + Duration::from_secs(150);
        while handled.lock().unwrap().len() < 2 || started.lock().unwrap().len() <= handled.lock().unwrap().len() {
            assert!(Instant::now() < deadline, "no handler in flight before the stall");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        proxy.stall(true);
        tokio::time::sleep(Duration::from_secs(35)).await;
        proxy.stall(false);
        while !published.iter().all(|id| handled.lock().unwrap().contains(id)) {
            assert!(
                Instant::now() < deadline,
                "not every message was handled after the resume: {:?}",
                consumer.health()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    consumer.run_until(scenario).await.expect("the consumer ran through the stall");
    let handled = handled.lock().unwrap().clone();
    assert!(handled.iter().all(|id| published.contains(id)), "nothing unexpected");
    let distinct: HashSet<&String> = handled.iter().collect();
    assert_eq!(distinct.len(), published.len(), "every message handled");
    println!(
        "stalled 35 s with handlers in flight: {} messages handled {} times ({} double deliveries); receive errors seen: {}",
        published.len(),
        handled.len(),
        handled.len() - published.len(),
        consumer.health().consecutive_receive_errors
    );
}
