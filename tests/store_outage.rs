//! The daemon starts while another process holds its database's lock: it renders
//! meanwhile, and once the database is free the rendered resources are applied on the same
//! commit — no new commit or forced pass needed.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::daemon::DaemonCommand;
use support::docker::container_definition;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_rendered_while_the_database_was_locked_are_applied_once_it_is_free() {
    let test = "resources_rendered_while_the_database_was_locked_are_applied_once_it_is_free";
    if !support::docker::engine_ready() {
        return support::skip(test, "no Docker engine (the docker executor needs one)");
    }
    let Some(python) = support::tool("python3") else {
        return support::skip(test, "no python3 to hold the database's lock");
    };
    let repo = tempfile::tempdir().unwrap();
    support::example_basics(repo.path());
    support::write(
        repo.path(),
        "definitions/outage-app.yaml",
        &container_definition("outage-app", "busybox:1", false),
    );
    support::git_commit_all(repo.path(), "one container");
    let state = tempfile::tempdir().unwrap();
    let db = state.path().join("homelabd.db");
    // Another process holds the database's write lock while the daemon starts, so its
    // migration fails with "database is locked" and the store is away for a while.
    let mut holder = Command::new(python)
        .args([
            "-c",
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n",
        ])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    // A compose command that only leaves a mark: the test is about when the apply runs.
    let marker = state.path().join("applied");
    let config = format!(
        "[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n\
         [executors.docker]\ncompose_command = [\"sh\", \"-c\", \"echo applied >> {}\", \"x\"]\n",
        marker.display()
    );
    let daemon = DaemonCommand::new(state.path())
        .database(&format!("sqlite://{}", db.display()))
        .repo(repo.path())
        .config(&config)
        .env("HOMELABD_LOG", "info")
        .spawn();
    support::daemon::wait_until(
        &daemon,
        60,
        "the first pass rendered without the store",
        || {
            let log = daemon.log();
            log.contains("store unavailable") && log.contains("reconciled")
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !marker.exists(),
        "nothing is applied while the store is away (its run could not be recorded)\n{}",
        daemon.log()
    );
    drop(holder.stdin.take()); // the holder reads EOF, exits and releases the lock
    holder.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(45);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "the rendered resource was not applied once the store was back\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
