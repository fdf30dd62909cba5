//! `owlpost docs`: a catalogue per schema file:
//! - `<stem>.html`, one self-contained page (styles, diagram and filter inline; no network):
//!   an index with a filter box, a diagram drawn as SVG (publishers → topics → consumer
//!   queues, or dispatchers and schedules → priority queues → workers), each message major
//!   or task with its fields, an example checked against the schema and the version
//!   history, the definitions `$ref`s link to, and the schedules;
//! - `<stem>.md`, the same in markdown, with the diagram in Mermaid;
//! - `<stem>.asyncapi.json` and `<stem>.asyncapi.yaml`, AsyncAPI 3.0.

mod asyncapi;
mod diagram;
mod fields;
mod tasks;

use std::path::{Path, PathBuf};

use owlpost_codegen::model::{Definition, Model};
use serde::Serialize;

use crate::failure::Failure;
use crate::{shown, templates};
use diagram::{Graph, Node, Shape};

/// `owlpost docs`
#[derive(clap::Args)]
pub struct Args {
    /// Schema files to document: Hedwig schemas and Taskhawk task schemas.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The service queue of the task schemas' tasks, to name their SQS queues and topics
    /// (default: the placeholder `<queue>`).
    #[arg(long, value_name = "NAME")]
    queue: Option<String>,
    /// A service publishing to a topic, for the diagram (as `owlpost provision --publish`
    /// declares it): `SERVICE=TOPIC`; repeatable.
    #[arg(long = "publisher", value_name = "SERVICE=TOPIC", value_parser = pair)]
    publishers: Vec<(String, String)>,
    /// A service queue consuming a topic, for the diagram (as `owlpost provision --queue
    /// QUEUE --consume TOPIC` subscribes it): `QUEUE=TOPIC`; repeatable.
    #[arg(long = "consumer", value_name = "QUEUE=TOPIC", value_parser = pair)]
    consumers: Vec<(String, String)>,
    /// The directory to write the catalogue into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, topic)) if !name.is_empty() && !topic.is_empty() => Ok((name.to_owned(), topic.to_owned())),
        _ => Err(format!("`{text}` is not NAME=TOPIC")),
    }
}

#[derive(Serialize)]
struct Page {
    /// `Message catalogue` or `Task catalogue`.
    title: &'static str,
    /// What the diagram shows: `Topics` or `Queues`.
    diagram: &'static str,
    file: String,
    root: String,
    description: String,
    asyncapi: String,
    asyncapi_yaml: String,
    /// Links to them, relative and percent-encoded (a file name is not a URL).
    asyncapi_href: String,
    asyncapi_yaml_href: String,
    svg: String,
    mermaid: String,
    messages: Vec<MessagePage>,
    tasks: Vec<tasks::TaskPage>,
    schedules: Vec<tasks::SchedulePage>,
    definitions: Vec<DefinitionPage>,
    /// The service queue the task names are built from (`<queue>` unless given).
    service: String,
}

#[derive(Serialize)]
struct MessagePage {
    message_type: String,
    majors: Vec<MajorPage>,
}

#[derive(Serialize)]
struct MajorPage {
    anchor: String,
    major: u32,
    latest: String,
    /// `x-versions` as written (oldest first), or only `x-version`.
    versions: Vec<String>,
    description: String,
    topic: String,
    type_name: String,
    fields: Vec<fields::Field>,
    example: String,
    example_valid: bool,
}

/// A definition (`/definitions/UserId/1.0`), where the `$ref`s to it link.
#[derive(Serialize)]
struct DefinitionPage {
    anchor: String,
    /// As the schema names it: `UserId/1.0`.
    name: String,
    type_name: String,
    description: String,
    kind: String,
    constraints: String,
    fields: Vec<fields::Field>,
}

/// The id of an element of the page: `prefix` (each kind of entry has its own, so no entry
/// takes a fixed id such as `filter`) and `name`, with every character that is not an ASCII
/// letter or digit as `-`.
pub fn anchor(prefix: &str, name: &str) -> String {
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("{prefix}{name}")
}

pub fn run(args: &Args) -> Result<(), Failure> {
    // Every file is read and checked before anything is written.
    let mut outputs = Vec::new();
    let mut topics = Vec::new();
    for path in &args.files {
        let model = Model::build(&owlpost_codegen::parse::read(path)?)?;
        topics.extend(model.messages.iter().flat_map(|m| &m.majors).map(|major| major.topic.clone()));
        let stem = Path::new(&model.file_name).file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if outputs.iter().any(|(name, _): &(String, String)| *name == format!("{stem}.html")) {
            return Err(Failure::new(format!(
                "two schema files are named {stem}: their catalogues would overwrite each other"
            ))
            .details(["document them into separate --out directories"]));
        }
        let service = args.queue.as_deref().unwrap_or(tasks::PLACEHOLDER);
        let page = page(&model, &stem, service, args);
        let asyncapi = asyncapi::document(&model, service);
        let yaml = yaml_serde::to_string(&asyncapi)
            .map_err(|e| Failure::new(format!("cannot write {stem}.asyncapi.yaml (a bug in owlpost): {e}")))?;
        outputs.push((format!("{stem}.html"), templates::render("docs/catalogue.html", &page)?));
        outputs.push((format!("{stem}.md"), templates::render("docs/catalogue.md", &page)?));
        outputs.push((
            format!("{stem}.asyncapi.json"),
            serde_json::to_string_pretty(&asyncapi).unwrap_or_default() + "\n",
        ));
        outputs.push((format!("{stem}.asyncapi.yaml"), yaml));
    }
    for (flag, (name, topic)) in args
        .publishers
        .iter()
        .map(|declared| ("--publisher", declared))
        .chain(args.consumers.iter().map(|declared| ("--consumer", declared)))
    {
        if !topics.contains(topic) {
            return Err(Failure::new(format!(
                "{flag} {name}={topic}: no message major of the schema files is published on topic {topic}"
            ))
            .details([format!("the topics: {}", topics.join(", "))]));
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|e| Failure::new(format!("cannot create {}: {e}", shown(&args.out))))?;
    for (name, contents) in outputs {
        let target = args.out.join(name);
        std::fs::write(&target, contents).map_err(|e| Failure::new(format!("cannot write {}: {e}", shown(&target))))?;
        println!("wrote {}", shown(&target));
    }
    Ok(())
}

fn page(model: &Model, stem: &str, service: &str, args: &Args) -> Page {
    let document = model.schema.document();
    let messages: Vec<MessagePage> = model
        .messages
        .iter()
        .map(|message| MessagePage {
            message_type: message.message_type.clone(),
            majors: message
                .majors
                .iter()
                .map(|major| {
                    let example = owlpost_codegen::example::payload(document, &major.schema);
                    let example_valid = model.schema.validate(&message.message_type, major.latest, &example).is_ok();
                    MajorPage {
                        anchor: anchor("message-", &format!("{}-v{}", message.message_type, major.major)),
                        major: major.major,
                        latest: major.latest.to_string(),
                        versions: versions(&major.schema),
                        description: major.description.clone().unwrap_or_default(),
                        topic: major.topic.clone(),
                        type_name: major.type_name.clone(),
                        fields: fields::list(document, &major.schema),
                        example: serde_json::to_string_pretty(&example).unwrap_or_default(),
                        example_valid,
                    }
                })
                .collect(),
        })
        .collect();
    let tasks = tasks::pages(model, service);
    let schedules = tasks::schedules(model);
    let graph = if model.tasks.is_empty() {
        message_graph(model, &messages, args)
    } else {
        tasks::graph(model, &tasks, &schedules, service)
    };
    let (title, diagram) =
        if tasks.is_empty() { ("Message catalogue", "Topics") } else { ("Task catalogue", "Queues") };
    Page {
        title,
        diagram,
        file: model.file_name.clone(),
        root: model.root.clone(),
        description: model.description.clone().unwrap_or_default(),
        asyncapi: format!("{stem}.asyncapi.json"),
        asyncapi_yaml: format!("{stem}.asyncapi.yaml"),
        asyncapi_href: href(&format!("{stem}.asyncapi.json")),
        asyncapi_yaml_href: href(&format!("{stem}.asyncapi.yaml")),
        svg: graph.svg(),
        mermaid: graph.mermaid(),
        messages,
        tasks,
        schedules,
        definitions: model.definitions.iter().map(|definition| definition_page(model, definition)).collect(),
        service: service.to_owned(),
    }
}

/// Publishers → topics → consumer queues. A topic no `--publisher` names is drawn with its
/// message major as its publisher: whoever calls the generated `publish_…()`.
fn message_graph(model: &Model, pages: &[MessagePage], args: &Args) -> Graph {
    let mut graph = Graph::new(&["Publishers", "Topics", "Consumer queues"]);
    for (message, page) in model.messages.iter().zip(pages) {
        for (major, major_page) in message.majors.iter().zip(&page.majors) {
            let topic = format!("topic:{}", major.topic);
            let link = Some(major_page.anchor.clone());
            let declared: Vec<&String> =
                args.publishers.iter().filter(|(_, t)| *t == major.topic).map(|(service, _)| service).collect();
            for service in &declared {
                let id = format!("service:{service}");
                graph.node(
                    0,
                    Node {
                        id: id.clone(),
                        label: (*service).clone(),
                        detail: Some("service".into()),
                        link: None,
                        shape: Shape::Actor,
                    },
                );
                graph.edge(&id, &topic);
            }
            if declared.is_empty() {
                let id = format!("major:{}", major_page.anchor.trim_start_matches("message-"));
                let label = format!("{} {}.*", message.message_type, major.major);
                let detail = Some(format!("{}()", message.names.publish));
                graph.node(0, Node { id: id.clone(), label, detail, link: link.clone(), shape: Shape::Actor });
                graph.edge(&id, &topic);
            }
            let detail = Some(format!("{} {}.*", message.message_type, major.major));
            graph.node(1, Node { id: topic.clone(), label: major.topic.clone(), detail, link, shape: Shape::Channel });
            for (queue, _) in args.consumers.iter().filter(|(_, t)| *t == major.topic) {
                let id = format!("queue:{queue}");
                graph.node(
                    2,
                    Node {
                        id: id.clone(),
                        label: queue.clone(),
                        detail: Some("consumer queue".into()),
                        link: None,
                        shape: Shape::Channel,
                    },
                );
                graph.edge(&topic, &id);
            }
        }
    }
    graph
}

fn definition_page(model: &Model, definition: &Definition) -> DefinitionPage {
    let name = fields::definition_name(&definition.pointer);
    let map = definition.schema.as_object().cloned().unwrap_or_default();
    DefinitionPage {
        anchor: anchor("definition-", &name),
        type_name: definition.type_name.clone(),
        description: map.get("description").and_then(|d| d.as_str()).unwrap_or_default().to_owned(),
        kind: fields::kind(&map),
        constraints: fields::constraints(&map),
        fields: fields::list(model.schema.document(), &definition.schema),
        name,
    }
}

/// A relative link to the file `name` next to the page: `./` and the name with every byte
/// that is not unreserved in a URL percent-encoded.
fn href(name: &str) -> String {
    let mut link = String::from("./");
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            link.push(char::from(byte));
        } else {
            link.push_str(&format!("%{byte:02X}"));
        }
    }
    link
}

/// `x-versions` as written, or only `x-version`.
fn versions(schema: &serde_json::Value) -> Vec<String> {
    let listed = schema
        .get("x-versions")
        .and_then(|v| v.as_array())
        .map(|versions| versions.iter().filter_map(|v| v.as_str()).map(str::to_owned).collect::<Vec<_>>());
    listed.or_else(|| schema.get("x-version").and_then(|v| v.as_str()).map(|v| vec![v.to_owned()])).unwrap_or_default()
}
