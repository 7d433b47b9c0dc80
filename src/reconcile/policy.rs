//! The effective policy of a resource: its own `spec.policy`, with unset fields taken
//! from the daemon's configured defaults. Stored with the resource so that a removed
//! definition is pruned (or not) by the policy it last had.

use crate::model::{ApplyPolicy, Policy};
use serde::{Deserialize, Serialize};

/// A resource's policy with every field decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePolicy {
    pub apply: ApplyPolicy,
    pub self_heal: bool,
    pub prune: bool,
}

impl EffectivePolicy {
    /// `policy` over `defaults`.
    pub fn resolve(policy: &Policy, defaults: EffectivePolicy) -> EffectivePolicy {
        EffectivePolicy {
            apply: policy.apply.unwrap_or(defaults.apply),
            self_heal: policy.self_heal.unwrap_or(defaults.self_heal),
            prune: policy.prune.unwrap_or(defaults.prune),
        }
    }

    /// Reads a stored policy; a missing or unreadable one is the conservative default
    /// (manual, no self-heal, no prune).
    pub fn from_stored(value: Option<&serde_json::Value>) -> EffectivePolicy {
        value
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(EffectivePolicy::CONSERVATIVE)
    }

    /// What a resource with no known policy gets: nothing happens without a person.
    pub const CONSERVATIVE: EffectivePolicy = EffectivePolicy {
        apply: ApplyPolicy::Manual,
        self_heal: false,
        prune: false,
    };

    /// As stored in `deployment_instances.policy`.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_take_the_defaults_and_set_ones_win() {
        let defaults = EffectivePolicy {
            apply: ApplyPolicy::Auto,
            self_heal: false,
            prune: false,
        };
        let own = Policy {
            apply: Some(ApplyPolicy::Manual),
            self_heal: None,
            prune: Some(true),
            ..Policy::default()
        };
        let p = EffectivePolicy::resolve(&own, defaults);
        assert_eq!(p.apply, ApplyPolicy::Manual);
        assert!(!p.self_heal);
        assert!(p.prune);
    }

    #[test]
    fn an_unknown_stored_policy_never_prunes() {
        assert_eq!(
            EffectivePolicy::from_stored(Some(&serde_json::json!({"bogus": 1}))),
            EffectivePolicy::CONSERVATIVE
        );
        let stored = EffectivePolicy::resolve(&Policy::default(), EffectivePolicy::CONSERVATIVE);
        assert_eq!(
            EffectivePolicy::from_stored(Some(&stored.to_json())),
            stored
        );
    }
}
