//! `[notify]` and `[[notify.sinks]]` in `config.toml`. Sink URLs (Slack and Discord
//! webhook URLs are secrets) and signing secrets never live in the file: the URL is the
//! systemd credential `notify-<name>` (or `$HOMELABD_NOTIFY_<NAME>_URL`), the generic
//! webhook's HMAC secret `notify-<name>-secret` (or `$HOMELABD_NOTIFY_<NAME>_SECRET`).

use super::event::{EventType, Severity};
use crate::setting::{InvalidSetting, Secret};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// The payload format a sink speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Generic JSON, HMAC-signed (`X-Homelabd-Signature-256`).
    Webhook,
    /// A Slack incoming webhook (`text` and `blocks`).
    Slack,
    /// A Discord webhook (`content` and `embeds`).
    Discord,
}

impl SinkKind {
    /// The name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Slack => "slack",
            SinkKind::Discord => "discord",
        }
    }
}

/// `[[notify.sinks]]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    /// A DNS-1123 label; names the credentials and the delivery rows.
    pub name: String,
    pub kind: SinkKind,
    /// Event types to send (default: all), e.g. `["apply.failed", "drift.detected"]`.
    pub events: Option<Vec<String>>,
    /// The least severity to send (default `info`: everything).
    pub min_severity: Option<String>,
    /// Per request (default 10).
    pub timeout_seconds: Option<u64>,
}

/// `[notify]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    #[serde(default)]
    pub sinks: Vec<RawSink>,
    /// How often the outbox is checked (default 2).
    pub poll_interval_seconds: Option<u64>,
    /// First retry delay after a failed delivery (default 5), doubled per failure.
    pub backoff_base_seconds: Option<u64>,
    /// Longest retry delay (default 900).
    pub backoff_max_seconds: Option<u64>,
    /// Days an event is kept once no sink waits for it (default 30).
    pub retention_days: Option<u64>,
}

/// One usable sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSettings {
    pub name: String,
    pub kind: SinkKind,
    pub url: Secret,
    /// The HMAC key (generic webhooks only; required for them).
    pub secret: Option<Secret>,
    /// `None`: every type.
    pub events: Option<BTreeSet<EventType>>,
    pub min_severity: Severity,
    pub timeout: Duration,
}

impl SinkSettings {
    /// Does this sink want an event of `event_type` and `severity` (stored names)? An
    /// unknown type or severity (written by a newer version) is sent when unfiltered.
    pub fn wants(&self, event_type: &str, severity: &str) -> bool {
        let type_ok = match (&self.events, EventType::parse(event_type)) {
            (None, _) => true,
            (Some(set), Some(t)) => set.contains(&t),
            (Some(_), None) => false,
        };
        let severity_ok =
            Severity::parse(severity).unwrap_or(Severity::Critical) >= self.min_severity;
        type_ok && severity_ok
    }
}

/// `[notify]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    pub sinks: Vec<SinkSettings>,
    pub poll_interval: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long events are kept once no sink waits for them.
    pub retention: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            sinks: Vec::new(),
            poll_interval: Duration::from_secs(2),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(900),
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// `HOMELABD_NOTIFY_<NAME>_<SUFFIX>`.
fn env_name(sink: &str, suffix: &str) -> String {
    format!(
        "HOMELABD_NOTIFY_{}_{suffix}",
        sink.to_ascii_uppercase().replace('-', "_")
    )
}

fn invalid(message: String) -> InvalidSetting {
    InvalidSetting {
        key: "notify.sinks",
        message,
    }
}

fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl NotifySettings {
    /// Validates `raw`, reading each sink's URL and secret from systemd credentials or
    /// the environment.
    pub fn resolve(raw: RawNotify) -> Result<NotifySettings, InvalidSetting> {
        NotifySettings::resolve_with(raw, Secret::from_credential_or_env)
    }

    /// [`NotifySettings::resolve`] with `lookup(credential, env)` for the secrets.
    pub fn resolve_with(
        raw: RawNotify,
        lookup: impl Fn(&str, &str) -> Option<Secret>,
    ) -> Result<NotifySettings, InvalidSetting> {
        let defaults = NotifySettings::default();
        // Intervals are kept within 1 s .. 1 day: timestamps computed from them never
        // overflow.
        let secs = |v: Option<u64>, d: Duration| {
            v.map(|s| Duration::from_secs(s.clamp(1, 86_400)))
                .unwrap_or(d)
        };
        let mut seen = BTreeSet::new();
        let mut sinks = Vec::new();
        for s in raw.sinks {
            if !is_label(&s.name) {
                return Err(invalid(format!(
                    "sink name {:?}: expected a DNS-1123 label (a-z, 0-9, '-', at most 63)",
                    s.name
                )));
            }
            if !seen.insert(s.name.clone()) {
                return Err(invalid(format!("sink name {:?} is used twice", s.name)));
            }
            let events = match s.events {
                None => None,
                Some(names) => Some(
                    names
                        .iter()
                        .map(|n| {
                            EventType::parse(n).ok_or_else(|| {
                                invalid(format!(
                                    "sink {:?}: unknown event {n:?}; expected one of {}",
                                    s.name,
                                    EventType::ALL.map(EventType::as_str).join(", ")
                                ))
                            })
                        })
                        .collect::<Result<BTreeSet<_>, _>>()?,
                ),
            };
            let min_severity = match s.min_severity.as_deref() {
                None => Severity::Info,
                Some(text) => Severity::parse(text).ok_or_else(|| {
                    invalid(format!(
                        "sink {:?}: min_severity {text:?}; expected info, warning or critical",
                        s.name
                    ))
                })?,
            };
            let url_credential = format!("notify-{}", s.name);
            let url_env = env_name(&s.name, "URL");
            let url = lookup(&url_credential, &url_env).ok_or_else(|| {
                invalid(format!(
                    "sink {:?}: no URL; set the credential {url_credential} or ${url_env}",
                    s.name
                ))
            })?;
            let scheme_ok =
                url.expose().starts_with("https://") || url.expose().starts_with("http://");
            if !scheme_ok || reqwest::Url::parse(url.expose()).is_err() {
                // The URL is a secret: say where it came from, not what it is.
                return Err(invalid(format!(
                    "sink {:?}: the URL in {url_credential} / ${url_env} is not an http(s) URL",
                    s.name
                )));
            }
            let secret_credential = format!("notify-{}-secret", s.name);
            let secret_env = env_name(&s.name, "SECRET");
            let secret = lookup(&secret_credential, &secret_env);
            if s.kind == SinkKind::Webhook && secret.is_none() {
                return Err(invalid(format!(
                    "sink {:?}: a webhook sink signs its body; set the credential \
                     {secret_credential} or ${secret_env}",
                    s.name
                )));
            }
            let timeout_seconds = s.timeout_seconds.unwrap_or(10);
            if !(1..=600).contains(&timeout_seconds) {
                return Err(invalid(format!(
                    "sink {:?}: timeout_seconds {timeout_seconds}; expected 1..=600",
                    s.name
                )));
            }
            let timeout = Duration::from_secs(timeout_seconds);
            sinks.push(SinkSettings {
                name: s.name,
                kind: s.kind,
                url,
                secret,
                events,
                min_severity,
                timeout,
            });
        }
        let backoff_base = secs(raw.backoff_base_seconds, defaults.backoff_base);
        let backoff_max = secs(raw.backoff_max_seconds, defaults.backoff_max).max(backoff_base);
        Ok(NotifySettings {
            sinks,
            poll_interval: secs(raw.poll_interval_seconds, defaults.poll_interval),
            backoff_base,
            backoff_max,
            retention: raw
                .retention_days
                .map(|d| Duration::from_secs(d.clamp(1, 36_500) * 86_400))
                .unwrap_or(defaults.retention),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RawNotify {
        toml::from_str(text).unwrap()
    }

    fn lookup(credential: &str, _env: &str) -> Option<Secret> {
        match credential {
            "notify-ops" | "notify-chat" => Some(Secret::new("https://hooks.example/x")),
            "notify-ops-secret" => Some(Secret::new("s3cret")),
            _ => None,
        }
    }

    #[test]
    fn a_filtered_sink_wants_only_its_types_and_severities() {
        let raw = parse(
            r#"
            [[sinks]]
            name = "chat"
            kind = "slack"
            events = ["apply.failed", "drift.detected"]
            min_severity = "warning"
            "#,
        );
        let s = NotifySettings::resolve_with(raw, lookup).unwrap();
        let chat = &s.sinks[0];
        assert!(chat.wants("apply.failed", "critical"));
        assert!(chat.wants("drift.detected", "warning"));
        assert!(!chat.wants("drift.detected", "info"));
        assert!(!chat.wants("proposal.opened", "critical"));
        assert!(chat.secret.is_none());
    }

    #[test]
    fn an_unfiltered_sink_wants_everything() {
        let raw = parse("[[sinks]]\nname = \"ops\"\nkind = \"webhook\"\n");
        let s = NotifySettings::resolve_with(raw, lookup).unwrap();
        assert!(s.sinks[0].wants("proposal.opened", "info"));
        assert!(s.sinks[0].wants("something.new", "info"));
        assert_eq!(s.sinks[0].timeout, Duration::from_secs(10));
    }

    #[test]
    fn bad_sinks_are_explained() {
        let cases = [
            ("[[sinks]]\nname = \"Ops!\"\nkind = \"slack\"\n", "DNS-1123"),
            (
                "[[sinks]]\nname = \"chat\"\nkind = \"slack\"\nevents = [\"apply.exploded\"]\n",
                "unknown event \"apply.exploded\"",
            ),
            (
                "[[sinks]]\nname = \"chat\"\nkind = \"slack\"\nmin_severity = \"fatal\"\n",
                "min_severity",
            ),
            (
                "[[sinks]]\nname = \"nourl\"\nkind = \"slack\"\n",
                "set the credential notify-nourl or $HOMELABD_NOTIFY_NOURL_URL",
            ),
            (
                "[[sinks]]\nname = \"chat\"\nkind = \"webhook\"\n",
                "notify-chat-secret",
            ),
            (
                "[[sinks]]\nname = \"chat\"\nkind = \"slack\"\n[[sinks]]\nname = \"chat\"\nkind = \"slack\"\n",
                "used twice",
            ),
        ];
        for (text, expected) in cases {
            let err = NotifySettings::resolve_with(parse(text), lookup)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err} should mention {expected}");
            assert!(!err.contains("hooks.example"), "the URL is secret: {err}");
        }
    }

    #[test]
    fn huge_intervals_are_bounded() {
        let raw = parse(
            "backoff_max_seconds = 18446744073709551615\nretention_days = 18446744073709551615\n\
             poll_interval_seconds = 0\n",
        );
        let s = NotifySettings::resolve_with(raw, lookup).unwrap();
        assert_eq!(s.backoff_max, Duration::from_secs(86_400));
        assert_eq!(s.retention, Duration::from_secs(36_500 * 86_400));
        assert_eq!(s.poll_interval, Duration::from_secs(1));
        let raw = parse("[[sinks]]\nname = \"chat\"\nkind = \"slack\"\ntimeout_seconds = 601\n");
        let err = NotifySettings::resolve_with(raw, lookup).unwrap_err();
        assert!(err.to_string().contains("expected 1..=600"), "{err}");
    }

    #[test]
    fn unknown_keys_and_kinds_are_refused() {
        assert!(
            toml::from_str::<RawNotify>("[[sinks]]\nname = \"a\"\nkind = \"email\"\n").is_err()
        );
        assert!(
            toml::from_str::<RawNotify>("[[sinks]]\nname = \"a\"\nkind = \"slack\"\nurl = \"x\"\n")
                .is_err()
        );
    }
}
