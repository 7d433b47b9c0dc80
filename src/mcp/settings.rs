//! `[mcp]` in `config.toml`: bearer tokens for `/mcp`, their scopes, the rate limit and
//! the Host allow-list. Token secrets never live in the file: each named token's secret is
//! the systemd credential `mcp-token-<name>` (or `$HOMELABD_MCP_TOKEN_<NAME>`). For scripts,
//! the credential `mcp-token` / `$HOMELABD_MCP_TOKEN` adds a propose-scope token named `env`,
//! and `mcp-read-token` / `$HOMELABD_MCP_READ_TOKEN` a read-scope token named `env-read`.

use crate::setting::{InvalidSetting, Secret};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the MCP server reads of the daemon's settings. `config::Settings::mcp_server`
/// builds it: `config` gathers every section (this module's `[mcp]` among them), so the
/// server takes its part instead of importing the whole.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `[mcp]`.
    pub mcp: McpSettings,
    /// `[propose]`, for the proposer the server makes its proposals through.
    pub propose: crate::propose::ProposeSettings,
    /// The store's URL (secret-bearing: log it only through `setting::redact_url`).
    pub database_url: String,
    /// How long a fetched remote head is trusted before it is fetched again.
    pub poll_interval: Duration,
    /// `[policy] prune`: the default the proposal tools show for a resource without one.
    pub default_prune: bool,
    /// `[proxmox]`, for the live inventory.
    pub proxmox: Option<crate::observe::proxmox::ProxmoxSettings>,
    pub proxmox_token: Option<Secret>,
    /// `[executors.docker] docker_binary`, `[executors.kubernetes] binary` and `context`:
    /// what the live inventory scans with.
    pub inventory_tools: crate::observe::inventory::scan::Tools,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Query tools, resources and prompts only; proposal tools are not even listed.
    Read,
    /// Everything `read` may do, plus the proposal tools (branches and pull requests).
    Propose,
}

impl Scope {
    /// The scope as written in config and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Propose => "propose",
        }
    }
}

/// `[[mcp.tokens]]`: a named token whose secret comes from a credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// Shown in logs, the audit log and proposals (`mcp:<name>`); a DNS-1123 label.
    pub name: String,
    pub scope: Scope,
}

/// `[mcp]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcp {
    #[serde(default)]
    pub tokens: Vec<RawToken>,
    /// Requests per minute each token may make (default 600).
    pub rate_limit_per_minute: Option<u32>,
    /// Requests a token may make at once after being idle (default 120).
    pub rate_limit_burst: Option<u32>,
    /// Proposal tool calls per minute each token may make, within its request budget
    /// (default 6).
    pub proposal_rate_limit_per_minute: Option<u32>,
    /// Proposal tool calls a token may make at once after being idle (default 3).
    pub proposal_rate_limit_burst: Option<u32>,
    /// `Host` values `/mcp` answers (default: localhost, 127.0.0.1, ::1).
    pub allowed_hosts: Option<Vec<String>>,
    /// Serve no proposal tools at all, whatever the token scope.
    pub read_only: Option<bool>,
    /// Largest tool-call arguments accepted, in bytes of compact JSON (default 262144).
    pub max_argument_bytes: Option<u64>,
    /// Deepest nesting of tool-call arguments accepted (default 32).
    pub max_argument_depth: Option<u32>,
    /// Wall-clock seconds one tool call may take before it is answered with an error
    /// (default 60).
    pub call_timeout_seconds: Option<u64>,
    /// Tool calls worked on at once; more wait their turn within their deadline
    /// (default 8).
    pub max_concurrent_calls: Option<u32>,
    /// Failed authentications one client address may make within
    /// `auth_failure_window_seconds` before it gets 429 (default 10).
    pub auth_failure_limit: Option<u32>,
    /// The window failed authentications are counted in, and how long a client over the
    /// limit waits (default 60).
    pub auth_failure_window_seconds: Option<u64>,
}

/// One usable token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    pub scope: Scope,
    pub secret: Secret,
}

/// Validated `[mcp]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSettings {
    /// Tokens with a secret; named tokens whose credential is missing are left out (and
    /// named in [`McpSettings::missing`]).
    pub tokens: Vec<Token>,
    /// Named tokens that have no secret (no credential, no environment variable).
    pub missing: Vec<String>,
    /// Requests per minute per token (every `/mcp` request: reads, lists, sessions).
    pub rate_per_minute: u32,
    pub burst: u32,
    /// Proposal tool calls per minute per token, on top of the request budget.
    pub proposal_rate_per_minute: u32,
    pub proposal_burst: u32,
    pub allowed_hosts: Vec<String>,
    pub read_only: bool,
    /// Bounds on one tool call ([`CallLimits`]).
    pub limits: CallLimits,
    /// Failed authentications a client address may make per window.
    pub auth_failure_limit: u32,
    /// The window failures are counted in.
    pub auth_failure_window: std::time::Duration,
}

/// The shortest token secret accepted (characters). Shorter ones are guessable online and
/// refused at start.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Bounds on one tool call: argument size and depth, a wall-clock deadline, and how many
/// calls run at once (on the blocking pool, never on a runtime worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub max_argument_bytes: usize,
    pub max_argument_depth: usize,
    pub timeout: std::time::Duration,
    pub max_concurrent: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            max_argument_bytes: 256 * 1024,
            max_argument_depth: 32,
            timeout: std::time::Duration::from_secs(60),
            max_concurrent: 8,
        }
    }
}

/// The environment variable holding a propose-scope token for scripts.
pub const ENV_PROPOSE_TOKEN: &str = "HOMELABD_MCP_TOKEN";
/// The environment variable holding a read-scope token for scripts.
pub const ENV_READ_TOKEN: &str = "HOMELABD_MCP_READ_TOKEN";
/// Names of the tokens from the environment (propose, read); not usable in `[mcp]`.
const RESERVED_NAMES: [&str; 2] = ["env", "env-read"];

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            tokens: Vec::new(),
            missing: Vec::new(),
            rate_per_minute: 600,
            burst: 120,
            proposal_rate_per_minute: 6,
            proposal_burst: 3,
            allowed_hosts: default_hosts(),
            read_only: false,
            limits: CallLimits::default(),
            auth_failure_limit: 10,
            auth_failure_window: std::time::Duration::from_secs(60),
        }
    }
}

/// Refuses a secret shorter than [`MIN_TOKEN_CHARS`], naming where it came from.
pub fn check_token_length(
    key: &'static str,
    origin: &str,
    secret: &Secret,
) -> Result<(), InvalidSetting> {
    let chars = secret.expose().chars().count();
    if chars < MIN_TOKEN_CHARS {
        return Err(InvalidSetting {
            key,
            message: format!(
                "{origin} is {chars} characters long; at least {MIN_TOKEN_CHARS} are required (generate one with `openssl rand -hex 32`)"
            ),
        });
    }
    Ok(())
}

fn default_hosts() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

impl McpSettings {
    /// Validates `raw` and looks up every token's secret (credentials, then environment).
    pub fn resolve(raw: RawMcp) -> Result<McpSettings, InvalidSetting> {
        Self::resolve_with(raw, &|credential, env| {
            Secret::from_credential_or_env(credential, env)
        })
    }

    /// [`McpSettings::resolve`] with the secret lookup passed in (pure for tests).
    pub fn resolve_with(
        raw: RawMcp,
        lookup: &dyn Fn(&str, &str) -> Option<Secret>,
    ) -> Result<McpSettings, InvalidSetting> {
        let mut settings = McpSettings::default();
        let invalid = |message: String| InvalidSetting {
            key: "mcp.tokens",
            message,
        };
        for token in raw.tokens {
            if !crate::model::is_dns1123_label(&token.name) {
                return Err(invalid(format!(
                    "token name {:?} must be a DNS-1123 label (lowercase letters, digits, '-')",
                    token.name
                )));
            }
            if RESERVED_NAMES.contains(&token.name.as_str()) {
                return Err(invalid(format!(
                    "token name {:?} is reserved for the token from the environment",
                    token.name
                )));
            }
            if settings.tokens.iter().any(|t| t.name == token.name)
                || settings.missing.contains(&token.name)
            {
                return Err(invalid(format!("token {:?} is listed twice", token.name)));
            }
            let env = format!(
                "HOMELABD_MCP_TOKEN_{}",
                token.name.to_ascii_uppercase().replace('-', "_")
            );
            let credential = format!("mcp-token-{}", token.name);
            match lookup(&credential, &env) {
                Some(secret) => {
                    check_token_length(
                        "mcp.tokens",
                        &format!(
                            "the secret of token {:?} (credential {credential} or {env})",
                            token.name
                        ),
                        &secret,
                    )?;
                    settings.tokens.push(Token {
                        name: token.name,
                        scope: token.scope,
                        secret,
                    })
                }
                None => settings.missing.push(token.name),
            }
        }
        for (name, credential, env, scope) in [
            (
                RESERVED_NAMES[0],
                "mcp-token",
                ENV_PROPOSE_TOKEN,
                Scope::Propose,
            ),
            (
                RESERVED_NAMES[1],
                "mcp-read-token",
                ENV_READ_TOKEN,
                Scope::Read,
            ),
        ] {
            if let Some(secret) = lookup(credential, env) {
                check_token_length(
                    "mcp.tokens",
                    &format!("the token in {env} (credential {credential})"),
                    &secret,
                )?;
                settings.tokens.push(Token {
                    name: name.to_owned(),
                    scope,
                    secret,
                });
            }
        }
        if let Some(rate) = raw.rate_limit_per_minute {
            if rate == 0 {
                return Err(InvalidSetting {
                    key: "mcp.rate_limit_per_minute",
                    message: "0: expected at least 1".into(),
                });
            }
            settings.rate_per_minute = rate;
        }
        if let Some(burst) = raw.rate_limit_burst {
            if burst == 0 {
                return Err(InvalidSetting {
                    key: "mcp.rate_limit_burst",
                    message: "0: expected at least 1".into(),
                });
            }
            settings.burst = burst;
        }
        if let Some(rate) = raw.proposal_rate_limit_per_minute {
            if rate == 0 {
                return Err(InvalidSetting {
                    key: "mcp.proposal_rate_limit_per_minute",
                    message: "0: expected at least 1".into(),
                });
            }
            settings.proposal_rate_per_minute = rate;
        }
        if let Some(burst) = raw.proposal_rate_limit_burst {
            if burst == 0 {
                return Err(InvalidSetting {
                    key: "mcp.proposal_rate_limit_burst",
                    message: "0: expected at least 1".into(),
                });
            }
            settings.proposal_burst = burst;
        }
        if let Some(hosts) = raw.allowed_hosts {
            settings.allowed_hosts = hosts;
        }
        settings.read_only = raw.read_only.unwrap_or(false);
        let at_least_one = |key: &'static str, value: u64| -> Result<u64, InvalidSetting> {
            if value == 0 {
                Err(InvalidSetting {
                    key,
                    message: "0: expected at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        let limits = &mut settings.limits;
        if let Some(v) = raw.max_argument_bytes {
            limits.max_argument_bytes = at_least_one("mcp.max_argument_bytes", v)? as usize;
        }
        if let Some(v) = raw.max_argument_depth {
            limits.max_argument_depth =
                at_least_one("mcp.max_argument_depth", u64::from(v))? as usize;
        }
        if let Some(v) = raw.call_timeout_seconds {
            limits.timeout =
                std::time::Duration::from_secs(at_least_one("mcp.call_timeout_seconds", v)?);
        }
        if let Some(v) = raw.max_concurrent_calls {
            limits.max_concurrent =
                at_least_one("mcp.max_concurrent_calls", u64::from(v))? as usize;
        }
        if let Some(v) = raw.auth_failure_limit {
            settings.auth_failure_limit =
                at_least_one("mcp.auth_failure_limit", u64::from(v))? as u32;
        }
        if let Some(v) = raw.auth_failure_window_seconds {
            settings.auth_failure_window =
                std::time::Duration::from_secs(at_least_one("mcp.auth_failure_window_seconds", v)?);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawMcp {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn named_tokens_take_their_secret_from_the_credential_and_env_tokens_are_added() {
        let lookup = |credential: &str, env: &str| -> Option<Secret> {
            match (credential, env) {
                ("mcp-token-claude", _) => Some(Secret::new("c-secret-0123456789")),
                (_, ENV_READ_TOKEN) => Some(Secret::new("r-secret-0123456789")),
                _ => None,
            }
        };
        let s = McpSettings::resolve_with(
            raw(r#"tokens = [{ name = "claude", scope = "propose" }, { name = "ci-bot", scope = "read" }]
rate_limit_per_minute = 60"#),
            &lookup,
        )
        .unwrap();
        let names: Vec<(&str, Scope)> = s
            .tokens
            .iter()
            .map(|t| (t.name.as_str(), t.scope))
            .collect();
        assert_eq!(
            names,
            vec![("claude", Scope::Propose), ("env-read", Scope::Read)]
        );
        assert_eq!(s.missing, vec!["ci-bot".to_owned()]);
        assert_eq!(s.rate_per_minute, 60);
        assert_eq!(s.burst, 120);
        assert!(
            s.proposal_rate_per_minute < s.rate_per_minute && s.proposal_burst < s.burst,
            "reads get a larger budget than proposals"
        );
        assert_eq!(format!("{:?}", s.tokens[0].secret), "***");
    }

    #[test]
    fn bad_names_scopes_and_limits_are_refused_with_their_key() {
        let none = |_: &str, _: &str| None;
        let err = McpSettings::resolve_with(
            raw(r#"tokens = [{ name = "../x", scope = "read" }]"#),
            &none,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("mcp.tokens:"), "{err}");
        let err = McpSettings::resolve_with(raw("rate_limit_per_minute = 0"), &none).unwrap_err();
        assert!(
            err.to_string().starts_with("mcp.rate_limit_per_minute"),
            "{err}"
        );
        assert!(toml::from_str::<RawMcp>(r#"tokens = [{ name = "a", scope = "admin" }]"#).is_err());
        let err = McpSettings::resolve_with(raw("call_timeout_seconds = 0"), &none).unwrap_err();
        assert!(
            err.to_string().starts_with("mcp.call_timeout_seconds"),
            "{err}"
        );
        let s = McpSettings::resolve_with(
            raw("max_argument_bytes = 1000\nmax_argument_depth = 4\nmax_concurrent_calls = 2"),
            &none,
        )
        .unwrap();
        assert_eq!(
            (
                s.limits.max_argument_bytes,
                s.limits.max_argument_depth,
                s.limits.max_concurrent
            ),
            (1000, 4, 2)
        );
    }

    #[test]
    fn a_token_shorter_than_sixteen_characters_is_refused_naming_where_it_came_from() {
        let short_named = |credential: &str, _: &str| -> Option<Secret> {
            (credential == "mcp-token-claude").then(|| Secret::new("hunter2"))
        };
        let err = McpSettings::resolve_with(
            raw(r#"tokens = [{ name = "claude", scope = "propose" }]"#),
            &short_named,
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("mcp.tokens:"), "{err}");
        assert!(
            err.contains("mcp-token-claude")
                && err.contains("HOMELABD_MCP_TOKEN_CLAUDE")
                && err.contains("7 characters")
                && err.contains("at least 16"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2"),
            "the secret is never printed: {err}"
        );
        let short_env = |_: &str, env: &str| -> Option<Secret> {
            (env == ENV_READ_TOKEN).then(|| Secret::new("0123456789abcde"))
        };
        let err = McpSettings::resolve_with(RawMcp::default(), &short_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(ENV_READ_TOKEN) && err.contains("15 characters"),
            "{err}"
        );
        let exact = |_: &str, env: &str| -> Option<Secret> {
            (env == ENV_READ_TOKEN).then(|| Secret::new("0123456789abcdef"))
        };
        assert!(McpSettings::resolve_with(RawMcp::default(), &exact).is_ok());
    }
}
