//! Loading a snapshot from a directory on disk (for `validate` in CI and pre-commit hooks).

use super::{Budget, MAX_FILES, Snapshot, SourceError, SourceFile, hidden, size_limit, wanted};
use crate::diag::Diagnostic;
use crate::limits::Limits;
use std::path::Path;

/// Reads every wanted file under `root/sub` (or `root` when `sub` is `None`), within the
/// default limits.
pub fn load_dir(root: &Path, sub: Option<&str>) -> Result<Snapshot, SourceError> {
    load_dir_with(root, sub, &Limits::default())
}

/// [`load_dir`] within `limits`. Nothing outside the directory is read: symbolic links
/// are never followed (a wanted path that is one gets a `symlink-skipped` warning, and a
/// sub-path through one is refused), files are opened with `O_NOFOLLOW` (a link swapped
/// in after the listing is not followed either), and a file with more than one hard
/// link is skipped with a `hardlink-skipped` warning, since its other name can be
/// anywhere on the file system.
pub fn load_dir_with(
    root: &Path,
    sub: Option<&str>,
    limits: &Limits,
) -> Result<Snapshot, SourceError> {
    let mut base = root.to_path_buf();
    if let Some(sub) = sub {
        for part in super::sub_path_components(sub)? {
            base.push(part);
            let linked = std::fs::symlink_metadata(&base).is_ok_and(|m| m.file_type().is_symlink());
            if linked {
                return Err(SourceError::NotADirectory {
                    path: format!("{} (a symbolic link, not followed)", base.display()),
                });
            }
        }
    }
    let meta = std::fs::metadata(&base).map_err(|source| SourceError::Io {
        path: base.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(SourceError::NotADirectory {
            path: base.display().to_string(),
        });
    }
    let mut snapshot = Snapshot::default();
    let mut budget = Budget::new(limits);
    // An explicit stack instead of recursion: depth is bounded by the file system, not us.
    let mut pending = vec![(base.clone(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| SourceError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| SourceError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            budget.entry()?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // non-UTF-8 names cannot be definitions
            };
            let rel_path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if hidden(&name, &rel_path) {
                continue;
            }
            let file_type = entry.file_type().map_err(|source| SourceError::Io {
                path: rel_path.clone(),
                source,
            })?;
            if file_type.is_symlink() {
                if wanted(&rel_path) {
                    snapshot.diagnostics.push(Diagnostic::warning(
                        "symlink-skipped",
                        &rel_path,
                        "symbolic links are not followed",
                    ));
                }
            } else if file_type.is_dir() {
                pending.push((entry.path(), rel_path));
            } else if file_type.is_file() && wanted(&rel_path) {
                if snapshot.files.len() >= MAX_FILES {
                    return Err(SourceError::TooManyFiles);
                }
                let io = |source| SourceError::Io {
                    path: rel_path.clone(),
                    source,
                };
                let file = match open_no_follow(&entry.path()) {
                    Ok(file) => file,
                    Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
                        snapshot.diagnostics.push(Diagnostic::warning(
                            "symlink-skipped",
                            &rel_path,
                            "symbolic links are not followed",
                        ));
                        continue;
                    }
                    Err(e) => return Err(io(e)),
                };
                let meta = file.metadata().map_err(io)?;
                if !meta.is_file() {
                    continue; // replaced by a device or a pipe since the listing
                }
                if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
                    snapshot.diagnostics.push(Diagnostic::warning(
                        "hardlink-skipped",
                        &rel_path,
                        "a file with several hard links is not read: its other names can be outside the repository; replace it with a copy",
                    ));
                    continue;
                }
                let size = meta.len();
                let max = size_limit(&rel_path, limits);
                if size > max {
                    snapshot
                        .diagnostics
                        .push(super::too_large(&rel_path, size, limits));
                    continue;
                }
                budget.bytes(size)?;
                let content = read_at_most(file, max).map_err(io)?;
                if content.len() as u64 > max {
                    // It grew between the size check and the read.
                    snapshot.diagnostics.push(super::too_large(
                        &rel_path,
                        content.len() as u64,
                        limits,
                    ));
                    continue;
                }
                snapshot.files.push(SourceFile {
                    path: rel_path,
                    content,
                });
            }
        }
    }
    snapshot.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(snapshot)
}

/// Opens `path` for reading without following a final symbolic link (`ELOOP` if it is
/// one) and without blocking on a pipe.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
}

/// Reads a file, stopping one byte past `max` (a file that grows while read, or a device
/// that never ends, cannot make us read more).
fn read_at_most(file: std::fs::File, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut content = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut content)?;
    Ok(content)
}
