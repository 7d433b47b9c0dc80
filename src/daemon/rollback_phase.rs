//! Rollback in the loop: the last healthy output of each resource is kept in the state
//! directory (`good/<provider>/<name>/`, one per resource, replaced atomically, with
//! `homelabd.good.json` naming its revision); when a new revision's apply fails or it is
//! not healthy in time and `policy.rollback` is auto, that output is applied again as a
//! rollback run, and the failed render is kept as rejected (`<name>.rejected.json`) so
//! the loop does not apply it again until the definition changes.

use super::run::Reconciler;
use crate::model::RollbackPolicy;
use crate::reconcile::rollback::{GoodOutput, Rejected, stored_rollback};
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

    /// The kept output of `r`: its directory and what it is.
    pub(super) fn good_output(&self, r: &ResourceRecord) -> Option<(PathBuf, GoodOutput)> {
        let dir = self.good_root(r)?.join(&r.name);
        let text = std::fs::read_to_string(dir.join(GOOD_FILE)).ok()?;
        Some((dir, serde_json::from_str(&text).ok()?))
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
            };
            let name = name.clone();
            let kept = tokio::task::spawn_blocking(move || keep_dir(&from, &root, &name, &good))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = kept {
                warn!(resource = %r.name, error = %e, "cannot keep the healthy output for rollback");
            }
        }
    }
}

/// Copies `from` to `<root>/<name>` through a staging directory and a rename, so a
/// kept output is always whole; the one it replaces is removed.
fn keep_dir(from: &Path, root: &Path, name: &str, good: &GoodOutput) -> std::io::Result<()> {
    std::fs::create_dir_all(root)?;
    let staging = root.join(format!(".{name}.staging"));
    let old = root.join(format!(".{name}.old"));
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir_all(&old);
    copy_tree(from, &staging)?;
    std::fs::write(
        staging.join(GOOD_FILE),
        serde_json::to_vec(good).map_err(std::io::Error::other)?,
    )?;
    let dest = root.join(name);
    if dest.exists() {
        std::fs::rename(&dest, &old)?;
    }
    std::fs::rename(&staging, &dest)?;
    let _ = std::fs::remove_dir_all(&old);
    info!(resource = %name, revision = %good.revision, "healthy output kept for rollback");
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
