//! Both brokers behind one shape for the interop tests: a fresh queue consuming one fresh
//! topic per route, provisioned by owlpost (so the reference library also checks owlpost's
//! naming of topics, queues and subscriptions), owlpost's publisher and consumer on it, and
//! the broker part of the peer's spec.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::aws::Aws;
use owlpost::gcp::{Gcp, SubscribeSettings};
use owlpost::wire::Encoding;
use owlpost::{Broker as _, ConsumedTopic, Consumer, Message, Outcome, Provisioning, Publisher, Received, Router};
use serde_json::{Value, json};

use crate::support::{aws_account, gcp_project, unique};

/// Where a cell's messages travel.
#[derive(Debug, Clone, Copy)]
pub enum Broker {
    /// SNS topics fanning out to an SQS queue (ministack).
    Sns,
    /// Google Cloud Pub/Sub (the official emulator).
    PubSub,
}

/// The name owlpost publishes under.
pub const PUBLISHER: &str = "owlpost-interop";

/// A provisioned queue consuming one topic per route.
pub struct Setup {
    pub broker: Broker,
    /// The Hedwig queue name.
    pub queue: String,
    /// `(message type, major, topic)`.
    pub routes: Vec<(String, u32, String)>,
    client: Client,
}

enum Client {
    Aws(Box<Aws>),
    Gcp(Gcp),
}

impl Setup {
    /// A fresh queue consuming a fresh topic for each `(message type, major)`.
    pub async fn new(broker: Broker, routes: &[(&str, u32)]) -> Self {
        let routes: Vec<_> = routes.iter().map(|(t, major)| (t.to_string(), *major, unique("it"))).collect();
        let topics = routes.iter().map(|(_, _, topic)| topic.clone());
        let (queue, client) = match broker {
            Broker::Sns => {
                let aws = Aws::from_env(aws_account()).await;
                let mut plan = Provisioning::new(unique("IQ"));
                plan.consumes.extend(topics.map(ConsumedTopic::new));
                aws.provision(&plan).await.expect("provisioning SNS/SQS");
                (plan.queue, Client::Aws(Box::new(aws)))
            }
            Broker::PubSub => {
                let gcp = Gcp::from_env(gcp_project()).await.unwrap();
                let mut plan = Provisioning::new(unique("iq"));
                plan.consumes.extend(topics.map(ConsumedTopic::new));
                gcp.provision(&plan).await.expect("provisioning Pub/Sub");
                (plan.queue, Client::Gcp(gcp))
            }
        };
        Self { broker, queue, routes, client }
    }

    /// The topic of `(message type, major)`.
    pub fn topic(&self, message_type: &str, major: u32) -> &str {
        let route = self.routes.iter().find(|(t, m, _)| t == message_type && *m == major);
        &route.unwrap_or_else(|| panic!("no route for {message_type} v{major}")).2
    }

    /// owlpost's publisher, routing every message to its topic, in `encoding`.
    pub fn publisher(&self, encoding: Encoding) -> Publisher {
        let publisher = match &self.client {
            Client::Aws(aws) => Publisher::new(PUBLISHER, aws.sink()),
            Client::Gcp(gcp) => Publisher::new(PUBLISHER, gcp.sink()),
        };
        self.routes
            .iter()
            .fold(publisher, |p, (t, major, topic)| p.with_route(t.clone(), *major, topic.clone()))
            .with_encoding(encoding)
    }

    /// owlpost's consumer on the queue, with `router`.
    pub async fn consumer(&self, router: Router) -> Consumer {
        match &self.client {
            Client::Aws(aws) => {
                let queue = aws.source(&self.queue).await.unwrap().with_wait_time(Duration::from_secs(1));
                Consumer::new(queue, router)
            }
            Client::Gcp(gcp) => {
                let consumes: Vec<_> = self.routes.iter().map(|(_, _, topic)| ConsumedTopic::new(topic)).collect();
                let settings = SubscribeSettings { wait: Duration::from_secs(1), ..SubscribeSettings::default() };
                Consumer::new(gcp.source(&self.queue, &consumes, settings).await.unwrap(), router)
            }
        }
    }

    /// The broker part of a peer spec in `mode` ("attributes" or "container"): settings,
    /// routes, and the queue with its topics.
    pub fn peer_spec(&self, mode: &str) -> Value {
        let routes: Vec<_> = self.routes.iter().map(|(t, major, topic)| json!([t, major, topic])).collect();
        let topics: Vec<_> = self.routes.iter().map(|(_, _, topic)| topic).collect();
        let mut spec = json!({"mode": mode, "routes": routes, "queue": self.queue, "topics": topics});
        match self.broker {
            Broker::Sns => {
                spec["backend"] = json!("aws");
                spec["aws"] = json!({
                    "endpoint": std::env::var("AWS_ENDPOINT_URL").unwrap(),
                    "region": std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
                    "account": aws_account(),
                });
            }
            Broker::PubSub => {
                spec["backend"] = json!("gcp");
                spec["gcp"] = json!({"project": gcp_project()});
            }
        }
        spec
    }
}

/// What owlpost's handlers received, as observed messages (the peer's shape).
#[derive(Clone, Default)]
pub struct Observed(Arc<Mutex<Vec<Value>>>);

impl Observed {
    /// Routes messages of `M` to this recorder.
    pub fn route<M: Message + serde::Serialize>(&self, router: &mut Router) {
        let sink = self.0.clone();
        router.route(move |received: Received<M>| {
            sink.lock().unwrap().push(observe(&received));
            async { Ok(()) }
        });
    }

    /// Polls `consumer` until `count` messages were handled (30 s at most); fails on the
    /// first message that was not acknowledged, with its outcome.
    pub async fn drain(&self, consumer: &Consumer, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.0.lock().unwrap().len() < count {
            assert!(Instant::now() < deadline, "owlpost handled {} of {count}", self.0.lock().unwrap().len());
            for processed in consumer.poll().await.expect("receive") {
                assert!(matches!(processed.outcome, Outcome::Acked), "owlpost did not accept a message: {processed:?}");
            }
        }
        self.0.lock().unwrap().clone()
    }
}

/// A received message in the peer's shape.
fn observe<M: serde::Serialize>(received: &Received<M>) -> Value {
    let m = &received.metadata;
    let message_type = m.schema.rsplit('/').nth(1).unwrap_or_default();
    json!({
        "id": m.id,
        "type": message_type,
        "version": received.version.to_string(),
        "data": serde_json::to_value(&received.data).unwrap(),
        "publisher": m.publisher,
        "timestamp": m.timestamp,
        "headers": m.headers,
    })
}
