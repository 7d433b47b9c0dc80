//! Configuration: `config.toml` (every key documented in `docs/config.example.toml`),
//! overridden by environment variables and then by command-line flags.
//!
//! Two layers, no globals: [`RawConfig`] is exactly the file (unknown keys are errors);
//! [`Settings`] is the validated result the daemon runs with. Secrets never live in the
//! file: they come from systemd credentials (`$CREDENTIALS_DIRECTORY/<name>`) or the
//! environment, and their `Debug` output is redacted.

pub mod inventory;
mod reload;
pub mod ui;

pub use reload::Reload;

use crate::setting::{InvalidSetting, Secret};

use crate::model::ApplyPolicy;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default HTTP listener: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9465";

/// Errors in the configuration: each names the key and what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("no repository: set [source] repo in the config file or pass --repo")]
    NoRepo,
}

/// A section's own validation (`[mcp]`, `[notify]`, `[propose]`, …) names its key the
/// same way the file's other keys are named.
impl From<InvalidSetting> for ConfigError {
    fn from(e: InvalidSetting) -> ConfigError {
        ConfigError::Invalid {
            key: e.key,
            message: e.message,
        }
    }
}

/// `config.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub source: RawSource,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub reconcile: RawReconcile,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub propose: crate::propose::ProposeSettings,
    #[serde(default)]
    pub executors: crate::apply::ExecutorSettings,
    /// `[proxmox]`: the Proxmox VE API to observe (absent: Proxmox is not observed).
    pub proxmox: Option<crate::observe::proxmox::ProxmoxSettings>,
    #[serde(default)]
    pub mcp: crate::mcp::settings::RawMcp,
    /// `[notify]`: outgoing notifications and their sinks.
    #[serde(default)]
    pub notify: crate::notify_out::RawNotify,
    /// `[limits]`: bounds on the work one revision can cause (docs/security.md).
    #[serde(default)]
    pub limits: crate::limits::Limits,
    /// `[secrets]`: the age identity that decrypts `secrets/*.age`.
    #[serde(default)]
    pub secrets: RawSecrets,
    /// `[ui]`: the web dashboard.
    #[serde(default)]
    pub ui: ui::RawUi,
    /// `[inventory]`: the scheduled scan of the live inventory.
    #[serde(default)]
    pub inventory: inventory::RawInventory,
}

/// `[secrets]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecrets {
    /// An age identity file (or unencrypted SSH private key). The systemd credential
    /// `age-identity` and `HOMELABD_AGE_IDENTITY_FILE` take precedence.
    pub identity_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub path: Option<String>,
    pub poll_interval_seconds: Option<u64>,
    pub ssh_key: Option<PathBuf>,
    /// `[source.verify]`: commit-signature verification.
    #[serde(default)]
    pub verify: RawVerify,
}

/// `[source.verify]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    /// `off` (default), `head` or `all`.
    pub mode: Option<String>,
    /// git's allowed signers file (SSH keys).
    pub allowed_signers: Option<PathBuf>,
    /// OpenPGP public keys (armored or binary).
    pub gpg_keyring: Option<PathBuf>,
}

impl RawVerify {
    /// Validates the section with `HOMELABD_VERIFY_MODE`, `HOMELABD_ALLOWED_SIGNERS` and
    /// `HOMELABD_GPG_KEYRING` applied over it.
    pub fn resolve(&self) -> Result<crate::source::verify::Policy, ConfigError> {
        use crate::source::verify::{Mode, Policy};
        let mode_text = env("HOMELABD_VERIFY_MODE").or_else(|| self.mode.clone());
        let mode = match mode_text {
            None => Mode::Off,
            Some(text) => Mode::parse(&text).ok_or_else(|| ConfigError::Invalid {
                key: "source.verify.mode",
                message: format!("{text:?}: expected \"off\", \"head\" or \"all\""),
            })?,
        };
        let policy = Policy {
            mode,
            allowed_signers: env("HOMELABD_ALLOWED_SIGNERS")
                .map(PathBuf::from)
                .or_else(|| self.allowed_signers.clone()),
            gpg_keyring: env("HOMELABD_GPG_KEYRING")
                .map(PathBuf::from)
                .or_else(|| self.gpg_keyring.clone()),
        };
        if policy.enabled() && policy.allowed_signers.is_none() && policy.gpg_keyring.is_none() {
            return Err(ConfigError::Invalid {
                key: "source.verify",
                message: format!(
                    "mode = {:?} needs allowed_signers (SSH keys) or gpg_keyring (OpenPGP keys)",
                    mode.as_str()
                ),
            });
        }
        Ok(policy)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReconcile {
    pub resync_schedule: Option<String>,
    pub parallelism: Option<usize>,
    pub backoff_base_seconds: Option<u64>,
    pub backoff_max_seconds: Option<u64>,
    pub shutdown_deadline_seconds: Option<u64>,
    pub observe_schedule: Option<String>,
    pub max_prune_fraction: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub apply: Option<ApplyPolicy>,
    pub self_heal: Option<bool>,
    pub prune: Option<bool>,
    /// Sync windows of resources that set no `policy.windows`.
    pub windows: Option<Vec<crate::model::window::SyncWindow>>,
    /// The flapping limit of resources that set no `policy.flapping`.
    pub flapping: Option<crate::model::window::Flapping>,
}

impl RawPolicy {
    /// The default windows, each checked.
    fn resolve_windows(&self) -> Result<Vec<crate::model::window::SyncWindow>, ConfigError> {
        let windows = self.windows.clone().unwrap_or_default();
        crate::reconcile::window::Window::parse_all(&windows).map_err(|e| {
            ConfigError::Invalid {
                key: "policy.windows",
                message: e.to_string(),
            }
        })?;
        Ok(windows)
    }

    /// The default flapping limit (3 within 10 minutes unless set).
    fn resolve_flapping(&self) -> Result<crate::reconcile::flapping::Limit, ConfigError> {
        use crate::reconcile::flapping::Limit;
        let Some(own) = &self.flapping else {
            return Ok(Limit::default());
        };
        if let Some(window) = &own.window {
            crate::model::window::parse_duration(window).map_err(|e| ConfigError::Invalid {
                key: "policy.flapping.window",
                message: e.to_string(),
            })?;
        }
        if own.max_attempts == Some(0) {
            return Err(ConfigError::Invalid {
                key: "policy.flapping.max_attempts",
                message: "0: expected at least 1".to_owned(),
            });
        }
        Ok(Limit::resolve(Some(own), Limit::default()))
    }
}

/// Flag values that override the file (all optional).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub repo: Option<String>,
    pub branch: Option<String>,
    pub path: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
}

/// Where the definitions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    /// A repository on this machine, read in place (its refs are watched).
    Local(PathBuf),
    /// A remote URL, mirrored into the state directory and fetched.
    Remote(String),
}

/// Validated settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub repo: RepoLocation,
    /// The tracked branch; `None` means the local repository's current branch (or
    /// `main` for a remote).
    pub branch: Option<String>,
    pub sub_path: Option<String>,
    pub poll_interval: Duration,
    pub ssh_key: Option<PathBuf>,
    /// Commit-signature verification (`[source.verify]`).
    pub verify: crate::source::verify::Policy,
    pub git_token: Option<Secret>,
    pub state_dir: PathBuf,
    /// Secret-bearing URL; log it only through [`crate::setting::redact_url`].
    pub database_url: String,
    pub listen: SocketAddr,
    /// Cron schedule (with seconds) of the periodic full pass.
    pub resync: cron::Schedule,
    pub parallelism: usize,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub shutdown_deadline: Duration,
    pub default_apply: ApplyPolicy,
    pub default_self_heal: bool,
    pub default_prune: bool,
    /// Sync windows of resources that set none (`[policy] windows`), validated.
    pub default_windows: Vec<crate::model::window::SyncWindow>,
    /// The flapping limit of resources that set none (`[policy] flapping`).
    pub default_flapping: crate::reconcile::flapping::Limit,
    pub webhook_secret: Option<Secret>,
    /// How proposals are written, pushed and opened as pull requests (`[propose]`).
    pub propose: crate::propose::ProposeSettings,
    /// How executors run (timeouts, tool paths, targets).
    pub executors: crate::apply::ExecutorSettings,
    /// Cron schedule (with seconds) of the drift observation pass.
    pub observe: cron::Schedule,
    /// How often the leader scans the live inventory into the store (`None`: never).
    pub inventory_scan: Option<Duration>,
    /// Prune refuses when more than this fraction of applied resources would go at once.
    pub max_prune_fraction: f64,
    /// The Proxmox VE API to observe, validated (`[proxmox]`).
    pub proxmox: Option<crate::observe::proxmox::ProxmoxSettings>,
    /// Its API token secret (credential `proxmox-token` or `HOMELABD_PROXMOX_TOKEN`).
    pub proxmox_token: Option<Secret>,
    /// MCP tokens, rate limit and Host allow-list (`[mcp]`).
    pub mcp: crate::mcp::settings::McpSettings,
    /// Notification sinks with their URLs and secrets (`[notify]`).
    pub notify: crate::notify_out::NotifySettings,
    /// Bounds on reading, parsing and rendering a revision (`[limits]`, validated).
    pub limits: crate::limits::Limits,
    /// `[secrets] identity_file` (the credential and environment win; see
    /// `secrets::locate_identity`).
    pub secrets_identity_file: Option<PathBuf>,
    /// The web dashboard (`[ui]`).
    pub ui: ui::UiSettings,
}

impl RawConfig {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut raw = RawConfig::parse(&text, &path.display().to_string())?;
        // Paths in the file are relative to the file, not to wherever the daemon starts.
        let base = path.parent().unwrap_or(Path::new(""));
        let verify = &mut raw.source.verify;
        for file in [
            &mut verify.allowed_signers,
            &mut verify.gpg_keyring,
            &mut raw.secrets.identity_file,
        ]
        .into_iter()
        .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        Ok(raw)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim().to_owned(),
        })
    }
}

/// Reads an environment variable, treating empty as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The default state directory: systemd's `STATE_DIRECTORY`, then `HOMELABD_STATE_DIR`,
/// then `$XDG_STATE_HOME/homelabd`, then `~/.local/state/homelabd`.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = env("STATE_DIRECTORY").and_then(|d| d.split(':').next().map(PathBuf::from)) {
        return dir;
    }
    if let Some(dir) = env("HOMELABD_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(xdg) = env("XDG_STATE_HOME") {
        return PathBuf::from(xdg).join("homelabd");
    }
    match env("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/homelabd"),
        None => PathBuf::from("/var/lib/homelabd"),
    }
}

/// The database URL for a state dir when none is configured: SQLite inside it.
pub fn sqlite_url(state_dir: &Path) -> String {
    format!("sqlite://{}", state_dir.join("homelabd.db").display())
}

/// Resolves the store location alone (for `status`, `migrate`, `reconcile`):
/// flag, then `HOMELABD_DATABASE_URL`, then the config file, then SQLite in the state dir.
pub fn store_url(raw: &RawConfig, o: &Overrides) -> String {
    let state_dir = o
        .state_dir
        .clone()
        .or_else(|| raw.state.dir.clone())
        .unwrap_or_else(default_state_dir);
    o.database_url
        .clone()
        .or_else(|| env("HOMELABD_DATABASE_URL"))
        .or_else(|| raw.state.database_url.clone())
        .unwrap_or_else(|| sqlite_url(&state_dir))
}

impl Settings {
    /// The part of the settings the MCP server reads.
    pub fn mcp_server(&self) -> crate::mcp::ServerSettings {
        crate::mcp::ServerSettings {
            mcp: self.mcp.clone(),
            propose: self.propose.clone(),
            database_url: self.database_url.clone(),
            poll_interval: self.poll_interval,
            default_prune: self.default_prune,
            proxmox: self.proxmox.clone(),
            proxmox_token: self.proxmox_token.clone(),
            inventory_tools: self.inventory_tools(),
        }
    }

    /// The CLIs the inventory scans with (`[executors]`) and the default Kubernetes context.
    pub fn inventory_tools(&self) -> crate::observe::inventory::scan::Tools {
        crate::observe::inventory::scan::Tools {
            docker: self.executors.docker.docker_binary.clone(),
            kubectl: self.executors.kubernetes.binary.clone(),
            kube_context: self.executors.kubernetes.context.clone(),
        }
    }

    /// Validates `raw` with environment and flag overrides applied.
    pub fn resolve(raw: RawConfig, o: &Overrides) -> Result<Settings, ConfigError> {
        let database_url = store_url(&raw, o);
        let repo = o
            .repo
            .clone()
            .or_else(|| env("HOMELABD_REPO"))
            .or(raw.source.repo)
            .ok_or(ConfigError::NoRepo)?;
        let repo = if repo.contains("://") || repo.starts_with("git@") {
            RepoLocation::Remote(repo)
        } else {
            let path = PathBuf::from(&repo);
            let path = std::fs::canonicalize(&path).map_err(|e| ConfigError::Invalid {
                key: "source.repo",
                message: format!("{repo}: {e}"),
            })?;
            RepoLocation::Local(path)
        };
        let state_dir = o
            .state_dir
            .clone()
            .or(raw.state.dir)
            .unwrap_or_else(default_state_dir);
        let listen_text = o
            .listen
            .clone()
            .or(raw.http.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            key: "http.listen",
            message: format!("{listen_text:?} is not ADDRESS:PORT (e.g. {DEFAULT_LISTEN})"),
        })?;
        let schedule_text = raw
            .reconcile
            .resync_schedule
            .unwrap_or_else(|| "*/5 * * * *".to_owned());
        let resync = parse_cron(&schedule_text).map_err(|e| ConfigError::Invalid {
            key: "reconcile.resync_schedule",
            message: e.to_string(),
        })?;
        let observe_text = raw
            .reconcile
            .observe_schedule
            .clone()
            .unwrap_or_else(|| "* * * * *".to_owned());
        let observe = parse_cron(&observe_text).map_err(|e| ConfigError::Invalid {
            key: "reconcile.observe_schedule",
            message: e.to_string(),
        })?;
        let max_prune_fraction = raw.reconcile.max_prune_fraction.unwrap_or(0.3);
        if !(0.0..=1.0).contains(&max_prune_fraction) {
            return Err(ConfigError::Invalid {
                key: "reconcile.max_prune_fraction",
                message: format!("{max_prune_fraction}: expected a fraction from 0.0 to 1.0"),
            });
        }
        if raw.executors.timeout_seconds == 0 {
            return Err(ConfigError::Invalid {
                key: "executors.timeout_seconds",
                message: "0: expected at least 1 second".to_owned(),
            });
        }
        if let Some(proxmox) = &raw.proxmox {
            proxmox.validate().map_err(|e| match e {
                crate::observe::proxmox::ProxmoxError::Settings { key, message } => {
                    ConfigError::Invalid { key, message }
                }
                other => ConfigError::Invalid {
                    key: "proxmox",
                    message: other.to_string(),
                },
            })?;
        }
        let parallelism = raw.reconcile.parallelism.unwrap_or(4);
        if parallelism == 0 || parallelism > 256 {
            return Err(ConfigError::Invalid {
                key: "reconcile.parallelism",
                message: format!("{parallelism}: expected 1..=256"),
            });
        }
        raw.limits.validate().map_err(|e| ConfigError::Invalid {
            key: e.key,
            message: e.message,
        })?;
        let branch = o.branch.clone().or(raw.source.branch);
        let secs = Duration::from_secs;
        let propose = raw.propose.resolve(
            Secret::from_credential_or_env("git-token", "HOMELABD_GIT_TOKEN"),
            raw.source.ssh_key.clone(),
        )?;
        let verify = raw.source.verify.resolve()?;
        let webhook_secret =
            Secret::from_credential_or_env("webhook-secret", "HOMELABD_WEBHOOK_SECRET");
        if let Some(secret) = &webhook_secret {
            crate::mcp::settings::check_token_length(
                "webhook secret",
                "the webhook secret (credential webhook-secret or HOMELABD_WEBHOOK_SECRET)",
                secret,
            )?;
        }
        Ok(Settings {
            repo,
            branch,
            verify,
            sub_path: o.path.clone().or(raw.source.path).filter(|p| !p.is_empty()),
            poll_interval: secs(raw.source.poll_interval_seconds.unwrap_or(60).max(1)),
            ssh_key: raw.source.ssh_key,
            git_token: Secret::from_credential_or_env("git-token", "HOMELABD_GIT_TOKEN"),
            state_dir,
            database_url,
            listen,
            resync,
            parallelism,
            backoff_base: secs(raw.reconcile.backoff_base_seconds.unwrap_or(5).max(1)),
            backoff_max: secs(raw.reconcile.backoff_max_seconds.unwrap_or(600).max(1)),
            shutdown_deadline: secs(raw.reconcile.shutdown_deadline_seconds.unwrap_or(90)),
            default_apply: raw.policy.apply.unwrap_or(ApplyPolicy::Auto),
            default_self_heal: raw.policy.self_heal.unwrap_or(false),
            default_prune: raw.policy.prune.unwrap_or(false),
            default_windows: raw.policy.resolve_windows()?,
            default_flapping: raw.policy.resolve_flapping()?,
            webhook_secret,
            propose,
            executors: raw.executors,
            observe,
            inventory_scan: raw.inventory.scan_interval()?,
            max_prune_fraction,
            proxmox: raw.proxmox,
            proxmox_token: crate::observe::proxmox::load_token(),
            mcp: crate::mcp::settings::McpSettings::resolve(raw.mcp)?,
            notify: crate::notify_out::NotifySettings::resolve(raw.notify)?,
            limits: raw.limits,
            secrets_identity_file: raw.secrets.identity_file,
            ui: ui::UiSettings::resolve(raw.ui)?,
        })
    }

    /// `<state-dir>/rendered-configs`.
    pub fn rendered_dir(&self) -> PathBuf {
        self.state_dir.join("rendered-configs")
    }
}

/// A schedule that is not a crontab line.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a cron schedule ({source}); e.g. \"*/5 * * * *\"")]
pub struct CronError {
    pub text: String,
    #[source]
    pub source: cron::error::Error,
}

/// Parses a five-field crontab schedule (or six fields with seconds first).
pub fn parse_cron(text: &str) -> Result<cron::Schedule, CronError> {
    let fields = text.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {text}")
    } else {
        text.to_owned()
    };
    full.parse::<cron::Schedule>().map_err(|source| CronError {
        text: text.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err =
            RawConfig::parse("[source]\nrepo = \"x\"\nbranchh = \"main\"\n", "c.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("c.toml") && msg.contains("branchh"), "{msg}");
    }

    #[test]
    fn flags_override_the_file() {
        let raw = RawConfig::parse(
            "[source]\nrepo = \"https://example.invalid/h.git\"\nbranch = \"prod\"\n[http]\nlisten = \"127.0.0.1:1\"\n",
            "c.toml",
        )
        .unwrap();
        let o = Overrides {
            branch: Some("main".into()),
            listen: Some("127.0.0.1:2".into()),
            state_dir: Some("/tmp/x".into()),
            ..Overrides::default()
        };
        let s = Settings::resolve(raw, &o).unwrap();
        assert_eq!(s.branch.as_deref(), Some("main"));
        assert_eq!(s.listen.port(), 2);
        assert_eq!(
            s.repo,
            RepoLocation::Remote("https://example.invalid/h.git".into())
        );
        assert!(
            s.database_url.starts_with("sqlite:///tmp/x/homelabd.db")
                || s.database_url.starts_with("postgres")
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let raw = RawConfig::parse(
            "[source]\nrepo = \"https://x/y\"\n[http]\nlisten = \"everywhere\"\n",
            "c",
        )
        .unwrap();
        let err = Settings::resolve(raw, &Overrides::default()).unwrap_err();
        assert!(err.to_string().starts_with("http.listen:"), "{err}");
        let raw = RawConfig::parse(
            "[source]\nrepo = \"https://x/y\"\n[reconcile]\nresync_schedule = \"often\"\n",
            "c",
        )
        .unwrap();
        assert!(
            Settings::resolve(raw, &Overrides::default())
                .unwrap_err()
                .to_string()
                .starts_with("reconcile.resync_schedule")
        );
    }

    #[test]
    fn verification_paths_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[source]\nrepo = \"https://x/y\"\n[source.verify]\nmode = \"all\"\nallowed_signers = \"keys/allowed_signers\"\ngpg_keyring = \"/etc/homelabd/trusted.asc\"\n",
        )
        .unwrap();
        let raw = RawConfig::load(&path).unwrap();
        let policy = raw.source.verify.resolve().unwrap();
        assert_eq!(policy.mode, crate::source::verify::Mode::All);
        assert_eq!(
            policy.allowed_signers,
            Some(dir.path().join("keys/allowed_signers"))
        );
        assert_eq!(policy.gpg_keyring, Some("/etc/homelabd/trusted.asc".into()));
    }

    #[test]
    fn verification_needs_trust_material_and_a_known_mode() {
        let raw = RawConfig::parse("[source.verify]\nmode = \"head\"\n", "c").unwrap();
        let err = raw.source.verify.resolve().unwrap_err().to_string();
        assert!(
            err.starts_with("source.verify:") && err.contains("allowed_signers"),
            "{err}"
        );
        let raw = RawConfig::parse("[source.verify]\nmode = \"signed\"\n", "c").unwrap();
        let err = raw.source.verify.resolve().unwrap_err().to_string();
        assert!(err.starts_with("source.verify.mode:"), "{err}");
        let raw = RawConfig::parse("", "c").unwrap();
        assert!(!raw.source.verify.resolve().unwrap().enabled());
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_annotated_example_config_is_valid() {
        let raw = RawConfig::parse(
            include_str!("../../docs/config.example.toml"),
            "docs/config.example.toml",
        )
        .unwrap();
        let s = Settings::resolve(raw, &Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.branch.as_deref(), Some("main"));
        assert_eq!(s.parallelism, 4);
        assert_eq!(
            s.limits,
            crate::limits::Limits::default(),
            "the example shows the defaults"
        );
    }
}
