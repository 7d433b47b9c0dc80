//! The systemd watchdog proves progress: a real `homelabd daemon` under a fake
//! `NOTIFY_SOCKET` (a unix datagram socket this test reads) with `WATCHDOG_USEC=1000000`
//! pings `WATCHDOG=1` about every half second while its loop is idle and awake, and stops
//! pinging while the loop is stuck (the debug build's `HOMELABD_DEBUG_STALL_LOOP` hook
//! blocks the loop's worker thread), so systemd would restart it; the pings resume when
//! the loop does.

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};
use support::daemon::DaemonCommand;

/// Runs a daemon for `secs` seconds with `stall` (`AFTER,FOR`, or none) and returns the
/// times (since the socket was bound) of its `READY=1` and `WATCHDOG=1` datagrams, and
/// its log.
fn watch(stall: Option<&str>, secs: u64) -> (Option<Duration>, Vec<Duration>, String) {
    let repo = support::repo_with(&[]);
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("notify.sock");
    let sock = UnixDatagram::bind(&socket).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut command = DaemonCommand::new(state.path())
        .repo(repo.path())
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID");
    if let Some(stall) = stall {
        command = command.env("HOMELABD_DEBUG_STALL_LOOP", stall);
    }
    let daemon = command.spawn();
    let start = Instant::now();
    let (mut ready, mut pings) = (None, Vec::new());
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(secs) {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.starts_with("READY=1") && ready.is_none() {
                ready = Some(start.elapsed());
            }
            if text.starts_with("WATCHDOG=1") {
                pings.push(start.elapsed());
            }
        }
    }
    (ready, pings, daemon.log())
}

/// The longest silence between consecutive pings after `from`.
fn longest_gap(pings: &[Duration], from: Duration) -> Duration {
    pings
        .windows(2)
        .filter(|w| w[0] >= from)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

#[test]
fn watchdog_pings_stop_while_the_loop_is_stuck_and_resume_after() {
    // The loop starts stalling 3 s after its first pass, for 4 s.
    let (ready, pings, log) = watch(Some("3,4"), 11);
    let ready = ready.unwrap_or_else(|| panic!("no READY=1\n{log}"));
    assert!(log.contains("debug hook: stalling the loop"), "{log}");
    let gap = longest_gap(&pings, ready);
    assert!(
        gap >= Duration::from_millis(2500),
        "pings went on while the loop was stuck: longest gap {gap:?}, pings {pings:?}\n{log}"
    );
    let last = pings.last().copied().unwrap_or_default();
    assert!(
        last > ready + Duration::from_secs(7),
        "pings did not resume after the stall: {pings:?}\n{log}"
    );
    assert!(
        log.contains("no progress: the systemd watchdog is no longer pinged"),
        "{log}"
    );
    assert!(log.contains("watchdog pings resume"), "{log}");
}

#[test]
fn an_idle_daemon_pings_about_every_half_second() {
    let (ready, pings, log) = watch(None, 5);
    let ready = ready.unwrap_or_else(|| panic!("no READY=1\n{log}"));
    let after: Vec<_> = pings.iter().filter(|p| **p >= ready).collect();
    assert!(after.len() >= 4, "{pings:?}\n{log}");
    let gap = longest_gap(&pings, ready);
    assert!(
        gap < Duration::from_millis(1500),
        "{gap:?} {pings:?}\n{log}"
    );
    assert!(!log.contains("no progress"), "{log}");
}
