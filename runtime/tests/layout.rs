//! Every backend's layout from one `Provisioning`: Hedwig's names, plans that need no
//! connection, another account's or project's topics subscribed to and never created, a
//! protocol's own naming; and the in-memory broker as a `Broker` (provision, re-queue).

use std::time::Duration;

use owlpost::memory::MemoryBroker;
use owlpost::{Broker, ConsumedTopic, HedwigNaming, Layout, Naming, Provisioning, Source, WireMessage};

fn provisioning() -> Provisioning {
    Provisioning {
        consumes: vec![ConsumedTopic::new("user-created-v1"), ConsumedTopic::parse("other/order-placed-v1")],
        publishes: vec!["email-sent-v1".into(), "user-created-v1".into()],
        max_deliveries: 3,
        lease: Some(Duration::from_secs(45)),
        ..Provisioning::new("mailer")
    }
}

#[test]
fn topics_are_created_once_and_foreign_ones_never() {
    assert_eq!(provisioning().owned_topics(), ["email-sent-v1", "user-created-v1"]);
    assert_eq!(ConsumedTopic::parse("p/t"), ConsumedTopic::foreign("p", "t"));
    assert_eq!(ConsumedTopic::parse("t"), ConsumedTopic::new("t"));
}

#[test]
fn hedwig_names_every_resource() {
    let naming = HedwigNaming;
    assert_eq!(naming.topic("user-created-v1"), "hedwig-user-created-v1");
    assert_eq!(naming.queue("MAILER"), "HEDWIG-MAILER");
    assert_eq!(naming.dead_letter_queue("MAILER"), "HEDWIG-MAILER-DLQ");
    assert_eq!(naming.subscription("mailer", &ConsumedTopic::new("t-v1")), "hedwig-mailer-t-v1");
    assert_eq!(naming.subscription("mailer", &ConsumedTopic::foreign("p", "t-v1")), "hedwig-mailer-p-t-v1");
    assert_eq!(naming.queue_topic("mailer"), "hedwig-mailer");
    assert_eq!(naming.dead_letter_topic("mailer"), "hedwig-mailer-dlq");
    assert_eq!(owlpost::default_topic("user-created", 2), "user-created-v2");
    assert_eq!(naming.encoding_attribute(), "hedwig_encoding");
}

#[test]
fn the_memory_plan_lists_what_provisioning_creates() {
    let plan = MemoryBroker::new().plan(&provisioning());
    assert_eq!(
        plan,
        [
            "topic email-sent-v1",
            "topic user-created-v1",
            "queue mailer-dlq (dead-letter queue)",
            "queue mailer (visibility timeout 45 s; after 3 receives to mailer-dlq)",
            "subscription user-created-v1 → mailer",
            "subscription order-placed-v1 → mailer",
        ]
    );
}

/// A protocol with names of its own: nothing in a backend changes.
#[cfg(any(feature = "aws", feature = "gcp"))]
#[derive(Debug)]
struct Shouting;

#[cfg(any(feature = "aws", feature = "gcp"))]
impl Naming for Shouting {
    fn topic(&self, topic: &str) -> String {
        format!("loud-{topic}")
    }
    fn queue(&self, queue: &str) -> String {
        format!("LOUD-{queue}")
    }
    fn dead_letter_queue(&self, queue: &str) -> String {
        format!("LOUD-{queue}-DEAD")
    }
    fn subscription(&self, _queue: &str, topic: &ConsumedTopic) -> String {
        self.topic(&topic.topic)
    }
    fn queue_topic(&self, queue: &str) -> String {
        format!("loud-{queue}")
    }
    fn dead_letter_topic(&self, queue: &str) -> String {
        format!("loud-{queue}-dead")
    }
    fn encoding_attribute(&self) -> &'static str {
        "loud_encoding"
    }
}

#[cfg(feature = "aws")]
#[test]
fn the_aws_plan_uses_the_naming_and_subscribes_to_another_accounts_topic_by_arn() {
    use owlpost::aws::AwsLayout;
    let layout = AwsLayout::new("eu-west-1", "111111111111");
    assert_eq!(
        layout.plan(&provisioning()),
        [
            "SNS topic hedwig-email-sent-v1",
            "SNS topic hedwig-user-created-v1",
            "SQS queue HEDWIG-mailer-DLQ (dead-letter queue)",
            "SQS queue HEDWIG-mailer (visibility timeout 45 s; after 3 receives to HEDWIG-mailer-DLQ)",
            "SNS subscription hedwig-user-created-v1 → HEDWIG-mailer (raw delivery on)",
            "SNS subscription arn:aws:sns:eu-west-1:other:hedwig-order-placed-v1 → HEDWIG-mailer (raw delivery on)",
        ]
    );
    assert_eq!(layout.topic_arn("t"), "arn:aws:sns:eu-west-1:111111111111:hedwig-t");
    assert_eq!(layout.topic_arn("arn:aws:sns:x:2:y"), "arn:aws:sns:x:2:y", "an ARN route is used as it is");
    let loud = layout.with_naming(&Shouting);
    assert_eq!(loud.topic_arn("t"), "arn:aws:sns:eu-west-1:111111111111:loud-t");
    assert_eq!(
        (loud.queue_name("q"), loud.dead_letter_queue("q"), loud.requeue_target("q")),
        ("LOUD-q".to_owned(), "LOUD-q-DEAD".to_owned(), "LOUD-q".to_owned())
    );
}

#[cfg(feature = "gcp")]
#[test]
fn the_gcp_plan_uses_the_naming_and_subscribes_to_another_projects_topic() {
    use owlpost::gcp::GcpLayout;
    let layout = GcpLayout::new("mine");
    let deadline = "(ack deadline 45 s; after 5 deliveries to projects/mine/topics/hedwig-mailer-dlq)";
    assert_eq!(
        layout.plan(&provisioning()),
        [
            "topic projects/mine/topics/hedwig-email-sent-v1".to_owned(),
            "topic projects/mine/topics/hedwig-user-created-v1".to_owned(),
            "topic projects/mine/topics/hedwig-mailer".to_owned(),
            "topic projects/mine/topics/hedwig-mailer-dlq".to_owned(),
            "subscription projects/mine/subscriptions/hedwig-mailer-dlq on projects/mine/topics/hedwig-mailer-dlq (ack deadline 45 s)".to_owned(),
            format!("subscription projects/mine/subscriptions/hedwig-mailer on projects/mine/topics/hedwig-mailer {deadline}"),
            format!("subscription projects/mine/subscriptions/hedwig-mailer-user-created-v1 on projects/mine/topics/hedwig-user-created-v1 {deadline}"),
            format!("subscription projects/mine/subscriptions/hedwig-mailer-other-order-placed-v1 on projects/other/topics/hedwig-order-placed-v1 {deadline}"),
        ]
    );
    let loud = layout.with_naming(&Shouting);
    assert_eq!(loud.topic_path("t"), "projects/mine/topics/loud-t");
    assert_eq!(loud.subscription_id("q", &ConsumedTopic::new("t")), "loud-t");
    assert_eq!(
        (loud.dead_letter_queue("q"), loud.requeue_target("q")),
        ("loud-q-dead".to_owned(), "loud-q".to_owned())
    );
}

#[tokio::test]
async fn the_memory_broker_provisions_and_requeues_dead_letters_to_the_queue() {
    let broker = MemoryBroker::new();
    let plan = Provisioning { max_deliveries: 1, ..provisioning() };
    broker.provision(&plan).await.unwrap();
    broker.provision(&plan).await.expect("provisioning is idempotent");
    let wire = WireMessage { body: b"{}".to_vec(), attributes: [("k".to_owned(), "v".to_owned())].into() };
    owlpost::Sink::publish(&broker, "user-created-v1", &wire).await.expect("the topic exists");
    let source = broker.source("mailer");
    let first = source.receive(10).await.unwrap();
    source.nack(&first[0].ack_id, Duration::ZERO).await.unwrap();
    assert!(source.receive(10).await.unwrap().is_empty(), "after 1 delivery it went to the dead-letter queue");
    assert_eq!(broker.stats("mailer-dlq").map(|s| s.ready), Some(1));

    let mut reports = Vec::new();
    let report = broker.requeue_dead_letters("mailer", &mut |r| reports.push(r.moved)).await.unwrap();
    assert_eq!((report.moved, report.failed.len(), reports), (1, 0, vec![1]));
    let again = source.receive(10).await.unwrap();
    assert_eq!(again.len(), 1, "re-queued to the queue");
    assert_eq!(again[0].message, wire, "intact");
    assert_eq!(again[0].provider.delivery_attempt(), Some(1), "counted anew");
    let error = broker.requeue_dead_letters("nothing", &mut |_| {}).await.unwrap_err();
    assert!(matches!(error, owlpost::BackendError::QueueNotFound { .. }), "{error}");
}

#[tokio::test]
async fn memory_provisioning_leaves_an_existing_queue_and_requeues_from_its_own_dead_letter_queue() {
    use owlpost::memory::QueueConfig;
    let broker = MemoryBroker::new();
    let config = QueueConfig { dead_letter: Some(("q-dead".into(), 1)), ..QueueConfig::default() };
    broker.create_queue("q", config).unwrap();
    broker.subscribe("t", "q");
    owlpost::Sink::publish(&broker, "t", &WireMessage::default()).await.unwrap();
    let source = broker.source("q");
    let first = source.receive(1).await.unwrap();
    source.nack(&first[0].ack_id, Duration::ZERO).await.unwrap();
    assert!(source.receive(1).await.unwrap().is_empty(), "dead-lettered after 1 delivery");

    let plan = Provisioning { consumes: vec![ConsumedTopic::new("t")], ..Provisioning::new("q") };
    broker.provision(&plan).await.unwrap();
    assert_eq!(broker.dead_letter_queue("q"), "q-dead", "provisioning kept the queue's settings");
    let report = broker.requeue_dead_letters("q", &mut |_| {}).await.unwrap();
    assert_eq!((report.moved, broker.stats("q-dead").unwrap().ready), (1, 0));
    assert_eq!(source.receive(1).await.unwrap().len(), 1, "back in q");
}
