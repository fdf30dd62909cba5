//! The reference library as a peer: runs `tests/interop/peer.py` (hedwig-python) with a JSON
//! spec and reads back what it published or received, as observed messages.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// How long one run of the peer may take (its consumer gives up after `timeout_s`, 60 s by
/// default; an SQS long poll adds up to 20 s).
const LIMIT: Duration = Duration::from_secs(120);

/// The line before the peer's result on its standard output.
const RESULT_MARKER: &str = "--- owlpost peer result ---";

/// The interpreter of the virtualenv holding hedwig-python (`cargo xtask ci` and `cargo xtask
/// interop` install it and set this).
fn python() -> String {
    std::env::var("OWLPOST_INTEROP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "OWLPOST_INTEROP_PYTHON is not set: run `cargo xtask interop`, or `cargo xtask emulators` and export what it prints"
        )
    })
}

/// Publishes `spec["messages"]` with hedwig-python; returns them as it sent them.
pub async fn publish(spec: Value) -> Vec<Value> {
    run("publish", spec).await
}

/// Consumes `spec["expect"]` messages with hedwig-python's consumer; returns what it received.
pub async fn consume(spec: Value) -> Vec<Value> {
    run("consume", spec).await
}

/// Sends `spec["raw"]` (`[{topic, body, attributes}]`) unchanged through the broker's own
/// client (boto3, google-cloud-pubsub), as libraries other than hedwig-python send.
pub async fn raw(spec: Value) {
    run("raw", spec).await;
}

/// The schema file both sides use (the peer edits `user-created` 1.* one minor ahead).
pub fn schema_path() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/example.json").to_owned()
}

async fn run(command: &'static str, mut spec: Value) -> Vec<Value> {
    spec["schema"] = json!(schema_path());
    let mut peer = Command::new(python());
    peer.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/peer.py"))
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // No tracing exporter of the environment may add headers on the reference's side.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("OTEL_")) {
        peer.env_remove(name);
    }
    let mut child = peer
        .spawn()
        .expect("cannot start the hedwig-python peer (is OWLPOST_INTEROP_PYTHON a virtualenv with authedwig?)");
    child.stdin.take().unwrap().write_all(spec.to_string().as_bytes()).await.unwrap();
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("hedwig-python {command} still running after {LIMIT:?} (killed); spec: {spec:#}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "hedwig-python {command} failed ({}):\n{stderr}\nspec: {spec:#}", output.status);
    let result = stdout
        .split_once(RESULT_MARKER)
        .and_then(|(_, result)| serde_json::from_str::<Value>(result).ok())
        .unwrap_or_else(|| panic!("hedwig-python {command} printed no result:\n{stdout}\n{stderr}"));
    result["messages"].as_array().cloned().unwrap_or_default()
}
