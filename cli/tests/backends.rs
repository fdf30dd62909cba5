//! `owlpost provision` and `owlpost requeue-dlq` against the local emulators (started by
//! `cargo xtask ci`, or `cargo xtask emulators` with what it prints exported).

use assert_cmd::Command;
use owlpost::{Publisher, WireMessage};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let output = Command::cargo_bin("owlpost").unwrap().args(args).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn aws_account() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "run against the emulator: `cargo xtask ci`, or export what `cargo xtask emulators` prints"
    );
    std::env::var("OWLPOST_TEST_AWS_ACCOUNT").unwrap_or_else(|_| "000000000000".into())
}

fn gcp_project() -> String {
    let host = std::env::var("PUBSUB_EMULATOR_HOST").unwrap_or_default();
    assert!(
        host.starts_with("127.0.0.1:"),
        "run against the emulator: `cargo xtask ci`, or export what `cargo xtask emulators` prints"
    );
    std::env::var("OWLPOST_TEST_GCP_PROJECT").unwrap_or_else(|_| "owlpost-test".into())
}

#[tokio::test]
async fn aws_provision_is_idempotent_and_dead_letters_are_requeued_with_a_count() {
    let account = aws_account();
    let queue = unique("cli");
    let provision =
        ["provision", "--backend", "aws", "--account-id", &account, "--queue", &queue, "--consume", "user-created-v1"];
    for _ in 0..2 {
        let (ok, stdout, stderr) = run(&provision);
        assert!(ok && stdout.contains("provisioned"), "{stdout}{stderr}");
    }
    // The provisioned topic delivers to the provisioned queue.
    let aws = owlpost::aws::Aws::from_env(account.clone()).await;
    let sqs_queue = aws.source(&queue).await.expect("the queue exists");
    let publisher = Publisher::new("cli-test", aws.sink());
    let message = owlpost::DynamicMessage {
        message_type: "user-created".into(),
        version: owlpost::Version::new(1, 0),
        data: serde_json::json!({"user_id": "U_1", "email": "a@example.com", "plan": "pro"}),
        id: None,
        headers: Default::default(),
    };
    publisher.publish_dynamic(&example_schema(), message).await.expect("published to the provisioned topic");
    let sqs = aws_sdk_sqs::Client::new(aws.sdk_config());
    let received = sqs.receive_message().queue_url(sqs_queue.url()).wait_time_seconds(5).send().await.unwrap();
    assert_eq!(received.messages.unwrap_or_default().len(), 1, "the subscription delivers");

    // Three dead letters go back to the queue; a second run finds none.
    let dlq = sqs.get_queue_url().queue_name(aws.layout().dead_letter_queue_name(&queue)).send().await.unwrap();
    for n in 0..3 {
        sqs.send_message()
            .queue_url(dlq.queue_url().unwrap())
            .message_body(format!("{{\"n\":{n}}}"))
            .send()
            .await
            .unwrap();
    }
    let requeue = ["requeue-dlq", "--backend", "aws", "--account-id", &account, "--queue", &queue];
    let (ok, stdout, stderr) = run(&requeue);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("re-queued 3 message(s) from HEDWIG-{queue}-DLQ to HEDWIG-{queue}")), "{stdout}");
    let (ok, stdout, _) = run(&requeue);
    assert!(ok && stdout.contains("re-queued 0 message(s)"), "{stdout}");
}

#[tokio::test]
async fn gcp_provision_is_idempotent_and_dead_letters_are_requeued_with_a_count() {
    let project = gcp_project();
    let queue = unique("cli");
    let provision = [
        "provision",
        "--backend",
        "gcp",
        "--project",
        &project,
        "--queue",
        &queue,
        "--consume",
        "user-created-v1",
        "--publish",
        "order.placed-v1",
    ];
    for _ in 0..2 {
        let (ok, stdout, stderr) = run(&provision);
        assert!(ok && stdout.contains("provisioned"), "{stdout}{stderr}");
    }
    // Dead letters published to the provisioned dead-letter topic reach its subscription,
    // and go back to the queue; a second run finds none.
    let gcp = owlpost::gcp::Gcp::from_env(project.clone()).await.unwrap();
    let sink = gcp.sink();
    for n in 0..3 {
        let wire = WireMessage { body: format!("{{\"n\":{n}}}").into_bytes(), attributes: Default::default() };
        owlpost::Sink::publish(&sink, &format!("{queue}-dlq"), &wire).await.expect("the dead-letter topic exists");
    }
    let requeue = ["requeue-dlq", "--backend", "gcp", "--project", &project, "--queue", &queue];
    let (ok, stdout, stderr) = run(&requeue);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(&format!("re-queued 3 message(s) from hedwig-{queue}-dlq to hedwig-{queue}")), "{stdout}");
    let (ok, stdout, _) = run(&requeue);
    assert!(ok && stdout.contains("re-queued 0 message(s)"), "{stdout}");
}

#[test]
fn an_unreachable_broker_is_a_one_line_error() {
    let output = Command::cargo_bin("owlpost")
        .unwrap()
        .args(["provision", "--backend", "gcp", "--project", "p", "--queue", "q"])
        .env("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: provisioning failed\n  "), "{stderr}");
}

fn example_schema() -> owlpost::Schema {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/example.json");
    owlpost::Schema::from_json("example.json", &std::fs::read_to_string(path).unwrap()).unwrap()
}
