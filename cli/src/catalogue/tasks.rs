//! The task part of a catalogue: per task its names, default priority and the broker
//! names of that priority's queue (from the runtime's Taskhawk naming, as `provision`
//! creates them), its fields and an example input checked against the schema.

use owlpost::taskhawk::{Priority, TaskhawkNaming};
use owlpost::{ConsumedTopic, Naming};
use owlpost_codegen::model::{Model, TaskDef};
use serde::Serialize;

use super::fields;

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

/// The catalogue's tasks, adding a line per task (task → its priority's topic) to `mermaid`.
pub fn pages(model: &Model, service: &str, mermaid: &mut Vec<String>) -> Vec<TaskPage> {
    model
        .tasks
        .iter()
        .map(|task| {
            let queue = QueueNames::new(service, task.priority);
            // Mermaid reads `<…>` in a label as HTML: `#lt;`/`#gt;` are its escapes.
            let topic = queue.sns_topic.replace('<', "#lt;").replace('>', "#gt;");
            let (node, priority) = (mermaid.len(), queue.priority);
            mermaid.push(format!("  t{node}[\"{}\"] -- {priority} --> q_{priority}[[\"{topic}\"]]", task.name));
            let (example, example_valid) = example(model, task);
            TaskPage {
                anchor: task.name.replace(['.', '_'], "-"),
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
