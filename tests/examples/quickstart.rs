//! Quickstart: the generated API of `schemas/example.json` on the embedded in-memory broker.
//!
//! `cargo run -p owlpost-e2e --example quickstart`
//!
//! The build script generated `owlpost_e2e::messages` from the schema. Here a "signup"
//! service publishes two `user-created` messages (major 1 and major 2), a "mailer" service
//! consumes them through its typed handler, and an invalid payload is refused at publish.

use owlpost::memory::MemoryBroker;
use owlpost::{Consumer, HandlerResult, Outgoing, Publisher, Received, Router};
use owlpost_e2e::messages::{
    Plan, UserCreatedHandler, UserCreatedV1, UserCreatedV2, UserCreatedV2Name, publish_user_created,
    register_user_created,
};

/// The mailer's handler: one method per major version of `user-created`.
struct WelcomeMailer;

impl UserCreatedHandler for WelcomeMailer {
    async fn user_created_v1(&self, message: Received<UserCreatedV1>) -> HandlerResult {
        let user = &message.data;
        println!(
            "mailer: v{} from {:?}: welcome {} <{}> on plan {}",
            message.version, message.metadata.publisher, *user.user_id, user.email, user.plan
        );
        Ok(())
    }

    async fn user_created_v2(&self, message: Received<UserCreatedV2>) -> HandlerResult {
        let user = &message.data;
        println!(
            "mailer: v{} from {:?}: welcome {} ({}), headers {:?}",
            message.version, message.metadata.publisher, *user.name.given, *user.user_id, message.metadata.headers
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The broker: each major has its own topic (`user-created-v1`, `-v2`); the mailer's
    // queue subscribes to both.
    let broker = MemoryBroker::new();
    broker.subscribe("user-created-v1", "mailer");
    broker.subscribe("user-created-v2", "mailer");

    // Publishing: typed payloads, validated against the schema before they are sent.
    let publisher = Publisher::new("signup", broker.clone());
    let v1 =
        UserCreatedV1 { user_id: "U_1001".parse()?, email: "ada@example.com".into(), plan: Plan::Pro, referrer: None };
    let sent = publish_user_created(&publisher, v1).await?;
    println!("signup: published user-created 1.1 as {} to {}", sent.id, sent.topic);

    let v2 = UserCreatedV2 {
        user_id: "U_1002".parse()?,
        name: UserCreatedV2Name { given: "Grace".parse()?, family: Some("Hopper".into()) },
        plan: Plan::Free,
        address: None,
    };
    let sent = publish_user_created(&publisher, Outgoing::new(v2).header("request_id", "req-42")).await?;
    println!("signup: published user-created 2.0 as {} to {}", sent.id, sent.topic);

    // The schema also checks what the types cannot: `email` must be an e-mail address.
    let invalid =
        UserCreatedV1 { user_id: "U_1003".parse()?, email: "not-an-email".into(), plan: Plan::Free, referrer: None };
    match publish_user_created(&publisher, invalid).await {
        Err(error) => println!("signup: refused as expected: {error}"),
        Ok(sent) => return Err(format!("an invalid message was published: {sent:?}").into()),
    }

    // Consuming: route every major of `user-created` to the mailer, then poll once.
    let mut router = Router::new();
    register_user_created(&mut router, WelcomeMailer);
    let consumer = Consumer::new(broker.source("mailer"), router);
    let processed = consumer.poll().await?;
    let acked = processed.iter().filter(|p| p.outcome.is_acked()).count();
    println!("mailer: handled {} messages, acknowledged {acked}", processed.len());
    if acked != 2 {
        return Err(format!("expected 2 acknowledged messages, got {processed:?}").into());
    }
    Ok(())
}
