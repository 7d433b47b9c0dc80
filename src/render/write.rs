//! Writing rendered resources to disk, atomically: files go to a temporary sibling
//! directory that is renamed into place, so a reader (or a crash) sees the old directory
//! or the new one, never half of either.

use super::{MANIFEST_FILE, Manifest, Rendered};
use std::io;
use std::path::{Path, PathBuf};

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

/// Writes `rendered` to `dir` unless it already holds the same output.
pub fn write_atomic(dir: &Path, rendered: &Rendered) -> io::Result<WriteOutcome> {
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

/// Removes leftovers of interrupted writes (`.<name>.tmp-*`, `.<name>.old-*`) under
/// every provider directory of `out`.
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
