//! Dependency order end to end on this machine's real Docker engine, with the real
//! `homelabd daemon` and PostgreSQL (a throwaway cluster, or DATABASE_URL).
//!
//! `app` depends on `db`, and `db` applies only by hand (`policy.apply: manual`): the
//! app waits with the reason in status until `homelabd apply db` has run; then the
//! daemon applies the app, and its run starts after the database's run finished.
//!
//! No image can be pulled here: tests/support/build-test-image.sh imports a tiny busybox
//! image first.

mod support;

use homelabd::reconcile::ResourceState;
use std::process::Command;
use support::daemon::{DaemonCommand, wait_for_store};
use support::docker::{RemoveProjects, docker_ready, project_containers, unique_suffix};
use support::repo_with;
use support::seen::read as seen;

const IMAGE: &str = support::docker::TEST_IMAGE;

/// A container resource with apply policy `apply` and the given `depends_on`.
fn definition(name: &str, apply: &str, depends_on: &[&str]) -> String {
    let deps = if depends_on.is_empty() {
        String::new()
    } else {
        format!("  depends_on: [{}]\n", depends_on.join(", "))
    };
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{IMAGE}\"\n  \
         policy: {{apply: {apply}, self_heal: false, prune: true}}\n{deps}"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_waits_for_its_database_and_is_applied_after_it() {
    let test = "an_app_waits_for_its_database_and_is_applied_after_it";
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
        (&db, definition(&db, "manual", &[])),
        (&app, definition(&app, "auto", &[&db])),
    ]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let config = "[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 4\n";
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .database(&url)
        .config(config)
        .spawn();

    // 1. The database waits for a person; the app waits for the database, and says so.
    let waiting = format!("waiting for {db}: not applied yet at this revision");
    let s = wait_for_store(&url, &daemon, 120, "app waiting for db", seen, |s| {
        s.resource(&app)
            .is_some_and(|r| r.reason.as_deref() == Some(waiting.as_str()))
    })
    .await;
    assert!(s.runs.is_empty(), "nothing applied yet: {:?}", s.runs);
    assert!(project_containers(&app).is_empty());
    let status = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["status", "--database-url", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&waiting), "status shows the wait:\n{text}");

    // 2. `homelabd apply db` → the database is applied, then the app, in that order.
    let apply = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["apply", &db, "--no-wait", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let s = wait_for_store(&url, &daemon, 180, "db then app applied", seen, |s| {
        [&db, &app].iter().all(|n| {
            s.resource(n)
                .is_some_and(|r| r.state == ResourceState::Applied)
        })
    })
    .await;
    let (db_run, app_run) = (s.applied_run(&db).unwrap(), s.applied_run(&app).unwrap());
    let db_finished = db_run.finished_at.expect("db run finished");
    assert!(
        app_run.started_at >= db_finished,
        "app started {} before db finished {}",
        app_run.started_at,
        db_finished
    );
    assert_eq!(project_containers(&db).len(), 1);
    assert_eq!(project_containers(&app).len(), 1);
}

/// A dependency cycle and an unknown dependency are validation errors: each member of
/// the cycle is named with where it is defined, and the rest of the repository stays
/// valid.
#[test]
fn a_dependency_cycle_is_a_validation_error_naming_every_member() {
    let repo = repo_with(&[
        ("app", definition("app", "auto", &["db"])),
        ("db", definition("db", "auto", &["cache"])),
        ("cache", definition("cache", "auto", &["app"])),
        ("web", definition("web", "auto", &["nosuch"])),
        ("ok", definition("ok", "auto", &[])),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["validate", "--output", "json"])
        .arg(repo.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "invalid: exit 1");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = doc["diagnostics"].as_array().unwrap();
    let cycle: Vec<&serde_json::Value> = diags
        .iter()
        .filter(|d| d["code"] == "dependency-cycle")
        .collect();
    assert_eq!(cycle.len(), 3, "one error per member: {cycle:?}");
    for d in &cycle {
        let message = d["message"].as_str().unwrap();
        assert!(
            message.contains("app → db → cache → app"),
            "the cycle: {message}"
        );
        for member in ["app", "db", "cache"] {
            assert!(
                message.contains(&format!("{member} at definitions/{member}.yaml:")),
                "{member} and where it is defined: {message}"
            );
        }
    }
    let unknown = diags
        .iter()
        .find(|d| d["code"] == "unknown-dependency")
        .expect("unknown dependency reported");
    assert_eq!(unknown["name"], "web");
    assert_eq!(unknown["found"], "nosuch");
    assert_eq!(unknown["file"], "definitions/web.yaml");
    assert!(unknown["line"].as_u64().unwrap() > 1, "{unknown}");
}
