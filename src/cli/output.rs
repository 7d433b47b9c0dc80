//! Printing diagnostics and summaries for people (text) and scripts (JSON).

use crate::diag::Diagnostic;
use std::io::{IsTerminal, Write};

/// Prints diagnostics as text to stderr, one per line.
pub fn print_diagnostics(diags: &[Diagnostic]) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        let _ = writeln!(err, "{d}");
    }
}

/// Prints a JSON document to stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A progress line on stderr, only when stderr is a terminal.
pub struct Progress {
    enabled: bool,
    total: usize,
    label: &'static str,
}

impl Progress {
    pub fn new(label: &'static str, total: usize) -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal() && total >= 50,
            total,
            label,
        }
    }

    pub fn tick(&self, done: usize) {
        if self.enabled && (done.is_multiple_of(25) || done == self.total) {
            let _ = write!(std::io::stderr(), "\r{} {done}/{}", self.label, self.total);
        }
    }

    pub fn finish(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
