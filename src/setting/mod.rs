//! What every settings section shares, so each module owns its own section without
//! importing `config` (which sits on top and gathers them): [`Secret`] for values read
//! from systemd credentials or the environment, [`InvalidSetting`] for a section's
//! validation error, and [`redact_url`] for the URLs that carry credentials.

mod secret;

pub use secret::Secret;

/// One key of a settings section is unusable: the key as written in `config.toml` and
/// what was wrong (`config::ConfigError::Invalid` carries it on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidSetting {
    pub key: &'static str,
    pub message: String,
}

/// A URL (database, git remote) with its credentials hidden, for logs, status and MCP
/// answers: `user:password@` becomes `user:***@`, and a bare `token@` (GitHub's
/// `https://TOKEN@github.com/o/r.git`) becomes `***@`, since a user part without a
/// password is as often the secret itself (so is the user of GitHub's
/// `TOKEN:x-oauth-basic@`). The user info ends at the *last* `@` of the
/// authority, so a password containing `@` is hidden whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let shown = match rest[..at].split_once(':') {
        Some((_, "x-oauth-basic")) => "***".to_owned(),
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{scheme}://{shown}@{}", &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/h"),
            "postgres://app:***@db:5432/h"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/h.db"),
            "sqlite:///var/lib/h.db"
        );
    }

    #[test]
    fn tokens_in_remote_urls_are_hidden_whole() {
        let cases = [
            (
                "https://ghp_SECRET@github.com/o/r.git",
                "https://***@github.com/o/r.git",
            ),
            (
                "https://user:ghp_SECRET@github.com/o/r.git",
                "https://user:***@github.com/o/r.git",
            ),
            // `@` inside the password: the user info ends at the last `@`.
            (
                "https://user:p@ss@SECRET@github.com/o/r.git",
                "https://user:***@github.com/o/r.git",
            ),
            (
                "https://ghp_SECRET:x-oauth-basic@github.com/o/r.git",
                "https://***@github.com/o/r.git",
            ),
            // An `@` in the path is not user info.
            (
                "https://github.com/o/r@v1.git",
                "https://github.com/o/r@v1.git",
            ),
            ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
            assert!(!redact_url(url).contains("SECRET"), "{url}");
        }
    }
}
