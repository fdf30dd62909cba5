//! # owlpost-codegen
//!
//! Generates typed Rust from [Hedwig](https://github.com/cloudchacho/hedwig-python) schema
//! files: one payload type per message major version, a `publish_<type>()` function per
//! message type, and a handler trait per message type with a registration function. The
//! generated code depends only on the `owlpost` runtime crate.
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
//! and include the result with `owlpost::include_messages!()`.
//!
//! The pipeline is one module per step: [`parse`] (file → JSON) → [`model`] (checked
//! message definitions and names) → `render` (Rust items, built with `quote!`) →
//! `output` (formatted text, written only when changed).
#![deny(missing_docs)]

pub mod error;
pub mod model;
pub mod naming;
mod normalize;
mod output;
pub mod parse;
mod render;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};

/// The file name `compile` writes by default (what `owlpost::include_messages!()` includes).
pub const DEFAULT_FILE_NAME: &str = "owlpost_messages";

/// Generates the Rust source for one schema file.
pub fn generate(path: impl AsRef<Path>) -> Result<String> {
    generate_file(&parse::read(path.as_ref())?)
}

/// Generates the Rust source for an already-read schema file.
pub fn generate_file(file: &parse::SchemaFile) -> Result<String> {
    let model = model::Model::build(file)?;
    let items = render::render(file, &model)?;
    Ok(output::format(&items, &file.name))
}

/// Build-script settings, in the style of `prost-build`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    schema: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    file_name: Option<String>,
    skip_rerun: bool,
}

impl Config {
    /// Default settings: write to `$OUT_DIR/owlpost_messages.rs` and tell cargo to rerun
    /// the build script when the schema changes.
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

    /// Names the output `<name>.rs` (default `owlpost_messages`); include it with
    /// `owlpost::include_messages!("<name>")`. Needed to generate several schemas in one crate.
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = Some(name.into());
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
        let source = generate(schema)?;
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or_else(|| {
                Error::Config("OUT_DIR is not set: call `Config::out_dir` outside build scripts".into())
            })?,
        };
        let path = out_dir.join(format!("{}.rs", self.file_name.as_deref().unwrap_or(DEFAULT_FILE_NAME)));
        output::write_if_changed(&path, &source)?;
        Ok(path)
    }
}
