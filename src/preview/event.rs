//! The parts of a GitHub `pull_request` webhook payload a preview needs. Pure.

use serde::Deserialize;

/// Actions that mean "the pull request's head may be new": preview it.
const PREVIEWED_ACTIONS: [&str; 3] = ["opened", "synchronize", "reopened"];

/// A pull request to preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent {
    pub number: u64,
    /// The head commit, 40 lowercase hex digits.
    pub head_sha: String,
    /// The branch it merges into, when the payload names a plausible one.
    pub base: Option<String>,
    pub action: String,
}

/// What a `pull_request` delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Preview(PullRequestEvent),
    /// Another action (closed, labeled…): nothing to do.
    Ignored(String),
    /// Not a pull_request payload homelabd can read.
    Malformed,
}

#[derive(Deserialize)]
struct Payload {
    action: String,
    number: Option<u64>,
    pull_request: PullRequest,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    head: Head,
    base: Option<Base>,
}

#[derive(Deserialize)]
struct Head {
    sha: String,
}

#[derive(Deserialize)]
struct Base {
    #[serde(rename = "ref")]
    git_ref: String,
}

/// Longest branch name taken from a payload.
const MAX_BRANCH_LEN: usize = 255;

/// `name` if it can be a branch name (no control characters, spaces, `..`, or `~^:?*[\`),
/// for comparing with the tracked branch.
pub fn branch_name(name: &str) -> Option<String> {
    let plausible = !name.is_empty()
        && name.len() <= MAX_BRANCH_LEN
        && !name.contains("..")
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    plausible.then(|| name.to_owned())
}

/// Is `s` a full commit id?
pub fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads a `pull_request` payload (JSON).
pub fn parse(body: &[u8]) -> Parsed {
    let Ok(payload) = serde_json::from_slice::<Payload>(body) else {
        return Parsed::Malformed;
    };
    let action: String = payload
        .action
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    if !PREVIEWED_ACTIONS.contains(&action.as_str()) {
        return Parsed::Ignored(action);
    }
    let number = payload.number.unwrap_or(payload.pull_request.number);
    let sha = payload.pull_request.head.sha.to_ascii_lowercase();
    if number == 0 || !is_commit_id(&sha) {
        return Parsed::Malformed;
    }
    Parsed::Preview(PullRequestEvent {
        number,
        head_sha: sha,
        base: payload
            .pull_request
            .base
            .and_then(|b| branch_name(&b.git_ref)),
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn body(action: &str, sha: &str) -> Vec<u8> {
        serde_json::json!({
            "action": action,
            "number": 7,
            "pull_request": {"number": 7, "head": {"sha": sha, "ref": "feature"}, "base": {"ref": "main"}},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn opened_synchronize_and_reopened_are_previewed() {
        for action in ["opened", "synchronize", "reopened"] {
            assert_eq!(
                parse(&body(action, SHA)),
                Parsed::Preview(PullRequestEvent {
                    number: 7,
                    head_sha: SHA.into(),
                    base: Some("main".into()),
                    action: action.into()
                })
            );
        }
    }

    #[test]
    fn other_actions_and_bad_payloads_are_not() {
        assert_eq!(
            parse(&body("closed", SHA)),
            Parsed::Ignored("closed".into())
        );
        assert_eq!(parse(&body("opened", "../../etc")), Parsed::Malformed);
        assert_eq!(parse(b"payload=%7B%7D"), Parsed::Malformed);
    }

    #[test]
    fn only_plausible_branch_names_are_kept() {
        assert_eq!(branch_name("release/2.x").as_deref(), Some("release/2.x"));
        for bad in ["", "a b", "a..b", "x\n", "a:b", "~"] {
            assert_eq!(branch_name(bad), None, "{bad:?}");
        }
    }
}
