//! The pure apply and prune decisions: from a resource's stored record (desired render,
//! what was last applied, its policy) and what the loop knows (executor availability,
//! approvals, self-heal requests) to "apply now", "wait, with this reason" or nothing.

use super::ResourceState;
use super::policy::EffectivePolicy;
use super::record::ResourceRecord;
use crate::model::{ApplyPolicy, Provider};
use std::collections::{BTreeMap, BTreeSet};

/// What the loop does about applying one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyDecision {
    /// Hand it to the executor.
    Apply { provider: Provider, why: String },
    /// Leave it rendered; the reason is shown as "rendered, not applied: <reason>".
    Wait { reason: String },
    /// Applied already, or nothing to apply (invalid, orphaned, never rendered).
    Nothing,
}

/// What the loop knows beyond the record.
#[derive(Debug)]
pub struct ApplyInputs<'a> {
    /// Each provider's executor name, or why it cannot apply.
    // A String reason: shown in status JSON, metrics labels and "rendered, not applied"; nothing decides on it.
    pub availability: BTreeMap<Provider, Result<String, String>>,
    /// Resources a person asked to apply (`homelabd apply`), manual policy or not.
    pub approved: &'a BTreeSet<String>,
    /// Resources whose open deviations self-heal asks to correct.
    pub heal: &'a BTreeSet<String>,
    /// Resources whose last apply failed and whose backoff has expired.
    pub retry: &'a BTreeSet<String>,
    /// Resources that use secrets: what they would be applied with, or why their
    /// secrets cannot be read. Resources without secrets are absent.
    pub secrets: &'a BTreeMap<String, Result<SecretState, crate::secrets::SecretError>>,
}

/// The secrets a resource would be applied with, as the loop sees them (no values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretState {
    /// What `applied_hash` becomes after the apply: the output hash plus the keyed
    /// digest of every value (`secrets::refs::applied_marker`).
    pub marker: String,
    /// `secret/key` of each value that differs from the last apply.
    pub changed: Vec<String>,
}

/// Decides for one resource.
pub fn decide(record: &ResourceRecord, inputs: &ApplyInputs<'_>) -> ApplyDecision {
    if matches!(
        record.state,
        ResourceState::Invalid | ResourceState::Orphaned
    ) {
        return ApplyDecision::Nothing;
    }
    let Some(output) = record.output_hash.as_deref() else {
        return ApplyDecision::Nothing;
    };
    let approved = inputs.approved.contains(&record.name);
    if record.state == ResourceState::Degraded && !approved {
        // Left alone until the definition changes (a new render is `rendered`) or an
        // operator asks.
        return ApplyDecision::Nothing;
    }
    let healing = inputs.heal.contains(&record.name);
    let secrets = inputs.secrets.get(&record.name);
    // With secrets, what is applied is the render plus the values: a rotated value is a
    // change although the files are the same.
    let desired = match secrets {
        Some(Ok(s)) => s.marker.as_str(),
        _ => output,
    };
    let changed = record.applied_hash.as_deref() != Some(desired);
    let retry = inputs.retry.contains(&record.name);
    if !(changed || approved || healing || retry) {
        return ApplyDecision::Nothing;
    }
    let Some(provider) = record.provider else {
        return ApplyDecision::Wait {
            reason: "unknown provider".to_owned(),
        };
    };
    if let Some(Err(reason)) = inputs.availability.get(&provider) {
        return ApplyDecision::Wait {
            reason: reason.clone(),
        };
    }
    if let Some(Err(reason)) = secrets {
        return ApplyDecision::Wait {
            reason: reason.to_string(),
        };
    }
    let policy = EffectivePolicy::from_stored(record.policy.as_ref());
    if policy.apply == ApplyPolicy::Manual && !approved {
        return ApplyDecision::Wait {
            reason: format!(
                "policy.apply is manual; run `homelabd apply {}`",
                record.name
            ),
        };
    }
    let why = if approved {
        "requested by `homelabd apply`"
    } else if healing {
        "self-heal: correcting drift"
    } else if retry {
        "retrying after a failed apply"
    } else if record.applied_hash.is_none() {
        "first apply"
    } else if let Some(Ok(s)) = secrets
        && !s.changed.is_empty()
        && record
            .applied_hash
            .as_deref()
            .map(crate::secrets::refs::marker_output)
            == Some(output)
    {
        return ApplyDecision::Apply {
            provider,
            why: format!("secret {} changed", s.changed.join(", ")),
        };
    } else {
        "render changed since the last apply"
    };
    ApplyDecision::Apply {
        provider,
        why: why.to_owned(),
    }
}

/// What prune does in one pass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrunePlan {
    /// Orphaned, applied resources whose policy allows pruning: destroy them.
    pub destroy: Vec<String>,
    /// Why nothing is pruned this pass although some resources would be.
    pub refused: Option<String>,
}

/// Decides which orphaned resources to destroy. Never prunes from a revision with
/// errors, and refuses when more than `max_fraction` of the applied resources would go
/// at once (a mistaken commit must not wipe the homelab) unless `force` is set.
pub fn prune(
    stored: &BTreeMap<String, ResourceRecord>,
    revision_valid: bool,
    max_fraction: f64,
    force: bool,
) -> PrunePlan {
    let destroy: Vec<String> = stored
        .values()
        .filter(|r| r.state == ResourceState::Orphaned && r.applied_hash.is_some())
        .filter(|r| EffectivePolicy::from_stored(r.policy.as_ref()).prune)
        .map(|r| r.name.clone())
        .collect();
    if destroy.is_empty() {
        return PrunePlan::default();
    }
    if !revision_valid {
        return PrunePlan {
            destroy: Vec::new(),
            refused: Some("the revision has errors; nothing is pruned from it".to_owned()),
        };
    }
    let applied = stored.values().filter(|r| r.applied_hash.is_some()).count();
    let fraction = destroy.len() as f64 / applied.max(1) as f64;
    if fraction > max_fraction && !force {
        return PrunePlan {
            destroy: Vec::new(),
            refused: Some(format!(
                "{} of {} applied resources would be destroyed at once (limit {:.0}%); \
                 run `homelabd apply --prune --force NAME…` if this is intended",
                destroy.len(),
                applied,
                max_fraction * 100.0
            )),
        };
    }
    PrunePlan {
        destroy,
        refused: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn record(
        name: &str,
        state: ResourceState,
        output: &str,
        applied: Option<&str>,
    ) -> ResourceRecord {
        ResourceRecord {
            name: name.into(),
            state,
            reason: None,
            provider: Some(Provider::Docker),
            pool: None,
            chart: None,
            resource_type: None,
            placement: None,
            dimensions: None,
            desired_revision: Some("c1".into()),
            input_hash: Some("i".into()),
            output_hash: Some(output.into()),
            source: None,
            last_error: None,
            last_error_at: None,
            updated_at: Utc::now(),
            applied_hash: applied.map(Into::into),
            applied_revision: None,
            policy: Some(
                EffectivePolicy {
                    apply: ApplyPolicy::Auto,
                    self_heal: false,
                    prune: true,
                }
                .to_json(),
            ),
            destroyed_at: None,
            destroyed_revision: None,
            address: None,
            endpoints: Vec::new(),
        }
    }

    fn available() -> BTreeMap<Provider, Result<String, String>> {
        BTreeMap::from([(Provider::Docker, Ok("docker-compose".to_owned()))])
    }

    #[test]
    fn a_new_render_is_applied_and_an_applied_one_is_left_alone() {
        let none = BTreeSet::new();
        let inputs = ApplyInputs {
            availability: available(),
            approved: &none,
            heal: &none,
            retry: &none,
            secrets: &BTreeMap::new(),
        };
        assert!(matches!(
            decide(
                &record("web", ResourceState::Rendered, "o2", Some("o1")),
                &inputs
            ),
            ApplyDecision::Apply { .. }
        ));
        assert_eq!(
            decide(
                &record("web", ResourceState::Applied, "o1", Some("o1")),
                &inputs
            ),
            ApplyDecision::Nothing
        );
    }

    #[test]
    fn an_unavailable_executor_is_a_visible_wait_not_a_skip() {
        let none = BTreeSet::new();
        let inputs = ApplyInputs {
            availability: BTreeMap::from([(
                Provider::Docker,
                Err("docker: not installed".to_owned()),
            )]),
            approved: &none,
            heal: &none,
            retry: &none,
            secrets: &BTreeMap::new(),
        };
        assert_eq!(
            decide(&record("web", ResourceState::Rendered, "o1", None), &inputs),
            ApplyDecision::Wait {
                reason: "docker: not installed".into()
            }
        );
    }

    #[test]
    fn manual_policy_waits_until_approved() {
        let mut r = record("web", ResourceState::Rendered, "o1", None);
        r.policy = Some(EffectivePolicy::CONSERVATIVE.to_json());
        let none = BTreeSet::new();
        let approved = BTreeSet::from(["web".to_owned()]);
        let waiting = ApplyInputs {
            availability: available(),
            approved: &none,
            heal: &none,
            retry: &none,
            secrets: &BTreeMap::new(),
        };
        assert!(
            matches!(decide(&r, &waiting), ApplyDecision::Wait { reason } if reason.contains("homelabd apply web"))
        );
        let go = ApplyInputs {
            availability: available(),
            approved: &approved,
            heal: &none,
            retry: &none,
            secrets: &BTreeMap::new(),
        };
        assert!(matches!(decide(&r, &go), ApplyDecision::Apply { .. }));
    }

    #[test]
    fn a_degraded_resource_is_left_alone_until_an_operator_asks() {
        let mut r = record("web", ResourceState::Degraded, "o1", Some("o0"));
        let none = BTreeSet::new();
        let web = BTreeSet::from(["web".to_owned()]);
        let no_secrets = BTreeMap::new();
        let inputs = |approved, heal| ApplyInputs {
            availability: available(),
            approved,
            heal,
            retry: &web,
            secrets: &no_secrets,
        };
        assert_eq!(decide(&r, &inputs(&none, &web)), ApplyDecision::Nothing);
        assert!(matches!(
            decide(&r, &inputs(&web, &none)),
            ApplyDecision::Apply { why, .. } if why.contains("homelabd apply")
        ));
        r.state = ResourceState::Rendered;
        assert!(matches!(
            decide(&r, &inputs(&none, &none)),
            ApplyDecision::Apply { .. }
        ));
    }

    #[test]
    fn self_heal_reapplies_an_unchanged_render() {
        let none = BTreeSet::new();
        let heal = BTreeSet::from(["web".to_owned()]);
        let inputs = ApplyInputs {
            availability: available(),
            approved: &none,
            heal: &heal,
            retry: &none,
            secrets: &BTreeMap::new(),
        };
        assert!(matches!(
            decide(&record("web", ResourceState::Applied, "o1", Some("o1")), &inputs),
            ApplyDecision::Apply { why, .. } if why.contains("self-heal")
        ));
    }

    #[test]
    fn a_rotated_secret_reapplies_only_its_resource_and_says_which_changed() {
        let none = BTreeSet::new();
        let applied = "o1+secrets:nc/db=aaaa";
        let secrets = BTreeMap::from([
            (
                "nc".to_owned(),
                Ok(SecretState {
                    marker: "o1+secrets:nc/db=bbbb".into(),
                    changed: vec!["nc/db".into()],
                }),
            ),
            (
                "same".to_owned(),
                Ok(SecretState {
                    marker: applied.into(),
                    changed: vec![],
                }),
            ),
            (
                "broken".to_owned(),
                Err(crate::secrets::SecretError::KeyMissing {
                    name: "nc".into(),
                    key: "db".into(),
                    known: "user".into(),
                }),
            ),
        ]);
        let inputs = ApplyInputs {
            availability: available(),
            approved: &none,
            heal: &none,
            retry: &none,
            secrets: &secrets,
        };
        assert_eq!(
            decide(
                &record("nc", ResourceState::Applied, "o1", Some(applied)),
                &inputs
            ),
            ApplyDecision::Apply {
                provider: Provider::Docker,
                why: "secret nc/db changed".into()
            }
        );
        assert_eq!(
            decide(
                &record("same", ResourceState::Applied, "o1", Some(applied)),
                &inputs
            ),
            ApplyDecision::Nothing
        );
        assert_eq!(
            decide(
                &record("other", ResourceState::Applied, "o1", Some("o1")),
                &inputs
            ),
            ApplyDecision::Nothing
        );
        assert!(matches!(
            decide(&record("broken", ResourceState::Rendered, "o1", None), &inputs),
            ApplyDecision::Wait { reason } if reason.contains("no key")
        ));
    }

    #[test]
    fn prune_destroys_only_applied_orphans_that_allow_it() {
        let mut stored = BTreeMap::new();
        for i in 0..10 {
            let name = format!("r{i}");
            stored.insert(
                name.clone(),
                record(&name, ResourceState::Applied, "o", Some("o")),
            );
        }
        stored.insert(
            "gone".into(),
            record("gone", ResourceState::Orphaned, "o", Some("o")),
        );
        let mut keep = record("keep", ResourceState::Orphaned, "o", Some("o"));
        keep.policy = Some(EffectivePolicy::CONSERVATIVE.to_json());
        stored.insert("keep".into(), keep);
        stored.insert(
            "never".into(),
            record("never", ResourceState::Orphaned, "o", None),
        );
        let plan = prune(&stored, true, 0.5, false);
        assert_eq!(plan.destroy, vec!["gone".to_owned()]);
        assert_eq!(
            prune(&stored, false, 0.5, false).destroy,
            Vec::<String>::new()
        );
    }

    #[test]
    fn prune_refuses_to_wipe_most_of_the_homelab_unless_forced() {
        let mut stored = BTreeMap::new();
        for i in 0..4 {
            let name = format!("r{i}");
            let state = if i < 3 {
                ResourceState::Orphaned
            } else {
                ResourceState::Applied
            };
            stored.insert(name.clone(), record(&name, state, "o", Some("o")));
        }
        let plan = prune(&stored, true, 0.5, false);
        assert!(plan.destroy.is_empty());
        assert!(plan.refused.unwrap().contains("3 of 4"));
        assert_eq!(prune(&stored, true, 0.5, true).destroy.len(), 3);
    }
}
