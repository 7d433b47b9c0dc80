//! Bounds on the work one revision of the repository can cause: `[limits]` in
//! `config.toml`. A commit, a pull request's head or an agent's document is untrusted
//! input; these bounds keep reading, parsing and rendering it linear and finite, so a
//! hostile revision ends in diagnostics instead of an out-of-memory kill or a stall.
//!
//! Every limit has a safe default (generous for any real homelab), is documented in
//! `docs/config.example.toml` and `docs/security.md`, and when exceeded becomes a
//! diagnostic that names the limit and how to raise it ([`Limits::hint`]).

use serde::Deserialize;

/// Deepest nesting the YAML parser underneath accepts at all; a larger
/// `max_nesting_depth` could never take effect.
pub const PARSER_MAX_DEPTH: usize = 120;

/// The largest HTTP request body the listener accepts (1 MiB; larger bodies get 413):
/// the webhooks and `/mcp` alike.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// The limits one run of the pipeline works within (`[limits]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest file read; bigger files are skipped with an error diagnostic.
    pub max_file_bytes: u64,
    /// Most bytes of wanted files read from one revision (a file referenced twice counts
    /// twice). Beyond it the revision is refused as a whole: reading part of it would
    /// look like deleted definitions.
    pub max_snapshot_bytes: u64,
    /// Most tree entries (files and directories, wanted or not) visited in one revision,
    /// so a tree that references one subtree thousands of times ends quickly.
    pub max_tree_entries: u64,
    /// Most YAML documents read from one file.
    pub max_documents_per_file: usize,
    /// Deepest nesting of mappings and sequences in one document.
    pub max_nesting_depth: usize,
    /// minijinja fuel for rendering one resource (all its templates together): about one
    /// unit per instruction and per 64 bytes a template creates, so it bounds both the
    /// time and the memory a (repository) chart can spend.
    pub template_fuel: u64,
    /// Largest file one template may render.
    pub max_output_bytes_per_file: u64,
    /// Most bytes all templates of one resource may render together.
    pub max_output_bytes_per_resource: u64,
    /// Wall-clock seconds one pull-request preview (fetch, both pipeline runs) may take
    /// in the daemon; past it the head is reported as failed and not tried again until
    /// the pull request's head changes.
    pub preview_timeout_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 2 * 1024 * 1024,
            max_snapshot_bytes: 64 * 1024 * 1024,
            max_tree_entries: 1_000_000,
            max_documents_per_file: 10_000,
            max_nesting_depth: 64,
            template_fuel: 1_000_000,
            max_output_bytes_per_file: 4 * 1024 * 1024,
            max_output_bytes_per_resource: 16 * 1024 * 1024,
            preview_timeout_seconds: 120,
        }
    }
}

/// A `[limits]` value that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct LimitsError {
    /// The full key, e.g. `limits.max_file_bytes`.
    pub key: &'static str,
    pub message: String,
}

impl Limits {
    /// Checks that every limit can work: none is zero, the nesting depth is one the
    /// parser can honour.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let positive = [
            ("limits.max_file_bytes", self.max_file_bytes),
            ("limits.max_snapshot_bytes", self.max_snapshot_bytes),
            ("limits.max_tree_entries", self.max_tree_entries),
            (
                "limits.max_documents_per_file",
                self.max_documents_per_file as u64,
            ),
            ("limits.max_nesting_depth", self.max_nesting_depth as u64),
            ("limits.template_fuel", self.template_fuel),
            (
                "limits.max_output_bytes_per_file",
                self.max_output_bytes_per_file,
            ),
            (
                "limits.max_output_bytes_per_resource",
                self.max_output_bytes_per_resource,
            ),
            (
                "limits.preview_timeout_seconds",
                self.preview_timeout_seconds,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(LimitsError {
                key,
                message: "0: expected at least 1".to_owned(),
            });
        }
        if self.max_nesting_depth > PARSER_MAX_DEPTH {
            return Err(LimitsError {
                key: "limits.max_nesting_depth",
                message: format!(
                    "{}: expected at most {PARSER_MAX_DEPTH} (the YAML parser's own limit)",
                    self.max_nesting_depth
                ),
            });
        }
        Ok(())
    }

    /// How to raise the limit `key`, for diagnostics.
    pub fn hint(key: &str) -> String {
        format!("raise [limits] {key} in config.toml (see docs/security.md)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        Limits::default().validate().unwrap();
    }

    #[test]
    fn unusable_limits_name_their_key() {
        let zero = Limits {
            max_snapshot_bytes: 0,
            ..Limits::default()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .starts_with("limits.max_snapshot_bytes: 0")
        );
        let deep = Limits {
            max_nesting_depth: 500,
            ..Limits::default()
        };
        assert!(
            deep.validate()
                .unwrap_err()
                .to_string()
                .contains("max_nesting_depth")
        );
    }
}
