//! A consumer in a process of its own, for the fault suite (`tests/tests/aws.rs`), which
//! kills it with SIGKILL: consumes the SQS queue `HEDWIG-<ARG 1>` of the emulator the
//! environment names, `max_in_flight` 8, each handler taking ARG 2 milliseconds; prints
//! `started <id>` as a handler starts and `handled <id>` as it returns. Runs until killed.

use std::time::Duration;

use owlpost::aws::Aws;
use owlpost::{Consumer, ConsumerSettings, Received, Router};
use owlpost_e2e::messages::UserCreatedV1;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (queue, millis) = (args.next().expect("a queue"), args.next().and_then(|m| m.parse().ok()).unwrap_or(1000));
    let account = std::env::var("OWLPOST_TEST_AWS_ACCOUNT").unwrap_or_else(|_| "000000000000".into());
    let source =
        Aws::from_env(account).await.source(&queue).await.expect("the queue").with_wait_time(Duration::from_secs(1));
    let mut router = Router::new();
    router.route(move |message: Received<UserCreatedV1>| async move {
        println!("started {}", message.metadata.id);
        tokio::time::sleep(Duration::from_millis(millis)).await;
        println!("handled {}", message.metadata.id);
        Ok(())
    });
    let settings = ConsumerSettings { max_in_flight: 8, ..ConsumerSettings::default() };
    let consumer = Consumer::new(source, router).with_settings(settings);
    consumer.run_until(std::future::pending()).await.expect("the consumer ran");
}
