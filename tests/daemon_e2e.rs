//! End to end: the real `homelabd daemon` against a real git repository in a temp dir,
//! with SQLite and with PostgreSQL (a throwaway cluster, or DATABASE_URL).
//!
//! Commit → rendered and recorded; a broken definition keeps its last good state while the
//! others carry on; a deleted definition is orphaned, not pruned; a restart resumes without
//! redoing unchanged work; kill -9 in the middle of a pass leaves a consistent state.

mod support;

use homelabd::reconcile::ResourceState;
use homelabd::store::{ResourceRecord, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::daemon::{Daemon, DaemonCommand, wait_for_store};
use support::{git_commit_all, write};

/// A daemon on `repo`, on `db` or its default SQLite store, logging beside `state`.
fn start(repo: &Path, state: &Path, db: Option<&str>) -> Daemon {
    let command = DaemonCommand::new(state)
        .repo(repo)
        .log_file(&state.with_extension("log"))
        // Nothing here may start containers: every resource waits for `homelabd apply`.
        .env("HOMELABD_CONFIG", manual_config(state));
    match db {
        Some(url) => command.database(url),
        None => command,
    }
    .spawn()
}

/// A config file whose default apply policy is manual.
fn manual_config(state: &Path) -> PathBuf {
    let path = state.with_extension("toml");
    std::fs::write(&path, "[policy]\napply = \"manual\"\n").unwrap();
    path
}

/// Polls the store until `check` holds (or fails after `secs`, showing the daemon log).
async fn wait_for(
    url: &str,
    daemon: &Daemon,
    secs: u64,
    what: &str,
    check: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let read = async |store: &Store| snapshot(store).await.ok();
    wait_for_store(url, daemon, secs, what, read, check).await
}

#[derive(Debug)]
struct Snapshot {
    revision: Option<String>,
    resources: BTreeMap<String, ResourceRecord>,
    renders: usize,
}

async fn snapshot(store: &Store) -> Result<Snapshot, homelabd::store::StoreError> {
    let revision = store.latest_revision().await?.map(|r| r.commit);
    let resources: BTreeMap<String, ResourceRecord> = store
        .resources()
        .await?
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect();
    let mut renders = 0;
    for name in resources.keys() {
        renders += store.render_results(name, 1000).await?.len();
    }
    Ok(Snapshot {
        revision,
        resources,
        renders,
    })
}

const NEW_SERVICE: &str = "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: whoami\nspec:\n  resource_type: container\n  workload_type: web-application\n  requirements: {cpu: 1, memory_gb: 0.5}\n  placement: {provider: docker}\n  chart: {values: {image: \"traefik/whoami:v1.10\", ports: [{name: http, container_port: 80, host_port: 8081, protocol: tcp}]}}\n";

const BULK_POOL: &str = "apiVersion: homelab.ai/v1\nkind: ResourcePool\nmetadata:\n  name: bulk\nspec:\n  path: /homelab/bulk\n  pool_type: docker\n  provider: docker\n  nodes:\n    - {name: bulk-host, cpu: 512, memory_gb: 1024, storage_gb: 100000}\n";

async fn scenario(db: Option<String>) {
    let repo = support::example_copy();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("state");
    let url = db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", state_dir.join("homelabd.db").display()));
    let first = git_commit_all(repo.path(), "example homelab");

    // 1. The daemon loads the commit, renders every resource and records it.
    let daemon = start(repo.path(), &state_dir, db.as_deref());
    // The render is recorded first; the apply phase then records why nothing is applied.
    let s = wait_for(&url, &daemon, 60, "first commit recorded", |s| {
        s.revision.as_deref() == Some(first.as_str())
            && s.resources.len() == 9
            && s.resources.values().all(|r| {
                r.reason
                    .as_deref()
                    .is_some_and(|why| why.starts_with("rendered, not applied: "))
            })
    })
    .await;
    for r in s.resources.values() {
        assert_eq!(r.state, ResourceState::Rendered, "{r:?}");
        let reason = r.reason.as_deref().unwrap_or("");
        assert!(reason.starts_with("rendered, not applied: "), "{r:?}");
        assert_eq!(r.desired_revision.as_deref(), Some(first.as_str()));
    }
    assert!(
        state_dir
            .join("rendered-configs/proxmox/ollama-server/main.tf")
            .exists()
    );

    // 2. A new commit is noticed (inotify on refs) and reconciled quickly.
    write(repo.path(), "definitions/apps/whoami.yaml", NEW_SERVICE);
    let committed = Instant::now();
    let second = git_commit_all(repo.path(), "add whoami");
    let s = wait_for(&url, &daemon, 20, "whoami rendered", |s| {
        // Both, since the snapshot's queries are not one transaction.
        s.revision.as_deref() == Some(second.as_str())
            && s.resources
                .get("whoami")
                .is_some_and(|r| r.desired_revision.as_deref() == Some(second.as_str()))
    })
    .await;
    let took = committed.elapsed();
    assert!(
        state_dir
            .join("rendered-configs/docker/whoami/compose.yaml")
            .exists()
    );
    assert_eq!(s.revision.as_deref(), Some(second.as_str()));
    eprintln!("commit to recorded: {took:?}");

    // 3. A broken definition keeps its last good state; the others still reconcile.
    let jenkins = repo.path().join("definitions/ci/jenkins.yaml");
    let text = std::fs::read_to_string(&jenkins).unwrap();
    std::fs::write(
        &jenkins,
        text.replace("workload_type: ci-cd", "workload_type: no-such-type"),
    )
    .unwrap();
    write(
        repo.path(),
        "definitions/apps/whoami.yaml",
        &NEW_SERVICE.replace("host_port: 8081", "host_port: 8082"),
    );
    let third = git_commit_all(repo.path(), "break jenkins, move whoami");
    let s = wait_for(&url, &daemon, 20, "jenkins invalid, whoami updated", |s| {
        s.revision.as_deref() == Some(third.as_str())
            && s.resources
                .get("jenkins")
                .is_some_and(|r| r.state == ResourceState::Invalid)
            && s.resources
                .get("whoami")
                .is_some_and(|r| r.desired_revision.as_deref() == Some(third.as_str()))
    })
    .await;
    let j = &s.resources["jenkins"];
    assert_eq!(
        j.desired_revision.as_deref(),
        Some(first.as_str()),
        "last good state kept"
    );
    assert_eq!(
        j.placement.as_ref().and_then(|p| p["pool"].as_str()),
        Some("/homelab/compute/general"),
        "placement of the last good state kept"
    );
    let error = j.last_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("definitions/ci/jenkins.yaml") && error.contains("unknown-workload-type"),
        "{error}"
    );
    assert!(
        state_dir
            .join("rendered-configs/proxmox/jenkins/main.tf")
            .exists(),
        "last good render kept"
    );
    let compose =
        std::fs::read_to_string(state_dir.join("rendered-configs/docker/whoami/compose.yaml"))
            .unwrap();
    assert!(compose.contains("8082"), "{compose}");

    // 4. A deleted definition is orphaned and nothing is pruned.
    std::fs::remove_file(repo.path().join("definitions/apps/uptime-kuma.yaml")).unwrap();
    let fourth = git_commit_all(repo.path(), "remove uptime-kuma");
    let s = wait_for(&url, &daemon, 20, "uptime-kuma orphaned", |s| {
        s.revision.as_deref() == Some(fourth.as_str())
            && s.resources
                .get("uptime-kuma")
                .is_some_and(|r| r.state == ResourceState::Orphaned)
    })
    .await;
    assert!(
        state_dir
            .join("rendered-configs/docker/uptime-kuma/compose.yaml")
            .exists(),
        "not pruned"
    );
    let renders_before_restart = s.renders;
    drop(daemon);

    // 5. A restart resumes from the store: nothing unchanged is rendered again.
    let daemon = start(repo.path(), &state_dir, db.as_deref());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = wait_for(&url, &daemon, 20, "state after restart", |s| {
        s.revision.as_deref() == Some(fourth.as_str())
    })
    .await;
    assert_eq!(
        s.renders, renders_before_restart,
        "unchanged resources were rendered again after a restart"
    );
    assert!(daemon.log().contains("reconciled"), "{}", daemon.log());

    // 5b. `homelabd reconcile` asks the running daemon for a pass: a rendered directory
    // removed by hand is written again, nothing else is.
    let removed = state_dir.join("rendered-configs/proxmox/postgresql");
    std::fs::remove_dir_all(&removed).unwrap();
    let mut args = vec!["reconcile".to_owned(), "postgresql".to_owned()];
    match &db {
        Some(url) => args.extend(["--database-url".to_owned(), url.clone()]),
        None => args.extend(["--state-dir".to_owned(), state_dir.display().to_string()]),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = support::homelabd(&args);
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    assert!(support::stdout(&out).contains("reconcile of postgresql requested"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !removed.join("main.tf").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        removed.join("main.tf").exists(),
        "repaired\n{}",
        daemon.log()
    );

    // 6. kill -9 in the middle of a large pass: the restart ends consistent.
    let mut daemon = daemon;
    write(repo.path(), "pools/bulk.yaml", BULK_POOL);
    for i in 0..150 {
        let doc = NEW_SERVICE
            .replace("whoami", &format!("bulk-{i:03}"))
            .replace("host_port: 8081", &format!("host_port: {}", 9000 + i))
            .replace(
                "placement: {provider: docker}",
                "placement: {pool: /homelab/bulk}",
            );
        write(
            repo.path(),
            &format!("definitions/bulk/svc-{i:03}.yaml"),
            &doc,
        );
    }
    let fifth = git_commit_all(repo.path(), "150 services");
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.kill9();
    let daemon = start(repo.path(), &state_dir, db.as_deref());
    let s = wait_for(&url, &daemon, 60, "bulk commit after kill -9", |s| {
        s.revision.as_deref() == Some(fifth.as_str())
            && (0..150).all(|i| {
                s.resources
                    .get(&format!("bulk-{i:03}"))
                    .is_some_and(|r| r.state == ResourceState::Rendered)
            })
    })
    .await;
    let docker_dir = state_dir.join("rendered-configs/docker");
    let leftovers: Vec<String> = std::fs::read_dir(&docker_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written directories left: {leftovers:?}"
    );
    for (name, r) in &s.resources {
        if r.state == ResourceState::Rendered {
            let dir = state_dir
                .join("rendered-configs")
                .join(r.provider.unwrap().as_str())
                .join(name);
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("homelabd.manifest.json")).unwrap())
                    .unwrap();
            assert_eq!(
                manifest["output_hash"].as_str(),
                r.output_hash.as_deref(),
                "{name}: store and disk agree"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_reconciles_commits_on_sqlite() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_reconciles_commits_on_postgres() {
    let Some((_pg, url)) = support::store::postgres("daemon on PostgreSQL").await else {
        return;
    };
    scenario(Some(url)).await;
}

/// The database goes away: the daemon keeps running, reports not-ready, keeps working,
/// and writes every revision it saw once the database is back.
#[tokio::test(flavor = "multi_thread")]
async fn database_outage_loses_nothing() {
    let Some(cluster) = support::pg::PgCluster::start() else {
        return support::skip(
            "database outage",
            "no PostgreSQL binaries and no DATABASE_URL",
        );
    };
    let url = cluster.fresh_database().await;
    let repo = support::example_copy();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("state");
    let first = git_commit_all(repo.path(), "example homelab");
    let daemon = start(repo.path(), &state_dir, Some(&url));
    let port = daemon.port;
    wait_for(&url, &daemon, 60, "first commit", |s| {
        s.revision.as_deref() == Some(first.as_str())
    })
    .await;
    let ready = |expect: u16| {
        let url = format!("http://127.0.0.1:{port}/readyz");
        async move {
            for _ in 0..100 {
                if let Ok(r) = support::get(&url).await
                    && r.status().as_u16() == expect
                {
                    return r.text().await.unwrap_or_default();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("/readyz never answered {expect}");
        }
    };
    ready(200).await;

    if !cluster.stop() {
        return support::skip(
            "database outage",
            "DATABASE_URL names a shared server that tests must not stop",
        );
    }
    write(repo.path(), "definitions/apps/whoami.yaml", NEW_SERVICE);
    let second = git_commit_all(repo.path(), "add whoami while the database is down");
    // The daemon keeps working: the new resource is rendered without the database…
    let compose = state_dir.join("rendered-configs/docker/whoami/compose.yaml");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !compose.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        compose.exists(),
        "rendered while the database was down\n{}",
        daemon.log()
    );
    // …and says it is not ready, naming the database.
    let body = ready(503).await;
    assert!(body.contains("database"), "{body}");

    cluster.restart();
    let s = wait_for(
        &url,
        &daemon,
        60,
        "queued pass written after the outage",
        |s| {
            s.revision.as_deref() == Some(second.as_str())
                && s.resources
                    .get("whoami")
                    .is_some_and(|r| r.desired_revision.as_deref() == Some(second.as_str()))
        },
    )
    .await;
    assert_eq!(s.resources.len(), 10);
    ready(200).await;
    let log = daemon.log();
    assert!(
        log.contains("cannot write to the store; will retry") || log.contains("store unavailable"),
        "{log}"
    );
}
