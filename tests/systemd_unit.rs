//! The systemd contract with the real binary: `Type=notify` (READY=1 after the first full
//! load, STATUS=, WATCHDOG=1 pings, STOPPING=1 on SIGTERM and a clean exit), and the
//! shipped unit passes `systemd-analyze verify`.

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_daemon_speaks_sd_notify_and_stops_cleanly_on_sigterm() {
    let repo = support::example_copy();
    support::git_commit_all(repo.path(), "homelab");
    let tmp = tempfile::tempdir().unwrap();
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["daemon", "--repo"])
        .arg(repo.path())
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let receive_until = |want: &str, seen: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                seen.push(msg.clone());
                if msg.lines().any(|l| l == want) {
                    return;
                }
            }
        }
        panic!("never received {want}; got {seen:?}");
    };
    receive_until("READY=1", &mut seen);
    receive_until("WATCHDOG=1", &mut seen);
    assert!(seen.iter().any(|m| m.starts_with("STATUS=")), "{seen:?}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    receive_until("STOPPING=1", &mut seen);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "a graceful stop exits 0");
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let Some(analyze) = support::tool("systemd-analyze") else {
        return support::skip("systemd-analyze verify", "systemd-analyze is not installed");
    };
    // verify checks that ExecStart exists: point it at the binary under test.
    let unit = std::fs::read_to_string(support::root().join("systemd/homelabd.service")).unwrap();
    let unit = unit.replace("/usr/local/bin/homelabd", env!("CARGO_BIN_EXE_homelabd"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homelabd.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify:\n{text}");
    let relevant: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("homelabd.service"))
        .collect();
    assert!(
        relevant.is_empty(),
        "warnings about the unit:\n{}",
        relevant.join("\n")
    );
}

/// The allocator's settings are part of the binary, not of the unit: started any way at
/// all (here with a bare environment, as `cargo run` would), the daemon returns memory
/// freed after a pass to the OS within a second.
#[test]
fn memory_is_returned_to_the_os_however_the_binary_is_started() {
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .arg("--version")
        .env_clear()
        // Asks jemalloc to print its settings at exit; it overrides nothing else.
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .unwrap();
    let stats =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    for setting in [
        "opt.background_thread: true",
        "opt.dirty_decay_ms: 1000",
        "opt.muzzy_decay_ms: 0",
    ] {
        assert!(
            stats.contains(setting),
            "{setting} missing from jemalloc's settings:\n{}",
            stats.lines().take(40).collect::<Vec<_>>().join("\n")
        );
    }
    let unit = std::fs::read_to_string(support::root().join("systemd/homelabd.service")).unwrap();
    assert!(
        !unit.contains("MALLOC_CONF"),
        "the unit should not need allocator settings of its own"
    );
}
