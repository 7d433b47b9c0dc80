//! Health checks in the loop (`spec.health`): after an apply, the resource is checked
//! every interval until it passes or its timeout ends (dependents wait meanwhile); on
//! every observation, one attempt. Each check is recorded (`resource_health`) with the
//! deviation an unhealthy resource opens (resolved when it is healthy again), in one
//! transaction. The decisions are `reconcile::health`'s; the probes `observe::health`'s.

use super::health_view::{CheckResult, HealthFindings};
use super::run::Reconciler;
use crate::model::health::{EndpointParts, HealthCheck};
use crate::observe::{Observer, OpenDeviation, Target};
use crate::reconcile::ResourceState;
use crate::reconcile::health::{
    self as core, Attempt, DEVIATION_KEY, HealthStatus, Verdict, stored_health,
};
use crate::store::{ResourceRecord, Store};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// One resource to check: its check, what the probe needs, and its applied render.
struct Subject {
    check: HealthCheck,
    target: Target,
    observer: Option<Arc<dyn Observer>>,
    endpoint: Option<EndpointParts>,
    applied_hash: Option<String>,
    applied: bool,
}

impl Reconciler {
    /// The resources in `names` (all applied ones when `None`) that have a health check.
    fn health_subjects(&self, names: Option<&BTreeSet<String>>) -> BTreeMap<String, Subject> {
        self.stored
            .values()
            .filter(|r| names.is_none_or(|n| n.contains(&r.name)))
            .filter(|r| r.applied_hash.is_some() && r.destroyed_at.is_none())
            .filter(|r| r.state != ResourceState::Orphaned)
            .filter_map(|r| {
                let check = stored_health(r)?;
                let provider = r.provider?;
                let observer = self
                    .tools
                    .observers
                    .iter()
                    .find(|(p, _)| *p == provider)
                    .map(|(_, o)| o.clone());
                Some((
                    r.name.clone(),
                    Subject {
                        check,
                        target: self.health_target(r, provider),
                        observer,
                        endpoint: r.address.as_deref().map(EndpointParts::parse),
                        applied_hash: r.applied_hash.clone(),
                        applied: r.state == ResourceState::Applied,
                    },
                ))
            })
            .collect()
    }

    fn health_target(&self, r: &ResourceRecord, provider: crate::model::Provider) -> Target {
        Target {
            resource: r.name.clone(),
            provider,
            rendered_dir: self
                .settings
                .rendered_dir()
                .join(provider.as_str())
                .join(&r.name),
            work_dir: self
                .settings
                .state_dir
                .join("work")
                .join(provider.as_str())
                .join(&r.name),
            secrets: Default::default(),
        }
    }

    /// After applies: checks each of `names` that has a health check until it passes
    /// or times out (all at once), and records the results. Returns those that did not
    /// become healthy, with the reason.
    pub(super) async fn check_after_apply(
        &mut self,
        store: &Arc<Store>,
        names: &BTreeSet<String>,
    ) -> BTreeMap<String, String> {
        let subjects = self.health_subjects(Some(names));
        if subjects.is_empty() {
            return BTreeMap::new();
        }
        let mut set = JoinSet::new();
        for (name, subject) in subjects {
            let stopping = self.stopping.clone();
            set.spawn(async move {
                let verdict = wait_healthy(&subject, stopping).await;
                (name, subject.applied_hash, verdict)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok((name, hash, Some(verdict))) = joined {
                let (status, reason) = match verdict {
                    Verdict::Healthy { reason } => (HealthStatus::Healthy, reason),
                    Verdict::Unhealthy { reason } => (HealthStatus::Unhealthy, reason),
                    Verdict::Again => continue,
                };
                info!(resource = %name, status = status.as_str(), %reason, "health checked after apply");
                results.push(CheckResult {
                    name,
                    status,
                    reason,
                    applied_hash: hash,
                });
            }
        }
        let failing = results
            .iter()
            .filter(|c| c.status == HealthStatus::Unhealthy)
            .map(|c| (c.name.clone(), c.reason.clone()))
            .collect();
        let Ok(open) = self.open_health_deviations(store).await else {
            return failing;
        };
        let findings = self.health.findings(&open, results, Utc::now());
        if let Err(e) = store.record_observation(&findings.write).await {
            warn!(error = %e, "cannot record health checks");
            self.metrics.inc_error(crate::metrics::ErrorKind::Database);
            return failing;
        }
        self.health.remember(&findings.write);
        failing
    }

    /// On an observation: one attempt per applied resource with a check (in `only`, or
    /// all), on the endpoints `fresh` when the observation just found them. The caller
    /// records the findings with the rest of the observation.
    pub(super) async fn check_on_observation(
        &mut self,
        open: &[OpenDeviation],
        only: Option<&BTreeSet<String>>,
        fresh: &[(String, Vec<crate::observe::Endpoint>)],
    ) -> HealthFindings {
        let mut subjects = self.health_subjects(only);
        // Endpoints this observation found and has not recorded yet.
        for (name, endpoints) in fresh {
            if let Some(s) = subjects.get_mut(name) {
                s.endpoint =
                    crate::observe::endpoint::primary(endpoints).map(|a| EndpointParts::parse(&a));
            }
        }
        let mut set = JoinSet::new();
        for (name, s) in subjects {
            set.spawn(async move {
                let a = one_attempt(&s, s.endpoint.as_ref()).await;
                (name, s.applied_hash, a)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok((name, hash, a)) = joined {
                let status = if a.passed {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Unhealthy
                };
                results.push(CheckResult {
                    name,
                    status,
                    reason: a.detail,
                    applied_hash: hash,
                });
            }
        }
        let open: Vec<OpenDeviation> = open
            .iter()
            .filter(|d| d.key == DEVIATION_KEY)
            .cloned()
            .collect();
        self.health.findings(&open, results, Utc::now())
    }

    async fn open_health_deviations(
        &self,
        store: &Store,
    ) -> Result<Vec<OpenDeviation>, crate::store::StoreError> {
        match store.open_deviation_keys().await {
            Ok(open) => Ok(open
                .into_iter()
                .filter(|d| d.key == DEVIATION_KEY)
                .collect()),
            Err(e) => {
                warn!(error = %e, "cannot read open deviations; health not recorded");
                Err(e)
            }
        }
    }
}

/// One attempt; a check that cannot become a probe (no endpoint yet) fails with why.
async fn one_attempt(s: &Subject, endpoint: Option<&EndpointParts>) -> Attempt {
    match s.check.probe(endpoint) {
        Ok(probe) => {
            crate::observe::health::attempt(
                &probe,
                &s.target,
                s.observer.as_deref(),
                s.applied,
                crate::observe::health::ATTEMPT_TIMEOUT,
            )
            .await
        }
        Err(e) => Attempt {
            passed: false,
            detail: format!("health check: {e}"),
        },
    }
}

/// Attempts every interval until one passes or the timeout ends; `None` when the
/// daemon stops meanwhile (nothing is recorded then). A check that refers to the
/// endpoint asks the observer for it while none is known.
async fn wait_healthy(
    s: &Subject,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Option<Verdict> {
    let started = Instant::now();
    let (interval, timeout) = (s.check.interval(), s.check.timeout());
    let mut endpoint = s.endpoint.clone();
    loop {
        if *stopping.borrow() {
            return None;
        }
        if endpoint.is_none()
            && s.check.uses_endpoint()
            && let Some(o) = &s.observer
        {
            endpoint = observed_endpoint(o.as_ref(), &s.target).await;
        }
        let a = one_attempt(s, endpoint.as_ref()).await;
        match core::after_attempt(&a, started.elapsed(), interval, timeout) {
            Verdict::Again => {}
            done => return Some(done),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// The first endpoint the observer sees for `target` now.
async fn observed_endpoint(o: &dyn Observer, target: &Target) -> Option<EndpointParts> {
    let report = o.observe(std::slice::from_ref(target)).await.ok()?;
    report
        .observations
        .into_iter()
        .find(|obs| obs.resource == target.resource)
        .and_then(|obs| obs.endpoints)
        .and_then(|e| crate::observe::endpoint::primary(&e))
        .map(|a| EndpointParts::parse(&a))
}
