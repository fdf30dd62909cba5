//! # owlpost-codegen
//!
//! Generates typed Rust from [Hedwig](https://github.com/cloudchacho/hedwig-python) schema
//! files: one payload type per message major version, a `publish_<type>()` function per
//! message type, and a handler trait per message type with a registration function. From a
//! Taskhawk *task schema* (`tasks` instead of `schemas`) it generates per task an input type,
//! `dispatch_<task>()`, a handler trait and `register_<task>()`. The generated code depends
//! only on the `owlpost` runtime crate.
//!
//! Use it from `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     owlpost_codegen::Config::new().schema("schemas/app.json").compile()?;
//!     Ok(())
//! }
//! ```
//!
//! and include the result with `owlpost::include_messages!()` (`owlpost::include_tasks!()`
//! for a task schema).
//!
//! The pipeline is one module per step: [`parse`] (file → JSON) → [`model`] (checked
//! message definitions and names) → `render` (Rust items, built with `quote!`) →
//! `output` (formatted text, written only when changed).
#![deny(missing_docs)]

pub mod compat;
mod enforced;
pub mod error;
pub mod example;
pub mod lint;
pub mod model;
pub mod naming;
mod normalize;
mod output;
pub mod parse;
mod pointer;
mod render;

use std::path::{Path, PathBuf};

pub use error::{Error, Problem, Result};

/// The file name `compile` writes by default for a Hedwig schema (what
/// `owlpost::include_messages!()` includes).
pub const DEFAULT_FILE_NAME: &str = "owlpost_messages";

/// The file name `compile` writes by default for a Taskhawk task schema (what
/// `owlpost::include_tasks!()` includes).
pub const DEFAULT_TASKS_FILE_NAME: &str = "owlpost_tasks";

/// Generates the Rust source for one schema file.
pub fn generate(path: impl AsRef<Path>) -> Result<String> {
    generate_file(&parse::read(path.as_ref())?)
}

/// Generates the Rust source for an already-read schema file.
pub fn generate_file(file: &parse::SchemaFile) -> Result<String> {
    generate_model(&model::Model::build(file)?)
}

fn generate_model(model: &model::Model) -> Result<String> {
    let items = render::render(model)?;
    Ok(output::format(&items, &model.file_name))
}

/// Generates the `src/lib.rs` of a standalone crate named `crate_name` for a schema
/// file's model: the generated code under crate docs with a tested publishing example (a
/// dispatching example for a task schema).
pub fn generate_crate_root(model: &model::Model, crate_name: &str) -> Result<String> {
    let mut items = render::render(model)?;
    items.attrs = render::crate_docs(model, crate_name);
    Ok(output::format(&items, &model.file_name))
}

/// Compares two versions of a schema file ([`compat`] lists the rules): every change
/// with its JSON pointer and verdict.
pub fn compare_files(old: impl AsRef<Path>, new: impl AsRef<Path>) -> Result<Vec<compat::Change>> {
    let document = |path: &Path| -> Result<owlpost::Document> {
        let file = parse::read(path)?;
        Ok(owlpost::Document::parse(&path.display().to_string(), file.value)?)
    };
    Ok(compat::compare(&document(old.as_ref())?, &document(new.as_ref())?))
}

/// Build-script settings, in the style of `prost-build`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    schema: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    file_name: Option<String>,
    baseline: Option<PathBuf>,
    skip_rerun: bool,
}

impl Config {
    /// Default settings: write to `$OUT_DIR/owlpost_messages.rs` (`owlpost_tasks.rs` for a
    /// task schema) and tell cargo to rerun the build script when the schema changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The schema file to generate code for (relative to the crate's manifest directory,
    /// as build scripts run there).
    pub fn schema(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.schema = Some(path.into());
        self
    }

    /// Writes into `dir` instead of `OUT_DIR`.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Names the output `<name>.rs` (default `owlpost_messages`, or `owlpost_tasks` for a task
    /// schema); include it with `owlpost::include_messages!("<name>")`
    /// (`owlpost::include_tasks!("<name>")`). Needed to generate several schemas in one crate.
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = Some(name.into());
        self
    }

    /// Fails the build when the schema changed incompatibly since `baseline` (a committed
    /// copy of the schema as released): a breaking change within a major, or a change
    /// without its minor bump ([`compat`] lists the rules). Update the baseline when
    /// releasing.
    pub fn compat_baseline(&mut self, baseline: impl Into<PathBuf>) -> &mut Self {
        self.baseline = Some(baseline.into());
        self
    }

    /// Does not print `cargo:rerun-if-changed` (for use outside build scripts).
    pub fn skip_rerun_if_changed(&mut self) -> &mut Self {
        self.skip_rerun = true;
        self
    }

    /// Generates the code and writes it (only if it changed). Returns the written path.
    pub fn compile(&self) -> Result<PathBuf> {
        let schema =
            self.schema.as_ref().ok_or_else(|| Error::Config("no schema file given: call `Config::schema`".into()))?;
        if !self.skip_rerun {
            println!("cargo:rerun-if-changed={}", schema.display());
        }
        if let Some(baseline) = &self.baseline {
            if !self.skip_rerun {
                println!("cargo:rerun-if-changed={}", baseline.display());
            }
            let failing: Vec<_> = compare_files(baseline, schema)?.into_iter().filter(|c| c.verdict.fails()).collect();
            if !failing.is_empty() {
                return Err(Error::Incompatible { path: schema.clone(), baseline: baseline.clone(), changes: failing });
            }
        }
        let model = model::Model::build(&parse::read(schema)?)?;
        let source = generate_model(&model)?;
        let default_name = if model.tasks.is_empty() { DEFAULT_FILE_NAME } else { DEFAULT_TASKS_FILE_NAME };
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                Error::Config("OUT_DIR is not set: call `Config::out_dir` outside build scripts".into())
            })?,
        };
        let path = out_dir.join(format!("{}.rs", self.file_name.as_deref().unwrap_or(default_name)));
        output::write_if_changed(&path, &source)?;
        Ok(path)
    }
}
