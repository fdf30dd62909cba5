//! `owlpost check` and `owlpost compat`.

use std::path::PathBuf;

use owlpost_codegen::compat::Verdict;
use owlpost_codegen::lint::{self, Severity};

use crate::failure::Failure;

/// `owlpost check FILE...`
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Schema files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Fails on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

/// `owlpost compat OLD NEW`
#[derive(clap::Args)]
pub struct CompatArgs {
    /// The schema file as released (e.g. from the main branch).
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The schema file as changed.
    #[arg(value_name = "NEW")]
    new: PathBuf,
}

/// Prints every diagnostic of every file, then a summary.
pub fn check(args: &CheckArgs) -> Result<(), Failure> {
    let (mut errors, mut warnings) = (0, 0);
    for file in &args.files {
        for diagnostic in lint::check(file) {
            match diagnostic.severity {
                Severity::Error => errors += 1,
                _ => warnings += 1,
            }
            println!("{diagnostic}");
        }
    }
    let files = args.files.len();
    let summary = format!("{errors} error(s), {warnings} warning(s) in {files} file(s)");
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        return Err(Failure::new(format!("check failed: {summary}")));
    }
    println!("{summary}");
    Ok(())
}

/// Prints every change with its verdict; fails on a breaking change or a version error.
pub fn compat(args: &CompatArgs) -> Result<(), Failure> {
    let changes = owlpost_codegen::compare_files(&args.old, &args.new)?;
    println!("{} → {}", args.old.display(), args.new.display());
    for change in &changes {
        println!("{change}");
    }
    let count = |verdict| changes.iter().filter(|c| c.verdict == verdict).count();
    let summary = format!(
        "{} breaking, {} version error(s), {} compatible",
        count(Verdict::Breaking),
        count(Verdict::Version),
        count(Verdict::Compatible)
    );
    let failing: Vec<_> = changes.iter().filter(|c| c.verdict.fails()).collect();
    if !failing.is_empty() {
        let tasks = failing.iter().any(|c| c.pointer.starts_with("/tasks/"));
        let messages = !tasks || failing.iter().any(|c| !c.pointer.starts_with("/tasks/"));
        let hints = [
            messages
                .then_some("breaking changes need a new major (`2.*`); compatible ones a minor bump of `x-version`"),
            tasks.then_some(
                "breaking changes to a task need a new task name; compatible ones a minor bump of its `x-version`",
            ),
        ];
        return Err(Failure::new(format!("incompatible: {summary}")).details(hints.into_iter().flatten()));
    }
    println!("{}", if changes.is_empty() { "no changes".to_owned() } else { summary });
    Ok(())
}
