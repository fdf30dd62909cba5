//! The AsyncAPI 3.0 document of a schema file: a channel per topic (`<type>-v<major>`), a
//! `send` operation per channel, and a message per major whose payload is the major's
//! JSON schema (draft as declared by the file), definitions under `components.schemas`.
//!
//! For a task schema: a channel per priority queue its tasks use by default (addressed by
//! the priority's topic), a `send` operation per task, and a message per task whose
//! payload is the task's input schema, i.e. the Taskhawk body's `kwargs`: the rest of the
//! body is the same for every task (TASKHAWK.md §1), as Hedwig's envelope is not part of a
//! message's payload either. A schedule is a `send` operation of its own on its priority's
//! channel, with its cadence, time zone and input under `x-owlpost-schedule`.

use std::collections::BTreeSet;

use owlpost::taskhawk::Priority;
use owlpost_codegen::model::Model;
use serde_json::{Map, Value, json};

use super::tasks;

/// The AsyncAPI document; `service` is the service queue task names are built from.
pub fn document(model: &Model, service: &str) -> Value {
    let document = model.schema.document();
    let format = match document.value.get("$schema").and_then(Value::as_str) {
        Some(url) if url.contains("draft-04") => "application/schema+json;version=draft-04",
        Some(url) if url.contains("draft-06") => "application/schema+json;version=draft-06",
        _ => "application/schema+json;version=draft-07",
    };
    let (mut channels, mut operations, mut messages) = (Map::new(), Map::new(), Map::new());
    for message in &model.messages {
        for major in &message.majors {
            let topic = &major.topic;
            let key = key(&format!("{}.v{}", message.message_type, major.major));
            let channel = key.replace('.', "-");
            let mut payload = major.schema.clone();
            rewrite_refs(&mut payload, model);
            if let Some(fields) = payload.as_object_mut() {
                fields.remove("x-version");
                fields.remove("x-versions");
            }
            let mut entry = json!({
                "name": message.message_type,
                "title": format!("{} {}", message.message_type, major.latest),
                "contentType": "application/json",
                "payload": {"schemaFormat": format, "schema": payload},
                "x-hedwig-schema": format!("{}#/schemas/{}/{}", model.root, message.message_type, major.latest),
            });
            if let Some(description) = &major.description {
                entry["summary"] = json!(description);
            }
            let example = owlpost_codegen::example::payload(document, &major.schema);
            if model.schema.validate(&message.message_type, major.latest, &example).is_ok() {
                entry["examples"] = json!([{"name": "derived", "payload": example}]);
            }
            messages.insert(key.clone(), entry);
            channels.insert(
                channel.clone(),
                json!({
                    "address": topic,
                    "messages": {key.clone(): {"$ref": format!("#/components/messages/{key}")}},
                }),
            );
            operations.insert(
                format!("publish-{channel}"),
                json!({
                    "action": "send",
                    "channel": {"$ref": format!("#/channels/{channel}")},
                    "messages": [{"$ref": format!("#/channels/{channel}/messages/{key}")}],
                }),
            );
        }
    }
    let priorities: BTreeSet<Priority> = model
        .tasks
        .iter()
        .map(|task| task.priority)
        .chain(model.schema.schedules().map(|schedule| schedule.priority))
        .collect();
    for priority in priorities {
        let names = tasks::QueueNames::new(service, priority);
        let sent_there = |task: &&owlpost_codegen::model::TaskDef| {
            task.priority == priority || model.schema.schedules().any(|s| s.priority == priority && s.task == task.name)
        };
        let keys = model.tasks.iter().filter(sent_there).map(|t| key(&t.name));
        let refs: Map<String, Value> =
            keys.map(|key| (key.clone(), json!({"$ref": format!("#/components/messages/{key}")}))).collect();
        channels.insert(
            format!("priority-{priority}"),
            json!({
                "address": names.sns_topic,
                "description": format!(
                    "Tasks of priority `{priority}`: SNS topic `{}` delivering to SQS queue `{}`; Pub/Sub topic `{}` with subscription `{}`.",
                    names.sns_topic, names.sqs_queue, names.pubsub_topic, names.pubsub_subscription
                ),
                "messages": refs,
            }),
        );
    }
    for task in &model.tasks {
        let key = key(&task.name);
        let channel = format!("priority-{}", task.priority);
        let mut payload = task.input.clone();
        rewrite_refs(&mut payload, model);
        let mut entry = json!({
            "name": task.name,
            "title": format!("{} {}", task.name, task.latest),
            "contentType": "application/json",
            "payload": {"schemaFormat": format, "schema": payload},
            "x-taskhawk-task": task.name,
            "x-taskhawk-priority": task.priority.as_str(),
            "x-owlpost-schema": model.schema.task_url(&task.name),
        });
        if let Some(description) = &task.description {
            entry["summary"] = json!(description);
        }
        let (example, valid) = tasks::example(model, task);
        if valid {
            entry["examples"] = json!([{"name": "derived", "payload": example}]);
        }
        messages.insert(key.clone(), entry);
        operations.insert(
            format!("dispatch-{key}"),
            json!({
                "action": "send",
                "channel": {"$ref": format!("#/channels/{channel}")},
                "summary": format!("Dispatches `{}` (to another priority's channel when the dispatch sets one).", task.name),
                "messages": [{"$ref": format!("#/channels/{channel}/messages/{key}")}],
            }),
        );
    }
    for schedule in model.schema.schedules() {
        let key = key(&schedule.task);
        let channel = format!("priority-{}", schedule.priority);
        let mut operation = json!({
            "action": "send",
            "channel": {"$ref": format!("#/channels/{channel}")},
            "summary": format!("The broker's scheduler dispatches `{}` {}.", schedule.task, schedule.cadence),
            "messages": [{"$ref": format!("#/channels/{channel}/messages/{key}")}],
            "x-owlpost-schedule": {
                "cadence": schedule.cadence.to_string(),
                "timezone": schedule.time_zone,
                "input": schedule.input,
                "headers": schedule.headers,
            },
        });
        if let Some(description) = &schedule.description {
            operation["description"] = json!(description);
        }
        operations.insert(format!("schedule-{}", schedule.name), operation);
    }
    // Definitions keep their JSON Schema draft: each is a multi-format schema object.
    let mut schemas = Map::new();
    for definition in &model.definitions {
        let mut value = definition.schema.clone();
        rewrite_refs(&mut value, model);
        schemas.insert(
            key(definition.pointer.trim_start_matches("/definitions/")),
            json!({"schemaFormat": format, "schema": value}),
        );
    }
    let mut info = json!({"title": model.file_name, "version": "1.0.0"});
    if let Some(description) = model.description.clone() {
        info["description"] = json!(description);
    }
    json!({
        "asyncapi": "3.0.0",
        "id": model.root,
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    })
}

/// A component key: AsyncAPI allows `[A-Za-z0-9._-]`.
fn key(name: &str) -> String {
    name.replace("~1", ".")
        .replace("~0", "-")
        .replace('/', ".")
        .replace(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)), "-")
}

/// `#/definitions/X/1.0[/rest]` (or the same with the root URL) →
/// `#/components/schemas/X.1.0/schema[/rest]`.
fn rewrite_refs(value: &mut Value, model: &Model) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some((pointer, _)) = model.schema.document().resolve_ref(reference)
                && let Some((definition, rest)) = model.definitions.iter().find_map(|d| {
                    let rest = pointer.strip_prefix(d.pointer.as_str())?;
                    (rest.is_empty() || rest.starts_with('/')).then_some((d, rest))
                })
            {
                let name = key(definition.pointer.trim_start_matches("/definitions/"));
                *reference = format!("#/components/schemas/{name}/schema{rest}");
            }
            map.values_mut().for_each(|child| rewrite_refs(child, model));
        }
        Value::Array(items) => items.iter_mut().for_each(|child| rewrite_refs(child, model)),
        _ => {}
    }
}
