//! The web dashboard in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, tests/support/install-browser.sh) driven by Selenium from PyPI
//! (tests/support/requirements.txt) against the real daemon on a real repository, with a
//! manual-apply container on this machine's Docker engine.
//!
//! tests/dashboard/browser.py walks it as an operator would: every page redirects to the
//! login page without a session, a wrong token is refused, a read token sees every page
//! and no action button and its forged POST is refused, CSRF is enforced, a form posted
//! from another site queues nothing, a commit pushed while the overview is open shows
//! without a reload, the pools page counts the example's CPU overcommit and GPUs, the
//! proposals page lists a pull-request preview, "Apply now" runs the container and its run appears, and a phone-width
//! overview fits. Here the store is checked for exactly what the browser asked for.
//!
//! Screenshots go to a temp directory; with `HOMELABD_SCREENSHOTS=1` to
//! docs/screenshots/ (shown in the README).

mod support;

use homelabd::store::{AuditFilter, AuditRecord, PreviewRecord, PreviewStatus, Store};
use serde_json::json;
use std::process::Command;
use support::daemon::{DaemonCommand, wait_for_store};
use support::docker::{RemoveContainers, TEST_IMAGE, docker_ready, unique_suffix};

const READ_TOKEN: &str = "dashboard-read-token-0123456789";
const PROPOSE_TOKEN: &str = "dashboard-propose-token-0123456789";

/// Python with Selenium, chromium and chromedriver, or a loud skip.
fn browser_or_skip(test: &str) -> Option<(std::path::PathBuf, String, String)> {
    let python = support::tool("python")?;
    let selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    let chromium = support::tool("chromium");
    let driver = support::tool("chromedriver");
    match (selenium, chromium, driver) {
        (true, Some(c), Some(d)) => {
            Some((python, c.display().to_string(), d.display().to_string()))
        }
        _ => {
            support::skip(
                test,
                "needs selenium (tests/support/install-tools.sh) and chromium + chromedriver (tests/support/install-browser.sh)",
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uses_the_dashboard_in_a_real_browser() {
    let test = "an_operator_uses_the_dashboard_in_a_real_browser";
    let Some((python, chromium, chromedriver)) = browser_or_skip(test) else {
        return;
    };
    if !docker_ready(test) {
        return;
    }
    let name = format!("dash-{}", unique_suffix());
    let _cleanup = RemoveContainers(name.clone());
    let definition = support::docker::container_definition(&name, TEST_IMAGE, false)
        .replace("apply: auto", "apply: manual");
    let repo = support::repo_with(&[(&name, definition)]);
    // A hostile commit message: shown as text, never run.
    support::git(
        repo.path(),
        &[
            "commit",
            "--allow-empty",
            "-qm",
            "Deploy <script>alert('x')</script> & <img src=x onerror=alert(1)>",
        ],
    );
    let first = support::git(repo.path(), &["rev-parse", "HEAD"]);
    let state = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let daemon = DaemonCommand::new(state.path())
        .repo(repo.path())
        .database(&db)
        .env("HOMELABD_MCP_TOKEN", PROPOSE_TOKEN)
        .env("HOMELABD_MCP_READ_TOKEN", READ_TOKEN)
        .spawn();
    daemon.wait_healthy(30).await;
    wait_for_store(
        &db,
        &daemon,
        60,
        "the first pass",
        async |s: &Store| s.resource(&name).await.ok().flatten(),
        |r| r.state == homelabd::reconcile::ResourceState::Rendered,
    )
    .await;

    // A pull request the daemon previewed (previews are made and recorded by the daemon
    // in tests/preview.rs; here only how the page shows one matters).
    let store = Store::connect(&db).await.unwrap();
    store
        .record_preview(
            &PreviewRecord {
                pull: 7,
                head: first.clone(),
                base: Some(first.clone()),
                status: PreviewStatus::Valid,
                summary: "valid: 1 created, 0 changed, 0 removed, 1 unchanged".into(),
                created: 1,
                changed: 0,
                removed: 0,
                errors: 0,
                pr_url: Some("https://github.com/example/homelab/pull/7".into()),
                reported: true,
                previewed_at: chrono::Utc::now(),
            },
            &AuditRecord {
                at: chrono::Utc::now(),
                actor: "daemon".into(),
                action: "preview.recorded".into(),
                subject: "pull/7".into(),
                details: json!({}),
            },
        )
        .await
        .unwrap();

    let keep = std::env::var("HOMELABD_SCREENSHOTS").is_ok_and(|v| v == "1");
    let shots_tmp = tempfile::tempdir().unwrap();
    let shots = if keep {
        support::root().join("docs/screenshots")
    } else {
        shots_tmp.path().to_owned()
    };
    let config = json!({
        "url": daemon.url(""),
        "read_token": READ_TOKEN,
        "propose_token": PROPOSE_TOKEN,
        "repo": repo.path(),
        "resource": name,
        "first_commit": first,
        "screenshots": shots,
        "chromium": chromium,
        "chromedriver": chromedriver,
    });
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(support::root().join("tests/dashboard/browser.py"))
            .arg(file.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("SE_AVOID_STATS", "true")
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser steps failed\n{stdout}\nstderr:\n{}\ndaemon log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        daemon.log()
    );
    assert!(stdout.contains("all steps passed"), "{stdout}");

    // The store holds exactly what the browser asked for: one apply, by the propose
    // token; the refused and forged posts left nothing.
    let requested = store
        .audit_page(
            &AuditFilter {
                action: Some("apply.requested".into()),
                ..Default::default()
            },
            0,
            50,
        )
        .await
        .unwrap();
    assert_eq!(requested.total, 1, "{:?}", requested.items);
    assert_eq!(requested.items[0].record.actor, "ui:env");
    assert_eq!(requested.items[0].record.subject, name);
    let reconciles = store
        .audit_page(
            &AuditFilter {
                action: Some("reconcile.requested".into()),
                ..Default::default()
            },
            0,
            50,
        )
        .await
        .unwrap();
    assert_eq!(reconciles.total, 0, "{:?}", reconciles.items);
    let runs = store.apply_runs(Some(&name), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].state, homelabd::store::RunState::Succeeded);
    assert_eq!(support::docker::project_containers(&name).len(), 1);
    for page in [
        "login",
        "overview",
        "resources",
        "pools",
        "proposals",
        "audit",
        "notifications",
        "resource",
        "overview-phone",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot of {page}"
        );
    }
}
