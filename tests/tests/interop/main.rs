//! Interoperability with the reference Hedwig library (hedwig-python, `authedwig` 11) on the
//! local emulators: every cell of {owlpost publishes → hedwig-python consumes, hedwig-python
//! publishes → owlpost consumes} × {SNS/SQS, Pub/Sub} × {attributes mode, container mode} ×
//! {no headers, custom headers}, checking id, type, version, data, publisher, timestamp and
//! headers on the receiving side; then what only other libraries send (hedwig-go's container,
//! Pub/Sub without `hedwig_encoding`, ids that are not UUIDs) and every message type of the
//! example schema, both majors and a minor newer than this build.
//!
//! The peer runs `tests/interop/peer.py` in the virtualenv `cargo xtask interop` (or `ci`)
//! installs; its schema is `schemas/example.json` with `user-created` 1.* one minor ahead.
//!
//! The same against the reference Taskhawk library (taskhawk-python) is in `tasks`.

#[path = "../support/mod.rs"]
#[allow(unused_macros)]
mod support;

mod brokers;
mod others;
mod peer;
mod tasks;

use owlpost::wire::Encoding;
use owlpost::{Outgoing, Router};

use crate::support::now_millis;
use owlpost_e2e::messages::*;
use serde_json::{Value, json};

use brokers::{Broker, Observed, PUBLISHER, Setup};

/// Who publishes in a cell.
#[derive(Debug, Clone, Copy)]
enum Direction {
    OwlpostToPython,
    PythonToOwlpost,
}

/// The publisher name the reference publishes under.
const REFERENCE: &str = "hedwig-python";

fn mode(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Attributes => "attributes",
        _ => "container",
    }
}

/// The cell's headers: none, or two (one non-ASCII).
fn headers(with: bool) -> Value {
    if with { json!({"request_id": "req-7f3a", "tenant": "zoë & co"}) } else { json!({}) }
}

/// The `user-created` 1.x data every cell sends (every field set, non-ASCII included).
fn user_v1() -> Value {
    json!({"user_id": "U_42", "email": "ada@example.com", "plan": "pro", "referrer": "newsletter — été"})
}

async fn cell(direction: Direction, broker: Broker, encoding: Encoding, with_headers: bool) {
    let setup = Setup::new(broker, &[("user-created", 1)]).await;
    let headers = headers(with_headers);
    let (expected, got) = match direction {
        Direction::OwlpostToPython => {
            let mut outgoing = Outgoing::new(serde_json::from_value::<UserCreatedV1>(user_v1()).unwrap());
            for (key, value) in headers.as_object().unwrap() {
                outgoing = outgoing.header(key, value.as_str().unwrap());
            }
            let before = now_millis();
            let sent = publish_user_created(&setup.publisher(encoding), outgoing).await.unwrap();
            let after = now_millis();
            let mut spec = setup.peer_spec(mode(encoding));
            spec["handles"] = json!([["user-created", 1]]);
            spec["expect"] = json!(1);
            let got = peer::consume(spec).await.remove(0);
            let timestamp = got["timestamp"].as_i64().unwrap_or_default();
            assert!(
                (before..=after).contains(&timestamp),
                "timestamp {timestamp} outside the publish ({before}..={after})"
            );
            let expected = json!({
                "id": sent.id, "type": "user-created", "version": "1.1", "data": user_v1(),
                "publisher": PUBLISHER, "timestamp": timestamp, "headers": headers,
            });
            (expected, got)
        }
        Direction::PythonToOwlpost => {
            let mut spec = setup.peer_spec(mode(encoding));
            spec["publisher"] = json!(REFERENCE);
            spec["messages"] =
                json!([{"type": "user-created", "version": "1.0", "data": user_v1(), "headers": headers}]);
            let sent = peer::publish(spec).await.remove(0);
            let observed = Observed::default();
            let mut router = Router::new();
            observed.route::<UserCreatedV1>(&mut router);
            let got = observed.drain(&setup.consumer(router).await, 1).await.remove(0);
            assert_eq!(sent["publisher"], REFERENCE);
            (sent, got)
        }
    };
    assert_eq!(got, expected, "received (left) differs from what was sent (right)");
    println!(
        "matrix | {} | {broker:?} | {} | {} | ok: id, type, version, data, publisher, timestamp, headers",
        match direction {
            Direction::OwlpostToPython => "owlpost → hedwig-python",
            Direction::PythonToOwlpost => "hedwig-python → owlpost",
        },
        mode(encoding),
        if with_headers { "headers" } else { "no headers" },
    );
}

macro_rules! cells {
    ($($name:ident: $direction:ident, $broker:ident, $encoding:ident, $headers:literal;)*) => {$(
        #[tokio::test]
        async fn $name() {
            cell(Direction::$direction, Broker::$broker, Encoding::$encoding, $headers).await;
        }
    )*};
}

cells! {
    owlpost_to_python_sns_attributes: OwlpostToPython, Sns, Attributes, false;
    owlpost_to_python_sns_attributes_headers: OwlpostToPython, Sns, Attributes, true;
    owlpost_to_python_sns_container: OwlpostToPython, Sns, Container, false;
    owlpost_to_python_sns_container_headers: OwlpostToPython, Sns, Container, true;
    owlpost_to_python_pubsub_attributes: OwlpostToPython, PubSub, Attributes, false;
    owlpost_to_python_pubsub_attributes_headers: OwlpostToPython, PubSub, Attributes, true;
    owlpost_to_python_pubsub_container: OwlpostToPython, PubSub, Container, false;
    owlpost_to_python_pubsub_container_headers: OwlpostToPython, PubSub, Container, true;
    python_to_owlpost_sns_attributes: PythonToOwlpost, Sns, Attributes, false;
    python_to_owlpost_sns_attributes_headers: PythonToOwlpost, Sns, Attributes, true;
    python_to_owlpost_sns_container: PythonToOwlpost, Sns, Container, false;
    python_to_owlpost_sns_container_headers: PythonToOwlpost, Sns, Container, true;
    python_to_owlpost_pubsub_attributes: PythonToOwlpost, PubSub, Attributes, false;
    python_to_owlpost_pubsub_attributes_headers: PythonToOwlpost, PubSub, Attributes, true;
    python_to_owlpost_pubsub_container: PythonToOwlpost, PubSub, Container, false;
    python_to_owlpost_pubsub_container_headers: PythonToOwlpost, PubSub, Container, true;
}
