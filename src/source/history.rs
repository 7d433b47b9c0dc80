//! When files last changed: a bounded walk of a branch's history (newest first) that finds,
//! per path, the newest commit whose tree entry differs from its first parent's. Used to
//! say when a secret file last changed without reading its content.

use chrono::{DateTime, TimeZone, Utc};
use git2::{Oid, Repository};
use std::collections::BTreeMap;
use std::path::Path;

/// The commit that last changed a path, and its commit time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastChange {
    pub commit: String,
    pub at: DateTime<Utc>,
}

/// For each of `paths` (repository-relative), the newest commit in `head`'s first-parent
/// history that added or changed it, looking at most `limit` commits back. A path not
/// found within the limit is absent from the answer.
pub fn last_changes(
    repo: &Path,
    head: &str,
    paths: &[String],
    limit: usize,
) -> Result<BTreeMap<String, LastChange>, git2::Error> {
    let repo = Repository::open(repo)?;
    let mut found = BTreeMap::new();
    let mut walk = repo.revwalk()?;
    walk.push(Oid::from_str(head)?)?;
    walk.simplify_first_parent()?;
    let entry =
        |tree: &git2::Tree<'_>, path: &str| tree.get_path(Path::new(path)).ok().map(|e| e.id());
    for oid in walk.take(limit) {
        if found.len() == paths.len() {
            break;
        }
        let commit = repo.find_commit(oid?)?;
        let tree = commit.tree()?;
        let parent_tree = match commit.parent(0) {
            Ok(parent) => Some(parent.tree()?),
            Err(_) => None,
        };
        for path in paths {
            if found.contains_key(path) {
                continue;
            }
            let now = entry(&tree, path);
            let before = parent_tree.as_ref().and_then(|t| entry(t, path));
            if now.is_some() && now != before {
                let at = Utc
                    .timestamp_opt(commit.time().seconds(), 0)
                    .single()
                    .unwrap_or_default();
                found.insert(
                    path.clone(),
                    LastChange {
                        commit: commit.id().to_string(),
                        at,
                    },
                );
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_all(repo: &Repository, message: &str) -> Oid {
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("T", "t@example.invalid").unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
    }

    #[test]
    fn the_newest_commit_that_changed_each_path_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/a.age"), "1").unwrap();
        std::fs::write(dir.path().join("secrets/b.age"), "1").unwrap();
        let first = commit_all(&repo, "both");
        std::fs::write(dir.path().join("secrets/a.age"), "2").unwrap();
        let second = commit_all(&repo, "rotate a");
        std::fs::write(dir.path().join("other.yaml"), "x").unwrap();
        let head = commit_all(&repo, "unrelated");
        let paths = ["secrets/a.age", "secrets/b.age", "secrets/gone.age"].map(String::from);
        let found = last_changes(dir.path(), &head.to_string(), &paths, 100).unwrap();
        assert_eq!(found["secrets/a.age"].commit, second.to_string());
        assert_eq!(found["secrets/b.age"].commit, first.to_string());
        assert!(!found.contains_key("secrets/gone.age"));
        // The walk is bounded: two commits back, b's change is out of reach.
        let near = last_changes(dir.path(), &head.to_string(), &paths, 2).unwrap();
        assert!(near.contains_key("secrets/a.age") && !near.contains_key("secrets/b.age"));
    }
}
