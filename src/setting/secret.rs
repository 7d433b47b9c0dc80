//! Secrets from systemd credentials or the environment, never printed.

use std::fmt;

/// A secret string. `Debug` and `Display` print `***`; use [`Secret::expose`] deliberately.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `$CREDENTIALS_DIRECTORY/<credential>` (systemd `LoadCredential=`), else `$<env>`.
    /// Trailing newlines of a credential file are dropped; empty values count as unset.
    pub fn from_credential_or_env(credential: &str, env: &str) -> Option<Secret> {
        let from_file = std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| std::path::PathBuf::from(dir).join(credential))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned());
        from_file
            .or_else(|| std::env::var(env).ok())
            .filter(|s| !s.is_empty())
            .map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
