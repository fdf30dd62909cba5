//! Both brokers behind one shape for the interop tests: a fresh Hedwig queue consuming one
//! fresh topic per route ([`Setup`]), or a fresh Taskhawk service's four priority queues
//! ([`TaskSetup`]), provisioned by owlpost (so the reference library also checks owlpost's
//! naming of topics, queues and subscriptions), owlpost's side on it, and the broker part of
//! the peer's spec.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use owlpost::aws::Aws;
use owlpost::gcp::{Gcp, SubscribeSettings};
use owlpost::taskhawk::{self, Dispatcher, Priority, TaskRouter, TaskhawkNaming};
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
        self.consumer_with(router, SubscribeSettings { wait: WAIT, ..SubscribeSettings::default() }).await
    }

    /// As [`Setup::consumer`], reading Pub/Sub with `settings` (SQS has none of them).
    pub async fn consumer_with(&self, router: Router, settings: SubscribeSettings) -> Consumer {
        match &self.client {
            Client::Aws(aws) => {
                let queue = aws.source(&self.queue).await.unwrap().with_wait_time(WAIT);
                Consumer::new(queue, router)
            }
            Client::Gcp(gcp) => {
                let consumes: Vec<_> = self.routes.iter().map(|(_, _, topic)| ConsumedTopic::new(topic)).collect();
                Consumer::new(gcp.source(&self.queue, &consumes, settings).await.unwrap(), router)
            }
        }
    }

    /// The broker part of a peer spec in `mode` ("attributes" or "container"): settings,
    /// routes, and the queue with its topics.
    pub fn peer_spec(&self, mode: &str) -> Value {
        let routes: Vec<_> = self.routes.iter().map(|(t, major, topic)| json!([t, major, topic])).collect();
        let topics: Vec<_> = self.routes.iter().map(|(_, _, topic)| topic).collect();
        let mut spec = broker_spec(self.broker);
        spec["mode"] = json!(mode);
        spec["routes"] = json!(routes);
        spec["queue"] = json!(self.queue);
        spec["topics"] = json!(topics);
        spec
    }
}

/// The broker part of every peer spec: `backend`, and how to reach the emulator.
fn broker_spec(broker: Broker) -> Value {
    match broker {
        Broker::Sns => json!({"backend": "aws", "aws": {
            "endpoint": std::env::var("AWS_ENDPOINT_URL").unwrap(),
            "region": std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            "account": aws_account(),
        }}),
        Broker::PubSub => json!({"backend": "gcp", "gcp": {"project": gcp_project()}}),
    }
}

/// A fresh Taskhawk service: its four priority queues, each with its topic and dead-letter
/// queue, provisioned by owlpost with [`TaskhawkNaming`].
pub struct TaskSetup {
    /// Where its tasks travel.
    pub broker: Broker,
    /// The service queue name (`TASKHAWK_QUEUE` for taskhawk-python).
    pub queue: String,
    client: Client,
}

impl TaskSetup {
    /// Provisions `taskhawk::provisioning(queue, priority)` for every priority of a new queue.
    pub async fn new(broker: Broker) -> Self {
        let queue = unique("th");
        let client = match broker {
            Broker::Sns => Client::Aws(Box::new(Aws::from_env(aws_account()).await.with_naming(&TaskhawkNaming))),
            Broker::PubSub => Client::Gcp(Gcp::from_env(gcp_project()).await.unwrap().with_naming(&TaskhawkNaming)),
        };
        for priority in Priority::ALL {
            let plan = taskhawk::provisioning(&queue, priority);
            match &client {
                Client::Aws(aws) => aws.provision(&plan).await,
                Client::Gcp(gcp) => gcp.provision(&plan).await,
            }
            .unwrap_or_else(|e| panic!("provisioning {priority} of {queue} on {broker:?}: {e}"));
        }
        Self { broker, queue, client }
    }

    /// owlpost's dispatcher for the service.
    pub fn dispatcher(&self) -> Dispatcher {
        match &self.client {
            Client::Aws(aws) => Dispatcher::new(&self.queue, aws.sink()),
            Client::Gcp(gcp) => Dispatcher::new(&self.queue, gcp.sink()),
        }
    }

    /// owlpost's worker: one consumer over the four priority queues ([`taskhawk::sources`]).
    pub async fn worker(&self, router: TaskRouter) -> Consumer {
        let queues = Priority::ALL.map(|priority| (priority, priority.queue(&self.queue)));
        let sources = match &self.client {
            Client::Aws(aws) => {
                let mut sources = Vec::new();
                for (priority, queue) in queues {
                    sources.push((priority, aws.source(&queue).await.unwrap().with_wait_time(WAIT)));
                }
                taskhawk::sources(sources)
            }
            Client::Gcp(gcp) => {
                let settings = SubscribeSettings { wait: WAIT, ..SubscribeSettings::default() };
                let mut sources = Vec::new();
                for (priority, queue) in queues {
                    let source = gcp.source(&queue, &[ConsumedTopic::new(&queue)], settings).await.unwrap();
                    sources.push((priority, source));
                }
                taskhawk::sources(sources)
            }
        };
        Consumer::new(sources, router)
    }

    /// Where a raw message of `priority` goes `via` the broker's API, in owlpost's names:
    /// the SQS queue (`sqs`), the SNS topic's ARN (`sns`) or the Pub/Sub topic's full name.
    pub fn raw_target(&self, via: &str, priority: Priority) -> String {
        let queue = priority.queue(&self.queue);
        match (&self.client, via) {
            (Client::Aws(aws), "sqs") => aws.layout().queue_name(&queue),
            (Client::Aws(aws), "sns") => aws.layout().topic_arn(&queue),
            (Client::Gcp(gcp), "pubsub") => gcp.layout().topic_path(&queue),
            _ => panic!("no {via} on {:?}", self.broker),
        }
    }

    /// The peer spec of the service: the broker part, the queue, and `tasks` (`[name,
    /// default priority]`) registered by the peer.
    pub fn peer_spec(&self, tasks: &[(&str, Priority)]) -> Value {
        let mut spec = broker_spec(self.broker);
        spec["queue"] = json!(self.queue);
        spec["tasks"] = tasks.iter().map(|(name, priority)| json!([name, priority.as_str()])).collect();
        spec
    }
}

/// How long owlpost's receives wait for a message.
const WAIT: Duration = Duration::from_secs(1);

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

    /// Records `observed` (a task, see `tasks.rs`).
    pub fn record(&self, observed: Value) {
        self.0.lock().unwrap().push(observed);
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

    /// Like [`Observed::drain`], then polls on for 3 s more: fails unless exactly `count`
    /// messages were handled.
    pub async fn drain_exactly(&self, consumer: &Consumer, count: usize) -> Vec<Value> {
        self.drain(consumer, count).await;
        let quiet = Instant::now() + Duration::from_secs(3);
        while let Some(left) = quiet.checked_duration_since(Instant::now()) {
            let batch = tokio::time::timeout(left, consumer.poll()).await.unwrap_or_else(|_quiet| Ok(Vec::new()));
            for processed in batch.expect("receive") {
                assert!(matches!(processed.outcome, Outcome::Acked), "owlpost did not accept a message: {processed:?}");
            }
        }
        let handled = self.0.lock().unwrap().clone();
        assert_eq!(handled.len(), count, "owlpost handled {} messages, not {count}: {handled:#?}", handled.len());
        handled
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
