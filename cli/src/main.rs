//! `owlpost`: the command line for the people who own the schemas and run the services.
//!
//! Every subcommand prints a one-line error plus details on failure and exits non-zero
//! (1 for failures and findings, 2 for usage errors); `owlpost <command> --help` shows an
//! example.

mod backend;
mod catalogue;
mod check;
mod failure;
mod generate;
mod templates;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::failure::Failure;

/// Typed Hedwig messaging and Taskhawk tasks: generate client crates, check and evolve
/// schemas, provision brokers, re-queue dead letters, publish a catalogue.
#[derive(Parser)]
#[command(name = "owlpost", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a standalone typed client crate for a schema file (Hedwig messages or Taskhawk tasks).
    #[command(
        after_help = "Example:\n  owlpost generate --schema schemas/example.json --out crates/example-messages --publisher signup\n  owlpost generate --schema schemas/tasks.json --out crates/billing-tasks --name billing-tasks --publisher billing"
    )]
    Generate(generate::Args),
    /// Checks schema files the way the build does, plus lint warnings.
    #[command(
        after_help = "Example:\n  owlpost check schemas/*.json\n\nExit status 1 when a file has an error (or a warning, with --deny-warnings)."
    )]
    Check(check::CheckArgs),
    /// Checks that NEW evolves OLD compatibly (minor bumps for compatible changes, new majors for breaking ones).
    #[command(
        after_help = "Example:\n  git show main:schemas/example.json > /tmp/released.json\n  owlpost compat /tmp/released.json schemas/example.json\n\nExit status 1 on a breaking change or a missing version bump."
    )]
    Compat(check::CompatArgs),
    /// Creates the topics, queue, subscriptions and dead-letter queue of a service, or of each
    /// priority of a Taskhawk service with --tasks (idempotent).
    #[command(
        after_help = "Example:\n  owlpost provision --backend aws --queue mailer --consume user-created-v1 --publish email-sent-v1 --dry-run\n  owlpost provision --backend gcp --project my-project --tasks billing --priority high --priority default"
    )]
    Provision(backend::ProvisionArgs),
    /// Moves every message of a queue's dead-letter queue back to the queue; with --tasks,
    /// each priority's dead letters back to that priority's queue.
    #[command(
        name = "requeue-dlq",
        after_help = "Example:\n  owlpost requeue-dlq --backend gcp --project my-project --queue mailer\n  owlpost requeue-dlq --backend aws --tasks billing --priority bulk"
    )]
    RequeueDlq(backend::RequeueArgs),
    /// Writes a message or task catalogue (HTML, markdown, AsyncAPI 3.0) for schema files.
    #[command(
        after_help = "Example:\n  owlpost docs schemas/example.json --out target/catalogue\n  owlpost docs schemas/example.json schemas/tasks.json --queue billing --out target/catalogue"
    )]
    Docs(catalogue::Args),
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: owlpost crashed; this is a bug, please report it\n  {info}");
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate::run(&args),
        Command::Check(args) => check::check(&args),
        Command::Compat(args) => check::compat(&args),
        Command::Provision(args) => backend::provision(&args),
        Command::RequeueDlq(args) => backend::requeue(&args),
        Command::Docs(args) => catalogue::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::FAILURE
        }
    }
}

/// A path argument as the user wrote it, for messages.
fn shown(path: &std::path::Path) -> String {
    path.display().to_string()
}

/// Reads a file or fails with its name.
fn read(path: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::new(format!("cannot read {}: {e}", shown(path))))
}
