//! The sd_notify wrapper against a real notification socket.
//!
//! The crate forbids `unsafe`, so this test cannot `set_var` in its own process: it binds
//! a datagram socket, re-runs this test binary as a child with `NOTIFY_SOCKET` (and
//! `WATCHDOG_USEC`) in the child's environment, and reads what the child sent.

use homelabd::control::notify;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

/// Set in the child's environment to choose what it does.
const CHILD_MODE: &str = "HOMELABD_SD_NOTIFY_CHILD";

#[test]
fn notifies_systemd() {
    match std::env::var(CHILD_MODE).as_deref() {
        Ok("send") => return child_send(),
        Ok("unset") => return child_unset(),
        _ => {}
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind datagram socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");

    run_child("send", |cmd| {
        cmd.env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "2000000")
            .env_remove("WATCHDOG_PID");
    });

    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..5 {
        let n = sock.recv(&mut buf).expect("datagram from child");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(got[0], "READY=1\n");
    assert_eq!(got[1], "STATUS=reconciled abc123 (3 resources)\n");
    assert_eq!(got[2], "WATCHDOG=1\n");
    assert!(
        got[3].starts_with("RELOADING=1\n") && got[3].contains("MONOTONIC_USEC="),
        "{:?}",
        got[3]
    );
    assert_eq!(got[4], "STOPPING=1\n");
    sock.set_nonblocking(true).expect("nonblocking");
    assert!(sock.recv(&mut buf).is_err(), "no more datagrams expected");

    run_child("unset", |cmd| {
        cmd.env_remove("NOTIFY_SOCKET")
            .env("WATCHDOG_USEC", "2000000");
    });
}

/// Runs this test in a child process with `mode` and the environment `env` sets up.
fn run_child(mode: &str, env: impl FnOnce(&mut Command)) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "notifies_systemd",
        "--test-threads=1",
        "--nocapture",
    ])
    .env(CHILD_MODE, mode);
    env(&mut cmd);
    let out = cmd.output().expect("run child");
    assert!(
        out.status.success(),
        "child {mode} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest exits 0 when the filter matches nothing, so make sure the test really ran.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child {mode} did not run the test"
    );
}

/// With `NOTIFY_SOCKET` and `WATCHDOG_USEC=2000000`: sends one datagram per call.
fn child_send() {
    assert_eq!(notify::watchdog_interval(), Some(Duration::from_secs(1)));
    notify::ready();
    notify::status("reconciled abc123\n(3 resources)");
    notify::watchdog();
    notify::reloading();
    notify::stopping();
}

/// Without `NOTIFY_SOCKET`: everything is a no-op, and there is no watchdog to ping.
fn child_unset() {
    assert_eq!(notify::watchdog_interval(), None);
    notify::ready();
    notify::status("nothing listens");
    notify::watchdog();
    notify::stopping();
}
