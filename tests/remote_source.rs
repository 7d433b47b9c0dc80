//! A remote repository (a real bare repository over `file://`): mirrored and fetched, a
//! signed webhook triggers a fetch at once, a force-push with rewritten history is
//! followed, and an unreachable remote keeps the last good revision and says so.

mod support;

use homelabd::store::Store;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::daemon::{Daemon, DaemonCommand};
use support::git;

fn rev(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn recorded(url: &str) -> Option<String> {
    let store = Store::connect(url).await.ok()?;
    store.latest_revision().await.ok()?.map(|r| r.commit)
}

async fn wait_revision(url: &str, want: &str, secs: u64, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if recorded(url).await.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "revision {want} not recorded\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Makes `bare` a bare repository whose `main` holds the example homelab, pushed from
/// the working repository `work` (created here).
fn example_remote(bare: &Path, work: &Path) {
    let parent = bare.parent().expect("bare repository has a parent");
    git(
        parent,
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    support::copy_tree(&support::example_repo(), work);
    git(work, &["init", "-q", "-b", "main"]);
    git(work, &["add", "-A"]);
    git(work, &["commit", "-q", "-m", "homelab"]);
    git(work, &["push", "-q", bare.to_str().unwrap(), "main"]);
}

/// Starts `homelabd daemon ARGS --state-dir STATE --listen 127.0.0.1:<free port>` with
/// `env`, logging to `log`; the process is killed on drop.
fn start_daemon(args: &[&str], state: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
    env.iter()
        .fold(
            DaemonCommand::new(state).args(args).log_file(log),
            |command, (key, value)| command.env(key, value),
        )
        .spawn()
}

fn sign(secret: &str, ts: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_is_mirrored_followed_through_force_pushes_and_survives_outages() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("homelab.git");
    let work = tmp.path().join("work");
    example_remote(&bare, &work);
    let first = rev(&work);

    let state = tmp.path().join("state");
    let config = tmp.path().join("config.toml");
    // A long poll interval: only the webhook can explain a quick fetch.
    std::fs::write(
        &config,
        format!(
            "[source]\nrepo = \"file://{}\"\npoll_interval_seconds = 3600\n",
            bare.display()
        ),
    )
    .unwrap();
    let log = tmp.path().join("daemon.log");
    let daemon = start_daemon(
        &["--config", config.to_str().unwrap()],
        &state,
        &log,
        &[
            ("HOMELABD_WEBHOOK_SECRET", "s3cret-0123456789"),
            ("HOMELABD_MCP_READ_TOKEN", "remote-read-token-0123456789"),
        ],
    );
    let port = daemon.port;
    let url = format!("sqlite://{}", state.join("homelabd.db").display());
    wait_revision(&url, &first, 60, &log).await;
    assert!(
        state.join("repo.git").join("HEAD").exists(),
        "mirrored into the state dir"
    );

    // Rewrite history: a new root commit, force-pushed. A signed webhook makes the
    // daemon fetch at once.
    git(&work, &["checkout", "-q", "--orphan", "rewritten"]);
    std::fs::remove_file(work.join("definitions/apps/uptime-kuma.yaml")).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "rewritten history"]);
    git(
        &work,
        &[
            "push",
            "-q",
            "--force",
            bare.to_str().unwrap(),
            "rewritten:main",
        ],
    );
    let rewritten = rev(&work);
    let ts = chrono::Utc::now().timestamp().to_string();
    let body = "{\"ref\":\"refs/heads/main\"}";
    let resp = support::http_client()
        .post(format!("http://127.0.0.1:{port}/hooks/generic"))
        .header("X-Homelabd-Timestamp", &ts)
        .header("X-Homelabd-Signature", sign("s3cret-0123456789", &ts, body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    wait_revision(&url, &rewritten, 20, &log).await;
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store.resource("uptime-kuma").await.unwrap().unwrap().state,
        homelabd::reconcile::ResourceState::Orphaned
    );

    // The remote disappears: the last good revision stays, status and metrics say why.
    std::fs::rename(&bare, tmp.path().join("gone.git")).unwrap();
    let unsigned = support::http_client()
        .post(format!("http://127.0.0.1:{port}/hooks/generic"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        unsigned.status().as_u16(),
        401,
        "unsigned webhooks are refused"
    );
    let ts = chrono::Utc::now().timestamp().to_string();
    support::http_client()
        .post(format!("http://127.0.0.1:{port}/hooks/generic"))
        .header("X-Homelabd-Timestamp", &ts)
        .header("X-Homelabd-Signature", sign("s3cret-0123456789", &ts, "{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut metrics = String::new();
    while Instant::now() < deadline {
        metrics = support::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("homelabd_git_source_up 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metrics.contains("homelabd_git_source_up 0"), "{metrics}");
    let ready = support::get_with_token(
        format!("http://127.0.0.1:{port}/readyz"),
        "remote-read-token-0123456789",
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(ready.contains("git_error"), "{ready}");
    assert_eq!(
        recorded(&url).await.as_deref(),
        Some(rewritten.as_str()),
        "last good revision kept"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("git source unavailable; keeping the last good revision"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret"),
        "the webhook secret never reaches the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_a_new_poll_interval_and_refuses_a_broken_config() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("homelab.git");
    let work = tmp.path().join("work");
    example_remote(&bare, &work);
    let state = tmp.path().join("state");
    let config = tmp.path().join("config.toml");
    let write_config = |poll: u64| {
        std::fs::write(
            &config,
            format!(
                "[source]\nrepo = \"file://{}\"\npoll_interval_seconds = {poll}\n",
                bare.display()
            ),
        )
        .unwrap();
    };
    write_config(3600);
    let log = tmp.path().join("daemon.log");
    let daemon = start_daemon(&["--config", config.to_str().unwrap()], &state, &log, &[]);
    let url = format!("sqlite://{}", state.join("homelabd.db").display());
    wait_revision(&url, &rev(&work), 60, &log).await;
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &daemon.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    // A broken config is refused and the daemon keeps running.
    std::fs::write(&config, "[source]\nrepo = 42\n").unwrap();
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("configuration invalid; keeping the running one")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A one-second poll interval takes effect without a restart: a push is noticed
    // with no webhook at all.
    write_config(1);
    hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("configuration reloaded")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::remove_file(work.join("definitions/apps/uptime-kuma.yaml")).unwrap();
    git(&work, &["commit", "-q", "-am", "drop uptime-kuma"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    wait_revision(&url, &rev(&work), 15, &log).await;
}

/// The same remote served by a real `git daemon` (the `git://` protocol over TCP).
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_served_by_git_daemon_is_tracked() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("served");
    let bare = base.join("homelab.git");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&base).unwrap();
    example_remote(&bare, &work);
    let Some(server) = support::git_daemon::GitDaemon::serve(&base) else {
        return support::skip("git daemon remote", "git daemon cannot be started");
    };
    let state = tmp.path().join("state");
    let log = tmp.path().join("daemon.log");
    let remote = server.url("homelab.git");
    let _daemon = start_daemon(&["--repo", &remote], &state, &log, &[]);
    let url = format!("sqlite://{}", state.join("homelabd.db").display());
    wait_revision(&url, &rev(&work), 60, &log).await;
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.resources().await.unwrap().len(), 9);
}
