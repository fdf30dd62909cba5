//! Step 1: read a schema file into a JSON document, remembering where it came from.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// A schema file as read from disk.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The path it was read from (as given).
    pub path: PathBuf,
    /// The file name, used in generated code and errors (no directories: output must not
    /// depend on where the build runs).
    pub name: String,
    /// The parsed document.
    pub value: Value,
}

/// Reads and parses one schema file.
pub fn read(path: &Path) -> Result<SchemaFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
    parse(path, &text)
}

/// Parses schema text that came from `path`.
pub fn parse(path: &Path, text: &str) -> Result<SchemaFile> {
    let value = serde_json::from_str(text).map_err(|source| Error::Json { path: path.to_owned(), source })?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    Ok(SchemaFile { path: path.to_owned(), name, value })
}
