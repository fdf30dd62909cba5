//! What the backend test binaries share: unique names, sample messages, a recording handler
//! and polling helpers. Each binary uses part of it.
#![allow(dead_code)]

#[macro_use]
pub mod suite;
#[macro_use]
pub mod task_suite;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::{Consumer, Delivery, HandlerError, HandlerResult, Received, Router, Source};
use owlpost_e2e::messages::*;

/// The AWS emulator's account, and a check that the tests talk to an emulator, not to AWS.
pub fn aws_account() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "AWS tests run against a local emulator: use `cargo xtask ci`, or `cargo xtask emulators` and export what it prints"
    );
    std::env::var("OWLPOST_TEST_AWS_ACCOUNT").unwrap_or_else(|_| "000000000000".into())
}

/// The Pub/Sub emulator's `host:port`, checked to be local: the tests never talk to Google.
pub fn pubsub_emulator() -> String {
    let host = std::env::var("PUBSUB_EMULATOR_HOST").unwrap_or_default();
    assert!(
        host.starts_with("127.0.0.1:"),
        "Pub/Sub tests run against the local emulator: use `cargo xtask ci`, or `cargo xtask emulators` and export what it prints"
    );
    host
}

/// The Google Cloud project the Pub/Sub tests use (on the local emulator).
pub fn gcp_project() -> String {
    pubsub_emulator();
    std::env::var("OWLPOST_TEST_GCP_PROJECT").unwrap_or_else(|_| "owlpost-test".into())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A valid `user-created` v1 message.
pub fn user(id: u32) -> UserCreatedV1 {
    UserCreatedV1 {
        user_id: format!("U_{id}").parse().unwrap(),
        email: format!("u{id}@example.com"),
        plan: Plan::Pro,
        referrer: None,
    }
}

/// The same message as an untyped one, for encoding it by hand.
pub fn dynamic(data: &UserCreatedV1) -> owlpost::DynamicMessage {
    owlpost::DynamicMessage {
        message_type: "user-created".into(),
        version: owlpost::Version::new(1, 0),
        data: serde_json::to_value(data).unwrap(),
        id: None,
        headers: Default::default(),
    }
}

/// A handled message with its user id.
pub type Seen = (String, Received<UserCreatedV1>);

/// Records what arrives; fails the first `fail_first` deliveries.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub fail_first: Arc<AtomicU32>,
}

impl Recorder {
    /// A recorder failing the first `n` deliveries.
    pub fn failing_first(n: u32) -> Self {
        Self { fail_first: Arc::new(AtomicU32::new(n)), ..Self::default() }
    }

    /// The user ids handled so far.
    pub fn user_ids(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
    }
}

impl UserCreatedHandler for Recorder {
    async fn user_created_v1(&self, message: Received<UserCreatedV1>) -> HandlerResult {
        if self.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(HandlerError::failed("not yet"));
        }
        self.seen.lock().unwrap().push(((*message.data.user_id).clone(), message));
        Ok(())
    }
    async fn user_created_v2(&self, _: Received<UserCreatedV2>) -> HandlerResult {
        Err(HandlerError::failed("unexpected v2"))
    }
}

/// A consumer of `source` with `recorder` as the `user-created` handler.
pub fn consumer<S: Source + Clone>(source: &S, recorder: &Recorder) -> Consumer {
    let mut router = Router::new();
    register_user_created(&mut router, recorder.clone());
    Consumer::new(source.clone(), router)
}

/// The Hedwig libraries' consumer: invalid messages negatively acknowledged (the broker's
/// redrive policy dead-letters them), retries at once.
pub fn like_hedwig() -> owlpost::ConsumerSettings {
    owlpost::ConsumerSettings {
        invalid_messages: owlpost::InvalidMessages::Nack,
        retry: owlpost::Backoff::new(Duration::ZERO, Duration::ZERO),
        ..Default::default()
    }
}

/// Polls until `count` messages were handled (or 30 s passed).
pub async fn drain(consumer: &Consumer, recorder: &Recorder, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.seen.lock().unwrap().len() < count {
        assert!(Instant::now() < deadline, "only {} of {count} handled", recorder.seen.lock().unwrap().len());
        consumer.poll().await.unwrap();
    }
}

/// What `source` hands out within 10 s, or as soon as `expected` messages arrived.
pub async fn collect(source: &impl Source, expected: usize) -> Vec<owlpost::WireMessage> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut messages = Vec::new();
    while messages.len() < expected && Instant::now() < deadline {
        messages.extend(source.receive(10).await.unwrap().into_iter().map(|d| d.message));
    }
    messages
}

/// The next delivery of `source` (within 30 s).
pub async fn receive_one(source: &impl Source) -> Delivery {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(delivery) = source.receive(1).await.unwrap().into_iter().next() {
            return delivery;
        }
        assert!(Instant::now() < deadline, "nothing received");
    }
}

/// Sends `tracing` spans to an OpenTelemetry SDK tracer (ids generated, nothing exported),
/// for the whole test binary: handlers run on other threads than the test.
#[cfg(feature = "otel")]
pub fn install_tracer() {
    use opentelemetry::trace::TracerProvider;
    use tracing_subscriber::layer::SubscriberExt;
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("owlpost-e2e"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
    });
}

/// Milliseconds since the Unix epoch, now (to bracket a message's timestamp).
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A `tracing_subscriber::fmt` subscriber writing every event up to `level`, as plain text,
/// to the returned [`Captured`].
pub fn capturing(level: tracing_subscriber::filter::LevelFilter) -> (Captured, CapturingSubscriber) {
    let captured = Captured::default();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(level).with_ansi(false).with_writer(captured.clone()).finish();
    (captured, subscriber)
}

/// What [`capturing`] returns.
pub type CapturingSubscriber = tracing_subscriber::fmt::Subscriber<
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    tracing_subscriber::filter::LevelFilter,
    Captured,
>;

/// What a `tracing_subscriber::fmt` subscriber writes, kept in memory.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// An emulator process of a test's own on a free port (for tests that stop, kill or restart
/// their broker), killed when dropped.
pub struct OwnEmulator {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl OwnEmulator {
    /// Starts `command` (which listens on `port`) and waits up to 60 s until `GET <health>`
    /// answers 200.
    pub fn start(mut command: std::process::Command, port: u16, health: &str) -> Self {
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?} (cargo xtask ci installs the emulators): {e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !answers(port, health) {
            assert!(Instant::now() < deadline, "{command:?} did not answer on port {port}");
            std::thread::sleep(Duration::from_millis(200));
        }
        Self { child, port }
    }

    /// Stops it as an operator would (SIGTERM), and waits for it to exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        let _ = self.child.wait();
    }
}

impl Drop for OwnEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET <path>` on 127.0.0.1:`port` answers 200 (within 2 s).
pub fn answers(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut response = [0u8; 16];
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").is_ok()
        && stream.read(&mut response).is_ok_and(|n| String::from_utf8_lossy(&response[..n]).contains(" 200"))
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
