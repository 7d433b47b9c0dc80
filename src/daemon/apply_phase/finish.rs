//! Recording what the apply phase's jobs did: the run row finished with its effects in
//! one transaction, the loop's view, backoff, flapping limit and metrics updated; jobs
//! that never started or whose task panicked; runs a dead daemon left `running`.
//! The decisions are `outcome`'s; this adds what needs the loop's state.

use super::super::pass::{audit, short};
use super::super::run::Reconciler;
use super::jobs::{Done, NotStarted};
use super::outcome::{self, mark_failed};
use crate::apply::ApplyOutcome;
use crate::store::{ApplyRunEnd, PassRecord, RunOperation as Operation, RunState, Store};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Instant;
use tracing::{error, info, warn};

impl Reconciler {
    /// Writes one finished job (run row, resource state, audit) and updates the loop's
    /// view, backoff and metrics. Returns the resource name when an apply succeeded.
    /// The decisions are `outcome`'s; this adds what needs the loop's state.
    pub(in crate::daemon) async fn record_done(
        &mut self,
        store: &Arc<Store>,
        d: Done,
    ) -> Option<String> {
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
    pub(super) async fn recover_interrupted(&mut self, store: &Arc<Store>) {
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
