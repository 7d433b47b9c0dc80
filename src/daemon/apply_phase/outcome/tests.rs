//! The decisions about a finished run, without a store or an executor.

use super::*;
use crate::apply::ApplyReport;
use crate::reconcile::endpoint::Endpoint;

const REV: &str = "abcdef1234567890";

fn done(op: Operation, report: ApplyReport) -> Done {
    let mut d = super::super::jobs::tests::done("web");
    d.operation = op;
    d.report = report;
    d.marker = Some("marker-1".to_owned());
    d.revision = REV.to_owned();
    d
}

fn rendered(state: ResourceState) -> ResourceRecord {
    ResourceRecord {
        state,
        desired_revision: Some(REV.to_owned()),
        output_hash: Some("out-1".to_owned()),
        reason: None,
        last_error: None,
        policy: Some(
            EffectivePolicy {
                apply: ApplyPolicy::Auto,
                ..EffectivePolicy::CONSERVATIVE
            }
            .to_json(),
        ),
        ..crate::daemon::pass::failed_record(None, "web", String::new(), Utc::now())
    }
}

fn cmd(argv: &str, stderr: &str, ended_by: Option<Interruption>) -> CmdRun {
    CmdRun {
        argv: argv.split(' ').map(str::to_owned).collect(),
        exit_code: if ended_by.is_some() { None } else { Some(1) },
        duration: Duration::from_millis(5),
        stdout_tail: String::new(),
        stderr_tail: stderr.to_owned(),
        ended_by,
        spawn_error: None,
    }
}

fn applied() -> ApplyReport {
    ApplyReport {
        outcome: ApplyOutcome::Applied,
        runs: Vec::new(),
        endpoints: None,
    }
}

fn endpoint(address: &str) -> Endpoint {
    Endpoint {
        kind: crate::reconcile::endpoint::DOCKER_PORT.to_owned(),
        name: "web 80/tcp".to_owned(),
        address: address.to_owned(),
    }
}

/// The whole decision for `d` on `previous`, as the apply phase makes it.
fn finish(previous: &ResourceRecord, d: &Done) -> (Ending, Finish) {
    let now = Utc::now();
    let ending = run_end(d, now);
    let mut f = next_record(previous, d, &ending.end, Duration::from_secs(5), now);
    seal(&mut f, d, "run-1", previous, &ending.end, now);
    (ending, f)
}

fn events(f: &Finish) -> Vec<&str> {
    f.effects
        .notifications
        .iter()
        .map(|n| n.event_type.as_str())
        .collect()
}

#[test]
fn a_run_stopped_by_shutdown_is_interrupted_and_carried_out_again() {
    let report = ApplyReport::failed_after(
        "killed",
        vec![cmd(
            "docker compose up -d",
            "pulling",
            Some(Interruption::Shutdown),
        )],
    );
    let (ending, f) = finish(
        &rendered(ResourceState::Rendered),
        &done(Operation::Apply, report),
    );
    assert!(ending.interrupted);
    assert_eq!(ending.end.state, RunState::Interrupted);
    assert_eq!(
        ending.end.error.as_deref(),
        Some("stopped by daemon shutdown")
    );
    assert_eq!(ending.end.stderr_tail, "$ docker compose up -d\npulling\n");
    assert_eq!(f.action, "apply.interrupted");
    assert_eq!(
        f.record.reason.as_deref(),
        Some("apply interrupted by shutdown; carried out again at the next start")
    );
    assert_eq!(f.record.state, ResourceState::Rendered, "the state is kept");
    assert!(events(&f).is_empty(), "an interruption notifies nobody");
}

#[test]
fn a_successful_apply_records_what_is_applied_and_where_it_is_reached() {
    let mut report = applied();
    report.endpoints = Some(vec![endpoint("127.0.0.1:8080")]);
    let mut previous = rendered(ResourceState::Rendered);
    previous.last_error = Some("old".to_owned());
    let (ending, f) = finish(&previous, &done(Operation::Apply, report));
    assert!(ending.succeeded());
    assert_eq!(f.action, "apply.succeeded");
    assert_eq!(f.record.state, ResourceState::Applied);
    assert_eq!(f.record.applied_hash.as_deref(), Some("marker-1"));
    assert_eq!(f.record.applied_revision.as_deref(), Some(REV));
    assert_eq!(f.record.last_error, None);
    assert_eq!(f.record.address.as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(
        f.record.reason.as_deref(),
        Some("applied by docker-compose (new)")
    );
    assert_eq!(f.effects.resource.as_ref(), Some(&f.record));
    assert_eq!(events(&f), ["endpoints.changed"]);
    let row = &f.effects.audit[0];
    assert_eq!(row.action, "apply.succeeded");
    assert_eq!(row.details["run"], "run-1");
    assert_eq!(row.details["revision"], "abcdef123456");
}

#[test]
fn the_same_endpoints_again_are_no_news() {
    let mut report = applied();
    report.endpoints = Some(vec![endpoint("127.0.0.1:8080")]);
    let mut previous = rendered(ResourceState::Applied);
    previous.endpoints = vec![endpoint("127.0.0.1:8080")];
    let (_, f) = finish(&previous, &done(Operation::Apply, report));
    assert!(events(&f).is_empty(), "{:?}", events(&f));
}

#[test]
fn a_failed_apply_says_why_when_it_is_retried_and_notifies_once() {
    let report = ApplyReport::failed_after(
        "compose exited with 1",
        vec![cmd("docker compose up -d", "line 1\nno such image\n", None)],
    );
    let d = done(Operation::Apply, report);
    let (ending, f) = finish(&rendered(ResourceState::Rendered), &d);
    assert_eq!(ending.end.state, RunState::Failed);
    assert_eq!(ending.end.exit_code, Some(1));
    assert_eq!(f.action, "apply.failed");
    assert_eq!(f.record.state, ResourceState::ApplyFailed);
    assert_eq!(
        f.record.reason.as_deref(),
        Some("apply failed: compose exited with 1; retrying in 5s")
    );
    assert_eq!(
        f.record.last_error.as_deref(),
        Some("compose exited with 1\n$ docker compose up -d\nline 1\nno such image")
    );
    assert_eq!(events(&f), ["apply.failed"]);
    assert_eq!(f.effects.audit[0].details["error"], "compose exited with 1");

    // The retry fails again: nothing new to say.
    let (_, again) = finish(&f.record, &d);
    assert!(events(&again).is_empty(), "{:?}", events(&again));
    // It succeeds after a fix: recovered.
    let (_, fixed) = finish(&f.record, &done(Operation::Apply, applied()));
    assert_eq!(events(&fixed), ["apply.recovered"]);
}

#[test]
fn a_destroy_that_succeeds_marks_the_resource_destroyed_instead_of_writing_it() {
    let (_, f) = finish(
        &rendered(ResourceState::Applied),
        &done(Operation::Destroy, applied()),
    );
    assert_eq!(f.action, "resource.pruned");
    let destroyed = f.effects.destroyed.as_ref().expect("destroyed");
    assert_eq!(
        destroyed.reason,
        "destroyed by docker-compose: definition removed at abcdef123456"
    );
    assert_eq!(
        f.effects.resource, None,
        "a destroyed resource is not written back"
    );
    assert_eq!(
        f.effects.audit[0].details["destroyed_at_revision"],
        "abcdef123456"
    );
}

#[test]
fn a_failed_destroy_keeps_the_state_and_retries() {
    let (_, f) = finish(
        &rendered(ResourceState::Applied),
        &done(Operation::Destroy, ApplyReport::failed("boom")),
    );
    assert_eq!(f.record.state, ResourceState::Applied);
    assert_eq!(
        f.record.reason.as_deref(),
        Some("prune: destroy failed: boom; retrying in 5s")
    );
}

#[test]
fn a_successful_rollback_waits_on_the_kept_output_and_says_so() {
    let mut d = done(Operation::Rollback, applied());
    d.revision = "1111111aaaa".to_owned();
    let previous = rendered(ResourceState::ApplyFailed);
    d.rejected = Some(crate::reconcile::rollback::Rejected {
        output_hash: "out-1".to_owned(),
        revision: REV.to_owned(),
        reason: "apply failed: boom".to_owned(),
        restored: d.revision.clone(),
    });
    let now = Utc::now();
    let ending = run_end(&d, now);
    let mut f = next_record(&previous, &d, &ending.end, Duration::ZERO, now);
    rolled_back(&mut f, &previous, &d, "run-1", now);
    seal(&mut f, &d, "run-1", &previous, &ending.end, now);
    assert_eq!(f.action, "apply.rolled_back");
    assert_eq!(f.record.state, ResourceState::Rendered);
    assert_eq!(f.record.applied_revision.as_deref(), Some("1111111aaaa"));
    assert!(
        f.record
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("rendered, not applied: rolled back to 1111111")),
        "{:?}",
        f.record.reason
    );
    // Back on an older output is no recovery of the revision that failed.
    assert_eq!(events(&f), ["resource.rolled_back"]);
    assert_eq!(f.effects.audit[0].action, "apply.rolled_back");
}

#[test]
fn a_rollback_to_the_render_in_place_is_applied_and_waits_for_nothing() {
    let mut d = done(Operation::Rollback, applied());
    d.revision = "2222222bbbb".to_owned();
    d.why = "rollback to 2222222 asked by cli:alice".to_owned();
    let mut previous = rendered(ResourceState::Applied);
    previous.applied_revision = Some("3333333cccc".to_owned());
    let now = Utc::now();
    let ending = run_end(&d, now);
    let mut f = next_record(&previous, &d, &ending.end, Duration::ZERO, now);
    rolled_back(&mut f, &previous, &d, "run-2", now);
    assert_eq!(f.record.state, ResourceState::Applied);
    assert_eq!(f.record.applied_revision.as_deref(), Some("2222222bbbb"));
    assert_eq!(f.action, "apply.rolled_back");
    let note = &f.effects.notifications[0];
    assert_eq!(note.details["from_revision"], "3333333cccc");
    assert_eq!(
        note.details["reason"],
        "rollback to 2222222 asked by cli:alice"
    );
}

#[test]
fn a_failed_rollback_says_how_to_try_again() {
    let (_, f) = finish(
        &rendered(ResourceState::Applied),
        &done(Operation::Rollback, ApplyReport::failed("boom")),
    );
    assert_eq!(f.record.state, ResourceState::ApplyFailed);
    assert_eq!(
        f.record.reason.as_deref(),
        Some(
            "rollback failed: boom; `homelabd rollback web` tries again, the loop retries the apply in 5s"
        )
    );
}

#[test]
fn a_failed_manual_apply_says_how_to_retry_instead_of_promising_a_retry() {
    let wait = Duration::from_secs(5);
    let auto = failure_reason(
        Operation::Apply,
        "web",
        "compose exited with 1",
        false,
        wait,
    );
    assert_eq!(auto, "apply failed: compose exited with 1; retrying in 5s");
    let manual = failure_reason(Operation::Apply, "web", "compose exited with 1", true, wait);
    assert_eq!(
        manual,
        "apply failed: compose exited with 1; run `homelabd apply web` to retry"
    );
    let prune = failure_reason(Operation::Destroy, "web", "boom", true, wait);
    assert!(prune.starts_with("prune: destroy failed: boom; retrying in 5s"));
}

#[test]
fn long_output_keeps_its_end() {
    let long = "x".repeat(crate::apply::process::TAIL_BYTES + 100);
    let out = tails(&[cmd("tofu apply", &long, None)], |r| &r.stderr_tail);
    assert!(out.starts_with("[… earlier output cut]\n"));
    assert!(out.ends_with("x\n"));
}
