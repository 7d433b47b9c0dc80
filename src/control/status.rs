//! The daemon's live status, shared between the loop (writer) and HTTP (reader).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// A copy of the daemon's status at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusSnapshot {
    /// True once the first full load is done and the database is reachable.
    pub ready: bool,
    /// The commit of the newest valid-or-partially-valid revision reconciled.
    pub revision: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub git_ok: bool,
    pub git_error: Option<String>,
    pub db_ok: bool,
    pub db_error: Option<String>,
    /// Resource count by state (`rendered`, `invalid`, `orphaned`, …).
    pub resources: BTreeMap<String, u64>,
    /// Per provider: the executor's name, or why it cannot apply.
    // A String reason: shown in status JSON, metrics labels and "rendered, not applied"; nothing decides on it.
    pub executors: BTreeMap<String, Result<String, String>>,
    /// Deviations open after the last observation (`None` before the first).
    pub open_deviations: Option<u64>,
    /// Commit-signature verification (`None` when it is off).
    pub verification: Option<VerificationStatus>,
    /// Configuration keys changed on disk (seen at the last SIGHUP) that take effect
    /// only after a restart; empty when the running configuration is the file's.
    pub restart_required: Vec<String>,
    /// The last scheduled inventory scan (`None` before the first, or when it is off).
    pub inventory_scan: Option<InventoryScanStatus>,
}

/// One scheduled inventory scan: when, and how each source went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryScanStatus {
    pub at: DateTime<Utc>,
    pub sources: Vec<ScanSourceStatus>,
}

/// One source of a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanSourceStatus {
    /// `proxmox`, `docker:<engine>`, `kubernetes:<context>`.
    pub source: String,
    /// Items seen, when it could be read.
    pub items: Option<usize>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// What signature verification said about the tracked branch's newest commit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerificationStatus {
    /// `head` or `all`.
    pub mode: String,
    /// The tracked branch's newest commit.
    pub head: String,
    /// Who signed the newest commit, when it was verified.
    pub signer: Option<String>,
    /// Why the newest commit was refused (the verified `revision` stays in force).
    pub refused: Option<crate::source::verify::Refusal>,
}

/// Shared, lock-protected status. Every change bumps a version that
/// [`DaemonStatus::subscribe`]rs are woken by (the dashboard's live updates).
#[derive(Debug)]
pub struct DaemonStatus {
    inner: RwLock<StatusSnapshot>,
    version: tokio::sync::watch::Sender<u64>,
}

impl Default for DaemonStatus {
    fn default() -> Self {
        DaemonStatus {
            inner: RwLock::default(),
            version: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl DaemonStatus {
    /// A copy of the current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        match self.inner.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the status under the lock, then wakes the subscribers. Called at the end
    /// of a pass, after applies and observations, so a subscriber that re-reads the
    /// store then sees what they wrote.
    pub fn update(&self, f: impl FnOnce(&mut StatusSnapshot)) {
        match self.inner.write() {
            Ok(mut g) => f(&mut g),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees every later [`DaemonStatus::update`] (several updates may
    /// be seen as one).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }
}
