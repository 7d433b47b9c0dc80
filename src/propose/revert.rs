//! Revert proposals (pure): after a rollback, the change that broke a resource is undone
//! in git by a pull request, so the tracked branch tells the truth again. The resource's
//! document in its definition file is put back as it was at the revision rolled back to
//! (the file's other documents stay as they are on the tracked branch), on the branch
//! `homelabd/revert-<name>-<short bad revision>` — one per rejected revision.

use super::{FileChange, ProposalRequest};

/// The tool name recorded for revert proposals.
pub const TOOL: &str = "rollback";

/// What a revert is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// The resource rolled back.
    pub name: String,
    /// Its definition file, relative to the definitions root.
    pub path: String,
    /// The revision rolled back from (whose change is reverted).
    pub bad: String,
    /// The revision rolled back to (whose document is restored).
    pub good: String,
    /// Why: "apply failed: …", "not healthy within 60 s: …", "set aside by cli:alice".
    pub why: String,
    /// The rollback run.
    pub run: String,
}

/// The branch of the revert of `name`'s revision `bad`.
pub fn branch_name(name: &str, bad: &str) -> String {
    format!("homelabd/revert-{name}-{}", short(bad))
}

/// No revert can be proposed: the definition file does not define the resource on
/// both revisions (it was moved or renamed since).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path} does not define {name} both on the tracked branch and at {}",
    short(good)
)]
pub struct NotDefinedOnBoth {
    /// The definition file.
    pub path: String,
    /// The resource.
    pub name: String,
    /// The revision rolled back to.
    pub good: String,
}

/// The proposal that restores `revert.name`'s document in `head_text` (the file on the
/// tracked branch) to its text in `good_text` (the file at the good revision), or why
/// there is none.
pub fn request(
    revert: &Revert,
    head_text: &str,
    good_text: &str,
) -> Result<ProposalRequest, NotDefinedOnBoth> {
    let content =
        restore_document(head_text, good_text, &revert.name).ok_or_else(|| NotDefinedOnBoth {
            path: revert.path.clone(),
            name: revert.name.clone(),
            good: revert.good.clone(),
        })?;
    let why = one_line(&revert.why, 120);
    Ok(ProposalRequest {
        tool: TOOL.to_owned(),
        client: "daemon".to_owned(),
        subject: revert.name.clone(),
        changes: vec![FileChange::Write {
            path: revert.path.clone(),
            content,
        }],
        title: format!("Revert {} to {}: {why}", revert.name, short(&revert.good)),
        body: format!(
            "homelabd rolled {name} back after revision {bad}: {why}.\n\n\
             It runs the output of revision {good} again (rollback run {run}) and does not \
             apply {bad_short} again until the definition of {name} changes.\n\n\
             This pull request restores the definition of {name} in `{path}` as it was at \
             {good}, so the tracked branch describes what runs. Merge it to keep the \
             rollback, or close it and push a fix instead.",
            name = revert.name,
            bad = revert.bad,
            bad_short = short(&revert.bad),
            good = revert.good,
            run = revert.run,
            path = revert.path,
        ),
        dry_run: false,
    })
}

/// `head_text` with the document that defines the UniversalResource `name` replaced by
/// the one in `good_text`; `None` when either file does not define it.
pub fn restore_document(head_text: &str, good_text: &str, name: &str) -> Option<String> {
    let mut head = crate::model::split::split(head_text);
    let good = crate::model::split::split(good_text);
    let at = head.documents.iter().position(|d| defines(d, name))?;
    let restored = good.documents.iter().find(|d| defines(d, name))?;
    head.documents[at] = restored.clone();
    Some(head.join())
}

/// Whether the YAML document `text` is the UniversalResource `name`.
fn defines(text: &str, name: &str) -> bool {
    let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return false;
    };
    value.get("kind").and_then(|k| k.as_str()) == Some("UniversalResource")
        && value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            == Some(name)
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(name: &str, image: &str) -> String {
        format!(
            "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  image: {image}\n"
        )
    }

    #[test]
    fn only_the_resource_s_document_is_restored() {
        let good = format!(
            "# apps\n---\n{}---\n{}",
            resource("app", "v1"),
            resource("db", "old")
        );
        let head = format!(
            "# apps\n---\n{}---\n{}",
            resource("app", "v2"),
            resource("db", "new")
        );
        let restored = restore_document(&head, &good, "app").expect("restored");
        assert_eq!(
            restored,
            format!(
                "# apps\n---\n{}---\n{}",
                resource("app", "v1"),
                resource("db", "new")
            )
        );
        assert_eq!(restore_document(&head, &good, "web"), None);
        // A file of one document is the good file again.
        assert_eq!(
            restore_document(&resource("app", "v2"), &resource("app", "v1"), "app").as_deref(),
            Some(resource("app", "v1").as_str())
        );
    }

    #[test]
    fn the_request_names_the_branch_the_revisions_and_why() {
        let revert = Revert {
            name: "app".into(),
            path: "definitions/app.yaml".into(),
            bad: "b".repeat(40),
            good: "a".repeat(40),
            why: "not healthy within 5 s:\nHTTP 500".into(),
            run: "run-1".into(),
        };
        assert_eq!(
            branch_name(&revert.name, &revert.bad),
            "homelabd/revert-app-bbbbbbb"
        );
        let req =
            request(&revert, &resource("app", "v2"), &resource("app", "v1")).expect("request");
        assert_eq!(
            req.title,
            "Revert app to aaaaaaa: not healthy within 5 s: HTTP 500"
        );
        assert_eq!(
            req.changes,
            vec![FileChange::Write {
                path: "definitions/app.yaml".into(),
                content: resource("app", "v1")
            }]
        );
        assert!(req.body.contains(&"a".repeat(40)), "{}", req.body);
        assert!(req.body.contains("rollback run run-1"), "{}", req.body);
        assert!(super::super::request::check(&req).is_ok());
        let missing = request(&revert, &resource("db", "v2"), &resource("app", "v1"));
        assert!(missing.is_err());
    }
}
