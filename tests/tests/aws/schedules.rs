//! EventBridge Scheduler on ministack: a delay past SQS's limit becomes a one-shot `at()`
//! schedule that fires once at its time and deletes itself, and a schedule declared in
//! `schemas/tasks.json` is created, fires its task, is updated, and is removed and stops firing.

use std::time::{Duration, Instant, SystemTime};

use owlpost::taskhawk::{OutgoingTask, Priority, Schedule, Task};
use owlpost::{Broker, Cadence, ConsumerSettings, ScheduledMessage};
use owlpost_e2e::tasks::*;
use serde_json::json;

use super::SqsTasks;
use crate::support::suite::run_until_within;
use crate::support::task_suite::{self, Billing, TaskFixture, rebuild, succeed};

/// Any role: ministack checks that there is one, AWS that it may send to the queues.
const ROLE: &str = "arn:aws:iam::000000000000:role/owlpost-scheduler";
/// ministack's scheduler looks for due schedules every 10 s.
const TICK: Duration = Duration::from_secs(10);

fn scheduler(f: &SqsTasks) -> aws_sdk_scheduler::Client {
    aws_sdk_scheduler::Client::new(f.broker().sdk_config())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_past_the_queue_limit_is_a_one_shot_schedule_that_fires_once_at_its_time() {
    let f = SqsTasks::new().await;
    let aws = f.broker().clone().with_max_queue_delay(Duration::ZERO).with_scheduler_role(ROLE);
    let dispatcher = owlpost::taskhawk::Dispatcher::new(f.service(), aws.sink());
    let delay = Duration::from_secs(5);
    let start = Instant::now();
    let task = OutgoingTask::new(rebuild(7)).priority(Priority::High).at(SystemTime::now() + delay);
    let sent = dispatch_rebuild(&dispatcher, task).await.unwrap();
    assert!(sent.broker_id.starts_with("owlpost-delay-"), "{sent:?}");
    let schedule = scheduler(&f).get_schedule().name(&sent.broker_id).send().await.unwrap();
    assert!(schedule.schedule_expression().unwrap_or_default().starts_with("at("), "{schedule:?}");
    assert_eq!(schedule.action_after_completion().map(|a| a.as_str()), Some("DELETE"));

    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = task_suite::worker(&f, billing.router(), ConsumerSettings::default()).await;
    run_until_within(&consumer, &billing, delay + 3 * TICK, |b| b.finished().len() == 1).await;
    let quiet = Instant::now() + TICK + Duration::from_secs(2);
    run_until_within(&consumer, &billing, 2 * TICK, |_| Instant::now() > quiet).await;
    let runs = billing.runs();
    assert_eq!(runs.len(), 1, "once: {runs:?}");
    assert_eq!((runs[0].id.as_str(), runs[0].priority), (sent.id.as_str(), Priority::High));
    assert_eq!(runs[0].input, json!({"month": "2026-07"}));
    let late = runs[0].at.checked_duration_since(start + delay).expect("not before its time");
    println!("a task delayed {delay:?} through EventBridge Scheduler ran {late:?} after its time (ticks of {TICK:?})");
    assert!(late <= TICK + Duration::from_secs(3), "ran {late:?} after its time");
    let gone = scheduler(&f).get_schedule().name(&sent.broker_id).send().await;
    assert!(gone.is_err(), "the one-shot schedule deleted itself: {gone:?}");
}

/// A schedule of `schemas/tasks.json` with `cadence` and `input`, for `f`'s service.
fn declared(f: &SqsTasks, name: &str, cadence: &str, input: serde_json::Value) -> ScheduledMessage {
    let schedule = schema().schedules().find(|s| s.name == name).unwrap().clone();
    let input = input.as_object().unwrap().clone();
    let schedule = Schedule { cadence: Cadence::rate(cadence).unwrap(), input, ..schedule };
    schedule.scheduled_message(f.service()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_schedule_fires_its_task_then_is_updated_and_removed_and_stops_firing() {
    let f = SqsTasks::new().await;
    let aws = f.broker().clone().with_scheduler_role(ROLE);
    let service = f.service().to_owned();
    let minute = Duration::from_secs(60);
    let reminders = |days| declared(&f, "weekday-reminders", "1 minute", json!({"days": days}));
    let sweep = declared(&f, "late-sweep", "6 hours", json!({"days": 90}));

    let refused = f.broker().schedule(&service, &[reminders(30)]).await.unwrap_err();
    assert!(refused.to_string().contains("with_scheduler_role"), "without a role to send as: {refused}");

    let created = Instant::now();
    let report = aws.schedule(&service, &[reminders(30), sweep.clone()]).await.unwrap();
    assert_eq!((report.created.len(), report.updated.len(), report.deleted.len()), (2, 0, 0), "{report:?}");
    let again = aws.schedule(&service, &[reminders(30), sweep]).await.unwrap();
    assert_eq!((again.created.len(), again.updated.len()), (0, 2), "idempotent: {again:?}");

    let billing = Billing::new(Duration::ZERO, succeed);
    let consumer = task_suite::worker(&f, billing.router(), ConsumerSettings::default()).await;
    run_until_within(&consumer, &billing, minute + 3 * TICK, |b| b.finished().len() == 1).await;
    let first = billing.runs().remove(0);
    assert_eq!((first.task, first.priority), (RemindOverdueInput::NAME, Priority::Low), "{first:?}");
    assert_eq!(first.input, json!({"days": 30}));
    assert_eq!(first.headers.get("source").map(String::as_str), Some("schedule"));
    let late = first.at.checked_duration_since(created + minute).expect("not before its time");
    println!("rate(1 minute) on EventBridge Scheduler fired {late:?} after its time (id {:?})", first.id);
    assert!(late <= TICK + Duration::from_secs(3), "fired {late:?} late");

    // Updated (new input), the other schedule of the service deleted.
    let report = aws.schedule(&service, &[reminders(31)]).await.unwrap();
    assert_eq!(
        (report.updated.as_slice(), report.deleted.as_slice()),
        (&["weekday-reminders".to_owned()][..], &["late-sweep".to_owned()][..])
    );
    run_until_within(&consumer, &billing, minute + 3 * TICK, |b| b.finished().len() == 2).await;
    let second = billing.runs().remove(1);
    assert_eq!(second.input, json!({"days": 31}), "the update took effect");

    // Removed: no further firing a minute and a tick later.
    let report = aws.schedule(&service, &[]).await.unwrap();
    assert_eq!(report.deleted, ["weekday-reminders"]);
    let quiet = Instant::now() + minute + TICK + Duration::from_secs(2);
    run_until_within(&consumer, &billing, minute + 3 * TICK, |_| Instant::now() > quiet).await;
    assert_eq!(billing.runs().len(), 2, "stopped firing: {:?}", billing.runs());
}
