//! Pull requests through octocrab: `GET /repos/{owner}/{repo}` (the repository exists and
//! the token can see it; its web address gives the compare link), then
//! `POST /repos/{owner}/{repo}/pulls` with head = the proposal branch, base = the tracked
//! branch.

use super::ProposeError;
use super::settings::GitHubSettings;
use std::time::Duration;

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
        Err(_) => Err(ProposeError::GitHub(format!(
            "no answer from {} within {} s",
            github.api_url,
            TIMEOUT.as_secs()
        ))),
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
        .map_err(|e| {
            ProposeError::GitHub(format!(
                "repository {}/{}: {}",
                github.owner,
                github.repo,
                describe(e)
            ))
        })?;
    let pull = client
        .pulls(&github.owner, &github.repo)
        .create(title, head, base)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            ProposeError::GitHub(format!(
                "opening a pull request from {head} into {base}: {}",
                describe(e)
            ))
        })?;
    let pr_url = pull
        .html_url
        .map(|u| u.to_string())
        .ok_or_else(|| ProposeError::GitHub("the new pull request has no html_url".into()))?;
    Ok(Opened {
        pr_url,
        repo_url: repository.html_url.map(|u| u.to_string()),
    })
}

/// An octocrab client for `github.api_url` with the token. Shared with previews.
pub(crate) fn client(github: &GitHubSettings) -> Result<octocrab::Octocrab, ProposeError> {
    let token = github.token.as_ref().ok_or_else(|| {
        ProposeError::GitHub("no token (credential github-token or HOMELABD_GITHUB_TOKEN)".into())
    })?;
    // octocrab's HTTPS client takes the process-wide rustls provider; the binary ships
    // ring only. An error means one is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    octocrab::OctocrabBuilder::new()
        .base_uri(github.api_url.as_str())
        .map_err(|e| {
            ProposeError::GitHub(format!("api_url {:?}: {}", github.api_url, describe(e)))
        })?
        .personal_token(token.expose().to_owned())
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| ProposeError::GitHub(describe(e)))
}

/// GitHub's own message and status for API errors; the error's text otherwise.
pub(crate) fn describe(e: octocrab::Error) -> String {
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
