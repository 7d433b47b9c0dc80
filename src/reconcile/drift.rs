//! Deviations: what observers report as different from the rendered state, and the
//! pure rule that turns one observation pass into new and resolved rows ([`reconcile_open`]).
//! The observers live in `observe`; the store and notifications read these types without
//! reaching them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
