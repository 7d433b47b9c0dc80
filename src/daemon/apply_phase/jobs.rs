//! The jobs of the apply phase and how they run: each executor call with what it
//! needs, run in bounded parallel (one per resource, a run row recorded before the
//! tool starts), and what came back — a panicked task included, as a failed run.

use super::super::pass::audit;
use super::super::run::Reconciler;
use crate::apply::{ApplyReport, ApplyRequest, ProviderExecutor};
use crate::model::Provider;
use crate::store::{ResourceRecord, RunOperation as Operation, Store};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// One executor call to make.
pub(in crate::daemon) struct Job {
    pub(in crate::daemon) record: ResourceRecord,
    pub(in crate::daemon) provider: Provider,
    pub(in crate::daemon) executor: Arc<dyn ProviderExecutor>,
    pub(in crate::daemon) operation: Operation,
    pub(in crate::daemon) why: String,
    pub(in crate::daemon) revision: String,
    /// The secret values the tool gets (apply only).
    pub(in crate::daemon) secrets: crate::secrets::SecretEnv,
    /// What `applied_hash` becomes when the apply succeeds (output hash + secret digests).
    pub(in crate::daemon) marker: Option<String>,
    /// Started by the loop itself (not requested by an operator): counts toward the
    /// flapping limit.
    pub(in crate::daemon) automatic: bool,
    /// A rollback: the kept output applied instead of the rendered directory.
    pub(in crate::daemon) kept: Option<std::path::PathBuf>,
    /// A rollback: the render it replaces (not applied again until the definition
    /// changes); none when that render is the one put back.
    pub(in crate::daemon) rejected: Option<crate::reconcile::rollback::Rejected>,
}

/// What came back from one job.
pub(in crate::daemon) struct Done {
    pub(in crate::daemon) job_name: String,
    pub(super) operation: Operation,
    pub(super) executor: String,
    pub(in crate::daemon) why: String,
    pub(super) run_id: Result<String, NotStarted>,
    pub(super) report: ApplyReport,
    pub(super) duration: Duration,
    pub(super) marker: Option<String>,
    /// The revision the job ran for (for a destroy: the one without the definition).
    pub(in crate::daemon) revision: String,
    pub(super) automatic: bool,
    /// A rollback: the render it replaces.
    pub(in crate::daemon) rejected: Option<crate::reconcile::rollback::Rejected>,
    /// The job's task panicked (a bug in homelabd or an executor, not the tool).
    pub(super) panicked: bool,
}

impl Done {
    /// The result of `job` before anything ran: "not started".
    pub(super) fn not_started(job: &Job) -> Done {
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
    pub(super) fn panicked(mut self, run: Option<String>, panic: tokio::task::JoinError) -> Done {
        self.report =
            ApplyReport::failed(format!("executor task panicked: {}", panic_message(panic)));
        self.run_id = run.ok_or(NotStarted::Panicked);
        self.panicked = true;
        self
    }
}

/// What a job's task would have returned had it not panicked, and its run once recorded.
pub(super) type Fallback = (Done, Arc<OnceLock<String>>);

/// Every job's result, in the order they finish: a task that panicked yields its
/// fallback as a failed run instead of vanishing.
pub(super) async fn collect(
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
pub(super) enum NotStarted {
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
    /// Runs the jobs with the configured parallelism; one job per resource.
    pub(in crate::daemon) async fn run_jobs(
        &self,
        store: &Arc<Store>,
        jobs: Vec<Job>,
    ) -> Vec<Done> {
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
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::outcome::mark_failed;
    use super::*;
    use crate::apply::ApplyOutcome;
    use crate::reconcile::ResourceState;
    use chrono::Utc;

    /// A job's result before it ran, for the tests here and in `outcome`.
    pub(in crate::daemon::apply_phase) fn done(name: &str) -> Done {
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
