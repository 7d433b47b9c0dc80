//! `[proxmox]` in `config.toml`: where the Proxmox VE API is and how to trust it.

use super::ProxmoxError;
use super::tls;
use crate::setting::Secret;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The systemd credential that holds the API token secret.
pub const TOKEN_CREDENTIAL: &str = "proxmox-token";
/// The environment variable read when the credential is absent.
pub const TOKEN_ENV: &str = "HOMELABD_PROXMOX_TOKEN";

/// How to reach one Proxmox VE cluster. The token *secret* never lives here: it comes
/// from the `proxmox-token` credential or `HOMELABD_PROXMOX_TOKEN` ([`load_token`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxSettings {
    /// Base URL of any cluster node's API: `https://pve.home.arpa:8006` (a trailing
    /// `/api2/json` is accepted).
    pub url: String,
    /// The API token id, `user@realm!name` (Datacenter > Permissions > API Tokens).
    pub token_id: String,
    /// Verify the API's TLS certificate (on by default). Turning it off is allowed only
    /// explicitly and is logged as a warning on every start.
    #[serde(default = "default_verify_tls")]
    pub verify_tls: bool,
    /// Trust only this CA (PEM), e.g. a copy of the cluster's `/etc/pve/pve-root-ca.pem`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint (`AA:BB:…`, as the
    /// node's Certificates page shows it), whoever signed it.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Seconds one API request may take, connect included.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// API requests in flight at once during a drift pass or discovery.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_verify_tls() -> bool {
    true
}

fn default_timeout_seconds() -> u64 {
    10
}

fn default_concurrency() -> usize {
    8
}

/// How the API's certificate is checked, decided from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustMode {
    /// The system's trust store, with host name checks.
    System,
    /// Only this CA file, with host name checks.
    CaFile(PathBuf),
    /// Exactly the certificate with this SHA-256 digest; no chain or name checks.
    Fingerprint([u8; 32]),
    /// No verification at all (`verify_tls = false`).
    Insecure,
}

impl ProxmoxSettings {
    /// A minimal valid configuration (defaults for everything optional).
    pub fn new(url: impl Into<String>, token_id: impl Into<String>) -> ProxmoxSettings {
        ProxmoxSettings {
            url: url.into(),
            token_id: token_id.into(),
            verify_tls: default_verify_tls(),
            ca_file: None,
            fingerprint: None,
            timeout_seconds: default_timeout_seconds(),
            concurrency: default_concurrency(),
        }
    }

    /// Checks every key; the error names the key, the value's problem and what is
    /// expected. Pure: files (the CA) are read when the client is built.
    pub fn validate(&self) -> Result<(), ProxmoxError> {
        self.api_base()?;
        check_token_id(&self.token_id)?;
        self.trust_mode()?;
        if !(1..=600).contains(&self.timeout_seconds) {
            return Err(invalid(
                "proxmox.timeout_seconds",
                format!("{}: expected 1..=600 seconds", self.timeout_seconds),
            ));
        }
        if !(1..=64).contains(&self.concurrency) {
            return Err(invalid(
                "proxmox.concurrency",
                format!("{}: expected 1..=64 requests in flight", self.concurrency),
            ));
        }
        Ok(())
    }

    /// `<url>/api2/json`, without a trailing slash.
    pub fn api_base(&self) -> Result<String, ProxmoxError> {
        let trimmed = self.url.trim().trim_end_matches('/');
        let trimmed = trimmed.strip_suffix("/api2/json").unwrap_or(trimmed);
        let bad = |why: &str| {
            invalid(
                "proxmox.url",
                format!(
                    "{:?} {why}; expected the API's base URL, e.g. \"https://pve.home.arpa:8006\"",
                    self.url
                ),
            )
        };
        let parsed =
            reqwest::Url::parse(trimmed).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(bad("is not an http(s) URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("has no host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "carries credentials (the token belongs in the credential)",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("has a query or fragment"));
        }
        Ok(format!("{trimmed}/api2/json"))
    }

    /// How the certificate is checked; refuses contradictory settings.
    pub fn trust_mode(&self) -> Result<TrustMode, ProxmoxError> {
        match (&self.ca_file, &self.fingerprint, self.verify_tls) {
            (Some(_), Some(_), _) => Err(invalid(
                "proxmox.fingerprint",
                "set either ca_file or fingerprint, not both".into(),
            )),
            (Some(_), None, false) | (None, Some(_), false) => Err(invalid(
                "proxmox.verify_tls",
                "false contradicts ca_file / fingerprint: pinning needs verification on".into(),
            )),
            (Some(path), None, true) => Ok(TrustMode::CaFile(path.clone())),
            (None, Some(text), true) => tls::parse_fingerprint(text)
                .map(TrustMode::Fingerprint)
                .map_err(|e| invalid("proxmox.fingerprint", e.to_string())),
            (None, None, true) => Ok(TrustMode::System),
            (None, None, false) => Ok(TrustMode::Insecure),
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }
}

/// The token secret from `$CREDENTIALS_DIRECTORY/proxmox-token`, else
/// `$HOMELABD_PROXMOX_TOKEN`.
pub fn load_token() -> Option<Secret> {
    Secret::from_credential_or_env(TOKEN_CREDENTIAL, TOKEN_ENV)
}

fn invalid(key: &'static str, message: String) -> ProxmoxError {
    ProxmoxError::Settings { key, message }
}

/// `user@realm!name`: the form Proxmox shows when a token is created.
fn check_token_id(id: &str) -> Result<(), ProxmoxError> {
    let expected = "expected USER@REALM!TOKENNAME, e.g. \"homelabd@pve!observer\"";
    let bad = |why: &str| invalid("proxmox.token_id", format!("{id:?} {why}; {expected}"));
    let (user, name) = id.split_once('!').ok_or_else(|| bad("has no '!'"))?;
    let (user_name, realm) = user.split_once('@').ok_or_else(|| bad("has no '@realm'"))?;
    if user_name.is_empty() || realm.is_empty() || name.is_empty() {
        return Err(bad("has an empty part"));
    }
    // The id goes into the Authorization header next to the secret: nothing that could
    // end the field or the header.
    let allowed = |c: char| c.is_ascii_graphic() && !matches!(c, '=' | ',' | '"');
    if !id.chars().all(allowed) || name.contains('@') || name.contains('!') {
        return Err(bad("contains characters a token id cannot have"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> ProxmoxSettings {
        ProxmoxSettings::new("https://pve.home.arpa:8006", "homelabd@pve!observer")
    }

    fn key_of(e: ProxmoxError) -> &'static str {
        match e {
            ProxmoxError::Settings { key, .. } => key,
            other => panic!("not a settings error: {other}"),
        }
    }

    #[test]
    fn the_api_base_is_normalised() {
        for url in [
            "https://pve.home.arpa:8006",
            "https://pve.home.arpa:8006/",
            "https://pve.home.arpa:8006/api2/json",
            "https://pve.home.arpa:8006/api2/json/",
        ] {
            let s = ProxmoxSettings {
                url: url.into(),
                ..s()
            };
            assert_eq!(
                s.api_base().unwrap(),
                "https://pve.home.arpa:8006/api2/json"
            );
        }
    }

    #[test]
    fn bad_urls_name_the_key_and_the_problem() {
        for (url, why) in [
            ("pve.home.arpa:8006", "not an http(s) URL"),
            ("ftp://pve", "not an http(s) URL"),
            ("https://root:pw@pve:8006", "credentials"),
            ("https://pve:8006/?x=1", "query"),
        ] {
            let err = ProxmoxSettings {
                url: url.into(),
                ..s()
            }
            .validate()
            .unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with("proxmox.url:") && msg.contains(why),
                "{url}: {msg}"
            );
        }
    }

    #[test]
    fn token_ids_must_look_like_user_realm_bang_name() {
        for good in ["root@pam!ci", "homelabd@pve!observer", "a.b-c@ldap!x_1"] {
            check_token_id(good).unwrap();
        }
        for bad in [
            "root@pam",
            "root!ci",
            "@pam!ci",
            "root@!ci",
            "root@pam!",
            "root@pam!a=b",
            "ro ot@pam!ci",
        ] {
            let err = check_token_id(bad).unwrap_err();
            assert!(
                err.to_string().contains("USER@REALM!TOKENNAME"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn trust_modes_follow_the_settings_and_refuse_contradictions() {
        assert_eq!(s().trust_mode().unwrap(), TrustMode::System);
        let insecure = ProxmoxSettings {
            verify_tls: false,
            ..s()
        };
        assert_eq!(insecure.trust_mode().unwrap(), TrustMode::Insecure);
        let ca = ProxmoxSettings {
            ca_file: Some("/etc/pve-ca.pem".into()),
            ..s()
        };
        assert_eq!(
            ca.trust_mode().unwrap(),
            TrustMode::CaFile("/etc/pve-ca.pem".into())
        );
        let fp = "AB:".repeat(31) + "AB";
        let pinned = ProxmoxSettings {
            fingerprint: Some(fp),
            ..s()
        };
        assert_eq!(
            pinned.trust_mode().unwrap(),
            TrustMode::Fingerprint([0xab; 32])
        );

        let both = ProxmoxSettings {
            ca_file: Some("/x".into()),
            ..pinned.clone()
        };
        assert_eq!(
            key_of(both.trust_mode().unwrap_err()),
            "proxmox.fingerprint"
        );
        let off = ProxmoxSettings {
            verify_tls: false,
            ..pinned
        };
        assert_eq!(key_of(off.trust_mode().unwrap_err()), "proxmox.verify_tls");
        let short = ProxmoxSettings {
            fingerprint: Some("AB:CD".into()),
            ..s()
        };
        assert_eq!(key_of(short.validate().unwrap_err()), "proxmox.fingerprint");
    }

    #[test]
    fn limits_are_checked() {
        let slow = ProxmoxSettings {
            timeout_seconds: 0,
            ..s()
        };
        assert_eq!(
            key_of(slow.validate().unwrap_err()),
            "proxmox.timeout_seconds"
        );
        let wide = ProxmoxSettings {
            concurrency: 1000,
            ..s()
        };
        assert_eq!(key_of(wide.validate().unwrap_err()), "proxmox.concurrency");
    }

    #[test]
    fn toml_keys_are_exact_and_defaults_apply() {
        let parsed: ProxmoxSettings =
            toml::from_str("url = \"https://pve:8006\"\ntoken_id = \"a@pve!b\"\n").unwrap();
        assert!(parsed.verify_tls);
        assert_eq!((parsed.timeout_seconds, parsed.concurrency), (10, 8));
        let err = toml::from_str::<ProxmoxSettings>(
            "url = \"https://pve:8006\"\ntoken_id = \"a@pve!b\"\ntoken = \"secret\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }
}
