//! The code generator's errors: each names the file and, where it applies, the JSON
//! pointer into it.

use std::path::PathBuf;

/// Why code could not be generated from a schema file.
///
/// Its `Debug` output is its message, so that a build script returning it from `main`
/// prints the file, pointer and reason rather than a struct dump.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema file could not be read.
    #[error("{}: cannot read schema file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The schema file is not JSON.
    #[error("{}: not valid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The document is not a usable Hedwig schema (every problem found is listed).
    #[error(transparent)]
    Schema(#[from] owlpost::SchemaError),
    /// The schema uses something owlpost cannot generate code for.
    #[error("{}: {pointer}: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// JSON pointer into the file.
        pointer: String,
        /// What is not supported, and what to do instead.
        reason: String,
    },
    /// Two things in the schema map to the same Rust name.
    #[error("{}: name collision: {first} and {second} both become `{name}`", path.display())]
    NameCollision {
        /// The file.
        path: PathBuf,
        /// The Rust identifier.
        name: String,
        /// What produced it first (e.g. "message type `user-created`").
        first: String,
        /// What produced it again.
        second: String,
    },
    /// The output could not be written.
    #[error("{}: cannot write generated code: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The schema changed incompatibly since its baseline (`Config::compat_baseline`).
    #[error(
        "{}: incompatible with its baseline {}:{}",
        path.display(),
        baseline.display(),
        changes.iter().map(|c| format!("\n  {c}")).collect::<String>()
    )]
    Incompatible {
        /// The schema file.
        path: PathBuf,
        /// The committed baseline.
        baseline: PathBuf,
        /// The changes that fail the check.
        changes: Vec<crate::compat::Change>,
    },
    /// A required setting is missing (e.g. no schema, or `OUT_DIR` unset outside build scripts).
    #[error("{0}")]
    Config(String),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The code generator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
