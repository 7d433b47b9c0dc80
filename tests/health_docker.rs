//! Health checks and rollback end to end on this machine's real Docker engine, with the
//! real `homelabd daemon` and PostgreSQL (a throwaway cluster, or DATABASE_URL).
//!
//! The test image serves HTTP with busybox httpd on port 8080, so a definition that
//! publishes it on 127.0.0.1 answers `GET /` with 200 — a real health check.
//! tests/support/build-test-image.sh imports the image first (nothing can be pulled).

mod support;

use homelabd::reconcile::ResourceState;
use homelabd::store::{HealthStatus, ProposalStatus, RunOperation, RunState, Store};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::daemon::{Daemon, DaemonCommand, free_port, wait_for_store};
use support::docker::{RemoveProjects, docker_ready, project_containers, unique_suffix};
use support::github_sim::GithubSim;
use support::seen::{Seen, read as seen};
use support::{homelabd, repo_with};

const IMAGE: &str = support::docker::TEST_IMAGE;

/// A container resource publishing the image's httpd on `127.0.0.1:port`, with
/// `extra` YAML appended to its spec (indented two spaces).
fn definition(name: &str, port: u16, extra: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{IMAGE}\"\n      \
         bind_address: 127.0.0.1\n      \
         ports: [{{name: http, container_port: 8080, host_port: {port}}}]\n{extra}"
    )
}

/// [`definition`] with `values` YAML added to the chart values (indented six spaces).
fn definition_with(name: &str, port: u16, values: &str, extra: &str) -> String {
    definition(name, port, extra).replacen(
        "      bind_address: 127.0.0.1\n",
        &format!("      bind_address: 127.0.0.1\n{values}"),
        1,
    )
}

/// `spec.health`: GET / on the recorded endpoint, every second for up to `timeout` s.
fn http_health(timeout: u32) -> String {
    format!(
        "  health:\n    http: {{url: \"http://{{{{ endpoint.address }}}}/\"}}\n    \
         timeout_seconds: {timeout}\n    interval_seconds: 1\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_starts_only_after_its_database_is_applied_and_healthy() {
    let test = "an_app_starts_only_after_its_database_is_applied_and_healthy";
    if !docker_ready(test) {
        return;
    }
    let Some((_pg, url)) = support::store::postgres(test).await else {
        return;
    };
    let id = unique_suffix();
    let db = format!("db-{id}");
    let app = format!("app-{id}");
    let _cleanup = RemoveProjects(vec![db.clone(), app.clone()]);
    let repo = repo_with(&[
        (&db, definition(&db, free_port(), &http_health(60))),
        (
            &app,
            definition(&app, free_port(), &format!("  depends_on: [{db}]\n")),
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let daemon = DaemonCommand::new(&state.path().join("s"))
        .repo(repo.path())
        .database(&url)
        .spawn();

    let s = wait_for_store(
        &url,
        &daemon,
        180,
        "db healthy, then app applied",
        seen,
        |s| {
            s.applied_run(&app).is_some()
                && s.resource(&app)
                    .is_some_and(|r| r.state == ResourceState::Applied)
                && s.health(&db)
                    .is_some_and(|h| h.status == HealthStatus::Healthy)
        },
    )
    .await;
    let (db_run, app_run) = (s.applied_run(&db).unwrap(), s.applied_run(&app).unwrap());
    let db_health = s.health(&db).unwrap();
    let db_finished = db_run.finished_at.expect("db run finished");
    assert!(
        db_health.since >= db_finished,
        "healthy {} after the apply finished {db_finished}",
        db_health.since
    );
    assert!(
        app_run.started_at >= db_health.since,
        "app started {} before db was healthy {}",
        app_run.started_at,
        db_health.since
    );
    assert_eq!(db_health.reason, "HTTP 200");
    assert_eq!(
        db_health.applied_hash,
        s.resource(&db).unwrap().applied_hash,
        "checked against the render applied"
    );
    assert!(s.health(&app).is_none(), "the app has no health check");
    let status = homelabd(&["status", "--database-url", &url]);
    let text = String::from_utf8_lossy(&status.stdout);
    let db_line = text
        .lines()
        .find(|l| l.starts_with(&db))
        .unwrap_or_default();
    assert!(
        db_line.contains(" healthy "),
        "status shows health:\n{text}"
    );
    assert_eq!(project_containers(&app).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_database_keeps_its_app_waiting_with_the_reason_and_opens_a_deviation() {
    let test = "an_unhealthy_database_keeps_its_app_waiting_with_the_reason_and_opens_a_deviation";
    if !docker_ready(test) {
        return;
    }
    let Some((_pg, url)) = support::store::postgres(test).await else {
        return;
    };
    let id = unique_suffix();
    let db = format!("db-{id}");
    let app = format!("app-{id}");
    let _cleanup = RemoveProjects(vec![db.clone(), app.clone()]);
    // Nothing listens on the checked port: the database never becomes healthy.
    let closed = free_port();
    let health = format!(
        "  health:\n    tcp: {{host: 127.0.0.1, port: {closed}}}\n    \
         timeout_seconds: 3\n    interval_seconds: 1\n"
    );
    let repo = repo_with(&[
        (&db, definition(&db, free_port(), &health)),
        (
            &app,
            definition(&app, free_port(), &format!("  depends_on: [{db}]\n")),
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let daemon = DaemonCommand::new(&state.path().join("s"))
        .repo(repo.path())
        .database(&url)
        .spawn();
    // The wait after the apply says how long it tried; later observations say what
    // they saw.
    let waiting = format!("waiting for {db}: not healthy: ");
    let probe = format!("TCP 127.0.0.1:{closed}: ");
    let s = wait_for_store(
        &url,
        &daemon,
        180,
        "app waiting for an unhealthy db",
        seen,
        |s| {
            s.resource(&app)
                .and_then(|r| r.reason.as_deref())
                .is_some_and(|r| r.starts_with(&waiting) && r.contains(&probe))
        },
    )
    .await;
    assert!(
        s.applied_run(&app).is_none(),
        "the app is not applied: {:?}",
        s.runs
    );
    assert!(project_containers(&app).is_empty());
    let h = s.health(&db).expect("db checked");
    assert_eq!(h.status, HealthStatus::Unhealthy);
    let store = Store::connect(&url).await.unwrap();
    let open = store.deviations(true, 100).await.unwrap();
    let deviation = open
        .iter()
        .find(|d| d.resource == db && d.key == "health")
        .unwrap_or_else(|| panic!("a health deviation is open: {open:?}"));
    assert!(
        deviation
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("health check failing: ")),
        "{deviation:?}"
    );
    let status = homelabd(&["status", "--database-url", &url]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&format!("{db} — unhealthy since")), "{text}");
}

/// A check must be one kind, and its texts may refer to the endpoint only.
#[test]
fn a_health_check_of_two_kinds_or_with_an_unknown_reference_is_invalid() {
    let two = "  health:\n    provider: true\n    tcp: {port: 5432}\n";
    let unknown = "  health:\n    http: {url: \"http://{{ secrets.token }}/\"}\n";
    let fine = "  health:\n    tcp: {}\n    timeout_seconds: 30\n";
    let repo = repo_with(&[
        ("two", definition("two", 18080, two)),
        ("unknown", definition("unknown", 18081, unknown)),
        ("fine", definition("fine", 18082, fine)),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["validate", "--output", "json"])
        .arg(repo.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "invalid: exit 1");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = doc["diagnostics"].as_array().unwrap();
    let about = |name: &str| -> Vec<&serde_json::Value> {
        diags
            .iter()
            .filter(|d| d["name"] == name && d["severity"] == "error")
            .collect()
    };
    assert!(!about("two").is_empty(), "{diags:?}");
    let unknown = about("unknown");
    assert!(
        unknown.iter().any(|d| d["code"] == "health-check"
            && d["message"]
                .as_str()
                .is_some_and(|m| m.contains("\"secrets.token\""))),
        "{unknown:?}"
    );
    assert!(about("fine").is_empty(), "{diags:?}");
}

/// The entrypoint of a resource's container, as Docker reports it.
fn entrypoint(resource: &str) -> String {
    let ids = project_containers(resource);
    let Some(id) = ids.first() else {
        return "no container".to_owned();
    };
    let out = Command::new("docker")
        .args(["inspect", "--format", "{{json .Config.Entrypoint}}", id])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What both rollback tests start from: Docker, a database, and one app (removed at
/// the end) on a free port.
struct RollbackLab {
    _pg: Option<support::pg::PgCluster>,
    url: String,
    app: String,
    port: u16,
    _cleanup: RemoveProjects,
}

/// The lab of `test`, or `None` when it is skipped (no Docker, no PostgreSQL).
async fn rollback_lab(test: &str) -> Option<RollbackLab> {
    if !docker_ready(test) {
        return None;
    }
    let (pg, url) = support::store::postgres(test).await?;
    let app = format!("app-{}", unique_suffix());
    Some(RollbackLab {
        _pg: pg,
        url,
        _cleanup: RemoveProjects(vec![app.clone()]),
        app,
        port: free_port(),
    })
}

/// The marker of `app`'s healthy output of revision `rev`, kept for rollbacks.
fn kept_marker(state_dir: &Path, app: &str, rev: &str) -> PathBuf {
    state_dir
        .join("good/docker")
        .join(app)
        .join(rev)
        .join("homelabd.good.json")
}

/// Asks for a reconcile of `app` and waits until the daemon has taken the request.
async fn reconcile_taken(store: &Store, url: &str, daemon: &Daemon, app: &str) {
    let request = store.request_reconcile(Some(app), "test").await.unwrap();
    support::daemon::wait_for_store(
        url,
        daemon,
        60,
        "the reconcile request taken",
        async |st: &Store| st.request_pending(request).await.ok(),
        |pending| !pending,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revision_that_is_not_healthy_in_time_is_rolled_back_and_not_applied_again() {
    let test = "a_revision_that_is_not_healthy_in_time_is_rolled_back_and_not_applied_again";
    let Some(lab) = rollback_lab(test).await else {
        return;
    };
    let (url, app, port) = (lab.url.clone(), lab.app.clone(), lab.port);
    let extra = format!("{}  policy: {{rollback: auto}}\n", http_health(5));
    let repo = repo_with(&[(&app, definition(&app, port, &extra))]);
    let good = support::git(repo.path(), &["rev-parse", "HEAD"])
        .trim()
        .to_owned();
    // Proposals go to a bare repository as `origin`, pull requests to the simulator.
    let remote = tempfile::tempdir().unwrap();
    let bare = remote.path().join("homelab.git");
    support::git(
        remote.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    support::git(
        repo.path(),
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    let branch = support::git(repo.path(), &["rev-parse", "--abbrev-ref", "HEAD"]);
    support::git(repo.path(), &["push", "-q", "origin", &branch]);
    let token = "ghp-rollback-token";
    let sim = GithubSim::start("example", "homelab", token, Some(bare.clone())).await;
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .database(&url)
        .config(&format!(
            "[propose]\nremote = \"origin\"\n[propose.github]\nowner = \"example\"\n\
             repo = \"homelab\"\napi_url = \"{}\"\n",
            sim.url
        ))
        .env("HOMELABD_GITHUB_TOKEN", token)
        .spawn();
    wait_for_store(
        &url,
        &daemon,
        180,
        "the first revision healthy",
        seen,
        |s| {
            s.health(&app)
                .is_some_and(|h| h.status == HealthStatus::Healthy)
        },
    )
    .await;
    let kept = kept_marker(&state_dir, &app, &good);
    support::daemon::wait_until(&daemon, 60, "the healthy output kept", || kept.exists()).await;

    // A commit replaces the web server with a command that serves nothing.
    let broken = definition_with(
        &app,
        port,
        "      command: [/bin/busybox, sleep, \"3600\"]\n",
        &extra,
    );
    support::write(repo.path(), &format!("definitions/{app}.yaml"), &broken);
    let bad = support::git_commit_all(repo.path(), "break the app");
    let s = wait_for_store(
        &url,
        &daemon,
        180,
        "rolled back to the first revision",
        seen,
        |s| {
            s.runs.iter().any(|r| {
                r.resource == app
                    && r.revision == good
                    && r.operation == RunOperation::Rollback
                    && r.state == RunState::Succeeded
                    && s.runs
                        .iter()
                        .any(|b| b.revision == bad && b.started_at < r.started_at)
            }) && s
                .resource(&app)
                .and_then(|r| r.reason.as_deref())
                .is_some_and(|r| r.contains("rolled back to"))
        },
    )
    .await;
    let record = s.resource(&app).unwrap();
    let reason = record.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "rendered, not applied: rolled back to {} ({} not healthy within 5 s: ",
            &good[..7],
            &bad[..7]
        )),
        "{reason}"
    );
    assert_eq!(record.applied_revision.as_deref(), Some(good.as_str()));
    assert_eq!(entrypoint(&app), "null", "the web server runs again");
    let store = Store::connect(&url).await.unwrap();
    let note = store
        .latest_notification("resource.rolled_back")
        .await
        .unwrap()
        .expect("a rollback notification");
    assert_eq!(note.subject, app);
    let audit = store.audit_log(200).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "apply.rolled_back" && a.subject == app),
        "{audit:?}"
    );
    // Healthy again on the old revision, and the broken one is not applied again.
    wait_for_store(&url, &daemon, 60, "healthy after the rollback", seen, |s| {
        s.health(&app).is_some_and(|h| {
            h.status == HealthStatus::Healthy
                && h.applied_hash == s.resource(&app).and_then(|r| r.applied_hash.clone())
        })
    })
    .await;
    reconcile_taken(&store, &url, &daemon, &app).await;
    let runs_of_bad = |s: &Seen| s.runs.iter().filter(|r| r.revision == bad).count();
    let before = runs_of_bad(&s);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let after = seen(&store).await.unwrap();
    assert_eq!(runs_of_bad(&after), before, "{:?}", after.runs);
    assert_eq!(entrypoint(&app), "null");

    // A pull request reverts the breaking change: the definition as it was at the good
    // revision, on its own branch; the tracked branch is left alone.
    let revert = format!("homelabd/revert-{app}-{}", &bad[..7]);
    let pulls = || {
        sim.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/repos/example/homelab/pulls")
            .collect::<Vec<_>>()
    };
    support::daemon::wait_until(&daemon, 60, "the revert pull request", || {
        !pulls().is_empty()
    })
    .await;
    let pr = pulls()[0].body.clone().expect("a JSON body");
    assert_eq!(pr["head"], revert.as_str(), "{pr}");
    assert_eq!(pr["base"], branch.as_str(), "{pr}");
    let body = pr["body"].as_str().unwrap_or_default();
    assert!(body.contains(&good), "names the good revision:\n{body}");
    assert!(body.contains("not healthy within 5 s"), "says why:\n{body}");
    let restored = support::git(
        &bare,
        &["show", &format!("{revert}:definitions/{app}.yaml")],
    );
    assert_eq!(
        format!("{restored}\n"),
        definition(&app, port, &extra),
        "the definition as it was at the good revision"
    );
    assert_eq!(
        support::git(repo.path(), &["rev-parse", "HEAD"]),
        bad,
        "the tracked branch is not rewritten"
    );
    let proposal = store
        .proposal_on_branch(&revert)
        .await
        .unwrap()
        .expect("the revert is recorded as a proposal");
    assert_eq!(proposal.status, ProposalStatus::PullRequest);
    assert_eq!(proposal.tool, "rollback");
    // A person applies the broken revision again: it is rolled back again, and no
    // second pull request is opened for the same revision.
    let rollbacks = |s: &Seen| {
        s.runs
            .iter()
            .filter(|r| r.resource == app && r.operation == RunOperation::Rollback)
            .filter(|r| r.state == RunState::Succeeded)
            .count()
    };
    store
        .request(Some(&app), "test", homelabd::store::RequestAction::Apply)
        .await
        .unwrap();
    wait_for_store(&url, &daemon, 120, "a second rollback", seen, |s| {
        rollbacks(s) == 2
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(pulls().len(), 1, "one pull request per rejected revision");
}

/// The value of `key` in the environment of a resource's container.
fn container_env(resource: &str, key: &str) -> Option<String> {
    let id = project_containers(resource).into_iter().next()?;
    let out = Command::new("docker")
        .args(["inspect", "--format", "{{json .Config.Env}}", &id])
        .output()
        .ok()?;
    let env: Vec<String> = serde_json::from_slice(&out.stdout).ok()?;
    let prefix = format!("{key}=");
    env.iter()
        .find_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn homelabd_rollback_to_an_earlier_revision_runs_its_configuration_again() {
    let test = "homelabd_rollback_to_an_earlier_revision_runs_its_configuration_again";
    let Some(lab) = rollback_lab(test).await else {
        return;
    };
    let (url, app, port) = (lab.url.clone(), lab.app.clone(), lab.port);
    let release = |r: &str| {
        definition_with(
            &app,
            port,
            &format!("      env: {{RELEASE: \"{r}\"}}\n"),
            &http_health(30),
        )
    };
    let repo = repo_with(&[(&app, release("one"))]);
    let first = support::git(repo.path(), &["rev-parse", "HEAD"]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .database(&url)
        .spawn();
    let kept = |rev: &str| kept_marker(&state_dir, &app, rev);
    support::daemon::wait_until(&daemon, 180, "the first revision kept", || {
        kept(&first).exists()
    })
    .await;
    assert_eq!(container_env(&app, "RELEASE").as_deref(), Some("one"));

    // Nothing to roll back to at a revision never kept: the error lists what is.
    let store_args = ["--database-url", url.as_str()];
    let nothing = homelabd(
        &[
            &["rollback", app.as_str(), "--to", "deadbeef"],
            &store_args[..],
        ]
        .concat(),
    );
    assert_eq!(nothing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&nothing.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot roll back {app}: no healthy output of {app} at revision deadbeef is kept; kept revisions: {}",
            &first[..7]
        )),
        "{stderr}"
    );

    support::write(
        repo.path(),
        &format!("definitions/{app}.yaml"),
        &release("two"),
    );
    let second = support::git_commit_all(repo.path(), "release two");
    support::daemon::wait_until(&daemon, 180, "the second revision kept", || {
        kept(&second).exists()
    })
    .await;
    assert_eq!(container_env(&app, "RELEASE").as_deref(), Some("two"));

    let out = homelabd(
        &[
            &["rollback", app.as_str(), "--to", &first[..10]],
            &store_args[..],
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{app}: rollback to {} succeeded", &first[..7])),
        "{stdout}"
    );
    assert_eq!(
        container_env(&app, "RELEASE").as_deref(),
        Some("one"),
        "the first configuration runs again"
    );
    let store = Store::connect(&url).await.unwrap();
    let runs = store.apply_runs(Some(&app), 10).await.unwrap();
    assert_eq!(runs[0].operation, RunOperation::Rollback, "{runs:?}");
    assert_eq!(runs[0].revision, first);
    let record = store.resource(&app).await.unwrap().expect("app");
    assert_eq!(record.applied_revision.as_deref(), Some(first.as_str()));
    let reason = record.reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("rolled back to {}", &first[..7]))
            && reason.contains("set aside by cli:"),
        "{reason}"
    );
    let audit = store.audit_log(100).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "rollback.requested" && a.subject == app),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|a| a.action == "apply.rolled_back" && a.subject == app),
        "{audit:?}"
    );
    let note = store
        .latest_notification("resource.rolled_back")
        .await
        .unwrap()
        .expect("a rollback notification");
    assert_eq!(note.subject, app);

    // The loop leaves it there: the second revision is not applied again by itself.
    reconcile_taken(&store, &url, &daemon, &app).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(container_env(&app, "RELEASE").as_deref(), Some("one"));
}
