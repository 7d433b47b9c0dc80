//! Rollback in the loop: the healthy outputs of each resource are kept in the state
//! directory (`good/<provider>/<name>/<revision>/`, the newest
//! [`KEEP_GOOD`](crate::reconcile::rollback::KEEP_GOOD), each written through a staging
//! directory and a rename, with `homelabd.good.json` naming its revision); when a new
//! revision's apply fails or it is not healthy in time and `policy.rollback` is auto, the
//! newest is applied again as a rollback run, and the failed render is kept as rejected
//! (`<name>.rejected.json`) so the loop does not apply it again until the definition
//! changes. `homelabd rollback` puts the newest, or the one of a given revision, in
//! place the same way. The one-directory layout of earlier versions
//! (`good/<provider>/<name>/homelabd.good.json`) is moved into a revision directory the
//! first time it is read.

use super::run::Reconciler;
use crate::model::RollbackPolicy;
use crate::reconcile::rollback::{GoodOutput, Rejected, newest_first, stored_rollback, surplus};
use crate::store::ResourceRecord;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// The file in a kept output that says what it is.
const GOOD_FILE: &str = "homelabd.good.json";

impl Reconciler {
    fn good_root(&self, r: &ResourceRecord) -> Option<PathBuf> {
        let provider = r.provider?;
        Some(self.settings.state_dir.join("good").join(provider.as_str()))
    }

    /// Every kept output of `r` (its directory and what it is), newest first.
    pub(super) fn kept_outputs(&self, r: &ResourceRecord) -> Vec<(PathBuf, GoodOutput)> {
        let Some(root) = self.good_root(r) else {
            return Vec::new();
        };
        let dir = root.join(&r.name);
        if let Err(e) = migrate_flat(&dir) {
            warn!(resource = %r.name, error = %e, "cannot move the kept output into its revision directory");
        }
        read_kept(&dir)
    }

    /// The newest kept output of `r`: its directory and what it is.
    pub(super) fn good_output(&self, r: &ResourceRecord) -> Option<(PathBuf, GoodOutput)> {
        self.kept_outputs(r).into_iter().next()
    }

    /// The render `r` was rolled back from, if any.
    pub(super) fn rejected(&self, r: &ResourceRecord) -> Option<Rejected> {
        let path = self.good_root(r)?.join(format!("{}.rejected.json", r.name));
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// Remembers that `r` was rolled back from `rejected`.
    pub(super) fn keep_rejected(&self, r: &ResourceRecord, rejected: &Rejected) {
        let Some(root) = self.good_root(r) else {
            return;
        };
        let path = root.join(format!("{}.rejected.json", r.name));
        let written = std::fs::create_dir_all(&root)
            .and_then(|()| std::fs::write(&path, serde_json::to_vec(rejected).unwrap_or_default()));
        if let Err(e) = written {
            warn!(resource = %r.name, error = %e, "cannot keep the rejected render");
        }
    }

    /// Keeps the rendered output of each of `names` (applied now and healthy, or
    /// without a health check) as its last healthy output, unless rollback is off.
    pub(super) async fn keep_good(&self, names: &BTreeSet<String>) {
        for name in names {
            let Some(r) = self.stored.get(name) else {
                continue;
            };
            let (Some(provider), Some(revision), Some(output), Some(applied)) = (
                r.provider,
                r.applied_revision.clone(),
                r.output_hash.clone(),
                r.applied_hash.clone(),
            ) else {
                continue;
            };
            if stored_rollback(r) == RollbackPolicy::Off {
                continue;
            }
            let Some(root) = self.good_root(r) else {
                continue;
            };
            let from = self
                .settings
                .rendered_dir()
                .join(provider.as_str())
                .join(name);
            let good = GoodOutput {
                revision,
                output_hash: output,
                applied_hash: applied,
                kept_at: Some(chrono::Utc::now()),
            };
            let dir = root.join(name);
            let kept = tokio::task::spawn_blocking(move || keep_dir(&from, &dir, &good))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = kept {
                warn!(resource = %r.name, error = %e, "cannot keep the healthy output for rollback");
            }
        }
    }
}

/// Copies `from` to `<dir>/<revision>` through a staging directory and a rename, so a
/// kept output is always whole (one of the same revision is replaced), then removes
/// the outputs past the newest few.
fn keep_dir(from: &Path, dir: &Path, good: &GoodOutput) -> std::io::Result<()> {
    migrate_flat(dir)?;
    std::fs::create_dir_all(dir)?;
    let revision = &good.revision;
    let staging = dir.join(format!(".{revision}.staging"));
    let old = dir.join(format!(".{revision}.old"));
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir_all(&old);
    copy_tree(from, &staging)?;
    std::fs::write(
        staging.join(GOOD_FILE),
        serde_json::to_vec(good).map_err(std::io::Error::other)?,
    )?;
    let dest = dir.join(revision);
    if dest.exists() {
        std::fs::rename(&dest, &old)?;
    }
    std::fs::rename(&staging, &dest)?;
    let _ = std::fs::remove_dir_all(&old);
    info!(dir = %dir.display(), revision = %revision, "healthy output kept for rollback");
    for (path, gone) in surplus_dirs(dir) {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => info!(revision = %gone.revision, "older kept output removed"),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot remove an older kept output")
            }
        }
    }
    Ok(())
}

/// The kept outputs in `dir` (one directory per revision), newest first; directories
/// being written (hidden) and unreadable ones are left out.
fn read_kept(dir: &Path) -> Vec<(PathBuf, GoodOutput)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut kept: Vec<(PathBuf, GoodOutput)> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join(GOOD_FILE)).ok()?;
            Some((e.path(), serde_json::from_str(&text).ok()?))
        })
        .collect();
    let mut outputs: Vec<GoodOutput> = kept.iter().map(|(_, g)| g.clone()).collect();
    newest_first(&mut outputs);
    kept.sort_by_key(|(_, g)| outputs.iter().position(|o| o == g));
    kept
}

/// The kept outputs in `dir` past the newest few.
fn surplus_dirs(dir: &Path) -> Vec<(PathBuf, GoodOutput)> {
    let kept = read_kept(dir);
    let outputs: Vec<GoodOutput> = kept.iter().map(|(_, g)| g.clone()).collect();
    let extra = surplus(&outputs).len();
    kept.into_iter().rev().take(extra).collect()
}

/// Moves an output kept in the one-directory layout (`<dir>/homelabd.good.json`) into
/// `<dir>/<revision>/`; nothing to do when there is none.
fn migrate_flat(dir: &Path) -> std::io::Result<()> {
    let Ok(text) = std::fs::read_to_string(dir.join(GOOD_FILE)) else {
        return Ok(());
    };
    let good: GoodOutput = serde_json::from_str(&text).map_err(std::io::Error::other)?;
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let moving = parent.join(format!(".{name}.flat"));
    std::fs::rename(dir, &moving)?;
    std::fs::create_dir_all(dir)?;
    std::fs::rename(&moving, dir.join(&good.revision))?;
    info!(dir = %dir.display(), revision = %good.revision, "kept output moved into its revision directory");
    Ok(())
}

/// Regular files and directories only (a render holds nothing else).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good(revision: char, minute: u32) -> GoodOutput {
        GoodOutput {
            revision: revision.to_string().repeat(40),
            output_hash: format!("h{revision}"),
            applied_hash: format!("h{revision}"),
            kept_at: Some(
                chrono::DateTime::parse_from_rfc3339(&format!("2026-01-01T00:{minute:02}:00Z"))
                    .expect("time")
                    .with_timezone(&chrono::Utc),
            ),
        }
    }

    fn render(dir: &Path, text: &str) -> PathBuf {
        let from = dir.join(format!("render-{text}"));
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("compose.yaml"), text).unwrap();
        std::fs::write(from.join("sub/x"), "x").unwrap();
        from
    }

    #[test]
    fn the_newest_outputs_are_kept_one_directory_per_revision() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("good/docker/app");
        for (i, c) in ('a'..='g').enumerate() {
            let from = render(tmp.path(), &c.to_string());
            keep_dir(&from, &dir, &good(c, i as u32)).unwrap();
        }
        let kept = read_kept(&dir);
        let revisions: Vec<char> = kept
            .iter()
            .map(|(_, g)| g.revision.chars().next().unwrap())
            .collect();
        assert_eq!(
            revisions,
            ['g', 'f', 'e', 'd', 'c'],
            "newest first, five kept"
        );
        let (newest, _) = &kept[0];
        assert_eq!(
            std::fs::read_to_string(newest.join("compose.yaml")).unwrap(),
            "g"
        );
        assert!(newest.join("sub/x").is_file(), "the whole render");
        assert!(!dir.join("a".repeat(40)).exists(), "older ones are removed");
        // The same revision kept again replaces its directory.
        let from = render(tmp.path(), "g2");
        keep_dir(&from, &dir, &good('g', 9)).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("g".repeat(40)).join("compose.yaml")).unwrap(),
            "g2"
        );
        assert_eq!(read_kept(&dir).len(), 5);
    }

    #[test]
    fn an_output_kept_in_the_one_directory_layout_moves_into_its_revision() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("good/docker/app");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), "old").unwrap();
        let old = GoodOutput {
            kept_at: None,
            ..good('a', 0)
        };
        std::fs::write(dir.join(GOOD_FILE), serde_json::to_vec(&old).unwrap()).unwrap();
        migrate_flat(&dir).unwrap();
        let kept = read_kept(&dir);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, dir.join("a".repeat(40)));
        assert_eq!(kept[0].1, old);
        assert_eq!(
            std::fs::read_to_string(kept[0].0.join("compose.yaml")).unwrap(),
            "old"
        );
        // Kept again later: the migrated one is the older.
        let from = render(tmp.path(), "b");
        keep_dir(&from, &dir, &good('b', 1)).unwrap();
        let order: Vec<char> = read_kept(&dir)
            .iter()
            .map(|(_, g)| g.revision.chars().next().unwrap())
            .collect();
        assert_eq!(order, ['b', 'a']);
    }
}
