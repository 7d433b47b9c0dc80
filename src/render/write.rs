//! Writing rendered resources to disk, atomically: files go to a temporary sibling
//! directory that is renamed into place, so a reader (or a crash) sees the old directory
//! or the new one, never half of either.
//!
//! Vendored Terraform modules and Ansible roles live once per content digest in
//! `<out>/.shared/<name>@<digest>/<name>/`, which resource directories refer to by
//! relative path; an entry is written (atomically too) before the first resource that
//! refers to it, and removed by [`prune_shared`] once no resource directory refers to it.

use super::assets::Bundle;
use super::{MANIFEST_FILE, Manifest, Rendered};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// The directory of shared vendored content, beside the provider directories.
pub const SHARED_DIR: &str = ".shared";

/// Whether a write changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// The directory already held exactly these files.
    Unchanged,
}

/// `<out>/<provider>/<resource>`.
pub fn resource_dir(out: &Path, provider: &str, resource: &str) -> PathBuf {
    out.join(provider).join(resource)
}

/// Is a complete render of `resource` on disk (its manifest, written last, exists)?
pub fn rendered_on_disk(out: &Path, provider: &str, resource: &str) -> bool {
    resource_dir(out, provider, resource)
        .join(MANIFEST_FILE)
        .exists()
}

/// Reads the manifest of a rendered resource, if there is a readable one.
pub fn read_manifest(dir: &Path) -> Option<Manifest> {
    let bytes = std::fs::read(dir.join(MANIFEST_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The shared directory of the resource directory `dir` (`<out>/<provider>/<resource>`):
/// `<out>/.shared`, where its relative references lead.
pub fn shared_root(dir: &Path) -> io::Result<PathBuf> {
    dir.parent()
        .and_then(Path::parent)
        .map(|out| out.join(SHARED_DIR))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "resource directory is not <out>/<provider>/<resource>",
            )
        })
}

/// Writes `rendered` to `dir` unless it already holds the same output; the shared
/// entries it refers to are put in place first (and again if they were removed).
pub fn write_atomic(dir: &Path, rendered: &Rendered) -> io::Result<WriteOutcome> {
    if !rendered.shared.is_empty() {
        let root = shared_root(dir)?;
        for bundle in &rendered.shared {
            ensure_shared(&root, bundle)?;
        }
    }
    if let Some(old) = read_manifest(dir)
        && old.output_hash == rendered.manifest.output_hash
        && old.input_hash == rendered.manifest.input_hash
    {
        return Ok(WriteOutcome::Unchanged);
    }
    let parent = dir.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "resource directory has no parent",
        )
    })?;
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "resource directory has no name",
        )
    })?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(parent)?;
    for (rel, bytes) in &rendered.files {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, bytes)?;
    }
    let manifest = serde_json::to_vec_pretty(&rendered.manifest).map_err(io::Error::other)?;
    std::fs::write(
        tmp.path().join(MANIFEST_FILE),
        [manifest.as_slice(), b"\n"].concat(),
    )?;
    let staged = tmp.keep();
    if dir.exists() {
        // Move the old directory aside first: rename cannot replace a non-empty directory.
        let old = tempfile::Builder::new()
            .prefix(&format!(".{name}.old-"))
            .tempdir_in(parent)?
            .keep();
        std::fs::remove_dir(&old)?;
        std::fs::rename(dir, &old)?;
        if let Err(e) = std::fs::rename(&staged, dir) {
            let _ = std::fs::rename(&old, dir);
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
        std::fs::remove_dir_all(&old)?;
    } else if let Err(e) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(e);
    }
    Ok(WriteOutcome::Written)
}

/// Makes `<root>/<entry>/<name>/` hold `bundle`'s files unless the entry exists (its
/// name is its content digest, so an existing one is the same content). Safe to race:
/// the entry is staged beside and renamed into place; a writer that loses the race
/// drops its copy.
pub fn ensure_shared(root: &Path, bundle: &Bundle) -> io::Result<()> {
    let dir = root.join(&bundle.entry);
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(root)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.tmp-", bundle.entry))
        .tempdir_in(root)?;
    for f in &bundle.files {
        let path = tmp.path().join(&bundle.name).join(&f.path);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::write(&path, f.bytes)?;
    }
    let staged = tmp.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        if !dir.is_dir() {
            return Err(e);
        }
    }
    Ok(())
}

/// Removes the entries of `<out>/.shared` that no resource directory's manifest refers
/// to, and returns how many. `referenced` is what the caller knows to be in use (the
/// renders of its run): when it covers every entry, no manifest is read.
pub fn prune_shared(out: &Path, referenced: &BTreeSet<String>) -> io::Result<usize> {
    let root = out.join(SHARED_DIR);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(0);
    };
    let present: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    if present.iter().all(|name| referenced.contains(name)) {
        return Ok(0);
    }
    let in_use = referenced_on_disk(out);
    let mut removed = 0;
    for name in present {
        if !in_use.contains(&name) && !referenced.contains(&name) {
            std::fs::remove_dir_all(root.join(&name))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The shared entries named by the manifests of every resource directory under `out`.
fn referenced_on_disk(out: &Path) -> BTreeSet<String> {
    let mut in_use = BTreeSet::new();
    let subdirs = |dir: &Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };
    for provider in subdirs(out) {
        for resource in subdirs(&provider) {
            if let Some(manifest) = read_manifest(&resource) {
                in_use.extend(manifest.shared);
            }
        }
    }
    in_use
}

/// Removes leftovers of interrupted writes (`.<name>.tmp-*`, `.<name>.old-*`) under
/// every provider directory of `out` and under its shared directory.
pub fn remove_leftovers(out: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let Ok(providers) = std::fs::read_dir(out) else {
        return Ok(0);
    };
    for provider in providers.flatten() {
        let Ok(entries) = std::fs::read_dir(provider.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && (name.contains(".tmp-") || name.contains(".old-")) {
                std::fs::remove_dir_all(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
