//! Beyond the matrix: every message type of the example schema (names with `-`, `.` and `_`,
//! both majors of `user-created`, and a minor newer than this build) in both directions, ids
//! that are not UUIDs, and what only hedwig-go and hedwig-rust send.

use owlpost::wire::Encoding;
use owlpost::{Outgoing, Router};

use crate::support::now_millis;
use owlpost_e2e::messages::*;
use serde_json::{Value, json};

use crate::brokers::{Broker, Observed, PUBLISHER, Setup};
use crate::{REFERENCE, peer, user_v1};

/// Every route of the example schema.
const ROUTES: &[(&str, u32)] = &[("user-created", 1), ("user-created", 2), ("order.placed", 1), ("user_deleted", 1)];

fn user_v2() -> Value {
    json!({
        "user_id": "U_42", "plan": "enterprise", "name": {"given": "Ada", "family": "Lovelace"},
        "address": {"street": "12 St James's Square", "city": "London", "country": "GB"},
    })
}

fn order() -> Value {
    json!({
        "order_id": "ord_8f2k1x", "user_id": "U_42", "total_cents": 12999,
        "lines": [{"sku": "BK-1", "quantity": 2}, {"sku": "PEN", "quantity": 1}],
    })
}

fn deleted() -> Value {
    json!({"user_id": "U_42", "reason": "requested"})
}

/// owlpost's router recording every message type of the example schema.
fn every_type(observed: &Observed) -> Router {
    let mut router = Router::new();
    observed.route::<UserCreatedV1>(&mut router);
    observed.route::<UserCreatedV2>(&mut router);
    observed.route::<OrderPlacedV1>(&mut router);
    observed.route::<UserDeletedV1>(&mut router);
    router
}

fn sorted(mut messages: Vec<Value>) -> Vec<Value> {
    messages.sort_by_key(|m| (m["type"].to_string(), m["version"].to_string()));
    messages
}

fn typed<M: serde::de::DeserializeOwned>(data: Value) -> M {
    serde_json::from_value(data).unwrap()
}

async fn reference_types_reach_owlpost(broker: Broker) {
    let setup = Setup::new(broker, ROUTES).await;
    let mut ahead = user_v1();
    ahead["locale"] = json!("fr-CA");
    let mut spec = setup.peer_spec("attributes");
    spec["publisher"] = json!(REFERENCE);
    spec["messages"] = json!([
        {"type": "user-created", "version": "1.2", "data": ahead, "headers": {"request_id": "r-1"}},
        {"type": "user-created", "version": "2.0", "data": user_v2()},
        {"type": "order.placed", "version": "1.0", "data": order()},
        {"type": "user_deleted", "version": "1.0", "data": deleted()},
    ]);
    let mut sent = sorted(peer::publish(spec).await);
    let observed = Observed::default();
    let got = sorted(observed.drain(&setup.consumer(every_type(&observed)).await, 4).await);
    // 1.2 is newer than this build: validated against the 1.* schema the build knows and
    // delivered with its version, its new field (unknown to the typed payload) left out.
    let newer = sent.iter_mut().find(|m| m["version"] == "1.2").unwrap();
    newer["data"].as_object_mut().unwrap().remove("locale");
    assert_eq!(got, sent);
}

async fn owlpost_types_reach_the_reference(broker: Broker) {
    let setup = Setup::new(broker, ROUTES).await;
    let publisher = setup.publisher(Encoding::Attributes);
    let before = now_millis();
    let ids = [
        publish_user_created(&publisher, Outgoing::new(typed::<UserCreatedV1>(user_v1())).header("request_id", "r-1"))
            .await,
        publish_user_created(&publisher, typed::<UserCreatedV2>(user_v2())).await,
        publish_order_placed(&publisher, typed::<OrderPlacedV1>(order())).await,
        publish_user_deleted(&publisher, typed::<UserDeletedV1>(deleted())).await,
    ]
    .map(|published| published.unwrap().id);
    let after = now_millis();
    let mut spec = setup.peer_spec("attributes");
    spec["handles"] = json!(ROUTES);
    spec["expect"] = json!(4);
    let got = sorted(peer::consume(spec).await);
    let expected = [
        (&ids[0], "user-created", "1.1", user_v1(), json!({"request_id": "r-1"})),
        (&ids[1], "user-created", "2.0", user_v2(), json!({})),
        (&ids[2], "order.placed", "1.0", order(), json!({})),
        (&ids[3], "user_deleted", "1.0", deleted(), json!({})),
    ]
    .map(|(id, message_type, version, data, headers)| {
        json!({"id": id, "type": message_type, "version": version, "data": data, "publisher": PUBLISHER,
               "headers": headers})
    });
    let mut expected = sorted(expected.to_vec());
    for (expected, got) in expected.iter_mut().zip(&got) {
        let timestamp = got["timestamp"].as_i64().unwrap_or_default();
        assert!(
            (before..=after).contains(&timestamp),
            "timestamp {timestamp} outside the publish ({before}..={after})"
        );
        expected["timestamp"] = json!(timestamp);
    }
    assert_eq!(got, expected);
}

/// Ids that are not UUIDs (attributes mode allows any string) travel both ways unchanged.
/// Each direction has its own queue: the Pub/Sub emulator may keep sending to a consumer's
/// closed stream (shared/EMULATORS.md).
async fn ids_that_are_not_uuids(broker: Broker) {
    let setup = Setup::new(broker, &[("user-created", 1)]).await;
    let mut spec = setup.peer_spec("attributes");
    spec["publisher"] = json!(REFERENCE);
    spec["messages"] = json!([{"type": "user-created", "version": "1.0", "data": user_v1(), "id": "order-42:retry/1"}]);
    let sent = peer::publish(spec).await;
    let observed = Observed::default();
    let mut router = Router::new();
    observed.route::<UserCreatedV1>(&mut router);
    assert_eq!(observed.drain(&setup.consumer(router).await, 1).await, sent);

    let setup = Setup::new(broker, &[("user-created", 1)]).await;
    let publisher = setup.publisher(Encoding::Attributes);
    let outgoing = Outgoing::new(typed::<UserCreatedV1>(user_v1())).id("evt_01HZX8/7");
    assert_eq!(publish_user_created(&publisher, outgoing).await.unwrap().id, "evt_01HZX8/7");
    let mut spec = setup.peer_spec("attributes");
    spec["handles"] = json!([["user-created", 1]]);
    spec["expect"] = json!(1);
    assert_eq!(peer::consume(spec).await[0]["id"], "evt_01HZX8/7");
}

/// hedwig-go's container (capitalised metadata keys, `Headers` left out when empty; one
/// header only in the container) and, on Pub/Sub, no `hedwig_encoding` (hedwig-go and
/// hedwig-rust do not send it), in both modes.
async fn what_other_libraries_send(broker: Broker) {
    let setup = Setup::new(broker, &[("user-created", 1)]).await;
    let topic = setup.topic("user-created", 1);
    let schema = format!("{}#/schemas/user-created/1.0", SCHEMA_ROOT);
    let go_container = |id: &str, metadata: Value| {
        json!({"format_version": "1.0", "schema": schema, "id": id, "metadata": metadata, "data": user_v1()})
            .to_string()
    };
    let ids = ["0b9e6bde-0c3c-4c73-9d3a-2f8d3f0a4c11", "5f1c0a2e-3b7d-4e9a-8c6f-1d2e3f4a5b6c", "hedwig-rust-1"];
    let raw = json!([
        {"topic": topic, "attributes": {"request_id": "go-1"},
         "body": go_container(ids[0], json!({"Timestamp": 1795463616122_i64, "Publisher": "goapp", "Headers": {"request_id": "go-1", "origin": "hedwig-go"}}))},
        {"topic": topic, "attributes": {},
         "body": go_container(ids[1], json!({"Timestamp": 1795463616123_i64, "Publisher": "goapp"}))},
        {"topic": topic, "body": user_v1().to_string(), "attributes": {
            "hedwig_format_version": "1.0", "hedwig_id": ids[2], "hedwig_message_timestamp": "1795463616124",
            "hedwig_publisher": "rustapp", "hedwig_schema": schema, "request_id": "rs-1"}},
    ]);
    let mut spec = setup.peer_spec("attributes");
    spec["raw"] = raw;
    peer::raw(spec).await;
    let observed = Observed::default();
    let mut router = Router::new();
    observed.route::<UserCreatedV1>(&mut router);
    let mut got = observed.drain(&setup.consumer(router).await, 3).await;
    got.sort_by_key(|m| m["timestamp"].as_i64());
    let expected: Vec<Value> = [
        (ids[0], 1795463616122_i64, "goapp", json!({"request_id": "go-1", "origin": "hedwig-go"})),
        (ids[1], 1795463616123, "goapp", json!({})),
        (ids[2], 1795463616124, "rustapp", json!({"request_id": "rs-1"})),
    ]
    .into_iter()
    .map(|(id, timestamp, publisher, headers)| {
        json!({"id": id, "type": "user-created", "version": "1.0", "data": user_v1(), "publisher": publisher,
               "timestamp": timestamp, "headers": headers})
    })
    .collect();
    assert_eq!(got, expected);
}

macro_rules! per_broker {
    ($($check:ident: $sns:ident, $pubsub:ident;)*) => {$(
        #[tokio::test]
        async fn $sns() {
            $check(Broker::Sns).await;
        }
        #[tokio::test]
        async fn $pubsub() {
            $check(Broker::PubSub).await;
        }
    )*};
}

per_broker! {
    reference_types_reach_owlpost: reference_types_majors_and_newer_minor_reach_owlpost_sns,
        reference_types_majors_and_newer_minor_reach_owlpost_pubsub;
    owlpost_types_reach_the_reference: owlpost_types_and_majors_reach_the_reference_sns,
        owlpost_types_and_majors_reach_the_reference_pubsub;
    ids_that_are_not_uuids: ids_that_are_not_uuids_cross_both_ways_sns, ids_that_are_not_uuids_cross_both_ways_pubsub;
    what_other_libraries_send: hedwig_go_and_rust_messages_are_read_sns, hedwig_go_and_rust_messages_are_read_pubsub;
}
