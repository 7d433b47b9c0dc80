//! The loop's record of one resource: what the store keeps per resource (a row of
//! `deployment_instances`) and what the pure plan and apply decisions read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// State of one resource (one row of `deployment_instances`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub name: String,
    /// Rendered, applied, invalid, orphaned, or failed (rendering or applying); stored
    /// as `state` (and `failure`), see [`super::ResourceState`].
    pub state: super::ResourceState,
    /// Why it is in that state, e.g. "rendered, not applied: no executor yet".
    pub reason: Option<String>,
    pub provider: Option<crate::model::Provider>,
    pub pool: Option<String>,
    pub chart: Option<String>,
    pub resource_type: Option<String>,
    /// The placement decision (JSON) of the last good desired state.
    pub placement: Option<serde_json::Value>,
    pub dimensions: Option<serde_json::Value>,
    /// The commit of the last good desired state.
    pub desired_revision: Option<String>,
    pub input_hash: Option<String>,
    pub output_hash: Option<String>,
    /// Where the definition lives (`file:line`), for invalid and orphaned resources too.
    pub source: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The output hash of the render last applied successfully (`None`: never applied).
    pub applied_hash: Option<String>,
    /// The commit of that render.
    pub applied_revision: Option<String>,
    /// The effective policy (`{"apply": "auto", "self_heal": false, "prune": false}`) of
    /// the last good desired state; `None` in an update keeps the stored one, so a removed
    /// definition is pruned by the policy it last had.
    pub policy: Option<serde_json::Value>,
    /// When prune destroyed it (`None`: it exists). A destroyed resource keeps its row,
    /// runs, renders and deviations; defining it again brings the row back to life.
    #[serde(default)]
    pub destroyed_at: Option<DateTime<Utc>>,
    /// The revision whose removal of the definition it was destroyed for.
    #[serde(default)]
    pub destroyed_revision: Option<String>,
    /// Where it can be reached: the first of `endpoints` (written with them, never by
    /// `Store::record_pass`).
    #[serde(default)]
    pub address: Option<String>,
    /// Where it can be reached, as the last apply or observation found it.
    #[serde(default)]
    pub endpoints: Vec<super::endpoint::Endpoint>,
}

impl ResourceRecord {
    /// The state to show a person: `destroyed` for a destroyed resource, else `state`.
    pub fn shown_state(&self) -> &'static str {
        if self.destroyed_at.is_some() {
            "destroyed"
        } else {
            self.state.as_str()
        }
    }
}

#[cfg(test)]
impl ResourceRecord {
    /// A rendered docker resource with nothing else set, for the pure cores' tests.
    pub(crate) fn new_for_tests(name: &str) -> ResourceRecord {
        ResourceRecord {
            name: name.to_owned(),
            state: super::ResourceState::Rendered,
            reason: None,
            provider: Some(crate::model::Provider::Docker),
            pool: None,
            chart: None,
            resource_type: None,
            placement: None,
            dimensions: None,
            desired_revision: Some("c1".to_owned()),
            input_hash: Some("i".to_owned()),
            output_hash: Some("o".to_owned()),
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
}
