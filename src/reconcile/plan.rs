//! The pure plan: desired (this revision's render) vs stored (what the store remembers)
//! → one action per resource. No IO; unit-tested without git, database or files.

use super::ResourceState;
use super::record::ResourceRecord;
use crate::pipeline::Outcome;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the loop does for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Never rendered before: render and hand to the executor.
    Create,
    /// Inputs changed (or the last attempt failed): render again.
    Update,
    /// Same input hash as the stored state: nothing to do.
    Unchanged,
    /// The definition is invalid in this revision: keep the last good state.
    Invalid,
    /// The definition is gone from a commit that parsed cleanly: report, never prune here.
    Orphaned,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub resource: String,
    pub action: Action,
    pub reason: String,
}

/// Diagnostic codes that mean a file could not be read at all (so its resources are
/// unknown, not deleted).
const FILE_LEVEL_CODES: [&str; 4] = ["yaml", "encoding", "file-too-large", "too-many-documents"];

/// What the plan needs to know about a revision's desired state: small enough to keep
/// between passes (a few hundred bytes per resource), unlike the whole pipeline outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Valid resources by name.
    pub rendered: BTreeMap<String, DesiredRender>,
    /// Invalid resources and where they are defined.
    pub invalid: BTreeMap<String, crate::validate::InvalidResource>,
    /// Files that could not be parsed at all.
    pub unreadable: BTreeSet<String>,
}

/// One valid resource of the desired state: what its render was made from and where it
/// is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRender {
    pub input_hash: String,
    pub output_hash: String,
    pub provider: crate::model::Provider,
}

impl Desired {
    /// The summary of a pipeline outcome.
    pub fn of(outcome: &Outcome) -> Desired {
        Desired {
            rendered: outcome
                .rendered
                .iter()
                .map(|(name, r)| {
                    let m = &r.manifest;
                    let render = DesiredRender {
                        input_hash: m.input_hash.clone(),
                        output_hash: m.output_hash.clone(),
                        provider: m.provider,
                    };
                    (name.clone(), render)
                })
                .collect(),
            invalid: outcome.catalog.invalid_resources.clone(),
            unreadable: outcome
                .diagnostics
                .iter()
                .filter(|d| d.is_error() && FILE_LEVEL_CODES.contains(&d.code))
                .map(|d| d.file.clone())
                .collect(),
        }
    }
}

/// Computes the plan for `outcome` against the `stored` resources.
pub fn plan(outcome: &Outcome, stored: &BTreeMap<String, ResourceRecord>) -> Vec<Step> {
    plan_desired(&Desired::of(outcome), stored)
}

/// Computes the plan for a desired-state summary against the `stored` resources.
pub fn plan_desired(desired: &Desired, stored: &BTreeMap<String, ResourceRecord>) -> Vec<Step> {
    let mut steps = Vec::new();
    for (name, DesiredRender { input_hash, .. }) in &desired.rendered {
        let (action, reason) = match stored.get(name) {
            None => (Action::Create, "new resource".to_owned()),
            Some(s) if s.state == ResourceState::RenderFailed => {
                (Action::Update, "retrying after a failure".to_owned())
            }
            Some(s)
                if s.input_hash.as_deref() == Some(input_hash.as_str())
                    && s.state != ResourceState::Invalid
                    && s.state != ResourceState::Orphaned =>
            {
                (Action::Unchanged, "same input hash".to_owned())
            }
            Some(s) if s.state == ResourceState::Invalid => {
                (Action::Update, "valid again".to_owned())
            }
            Some(s) if s.state == ResourceState::Orphaned => {
                (Action::Update, "defined again".to_owned())
            }
            Some(_) => (Action::Update, "inputs changed".to_owned()),
        };
        steps.push(Step {
            resource: name.clone(),
            action,
            reason,
        });
    }
    for (name, where_) in &desired.invalid {
        steps.push(Step {
            resource: name.clone(),
            action: Action::Invalid,
            reason: format!("invalid definition at {}:{}", where_.file, where_.line),
        });
    }
    // Files that could not be parsed hide their resources: those are unknown, not gone.
    for (name, record) in stored {
        if desired.rendered.contains_key(name) || desired.invalid.contains_key(name) {
            continue;
        }
        if record.state == ResourceState::Orphaned {
            continue;
        }
        let file = record
            .source
            .as_deref()
            .and_then(|s| s.rsplit_once(':').map(|(f, _)| f));
        if file.is_some_and(|f| desired.unreadable.contains(f)) {
            steps.push(Step {
                resource: name.clone(),
                action: Action::Invalid,
                reason: format!(
                    "{} could not be parsed; keeping the last good state",
                    file.unwrap_or("?")
                ),
            });
            continue;
        }
        steps.push(Step {
            resource: name.clone(),
            action: Action::Orphaned,
            reason: "no longer defined; not pruned".to_owned(),
        });
    }
    steps.sort_by(|a, b| a.resource.cmp(&b.resource));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn stored(state: ResourceState, input_hash: &str) -> ResourceRecord {
        ResourceRecord {
            name: "web".into(),
            state,
            reason: None,
            provider: Some(crate::model::Provider::Docker),
            pool: None,
            chart: None,
            resource_type: None,
            placement: None,
            dimensions: None,
            desired_revision: None,
            input_hash: Some(input_hash.into()),
            output_hash: Some("o".into()),
            source: None,
            last_error: None,
            last_error_at: None,
            updated_at: Utc::now(),
            applied_hash: None,
            applied_revision: None,
            policy: None,
            destroyed_at: None,
            destroyed_revision: None,
            address: None,
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn a_failed_render_is_rendered_again_and_a_failed_apply_is_not() {
        let desired = Desired {
            rendered: BTreeMap::from([(
                "web".to_owned(),
                DesiredRender {
                    input_hash: "i".to_owned(),
                    output_hash: "o".to_owned(),
                    provider: crate::model::Provider::Docker,
                },
            )]),
            ..Desired::default()
        };
        let action = |state| {
            let records = BTreeMap::from([("web".to_owned(), stored(state, "i"))]);
            plan_desired(&desired, &records)[0].action
        };
        assert_eq!(action(ResourceState::RenderFailed), Action::Update);
        // The same render is applied again by the apply phase (after its backoff).
        assert_eq!(action(ResourceState::ApplyFailed), Action::Unchanged);
        assert_eq!(action(ResourceState::Applied), Action::Unchanged);
        assert_eq!(action(ResourceState::Invalid), Action::Update);
    }
}
