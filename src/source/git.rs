//! Loading a snapshot from a commit's tree with git2: no checkout, no working copy, so a
//! half-written file in someone's editor can never be read.

use super::{Budget, MAX_FILES, Snapshot, SourceError, SourceFile, hidden, size_limit, wanted};
use crate::diag::Diagnostic;
use crate::limits::Limits;
use git2::{ObjectType, Oid, Repository, Tree};
use std::collections::HashMap;
use std::path::Path;

/// Resolves `rev` (a branch, tag, `HEAD` or commit id) in the repository at `repo_path`.
pub fn resolve_commit(repo_path: &Path, rev: &str) -> Result<git2::Oid, SourceError> {
    let repo = Repository::open(repo_path)?;
    let object = repo
        .revparse_single(rev)
        .map_err(|_| SourceError::RevisionNotFound {
            repo: repo_path.display().to_string(),
            rev: rev.to_owned(),
        })?;
    Ok(object.peel_to_commit()?.id())
}

/// Reads every wanted file of commit `rev` under `sub`, within the default limits.
pub fn load_commit(
    repo_path: &Path,
    rev: &str,
    sub: Option<&str>,
) -> Result<Snapshot, SourceError> {
    load_commit_with(repo_path, rev, sub, &Limits::default())
}

/// [`load_commit`] within `limits`.
pub fn load_commit_with(
    repo_path: &Path,
    rev: &str,
    sub: Option<&str>,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    let repo = Repository::open(repo_path)?;
    let commit_id = resolve_commit(repo_path, rev)?;
    load_tree(&repo, commit_id, sub, limits)
}

/// The contents of the blobs the last load read, by blob id: the next load of the same
/// repository takes a blob it names again from here instead of reading (and inflating)
/// it, so a commit that changed one file reads one file.
#[derive(Debug, Default)]
pub struct Blobs {
    by_id: HashMap<Oid, Vec<u8>>,
}

impl Blobs {
    /// Blobs held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Holds no blob?
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Reads the tree of `commit_id` from an open repository, within `limits`.
pub fn load_tree(
    repo: &Repository,
    commit_id: git2::Oid,
    sub: Option<&str>,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    load_tree_with(repo, commit_id, sub, limits, &mut Blobs::default())
}

/// [`load_tree`], taking the blobs `blobs` holds from there; afterwards `blobs` holds
/// exactly the blobs of this tree that were read (none if the load failed).
pub fn load_tree_with(
    repo: &Repository,
    commit_id: git2::Oid,
    sub: Option<&str>,
    limits: &Limits,
    blobs: &mut Blobs,
) -> Result<Snapshot, SourceError> {
    let commit = repo.find_commit(commit_id)?;
    let mut tree = commit.tree()?;
    if let Some(sub) = sub {
        let parts = super::sub_path_components(sub)?;
        if !parts.is_empty() {
            let entry = tree.get_path(Path::new(&parts.join("/"))).map_err(|_| {
                SourceError::SubPathMissing {
                    path: sub.to_owned(),
                    commit: commit_id.to_string(),
                }
            })?;
            tree = entry
                .to_object(repo)?
                .into_tree()
                .map_err(|_| SourceError::SubPathMissing {
                    path: sub.to_owned(),
                    commit: commit_id.to_string(),
                })?;
        }
    }
    let mut snapshot = Snapshot {
        revision: Some(commit_id.to_string()),
        ..Snapshot::default()
    };
    let kept = std::mem::take(blobs);
    *blobs = collect(repo, &tree, String::new(), &mut snapshot, limits, kept)?;
    snapshot.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(snapshot)
}

/// Walks the tree. Bounded: every entry visited counts against `max_tree_entries`, every
/// file read against `max_snapshot_bytes` (so a tree naming one blob thousands of times
/// ends fast), and each distinct blob is inflated once however often it is named, and
/// not at all when `kept` holds it. Returns the blobs of this tree that were read.
fn collect(
    repo: &Repository,
    root: &Tree<'_>,
    root_rel: String,
    snapshot: &mut Snapshot,
    limits: &Limits,
    mut kept: Blobs,
) -> Result<Blobs, SourceError> {
    let odb = repo.odb()?;
    let mut budget = Budget::new(limits);
    let mut read = Blobs::default();
    // Blob id → its size, for blobs neither kept nor read yet (too large ones).
    let mut sizes: HashMap<Oid, u64> = HashMap::new();
    let mut pending = vec![(root.clone(), root_rel)];
    while let Some((tree, rel)) = pending.pop() {
        for entry in tree.iter() {
            budget.entry()?;
            let Ok(name) = entry.name() else { continue };
            let rel_path = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            if hidden(name, &rel_path) {
                continue;
            }
            match entry.kind() {
                Some(ObjectType::Tree) => {
                    let sub = repo.find_tree(entry.id())?;
                    pending.push((sub, rel_path));
                }
                Some(ObjectType::Blob) if wanted(&rel_path) => {
                    // 0o120000 is a symbolic link; its blob is the link target, not content.
                    if entry.filemode() == 0o120000 {
                        snapshot.diagnostics.push(Diagnostic::warning(
                            "symlink-skipped",
                            &rel_path,
                            "symbolic links are not followed",
                        ));
                        continue;
                    }
                    if snapshot.files.len() >= MAX_FILES {
                        return Err(SourceError::TooManyFiles);
                    }
                    let id = entry.id();
                    if let Some(content) = kept.by_id.remove(&id) {
                        read.by_id.insert(id, content);
                    }
                    // Check the size (from the object header when the blob is not held)
                    // before reading the content.
                    let size = match read.by_id.get(&id) {
                        Some(content) => content.len() as u64,
                        None => match sizes.get(&id) {
                            Some(&size) => size,
                            None => {
                                let (size, _) = odb.read_header(id)?;
                                sizes.insert(id, size as u64);
                                size as u64
                            }
                        },
                    };
                    if size > size_limit(&rel_path, limits) {
                        snapshot
                            .diagnostics
                            .push(super::too_large(&rel_path, size, limits));
                        continue;
                    }
                    budget.bytes(size)?;
                    let content = match read.by_id.get(&id) {
                        Some(content) => content.clone(),
                        None => {
                            let content = repo.find_blob(id)?.content().to_vec();
                            read.by_id.insert(id, content.clone());
                            content
                        }
                    };
                    snapshot.files.push(SourceFile {
                        path: rel_path,
                        content,
                    });
                }
                _ => {} // submodules (commit entries) and unwanted files
            }
        }
    }
    Ok(read)
}
