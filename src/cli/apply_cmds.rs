//! `apply` and `drift`: asking the daemon to apply, and reading what drifted.

use super::args::{ApplyArgs, DriftArgs, OutputFormat};
use super::daemon_cmds::{open_existing, runtime};
use super::{Exit, UsageError};
use crate::store::{ApplyRunRecord, RequestAction, RunState, Store};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::{Duration, Instant};

/// After the daemon took the request, how long to wait for a run to start before
/// explaining why none did.
const START_GRACE: Duration = Duration::from_secs(10);

pub fn apply(args: ApplyArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let store = open_existing(&args.store).await?;
        let known = store.resources().await.context("cannot read resources")?;
        for name in &args.names {
            if !known.iter().any(|r| &r.name == name) {
                return Err(UsageError(format!(
                    "unknown resource {name:?}: `homelabd status` lists the resources"
                ))
                .into());
            }
        }
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        let by = format!("cli:{user}");
        let action = if args.force_prune {
            RequestAction::Prune
        } else {
            RequestAction::Apply
        };
        let asked_at = Utc::now();
        let targets: Vec<Option<&str>> = if args.all {
            vec![None]
        } else {
            args.names.iter().map(|n| Some(n.as_str())).collect()
        };
        let mut ids = Vec::new();
        for target in &targets {
            let queued = if args.ignore_windows {
                store.request_ignoring_windows(*target, &by, action).await
            } else {
                store.request(*target, &by, action).await
            };
            ids.push(queued.context("cannot queue the request")?);
        }
        if args.no_wait {
            outln!("apply requested (#{ids:?}); a running daemon picks it up within a second");
            return Ok(Exit::Ok);
        }
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        wait_taken(&store, &ids, deadline).await?;
        let runs = wait_runs(&store, &args.names, asked_at, deadline).await?;
        report(&store, &args, &runs).await
    })
}

/// Waits until a daemon took every request.
pub(super) async fn wait_taken(
    store: &Store,
    ids: &[i64],
    deadline: Instant,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut told = false;
    loop {
        let mut pending = false;
        for id in ids {
            pending |= store.request_pending(*id).await?;
        }
        if !pending {
            return Ok(());
        }
        if !told && started.elapsed() > Duration::from_secs(3) {
            eprintln!(
                "waiting for the daemon to take the request (is `homelabd daemon` running on this store?)"
            );
            told = true;
        }
        if Instant::now() > deadline {
            anyhow::bail!("no daemon took the request in time; it stays queued");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the runs started for the request have finished (and, for named
/// resources, until each has one or the grace period says none will start).
async fn wait_runs(
    store: &Store,
    names: &[String],
    since: DateTime<Utc>,
    deadline: Instant,
) -> anyhow::Result<Vec<ApplyRunRecord>> {
    let taken = Instant::now();
    let mut shown_running = std::collections::BTreeSet::new();
    loop {
        let runs: Vec<ApplyRunRecord> = store
            .apply_runs(None, 1000)
            .await?
            .into_iter()
            .filter(|r| r.started_at >= since)
            .collect();
        for r in runs.iter().filter(|r| r.state == RunState::Running) {
            if shown_running.insert(r.id.clone()) {
                eprintln!("{}: {} with {} …", r.resource, r.operation, r.executor);
            }
        }
        let running = runs.iter().any(|r| r.state == RunState::Running);
        let all_started = names.iter().all(|n| runs.iter().any(|r| &r.resource == n));
        let settled = !running && (all_started || taken.elapsed() > START_GRACE);
        // For --all, give the daemon the grace period to start what it will start.
        let settled = settled && (!names.is_empty() || taken.elapsed() > Duration::from_secs(3));
        if settled {
            return Ok(runs);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out waiting for the applies; they go on in the daemon");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn report(store: &Store, args: &ApplyArgs, runs: &[ApplyRunRecord]) -> anyhow::Result<Exit> {
    let resources = store.resources().await?;
    let not_started: Vec<(&str, String)> = args
        .names
        .iter()
        .filter(|n| !runs.iter().any(|r| &r.resource == *n))
        .map(|n| {
            let why = resources
                .iter()
                .find(|r| &r.name == n)
                .map(|r| format!("{}: {}", r.state, r.reason.as_deref().unwrap_or("")))
                .unwrap_or_else(|| "no longer known".to_owned());
            (n.as_str(), why)
        })
        .collect();
    let failed = runs.iter().any(|r| r.state != RunState::Succeeded) || !not_started.is_empty();
    match args.output {
        OutputFormat::Json => super::output::print_json(&json!({
            "runs": runs,
            "not_started": not_started.iter().map(|(n, why)| json!({"resource": n, "why": why})).collect::<Vec<_>>(),
        }))?,
        OutputFormat::Text => {
            if runs.is_empty() && not_started.is_empty() {
                outln!(
                    "nothing to apply: every resource is applied or waiting for a reason `homelabd status` shows"
                );
            }
            for r in runs {
                let took = r
                    .duration_ms
                    .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                outln!(
                    "{:<24} {:<8} {:<12} {:<16} {took}",
                    r.resource,
                    r.operation,
                    r.state,
                    r.executor
                );
                if r.state != RunState::Succeeded {
                    if let Some(e) = &r.error {
                        outln!("  error: {e}");
                    }
                    for line in tail_lines(r.stderr_tail.as_deref().unwrap_or(""), 15) {
                        outln!("  | {line}");
                    }
                }
            }
            for (name, why) in &not_started {
                outln!("{name:<24} not applied: {why}");
            }
        }
    }
    Ok(if failed { Exit::Invalid } else { Exit::Ok })
}

fn tail_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

pub fn drift(args: DriftArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let store = open_existing(&args.store).await?;
        let deviations = store
            .deviations(!args.all, args.limit)
            .await
            .context("cannot read deviations")?;
        let open = deviations
            .iter()
            .filter(|d| d.resolved_at.is_none())
            .count();
        match args.output {
            OutputFormat::Json => super::output::print_json(&json!({
                "open": open,
                "deviations": deviations,
            }))?,
            OutputFormat::Text => {
                if deviations.is_empty() {
                    outln!("no {}deviations", if args.all { "" } else { "open " });
                } else {
                    outln!(
                        "{:<28} {:<16} {:<9} {:<20} MESSAGE",
                        "RESOURCE",
                        "TYPE",
                        "SEVERITY",
                        "DETECTED"
                    );
                }
                for d in &deviations {
                    let state = match (&d.resolved_at, &d.resolved_by) {
                        (Some(at), by) => format!(
                            " (resolved {} by {})",
                            at.format("%H:%M:%S"),
                            by.as_deref().unwrap_or("?")
                        ),
                        (None, _) if d.auto_correctable => {
                            format!(
                                " → {}",
                                d.corrective_action.as_deref().unwrap_or("re-apply")
                            )
                        }
                        (None, _) => format!(" → {}", d.corrective_action.as_deref().unwrap_or("")),
                    };
                    outln!(
                        "{:<28} {:<16} {:<9} {:<20} {}{state}",
                        d.resource,
                        d.deviation_type,
                        d.severity,
                        d.detected_at.format("%Y-%m-%d %H:%M:%S"),
                        d.message.as_deref().unwrap_or(""),
                    );
                }
            }
        }
        Ok(if open > 0 { Exit::Invalid } else { Exit::Ok })
    })
}
