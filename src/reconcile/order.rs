//! Dependency order in the loop (`spec.depends_on`): whether a dependency is ready for
//! its dependents, and which scheduled job runs in which wave (applies after their
//! dependencies, destroys before them). Pure.
//!
//! "Ready" is one function, [`dependency_wait`]: applied at the current revision and,
//! with a health check, healthy there.

use super::health::{HealthRecord, health_wait};
use super::{ResourceRecord, ResourceState};
use crate::model::depends::Graph;
use std::collections::{BTreeMap, BTreeSet};

/// The key under which the stored policy keeps `depends_on`, so that a removed
/// definition is still destroyed in reverse order of the dependencies it last had.
const STORED_KEY: &str = "depends_on";

/// The dependencies kept in a stored record (none when absent or unreadable).
pub fn stored_depends_on(record: &ResourceRecord) -> Vec<String> {
    record
        .policy
        .as_ref()
        .and_then(|p| p.get(STORED_KEY))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `policy` (a stored effective policy) with `depends_on` added when there are any.
pub fn with_depends_on(mut policy: serde_json::Value, deps: &[String]) -> serde_json::Value {
    if let Some(map) = policy.as_object_mut()
        && !deps.is_empty()
    {
        map.insert(STORED_KEY.to_owned(), serde_json::json!(deps));
    }
    policy
}

/// The graph of the stored records.
pub fn stored_graph(stored: &BTreeMap<String, ResourceRecord>) -> Graph {
    stored
        .values()
        .map(|r| (r.name.clone(), stored_depends_on(r)))
        .filter(|(_, d)| !d.is_empty())
        .collect()
}

/// Why a dependency is not ready for its dependents, or `None` when it is: applied
/// successfully at its current revision, with nothing left to apply, and — when it has
/// a health check — healthy at that render. `due` says the loop has an apply to make
/// (or waiting) for it this pass; `health` is its last health check.
pub fn dependency_wait(
    record: Option<&ResourceRecord>,
    due: bool,
    health: Option<&HealthRecord>,
) -> Option<String> {
    let Some(r) = record else {
        return Some("not defined".to_owned());
    };
    if r.destroyed_at.is_some() {
        return Some("destroyed".to_owned());
    }
    match r.state {
        ResourceState::Invalid => Some("its definition is invalid".to_owned()),
        ResourceState::Orphaned => Some("its definition was removed".to_owned()),
        ResourceState::ApplyFailed => Some("its last apply failed".to_owned()),
        ResourceState::RenderFailed => Some("its render failed".to_owned()),
        ResourceState::Degraded => Some("it is degraded (flapping limit reached)".to_owned()),
        ResourceState::Applied if !due => health_wait(r, health),
        ResourceState::Applied | ResourceState::Rendered => {
            Some("not applied yet at this revision".to_owned())
        }
    }
}

/// What one scheduled job does in the current wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Run it now.
    Go,
    /// A dependency still runs in this pass: next wave.
    Later,
    /// A dependency is not ready and will not be in this pass.
    Wait { reason: String },
}

/// Whether `name`'s apply can run: each dependency is either still scheduled in this
/// pass (`Later`), not ready (`Wait`, "waiting for DEP: WHY", from `not_ready`) or ready.
pub fn gate_apply(
    name: &str,
    graph: &Graph,
    scheduled: &BTreeSet<String>,
    not_ready: impl Fn(&str) -> Option<String>,
) -> Gate {
    let mut later = false;
    for dep in graph.get(name).into_iter().flatten() {
        if scheduled.contains(dep) {
            later = true;
        } else if let Some(why) = not_ready(dep) {
            return Gate::Wait {
                reason: format!("waiting for {dep}: {why}"),
            };
        }
    }
    if later { Gate::Later } else { Gate::Go }
}

/// Whether `name`'s destroy can run: never before a resource that depends on it and is
/// destroyed in the same pass (prune runs in reverse order).
pub fn gate_destroy(name: &str, graph: &Graph, scheduled: &BTreeSet<String>) -> Gate {
    let dependent_left = graph
        .iter()
        .any(|(n, deps)| n != name && scheduled.contains(n) && deps.iter().any(|d| d == name));
    if dependent_left {
        Gate::Later
    } else {
        Gate::Go
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::depends::fixtures::{graph, names};

    #[test]
    fn a_dependency_scheduled_in_this_pass_defers_and_a_failed_one_blocks_with_the_reason() {
        let g = graph(&[("app", &["db"])]);
        assert_eq!(
            gate_apply("app", &g, &names(&["db", "app"]), |_| None),
            Gate::Later
        );
        assert_eq!(gate_apply("app", &g, &names(&["app"]), |_| None), Gate::Go);
        assert_eq!(
            gate_apply("app", &g, &names(&["app"]), |_| Some(
                "its last apply failed".into()
            )),
            Gate::Wait {
                reason: "waiting for db: its last apply failed".into()
            }
        );
        assert_eq!(
            gate_apply("db", &g, &names(&["db", "app"]), |_| None),
            Gate::Go
        );
    }

    #[test]
    fn prune_destroys_dependents_first() {
        let g = graph(&[("app", &["db"])]);
        assert_eq!(gate_destroy("db", &g, &names(&["db", "app"])), Gate::Later);
        assert_eq!(gate_destroy("app", &g, &names(&["db", "app"])), Gate::Go);
        assert_eq!(gate_destroy("db", &g, &names(&["db"])), Gate::Go);
    }

    #[test]
    fn the_depends_on_list_survives_in_the_stored_policy() {
        let policy = serde_json::json!({"apply": "auto", "self_heal": false, "prune": true});
        let mut r: ResourceRecord = serde_json::from_value(serde_json::json!({
            "name": "app", "state": "applied", "reason": null, "provider": null,
            "pool": null, "chart": null, "resource_type": null, "placement": null,
            "dimensions": null, "desired_revision": null, "input_hash": null,
            "output_hash": null, "source": null, "last_error": null, "last_error_at": null,
            "updated_at": "2026-01-01T00:00:00Z", "applied_hash": null,
            "applied_revision": null, "policy": null
        }))
        .expect("record");
        r.policy = Some(with_depends_on(policy.clone(), &["db".to_owned()]));
        assert_eq!(stored_depends_on(&r), vec!["db".to_owned()]);
        // The effective policy still reads from the same value.
        assert!(super::super::EffectivePolicy::from_stored(r.policy.as_ref()).prune);
        r.policy = Some(with_depends_on(policy, &[]));
        assert!(stored_depends_on(&r).is_empty());
    }

    #[test]
    fn a_dependency_is_ready_only_when_applied_with_nothing_left_to_apply() {
        let mut r: ResourceRecord = serde_json::from_value(serde_json::json!({
            "name": "db", "state": "applied", "reason": null, "provider": null,
            "pool": null, "chart": null, "resource_type": null, "placement": null,
            "dimensions": null, "desired_revision": null, "input_hash": null,
            "output_hash": null, "source": null, "last_error": null, "last_error_at": null,
            "updated_at": "2026-01-01T00:00:00Z", "applied_hash": null,
            "applied_revision": null, "policy": null
        }))
        .expect("record");
        assert_eq!(dependency_wait(Some(&r), false, None), None);
        assert_eq!(
            dependency_wait(Some(&r), true, None).as_deref(),
            Some("not applied yet at this revision")
        );
        r.state = ResourceState::Rendered;
        assert_eq!(
            dependency_wait(Some(&r), false, None).as_deref(),
            Some("not applied yet at this revision")
        );
        r.state = ResourceState::ApplyFailed;
        assert_eq!(
            dependency_wait(Some(&r), false, None).as_deref(),
            Some("its last apply failed")
        );
        assert_eq!(
            dependency_wait(None, false, None).as_deref(),
            Some("not defined")
        );
    }
}
