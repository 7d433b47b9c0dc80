//! `spec.health`: how homelabd tells that a resource works (an HTTP check, a TCP check
//! or the provider's own signal), and the one substitution its texts allow —
//! `{{ endpoint.host }}`, `{{ endpoint.port }}`, `{{ endpoint.address }}` from the
//! resource's recorded endpoint. Nothing else in a check is ever interpreted. Pure.

use serde::{Deserialize, Serialize};

/// How long after an apply a check may take to pass, when not given.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 60;
/// Seconds between attempts while waiting, when not given.
pub const DEFAULT_INTERVAL_SECONDS: u32 = 5;
/// The bounds the schema enforces (kept here too: a stored check is read back).
pub const MAX_TIMEOUT_SECONDS: u32 = 3600;
pub const MAX_INTERVAL_SECONDS: u32 = 300;

/// `spec.health`: exactly one of `http`, `tcp`, `provider`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// `true`: the provider's own signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u32>,
}

/// `GET url`, healthy on `expect_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
}

/// A TCP connection to `host:port` (both default to the recorded endpoint's).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortRef>,
}

/// A port number, or a text such as `"{{ endpoint.port }}"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Text(String),
}

/// What one attempt does, with every reference to the endpoint substituted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    Http { url: String, expect_status: u16 },
    Tcp { host: String, port: u16 },
    Provider,
}

/// Why a check cannot be turned into a probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Not exactly one of `http`, `tcp`, `provider: true`.
    #[error("give exactly one of http, tcp or provider: true")]
    NotOne,
    /// A `{{ … }}` other than the three endpoint fields.
    #[error(
        "unknown reference {0:?}: only {{{{ endpoint.host }}}}, {{{{ endpoint.port }}}} and {{{{ endpoint.address }}}} are allowed"
    )]
    UnknownReference(String),
    /// The check refers to the endpoint and none is recorded (yet).
    #[error("it refers to the resource's endpoint and none is recorded yet")]
    NoEndpoint,
    /// The port is not a number from 1 to 65535 after substitution.
    #[error("port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
}

/// The parts of a recorded endpoint a check may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointParts {
    pub host: String,
    pub port: String,
}

impl EndpointParts {
    /// Splits `host:port` (`[v6]:port` too); an address without a port has port "".
    pub fn parse(address: &str) -> EndpointParts {
        if let Some(rest) = address.strip_prefix('[')
            && let Some((host, port)) = rest.split_once("]:")
        {
            return EndpointParts {
                host: host.to_owned(),
                port: port.to_owned(),
            };
        }
        match address.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => EndpointParts {
                host: host.to_owned(),
                port: port.to_owned(),
            },
            _ => EndpointParts {
                host: address.to_owned(),
                port: String::new(),
            },
        }
    }

    fn address(&self) -> String {
        if self.port.is_empty() {
            self.host.clone()
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl HealthCheck {
    /// The time an apply gets to become healthy.
    pub fn timeout(&self) -> std::time::Duration {
        let s = self
            .timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .clamp(1, MAX_TIMEOUT_SECONDS);
        std::time::Duration::from_secs(u64::from(s))
    }

    /// The pause between attempts while waiting.
    pub fn interval(&self) -> std::time::Duration {
        let s = self
            .interval_seconds
            .unwrap_or(DEFAULT_INTERVAL_SECONDS)
            .clamp(1, MAX_INTERVAL_SECONDS);
        std::time::Duration::from_secs(u64::from(s))
    }

    /// Whether a probe needs the recorded endpoint.
    pub fn uses_endpoint(&self) -> bool {
        match (&self.http, &self.tcp) {
            (Some(h), _) => h.url.contains("{{"),
            (_, Some(t)) => {
                t.host.as_deref().is_none_or(|h| h.contains("{{"))
                    || match &t.port {
                        None => true,
                        Some(PortRef::Text(p)) => p.contains("{{"),
                        Some(PortRef::Number(_)) => false,
                    }
            }
            _ => false,
        }
    }

    /// Checks the form (exactly one kind, only known references) without an endpoint:
    /// what validation reports.
    pub fn check_form(&self) -> Result<(), CheckError> {
        let sample = EndpointParts {
            host: "h".to_owned(),
            port: "1".to_owned(),
        };
        self.probe(Some(&sample)).map(|_| ())
    }

    /// The probe for one attempt, references substituted from `endpoint`.
    pub fn probe(&self, endpoint: Option<&EndpointParts>) -> Result<Probe, CheckError> {
        let provider = self.provider == Some(true);
        match (&self.http, &self.tcp, provider) {
            (Some(h), None, false) => Ok(Probe::Http {
                url: substitute(&h.url, endpoint)?,
                expect_status: h.expect_status.unwrap_or(200),
            }),
            (None, Some(t), false) => {
                let host =
                    substitute(t.host.as_deref().unwrap_or("{{ endpoint.host }}"), endpoint)?;
                let port = match &t.port {
                    Some(PortRef::Number(n)) => *n,
                    Some(PortRef::Text(p)) => port_number(&substitute(p, endpoint)?)?,
                    None => port_number(&substitute("{{ endpoint.port }}", endpoint)?)?,
                };
                Ok(Probe::Tcp { host, port })
            }
            (None, None, true) => Ok(Probe::Provider),
            _ => Err(CheckError::NotOne),
        }
    }
}

fn port_number(text: &str) -> Result<u16, CheckError> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| CheckError::BadPort(text.to_owned()))
}

/// Replaces each `{{ endpoint.host|port|address }}` (spaces inside the braces optional)
/// in `text`; any other `{{ … }}` is refused. A fixed substitution, not a template.
pub fn substitute(text: &str, endpoint: Option<&EndpointParts>) -> Result<String, CheckError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(CheckError::UnknownReference(rest[start..].to_owned()));
        };
        let name = after[..end].trim();
        let parts = || endpoint.ok_or(CheckError::NoEndpoint);
        match name {
            "endpoint.host" => out.push_str(&parts()?.host),
            "endpoint.port" => out.push_str(&parts()?.port),
            "endpoint.address" => out.push_str(&parts()?.address()),
            other => return Err(CheckError::UnknownReference(other.to_owned())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(address: &str) -> EndpointParts {
        EndpointParts::parse(address)
    }

    #[test]
    fn endpoint_references_are_substituted_and_nothing_else_is() {
        let e = ep("127.0.0.1:8080");
        assert_eq!(
            substitute("http://{{ endpoint.address }}/healthz", Some(&e)).unwrap(),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            substitute("http://{{endpoint.host}}:{{ endpoint.port }}/", Some(&e)).unwrap(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            substitute("http://x/{{ secrets.db }}", Some(&e)),
            Err(CheckError::UnknownReference("secrets.db".into()))
        );
        assert_eq!(
            substitute("{{ endpoint.host }}", None),
            Err(CheckError::NoEndpoint)
        );
        assert_eq!(substitute("plain", None).unwrap(), "plain");
        assert!(substitute("http://x/{{ endpoint.host", Some(&e)).is_err());
    }

    #[test]
    fn ipv6_endpoints_split_and_join_with_brackets() {
        let e = ep("[::1]:5432");
        assert_eq!(e.host, "::1");
        assert_eq!(e.port, "5432");
        assert_eq!(
            substitute("{{ endpoint.address }}", Some(&e)).unwrap(),
            "[::1]:5432"
        );
        assert_eq!(ep("10.0.0.5").port, "");
    }

    #[test]
    fn a_tcp_check_defaults_to_the_recorded_endpoint() {
        let check = HealthCheck {
            tcp: Some(TcpCheck::default()),
            ..HealthCheck::default()
        };
        assert!(check.uses_endpoint());
        assert_eq!(
            check.probe(Some(&ep("db.lan:5432"))).unwrap(),
            Probe::Tcp {
                host: "db.lan".into(),
                port: 5432
            }
        );
        assert_eq!(check.probe(None), Err(CheckError::NoEndpoint));
        assert_eq!(
            check.probe(Some(&ep("10.0.0.5"))),
            Err(CheckError::BadPort(String::new()))
        );
        let fixed = HealthCheck {
            tcp: Some(TcpCheck {
                host: Some("127.0.0.1".into()),
                port: Some(PortRef::Number(9)),
            }),
            ..HealthCheck::default()
        };
        assert!(!fixed.uses_endpoint());
        assert!(fixed.probe(None).is_ok());
    }

    #[test]
    fn exactly_one_kind_and_bounded_timing() {
        let none = HealthCheck::default();
        assert_eq!(none.check_form(), Err(CheckError::NotOne));
        let two = HealthCheck {
            provider: Some(true),
            tcp: Some(TcpCheck::default()),
            ..HealthCheck::default()
        };
        assert_eq!(two.check_form(), Err(CheckError::NotOne));
        let provider = HealthCheck {
            provider: Some(true),
            timeout_seconds: Some(999_999),
            interval_seconds: Some(0),
            ..HealthCheck::default()
        };
        assert_eq!(provider.probe(None), Ok(Probe::Provider));
        assert_eq!(provider.timeout().as_secs(), 3600);
        assert_eq!(provider.interval().as_secs(), 1);
        assert_eq!(HealthCheck::default().timeout().as_secs(), 60);
    }
}
