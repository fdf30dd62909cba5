//! Local broker emulators for the backend tests, started on loopback only: ministack (SNS +
//! SQS) from PyPI (see `python.rs`), and Google's Pub/Sub emulator, which
//! the machine image ships (Debian package `google-cloud-cli-pubsub-emulator`, needs Java).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where ministack listens.
pub const AWS_PORT: u16 = 4566;
/// The Pub/Sub emulator's launcher (it execs java, so its process is the server).
const PUBSUB_EMULATOR: &str = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";
/// Where the Pub/Sub emulator listens.
pub const PUBSUB_PORT: u16 = 8085;

/// The environment the tests need to reach the emulators (and the reference libraries'
/// interpreters, for the interop suite).
pub fn test_env(root: &Path) -> Vec<(&'static str, String)> {
    let interpreters = crate::python::REFERENCES.iter().map(|r| (r.variable, r.python(root).display().to_string()));
    interpreters
        .chain([
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{AWS_PORT}")),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            // Distinctive, so the aws suite can tell that no log line or error holds them.
            ("AWS_SECRET_ACCESS_KEY", "owlpost-test-secret-key-5c1e9b7a".into()),
            ("AWS_SESSION_TOKEN", "owlpost-test-session-token-93d0f4e2".into()),
            ("OWLPOST_TEST_AWS_ACCOUNT", "000000000000".into()),
            ("PUBSUB_EMULATOR_HOST", format!("127.0.0.1:{PUBSUB_PORT}")),
            ("OWLPOST_TEST_GCP_PROJECT", "owlpost-test".into()),
        ])
        .collect()
}

/// Running emulators; stopped when dropped.
pub struct Emulators {
    children: Vec<Child>,
}

impl Drop for Emulators {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Installs (if needed) and starts every emulator, waiting until each answers. An emulator
/// already answering on its port is used as it is.
pub fn start(root: &Path) -> Result<Emulators, String> {
    let mut emulators = Emulators { children: Vec::new() };
    if !healthy(AWS_PORT, "/_ministack/health") {
        let ministack = crate::python::ministack(root)?;
        let mut command = Command::new(&ministack);
        command
            .env("BIND_HOST", "127.0.0.1")
            .env("GATEWAY_PORT", AWS_PORT.to_string())
            .env("SERVICES", "sqs,sns,scheduler");
        emulators.spawn(root, "ministack", command, AWS_PORT, "/_ministack/health")?;
    }
    eprintln!("xtask: ministack (SNS, SQS, EventBridge Scheduler) on 127.0.0.1:{AWS_PORT}");
    if !healthy(PUBSUB_PORT, "/") {
        if !Path::new(PUBSUB_EMULATOR).exists() {
            return Err(format!(
                "the Pub/Sub emulator is missing ({PUBSUB_EMULATOR}): install Debian's google-cloud-cli-pubsub-emulator"
            ));
        }
        let mut command = Command::new(PUBSUB_EMULATOR);
        command.arg("--host=127.0.0.1").arg(format!("--port={PUBSUB_PORT}"));
        emulators.spawn(root, "pubsub-emulator", command, PUBSUB_PORT, "/")?;
    }
    eprintln!("xtask: Pub/Sub emulator on 127.0.0.1:{PUBSUB_PORT}");
    Ok(emulators)
}

impl Emulators {
    /// Starts `command` with its output in `target/<name>.log` and waits until it answers.
    fn spawn(&mut self, root: &Path, name: &str, mut command: Command, port: u16, health: &str) -> Result<(), String> {
        let log_path = root.join(format!("target/{name}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.children.push(child);
        wait_healthy(port, health, Duration::from_secs(60))
            .map_err(|e| format!("{name} did not start ({e}); see {}", log_path.display()))
    }
}

fn wait_healthy(port: u16, path: &str, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if healthy(port, path) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("no answer on 127.0.0.1:{port}{path} within {}s", limit.as_secs()))
}

/// Whether `GET path` on loopback answers 200.
fn healthy(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut response = [0u8; 16];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read(&mut response).is_ok_and(|n| String::from_utf8_lossy(&response[..n]).contains(" 200"))
}
