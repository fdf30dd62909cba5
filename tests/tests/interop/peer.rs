//! The reference libraries as peers: runs a peer script in its virtualenv with a JSON spec
//! and reads back its result: `tests/interop/peer.py` (hedwig-python), whose published or
//! received messages it returns as observed messages, and `tests/interop/taskhawk/peer.py`
//! (taskhawk-python, see `tasks.rs`).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long one run of a peer may take (hedwig-python's consumer gives up after `timeout_s`,
/// 60 s by default, taskhawk-python's after 20 s per priority; an SQS long poll adds up to
/// 20 s).
const LIMIT: Duration = Duration::from_secs(120);

/// The line before the peer's result on its standard output.
const RESULT_MARKER: &str = "--- owlpost peer result ---";

/// A reference library run as a peer.
pub struct Peer {
    /// The library, for messages.
    name: &'static str,
    /// The variable naming its virtualenv's interpreter (`cargo xtask ci` and `cargo xtask
    /// interop` install it and set this).
    variable: &'static str,
    /// The script, relative to this crate.
    script: &'static str,
}

/// hedwig-python (`authedwig`).
pub const HEDWIG: Peer = Peer { name: "hedwig-python", variable: "OWLPOST_INTEROP_PYTHON", script: "interop/peer.py" };

/// taskhawk-python.
pub const TASKHAWK: Peer =
    Peer { name: "taskhawk-python", variable: "OWLPOST_TASKHAWK_PYTHON", script: "interop/taskhawk/peer.py" };

/// Publishes `spec["messages"]` with hedwig-python; returns them as it sent them.
pub async fn publish(spec: Value) -> Vec<Value> {
    hedwig("publish", spec).await
}

/// Consumes `spec["expect"]` messages with hedwig-python's consumer; returns what it received.
pub async fn consume(spec: Value) -> Vec<Value> {
    hedwig("consume", spec).await
}

/// Sends `spec["raw"]` (`[{topic, body, attributes}]`) unchanged through the broker's own
/// client (boto3, google-cloud-pubsub), as libraries other than hedwig-python send.
pub async fn raw(spec: Value) {
    hedwig("raw", spec).await;
}

/// The schema file both sides use (the peer edits `user-created` 1.* one minor ahead).
pub fn schema_path() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/example.json").to_owned()
}

/// Runs hedwig-python's peer with the schema file both sides use; returns its messages.
async fn hedwig(command: &'static str, mut spec: Value) -> Vec<Value> {
    spec["schema"] = json!(schema_path());
    let result = HEDWIG.run(command, spec).await;
    result["messages"].as_array().cloned().unwrap_or_default()
}

impl Peer {
    /// Runs `command` of the peer with `spec` on its standard input; returns the JSON object
    /// it printed after [`RESULT_MARKER`]. Fails the test when it fails or takes too long.
    pub async fn run(&self, command: &'static str, spec: Value) -> Value {
        let name = self.name;
        let python = std::env::var(self.variable).unwrap_or_else(|_| {
            panic!(
                "{} is not set: run `cargo xtask interop`, or `cargo xtask emulators` and export what it prints",
                self.variable
            )
        });
        let mut peer = Command::new(python);
        peer.arg(format!("{}/{}", env!("CARGO_MANIFEST_DIR"), self.script))
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // No tracing exporter of the environment may add headers on the reference's side.
        for (variable, _) in std::env::vars().filter(|(variable, _)| variable.starts_with("OTEL_")) {
            peer.env_remove(variable);
        }
        let mut child = peer.spawn().unwrap_or_else(|e| {
            panic!("cannot start the {name} peer (is {} its virtualenv's python?): {e}", self.variable)
        });
        child.stdin.take().unwrap().write_all(spec.to_string().as_bytes()).await.unwrap();
        let output = tokio::time::timeout(LIMIT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{name} {command} still running after {LIMIT:?} (killed); spec: {spec:#}"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name} {command} failed ({}):\n{stderr}\nspec: {spec:#}", output.status);
        stdout
            .split_once(RESULT_MARKER)
            .and_then(|(_, result)| serde_json::from_str::<Value>(result).ok())
            .unwrap_or_else(|| panic!("{name} {command} printed no result:\n{stdout}\n{stderr}"))
    }
}
