//! `[ui]` in `config.toml`, the dashboard's settings (read by `crate::ui`): whether the
//! dashboard is served, how long a login lasts, and whether its cookie is marked `Secure`
//! (set this when the daemon is reached through a TLS-terminating proxy; the daemon
//! itself speaks plain HTTP).

use super::ConfigError;
use serde::Deserialize;
use std::time::Duration;

/// `[ui]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUi {
    /// Serve the dashboard under `/ui/` (default true). Without MCP tokens nobody can
    /// log in.
    pub enabled: Option<bool>,
    /// Mark the session cookie `Secure`, so browsers send it over HTTPS only (default
    /// false: the listener is plain HTTP; set it behind a TLS proxy).
    pub secure_cookies: Option<bool>,
    /// How long a login lasts, in minutes (default 720, at most 10080).
    pub session_minutes: Option<u64>,
    /// How long an idle login lasts, in minutes (default 60).
    pub idle_minutes: Option<u64>,
}

/// Validated `[ui]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSettings {
    pub enabled: bool,
    pub secure_cookies: bool,
    /// A session ends this long after login, whatever happens.
    pub session_ttl: Duration,
    /// A session ends after this long without a request.
    pub idle_ttl: Duration,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            enabled: true,
            secure_cookies: false,
            session_ttl: Duration::from_secs(720 * 60),
            idle_ttl: Duration::from_secs(60 * 60),
        }
    }
}

impl UiSettings {
    /// Checks `[ui]`.
    pub fn resolve(raw: RawUi) -> Result<UiSettings, ConfigError> {
        let d = UiSettings::default();
        let minutes = |v: Option<u64>, default: Duration, key: &'static str| match v {
            None => Ok(default),
            Some(m) if (1..=10_080).contains(&m) => Ok(Duration::from_secs(m * 60)),
            Some(m) => Err(ConfigError::Invalid {
                key,
                message: format!("{m}: expected 1 to 10080 minutes"),
            }),
        };
        Ok(UiSettings {
            enabled: raw.enabled.unwrap_or(d.enabled),
            secure_cookies: raw.secure_cookies.unwrap_or(d.secure_cookies),
            session_ttl: minutes(raw.session_minutes, d.session_ttl, "ui.session_minutes")?,
            idle_ttl: minutes(raw.idle_minutes, d.idle_ttl, "ui.idle_minutes")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let s = UiSettings::resolve(RawUi::default()).unwrap();
        assert!(s.enabled && !s.secure_cookies);
        assert_eq!(s.session_ttl, Duration::from_secs(43_200));
        let bad = RawUi {
            session_minutes: Some(0),
            ..RawUi::default()
        };
        assert!(UiSettings::resolve(bad).is_err());
    }
}
