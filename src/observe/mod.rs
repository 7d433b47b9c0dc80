//! Observe: asks each provider what actually exists and turns every difference from
//! the rendered (expected) state into a [`Deviation`].
//!
//! Observers are IO shells around pure comparisons: each provider module has a function
//! from (expected, actual) to deviations that is unit-tested without the provider. The
//! loop stores what they find ([`reconcile_open`] decides what is new and what resolved)
//! and, where a resource's `self_heal` allows, re-applies.

pub mod docker;
pub mod docker_adopt;
pub mod health;
pub mod inventory;
pub mod kubernetes;
pub mod proxmox;
pub mod terraform;

use crate::apply::BoxFuture;
use crate::model::Provider;
// Observers report in the loop's own vocabulary (the store and notifications read it
// without reaching the observers).
pub use crate::reconcile::drift::{
    Changes, Deviation, DeviationKind, OpenDeviation, Severity, reconcile_open,
};
pub use crate::reconcile::endpoint::{self, Endpoint};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// open: not seeing a difference is not the same as it being gone). The reason is
    /// logged and shown, never matched on, so each observer says it in its own words.
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

    /// The provider's own health signal for one applied resource (`health.provider:
    /// true`); `None` when the provider has none, and the last apply's exit status
    /// stands for it.
    fn health<'a>(
        &'a self,
        _target: &'a Target,
    ) -> BoxFuture<'a, Option<crate::reconcile::health::Attempt>> {
        Box::pin(async { None })
    }
}
