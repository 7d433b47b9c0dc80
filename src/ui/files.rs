//! A resource's rendered files beside what was last applied: the rendered directory
//! (`<state>/rendered-configs/<provider>/<name>/`) against the copy its executor keeps in the work
//! directory (`<state>/work/<provider>/<name>/`). Reading is bounded (files, bytes, no
//! symlinks); the comparison ([`compare`]) is pure and uses `propose::diff`.

use serde::Serialize;
use std::path::Path;

/// Files read at most per resource.
pub const MAX_FILES: usize = 40;
/// Bytes read at most per file; a larger file is shown cut.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Diff lines shown at most per file.
pub const MAX_DIFF_LINES: usize = 400;

/// One rendered file as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileView {
    pub path: String,
    /// `same as applied`, `changed since applied`, `new since applied`, `not applied`.
    pub status: &'static str,
    pub class: &'static str,
    /// The unified diff from the applied copy, one (css class, line) per line.
    pub diff: Vec<(&'static str, String)>,
    pub content: String,
}

/// The rendered files (relative path, text) against the applied copies (`None`: the
/// resource has no work directory, never applied). Pure.
pub fn compare(
    rendered: &[(String, String)],
    applied: Option<&[(String, Option<String>)]>,
) -> Vec<FileView> {
    rendered
        .iter()
        .map(|(path, text)| {
            let old = applied.map(|a| {
                a.iter()
                    .find(|(p, _)| p == path)
                    .and_then(|(_, t)| t.clone())
            });
            let (status, class, diff) = match old {
                None => ("not applied", "idle", Vec::new()),
                Some(None) => ("new since applied", "warn", Vec::new()),
                Some(Some(old)) if &old == text => ("same as applied", "ok", Vec::new()),
                Some(Some(old)) => {
                    let unified = crate::propose::diff::unified(
                        &format!("applied/{path}"),
                        &format!("rendered/{path}"),
                        &old,
                        text,
                    );
                    let (bounded, _) =
                        crate::propose::diff::bound(&unified, MAX_DIFF_LINES, 256 * 1024);
                    let lines = bounded
                        .lines()
                        .map(|l| {
                            let class = if l.starts_with("@@") {
                                "hunk"
                            } else if l.starts_with('+') && !l.starts_with("+++") {
                                "add"
                            } else if l.starts_with('-') && !l.starts_with("---") {
                                "del"
                            } else {
                                "ctx"
                            };
                            (class, l.to_owned())
                        })
                        .collect();
                    ("changed since applied", "warn", lines)
                }
            };
            FileView {
                path: path.clone(),
                status,
                class,
                diff,
                content: text.clone(),
            }
        })
        .collect()
}

/// The regular files under `dir` (relative paths, sorted), at most [`MAX_FILES`], each
/// read up to [`MAX_FILE_BYTES`] as lossy UTF-8; symlinks are skipped. `None` when `dir`
/// does not exist.
pub fn read_tree(dir: &Path) -> Option<Vec<(String, String)>> {
    if !dir.is_dir() {
        return None;
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                // A tool's own caches are not rendered output.
                if entry.file_name() != ".terraform" {
                    stack.push(path);
                }
            } else if kind.is_file() && out.len() < MAX_FILES {
                let rel = path
                    .strip_prefix(dir)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((rel, read_bounded(&path)));
            }
        }
    }
    out.sort();
    Some(out)
}

/// The applied copies of `rendered`'s paths in `work` (`None` per path when missing).
pub fn read_applied(
    work: &Path,
    rendered: &[(String, String)],
) -> Option<Vec<(String, Option<String>)>> {
    if !work.is_dir() {
        return None;
    }
    Some(
        rendered
            .iter()
            .map(|(rel, _)| {
                let path = work.join(rel);
                let text = std::fs::symlink_metadata(&path)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|_| read_bounded(&path));
                (rel.clone(), text)
            })
            .collect(),
    )
}

fn read_bounded(path: &Path) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(MAX_FILE_BYTES).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_compared_with_what_was_applied() {
        let rendered = vec![
            ("a.yml".to_owned(), "x: 1\ny: 2\n".to_owned()),
            ("b.yml".to_owned(), "same\n".to_owned()),
            ("c.yml".to_owned(), "new\n".to_owned()),
        ];
        let applied = vec![
            ("a.yml".to_owned(), Some("x: 1\ny: 1\n".to_owned())),
            ("b.yml".to_owned(), Some("same\n".to_owned())),
            ("c.yml".to_owned(), None),
        ];
        let v = compare(&rendered, Some(&applied));
        assert_eq!(v[0].status, "changed since applied");
        assert!(
            v[0].diff.contains(&("del", "-y: 1".to_owned())),
            "{:?}",
            v[0].diff
        );
        assert!(v[0].diff.contains(&("add", "+y: 2".to_owned())));
        assert_eq!(v[1].status, "same as applied");
        assert_eq!(v[2].status, "new since applied");
        assert_eq!(compare(&rendered, None)[0].status, "not applied");
    }
}
