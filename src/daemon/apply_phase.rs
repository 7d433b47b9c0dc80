//! The apply phase of a pass: decides per resource (pure, `reconcile::decide` and
//! `reconcile::prune`), then runs the executors in bounded parallel — one apply per
//! resource at a time, each recorded in `apply_runs` before it starts and after it
//! ends. Nothing starts while the store cannot record it.
//!
//! The jobs and how they run are in `jobs`, recording what they did in `finish`, the
//! meaning of a finished run (pure) in `outcome`.

mod finish;
mod jobs;
mod outcome;

pub(super) use jobs::{Done, Job};

use super::pass::audit;
use super::rollout::Cause;
use super::run::Reconciler;
use crate::reconcile::order::{self, Gate};
use crate::reconcile::{ApplyDecision, ApplyInputs, ResourceState, decide, prune};
use crate::store::{PassRecord, ResourceRecord, RunOperation as Operation, Store};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

impl Reconciler {
    /// Decides and carries out applies and prunes; returns the resources applied
    /// successfully (they are observed right after).
    pub(super) async fn apply_phase(&mut self, head: &str) -> BTreeSet<String> {
        let Some(store) = self.link.store().cloned() else {
            return BTreeSet::new();
        };
        if self.link.behind() {
            return BTreeSet::new(); // the store is behind: an apply now could not be recorded
        }
        self.recover_interrupted(&store).await;
        let mut applied = self.manual_rollbacks(&store).await;
        let now_i = Instant::now();
        let retry = self.applies.retries(now_i);
        let approved = self.applies.take_approved(self.stored.keys());
        let heal = self.applies.take_heal();
        let secrets = self.secret_states();
        let inputs = ApplyInputs {
            availability: self.tools.executors.availability(),
            approved: &approved,
            heal: &heal,
            retry: &retry,
            secrets: &secrets,
        };
        let mut jobs = Vec::new();
        let mut waiting = PassRecord::default();
        let mut degraded = Vec::new();
        let mut windows = self.window_check();
        let decisions: Vec<(ResourceRecord, ApplyDecision)> = self
            .stored
            .values()
            .map(|r| (r.clone(), decide(r, &inputs)))
            .filter(|(_, d)| *d != ApplyDecision::Nothing)
            .collect();
        // Resources with an apply still to make: not ready for their dependents.
        let due: BTreeSet<String> = decisions.iter().map(|(r, _)| r.name.clone()).collect();
        for (record, decision) in decisions {
            let record = &record;
            match decision {
                ApplyDecision::Apply { provider, why } => {
                    let requested = approved.contains(&record.name);
                    if self.applies.waiting(&record.name, now_i) && !requested {
                        continue;
                    }
                    let cause = if requested {
                        Cause::Requested
                    } else if heal.contains(&record.name) {
                        Cause::Heal
                    } else if retry.contains(&record.name) {
                        Cause::Retry
                    } else {
                        Cause::Change
                    };
                    if let Some(held) = self.window_hold(&mut windows, record, cause) {
                        waiting.resources.extend(held);
                        continue;
                    }
                    // The render rolled back from waits for a new one (or a person).
                    if cause != Cause::Requested
                        && let Some(reason) = crate::reconcile::rollback::rejected_wait(
                            record,
                            self.rejected(record).as_ref(),
                        )
                    {
                        let reason = format!("rendered, not applied: {reason}");
                        waiting.resources.extend(waiting_record(record, reason));
                        continue;
                    }
                    let Ok(executor) = self.tools.executors.get(provider) else {
                        continue;
                    };
                    let Some(revision) = record.desired_revision.clone() else {
                        continue;
                    };
                    let executor = executor.clone();
                    let marker = secrets
                        .get(&record.name)
                        .and_then(|s| s.as_ref().ok())
                        .map(|s| s.marker.clone());
                    let env = match marker {
                        Some(_) => match self.secret_env(&record.name) {
                            Ok(env) => env,
                            Err(e) => {
                                warn!(resource = %record.name, error = %e, "secrets unreadable");
                                continue;
                            }
                        },
                        None => crate::secrets::SecretEnv::default(),
                    };
                    let render = marker.clone().or_else(|| record.output_hash.clone());
                    if let Some((record, event)) =
                        self.count_attempt(record, render.as_deref().unwrap_or_default(), cause)
                    {
                        waiting.audit.push(audit(
                            "resource.degraded",
                            &record.name,
                            serde_json::json!({ "reason": record.reason }),
                            Utc::now(),
                        ));
                        waiting.resources.push(record);
                        degraded.push(event);
                        continue;
                    }
                    jobs.push(Job {
                        record: record.clone(),
                        provider,
                        executor,
                        operation: Operation::Apply,
                        why,
                        revision,
                        secrets: env,
                        marker,
                        automatic: cause != Cause::Requested,
                        kept: None,
                        rejected: None,
                    });
                }
                ApplyDecision::Wait { reason } => {
                    let reason = format!("rendered, not applied: {reason}");
                    waiting.resources.extend(waiting_record(record, reason));
                }
                ApplyDecision::Nothing => {}
            }
        }
        let force = self.applies.take_force_prune();
        let plan = prune(
            &self.stored,
            self.last.valid,
            self.settings.max_prune_fraction,
            force,
        );
        if self.applies.prune_refusal_is_new(plan.refused.as_ref())
            && let Some(refused) = &plan.refused
        {
            warn!(reason = %refused, "prune refused");
            waiting.audit.push(audit(
                "prune.refused",
                head,
                serde_json::json!({ "reason": refused }),
                Utc::now(),
            ));
        }
        for name in &plan.destroy {
            let Some(record) = self.stored.get(name) else {
                continue;
            };
            if self.applies.waiting(name, now_i) && !force {
                continue;
            }
            let record = record.clone();
            if let Some(held) = self.window_hold(&mut windows, &record, Cause::Prune) {
                waiting.resources.extend(held);
                continue;
            }
            let Some(provider) = record.provider else {
                continue;
            };
            match self.tools.executors.get(provider) {
                Ok(executor) => jobs.push(Job {
                    record: record.clone(),
                    provider,
                    executor: executor.clone(),
                    operation: Operation::Destroy,
                    why: "definition removed; policy.prune allows it".to_owned(),
                    revision: head.to_owned(),
                    secrets: crate::secrets::SecretEnv::default(),
                    marker: None,
                    automatic: false,
                    kept: None,
                    rejected: None,
                }),
                Err(reason) => warn!(resource = %name, %reason, "cannot prune"),
            }
        }
        for r in &waiting.resources {
            self.stored.insert(r.name.clone(), r.clone());
        }
        if !waiting.resources.is_empty() || !waiting.audit.is_empty() {
            self.link.queue(waiting);
            self.flush().await;
        }
        if !degraded.is_empty()
            && let Err(e) = store.record_notifications(&degraded).await
        {
            warn!(error = %e, "cannot write the degraded notifications");
        }
        if jobs.is_empty() {
            return applied;
        }
        applied.extend(self.run_in_order(&store, jobs, due).await);
        applied
    }

    /// Runs the jobs in waves: an apply after the applies of its dependencies in this
    /// pass (and their health checks passing), a destroy after the destroys of the
    /// resources that depend on it. A job whose dependency is not ready (failed,
    /// waiting, invalid, unhealthy) waits with the reason.
    /// Returns the resources applied successfully.
    async fn run_in_order(
        &mut self,
        store: &Arc<Store>,
        mut jobs: Vec<Job>,
        mut due: BTreeSet<String>,
    ) -> BTreeSet<String> {
        let graph = order::stored_graph(&self.stored);
        let mut applied = BTreeSet::new();
        while !jobs.is_empty() {
            let scheduled = |op: Operation| -> BTreeSet<String> {
                jobs.iter()
                    .filter(|j| j.operation == op)
                    .map(|j| j.record.name.clone())
                    .collect()
            };
            let (applies, destroys) = (scheduled(Operation::Apply), scheduled(Operation::Destroy));
            let mut wave = Vec::new();
            let mut later = Vec::new();
            let mut waiting = PassRecord::default();
            for job in jobs {
                let name = &job.record.name;
                let gate = match job.operation {
                    Operation::Apply | Operation::Rollback => {
                        order::gate_apply(name, &graph, &applies, |dep| {
                            order::dependency_wait(
                                self.stored.get(dep),
                                due.contains(dep),
                                self.health.get(dep),
                            )
                        })
                    }
                    Operation::Destroy => order::gate_destroy(name, &graph, &destroys),
                };
                match gate {
                    Gate::Go => wave.push(job),
                    Gate::Later => later.push(job),
                    Gate::Wait { reason } => {
                        info!(resource = %name, %reason, "not applied yet");
                        waiting
                            .resources
                            .extend(waiting_record(&job.record, reason));
                    }
                }
            }
            if wave.is_empty() {
                // Only a cycle does this, and validation refuses cycles: never loop on it.
                for job in later.drain(..) {
                    let reason = "waiting for a dependency cycle to be broken".to_owned();
                    waiting
                        .resources
                        .extend(waiting_record(&job.record, reason));
                }
            }
            if !waiting.resources.is_empty() {
                for r in &waiting.resources {
                    self.stored.insert(r.name.clone(), r.clone());
                }
                self.link.queue(waiting);
                self.flush().await;
            }
            let mut wave_applied = BTreeSet::new();
            let mut failed = BTreeMap::new();
            for d in self.run_jobs(store, wave).await {
                let op = d.operation;
                let name = d.job_name.clone();
                if let Some(name) = self.record_done(store, d).await {
                    due.remove(&name);
                    wave_applied.insert(name);
                } else if op == Operation::Apply
                    && let Some(r) = self.stored.get(&name)
                    && r.state == ResourceState::ApplyFailed
                {
                    let why = r.last_error.as_deref().unwrap_or("failed");
                    let why = why.lines().next().unwrap_or("failed");
                    failed.insert(name, format!("apply failed: {why}"));
                }
            }
            // Health before the next wave: a dependent starts only on a healthy dependency.
            let unhealthy = self.check_after_apply(store, &wave_applied).await;
            let healthy: BTreeSet<String> = wave_applied
                .iter()
                .filter(|n| !unhealthy.contains_key(*n))
                .cloned()
                .collect();
            self.keep_good(&healthy).await;
            failed.extend(unhealthy);
            let restored = self.roll_back(store, &failed).await;
            wave_applied.retain(|n| !failed.contains_key(n));
            wave_applied.extend(restored);
            applied.extend(wave_applied);
            jobs = later;
        }
        applied
    }
}

/// The record of a resource that waits with `reason` (none when it says so already, or
/// when it failed: its failure stays the reason shown).
fn waiting_record(record: &ResourceRecord, reason: String) -> Option<ResourceRecord> {
    if record.reason.as_deref() == Some(reason.as_str()) || record.state.is_failed() {
        return None;
    }
    let mut r = record.clone();
    r.state = ResourceState::Rendered;
    r.reason = Some(reason);
    r.updated_at = Utc::now();
    Some(r)
}
