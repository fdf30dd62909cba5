//! `owlpost provision` and `owlpost requeue-dlq` against the local emulators (started by
//! `cargo xtask ci`, or `cargo xtask emulators` with what it prints exported), for Hedwig
//! queues and for Taskhawk priority queues (`--tasks`).

use assert_cmd::Command;
use owlpost::taskhawk::{Dispatcher, DynamicTask, Priority, TaskhawkNaming};
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

#[tokio::test]
async fn aws_task_queues_are_provisioned_per_priority_and_dead_letters_go_back_to_their_priority() {
    let account = aws_account();
    let service = unique("clitasks");
    let provision = [
        "provision",
        "--backend",
        "aws",
        "--account-id",
        &account,
        "--tasks",
        &service,
        "--priority",
        "high",
        "--priority",
        "bulk",
    ];
    for _ in 0..2 {
        let (ok, stdout, stderr) = run(&provision);
        assert!(ok && stdout.contains("provisioned"), "{stdout}{stderr}");
        assert!(!stdout.contains("priority default"), "only the priorities asked for:\n{stdout}");
    }
    let aws = owlpost::aws::Aws::from_env(account.clone()).await.with_naming(&TaskhawkNaming);
    let sqs = aws_sdk_sqs::Client::new(aws.sdk_config());
    let url = |name: String| {
        let sqs = sqs.clone();
        async move { sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.unwrap() }
    };
    let high = url(format!("TASKHAWK-{}-HIGH-PRIORITY", service.to_uppercase())).await;
    let bulk = url(format!("TASKHAWK-{}-BULK", service.to_uppercase())).await;
    // A task dispatched at high priority reaches the high-priority queue through its topic.
    let dispatcher = Dispatcher::new(service.clone(), aws.sink());
    let task = DynamicTask {
        task: "billing.tasks.charge_card".into(),
        priority: Some(Priority::High),
        input: serde_json::json!({"invoice_id": "INV-1", "amount_cents": 5, "currency": "EUR"}),
        id: None,
        headers: Default::default(),
        due: None,
    };
    dispatcher.dispatch_dynamic(&tasks_schema(), task).await.expect("dispatched to the provisioned topic");
    let received = sqs.receive_message().queue_url(&high).wait_time_seconds(5).send().await.unwrap();
    let received = received.messages.unwrap_or_default();
    assert_eq!(received.len(), 1, "the high-priority subscription delivers");
    sqs.delete_message().queue_url(&high).receipt_handle(received[0].receipt_handle().unwrap()).send().await.unwrap();

    // Dead letters of each priority go back to that priority's queue.
    for (queue, count) in [(&high, 2), (&bulk, 1)] {
        let dlq = url(format!("{}-DLQ", queue.rsplit('/').next().unwrap())).await;
        for n in 0..count {
            sqs.send_message().queue_url(&dlq).message_body(format!("{{\"n\":{n}}}")).send().await.unwrap();
        }
    }
    let requeue = [
        "requeue-dlq",
        "--backend",
        "aws",
        "--account-id",
        &account,
        "--tasks",
        &service,
        "--priority",
        "bulk",
        "--priority",
        "high",
    ];
    let (ok, stdout, stderr) = run(&requeue);
    assert!(ok, "{stdout}{stderr}");
    let upper = service.to_uppercase();
    assert_eq!(
        stdout,
        format!(
            "priority high: re-queued 2 message(s) from TASKHAWK-{upper}-HIGH-PRIORITY-DLQ to TASKHAWK-{upper}-HIGH-PRIORITY\n\
             priority bulk: re-queued 1 message(s) from TASKHAWK-{upper}-BULK-DLQ to TASKHAWK-{upper}-BULK\n"
        )
    );
    let back = sqs.receive_message().queue_url(&bulk).wait_time_seconds(5).send().await.unwrap();
    assert_eq!(back.messages.unwrap_or_default()[0].body(), Some("{\"n\":0}"), "the bulk dead letter is back in bulk");
    let (ok, stdout, _) = run(&requeue);
    assert!(ok && stdout.matches("re-queued 0 message(s)").count() == 2, "{stdout}");
    // A priority that was never provisioned is an error naming it.
    let (ok, _, stderr) = run(&["requeue-dlq", "--backend", "aws", "--account-id", &account, "--tasks", &service]);
    assert!(!ok && stderr.starts_with("error: priority default: re-queueing failed"), "{stderr}");
}

#[tokio::test]
async fn gcp_task_queues_are_provisioned_per_priority_and_dead_letters_go_back_to_their_priority() {
    let project = gcp_project();
    let service = unique("clitasks");
    let provision = ["provision", "--backend", "gcp", "--project", &project, "--tasks", &service];
    for _ in 0..2 {
        let (ok, stdout, stderr) = run(&provision);
        assert!(ok && stdout.contains("provisioned"), "{stdout}{stderr}");
        assert_eq!(stdout.matches("creating (unless it exists)").count(), 4, "every priority by default:\n{stdout}");
    }
    let gcp = owlpost::gcp::Gcp::from_env(project.clone()).await.unwrap().with_naming(&TaskhawkNaming);
    let sink = gcp.sink();
    for (priority, count) in [(Priority::Low, 3), (Priority::High, 1)] {
        for n in 0..count {
            let wire = WireMessage { body: format!("{{\"n\":{n}}}").into_bytes(), attributes: Default::default() };
            let topic = format!("{}-dlq", priority.queue(&service));
            owlpost::Sink::publish(&sink, &topic, &wire).await.expect("the dead-letter topic exists");
        }
    }
    let requeue = ["requeue-dlq", "--backend", "gcp", "--project", &project, "--tasks", &service];
    let (ok, stdout, stderr) = run(&requeue);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        format!(
            "priority high: re-queued 1 message(s) from taskhawk-{service}-high-priority-dlq to taskhawk-{service}-high-priority\n\
             priority default: re-queued 0 message(s) from taskhawk-{service}-dlq to taskhawk-{service}\n\
             priority low: re-queued 3 message(s) from taskhawk-{service}-low-priority-dlq to taskhawk-{service}-low-priority\n\
             priority bulk: re-queued 0 message(s) from taskhawk-{service}-bulk-dlq to taskhawk-{service}-bulk\n"
        )
    );
    let (ok, stdout, _) = run(&requeue);
    assert!(ok && stdout.matches("re-queued 0 message(s)").count() == 4, "{stdout}");
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

fn tasks_schema() -> owlpost::Schema {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/tasks.json");
    owlpost::Schema::from_json("tasks.json", &std::fs::read_to_string(path).unwrap()).unwrap()
}

fn example_schema() -> owlpost::Schema {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/example.json");
    owlpost::Schema::from_json("example.json", &std::fs::read_to_string(path).unwrap()).unwrap()
}
