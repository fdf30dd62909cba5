//! What a failed command prints: one line, then the details.

use std::fmt;

/// A command failure: a one-line summary and the details under it.
#[derive(Debug)]
pub struct Failure {
    summary: String,
    details: Vec<String>,
}

impl Failure {
    /// A failure with only a summary.
    pub fn new(summary: impl Into<String>) -> Self {
        Self { summary: summary.into(), details: Vec::new() }
    }

    /// Adds detail lines (printed indented under the summary).
    pub fn details(mut self, details: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.details.extend(details.into_iter().map(Into::into));
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.summary)?;
        for detail in &self.details {
            for line in detail.lines() {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

impl From<owlpost_codegen::Error> for Failure {
    fn from(error: owlpost_codegen::Error) -> Self {
        Failure::new(error.summary()).details(error.details())
    }
}
