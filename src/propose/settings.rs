//! `[propose]` in `config.toml`: where proposal branches go, who authors their commits,
//! and the GitHub repository that receives pull requests.

use crate::setting::{InvalidSetting, Secret};
use serde::Deserialize;
use std::path::PathBuf;

/// The default GitHub REST API.
pub const GITHUB_API: &str = "https://api.github.com";

/// How proposals are written and published. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProposeSettings {
    /// For a local tracked repository: a remote of that repository (by name) or a URL to
    /// push proposal branches to. Unset: branches stay in the local repository. A remote
    /// tracked repository always pushes to its own URL.
    pub remote: Option<String>,
    /// Author and committer of proposal commits.
    pub author_name: String,
    pub author_email: String,
    /// Open a pull request for every proposal (`[propose.github]`).
    pub github: Option<GitHubSettings>,
    /// The https token for pushes (`git-token` credential / `HOMELABD_GIT_TOKEN`); set
    /// by [`ProposeSettings::resolve`], never read from the file.
    #[serde(skip)]
    pub git_token: Option<Secret>,
    /// The ssh key for pushes (`[source] ssh_key`); set by [`ProposeSettings::resolve`].
    #[serde(skip)]
    pub ssh_key: Option<PathBuf>,
}

impl Default for ProposeSettings {
    fn default() -> Self {
        ProposeSettings {
            remote: None,
            author_name: "homelabd".to_owned(),
            author_email: "homelabd@localhost".to_owned(),
            github: None,
            git_token: None,
            ssh_key: None,
        }
    }
}

/// `[propose.github]`: the repository pull requests are opened in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubSettings {
    pub owner: String,
    pub repo: String,
    /// REST API base, e.g. `https://github.example.com/api/v3` for GitHub Enterprise.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The login the token acts as, for tokens that cannot ask `GET /user` (a GitHub App
    /// installation token: `<app-slug>[bot]`). Only comments by this login are edited.
    #[serde(default)]
    pub login: Option<String>,
    /// From the `github-token` credential or `HOMELABD_GITHUB_TOKEN`; set by
    /// [`ProposeSettings::resolve`], never read from the file.
    #[serde(skip)]
    pub token: Option<Secret>,
}

fn default_api_url() -> String {
    GITHUB_API.to_owned()
}

impl GitHubSettings {
    /// The web address of pull request `number`: on github.com for the public API, on
    /// the Enterprise host for an `…/api/v3` base, else beside the API base.
    pub fn pull_url(&self, number: u64) -> String {
        let api = self.api_url.trim_end_matches('/');
        let web = if api == GITHUB_API {
            "https://github.com"
        } else {
            api.strip_suffix("/api/v3").unwrap_or(api)
        };
        format!("{web}/{}/{}/pull/{number}", self.owner, self.repo)
    }
}

impl ProposeSettings {
    /// Checks the values and fills in the secrets: `git_token` and `ssh_key` as the
    /// source uses them, and the GitHub token from the systemd credential `github-token`
    /// or `HOMELABD_GITHUB_TOKEN`.
    pub fn resolve(
        mut self,
        git_token: Option<Secret>,
        ssh_key: Option<PathBuf>,
    ) -> Result<ProposeSettings, InvalidSetting> {
        let github_token = Secret::from_credential_or_env("github-token", "HOMELABD_GITHUB_TOKEN");
        self.resolve_with(git_token, ssh_key, github_token)?;
        Ok(self)
    }

    /// [`ProposeSettings::resolve`] with the GitHub token given (no environment read).
    pub fn resolve_with(
        &mut self,
        git_token: Option<Secret>,
        ssh_key: Option<PathBuf>,
        github_token: Option<Secret>,
    ) -> Result<(), InvalidSetting> {
        let invalid = |key: &'static str, message: String| InvalidSetting { key, message };
        // libgit2 refuses signatures with angle brackets or line breaks.
        let identity_ok = |s: &str| !s.trim().is_empty() && !s.contains(['<', '>', '\n', '\r']);
        if !identity_ok(&self.author_name) {
            return Err(invalid(
                "propose.author_name",
                format!(
                    "{:?}: expected a non-empty name without <, > or line breaks",
                    self.author_name
                ),
            ));
        }
        if !identity_ok(&self.author_email) || !self.author_email.contains('@') {
            return Err(invalid(
                "propose.author_email",
                format!(
                    "{:?}: expected an address like homelabd@example.org",
                    self.author_email
                ),
            ));
        }
        if self.remote.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(invalid(
                "propose.remote",
                "empty: expected a remote name (e.g. origin) or a URL".into(),
            ));
        }
        self.git_token = git_token;
        self.ssh_key = ssh_key;
        if let Some(github) = &mut self.github {
            let name_ok = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            if !name_ok(&github.owner) {
                return Err(invalid(
                    "propose.github.owner",
                    format!(
                        "{:?}: expected a GitHub user or organisation name",
                        github.owner
                    ),
                ));
            }
            if !name_ok(&github.repo) {
                return Err(invalid(
                    "propose.github.repo",
                    format!("{:?}: expected a repository name", github.repo),
                ));
            }
            check_api_url(&github.api_url)
                .map_err(|message| invalid("propose.github.api_url", message))?;
            let token = github_token.ok_or_else(|| {
                invalid(
                    "propose.github",
                    "no token: provide the systemd credential github-token or \
                     HOMELABD_GITHUB_TOKEN"
                        .into(),
                )
            })?;
            // The token becomes an HTTP header; refuse what a header cannot carry.
            if !token.expose().chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid(
                    "propose.github",
                    "the token contains spaces or characters an HTTP header cannot carry".into(),
                ));
            }
            github.token = Some(token);
        }
        Ok(())
    }
}

/// `https://…`, or plain `http://` to a loopback address only (the token is sent with
/// every request). The error is the message of the settings error that names the key.
// String error: the text of a diagnostic or settings error that names the file and key.
fn check_api_url(url: &str) -> Result<(), String> {
    let expected = "expected https://HOST[/PATH] (http:// only for 127.0.0.1, [::1] or localhost)";
    if let Some(rest) = url.strip_prefix("https://") {
        return if rest.is_empty() || rest.starts_with('/') {
            Err(format!("{url:?}: no host; {expected}"))
        } else {
            Ok(())
        };
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let authority = rest.split('/').next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        return if matches!(host, "127.0.0.1" | "::1" | "localhost") {
            Ok(())
        } else {
            Err(format!(
                "{url:?}: plain http would expose the token; {expected}"
            ))
        };
    }
    Err(format!("{url:?}: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProposeSettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_name_homelabd_and_push_nowhere() {
        let s = parse("").unwrap();
        assert_eq!(s, ProposeSettings::default());
        assert_eq!(s.author_name, "homelabd");
        assert_eq!(s.author_email, "homelabd@localhost");
        assert!(s.remote.is_none() && s.github.is_none());
    }

    #[test]
    fn unknown_keys_and_tokens_in_the_file_are_rejected() {
        assert!(parse("remotee = \"origin\"").is_err());
        assert!(parse("[github]\nowner = \"o\"\nrepo = \"r\"\ntoken = \"t\"").is_err());
    }

    #[test]
    fn github_needs_a_token_and_a_safe_url() {
        let mut s = parse("[github]\nowner = \"example\"\nrepo = \"homelab\"").unwrap();
        let mut gh = s.github.clone().unwrap();
        assert_eq!(gh.pull_url(7), "https://github.com/example/homelab/pull/7");
        gh.api_url = "https://git.example/api/v3/".into();
        assert_eq!(gh.pull_url(7), "https://git.example/example/homelab/pull/7");
        assert_eq!(s.github.as_ref().unwrap().api_url, GITHUB_API);
        let err = s.clone().resolve_with(None, None, None).unwrap_err();
        assert!(err.to_string().contains("github-token"), "{err}");
        s.resolve_with(None, None, Some(Secret::new("ghp_x")))
            .unwrap();
        assert_eq!(
            s.github
                .as_ref()
                .unwrap()
                .token
                .as_ref()
                .map(Secret::expose),
            Some("ghp_x")
        );

        for (url, ok) in [
            ("https://github.example.com/api/v3", true),
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:8080/api", true),
            ("http://github.example.com", false),
            ("ftp://x", false),
            ("https://", false),
        ] {
            assert_eq!(check_api_url(url).is_ok(), ok, "{url}");
        }
        let mut s = parse("[github]\nowner = \"o\"\nrepo = \"r\"").unwrap();
        let err = s
            .resolve_with(None, None, Some(Secret::new("has space")))
            .unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
    }

    #[test]
    fn identities_libgit2_would_refuse_are_config_errors() {
        let mut s = parse("author_name = \"a <b>\"").unwrap();
        let err = s.resolve_with(None, None, None).unwrap_err();
        assert!(err.to_string().starts_with("propose.author_name"), "{err}");
        let mut s = parse("author_email = \"nobody\"").unwrap();
        assert!(s.resolve_with(None, None, None).is_err());
    }
}
