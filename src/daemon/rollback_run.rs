//! Rollback runs: a kept healthy output put in place again as a `rollback` run —
//! automatically when a new revision's apply fails or it is not healthy in time
//! (`policy.rollback: auto`), or because a person asked (`homelabd rollback NAME
//! [--to REVISION]`). The render rolled back from is kept as rejected so the loop does
//! not apply it again until the definition changes, and a revert pull request is asked
//! for (see `revert_phase`).

use super::apply_phase::{Done, Job};
use super::apply_queue::ManualRollback;
use super::pass::audit;
use super::run::Reconciler;
use crate::reconcile::rollback::{GoodOutput, NothingKept, Rejected, auto_rollback, choose, short};
use crate::secrets::SecretError;
use crate::store::{PassRecord, ResourceRecord, RunOperation, Store};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tracing::{info, warn};

/// Why a rollback cannot be carried out; its text is the `rollback.refused` audit
/// reason that `homelabd rollback` prints.
#[derive(Debug, thiserror::Error)]
pub(super) enum RollbackRefused {
    #[error("{0} is not a resource of the reconciled revision: `homelabd status` lists them")]
    NotAResource(String),
    #[error(transparent)]
    NothingKept(#[from] NothingKept),
    #[error("the kept output of {0} went away")]
    KeptGone(String),
    #[error("{0} has no provider")]
    NoProvider(String),
    #[error("the {} executor cannot run: {source}", provider.as_str())]
    Executor {
        provider: crate::model::Provider,
        #[source]
        source: crate::apply::Unavailable,
    },
    #[error("the secrets of {resource} are unreadable: {source}")]
    Secrets {
        resource: String,
        #[source]
        source: SecretError,
    },
}

impl Reconciler {
    /// Rolls back each of `failed` (name → why) whose policy is auto and that has a kept
    /// healthy output of another render: applies that output as a rollback run, then
    /// checks its health. Returns those restored.
    pub(super) async fn roll_back(
        &mut self,
        store: &Arc<Store>,
        failed: &BTreeMap<String, String>,
    ) -> BTreeSet<String> {
        let mut jobs = Vec::new();
        for (name, why) in failed {
            let Some(record) = self.stored.get(name).cloned() else {
                continue;
            };
            let good = self.good_output(&record);
            if !auto_rollback(&record, good.as_ref().map(|(_, g)| g)) {
                continue;
            }
            let Some((dir, good)) = good else {
                continue;
            };
            let rejected = Rejected {
                output_hash: record.output_hash.clone().unwrap_or_default(),
                revision: record.desired_revision.clone().unwrap_or_default(),
                reason: why.clone(),
                restored: good.revision.clone(),
            };
            warn!(resource = %name, to = %short(&good.revision), %why, "rolling back");
            let why = format!("rollback to {}: {why}", short(&good.revision));
            if let Ok(job) = self.rollback_job(&record, dir, &good, Some(rejected), why) {
                jobs.push(job);
            }
        }
        self.run_rollbacks(store, jobs).await
    }

    /// Carries out the rollbacks people asked for; one that cannot be done (nothing
    /// kept, no such revision kept, the executor unavailable) is refused with the
    /// reason in the audit log (`rollback.refused`), which `homelabd rollback` prints.
    /// Returns the resources restored.
    pub(super) async fn manual_rollbacks(&mut self, store: &Arc<Store>) -> BTreeSet<String> {
        let mut jobs = Vec::new();
        let mut refused = PassRecord::default();
        for ask in self.applies.take_rollbacks() {
            match self.manual_job(&ask) {
                Ok(job) => jobs.push(job),
                Err(reason) => {
                    warn!(resource = %ask.resource, %reason, "rollback refused");
                    refused.audit.push(audit(
                        "rollback.refused",
                        &ask.resource,
                        serde_json::json!({
                            "reason": reason.to_string(),
                            "revision": ask.revision,
                            "requested_by": ask.by,
                        }),
                        Utc::now(),
                    ));
                }
            }
        }
        if !refused.audit.is_empty() {
            self.link.queue(refused);
            self.flush().await;
        }
        self.run_rollbacks(store, jobs).await
    }

    /// The job of a rollback a person asked for, or why there is none.
    fn manual_job(&mut self, ask: &ManualRollback) -> Result<Job, RollbackRefused> {
        let record = self
            .stored
            .get(&ask.resource)
            .cloned()
            .ok_or_else(|| RollbackRefused::NotAResource(ask.resource.clone()))?;
        let kept = self.kept_outputs(&record);
        let outputs: Vec<GoodOutput> = kept.iter().map(|(_, g)| g.clone()).collect();
        let good = choose(&record.name, &outputs, ask.revision.as_deref())?.clone();
        let Some((dir, _)) = kept.into_iter().find(|(_, g)| *g == good) else {
            return Err(RollbackRefused::KeptGone(record.name.clone()));
        };
        // The render in place of the desired one waits, unless it is the one put back.
        let rejected =
            (record.output_hash.as_deref() != Some(good.output_hash.as_str())).then(|| Rejected {
                output_hash: record.output_hash.clone().unwrap_or_default(),
                revision: record.desired_revision.clone().unwrap_or_default(),
                reason: format!("set aside by {}", ask.by),
                restored: good.revision.clone(),
            });
        let why = format!("rollback to {} asked by {}", short(&good.revision), ask.by);
        warn!(resource = %record.name, to = %short(&good.revision), by = %ask.by, "rolling back");
        self.rollback_job(&record, dir, &good, rejected, why)
    }

    /// A rollback run of `record` putting `good` (kept in `dir`) in place.
    fn rollback_job(
        &mut self,
        record: &ResourceRecord,
        dir: std::path::PathBuf,
        good: &GoodOutput,
        rejected: Option<Rejected>,
        why: String,
    ) -> Result<Job, RollbackRefused> {
        let provider = record
            .provider
            .ok_or_else(|| RollbackRefused::NoProvider(record.name.clone()))?;
        let executor = self
            .tools
            .executors
            .get(provider)
            .map_err(|source| RollbackRefused::Executor { provider, source })?
            .clone();
        let secrets = self
            .secret_env(&record.name)
            .map_err(|source| RollbackRefused::Secrets {
                resource: record.name.clone(),
                source,
            })?;
        Ok(Job {
            record: record.clone(),
            provider,
            executor,
            operation: RunOperation::Rollback,
            why,
            revision: good.revision.clone(),
            secrets,
            marker: Some(good.applied_hash.clone()),
            // A rollback is no retry: it never counts toward the flapping limit.
            automatic: false,
            kept: Some(dir),
            rejected,
        })
    }

    /// Runs rollback jobs, records them, checks the health of those restored; returns
    /// them.
    async fn run_rollbacks(&mut self, store: &Arc<Store>, jobs: Vec<Job>) -> BTreeSet<String> {
        let mut restored = BTreeSet::new();
        if jobs.is_empty() {
            return restored;
        }
        for d in self.run_jobs(store, jobs).await {
            if let Some(name) = self.record_done(store, d).await {
                restored.insert(name);
            }
        }
        self.check_after_apply(store, &restored).await;
        restored
    }

    /// What a successful rollback run leaves besides its record (`outcome::rolled_back`):
    /// the rejected render kept, so the loop holds it back, and the revert pull request
    /// asked for.
    pub(super) fn rolled_back(&self, record: &ResourceRecord, d: &Done, run_id: &str) {
        if let Some(rejected) = &d.rejected {
            self.keep_rejected(record, rejected);
            self.ask_revert(record, rejected, run_id);
        }
        warn!(resource = %d.job_name, to = %short(&d.revision), why = %d.why, "rolled back");
    }

    /// With `[propose]` configured (a remote or `[propose.github]`), proposes in the
    /// background to revert the change rolled back from: a pull request restoring the
    /// resource's document as it was at the revision rolled back to, once per rejected
    /// revision. It never touches the tracked branch.
    fn ask_revert(&self, record: &ResourceRecord, rejected: &Rejected, run_id: &str) {
        let propose = &self.settings.propose;
        if propose.github.is_none() && propose.remote.is_none() {
            return;
        }
        // `source` is "<file>:<line>" of the definition at the revision reconciled.
        let Some((path, _)) = record.source.as_deref().and_then(|s| s.rsplit_once(':')) else {
            warn!(resource = %record.name, "no definition file recorded: no revert proposed");
            return;
        };
        let revert = crate::propose::revert::Revert {
            name: record.name.clone(),
            path: path.to_owned(),
            bad: rejected.revision.clone(),
            good: rejected.restored.clone(),
            why: rejected.reason.clone(),
            run: run_id.to_owned(),
        };
        let proposer = crate::propose::Proposer::new(
            propose.clone(),
            self.repo.clone(),
            self.engine.clone(),
            self.link.store().cloned(),
        );
        tokio::spawn(async move {
            let name = &revert.name;
            match proposer.propose_revert(&revert).await {
                Ok(Some(outcome)) => {
                    info!(resource = %name, branch = ?outcome.branch, pr = ?outcome.pr_url, "revert proposed")
                }
                Ok(None) => {
                    info!(resource = %name, "the revert of this revision was proposed already")
                }
                Err(e) => warn!(resource = %name, error = %e, "cannot propose the revert"),
            }
        });
    }
}
