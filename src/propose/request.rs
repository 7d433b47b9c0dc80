//! Checks on what a caller asks for, before anything is read or written: names are
//! DNS-1123 labels, paths stay inside the definitions tree, texts fit a commit message.
//! Pure.

use super::{FileChange, ProposalRequest, ProposeError};
use std::collections::BTreeSet;

/// Most files one proposal may change.
pub const MAX_FILES: usize = 200;
/// Longest title (a commit subject / pull-request title).
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest free-text body.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// One checked change: a plain relative path under the definitions root, and the new
/// content (`None` deletes the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<'a> {
    pub path: &'a str,
    pub content: Option<&'a [u8]>,
}

/// Checks the whole request; returns its edits in path order.
pub fn check(req: &ProposalRequest) -> Result<Vec<Edit<'_>>, ProposeError> {
    check_label("tool", &req.tool)?;
    check_label("subject", &req.subject)?;
    check_title(&req.title)?;
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ProposeError::BadName(format!(
            "body: {} bytes, expected at most {MAX_BODY_BYTES}",
            req.body.len()
        )));
    }
    if req.changes.is_empty() {
        return Err(ProposeError::BadPath(
            "no changes: expected at least one file to write or delete".into(),
        ));
    }
    if req.changes.len() > MAX_FILES {
        return Err(ProposeError::BadPath(format!(
            "{} files changed, expected at most {MAX_FILES}",
            req.changes.len()
        )));
    }
    let mut seen = BTreeSet::new();
    let mut edits = Vec::with_capacity(req.changes.len());
    for change in &req.changes {
        let edit = match change {
            FileChange::Write { path, content } => Edit {
                path,
                content: Some(content.as_bytes()),
            },
            FileChange::Delete { path } => Edit {
                path,
                content: None,
            },
        };
        check_path(edit.path)?;
        if !seen.insert(edit.path) {
            return Err(ProposeError::BadPath(format!(
                "path {:?} is changed twice; expected each path once",
                edit.path
            )));
        }
        edits.push(edit);
    }
    edits.sort_by(|a, b| a.path.cmp(b.path));
    Ok(edits)
}

/// A DNS-1123 label: 1–63 of `a-z`, `0-9` and `-`, starting and ending alphanumeric.
pub fn check_label(what: &str, value: &str) -> Result<(), ProposeError> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(|c| alnum(c) || c == '-')
        && value.starts_with(alnum)
        && value.ends_with(alnum);
    if ok {
        Ok(())
    } else {
        Err(ProposeError::BadName(format!(
            "{what} {value:?}: expected a DNS-1123 label (1-63 characters of a-z, 0-9 and '-', \
             starting and ending with a letter or digit)"
        )))
    }
}

fn check_title(title: &str) -> Result<(), ProposeError> {
    let chars = title.chars().count();
    if title.trim().is_empty() || chars > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(ProposeError::BadName(format!(
            "title {title:?}: expected one line of 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    Ok(())
}

/// A path the proposal may write: relative to the definitions root, `/`-separated plain
/// names (no `.`, `..`, hidden entries such as `.git`, backslashes or control
/// characters), not under `charts/`, and naming a `.yaml` / `.yml` file.
pub fn check_path(path: &str) -> Result<(), ProposeError> {
    let bad = |why: &str| {
        Err(ProposeError::BadPath(format!(
            "path {path:?}: {why}; expected a relative path of plain names inside the definitions \
             tree ending in .yaml or .yml, e.g. definitions/apps/web.yaml"
        )))
    };
    if path.is_empty() || path.len() > 1024 {
        return bad("empty or longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return bad("absolute paths are not allowed");
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return bad("backslashes and control characters are not allowed");
    }
    let parts: Vec<&str> = path.split('/').collect();
    for part in &parts {
        if part.is_empty() || *part == "." || *part == ".." {
            return bad("empty, `.` and `..` components are not allowed");
        }
        if part.starts_with('.') {
            return bad("hidden names (such as .git) are not read by homelabd");
        }
        if part.len() > 255 {
            return bad("a name is longer than 255 bytes");
        }
    }
    if parts[0] == "charts" {
        return bad("charts are not changed by proposals");
    }
    let file = parts[parts.len() - 1];
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"));
    if stem.is_none_or(str::is_empty) {
        return bad("not a .yaml or .yml file");
    }
    Ok(())
}

/// `homelabd/<tool>/<subject>-<short-id>`: the first 8 hex digits of the proposal id.
pub fn branch_name(tool: &str, subject: &str, id: &uuid::Uuid) -> String {
    let short: String = id.simple().to_string().chars().take(8).collect();
    format!("homelabd/{tool}/{subject}-{short}")
}

/// `text` on one line with control characters replaced, at most `max` characters: for
/// identifiers that end up in commit trailers and audit rows.
pub fn one_line(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `text` without NUL and carriage returns, and other control characters except newline
/// and tab replaced: safe in a commit message and in every store.
pub fn clean_text(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '\r' && *c != '\0')
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(changes: Vec<FileChange>) -> ProposalRequest {
        ProposalRequest {
            tool: "deploy-with-intelligence".into(),
            client: "stdio".into(),
            subject: "web".into(),
            changes,
            title: "Deploy web".into(),
            body: String::new(),
            dry_run: false,
        }
    }

    fn write(path: &str) -> FileChange {
        FileChange::Write {
            path: path.into(),
            content: "x: 1\n".into(),
        }
    }

    #[test]
    fn escaping_and_odd_paths_are_refused() {
        for path in [
            "../../x.yaml",
            "../x.yaml",
            "definitions/../../x.yaml",
            "/etc/x.yaml",
            ".git/config.yaml",
            "definitions/.hidden.yaml",
            "definitions\\x.yaml",
            "definitions//x.yaml",
            "./x.yaml",
            "definitions/x.txt",
            "definitions/.yaml",
            "definitions/",
            "charts/web/values.yaml",
            "a\nb.yaml",
            "",
        ] {
            let err = check_path(path).unwrap_err();
            assert!(matches!(err, ProposeError::BadPath(_)), "{path:?}: {err}");
        }
        for path in ["x.yaml", "definitions/apps/web.yml", "pools/gpu-nodes.yaml"] {
            assert!(check_path(path).is_ok(), "{path}");
        }
    }

    #[test]
    fn names_must_be_dns_labels() {
        for bad in ["../../x", "Web", "-web", "web-", "", "a_b", &"a".repeat(64)] {
            assert!(
                matches!(check_label("subject", bad), Err(ProposeError::BadName(_))),
                "{bad:?}"
            );
        }
        assert!(check_label("subject", "ollama-2").is_ok());
    }

    #[test]
    fn the_request_is_checked_whole() {
        let mut req = request(vec![
            write("definitions/b.yaml"),
            write("definitions/a.yaml"),
        ]);
        let edits = check(&req).unwrap();
        assert_eq!(
            edits.iter().map(|e| e.path).collect::<Vec<_>>(),
            ["definitions/a.yaml", "definitions/b.yaml"]
        );
        req.changes.push(FileChange::Delete {
            path: "definitions/a.yaml".into(),
        });
        assert!(matches!(check(&req), Err(ProposeError::BadPath(m)) if m.contains("twice")));
        req.changes.clear();
        assert!(matches!(check(&req), Err(ProposeError::BadPath(_))));
        let mut req = request(vec![write("x.yaml")]);
        req.title = "two\nlines".into();
        assert!(matches!(check(&req), Err(ProposeError::BadName(_))));
        req.title = "ok".into();
        req.subject = "../../x".into();
        assert!(matches!(check(&req), Err(ProposeError::BadName(_))));
    }

    #[test]
    fn branch_names_carry_tool_subject_and_a_short_id() {
        let id = uuid::Uuid::parse_str("1234abcd-0000-4000-8000-000000000000").unwrap();
        assert_eq!(
            branch_name("decommission-resource", "jenkins", &id),
            "homelabd/decommission-resource/jenkins-1234abcd"
        );
    }

    #[test]
    fn texts_are_made_safe() {
        assert_eq!(one_line("mcp:a\nb", 100), "mcp:a?b");
        assert_eq!(one_line("abcdef", 3), "abc");
        assert_eq!(clean_text("a\r\nb\0c\u{7}\td"), "a\nbc?\td");
    }
}
