//! Failover benchmark: three `homelabd daemon`s on one PostgreSQL, a Docker container
//! resource, and per round: `kill -9` of the leader, then a commit that changes the
//! container. Measured from the kill:
//!
//! - **takeover**: a survivor holds the lease (`cluster_members` shows it as leader);
//! - **applied**: the new commit's apply run succeeded, run by a survivor.
//!
//! The killed daemon is started again (a new process on its state directory) before the
//! next round, so every round starts with three members. The goal (issue: failover) is
//! "applied" under 10 s. Prints min / median / max over the rounds.
//!
//! Needs Docker (the test image from `tests/support/build-test-image.sh`) and the
//! PostgreSQL server binaries (or `DATABASE_URL`).
//!
//! Run: `cargo bench --profile dev --bench failover [-- ROUNDS]` (default 5 rounds);
//! `FAILOVER_LOG=1` prints the survivors' recent log lines after each round.

#[path = "../tests/support/mod.rs"]
mod support;

use homelabd::cluster::LEASE_TTL;
use homelabd::store::{RunState, Store};
use std::path::Path;
use std::time::{Duration, Instant};
use support::daemon::{Daemon, DaemonCommand};
use support::docker::{TEST_IMAGE, container_definition, docker_ready, unique_suffix};

/// How long one round may take before the bench gives up (a failover that never happens).
const ROUND_LIMIT: Duration = Duration::from_secs(120);

fn start(repo: &Path, state: &Path, url: &str, config: &str) -> Daemon {
    DaemonCommand::new(state)
        .repo(repo)
        .database(url)
        .config(config)
        .spawn()
}

/// The definition at round `round`: an environment value changes, so the container is
/// recreated and a new apply run is recorded for the commit. The command stops at once
/// on SIGTERM (the test image's httpd, as PID 1, would ignore it and Docker would wait
/// its 10 s stop timeout on every recreate, which is not failover time).
fn definition(name: &str, round: usize) -> String {
    let command =
        r#"["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;
    container_definition(name, TEST_IMAGE, false).replace(
        "      image:",
        &format!("      env: {{ROUND: \"{round}\"}}\n      command: {command}\n      image:"),
    )
}

/// The pid of the member holding the lease, once there is one.
async fn leader_pid(store: &Store) -> Option<i64> {
    let members = store.cluster_members(LEASE_TTL.as_secs_f64()).await.ok()?;
    members.iter().find(|m| m.leader).map(|m| m.pid)
}

/// Has an apply run of `revision` succeeded?
async fn applied(store: &Store, name: &str, revision: &str) -> bool {
    store.apply_runs(Some(name), 20).await.is_ok_and(|runs| {
        runs.iter()
            .any(|r| r.revision == revision && r.state == RunState::Succeeded)
    })
}

fn summary(label: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return;
    }
    println!(
        "{label:<28} min {:>5.1} s   median {:>5.1} s   max {:>5.1} s   ({n} rounds)",
        values[0],
        values[n / 2],
        values[n - 1]
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let bench = "failover";
    if !docker_ready(bench) {
        return;
    }
    let Some((_pg, url)) = support::store::postgres(bench).await else {
        return;
    };
    let name = format!("failover-{}", unique_suffix());
    let _cleanup = Cleanup(name.clone());
    let repo = support::repo_with(&[(&name, definition(&name, 0))]);
    let config = "[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n";
    let state = tempfile::tempdir().expect("temp dir");
    let dirs: Vec<_> = (0..3).map(|i| state.path().join(format!("d{i}"))).collect();
    let mut daemons: Vec<Daemon> = dirs
        .iter()
        .map(|d| start(repo.path(), d, &url, config))
        .collect();
    let store = Store::connect(&url).await.expect("connect");

    let first = support::git(repo.path(), &["rev-parse", "HEAD"]);
    let deadline = Instant::now() + ROUND_LIMIT;
    while !applied(&store, &name, &first).await {
        assert!(
            Instant::now() < deadline,
            "the first commit was never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (mut takeovers, mut applies) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let Some(pid) = leader_pid(&store).await else {
            panic!("no leader before round {round}");
        };
        let Some(i) = daemons.iter().position(|d| d.pid() == pid) else {
            panic!("the leader (pid {pid}) is not one of this bench's daemons");
        };
        daemons[i].kill9();
        let killed = Instant::now();
        support::write(
            repo.path(),
            &format!("definitions/{name}.yaml"),
            &definition(&name, round),
        );
        let revision = support::git_commit_all(repo.path(), &format!("round {round}"));
        let mut takeover = None;
        loop {
            assert!(killed.elapsed() < ROUND_LIMIT, "round {round}: no failover");
            if takeover.is_none()
                && leader_pid(&store)
                    .await
                    .is_some_and(|p| daemons.iter().any(|d| d.pid() == p && p != pid))
            {
                takeover = Some(killed.elapsed());
            }
            if applied(&store, &name, &revision).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let applied_after = killed.elapsed();
        let takeover = takeover.unwrap_or(applied_after);
        println!(
            "round {round}: takeover {:.1} s, new commit applied {:.1} s after kill -9",
            takeover.as_secs_f64(),
            applied_after.as_secs_f64()
        );
        if std::env::var_os("FAILOVER_LOG").is_some() {
            // Where the time went: the new leader's log since the kill.
            for d in daemons.iter().filter(|d| d.pid() != pid) {
                let log = d.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                println!("--- pid {} ---", d.pid());
                tail.iter().rev().for_each(|l| println!("{l}"));
            }
        }
        takeovers.push(takeover.as_secs_f64());
        applies.push(applied_after.as_secs_f64());
        daemons[i] = start(repo.path(), &dirs[i], &url, config);
        // The restarted member joins as a follower before the next kill.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    println!();
    summary("takeover after kill -9", takeovers);
    summary("new commit applied (goal 10 s)", applies);
}

/// Removes the bench's containers however it ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        support::docker::remove_project(&self.0);
    }
}
