//! What the Docker end-to-end tests poll the store for while a daemon works — the
//! resources, apply runs, deviations and health checks, read together — and the
//! questions they ask of it.

use super::daemon::{Daemon, wait_for_store};
use homelabd::store::{
    ApplyRunRecord, DeviationRecord, HealthRecord, ResourceRecord, RunOperation, RunState, Store,
};

/// One reading of the store.
#[derive(Debug)]
pub struct Seen {
    pub resources: Vec<ResourceRecord>,
    pub runs: Vec<ApplyRunRecord>,
    /// Open and resolved.
    pub deviations: Vec<DeviationRecord>,
    pub health: Vec<HealthRecord>,
}

impl Seen {
    /// The stored record of `name`.
    pub fn resource(&self, name: &str) -> Option<&ResourceRecord> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// A succeeded apply run of `name` (the newest: runs are listed newest first).
    pub fn applied_run(&self, name: &str) -> Option<&ApplyRunRecord> {
        self.runs.iter().find(|r| {
            r.resource == name
                && r.operation == RunOperation::Apply
                && r.state == RunState::Succeeded
        })
    }

    /// How many runs of `name` there are, in any state.
    pub fn runs_of(&self, name: &str) -> usize {
        self.runs.iter().filter(|r| r.resource == name).count()
    }

    /// How many runs of `name` are in `state`.
    pub fn runs_in(&self, name: &str, state: RunState) -> usize {
        self.runs
            .iter()
            .filter(|r| r.resource == name && r.state == state)
            .count()
    }

    /// The last health check of `name`.
    pub fn health(&self, name: &str) -> Option<&HealthRecord> {
        self.health.iter().find(|h| h.resource == name)
    }
}

/// Reads the store once; `None` while it does not answer (a missed poll).
pub async fn read(store: &Store) -> Option<Seen> {
    Some(Seen {
        resources: store.resources().await.ok()?,
        runs: store.apply_runs(None, 1000).await.ok()?,
        deviations: store.deviations(false, 1000).await.ok()?,
        health: store.health_records().await.ok()?,
    })
}

/// Polls the store at `url` until `check` holds (see [`wait_for_store`]).
pub async fn wait_for_seen(
    url: &str,
    daemon: &Daemon,
    secs: u64,
    what: &str,
    check: impl Fn(&Seen) -> bool,
) -> Seen {
    wait_for_store(url, daemon, secs, what, read, check).await
}
