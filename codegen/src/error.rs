//! The code generator's errors: each names the file and, where it applies, the JSON
//! pointer into it. [`Error::summary`], [`Error::details`] and [`Error::problems`] give
//! the parts of the message to tools that print them their own way (`owlpost check`).

use std::fmt;
use std::path::{Path, PathBuf};

/// Why code could not be generated from a schema file.
///
/// Its `Debug` output is its message, so that a build script returning it from `main`
/// prints the file, pointer and reason rather than a struct dump.
#[non_exhaustive]
pub enum Error {
    /// The schema file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The schema file is not JSON.
    Json {
        /// The file.
        path: PathBuf,
        /// The parser error (with line and column).
        source: serde_json::Error,
    },
    /// The document is not a usable Hedwig schema (every problem found is listed).
    Schema(owlpost::SchemaError),
    /// The schema uses something owlpost cannot generate code for.
    Unsupported {
        /// The file.
        path: PathBuf,
        /// JSON pointer into the file (empty for the whole file).
        pointer: String,
        /// What is not supported, and what to do instead.
        reason: String,
    },
    /// Two things in the schema map to the same Rust name.
    NameCollision {
        /// The file.
        path: PathBuf,
        /// JSON pointer of the second one (empty when generated items collide).
        pointer: String,
        /// The Rust identifier.
        name: String,
        /// What produced it first (e.g. "message type `user-created`").
        first: String,
        /// What produced it again.
        second: String,
    },
    /// The output could not be written.
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The schema changed incompatibly since its baseline (`Config::compat_baseline`).
    Incompatible {
        /// The schema file.
        path: PathBuf,
        /// The committed baseline.
        baseline: PathBuf,
        /// The changes that fail the check.
        changes: Vec<crate::compat::Change>,
    },
    /// A required setting is missing (e.g. no schema, or `OUT_DIR` unset outside build scripts).
    Config(String),
}

/// One problem in a schema file, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON pointer (RFC 6901) into the file; empty for the whole file.
    pub pointer: String,
    /// What is wrong there.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "(document)" } else { &self.pointer };
        write!(f, "{pointer}: {}", self.reason)
    }
}

impl Error {
    /// An [`Error::Unsupported`] at `pointer` in `path`.
    pub fn unsupported(path: &Path, pointer: &str, reason: &str) -> Self {
        Self::Unsupported { path: path.to_owned(), pointer: pointer.to_owned(), reason: reason.to_owned() }
    }

    /// Every problem, located by JSON pointer (at least one; a whole-file problem has an
    /// empty pointer).
    pub fn problems(&self) -> Vec<Problem> {
        let whole = |reason: String| vec![Problem { pointer: String::new(), reason }];
        match self {
            Self::Read { source, .. } => whole(format!("cannot read schema file: {source}")),
            Self::Json { source, .. } => whole(format!("not valid JSON: {source}")),
            Self::Schema(error) => error
                .problems
                .iter()
                .map(|p| Problem { pointer: p.pointer.clone(), reason: p.reason.clone() })
                .collect(),
            Self::Unsupported { pointer, reason, .. } => {
                vec![Problem { pointer: pointer.clone(), reason: reason.clone() }]
            }
            Self::NameCollision { pointer, name, first, second, .. } => vec![Problem {
                pointer: pointer.clone(),
                reason: format!("name collision: {first} and {second} both become `{name}`"),
            }],
            Self::Write { source, .. } => whole(format!("cannot write generated code: {source}")),
            Self::Incompatible { changes, .. } => changes
                .iter()
                .map(|c| Problem { pointer: c.pointer.clone(), reason: format!("{}: {}", c.verdict, c.reason) })
                .collect(),
            Self::Config(reason) => whole(reason.clone()),
        }
    }

    /// The first line of the message: the file and, when there is one problem, that
    /// problem; otherwise what failed, with [`Error::details`] under it.
    pub fn summary(&self) -> String {
        let file = match self {
            Self::Read { path, .. }
            | Self::Json { path, .. }
            | Self::Unsupported { path, .. }
            | Self::NameCollision { path, .. }
            | Self::Write { path, .. } => path.display().to_string(),
            Self::Schema(error) => error.file.clone(),
            Self::Incompatible { path, baseline, .. } => {
                return format!("{}: incompatible with its baseline {}:", path.display(), baseline.display());
            }
            Self::Config(reason) => return reason.clone(),
        };
        // A whole-file problem reads `file: reason`, except in the runtime's schema errors,
        // which say `(document)` (as `owlpost::SchemaError` prints them).
        match self.problems().as_slice() {
            [one] if one.pointer.is_empty() && !matches!(self, Self::Schema(_)) => format!("{file}: {}", one.reason),
            [one] => format!("{file}: {one}"),
            many => format!("{file}: {} problems", many.len()),
        }
    }

    /// The lines under [`Error::summary`]: every problem, when the summary does not say it.
    pub fn details(&self) -> Vec<String> {
        match self {
            Self::Incompatible { changes, .. } => changes.iter().map(ToString::to_string).collect(),
            Self::Schema(error) if error.problems.len() > 1 => error.problems.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        self.details().iter().try_for_each(|line| write!(f, "\n  {line}"))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } | Self::Write { source, .. } => Some(source),
            Self::Json { source, .. } => Some(source),
            Self::Schema(error) => error.source(),
            _ => None,
        }
    }
}

impl From<owlpost::SchemaError> for Error {
    fn from(error: owlpost::SchemaError) -> Self {
        Self::Schema(error)
    }
}

/// The code generator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
