//! Observe: asks each provider what actually exists and turns every difference from
//! the rendered (expected) state into a [`Deviation`].
//!
//! Observers are IO shells around pure comparisons: each provider module has a function
//! from (expected, actual) to deviations that is unit-tested without the provider. The
//! loop stores what they find ([`reconcile_open`] decides what is new and what resolved)
//! and, where a resource's `self_heal` allows, re-applies.

pub mod docker;
pub mod endpoint;
pub mod kubernetes;
pub mod proxmox;
pub mod terraform;

use crate::apply::BoxFuture;
use crate::model::Provider;
pub use endpoint::Endpoint;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The kinds of difference, as stored in `state_deviations.deviation_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviationKind {
    /// Expected but not there (container removed, VM deleted).
    Missing,
    /// There, but configured differently (memory, image, env, ports).
    ConfigDrift,
    /// There and configured as rendered, but in another state (stopped, paused).
    ResourceChange,
    /// There but not in git (a VM nobody defined, an extra container under our labels).
    Unmanaged,
}

impl DeviationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviationKind::Missing => "missing",
            DeviationKind::ConfigDrift => "config_drift",
            DeviationKind::ResourceChange => "resource_change",
            DeviationKind::Unmanaged => "unmanaged",
        }
    }
}

/// How much a deviation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity named `name`, if any.
    pub fn parse(name: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One difference between what was rendered and what the provider reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// The resource it belongs to; for unmanaged things, a name for the thing itself
    /// (`proxmox:vm/105`, `docker:container/web-extra`).
    pub resource: String,
    /// Stable identity within the resource (`container/web/memory`), so the same
    /// difference seen again is the same open deviation, not a new row.
    pub key: String,
    pub kind: DeviationKind,
    pub severity: Severity,
    /// Re-applying the rendered state would correct it.
    pub auto_correctable: bool,
    /// What would correct it, in words ("re-apply docker compose", "remove by hand").
    pub corrective_action: String,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
    /// One line for people: "memory is 4096 MiB, expected 2048 MiB".
    pub message: String,
}

/// What to observe for one applied resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource: String,
    pub provider: Provider,
    /// The rendered directory: where the expected state is read from.
    pub rendered_dir: PathBuf,
    /// The executor's work directory (terraform state and the like).
    pub work_dir: PathBuf,
    /// The secret values the resource's tool gets at apply time: a drift check that
    /// runs the tool (`terraform plan`) needs the same inputs, or every secret would
    /// look like drift.
    pub secrets: crate::secrets::SecretEnv,
}

/// What an observer saw for one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub resource: String,
    /// The expected state as the observer read it from the render (for
    /// `deployment_instances.expected_state`).
    pub expected: serde_json::Value,
    /// What the provider reports (for `deployment_instances.actual_state`).
    pub actual: serde_json::Value,
    pub deviations: Vec<Deviation>,
    /// Where it can be reached, as seen now (`None`: this observer cannot tell, and
    /// the recorded endpoints stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<Endpoint>>,
}

/// A whole observation pass of one provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    /// One per target that could be observed.
    pub observations: Vec<Observation>,
    /// Things the provider has that no target accounts for.
    pub unmanaged: Vec<Deviation>,
    /// Targets that could not be observed, with the reason (their open deviations stay
    /// open: not seeing a difference is not the same as it being gone).
    pub failed: BTreeMap<String, String>,
}

/// Errors of an observer as a whole (the provider could not be reached at all).
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("{provider}: {message}")]
    Unreachable { provider: String, message: String },
}

/// Asks one provider what exists.
pub trait Observer: Send + Sync {
    /// Its name in logs and `resolved_by` ("docker", "proxmox", "terraform").
    fn name(&self) -> &str;

    /// Observes `targets` (all of this observer's applied resources) in one pass.
    fn observe<'a>(&'a self, targets: &'a [Target]) -> BoxFuture<'a, Result<Report, ObserveError>>;
}

/// An open deviation as the store holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenDeviation {
    pub id: String,
    pub resource: String,
    pub key: String,
}

/// What to write after a pass: deviations seen for the first time, and open ones that
/// were not seen again (resolved).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    pub new: Vec<Deviation>,
    /// Ids of open deviations to mark resolved.
    pub resolved: Vec<String>,
}

/// Compares the open deviations of the `observed` resources with what this pass found.
/// Open deviations of resources that were not observed (their observer failed) are left
/// alone.
pub fn reconcile_open(
    open: &[OpenDeviation],
    found: &[Deviation],
    observed: &BTreeSet<String>,
) -> Changes {
    let open_keys: BTreeSet<(&str, &str)> = open
        .iter()
        .map(|d| (d.resource.as_str(), d.key.as_str()))
        .collect();
    let found_keys: BTreeSet<(&str, &str)> = found
        .iter()
        .map(|d| (d.resource.as_str(), d.key.as_str()))
        .collect();
    let mut seen = BTreeSet::new();
    let new = found
        .iter()
        .filter(|d| !open_keys.contains(&(d.resource.as_str(), d.key.as_str())))
        .filter(|d| seen.insert((d.resource.clone(), d.key.clone())))
        .cloned()
        .collect();
    let resolved = open
        .iter()
        .filter(|d| observed.contains(&d.resource))
        .filter(|d| !found_keys.contains(&(d.resource.as_str(), d.key.as_str())))
        .map(|d| d.id.clone())
        .collect();
    Changes { new, resolved }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(resource: &str, key: &str) -> Deviation {
        Deviation {
            resource: resource.into(),
            key: key.into(),
            kind: DeviationKind::Missing,
            severity: Severity::Critical,
            auto_correctable: true,
            corrective_action: "re-apply".into(),
            expected: serde_json::Value::Null,
            actual: serde_json::Value::Null,
            message: String::new(),
        }
    }

    fn open(id: &str, resource: &str, key: &str) -> OpenDeviation {
        OpenDeviation {
            id: id.into(),
            resource: resource.into(),
            key: key.into(),
        }
    }

    #[test]
    fn a_deviation_seen_again_is_not_new() {
        let observed = BTreeSet::from(["web".to_owned()]);
        let changes = reconcile_open(
            &[open("1", "web", "container/web")],
            &[dev("web", "container/web")],
            &observed,
        );
        assert!(changes.new.is_empty());
        assert!(changes.resolved.is_empty());
    }

    #[test]
    fn a_deviation_no_longer_seen_is_resolved_but_only_where_observed() {
        let observed = BTreeSet::from(["web".to_owned()]);
        let changes = reconcile_open(
            &[
                open("1", "web", "container/web"),
                open("2", "db", "container/db"),
            ],
            &[],
            &observed,
        );
        assert_eq!(changes.resolved, vec!["1".to_owned()]);
    }

    #[test]
    fn duplicates_in_one_pass_are_recorded_once() {
        let changes = reconcile_open(
            &[],
            &[dev("web", "k"), dev("web", "k"), dev("web", "other")],
            &BTreeSet::new(),
        );
        assert_eq!(changes.new.len(), 2);
    }
}
