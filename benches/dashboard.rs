//! Dashboard benchmark: every page of `/ui/` served by the `homelabd daemon` for a
//! generated repository of 10,000 definitions (`HOMELABD_BENCH_DEFINITIONS` overrides),
//! with a store seeded the way a busy homelab fills it: apply runs with log tails,
//! open and resolved deviations, tens of thousands of audit rows, proposals, pull-request
//! previews and notifications.
//!
//! A browser's requests, one at a time: log in with a token (login form, session
//! cookie), then every page — overview, resources unfiltered, filtered by provider, by
//! state and text, by a text nothing matches, paged deep, one resource, pools (the tree,
//! and one pool's 626 nodes paged deep), proposals
//! and previews, audit log (first page, filtered, paged deep), notifications — round
//! robin, `HOMELABD_BENCH_REQUESTS` times each (default 100), after one warm-up request.
//! Reports p50 / p99 / max per page; the target is p99 < 100 ms for every page. Then the
//! pools page and a text search right after a store change (an audit row about one
//! resource written before each request), when they read that resource again instead
//! of using what they keep.
//!
//! SQLite by default; `HOMELABD_BENCH_DATABASE_URL=postgres://…` runs the daemon on
//! PostgreSQL instead (an empty database). Run:
//! `cargo bench --profile dev --bench dashboard` (debug) or `cargo bench --bench dashboard`.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/generate.rs"]
mod generate;
#[path = "../tests/support/ui_login.rs"]
mod ui_login;

use chrono::{Duration as Span, Utc};
use daemon::{Kill, head};
use homelabd::reconcile::drift::{Deviation, DeviationKind, Severity};
use homelabd::store::{
    ApplyRunEffects, ApplyRunEnd, AuditRecord, NotificationRecord, ObservationWrite, PassRecord,
    ProposalRecord, ProposalStatus, RunState, Store,
};
use serde_json::json;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-dashboard-token-0123456789";

fn start(repo: &Path, state: &Path, port: u16, database: Option<&str>) -> Kill {
    let config = state.with_extension("toml");
    // Nothing is applied or observed on its own: the store holds what the bench seeds.
    std::fs::write(
        &config,
        "[policy]\napply = \"manual\"\n[reconcile]\nresync_schedule = \"0 0 1 1 *\"\nobserve_schedule = \"0 0 1 1 *\"\n",
    )
    .expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_homelabd"));
    cmd.args(["daemon", "--config"])
        .arg(&config)
        .arg("--repo")
        .arg(repo)
        .arg("--state-dir")
        .arg(state)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    if let Some(url) = database {
        cmd.args(["--database-url", url]);
    }
    Kill(
        cmd.env("HOMELABD_LOG", "warn")
            .env("HOMELABD_MCP_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(state.with_extension("log")).expect("log file"))
            .spawn()
            .expect("start homelabd daemon"),
    )
}

/// Waits until the daemon recorded `commit` with `n` resources.
async fn wait_loaded(url: &str, commit: &str, n: usize) -> Store {
    let deadline = Instant::now() + Duration::from_secs(1800);
    let store = loop {
        if let Ok(s) = Store::connect(url).await
            && s.ping().await.is_ok()
        {
            break s;
        }
        assert!(Instant::now() < deadline, "no store at {url}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    loop {
        if let Ok(Some(r)) = store.latest_revision().await
            && r.commit == commit
            && store.resource_states().await.map_or(0, |r| r.len()) >= n
        {
            return store;
        }
        assert!(
            Instant::now() < deadline,
            "revision {commit} never recorded"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn audit(actor: &str, action: &str, subject: &str) -> AuditRecord {
    AuditRecord {
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details: json!({"bench": true}),
    }
}

fn name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// Fills the store the way months of a busy homelab would: what the counts say.
async fn seed(store: &Store, n: usize, commit: &str) -> Seeded {
    let log_tail = "TASK [web : install] ok\n".repeat(150);
    let mut seeded = Seeded::default();
    // Apply runs: every 5th resource, 3 runs each (one failed), with long log tails.
    for i in (0..n).step_by(5) {
        for k in 0..3 {
            let id = store
                .start_apply_run(
                    &name(i),
                    commit,
                    "docker",
                    homelabd::store::RunOperation::Apply,
                    &audit("daemon", "apply.started", &name(i)),
                )
                .await
                .expect("start run");
            let failed = k == 1;
            let end = ApplyRunEnd {
                state: if failed {
                    RunState::Failed
                } else {
                    RunState::Succeeded
                },
                argv: json!(["docker", "compose", "up", "-d"]),
                exit_code: Some(i32::from(failed)),
                finished_at: Utc::now(),
                duration_ms: 1200,
                stdout_tail: log_tail.clone(),
                stderr_tail: if failed {
                    "error: bench".into()
                } else {
                    String::new()
                },
                error: failed.then(|| "exit 1".to_owned()),
            };
            let effects = ApplyRunEffects {
                audit: vec![audit("daemon", "apply.finished", &name(i))],
                ..Default::default()
            };
            store
                .finish_apply_run(&id, &end, &effects)
                .await
                .expect("finish run");
            seeded.runs += 1;
        }
    }
    // Deviations: every 10th resource has one open, every 7th one resolved.
    let deviation = |i: usize, what: &str| Deviation {
        resource: name(i),
        key: format!("container/{}/{what}", name(i)),
        kind: DeviationKind::ConfigDrift,
        severity: Severity::Warning,
        auto_correctable: true,
        corrective_action: "re-apply docker compose".into(),
        expected: json!({"memory": 2048}),
        actual: json!({"memory": 4096}),
        message: "memory is 4096 MiB, expected 2048 MiB".into(),
    };
    let resolved: Vec<Deviation> = (0..n).step_by(7).map(|i| deviation(i, "old")).collect();
    seeded.deviations += resolved.len();
    store
        .record_observation(&ObservationWrite {
            instances: vec![],
            new: resolved,
            resolved: vec![],
            at: Utc::now() - Span::hours(2),
            audit: vec![audit("daemon", "drift.observed", "bench")],
            notifications: vec![],
            endpoints: vec![],
            health: vec![],
        })
        .await
        .expect("old deviations");
    let ids: Vec<(String, String)> = store
        .deviations(true, i64::MAX)
        .await
        .expect("open deviations")
        .into_iter()
        .map(|d| (d.id, "observe".to_owned()))
        .collect();
    store
        .record_observation(&ObservationWrite {
            instances: vec![],
            new: (0..n).step_by(10).map(|i| deviation(i, "memory")).collect(),
            resolved: ids,
            at: Utc::now(),
            audit: vec![audit("daemon", "drift.observed", "bench")],
            notifications: vec![],
            endpoints: vec![],
            health: vec![],
        })
        .await
        .expect("deviations");
    seeded.deviations += n.div_ceil(10);
    // Audit rows: 50,000 more, in batches (the pass and the runs wrote their own).
    for batch in 0..50 {
        let rows = (0..1000)
            .map(|k| {
                let i = (batch * 1000 + k) % n;
                audit(
                    if k % 3 == 0 { "mcp:agent" } else { "daemon" },
                    if k % 2 == 0 {
                        "resource.rendered"
                    } else {
                        "drift.observed"
                    },
                    &name(i),
                )
            })
            .collect();
        store
            .record_pass(&PassRecord {
                audit: rows,
                ..Default::default()
            })
            .await
            .expect("audit rows");
    }
    // Proposals with pull requests, and notifications.
    for p in 0..500 {
        let proposal = ProposalRecord {
            id: uuid::Uuid::new_v4(),
            tool: "deploy-with-intelligence".into(),
            client: "mcp:agent".into(),
            branch: format!("homelabd/proposal-{p:04}"),
            commit: Some(commit.to_owned()),
            pr_url: Some(format!("https://github.com/lab/homelab/pull/{p}")),
            status: ProposalStatus::PullRequest,
            created_at: Utc::now(),
            details: json!({"files": ["definitions/x.yaml"]}),
        };
        store
            .record_proposal(
                &proposal,
                &audit("mcp:agent", "proposal.created", &proposal.branch),
                &[],
            )
            .await
            .expect("proposal");
    }
    let events: Vec<NotificationRecord> = (0..5000)
        .map(|k| NotificationRecord {
            id: uuid::Uuid::new_v4(),
            event_type: "apply.failed".into(),
            severity: "warning".into(),
            subject: name(k % n),
            summary: format!("apply of {} failed", name(k % n)),
            details: json!({}),
            occurred_at: Utc::now(),
        })
        .collect();
    store
        .record_notifications(&events)
        .await
        .expect("notifications");
    seeded
}

/// 200 pull-request previews (once per store).
async fn seed_previews(store: &Store, commit: &str) {
    use homelabd::store::{PreviewRecord, PreviewStatus};
    if !store.previews(1).await.expect("previews").is_empty() {
        return;
    }
    for pull in 0..200 {
        let preview = PreviewRecord {
            pull,
            head: format!("{pull:040x}"),
            base: Some(commit.to_owned()),
            status: if pull % 5 == 0 {
                PreviewStatus::Invalid
            } else {
                PreviewStatus::Valid
            },
            summary: "valid: 1 created, 2 changed, 0 removed, 9997 unchanged".into(),
            created: 1,
            changed: 2,
            removed: 0,
            errors: 0,
            pr_url: Some(format!("https://github.com/lab/homelab/pull/{pull}")),
            reported: true,
            previewed_at: Utc::now(),
        };
        store
            .record_preview(&preview, &audit("daemon", "preview.recorded", "pull"))
            .await
            .expect("preview");
    }
}

#[derive(Debug, Default)]
struct Seeded {
    runs: usize,
    deviations: usize,
}

/// A logged-in browser: the session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

async fn login(base: &str) -> Browser {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie = ui_login::login(&http, base, TOKEN)
        .await
        .unwrap_or_else(|e| panic!("login: {e}"));
    Browser {
        http,
        base: base.to_owned(),
        cookie: format!("homelabd_session={cookie}"),
    }
}

impl Browser {
    /// GETs `path`; the time to the last byte of the page, which must contain `expect`.
    async fn page(&self, path: &str, expect: &str) -> Duration {
        let started = Instant::now();
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let body = resp.text().await.expect("body");
        let took = started.elapsed();
        assert!(
            status == 200 && body.contains(expect),
            "{path}: {status}, {expect:?} not in {} bytes: {}",
            body.len(),
            &body[..body.len().min(2000)]
        );
        took
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("HOMELABD_BENCH_DEFINITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let requests: usize = std::env::var("HOMELABD_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let postgres = std::env::var("HOMELABD_BENCH_DATABASE_URL").ok();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // HOMELABD_BENCH_DIR keeps the repository and the seeded store for the next run,
    // which then only measures (a SQLite store; the first load takes minutes in debug).
    let kept = std::env::var_os("HOMELABD_BENCH_DIR").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_owned());
    let repo = dir.join("repo");
    let state = dir.join("state");
    let reuse = kept.is_some() && postgres.is_none() && state.join("seeded").exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&repo);
        let _ = std::fs::remove_dir_all(&state);
        std::fs::create_dir_all(&repo).expect("repo dir");
        generate::generate(&repo, n);
        daemon::init_repo(&repo);
    }
    let commit = head(&repo);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let db = postgres
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", state.join("homelabd.db").display()));
    let loading = Instant::now();
    let _daemon = start(&repo, &state, port, postgres.as_deref());
    let store = wait_loaded(&db, &commit, n).await;
    println!(
        "{n} definitions loaded in {:.1} s ({})",
        loading.elapsed().as_secs_f64(),
        if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let seeding = Instant::now();
    let seeded = if reuse {
        Seeded::default()
    } else {
        let seeded = seed(&store, n, &commit).await;
        std::fs::write(state.join("seeded"), "").expect("mark seeded");
        seeded
    };
    seed_previews(&store, &commit).await;
    let audit_rows = store
        .audit_page(&Default::default(), 0, 1)
        .await
        .expect("audit count")
        .total;
    println!(
        "seeded in {:.1} s: {} apply runs, {} deviations, {audit_rows} audit rows, 500 proposals, 200 previews, 5,000 notifications",
        seeding.elapsed().as_secs_f64(),
        seeded.runs,
        seeded.deviations,
    );

    let base = format!("http://127.0.0.1:{port}");
    let browser = login(&base).await;
    let last = name(n - 1);
    let detail = name((n / 2) / 10 * 10);
    let deep_audit = (audit_rows - 50).max(0);
    let pages: Vec<(String, String, &str)> = vec![
        ("overview".into(), "/ui/".into(), "id=\"revision\""),
        ("resources".into(), "/ui/resources".into(), "svc-00000"),
        (
            "resources, provider=docker".into(),
            "/ui/resources?provider=docker".into(),
            "svc-00002",
        ),
        (
            "resources, state + text".into(),
            "/ui/resources?state=rendered&q=svc-09".into(),
            "svc-09",
        ),
        (
            "resources, text matching nothing".into(),
            "/ui/resources?q=no-such-thing".into(),
            "None.",
        ),
        (
            "resources, last page".into(),
            format!("/ui/resources?offset={}", n.saturating_sub(50)),
            &last,
        ),
        (
            "resource detail".into(),
            format!("/ui/resources/{detail}"),
            "id=\"runs\"",
        ),
        ("pools".into(), "/ui/pools".into(), "dock-0000"),
        (
            "pools, all nodes of one pool".into(),
            "/ui/pools?path=%2Flab%2Fdocker&offset=500".into(),
            "dock-0500",
        ),
        (
            "proposals and previews".into(),
            "/ui/proposals".into(),
            "proposal-0499",
        ),
        ("audit".into(), "/ui/audit".into(), "id=\"audit\""),
        (
            "audit, filtered".into(),
            format!("/ui/audit?action=resource.&subject={detail}"),
            &detail,
        ),
        (
            "audit, last page".into(),
            format!("/ui/audit?offset={deep_audit}"),
            "id=\"audit\"",
        ),
        (
            "notifications".into(),
            "/ui/notifications".into(),
            "apply.failed",
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(requests); pages.len()];
    for (_, path, expect) in &pages {
        browser.page(path, expect).await;
    }
    let load_before = load_average();
    for _ in 0..requests {
        for (k, (_, path, expect)) in pages.iter().enumerate() {
            times[k].push(browser.page(path, expect).await);
        }
    }
    println!(
        "\n{requests} requests per page, one at a time; load average {load_before} before, {} after\n",
        load_average()
    );
    println!("| page | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    let mut worst = Duration::ZERO;
    for ((label, path, _), t) in pages.iter().zip(&mut times) {
        t.sort();
        let p99 = percentile(t, 0.99);
        worst = worst.max(p99);
        println!(
            "| {label} (`{path}`) | {} | {} | {} |",
            ms(percentile(t, 0.5)),
            ms(p99),
            ms(*t.last().expect("samples"))
        );
    }
    // The pools page and the text filter keep what they read per store change and
    // follow a change through the resources it names: the first view after one reads
    // those again. Measured on their own, an audit row about one resource (as an apply
    // writes) before each request.
    let changed = (requests / 5).max(5);
    let mut after_change = [
        (
            "pools",
            "/ui/pools".to_owned(),
            "dock-0000",
            Vec::with_capacity(changed),
        ),
        (
            "resources, text",
            "/ui/resources?q=svc-09".to_owned(),
            "svc-09",
            Vec::with_capacity(changed),
        ),
    ];
    for k in 0..changed {
        for (_, path, expect, times) in &mut after_change {
            store
                .record_audit(&audit("bench", "apply.succeeded", &name(k * 7 % n)), None)
                .await
                .expect("audit row");
            times.push(browser.page(path, expect).await);
        }
    }
    for (label, _, _, times) in &mut after_change {
        times.sort();
        println!(
            "| {label}, first view after a store change ({changed} times) | {} | {} | {} |",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99)),
            ms(*times.last().expect("samples"))
        );
    }
    println!(
        "\nslowest page p99: {} (target < 100 ms: {})",
        ms(worst),
        if worst < Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        }
    );
}
