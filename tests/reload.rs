//! SIGHUP against the real binary: every changed section is either applied or reported as
//! waiting for a restart (in the log and in `/readyz`), and the backoff limits reach all
//! three backoffs.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::daemon::{Daemon, DaemonCommand};

fn config(repo: &std::path::Path, extra: &str) -> String {
    format!(
        "[source]\nrepo = {:?}\npoll_interval_seconds = 3600\n\
         [reconcile]\nbackoff_base_seconds = 5\nbackoff_max_seconds = 600\n{extra}",
        repo.display()
    )
}

fn hup(daemon: &Daemon) {
    let ok = Command::new("kill")
        .args(["-HUP", &daemon.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP");
}

/// Waits until the log holds `n` lines containing `needle`; returns the last.
async fn log_line(daemon: &Daemon, needle: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = daemon.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
        if lines.len() >= n {
            return lines[n - 1].to_owned();
        }
        assert!(Instant::now() < deadline, "no {needle:?} (#{n})\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A read-scope MCP token: `/readyz` shows `restart_required` only to a token holder.
const READ_TOKEN: &str = "reload-read-token-0123456789";

async fn readyz(daemon: &Daemon) -> serde_json::Value {
    support::get_with_token(daemon.url("/readyz"), READ_TOKEN)
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Regression: SIGHUP logged "configuration reloaded" while changes to `[executors]`,
/// `[proxmox]`, `[mcp]` and `[propose]` were silently ignored, and the apply backoff kept
/// its old limits.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reports_sections_needing_a_restart_and_moves_every_backoff() {
    let repo = support::repo_with(&[]);
    let state = tempfile::tempdir().unwrap();
    let daemon = DaemonCommand::new(state.path())
        .config(&config(repo.path(), ""))
        .env("HOMELABD_MCP_READ_TOKEN", READ_TOKEN)
        .spawn();
    daemon.wait_healthy(30).await;
    // The first load is done: the signal handlers are installed long before.
    log_line(&daemon, "reconciled", 1).await;

    let path = state.path().join("config.toml");
    let changed = config(repo.path(), "parallelism = 3\n")
        .replace("backoff_base_seconds = 5", "backoff_base_seconds = 2")
        .replace("backoff_max_seconds = 600", "backoff_max_seconds = 30")
        + "[executors]\ntimeout_seconds = 7\n\
           [proxmox]\nurl = \"https://pve.invalid:8006\"\ntoken_id = \"a@pve!b\"\n\
           [mcp]\nread_only = true\n\
           [propose]\nauthor_name = \"someone else\"\n";
    std::fs::write(&path, changed).unwrap();
    hup(&daemon);
    let restart = log_line(&daemon, "take effect only after a restart", 1).await;
    for section in ["propose", "executors", "proxmox", "mcp"] {
        assert!(
            restart.contains(section),
            "{section} not reported: {restart}"
        );
    }
    let applied = log_line(&daemon, "configuration reloaded except", 1).await;
    for key in [
        "reconcile.parallelism",
        "reconcile.backoff_base_seconds",
        "reconcile.backoff_max_seconds",
    ] {
        assert!(applied.contains(key), "{key} not reported: {applied}");
    }
    let limits = log_line(&daemon, "settings reloaded", 1).await;
    for backoff in ["render_backoff", "apply_backoff", "git_backoff"] {
        assert!(
            limits.contains(&format!("{backoff}=2s..30s")),
            "{backoff} keeps stale limits: {limits}"
        );
    }
    assert_eq!(
        readyz(&daemon).await["restart_required"],
        serde_json::json!(["propose", "executors", "proxmox", "mcp"])
    );

    // Back to the file the daemon started with: nothing waits for a restart any more.
    std::fs::write(&path, config(repo.path(), "")).unwrap();
    hup(&daemon);
    log_line(&daemon, "settings reloaded", 2).await;
    assert_eq!(
        readyz(&daemon).await["restart_required"],
        serde_json::json!([])
    );
}
