//! Pull requests through octocrab: `GET /repos/{owner}/{repo}` (the repository exists and
//! the token can see it; its web address gives the compare link), then
//! `POST /repos/{owner}/{repo}/pulls` with head = the proposal branch, base = the tracked
//! branch.

use super::ProposeError;
use super::settings::GitHubSettings;
use std::time::Duration;

/// Why a pull request could not be opened (or GitHub not reached). octocrab's errors are
/// boxed: they are large, and every proposal result carries this type.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// `[propose.github]` is set for a local repository without `[propose] remote`.
    #[error(
        "[propose.github] is set but the branch has nowhere to go: set [propose] remote to the GitHub repository's remote"
    )]
    NowhereToPush,
    /// No token is configured.
    #[error("no token (credential github-token or HOMELABD_GITHUB_TOKEN)")]
    NoToken,
    /// `api_url` is not a usable base address.
    #[error("api_url {api_url:?}: {}", describe(source))]
    ApiUrl {
        api_url: String,
        #[source]
        source: Box<octocrab::Error>,
    },
    /// The HTTP client could not be built.
    #[error("{}", describe(.0))]
    Client(#[source] Box<octocrab::Error>),
    /// GitHub did not answer in time.
    #[error("no answer from {api_url} within {} s", TIMEOUT.as_secs())]
    Timeout { api_url: String },
    /// The repository is not there, or the token cannot see it.
    #[error("repository {owner}/{repo}: {}", describe(source))]
    Repository {
        owner: String,
        repo: String,
        #[source]
        source: Box<octocrab::Error>,
    },
    /// GitHub refused the pull request.
    #[error("opening a pull request from {head} into {base}: {}", describe(source))]
    Open {
        head: String,
        base: String,
        #[source]
        source: Box<octocrab::Error>,
    },
    /// GitHub's answer lacks the pull request's address.
    #[error("the new pull request has no html_url")]
    NoUrl,
}

/// Longest wait for GitHub, per proposal.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What GitHub answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The pull request's web page.
    pub pr_url: String,
    /// The repository's web page, when GitHub gave one.
    pub repo_url: Option<String>,
}

/// Opens a pull request from `head` into `base`.
pub async fn open_pull_request(
    github: &GitHubSettings,
    head: &str,
    base: &str,
    title: &str,
    body: &str,
) -> Result<Opened, ProposeError> {
    match tokio::time::timeout(TIMEOUT, open(github, head, base, title, body)).await {
        Ok(result) => result,
        Err(_) => Err(GitHubError::Timeout {
            api_url: github.api_url.clone(),
        }
        .into()),
    }
}

async fn open(
    github: &GitHubSettings,
    head: &str,
    base: &str,
    title: &str,
    body: &str,
) -> Result<Opened, ProposeError> {
    let client = client(github)?;
    let repository = client
        .repos(&github.owner, &github.repo)
        .get()
        .await
        .map_err(|source| GitHubError::Repository {
            owner: github.owner.clone(),
            repo: github.repo.clone(),
            source: Box::new(source),
        })?;
    let pull = client
        .pulls(&github.owner, &github.repo)
        .create(title, head, base)
        .body(body)
        .send()
        .await
        .map_err(|source| GitHubError::Open {
            head: head.to_owned(),
            base: base.to_owned(),
            source: Box::new(source),
        })?;
    let pr_url = pull
        .html_url
        .map(|u| u.to_string())
        .ok_or(GitHubError::NoUrl)?;
    Ok(Opened {
        pr_url,
        repo_url: repository.html_url.map(|u| u.to_string()),
    })
}

/// An octocrab client for `github.api_url` with the token. Shared with previews.
pub(crate) fn client(github: &GitHubSettings) -> Result<octocrab::Octocrab, GitHubError> {
    let token = github.token.as_ref().ok_or(GitHubError::NoToken)?;
    // octocrab's HTTPS client takes the process-wide rustls provider; the binary ships
    // ring only. An error means one is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    octocrab::OctocrabBuilder::new()
        .base_uri(github.api_url.as_str())
        .map_err(|source| GitHubError::ApiUrl {
            api_url: github.api_url.clone(),
            source: Box::new(source),
        })?
        .personal_token(token.expose().to_owned())
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| GitHubError::Client(Box::new(e)))
}

/// GitHub's own message and status for API errors; the error's text otherwise.
pub(crate) fn describe(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let mut text = format!("{} ({})", source.message, source.status_code);
            for detail in source.errors.iter().flatten() {
                text.push_str(&format!("; {detail}"));
            }
            text
        }
        other => other.to_string(),
    }
}
