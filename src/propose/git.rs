//! The git side of a proposal, through git2 and never a working copy. The change is first
//! built in memory (an in-memory object database stacked on the repository's, in a
//! repository handle of its own), so nothing reaches the disk until it has been
//! validated; then it is built again through a plain handle, which writes only the new
//! blobs, trees and the commit as loose objects (each written to a temporary file and
//! renamed, so concurrent proposals never see half an object), the branch is created, and
//! it is pushed (never forced, only that branch).

use super::ProposeError;
use super::request::Edit;
use crate::setting::Secret;
use crate::source::Origin;
use git2::{ObjectType, Oid, Repository, Tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Regular file mode of a blob entry.
const FILE_MODE: i32 = 0o100644;
/// Mode of a sub-tree entry.
const TREE_MODE: i32 = 0o040000;
/// Priority of the in-memory object database: above the on-disk ones, so every write
/// lands in memory.
const MEMPACK_PRIORITY: i32 = 1000;

impl From<git2::Error> for ProposeError {
    fn from(e: git2::Error) -> Self {
        ProposeError::Git(e)
    }
}

/// Why pushing a proposal's branch failed (the branch exists locally).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote could not be reached, or git failed on the way.
    #[error("{}", .0.message())]
    Git(#[source] git2::Error),
    /// `[propose] remote` names neither a remote of the repository nor a URL.
    #[error("[propose] remote {0:?} is neither a remote of the repository nor a URL")]
    UnknownRemote(String),
    /// The server refused the ref update (`<ref>: <its message>`).
    #[error("the remote refused {0}")]
    Refused(String),
    /// The task that pushes panicked or was cancelled.
    #[error("the push task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Opens the tracked repository: in place for a local one, the bare mirror for a remote.
pub fn open(origin: &Origin) -> Result<Repository, ProposeError> {
    Ok(match origin {
        Origin::Local(path) => Repository::open(path)?,
        Origin::Remote { mirror, .. } => Repository::open_bare(mirror)?,
    })
}

/// The text of `path` (relative to the definitions root `sub`) in commit `revision`.
pub fn file_at(
    repo: &Repository,
    revision: &str,
    sub: Option<&str>,
    path: &str,
) -> Result<String, ProposeError> {
    let commit = repo.find_commit(git2::Oid::from_str(revision)?)?;
    let full: std::path::PathBuf = sub
        .map(std::path::Path::new)
        .unwrap_or(std::path::Path::new(""))
        .join(path);
    let entry = commit.tree()?.get_path(&full).map_err(|_| {
        ProposeError::BadPath(format!("{} does not exist at {revision}", full.display()))
    })?;
    let blob = repo.find_blob(entry.id())?;
    String::from_utf8(blob.content().to_vec()).map_err(|_| {
        ProposeError::BadPath(format!("{} is not UTF-8 at {revision}", full.display()))
    })
}

/// Runs `f` with every object write of `repo` going to memory. The in-memory database
/// stays attached to `repo` for as long as it lives: write the final objects through
/// another handle.
pub fn in_memory<T>(
    repo: &Repository,
    f: impl FnOnce() -> Result<T, ProposeError>,
) -> Result<T, ProposeError> {
    let odb = repo.odb()?;
    let _mempack = odb.add_new_mempack_backend(MEMPACK_PRIORITY)?;
    f()
}

/// The tree of `root` with `edits` applied under the sub-path `sub` (the definitions
/// root inside the repository). Directories emptied by deletions disappear, as in git.
pub fn apply(
    repo: &Repository,
    root: &Tree<'_>,
    sub: &[&str],
    edits: &[Edit<'_>],
) -> Result<Oid, ProposeError> {
    let mut planned = Vec::with_capacity(edits.len());
    for edit in edits {
        let blob = edit.content.map(|c| repo.blob(c)).transpose()?;
        let parts: Vec<&str> = sub.iter().copied().chain(edit.path.split('/')).collect();
        planned.push((parts, blob, edit.path));
    }
    let refs: Vec<Step<'_>> = planned
        .iter()
        .map(|(parts, blob, path)| (parts.as_slice(), *blob, *path))
        .collect();
    match edit_tree(repo, Some(root), &refs)? {
        Some(id) => Ok(id),
        None => Ok(repo.treebuilder(None)?.write()?),
    }
}

/// One edit seen from a tree: the remaining path components, the new blob (`None`
/// deletes), and the path as given (for messages).
type Step<'a> = (&'a [&'a str], Option<Oid>, &'a str);

/// One level of [`apply`]. Returns `None` for a tree left empty.
fn edit_tree(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    edits: &[Step<'_>],
) -> Result<Option<Oid>, ProposeError> {
    let mut builder = repo.treebuilder(tree)?;
    let mut by_name: BTreeMap<&str, Vec<Step<'_>>> = BTreeMap::new();
    for (parts, blob, path) in edits {
        if let Some((first, rest)) = parts.split_first() {
            by_name.entry(first).or_default().push((rest, *blob, path));
        }
    }
    for (name, group) in by_name {
        let existing = builder.get(name)?.map(|e| (e.id(), e.kind(), e.filemode()));
        let is_tree = existing.is_some_and(|(_, kind, _)| kind == Some(ObjectType::Tree));
        if let Some((_, blob, path)) = group.iter().find(|(rest, _, _)| rest.is_empty()) {
            if group.len() > 1 {
                return Err(ProposeError::BadPath(format!(
                    "path {path:?} is both a file and a directory in this change"
                )));
            }
            if is_tree {
                return Err(ProposeError::BadPath(format!(
                    "path {path:?} is a directory in the tracked branch, not a file"
                )));
            }
            match blob {
                Some(id) => {
                    builder.insert(name, *id, FILE_MODE)?;
                }
                None if existing.is_none() => {
                    return Err(ProposeError::BadPath(format!(
                        "path {path:?} does not exist in the tracked branch, so it cannot be deleted"
                    )));
                }
                None => builder.remove(name)?,
            }
            continue;
        }
        let sub_tree = match existing {
            Some((id, Some(ObjectType::Tree), _)) => Some(repo.find_tree(id)?),
            Some(_) => {
                let path = group.first().map_or("", |(_, _, p)| *p);
                return Err(ProposeError::BadPath(format!(
                    "path {path:?}: {name:?} is a file (or link) in the tracked branch, not a directory"
                )));
            }
            None => {
                if let Some((_, _, path)) = group.iter().find(|(_, blob, _)| blob.is_none()) {
                    return Err(ProposeError::BadPath(format!(
                        "path {path:?} does not exist in the tracked branch, so it cannot be deleted"
                    )));
                }
                None
            }
        };
        match edit_tree(repo, sub_tree.as_ref(), &group)? {
            Some(id) => {
                builder.insert(name, id, TREE_MODE)?;
            }
            None => {
                if existing.is_some() {
                    builder.remove(name)?;
                }
            }
        }
    }
    if builder.is_empty() {
        return Ok(None);
    }
    Ok(Some(builder.write()?))
}

/// Creates `refs/heads/<branch>` at `commit`; fails if it exists (never moves a branch).
pub fn create_branch(
    repo: &Repository,
    branch: &str,
    commit: Oid,
    log: &str,
) -> Result<(), ProposeError> {
    repo.reference(&format!("refs/heads/{branch}"), commit, false, log)?;
    Ok(())
}

/// Where a branch is pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushTarget {
    /// A remote configured in the repository, by name.
    Named(String),
    /// A URL (or path) pushed to anonymously.
    Url(String),
}

impl PushTarget {
    /// `remote` as a remote of `repo` when it has one by that name, else as a URL.
    pub fn resolve(repo: &Repository, remote: &str) -> Result<PushTarget, ProposeError> {
        if repo.find_remote(remote).is_ok() {
            return Ok(PushTarget::Named(remote.to_owned()));
        }
        let url_like =
            remote.contains("://") || remote.starts_with("git@") || Path::new(remote).is_absolute();
        if url_like {
            Ok(PushTarget::Url(remote.to_owned()))
        } else {
            Err(PushError::UnknownRemote(remote.to_owned()).into())
        }
    }

    /// The URL pushed to (for compare links).
    pub fn url(&self, repo: &Repository) -> Option<String> {
        match self {
            PushTarget::Named(name) => repo
                .find_remote(name)
                .ok()
                .and_then(|r| r.url().ok().map(str::to_owned)),
            PushTarget::Url(url) => Some(url.clone()),
        }
    }
}

/// Pushes `refs/heads/<branch>` to the same name on `target`: not forced, nothing else.
/// A ref update the server rejects is an error, not a silent success.
pub fn push(
    repo: &Repository,
    target: &PushTarget,
    branch: &str,
    token: Option<Secret>,
    ssh_key: Option<PathBuf>,
) -> Result<(), ProposeError> {
    let failure = |e: git2::Error| ProposeError::Push(PushError::Git(e));
    let mut remote = match target {
        PushTarget::Named(name) => repo.find_remote(name).map_err(failure)?,
        PushTarget::Url(url) => repo.remote_anonymous(url).map_err(failure)?,
    };
    let rejected: Arc<Mutex<Option<String>>> = Arc::default();
    let mut callbacks = crate::source::tracked::callbacks(token, ssh_key);
    let seen = Arc::clone(&rejected);
    callbacks.push_update_reference(move |refname, status| {
        if let Some(message) = status
            && let Ok(mut slot) = seen.lock()
        {
            *slot = Some(format!("{refname}: {message}"));
        }
        Ok(())
    });
    let mut options = git2::PushOptions::new();
    options.remote_callbacks(callbacks);
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    remote
        .push(&[refspec.as_str()], Some(&mut options))
        .map_err(failure)?;
    let rejected = rejected.lock().map(|r| r.clone()).unwrap_or_default();
    match rejected {
        Some(why) => Err(PushError::Refused(why).into()),
        None => Ok(()),
    }
}

/// A web page comparing `branch` with `base` for a GitHub- or GitLab-like remote URL
/// (`https://host/owner/repo.git`, `ssh://git@host/owner/repo.git` or
/// `git@host:owner/repo.git`); `None` for other hosts and local paths.
pub fn compare_url(remote_url: &str, base: &str, branch: &str) -> Option<String> {
    let (host, path) = if let Some(rest) = remote_url
        .strip_prefix("https://")
        .or_else(|| remote_url.strip_prefix("http://"))
        .or_else(|| remote_url.strip_prefix("ssh://"))
    {
        let (authority, path) = rest.split_once('/')?;
        // Drop any user (and password) and port.
        let host = authority.rsplit('@').next()?;
        (host.split(':').next()?, path)
    } else {
        let rest = remote_url.strip_prefix("git@")?;
        rest.split_once(':')?
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let host = host.to_ascii_lowercase();
    if path.split('/').filter(|p| !p.is_empty()).count() < 2 || host.is_empty() {
        return None;
    }
    if host.contains("github") {
        Some(format!("https://{host}/{path}/compare/{base}...{branch}"))
    } else if host.contains("gitlab") {
        Some(format!("https://{host}/{path}/-/compare/{base}...{branch}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_urls_for_github_and_gitlab_remotes() {
        let b = "homelabd/t/x-1234abcd";
        for url in [
            "https://github.com/o/r.git",
            "https://x-access-token:secret@github.com/o/r",
            "ssh://git@github.com/o/r.git",
            "git@github.com:o/r.git",
        ] {
            assert_eq!(
                compare_url(url, "main", b).as_deref(),
                Some("https://github.com/o/r/compare/main...homelabd/t/x-1234abcd"),
                "{url}"
            );
        }
        assert_eq!(
            compare_url("git@gitlab.example.org:group/sub/r.git", "main", b).as_deref(),
            Some("https://gitlab.example.org/group/sub/r/-/compare/main...homelabd/t/x-1234abcd")
        );
        assert_eq!(compare_url("/srv/git/r.git", "main", b), None);
        assert_eq!(compare_url("file:///srv/git/r.git", "main", b), None);
        assert_eq!(
            compare_url("https://git.example.org/o/r.git", "main", b),
            None
        );
        assert_eq!(compare_url("https://github.com/o", "main", b), None);
    }

    fn repo_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Repository, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut index = git2::Index::new().unwrap();
        for (path, content) in files {
            let id = repo.blob(content.as_bytes()).unwrap();
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: FILE_MODE as u32,
                uid: 0,
                gid: 0,
                file_size: content.len() as u32,
                id,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).unwrap();
        }
        let tree = index.write_tree_to(&repo).unwrap();
        (dir, repo, tree)
    }

    fn paths(repo: &Repository, tree: Oid) -> Vec<(String, String)> {
        let tree = repo.find_tree(tree).unwrap();
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() == Some(ObjectType::Blob) {
                let blob = repo.find_blob(e.id()).unwrap();
                out.push((
                    format!("{dir}{}", e.name().unwrap()),
                    String::from_utf8_lossy(blob.content()).into_owned(),
                ));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        out
    }

    #[test]
    fn edits_write_delete_and_prune_empty_directories() {
        let (_dir, repo, root) = repo_with(&[
            ("homelab/definitions/a.yaml", "a"),
            ("homelab/definitions/old/b.yaml", "b"),
            ("README.md", "r"),
        ]);
        let root = repo.find_tree(root).unwrap();
        let edits = [
            Edit {
                path: "definitions/new/c.yaml",
                content: Some(b"c"),
            },
            Edit {
                path: "definitions/old/b.yaml",
                content: None,
            },
            Edit {
                path: "definitions/a.yaml",
                content: Some(b"A"),
            },
        ];
        let tree = apply(&repo, &root, &["homelab"], &edits).unwrap();
        assert_eq!(
            paths(&repo, tree),
            [
                ("README.md".to_owned(), "r".to_owned()),
                ("homelab/definitions/a.yaml".to_owned(), "A".to_owned()),
                ("homelab/definitions/new/c.yaml".to_owned(), "c".to_owned()),
            ]
        );
    }

    #[test]
    fn impossible_edits_are_bad_paths() {
        let (_dir, repo, root) = repo_with(&[("definitions/a.yaml", "a")]);
        let root = repo.find_tree(root).unwrap();
        let attempt = |path: &'static str, content: Option<&'static [u8]>| {
            apply(&repo, &root, &[], &[Edit { path, content }]).unwrap_err()
        };
        assert!(
            matches!(attempt("definitions/missing.yaml", None), ProposeError::BadPath(m) if m.contains("does not exist"))
        );
        assert!(matches!(
            attempt("nowhere/missing.yaml", None),
            ProposeError::BadPath(_)
        ));
        assert!(
            matches!(attempt("definitions/a.yaml/x.yaml", Some(b"x")), ProposeError::BadPath(m) if m.contains("not a directory"))
        );
        let (_d2, repo2, root2) = repo_with(&[("x.yaml/inner.yaml", "a")]);
        let root2 = repo2.find_tree(root2).unwrap();
        let err = apply(
            &repo2,
            &root2,
            &[],
            &[Edit {
                path: "x.yaml",
                content: Some(b"y"),
            }],
        )
        .unwrap_err();
        assert!(matches!(err, ProposeError::BadPath(m) if m.contains("is a directory")));
    }

    #[test]
    fn objects_built_in_memory_never_reach_the_disk() {
        let (dir, repo, root_id) = repo_with(&[("defs/a.yaml", "a")]);
        drop(repo);
        let objects = dir.path().join("objects");
        let before = walk_files(&objects);
        let b = [Edit {
            path: "defs/b.yaml",
            content: Some(b"b"),
        }];
        let tree = {
            let repo = Repository::open_bare(dir.path()).unwrap();
            let root = repo.find_tree(root_id).unwrap();
            in_memory(&repo, || apply(&repo, &root, &[], &b)).unwrap()
        };
        assert_eq!(walk_files(&objects), before, "nothing written");
        let repo = Repository::open_bare(dir.path()).unwrap();
        assert!(repo.find_tree(tree).is_err(), "the tree was only in memory");
        // Built again through a plain handle: the same tree, and only the new objects
        // (the blob, the sub-tree and the root tree) are written.
        let root = repo.find_tree(root_id).unwrap();
        assert_eq!(apply(&repo, &root, &[], &b).unwrap(), tree);
        assert_eq!(walk_files(&objects), before + 3);
        assert_eq!(paths(&repo, tree).len(), 2);
    }

    fn walk_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk_files(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
}
