//! `rollback`: asking the running daemon to put a kept healthy output in place again,
//! and waiting for the run (or the reason it was refused).

use super::apply_cmds::wait_taken;
use super::args::{OutputFormat, RollbackArgs};
use super::daemon_cmds::{open_existing, runtime};
use super::{Exit, UsageError};
use crate::store::{ApplyRunRecord, AuditRecord, RunOperation, RunState, Store};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::{Duration, Instant};

pub fn rollback(args: RollbackArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let store = open_existing(&args.store).await?;
        let known = store.resources().await.context("cannot read resources")?;
        if !known.iter().any(|r| r.name == args.name) {
            return Err(UsageError(format!(
                "unknown resource {:?}: `homelabd status` lists the resources",
                args.name
            ))
            .into());
        }
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        let asked_at = Utc::now();
        let id = store
            .request_rollback(&args.name, &format!("cli:{user}"), args.to.as_deref())
            .await
            .context("cannot queue the request")?;
        if args.no_wait {
            outln!("rollback requested (#{id}); a running daemon picks it up within a second");
            return Ok(Exit::Ok);
        }
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        wait_taken(&store, &[id], deadline).await?;
        let outcome = wait_outcome(&store, &args.name, asked_at, deadline).await?;
        report(&args, &outcome)
    })
}

/// How the request ended.
enum Outcome {
    /// The rollback run, finished.
    Ran(ApplyRunRecord),
    /// The daemon refused it; the audit row says why.
    Refused(AuditRecord),
}

/// Waits for the rollback run of `name` started since `since` to finish, or for the
/// daemon's refusal.
async fn wait_outcome(
    store: &Store,
    name: &str,
    since: DateTime<Utc>,
    deadline: Instant,
) -> anyhow::Result<Outcome> {
    let mut told = false;
    loop {
        let run = store
            .apply_runs(Some(name), 20)
            .await?
            .into_iter()
            .find(|r| r.operation == RunOperation::Rollback && r.started_at >= since);
        match run {
            Some(r) if r.state != RunState::Running => return Ok(Outcome::Ran(r)),
            Some(r) if !told => {
                eprintln!(
                    "{}: rollback to {} with {} …",
                    r.resource,
                    short(&r.revision),
                    r.executor
                );
                told = true;
            }
            Some(_) => {}
            None => {
                let refused =
                    store.audit_log(200).await?.into_iter().find(|a| {
                        a.action == "rollback.refused" && a.subject == name && a.at >= since
                    });
                if let Some(a) = refused {
                    return Ok(Outcome::Refused(a));
                }
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out waiting for the rollback; it goes on in the daemon");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn report(args: &RollbackArgs, outcome: &Outcome) -> anyhow::Result<Exit> {
    match (outcome, args.output) {
        (Outcome::Ran(run), OutputFormat::Json) => {
            super::output::print_json(&json!({ "run": run }))?
        }
        (Outcome::Refused(a), OutputFormat::Json) => super::output::print_json(&json!({
            "refused": a.details.get("reason"),
        }))?,
        (Outcome::Ran(run), OutputFormat::Text) => {
            let took = run
                .duration_ms
                .map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0))
                .unwrap_or_default();
            outln!(
                "{}: rollback to {} {}{took} ({})",
                run.resource,
                short(&run.revision),
                run.state,
                run.executor
            );
            if run.state != RunState::Succeeded
                && let Some(e) = &run.error
            {
                outln!("  error: {e}");
            }
        }
        (Outcome::Refused(a), OutputFormat::Text) => {
            let reason = a
                .details
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("refused");
            eprintln!("error: cannot roll back {}: {reason}", args.name);
        }
    }
    Ok(match outcome {
        Outcome::Ran(run) if run.state == RunState::Succeeded => Exit::Ok,
        _ => Exit::Invalid,
    })
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}
