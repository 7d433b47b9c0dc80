//! The apply phase of a pass: decides per resource (pure, `reconcile::decide` and
//! `reconcile::prune`), then runs the executors in bounded parallel — one apply per
//! resource at a time, each recorded in `apply_runs` before it starts and after it
//! ends. Nothing starts while the store cannot record it.

mod outcome;

use super::pass::{audit, short};
use super::rollout::Cause;
use super::run::Reconciler;
use crate::apply::{ApplyOutcome, ApplyReport, ApplyRequest, ProviderExecutor};
use crate::model::Provider;
use crate::reconcile::order::{self, Gate};
use crate::reconcile::{ApplyDecision, ApplyInputs, ResourceState, decide, prune};
use crate::store::{
    ApplyRunEnd, PassRecord, ResourceRecord, RunOperation as Operation, RunState, Store,
};
use chrono::{DateTime, Utc};
use outcome::mark_failed;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// One executor call to make.
pub(super) struct Job {
    pub(super) record: ResourceRecord,
    pub(super) provider: Provider,
    pub(super) executor: Arc<dyn ProviderExecutor>,
    pub(super) operation: Operation,
    pub(super) why: String,
    pub(super) revision: String,
    /// The secret values the tool gets (apply only).
    pub(super) secrets: crate::secrets::SecretEnv,
    /// What `applied_hash` becomes when the apply succeeds (output hash + secret digests).
    pub(super) marker: Option<String>,
    /// Started by the loop itself (not requested by an operator): counts toward the
    /// flapping limit.
    pub(super) automatic: bool,
    /// A rollback: the kept output applied instead of the rendered directory.
    pub(super) kept: Option<std::path::PathBuf>,
    /// A rollback: the render it replaces (not applied again until the definition
    /// changes); none when that render is the one put back.
    pub(super) rejected: Option<crate::reconcile::rollback::Rejected>,
}

/// What came back from one job.
pub(super) struct Done {
    pub(super) job_name: String,
    operation: Operation,
    executor: String,
    pub(super) why: String,
    run_id: Result<String, NotStarted>,
    report: ApplyReport,
    duration: Duration,
    marker: Option<String>,
    /// The revision the job ran for (for a destroy: the one without the definition).
    pub(super) revision: String,
    automatic: bool,
    /// A rollback: the render it replaces.
    pub(super) rejected: Option<crate::reconcile::rollback::Rejected>,
    /// The job's task panicked (a bug in homelabd or an executor, not the tool).
    panicked: bool,
}

impl Done {
    /// The result of `job` before anything ran: "not started".
    fn not_started(job: &Job) -> Done {
        Done {
            job_name: job.record.name.clone(),
            operation: job.operation,
            executor: job.executor.name().to_owned(),
            why: job.why.clone(),
            run_id: Err(NotStarted::Early),
            report: ApplyReport::not_applied("the daemon is stopping"),
            duration: Duration::ZERO,
            marker: job.marker.clone(),
            revision: job.revision.clone(),
            panicked: false,
            automatic: job.automatic,
            rejected: job.rejected.clone(),
        }
    }

    /// The result of a job whose task panicked: a failed run (the run recorded before
    /// the panic, if any, is finished as failed), never a lost one.
    fn panicked(mut self, run: Option<String>, panic: tokio::task::JoinError) -> Done {
        self.report =
            ApplyReport::failed(format!("executor task panicked: {}", panic_message(panic)));
        self.run_id = run.ok_or(NotStarted::Panicked);
        self.panicked = true;
        self
    }
}

/// What a job's task would have returned had it not panicked, and its run once recorded.
type Fallback = (Done, Arc<OnceLock<String>>);

/// Every job's result, in the order they finish: a task that panicked yields its
/// fallback as a failed run instead of vanishing.
async fn collect(
    mut set: JoinSet<Done>,
    mut lost: HashMap<tokio::task::Id, Fallback>,
) -> Vec<Done> {
    let mut out = Vec::new();
    while let Some(joined) = set.join_next_with_id().await {
        match joined {
            Ok((_, done)) => out.push(done),
            Err(panic) => {
                if let Some((fallback, run)) = lost.remove(&panic.id()) {
                    out.push(fallback.panicked(run.get().cloned(), panic));
                }
            }
        }
    }
    out
}

/// What a panicked (or cancelled) task said.
fn panic_message(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Why a job's run was never recorded (so no tool ran).
#[derive(Debug, thiserror::Error)]
enum NotStarted {
    /// Stopped before the claim: the daemon is stopping, or the work directory failed.
    #[error("not started")]
    Early,
    /// The cluster refused the claim (not the leader, lease lost, resource busy).
    #[error(transparent)]
    Claim(#[from] crate::cluster::ClaimError),
    /// The store could not record the run.
    #[error("cannot record the run: {0}")]
    Record(#[source] crate::store::StoreError),
    /// The job's task panicked before its run was recorded.
    #[error("the task panicked")]
    Panicked,
}

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

    /// Runs the jobs with the configured parallelism; one job per resource.
    pub(super) async fn run_jobs(&self, store: &Arc<Store>, jobs: Vec<Job>) -> Vec<Done> {
        let limit = Arc::new(Semaphore::new(self.settings.parallelism));
        let mut set = JoinSet::new();
        // What each task would have returned had it not panicked, and its run once
        // recorded.
        let mut lost = HashMap::new();
        for job in jobs {
            let run = Arc::new(OnceLock::new());
            let fallback = (Done::not_started(&job), run.clone());
            let limit = limit.clone();
            let store = store.clone();
            let runner = self.runner.clone();
            let stopping = self.stopping.clone();
            let gate = self.cluster.clone();
            let work_dir = self
                .settings
                .state_dir
                .join("work")
                .join(job.provider.as_str())
                .join(&job.record.name);
            let rendered_dir = match &job.kept {
                Some(kept) => kept.clone(),
                None => self
                    .settings
                    .rendered_dir()
                    .join(job.provider.as_str())
                    .join(&job.record.name),
            };
            let task = set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let name = job.record.name.clone();
                let executor = job.executor.name().to_owned();
                let mut done = Done::not_started(&job);
                if *stopping.borrow() {
                    return done;
                }
                if let Err(e) = tokio::fs::create_dir_all(&work_dir).await {
                    done.report = ApplyReport::failed(format!(
                        "cannot create {}: {e}",
                        work_dir.display()
                    ));
                    return done;
                }
                // Fencing and the per-resource lock: never two daemons on one resource.
                let lock = match crate::cluster::claim(&gate, &store, &name).await {
                    Ok(lock) => lock,
                    Err(refused) => {
                        done.report = ApplyReport::not_applied(refused.to_string());
                        done.run_id = Err(refused.into());
                        return done;
                    }
                };
                let started_audit = audit(
                    &format!("{}.started", job.operation.as_str()),
                    &name,
                    serde_json::json!({"executor": executor, "revision": job.revision, "why": job.why}),
                    Utc::now(),
                );
                done.run_id = store
                    .start_apply_run(&name, &job.revision, &executor, job.operation, &started_audit)
                    .await
                    .map_err(NotStarted::Record);
                match &done.run_id {
                    Ok(id) => {
                        let _ = run.set(id.clone());
                    }
                    Err(_) => {
                        done.report = ApplyReport::not_applied("the store could not record the run");
                        lock.release().await;
                        return done;
                    }
                }
                if let (Ok(run), Some(member)) = (&done.run_id, gate.member())
                    && let Err(e) = store.set_apply_run_member(run, member).await
                {
                    warn!(resource = %name, error = %e, "cannot record which daemon runs this apply");
                }
                info!(resource = %name, executor = %executor, operation = job.operation.as_str(), why = %job.why, "applying");
                let req = ApplyRequest {
                    resource: name,
                    provider: job.provider,
                    rendered_dir,
                    work_dir,
                    revision: job.revision,
                    secrets: job.secrets,
                };
                let started = Instant::now();
                done.report = match job.operation {
                    Operation::Apply | Operation::Rollback => job.executor.apply(&req, &runner).await,
                    Operation::Destroy => job.executor.destroy(&req, &runner).await,
                };
                done.duration = started.elapsed();
                lock.release().await;
                done
            });
            lost.insert(task.id(), fallback);
        }
        collect(set, lost).await
    }

    /// Writes one finished job (run row, resource state, audit) and updates the loop's
    /// view, backoff and metrics. Returns the resource name when an apply succeeded.
    /// The decisions are `outcome`'s; this adds what needs the loop's state.
    pub(super) async fn record_done(&mut self, store: &Arc<Store>, d: Done) -> Option<String> {
        let name = d.job_name.clone();
        let run_id = match &d.run_id {
            Ok(id) => id.clone(),
            Err(NotStarted::Panicked) => {
                self.record_lost(&d).await;
                return None;
            }
            Err(not_started) => {
                self.not_started(&d, not_started);
                return None;
            }
        };
        let now = Utc::now();
        let ending = outcome::run_end(&d, now);
        let previous = self.stored.get(&name).cloned()?;
        // Only a failed run backs off; its reason says when it is tried again.
        let retry_in = (ending.end.state == RunState::Failed)
            .then(|| self.applies.failed(&name, Instant::now()));
        let mut finish = outcome::next_record(
            &previous,
            &d,
            &ending.end,
            retry_in.unwrap_or_default(),
            now,
        );
        if retry_in.is_some() {
            self.degrade_if_flapping(&d, &mut finish, now);
        }
        if d.operation == Operation::Rollback && ending.succeeded() {
            outcome::rolled_back(&mut finish, &previous, &d, &run_id, now);
            self.rolled_back(&finish.record, &d, &run_id);
        }
        if ending.succeeded() {
            self.applies.succeeded(&name);
        }
        if ending.interrupted {
            self.applies.redo(&name);
        }
        outcome::seal(&mut finish, &d, &run_id, &previous, &ending.end, now);
        self.log_finished(&d, &ending);
        self.write_finished(store, &run_id, &ending.end, finish)
            .await;
        (ending.succeeded() && d.operation.puts_in_place()).then_some(name)
    }

    /// A job whose run was never recorded: a busy resource is retried after a backoff,
    /// the rest only logged.
    fn not_started(&mut self, d: &Done, why: &NotStarted) {
        let name = &d.job_name;
        if let ApplyOutcome::Failed { error } = &d.report.outcome {
            warn!(resource = %name, %error, "apply could not start");
        }
        match why {
            NotStarted::Claim(crate::cluster::ClaimError::Busy) => {
                // Retried after a backoff; the other daemon is likely done by then.
                info!(resource = %name, "another daemon is applying it; retrying later");
                self.applies.failed(name, Instant::now());
            }
            NotStarted::Record(e) => {
                warn!(resource = %name, error = %e, "apply not started: the store could not record the run");
            }
            NotStarted::Early | NotStarted::Claim(_) | NotStarted::Panicked => {}
        }
    }

    /// A failed automatic apply that reached the flapping limit leaves the resource
    /// `degraded`, with an audit row and a notification.
    fn degrade_if_flapping(&mut self, d: &Done, f: &mut outcome::Finish, now: DateTime<Utc>) {
        if d.operation != Operation::Apply || !d.automatic {
            return;
        }
        let render = d.marker.clone().or_else(|| f.record.output_hash.clone());
        let Some(limit) =
            self.flapping_after_failure(&f.record, render.as_deref().unwrap_or_default())
        else {
            return;
        };
        let (degraded, event) = self.degrade(&f.record, limit, "failed");
        f.effects.audit.push(audit(
            "resource.degraded",
            &d.job_name,
            serde_json::json!({ "reason": degraded.reason }),
            now,
        ));
        f.effects.notifications.push(event);
        f.record = degraded;
    }

    /// Logs a finished run and counts it.
    fn log_finished(&self, d: &Done, ending: &outcome::Ending) {
        let name = &d.job_name;
        let state = ending.end.state;
        let error = &ending.end.error;
        if d.panicked {
            error!(resource = %name, operation = d.operation.as_str(), error = ?error, "executor task panicked; recorded as a failed run");
            self.metrics.inc_error(crate::metrics::ErrorKind::Internal);
        }
        self.metrics.inc_apply(d.operation.as_str(), state.as_str());
        match error {
            Some(e) if !ending.interrupted => {
                warn!(resource = %name, operation = d.operation.as_str(), error = %e, took = ?d.duration, "apply failed")
            }
            _ => {
                info!(resource = %name, operation = d.operation.as_str(), outcome = state.as_str(), took = ?d.duration, "apply finished")
            }
        }
    }

    /// Writes the run's end with its effects in one transaction, then the loop's view.
    async fn write_finished(
        &mut self,
        store: &Arc<Store>,
        run_id: &str,
        end: &ApplyRunEnd,
        finish: outcome::Finish,
    ) {
        let name = finish.record.name.clone();
        if let Err(e) = store.finish_apply_run(run_id, end, &finish.effects).await {
            // The run row stays `running`; the next start marks it interrupted and
            // applies again (idempotent), so nothing is lost but time.
            warn!(resource = %name, error = %e, "cannot record the end of an apply run");
            self.metrics.inc_error(crate::metrics::ErrorKind::Database);
        }
        if finish.effects.destroyed.is_some() {
            // Out of the loop's view: a destroyed resource is history, not desired state.
            self.stored.remove(&name);
        } else {
            self.stored.insert(name, finish.record);
        }
    }

    /// A job whose task panicked before its run was recorded: there is no run row to
    /// finish, so the failure goes into the resource's state and the audit log through
    /// the pass queue, and the apply is retried with backoff.
    async fn record_lost(&mut self, d: &Done) {
        let name = &d.job_name;
        let summary = match &d.report.outcome {
            ApplyOutcome::Failed { error } => error.clone(),
            _ => "executor task panicked".to_owned(),
        };
        error!(resource = %name, operation = d.operation.as_str(), error = %summary, "executor task panicked before its run was recorded; recorded as a failed apply");
        self.metrics.inc_error(crate::metrics::ErrorKind::Internal);
        self.metrics
            .inc_apply(d.operation.as_str(), RunState::Failed.as_str());
        let wait = self.applies.failed(name, Instant::now());
        let Some(mut record) = self.stored.get(name).cloned() else {
            return;
        };
        let now = Utc::now();
        record.updated_at = now;
        mark_failed(&mut record, d.operation, summary.clone(), "", wait, now);
        let pass = PassRecord {
            resources: vec![record.clone()],
            audit: vec![audit(
                "apply.failed",
                name,
                serde_json::json!({"executor": d.executor, "error": summary, "revision": record.desired_revision.as_deref().map(short)}),
                now,
            )],
            ..PassRecord::default()
        };
        self.stored.insert(name.clone(), record);
        self.link.queue(pass);
        self.flush().await;
    }

    /// Once per connection: runs left `running` by a daemon that died are marked
    /// interrupted, and their resources applied again.
    async fn recover_interrupted(&mut self, store: &Arc<Store>) {
        if self.applies.interrupted_checked {
            return;
        }
        // Several daemons: a dead member's run is found once its heartbeat expires, so
        // the check repeats every phase (one cheap UPDATE) instead of once.
        let ttl = crate::cluster::LEASE_TTL.as_secs_f64();
        match store.interrupt_orphaned_applies(ttl).await {
            Ok(runs) => {
                self.applies.interrupted_checked = !self.cluster.clustered();
                for run in runs {
                    warn!(resource = %run.resource, run = %run.id, started = %run.started_at, "an apply was interrupted by a crash or kill; applying again");
                    self.applies.redo(&run.resource);
                }
            }
            Err(e) => warn!(error = %e, "cannot check for interrupted applies"),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A job's result before it ran, for the tests here and in `outcome`.
    pub(super) fn done(name: &str) -> Done {
        Done {
            job_name: name.to_owned(),
            operation: Operation::Apply,
            executor: "docker-compose".to_owned(),
            why: "new".to_owned(),
            run_id: Err(NotStarted::Early),
            report: ApplyReport::not_applied("the daemon is stopping"),
            duration: Duration::ZERO,
            marker: None,
            revision: "abc".to_owned(),
            panicked: false,
            rejected: None,
            automatic: true,
        }
    }

    /// Regression: a job whose task panicked was dropped from the results, so its run
    /// stayed `running` and the resource showed no failure.
    #[tokio::test]
    async fn a_panicked_apply_task_is_a_failed_run_not_a_lost_one() {
        let mut set = JoinSet::new();
        let mut lost = HashMap::new();
        let ok = set.spawn(async {
            let mut d = done("web");
            d.report = ApplyReport::failed("compose exited with 1");
            d
        });
        lost.insert(ok.id(), (done("web"), Arc::new(OnceLock::new())));
        let run = Arc::new(OnceLock::new());
        let slot = run.clone();
        let bad = set.spawn(async move {
            let _ = slot.set("run-7".to_owned());
            panic!("index out of bounds");
        });
        lost.insert(bad.id(), (done("api"), run));
        let mut out = collect(set, lost).await;
        out.sort_by(|a, b| a.job_name.cmp(&b.job_name));
        assert_eq!(out.len(), 2, "both jobs come back");
        let api = &out[0];
        assert_eq!(api.job_name, "api");
        assert!(api.panicked);
        assert_eq!(
            api.run_id.as_deref().ok(),
            Some("run-7"),
            "its run is finished"
        );
        assert!(
            matches!(&api.report.outcome, ApplyOutcome::Failed { error } if error == "executor task panicked: index out of bounds"),
            "{:?}",
            api.report.outcome
        );
        assert!(!out[1].panicked);
    }

    #[tokio::test]
    async fn a_task_that_panicked_before_its_run_was_recorded_says_so() {
        let panic = tokio::spawn(async { panic!("{}", String::from("boom")) })
            .await
            .unwrap_err();
        let d = done("web").panicked(None, panic);
        assert!(matches!(d.run_id, Err(NotStarted::Panicked)));
        let mut record = ResourceRecord {
            state: ResourceState::Rendered,
            ..crate::daemon::pass::failed_record(None, "web", String::new(), Utc::now())
        };
        let ApplyOutcome::Failed { error } = d.report.outcome else {
            panic!("not a failure: {:?}", d.report.outcome);
        };
        mark_failed(
            &mut record,
            Operation::Apply,
            error,
            "",
            Duration::from_secs(5),
            Utc::now(),
        );
        assert_eq!(record.state, ResourceState::ApplyFailed);
        assert_eq!(
            record.reason.as_deref(),
            Some("apply failed: executor task panicked: boom; run `homelabd apply web` to retry")
        );
        assert_eq!(
            record.last_error.as_deref(),
            Some("executor task panicked: boom")
        );
    }
}
