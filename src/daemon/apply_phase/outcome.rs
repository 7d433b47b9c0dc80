//! What a finished executor run means, decided without IO: how its run row ends, the
//! resource's next record, the audit row and the notifications. The apply phase adds
//! what needs the loop's state (the backoff, the flapping count, the kept rejected
//! render), writes the result in one transaction and logs it.

use super::super::pass::{audit, short};
use super::{Done, Operation};
use crate::apply::{ApplyOutcome, CmdRun, Interruption};
use crate::model::ApplyPolicy;
use crate::reconcile::{EffectivePolicy, ResourceState};
use crate::store::{ApplyRunEffects, ApplyRunEnd, NotificationRecord, ResourceRecord, RunState};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How a run ended, read from its executor's report.
pub(super) struct Ending {
    /// What the run row is finished with.
    pub end: ApplyRunEnd,
    /// Stopped by the daemon's shutdown: carried out again at the next start.
    pub interrupted: bool,
}

impl Ending {
    /// The run succeeded.
    pub fn succeeded(&self) -> bool {
        self.end.state == RunState::Succeeded
    }
}

/// The run row's end for `d`: interrupted when its last command was stopped by
/// shutdown, else succeeded or failed as the executor said.
pub(super) fn run_end(d: &Done, now: DateTime<Utc>) -> Ending {
    let interrupted = d
        .report
        .last_run()
        .is_some_and(|r| r.ended_by == Some(Interruption::Shutdown));
    let (state, error) = match (&d.report.outcome, interrupted) {
        (_, true) => (
            RunState::Interrupted,
            Some("stopped by daemon shutdown".to_owned()),
        ),
        (ApplyOutcome::Applied, _) => (RunState::Succeeded, None),
        (ApplyOutcome::Failed { error }, _) => (RunState::Failed, Some(error.clone())),
        (ApplyOutcome::NotApplied { reason }, _) => (RunState::Failed, Some(reason.clone())),
    };
    let end = ApplyRunEnd {
        state,
        argv: serde_json::json!(d.report.runs.iter().map(|r| &r.argv).collect::<Vec<_>>()),
        exit_code: d.report.last_run().and_then(|r| r.exit_code),
        finished_at: now,
        duration_ms: d.duration.as_millis() as i64,
        stdout_tail: tails(&d.report.runs, |r| &r.stdout_tail),
        stderr_tail: tails(&d.report.runs, |r| &r.stderr_tail),
        error,
    };
    Ending { end, interrupted }
}

/// A finished run's effect on its resource, built up step by step before it is written.
pub(super) struct Finish {
    /// The resource's record after the run.
    pub record: ResourceRecord,
    /// The audit action: `apply.succeeded`, `resource.pruned`, `apply.failed`, …
    pub action: &'static str,
    /// What the store writes with the run's end.
    pub effects: ApplyRunEffects,
}

/// The resource after run `d` ended as `end`, from its record `previous`; a failed run
/// is retried after `retry_in` (said in its reason).
pub(super) fn next_record(
    previous: &ResourceRecord,
    d: &Done,
    end: &ApplyRunEnd,
    retry_in: Duration,
    now: DateTime<Utc>,
) -> Finish {
    let name = &d.job_name;
    let mut effects = ApplyRunEffects::default();
    let mut record = previous.clone();
    record.updated_at = now;
    let action = match (d.operation, end.state) {
        (Operation::Apply | Operation::Rollback, RunState::Succeeded) => {
            record.state = ResourceState::Applied;
            record.reason = Some(format!("applied by {} ({})", d.executor, d.why));
            record.applied_hash = d.marker.clone().or_else(|| record.output_hash.clone());
            // A rollback returns to the revision of the output it put back.
            record.applied_revision = if d.operation == Operation::Rollback {
                Some(d.revision.clone())
            } else {
                record.desired_revision.clone()
            };
            record.last_error = None;
            record.last_error_at = None;
            if let Some(reached) = &d.report.endpoints {
                record.address = crate::observe::endpoint::primary(reached);
                record.endpoints = reached.clone();
                effects.endpoints = Some((name.clone(), reached.clone()));
            }
            "apply.succeeded"
        }
        (Operation::Destroy, RunState::Succeeded) => {
            effects.destroyed = Some(crate::store::Destroyed {
                name: name.clone(),
                revision: d.revision.clone(),
                at: now,
                reason: format!(
                    "destroyed by {}: definition removed at {}",
                    d.executor,
                    short(&d.revision)
                ),
            });
            "resource.pruned"
        }
        (_, RunState::Interrupted) => {
            record.reason = Some(format!(
                "{} interrupted by shutdown; carried out again at the next start",
                d.operation.as_str()
            ));
            "apply.interrupted"
        }
        (op, _) => {
            let summary = end.error.clone().unwrap_or_default();
            mark_failed(&mut record, op, summary, &end.stderr_tail, retry_in, now);
            "apply.failed"
        }
    };
    Finish {
        record,
        action,
        effects,
    }
}

/// A rollback run that succeeded: the resource is back on the kept output of
/// `d.revision`; the render it replaced (`d.rejected`) waits for a new definition (or a
/// person), with the reason shown; the rollback is notified.
pub(super) fn rolled_back(
    f: &mut Finish,
    previous: &ResourceRecord,
    d: &Done,
    run_id: &str,
    now: DateTime<Utc>,
) {
    let (from, why) = match &d.rejected {
        Some(rejected) => {
            f.record.state = ResourceState::Rendered;
            f.record.reason = crate::reconcile::rollback::rejected_wait(&f.record, Some(rejected))
                .map(|r| format!("rendered, not applied: {r}"));
            (rejected.revision.as_str(), rejected.reason.as_str())
        }
        // The render in place is the one put back: nothing waits.
        None => (
            previous.applied_revision.as_deref().unwrap_or_default(),
            d.why.as_str(),
        ),
    };
    f.effects
        .notifications
        .push(crate::notify_out::event::resource_rolled_back(
            &d.job_name,
            from,
            &d.revision,
            why,
            run_id,
            now,
        ));
    f.action = "apply.rolled_back";
}

/// The last of `f`: the resource row (unless destroyed), the run's audit row and its
/// notifications — failed, recovered, endpoints changed.
pub(super) fn seal(
    f: &mut Finish,
    d: &Done,
    run_id: &str,
    previous: &ResourceRecord,
    end: &ApplyRunEnd,
    now: DateTime<Utc>,
) {
    let name = &d.job_name;
    if f.effects.destroyed.is_none() {
        f.effects.resource = Some(f.record.clone());
    }
    f.effects.audit.push(audit(
        f.action,
        name,
        serde_json::json!({
            "run": run_id,
            "executor": d.executor,
            "exit_code": end.exit_code,
            "duration_ms": end.duration_ms,
            "error": end.error,
            "revision": previous.desired_revision.as_deref().map(short),
            "destroyed_at_revision": f.effects.destroyed.as_ref().map(|x| short(&x.revision)),
        }),
        now,
    ));
    f.effects
        .notifications
        .extend(apply_notification(d, run_id, previous, end, now));
    if let Some((_, reached)) = &f.effects.endpoints
        && *reached != previous.endpoints
    {
        f.effects
            .notifications
            .push(crate::notify_out::event::endpoints_changed(
                name,
                &previous.endpoints,
                reached,
                now,
            ));
    }
}

/// The outbox event of a finished run: "failed" when the resource was not failing
/// already (a retry that fails again says nothing new), "recovered" when an apply
/// succeeds after a failure.
fn apply_notification(
    d: &Done,
    run_id: &str,
    previous: &ResourceRecord,
    end: &ApplyRunEnd,
    now: DateTime<Utc>,
) -> Option<NotificationRecord> {
    use crate::notify_out::event;
    let facts = event::ApplyFacts {
        resource: &d.job_name,
        run: run_id,
        executor: &d.executor,
        operation: d.operation.as_str(),
        revision: previous.desired_revision.as_deref(),
        exit_code: end.exit_code,
    };
    // A degraded resource stopped at its flapping limit: it was failing too, so the
    // operator's successful apply after a fix is a recovery.
    let was_failing = previous.state.is_failed()
        || previous.state == ResourceState::Degraded
        || (d.operation == Operation::Destroy && previous.last_error.is_some());
    match end.state {
        RunState::Failed if !was_failing => Some(event::apply_failed(
            &facts,
            end.error.as_deref().unwrap_or("failed"),
            now,
        )),
        RunState::Succeeded if d.operation == Operation::Apply && was_failing => {
            Some(event::apply_recovered(&facts, now))
        }
        _ => None,
    }
}

/// The tails of every command, each under its command line, cut to the last 8 KiB.
fn tails(runs: &[CmdRun], pick: impl Fn(&CmdRun) -> &String) -> String {
    let mut out = String::new();
    for run in runs {
        let text = pick(run);
        if text.is_empty() {
            continue;
        }
        out.push_str(&format!("$ {}\n{}", run.argv.join(" "), text));
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    let limit = crate::apply::process::TAIL_BYTES;
    if out.len() > limit {
        let mut cut = out.len() - limit;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("[… earlier output cut]\n{}", &out[cut..]);
    }
    out
}

/// `record` after a failed `op`: an apply is `ApplyFailed` (a destroy keeps the state),
/// the reason says when it is retried, and the error carries the tool's last stderr lines.
pub(super) fn mark_failed(
    record: &mut ResourceRecord,
    op: Operation,
    summary: String,
    stderr_tail: &str,
    wait: Duration,
    now: DateTime<Utc>,
) {
    if op.puts_in_place() {
        record.state = ResourceState::ApplyFailed;
    }
    let manual = EffectivePolicy::from_stored(record.policy.as_ref()).apply == ApplyPolicy::Manual;
    record.reason = Some(failure_reason(op, &record.name, &summary, manual, wait));
    let stderr = last_lines(stderr_tail, 20);
    record.last_error = Some(if stderr.is_empty() {
        summary
    } else {
        format!("{summary}\n{stderr}")
    });
    record.last_error_at = Some(now);
}

/// The reason shown for a failed run: what failed, and when it is tried again — a
/// manual resource only when a person asks again.
fn failure_reason(
    op: Operation,
    name: &str,
    summary: &str,
    manual: bool,
    wait: Duration,
) -> String {
    match op {
        Operation::Apply if manual => {
            format!("apply failed: {summary}; run `homelabd apply {name}` to retry")
        }
        Operation::Apply => format!("apply failed: {summary}; retrying in {}s", wait.as_secs()),
        Operation::Destroy => format!(
            "prune: destroy failed: {summary}; retrying in {}s",
            wait.as_secs()
        ),
        // The desired render stays what the loop applies next (after the backoff).
        Operation::Rollback => format!(
            "rollback failed: {summary}; `homelabd rollback {name}` tries again, the loop retries the apply in {}s",
            wait.as_secs()
        ),
    }
}

/// The last `n` non-empty lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests;
