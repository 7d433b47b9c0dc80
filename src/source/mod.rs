//! Source: the files of one revision of the user's repository, from a directory or from a
//! git commit's tree. Only reads; knows nothing about what the files mean.
//!
//! Both loaders apply the same bounds ([`Limits`]) so hostile repositories cannot exhaust
//! memory: files over `max_file_bytes` are reported and skipped; a revision with more than
//! `max_snapshot_bytes` of wanted files, more than `max_tree_entries` entries or more
//! than [`MAX_FILES`] files is refused as a whole (reading part of it would look like
//! deleted definitions); symbolic links and submodules are never followed, and hidden
//! entries (`.git`, `.github`…) are ignored.

mod fs;
mod git;
pub mod history;
pub mod secret_files;
pub mod tracked;
pub mod verify;

pub use fs::{load_dir, load_dir_with};
pub use git::{Blobs, load_commit, load_commit_with, load_tree, load_tree_with, resolve_commit};
pub use tracked::{Origin, TrackedRepo};

use crate::diag::Diagnostic;
use crate::limits::Limits;

/// Most files read from one revision.
pub const MAX_FILES: usize = 200_000;

/// One file of the snapshot, with its path relative to the snapshot root.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// `/`-separated path relative to the root, e.g. `definitions/ai/ollama.yaml`.
    pub path: String,
    pub content: Vec<u8>,
}

/// The files of one revision that homelabd cares about: YAML documents anywhere, every
/// file under `charts/`, and `secrets/*.age` with `secrets/.recipients` (ciphertext only).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The commit id when read from git; `None` for a plain directory.
    pub revision: Option<String>,
    pub files: Vec<SourceFile>,
    /// Files that were skipped (too large, links), as diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

impl Snapshot {
    /// YAML files outside `charts/`: the documents to validate.
    pub fn documents(&self) -> impl Iterator<Item = &SourceFile> {
        self.files
            .iter()
            .filter(|f| !f.path.starts_with("charts/") && is_yaml(&f.path))
    }

    /// Files under `charts/`, with the `charts/` prefix removed.
    pub fn chart_files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().filter_map(|f| {
            f.path
                .strip_prefix("charts/")
                .map(|p| (p, f.content.as_slice()))
        })
    }
}

/// Errors that stop a whole snapshot from being read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error("sub-path {0:?} must be relative and must not contain `..`")]
    BadSubPath(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("revision {rev:?} not found in {repo}")]
    RevisionNotFound { repo: String, rev: String },
    #[error("sub-path {path:?} does not exist in commit {commit}")]
    SubPathMissing { path: String, commit: String },
    #[error("more than {MAX_FILES} files under the root")]
    TooManyFiles,
    #[error(
        "revision refused: its YAML and chart files add up to more than limits.max_snapshot_bytes ({limit} bytes); {}",
        Limits::hint("max_snapshot_bytes")
    )]
    SnapshotTooLarge { limit: u64 },
    #[error(
        "revision refused: its tree has more than limits.max_tree_entries ({limit}) entries; {}",
        Limits::hint("max_tree_entries")
    )]
    TooManyEntries { limit: u64 },
    #[error("signature verification: {0}")]
    Verify(#[from] verify::VerifyError),
}

/// What one load may still read: tree entries and bytes, counted down.
struct Budget {
    entries: u64,
    bytes: u64,
    limits: (u64, u64),
}

impl Budget {
    fn new(limits: &Limits) -> Budget {
        Budget {
            entries: limits.max_tree_entries,
            bytes: limits.max_snapshot_bytes,
            limits: (limits.max_tree_entries, limits.max_snapshot_bytes),
        }
    }

    /// One more entry visited.
    fn entry(&mut self) -> Result<(), SourceError> {
        self.entries = self
            .entries
            .checked_sub(1)
            .ok_or(SourceError::TooManyEntries {
                limit: self.limits.0,
            })?;
        Ok(())
    }

    /// `size` more bytes about to be read.
    fn bytes(&mut self, size: u64) -> Result<(), SourceError> {
        self.bytes = self
            .bytes
            .checked_sub(size)
            .ok_or(SourceError::SnapshotTooLarge {
                limit: self.limits.1,
            })?;
        Ok(())
    }
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Do we want this file at all? YAML anywhere, everything under `charts/`, and the
/// encrypted secret files and recipients under `secrets/`.
fn wanted(path: &str) -> bool {
    is_yaml(path) || path.starts_with("charts/") || secret_files::is_secret_path(path)
}

/// Hidden entries are skipped: `.git`, editor and CI folders, dotfiles — except
/// `secrets/.recipients`, the list `age -R` reads. `rel_path` is the entry's path from
/// the root.
fn hidden(name: &str, rel_path: &str) -> bool {
    name.starts_with('.') && rel_path != secret_files::RECIPIENTS_FILE
}

/// The size limit of a file: secret files hold a few passwords, not data sets.
fn size_limit(path: &str, limits: &Limits) -> u64 {
    if secret_files::is_secret_path(path) {
        limits
            .max_file_bytes
            .min(secret_files::MAX_SECRET_FILE_BYTES)
    } else {
        limits.max_file_bytes
    }
}

/// Checks a user-given sub-path and returns its normalised components.
fn sub_path_components(sub: &str) -> Result<Vec<&str>, SourceError> {
    let parts: Vec<&str> = sub
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if sub.starts_with('/') || parts.contains(&"..") {
        return Err(SourceError::BadSubPath(sub.to_owned()));
    }
    Ok(parts)
}

fn too_large(path: &str, size: u64, limits: &Limits) -> Diagnostic {
    if secret_files::is_secret_path(path) {
        return Diagnostic::error(
            "file-too-large",
            path,
            "file skipped: too large to be a secret file",
        )
        .expected(format!("at most {} bytes", size_limit(path, limits)))
        .found(format!("{size} bytes"));
    }
    Diagnostic::error(
        "file-too-large",
        path,
        format!(
            "file skipped: larger than limits.max_file_bytes; {}",
            Limits::hint("max_file_bytes")
        ),
    )
    .expected(format!(
        "at most {} bytes (limits.max_file_bytes)",
        limits.max_file_bytes
    ))
    .found(format!("{size} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_cannot_escape_the_root() {
        assert!(sub_path_components("../x").is_err());
        assert!(sub_path_components("/etc").is_err());
        assert!(sub_path_components("a/../../b").is_err());
        assert_eq!(sub_path_components("./a//b/").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn only_yaml_and_chart_files_are_wanted() {
        assert!(wanted("definitions/a.yaml"));
        assert!(wanted("x.yml"));
        assert!(wanted("charts/c/templates/main.tf.tpl"));
        assert!(!wanted("README.md"));
        assert!(wanted("secrets/nextcloud.age"));
        assert!(!wanted("secrets/notes.txt"));
    }

    #[test]
    fn only_the_secrets_recipients_file_escapes_the_hidden_rule() {
        assert!(!hidden(".recipients", "secrets/.recipients"));
        assert!(hidden(".recipients", ".recipients"));
        assert!(hidden(".git", ".git"));
        let limits = Limits::default();
        assert_eq!(
            size_limit("secrets/a.age", &limits),
            secret_files::MAX_SECRET_FILE_BYTES.min(limits.max_file_bytes)
        );
    }
}
