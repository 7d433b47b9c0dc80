//! Diagnostics: every problem found in a repository, with where it is and what was wanted.
//!
//! Stages collect diagnostics instead of stopping at the first problem, so one run reports
//! everything and one bad document never hides the others.

use serde::Serialize;
use std::fmt;

/// How bad a diagnostic is. Errors make the document (and its resource) invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable machine-readable class, e.g. `schema`, `yaml`, `unknown-pool`.
    pub code: &'static str,
    /// Path relative to the repository (or tracked sub-path) root, `/`-separated.
    pub file: String,
    /// 1-based line, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The document's kind and name, where they could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// JSON pointer of the offending field inside the document (`""` for the whole document).
    pub pointer: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

impl Diagnostic {
    /// An error about `file` with no position yet.
    pub fn error(code: &'static str, file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.into(),
            line: None,
            column: None,
            kind: None,
            name: None,
            pointer: String::new(),
            message: message.into(),
            expected: None,
            found: None,
        }
    }

    /// A warning about `file`.
    pub fn warning(
        code: &'static str,
        file: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, message)
        }
    }

    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    pub fn pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = pointer.into();
        self
    }

    pub fn subject(mut self, kind: impl Into<String>, name: Option<String>) -> Self {
        self.kind = Some(kind.into());
        self.name = name;
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn found(mut self, found: impl Into<String>) -> Self {
        self.found = Some(found.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error[code] Kind/name /pointer: message (expected …, found …)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, ": {severity}[{}]", self.code)?;
        if let Some(kind) = &self.kind {
            write!(f, " {kind}/{}", self.name.as_deref().unwrap_or("?"))?;
        }
        if !self.pointer.is_empty() {
            write!(f, " {}", self.pointer)?;
        }
        write!(f, ": {}", self.message)?;
        match (&self.expected, &self.found) {
            (Some(e), Some(x)) => write!(f, " (expected {e}, found {x})"),
            (Some(e), None) => write!(f, " (expected {e})"),
            (None, Some(x)) => write!(f, " (found {x})"),
            (None, None) => Ok(()),
        }
    }
}

/// Sorts diagnostics by file, position and message so output is stable run to run.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, &a.pointer, &a.message)
            .cmp(&(&b.file, b.line, b.column, &b.pointer, &b.message))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_pointer_and_expectation() {
        let d = Diagnostic::error("schema", "definitions/a.yaml", "wrong type")
            .at(Some(12), Some(5))
            .pointer("/spec/requirements/cpu")
            .subject("UniversalResource", Some("web".into()))
            .expected("integer")
            .found("\"four\"");
        assert_eq!(
            d.to_string(),
            "definitions/a.yaml:12:5: error[schema] UniversalResource/web /spec/requirements/cpu: \
             wrong type (expected integer, found \"four\")"
        );
    }
}
