//! The task part of a catalogue: per task its names, default priority and the broker
//! names of that priority's queue (from the runtime's Taskhawk naming, as `provision`
//! creates them), its fields and an example input checked against the schema; the
//! schedules; the diagram of dispatchers and schedules → priority queues → workers.

use std::collections::BTreeMap;

use owlpost::taskhawk::{Priority, TaskhawkNaming};
use owlpost::{ConsumedTopic, Naming};
use owlpost_codegen::model::{Model, TaskDef};
use serde::Serialize;

use super::diagram::{Graph, Node, Shape};
use super::{anchor, fields};

/// What the catalogue calls the service queue when `--queue` is not given.
pub const PLACEHOLDER: &str = "<queue>";

/// The broker names of one priority of a service's task queues.
#[derive(Serialize)]
pub struct QueueNames {
    /// `high`, `default`, `low` or `bulk`.
    pub priority: &'static str,
    /// The SNS topic tasks are dispatched to.
    pub sns_topic: String,
    /// The SQS queue subscribed to it, where workers read.
    pub sqs_queue: String,
    /// The Pub/Sub topic tasks are dispatched to.
    pub pubsub_topic: String,
    /// The Pub/Sub subscription workers read.
    pub pubsub_subscription: String,
}

impl QueueNames {
    /// The names of `priority`'s queue for the service queue `service`.
    pub fn new(service: &str, priority: Priority) -> Self {
        let queue = priority.queue(service);
        let naming = TaskhawkNaming;
        Self {
            priority: priority.as_str(),
            sns_topic: naming.topic(&queue),
            sqs_queue: naming.queue(&queue),
            pubsub_topic: naming.queue_topic(&queue),
            pubsub_subscription: naming.subscription(&queue, &ConsumedTopic::new(&queue)),
        }
    }
}

/// One task of the catalogue.
#[derive(Serialize)]
pub struct TaskPage {
    anchor: String,
    name: String,
    input: String,
    dispatch: String,
    handler: String,
    method: String,
    register: String,
    latest: String,
    description: String,
    queue: QueueNames,
    fields: Vec<fields::Field>,
    example: String,
    example_valid: bool,
}

/// The example input of a task, and whether it passes the task's schema.
pub fn example(model: &Model, task: &TaskDef) -> (serde_json::Value, bool) {
    let example = owlpost_codegen::example::payload(model.schema.document(), &task.input);
    let valid = model.schema.validate_task(&task.name, &example).is_ok();
    (example, valid)
}

/// One schedule of the catalogue.
#[derive(Serialize)]
pub struct SchedulePage {
    anchor: String,
    name: String,
    description: String,
    task: String,
    task_anchor: String,
    /// `cron(0 9 * * 1-5)` or `rate(6 hours)`.
    cadence: String,
    time_zone: String,
    priority: &'static str,
    input: String,
    headers: BTreeMap<String, String>,
}

/// The catalogue's tasks.
pub fn pages(model: &Model, service: &str) -> Vec<TaskPage> {
    model
        .tasks
        .iter()
        .map(|task| {
            let queue = QueueNames::new(service, task.priority);
            let (example, example_valid) = example(model, task);
            TaskPage {
                anchor: anchor("task-", &task.name),
                name: task.name.clone(),
                input: task.names.input.clone(),
                dispatch: task.names.dispatch.clone(),
                handler: task.names.handler.clone(),
                method: task.names.method.clone(),
                register: task.names.register.clone(),
                latest: task.latest.to_string(),
                description: task.description.clone().unwrap_or_default().replace('\n', " "),
                queue,
                fields: fields::list(model.schema.document(), &task.input),
                example: serde_json::to_string_pretty(&example).unwrap_or_default(),
                example_valid,
            }
        })
        .collect()
}

/// The schedules of the task schema, by name.
pub fn schedules(model: &Model) -> Vec<SchedulePage> {
    model
        .schema
        .schedules()
        .map(|schedule| SchedulePage {
            anchor: anchor("schedule-", &schedule.name),
            name: schedule.name.clone(),
            description: schedule.description.clone().unwrap_or_default(),
            task: schedule.task.clone(),
            task_anchor: anchor("task-", &schedule.task),
            cadence: schedule.cadence.to_string(),
            time_zone: schedule.time_zone.clone(),
            priority: schedule.priority.as_str(),
            input: serde_json::to_string_pretty(&schedule.input).unwrap_or_default(),
            headers: schedule.headers.clone(),
        })
        .collect()
}

/// Dispatchers (each task's `dispatch_…()`) and schedules → the priority queues they send
/// to (a task's default priority, a schedule's own) → the service's workers, which read all
/// four queues.
pub fn graph(model: &Model, tasks: &[TaskPage], schedules: &[SchedulePage], service: &str) -> Graph {
    let mut graph = Graph::new(&["Dispatchers and schedules", "Priority queues", "Workers"]);
    let worker = format!("worker:{service}");
    let queue_of = |graph: &mut Graph, priority: Priority| {
        let names = QueueNames::new(service, priority);
        let id = format!("queue:{}", names.priority);
        let node = Node {
            id: id.clone(),
            label: names.priority.into(),
            detail: Some(names.sns_topic),
            link: None,
            shape: Shape::Channel,
        };
        graph.node(1, node);
        id
    };
    // The queues first, most urgent on top, so the edges cross less.
    let used = |p: &Priority| {
        model.tasks.iter().any(|t| t.priority == *p) || model.schema.schedules().any(|s| s.priority == *p)
    };
    for &priority in Priority::ALL.iter().filter(|p| used(p)) {
        queue_of(&mut graph, priority);
    }
    for (task, page) in model.tasks.iter().zip(tasks) {
        let id = format!("task:{}", task.name);
        let node = Node {
            id: id.clone(),
            label: task.name.clone(),
            detail: Some(format!("{}()", page.dispatch)),
            link: Some(page.anchor.clone()),
            shape: Shape::Actor,
        };
        graph.node(0, node);
        let queue = queue_of(&mut graph, task.priority);
        graph.edge(&id, &queue);
    }
    for (schedule, page) in model.schema.schedules().zip(schedules) {
        let id = format!("schedule:{}", schedule.name);
        let node = Node {
            id: id.clone(),
            label: schedule.name.clone(),
            detail: Some(page.cadence.clone()),
            link: Some(page.anchor.clone()),
            shape: Shape::Schedule,
        };
        graph.node(0, node);
        let queue = queue_of(&mut graph, schedule.priority);
        graph.edge(&id, &queue);
    }
    let queues: Vec<String> = Priority::ALL.iter().map(|p| format!("queue:{}", p.as_str())).collect();
    graph.node(
        2,
        Node {
            id: worker.clone(),
            label: format!("workers of {service}"),
            detail: Some("taskhawk::sources(…)".into()),
            link: None,
            shape: Shape::Actor,
        },
    );
    for queue in &queues {
        graph.edge(queue, &worker);
    }
    graph
}
