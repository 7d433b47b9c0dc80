//! `daemon`, `status`, `migrate` and `reconcile`: the commands around the store.

use super::args::{DaemonArgs, OutputFormat, ReconcileArgs, StatusArgs, StoreArgs};
use super::{Exit, UsageError};
use crate::config::{Overrides, RawConfig, Settings, store_url};
use crate::reconcile::ResourceState;
use crate::setting::redact_url;
use crate::store::Store;
use anyhow::Context as _;
use serde_json::json;

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn raw_config(path: Option<&std::path::Path>) -> anyhow::Result<RawConfig> {
    match path {
        Some(p) => RawConfig::load(p).map_err(|e| UsageError(e.to_string()).into()),
        None => Ok(RawConfig::default()),
    }
}

fn overrides(store: &StoreArgs) -> Overrides {
    Overrides {
        state_dir: store.state_dir.clone(),
        database_url: store.database_url.clone(),
        ..Overrides::default()
    }
}

/// Opens the store the arguments name without creating anything: a missing SQLite file
/// means no daemon has run with this state directory.
pub(super) async fn open_existing(args: &StoreArgs) -> anyhow::Result<Store> {
    let raw = raw_config(args.config.as_deref())?;
    let url = store_url(&raw, &overrides(args));
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        && !std::path::Path::new(path).exists()
    {
        return Err(UsageError(format!(
            "no state at {path}: has the daemon run with this --state-dir (or --database-url)?"
        ))
        .into());
    }
    Store::connect(&url)
        .await
        .with_context(|| format!("cannot open the store at {}", redact_url(&url)))
}

pub fn daemon(args: DaemonArgs) -> anyhow::Result<Exit> {
    let raw = raw_config(args.store.config.as_deref())?;
    let o = Overrides {
        repo: args.repo.clone(),
        branch: args.branch.clone(),
        path: args.path.clone(),
        listen: args.listen.clone(),
        ..overrides(&args.store)
    };
    let settings = Settings::resolve(raw, &o).map_err(|e| UsageError(e.to_string()))?;
    runtime()?.block_on(crate::daemon::run_daemon(
        settings,
        args.store.config.clone(),
        o,
    ))?;
    Ok(Exit::Ok)
}

pub fn migrate(args: StoreArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let raw = raw_config(args.config.as_deref())?;
        let url = store_url(&raw, &overrides(&args));
        if let Some(path) = url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path).parent()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("cannot open the store at {}", redact_url(&url)))?;
        let applied = store.migrate().await.context("migration failed")?;
        if applied.is_empty() {
            outln!("{}: already up to date", redact_url(&url));
        } else {
            outln!("{}: applied migrations {applied:?}", redact_url(&url));
        }
        Ok(Exit::Ok)
    })
}

pub fn reconcile(args: ReconcileArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let store = open_existing(&args.store).await?;
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        let id = store
            .request_reconcile(args.name.as_deref(), &format!("cli:{user}"))
            .await
            .context("cannot queue the request")?;
        match &args.name {
            Some(n) => outln!(
                "reconcile of {n} requested (#{id}); a running daemon picks it up within a second"
            ),
            None => outln!(
                "full reconcile requested (#{id}); a running daemon picks it up within a second"
            ),
        }
        Ok(Exit::Ok)
    })
}

pub fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let store = open_existing(&args.store).await?;
        let revision = store
            .latest_revision()
            .await
            .context("cannot read revisions")?;
        let resources = if args.all {
            store.resources_with_destroyed().await
        } else {
            store.resources().await
        }
        .context("cannot read resources")?;
        let mut last_runs = std::collections::BTreeMap::new();
        for r in resources.iter().filter(|r| r.destroyed_at.is_some()) {
            let runs = store
                .apply_runs(Some(&r.name), 1)
                .await
                .context("cannot read apply runs")?;
            if let Some(run) = runs.into_iter().next() {
                last_runs.insert(r.name.clone(), run);
            }
        }
        let members = store
            .cluster_members(crate::cluster::LEASE_TTL.as_secs_f64())
            .await
            .context("cannot read the cluster members")?;
        let invalid = resources
            .iter()
            .filter(|r| r.destroyed_at.is_none())
            .any(|r| r.state == ResourceState::Invalid || r.state.is_failed());
        let refused = current_refusal(&store).await?;
        let scans = store
            .scan_statuses()
            .await
            .context("cannot read the inventory scans")?;
        let health: std::collections::BTreeMap<String, crate::store::HealthRecord> = store
            .health_records()
            .await
            .context("cannot read health checks")?
            .into_iter()
            .map(|h| (h.resource.clone(), h))
            .collect();
        match args.output {
            OutputFormat::Json => super::output::print_json(&json!({
                "revision": revision,
                "resources": resources,
                "health": health,
                "last_runs_of_destroyed": last_runs,
                "members": members,
                "inventory_scans": scans,
                "refused": refused.as_ref().map(|r| json!({
                    "head": r.subject,
                    "summary": r.summary,
                    "at": r.occurred_at,
                    "details": r.details,
                })),
            }))?,
            OutputFormat::Text => {
                match &revision {
                    Some(r) => outln!(
                        "revision {}  seen {}  {}",
                        r.commit,
                        r.seen_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        if r.valid {
                            "valid".to_owned()
                        } else {
                            format!(
                                "{} errors, {} resources invalid",
                                r.errors, r.resources_invalid
                            )
                        }
                    ),
                    None => outln!("no revision recorded yet"),
                }
                // Each inventory source's last scan; a failing one says why, once, here
                // rather than in the log at every interval.
                for scan in &scans {
                    outln!("{}", crate::mcp::inventory::scan_line(scan));
                }
                if let Some(r) = &refused {
                    outln!(
                        "signature verification: {} (since {})",
                        r.summary,
                        r.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                }
                outln!(
                    "{:<24} {:<9} {:<9} {:<11} {:<30} {:<24} {:<28} REASON / LAST ERROR",
                    "RESOURCE",
                    "STATE",
                    "HEALTH",
                    "PROVIDER",
                    "POOL",
                    "ADDRESS",
                    "TARGET"
                );
                for r in &resources {
                    if let Some(at) = r.destroyed_at {
                        outln!(
                            "{:<24} {:<9} {:<9} {:<11} {:<30} {:<24} {:<28} {}",
                            r.name,
                            r.shown_state(),
                            "-",
                            r.provider.map_or("-", |p| p.as_str()),
                            r.pool.as_deref().unwrap_or("-"),
                            "-",
                            target_column(r),
                            destroyed_detail(r, at, last_runs.get(&r.name)),
                        );
                        continue;
                    }
                    let detail = match (&r.last_error, &r.reason) {
                        (Some(e), Some(reason)) if r.state != ResourceState::Rendered => {
                            format!("{reason}: {}", e.lines().next().unwrap_or(""))
                        }
                        (_, Some(reason)) => reason.clone(),
                        (Some(e), None) => e.lines().next().unwrap_or("").to_owned(),
                        (None, None) => String::new(),
                    };
                    outln!(
                        "{:<24} {:<9} {:<9} {:<11} {:<30} {:<24} {:<28} {detail}",
                        r.name,
                        r.state,
                        health.get(&r.name).map_or("-", |h| h.status.as_str()),
                        r.provider.map_or("-", |p| p.as_str()),
                        r.pool.as_deref().unwrap_or("-"),
                        address_column(r),
                        target_column(r),
                    );
                }
                // A failed apply: the tool's last words, where the user looks first.
                for r in resources.iter().filter(|r| r.state.is_failed()) {
                    let Some(error) = &r.last_error else { continue };
                    let mut lines = error.lines().skip(1).peekable();
                    if lines.peek().is_none() {
                        continue;
                    }
                    outln!("\n{} — last error output:", r.name);
                    for line in lines {
                        outln!("  | {line}");
                    }
                }
                for h in health.values().filter(|h| {
                    h.status == crate::store::HealthStatus::Unhealthy
                        && resources
                            .iter()
                            .any(|r| r.name == h.resource && r.destroyed_at.is_none())
                }) {
                    outln!(
                        "\n{} — unhealthy since {} (checked {}): {}",
                        h.resource,
                        h.since.format("%Y-%m-%d %H:%M:%S UTC"),
                        h.checked_at.format("%H:%M:%S"),
                        h.reason
                    );
                }
                let open = store
                    .deviations(true, 10_000)
                    .await
                    .map(|d| d.len())
                    .unwrap_or(0);
                if open > 0 {
                    outln!("\n{open} open deviation(s): `homelabd drift` lists them");
                }
                print_members(&members)?;
            }
        }
        Ok(if invalid { Exit::Invalid } else { Exit::Ok })
    })
}

/// The TARGET column: the engine, cluster or account of its last good placement.
fn target_column(r: &crate::store::ResourceRecord) -> String {
    r.placement
        .as_ref()
        .and_then(|p| p.get("target"))
        .and_then(|t| serde_json::from_value::<crate::target::Target>(t.clone()).ok())
        .map_or_else(|| "-".to_owned(), |t| t.describe())
}

/// The ADDRESS column: the first endpoint's address, and how many more there are.
fn address_column(r: &crate::store::ResourceRecord) -> String {
    match (&r.address, r.endpoints.len()) {
        (None, _) => "-".to_owned(),
        (Some(a), 0 | 1) => a.clone(),
        (Some(a), n) => format!("{a} (+{})", n - 1),
    }
}

/// What the status line of a destroyed resource says: when, at which revision, and its
/// last run.
fn destroyed_detail(
    r: &crate::store::ResourceRecord,
    at: chrono::DateTime<chrono::Utc>,
    run: Option<&crate::store::ApplyRunRecord>,
) -> String {
    let revision = r
        .destroyed_revision
        .as_deref()
        .map(crate::daemon::pass::short)
        .unwrap_or("?");
    let mut out = format!(
        "destroyed {} at {revision}",
        at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(run) = run {
        out.push_str(&format!(
            "; last run: {} {} {} by {}",
            run.operation,
            run.state,
            run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            run.executor
        ));
    }
    out
}

/// The newest `source.refused` event when no `source.accepted` came after it: the tracked
/// branch's head is refused by signature verification right now.
async fn current_refusal(
    store: &crate::store::Store,
) -> anyhow::Result<Option<crate::store::NotificationRecord>> {
    let refused = store
        .latest_notification("source.refused")
        .await
        .context("cannot read notifications")?;
    let accepted = store
        .latest_notification("source.accepted")
        .await
        .context("cannot read notifications")?;
    Ok(match (refused, accepted) {
        (Some(r), Some(a)) if a.occurred_at >= r.occurred_at => None,
        (r, _) => r,
    })
}

/// The daemons sharing a PostgreSQL store (none on SQLite, which runs one daemon).
fn print_members(members: &[crate::store::MemberRecord]) -> anyhow::Result<()> {
    if members.is_empty() {
        return Ok(());
    }
    outln!(
        "\n{:<36} {:<20} {:>7} {:<20} {:<8} APPLYING",
        "MEMBER",
        "HOST",
        "PID",
        "LAST HEARTBEAT",
        "ROLE"
    );
    for m in members {
        let role = match (m.leader, m.alive) {
            (true, _) => "leader",
            (false, true) => "follower",
            (false, false) => "silent",
        };
        let applying = if m.applying.is_empty() {
            "-".to_owned()
        } else {
            m.applying.join(", ")
        };
        outln!(
            "{:<36} {:<20} {:>7} {:<20} {:<8} {applying}",
            m.id,
            m.host,
            m.pid,
            m.heartbeat_at.format("%Y-%m-%d %H:%M:%S"),
            role
        );
    }
    Ok(())
}
