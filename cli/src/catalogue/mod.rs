//! `owlpost docs`: a catalogue per schema file: `<stem>.html` and `<stem>.md` (message
//! types and majors, or tasks with their priority queues; fields, an example checked
//! against the schema, a Mermaid diagram of the topics or queues) and
//! `<stem>.asyncapi.json` (AsyncAPI 3.0).

mod asyncapi;
mod fields;
mod tasks;

use std::path::{Path, PathBuf};

use owlpost_codegen::model::Model;
use serde::Serialize;

use crate::failure::Failure;
use crate::{shown, templates};

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
    /// The directory to write the catalogue into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
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
    mermaid: String,
    messages: Vec<MessagePage>,
    tasks: Vec<tasks::TaskPage>,
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
    versions: String,
    description: String,
    topic: String,
    type_name: String,
    fields: Vec<fields::Field>,
    example: String,
    example_valid: bool,
}

pub fn run(args: &Args) -> Result<(), Failure> {
    // Every file is read and checked before anything is written.
    let mut outputs = Vec::new();
    for path in &args.files {
        let model = Model::build(&owlpost_codegen::parse::read(path)?)?;
        let stem = Path::new(&model.file_name).file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if outputs.iter().any(|(name, _): &(String, String)| *name == format!("{stem}.html")) {
            return Err(Failure::new(format!(
                "two schema files are named {stem}: their catalogues would overwrite each other"
            ))
            .details(["document them into separate --out directories"]));
        }
        let service = args.queue.as_deref().unwrap_or(tasks::PLACEHOLDER);
        let page = page(&model, &format!("{stem}.asyncapi.json"), service);
        let asyncapi = serde_json::to_string_pretty(&asyncapi::document(&model, service)).unwrap_or_default() + "\n";
        outputs.push((format!("{stem}.html"), templates::render("docs/catalogue.html", &page)?));
        outputs.push((format!("{stem}.md"), templates::render("docs/catalogue.md", &page)?));
        outputs.push((format!("{stem}.asyncapi.json"), asyncapi));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| Failure::new(format!("cannot create {}: {e}", shown(&args.out))))?;
    for (name, contents) in outputs {
        let target = args.out.join(name);
        std::fs::write(&target, contents).map_err(|e| Failure::new(format!("cannot write {}: {e}", shown(&target))))?;
        println!("wrote {}", shown(&target));
    }
    Ok(())
}

fn page(model: &Model, asyncapi: &str, service: &str) -> Page {
    let document = model.schema.document();
    let mut mermaid = vec!["flowchart LR".to_owned()];
    let messages = model
        .messages
        .iter()
        .map(|message| MessagePage {
            message_type: message.message_type.clone(),
            majors: message
                .majors
                .iter()
                .map(|major| {
                    let topic = major.topic.clone();
                    let node = mermaid.len();
                    mermaid.push(format!(
                        "  m{node}[\"{} {}.*\"] -- publish --> t{node}[[\"{topic}\"]]",
                        message.message_type, major.major
                    ));
                    let example = owlpost_codegen::example::payload(document, &major.schema);
                    let example_valid = model.schema.validate(&message.message_type, major.latest, &example).is_ok();
                    MajorPage {
                        anchor: format!("{}-v{}", message.message_type, major.major).replace(['.', '_'], "-"),
                        major: major.major,
                        latest: major.latest.to_string(),
                        versions: versions(&major.schema),
                        description: major.description.clone().unwrap_or_default(),
                        topic,
                        type_name: major.type_name.clone(),
                        fields: fields::list(document, &major.schema),
                        example: serde_json::to_string_pretty(&example).unwrap_or_default(),
                        example_valid,
                    }
                })
                .collect(),
        })
        .collect();
    let tasks = tasks::pages(model, service, &mut mermaid);
    let (title, diagram) =
        if tasks.is_empty() { ("Message catalogue", "Topics") } else { ("Task catalogue", "Queues") };
    Page {
        title,
        diagram,
        file: model.file_name.clone(),
        root: model.root.clone(),
        description: model.description.clone().unwrap_or_default(),
        asyncapi: asyncapi.to_owned(),
        mermaid: mermaid.join("\n"),
        messages,
        tasks,
        service: service.to_owned(),
    }
}

/// `x-versions` as written, or only `x-version`.
fn versions(schema: &serde_json::Value) -> String {
    let listed = schema
        .get("x-versions")
        .and_then(|v| v.as_array())
        .map(|versions| versions.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "));
    listed.or_else(|| schema.get("x-version").and_then(|v| v.as_str()).map(str::to_owned)).unwrap_or_default()
}
