//! The Proxmox VE observer: drift of rendered `proxmox-compute` resources and discovery
//! of the cluster, over the REST API with an API token.
//!
//! - [`settings`]: `[proxmox]` in `config.toml`; the token secret comes from the
//!   `proxmox-token` credential or `HOMELABD_PROXMOX_TOKEN`.
//! - [`tls`]: certificate trust — the system store, a pinned CA file, a pinned SHA-256
//!   fingerprint, or (explicitly) none.
//! - [`client`]: authenticated GETs with timeouts; Proxmox's error answers (401, 403, 500,
//!   595) become [`ProxmoxError`]s.
//! - [`api`]: the documented JSON shapes and VM config parsing.
//! - [`expected`]: `homelabd.expected.json`, the chart's statement of what each VM should
//!   be.
//! - [`drift`] and [`discovery`]: the pure comparisons and assembly.
//! - [`observer`]: the IO shell implementing [`crate::observe::Observer`].

pub mod api;
pub mod client;
pub mod discovery;
pub mod drift;
pub mod expected;
pub mod observer;
pub mod settings;
pub mod tls;

pub use client::ProxmoxClient;
pub use discovery::Inventory;
pub use observer::ProxmoxObserver;
pub use settings::{ProxmoxSettings, load_token};

use crate::setting::Secret;
use std::path::PathBuf;

/// Why talking to Proxmox failed; each names what was asked and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ProxmoxError {
    #[error("{key}: {message}")]
    Settings { key: &'static str, message: String },
    #[error(
        "no Proxmox API token secret: set the systemd credential `proxmox-token` or \
         HOMELABD_PROXMOX_TOKEN (the secret shown when the token was created)"
    )]
    NoToken,
    #[error("proxmox.ca_file {}: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("cannot build the Proxmox HTTP client: {0}")]
    Client(String),
    #[error(
        "{url}: 401 the API token {token_id} was refused ({message}); check proxmox.token_id \
         and the token secret, and that the token has not expired"
    )]
    Unauthorized {
        url: String,
        token_id: String,
        message: String,
    },
    #[error(
        "{path}: 403 permission denied ({message}); give the token's user and, with privilege \
         separation, the token itself a role such as PVEAuditor on /"
    )]
    Forbidden { path: String, message: String },
    #[error("{path}: 595 node {node} is offline or unreachable from the API node ({message})")]
    NodeUnreachable {
        node: String,
        path: String,
        message: String,
    },
    #[error("{path}: {status} {message}")]
    Api {
        path: String,
        status: u16,
        message: String,
    },
    #[error("{path}: no answer within {seconds} s (proxmox.timeout_seconds)")]
    Timeout { path: String, seconds: u64 },
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    #[error("{path}: unexpected answer: {source}")]
    Decode {
        path: String,
        #[source]
        source: api::DecodeError,
    },
}

/// Builds the observer the daemon runs: validates `settings`, loads the trust
/// configuration (the CA file is read here) and prepares the client. No request is
/// made until the first pass.
pub fn observer(
    settings: &ProxmoxSettings,
    secret: &Secret,
) -> Result<ProxmoxObserver, ProxmoxError> {
    let client = ProxmoxClient::new(settings, secret)?;
    Ok(ProxmoxObserver::new(client, settings.concurrency))
}
