//! Reporting a preview on GitHub through octocrab (REST API 2022-11-28):
//!
//! - `POST /repos/{owner}/{repo}/statuses/{sha}`: the commit status `homelabd/preview`,
//!   `success` or `failure` with the first errors in the description;
//! - `GET /user` (who the token is, unless `[propose.github] login` says so),
//!   `GET /repos/{owner}/{repo}/issues/{number}/comments` (paged), then
//!   `PATCH /repos/{owner}/{repo}/issues/comments/{id}` on the comment carrying the marker
//!   *and authored by that login*, or `POST /repos/{owner}/{repo}/issues/{number}/comments`
//!   when there is none: one comment per pull request, updated in place on every push.
//!   Anyone can write a comment starting with the marker; such a comment is never edited.
//!   When the login cannot be learned (a GitHub App token gets 403 from `GET /user`) no
//!   comment is edited at all: a new one is made each time, with a warning;
//! - `GET /repos/{owner}/{repo}/pulls?state=open` for polling;
//! - `GET /repos/{owner}/{repo}/pulls/{number}` before every preview: the pull request's
//!   current head and state, so a replayed or late webhook payload cannot have an old
//!   head previewed ([`PullHead`], [`judge`]).

use super::PreviewError;
use super::format::{self, MARKER};
use super::report::Report;
use crate::propose::GitHubSettings;
use crate::propose::github::client;
use serde_json::{Value, json};
use std::time::Duration;

/// The commit status context.
pub const STATUS_CONTEXT: &str = "homelabd/preview";
/// Longest wait for GitHub, per preview.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Most pages of comments (100 each) searched for the marker.
const MAX_COMMENT_PAGES: u32 = 20;

/// An open pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPull {
    pub number: u64,
    pub head_sha: String,
    /// The branch it merges into.
    pub base: Option<String>,
}

/// A pull request as GitHub has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullHead {
    /// The head commit, 40 lowercase hex digits.
    pub sha: String,
    /// `state` is `open`.
    pub open: bool,
}

/// Whether a head announced by a webhook or a poll is to be previewed, judged against
/// what GitHub says the pull request is now. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The announced head is the current one: preview it.
    Current,
    /// The pull request has moved on (a replayed or late payload): ignore it.
    Stale { current: String },
    /// The pull request is closed: nothing to preview.
    Closed,
}

/// Judges `announced` against `now`.
pub fn judge(now: &PullHead, announced: &str) -> Verdict {
    if !now.open {
        Verdict::Closed
    } else if now.sha.eq_ignore_ascii_case(announced) {
        Verdict::Current
    } else {
        Verdict::Stale {
            current: now.sha.clone(),
        }
    }
}

/// `GET /repos/{owner}/{repo}/pulls/{number}`: the pull request's current head and state.
pub async fn pull_head(github: &GitHubSettings, number: u64) -> Result<PullHead, PreviewError> {
    within(github, async {
        let crab = github_client(github)?;
        let route = format!("/repos/{}/{}/pulls/{number}", github.owner, github.repo);
        let pull: Value = crab
            .get(route, None::<&()>)
            .await
            .map_err(|e| failed(&format!("reading pull request #{number}"), e))?;
        let sha = pull
            .get("head")
            .and_then(|h| h.get("sha"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .filter(|s| super::event::is_commit_id(s))
            .ok_or(PreviewError::NoHeadCommit { number })?;
        let open = pull.get("state").and_then(Value::as_str) == Some("open");
        Ok(PullHead { sha, open })
    })
    .await
}

/// What reporting did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The comment's id, and whether it was updated (`true`) or created.
    pub comment_id: u64,
    pub updated: bool,
}

fn failed(what: &str, source: octocrab::Error) -> PreviewError {
    PreviewError::GitHub {
        what: what.to_owned(),
        source,
    }
}

fn github_client(github: &GitHubSettings) -> Result<octocrab::Octocrab, PreviewError> {
    Ok(client(github)?)
}

async fn within<T>(
    github: &GitHubSettings,
    work: impl std::future::Future<Output = Result<T, PreviewError>>,
) -> Result<T, PreviewError> {
    tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| PreviewError::GitHubTimeout {
            api_url: github.api_url.to_string(),
            seconds: TIMEOUT.as_secs(),
        })?
}

/// Sets the status and creates or updates the comment of pull request `number`.
pub async fn report(
    github: &GitHubSettings,
    number: u64,
    report: &Report,
) -> Result<Reported, PreviewError> {
    within(github, async {
        let crab = github_client(github)?;
        set_status(&crab, github, report).await?;
        upsert_comment(&crab, github, number, &format::markdown(report)).await
    })
    .await
}

async fn set_status(
    crab: &octocrab::Octocrab,
    github: &GitHubSettings,
    report: &Report,
) -> Result<(), PreviewError> {
    let route = format!(
        "/repos/{}/{}/statuses/{}",
        github.owner, github.repo, report.head.commit
    );
    let body = json!({
        "state": if report.valid { "success" } else { "failure" },
        "context": STATUS_CONTEXT,
        "description": format::status_description(report),
    });
    let _: Value = crab
        .post(route, Some(&body))
        .await
        .map_err(|e| failed("setting the commit status", e))?;
    Ok(())
}

/// Sets the commit status of `sha` to `error` with `description` (at most 140
/// characters): a preview that could not be made, such as one past its deadline.
pub async fn set_failed_status(
    github: &GitHubSettings,
    sha: &str,
    description: &str,
) -> Result<(), PreviewError> {
    within(github, async {
        let crab = github_client(github)?;
        let route = format!("/repos/{}/{}/statuses/{sha}", github.owner, github.repo);
        let body = json!({
            "state": "error",
            "context": STATUS_CONTEXT,
            "description": description,
        });
        let _: Value = crab
            .post(route, Some(&body))
            .await
            .map_err(|e| failed("setting the commit status", e))?;
        Ok(())
    })
    .await
}

/// The login the token acts as: `[propose.github] login`, else `GET /user`. `None` when
/// GitHub will not tell (403: an App installation token); other failures are errors, so
/// a passing outage never leads to a second comment.
async fn login(
    crab: &octocrab::Octocrab,
    github: &GitHubSettings,
) -> Result<Option<String>, PreviewError> {
    if let Some(login) = &github.login {
        return Ok(Some(login.clone()));
    }
    match crab.get::<Value, _, _>("/user", None::<&()>).await {
        Ok(user) => Ok(user.get("login").and_then(Value::as_str).map(str::to_owned)),
        Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 403 => {
            Ok(None)
        }
        Err(e) => Err(failed("asking GitHub whose token this is (GET /user)", e)),
    }
}

/// The id of the preview comment on pull request `number`: the first carrying the
/// marker and authored by `login`.
async fn find_comment(
    crab: &octocrab::Octocrab,
    github: &GitHubSettings,
    number: u64,
    login: &str,
) -> Result<Option<u64>, PreviewError> {
    let route = format!(
        "/repos/{}/{}/issues/{number}/comments",
        github.owner, github.repo
    );
    for page in 1..=MAX_COMMENT_PAGES {
        let params = [("per_page", "100".to_owned()), ("page", page.to_string())];
        let comments: Vec<Value> = crab
            .get(&route, Some(&params))
            .await
            .map_err(|e| failed("listing the pull request's comments", e))?;
        if let Some(id) = comments.iter().find_map(|c| ours(c, login)) {
            return Ok(Some(id));
        }
        if comments.len() < 100 {
            break;
        }
    }
    Ok(None)
}

/// The comment's id if it is homelabd's preview comment: the marker, and `login` its
/// author.
fn ours(comment: &Value, login: &str) -> Option<u64> {
    let body = comment.get("body")?.as_str()?;
    let author = comment.get("user")?.get("login")?.as_str()?;
    if !body.starts_with(MARKER) || author != login {
        return None;
    }
    comment.get("id")?.as_u64()
}

async fn upsert_comment(
    crab: &octocrab::Octocrab,
    github: &GitHubSettings,
    number: u64,
    body: &str,
) -> Result<Reported, PreviewError> {
    let payload = json!({ "body": body });
    let existing = match login(crab, github).await? {
        Some(me) => find_comment(crab, github, number, &me).await?,
        None => {
            tracing::warn!(
                pull = number,
                "GitHub does not say whose token this is (403 on GET /user: a GitHub App token?), so no comment is edited and a new preview comment is made; set [propose.github] login to the app's bot login (<app-slug>[bot]) to update one in place"
            );
            None
        }
    };
    match existing {
        Some(id) => {
            let route = format!(
                "/repos/{}/{}/issues/comments/{id}",
                github.owner, github.repo
            );
            let _: Value = crab
                .patch(route, Some(&payload))
                .await
                .map_err(|e| failed("updating the preview comment", e))?;
            Ok(Reported {
                comment_id: id,
                updated: true,
            })
        }
        None => {
            let route = format!(
                "/repos/{}/{}/issues/{number}/comments",
                github.owner, github.repo
            );
            let created: Value = crab
                .post(route, Some(&payload))
                .await
                .map_err(|e| failed("creating the preview comment", e))?;
            let id = created
                .get("id")
                .and_then(Value::as_u64)
                .ok_or(PreviewError::NoCommentId)?;
            Ok(Reported {
                comment_id: id,
                updated: false,
            })
        }
    }
}

/// The open pull requests of the repository (first 100, newest first).
pub async fn open_pulls(github: &GitHubSettings) -> Result<Vec<OpenPull>, PreviewError> {
    within(github, async {
        let crab = github_client(github)?;
        let route = format!("/repos/{}/{}/pulls", github.owner, github.repo);
        let params = [("state", "open"), ("per_page", "100")];
        let pulls: Vec<Value> = crab
            .get(route, Some(&params))
            .await
            .map_err(|e| failed("listing open pull requests", e))?;
        Ok(pulls
            .iter()
            .filter_map(|p| {
                let number = p.get("number")?.as_u64()?;
                let sha = p.get("head")?.get("sha")?.as_str()?.to_ascii_lowercase();
                let base = p
                    .get("base")
                    .and_then(|b| b.get("ref"))
                    .and_then(Value::as_str)
                    .and_then(super::event::branch_name);
                super::event::is_commit_id(&sha).then_some(OpenPull {
                    number,
                    head_sha: sha,
                    base,
                })
            })
            .collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_current_head_of_an_open_pull_request_is_previewed() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let open = PullHead {
            sha: b.clone(),
            open: true,
        };
        assert_eq!(judge(&open, &b), Verdict::Current);
        assert_eq!(judge(&open, &b.to_ascii_uppercase()), Verdict::Current);
        assert_eq!(judge(&open, &a), Verdict::Stale { current: b.clone() });
        let closed = PullHead {
            sha: b.clone(),
            open: false,
        };
        assert_eq!(judge(&closed, &b), Verdict::Closed);
    }

    #[test]
    fn only_a_marked_comment_by_the_token_user_is_ours() {
        let c = |login: &str, body: &str| json!({"id": 5, "user": {"login": login}, "body": body});
        let marked = format!("{MARKER}\n## homelabd preview");
        assert_eq!(ours(&c("bot", &marked), "bot"), Some(5));
        assert_eq!(ours(&c("mallory", &marked), "bot"), None);
        assert_eq!(ours(&json!({"id": 5, "body": marked}), "bot"), None);
        assert_eq!(
            ours(&c("bot", "quoting <!-- homelabd-preview -->"), "bot"),
            None
        );
    }
}
