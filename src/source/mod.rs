//! Source: the files of one revision of the user's repository, from a directory or from a
//! git commit's tree. Only reads; knows nothing about what the files mean.
//!
//! Both loaders apply the same bounds so hostile repositories cannot exhaust memory: files
//! over [`MAX_FILE_BYTES`] are reported and skipped, at most [`MAX_FILES`] files are read,
//! symbolic links are never followed, and hidden entries (`.git`, `.github`…) are ignored.

mod fs;
mod git;
pub mod tracked;

pub use fs::load_dir;
pub use git::{load_commit, load_tree, resolve_commit};
pub use tracked::{Origin, TrackedRepo};

use crate::diag::Diagnostic;

/// Largest file read; bigger ones are skipped with an error diagnostic.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;
/// Most files read from one revision.
pub const MAX_FILES: usize = 200_000;

/// One file of the snapshot, with its path relative to the snapshot root.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// `/`-separated path relative to the root, e.g. `definitions/ai/ollama.yaml`.
    pub path: String,
    pub content: Vec<u8>,
}

/// The files of one revision that homelabd cares about: YAML documents anywhere, and
/// every file under `charts/`.
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
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// Do we want this file at all? YAML anywhere, and everything under `charts/`.
fn wanted(path: &str) -> bool {
    is_yaml(path) || path.starts_with("charts/")
}

/// Hidden entries are skipped: `.git`, editor and CI folders, dotfiles.
fn hidden(name: &str) -> bool {
    name.starts_with('.')
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

fn too_large(path: &str, size: u64) -> Diagnostic {
    Diagnostic::error(
        "file-too-large",
        path,
        "file skipped: too large to be a definition",
    )
    .expected(format!("at most {MAX_FILE_BYTES} bytes"))
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
    }
}
