//! The reference library as a peer: runs `tests/interop/peer.py` (hedwig-python) with a JSON
//! spec and reads back what it published or received, as observed messages.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

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
    let input = spec.to_string();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/peer.py"))
            .arg(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the hedwig-python peer (is OWLPOST_INTEROP_PYTHON a virtualenv with authedwig?)");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "hedwig-python {command} failed ({}):\n{stderr}\nspec: {spec:#}", output.status);
    let result: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("hedwig-python {command} printed no JSON ({e}):\n{stderr}"));
    result["messages"].as_array().cloned().unwrap_or_default()
}
