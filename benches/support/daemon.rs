//! A `homelabd daemon` process for the benchmarks: a generated repository made a git
//! repository, the daemon on it with SQLite and manual applies, and its memory from
//! `/proc`.
// Each bench uses a part of it.
#![allow(dead_code)]

use homelabd::store::Store;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `git` in `dir` with a bench identity; panics unless it succeeds.
pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?}");
}

/// Makes `dir` a repository whose `main` has everything in one commit.
pub fn init_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "init"]);
}

/// The commit id of `HEAD` in `dir`.
pub fn head(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `homelabd daemon` on `repo` with its state (and SQLite database) in `state`; the config
/// and the log sit next to it (`state.toml`, `state.log`).
pub fn start(repo: &Path, state: &Path) -> Kill {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = state.with_extension("toml");
    // Manual applies: the benches measure reconciling, not docker or terraform.
    std::fs::write(
        &config,
        "[reconcile]\nresync_schedule = \"0 0 1 1 *\"\n[policy]\napply = \"manual\"\n",
    )
    .unwrap();
    Kill(
        Command::new(env!("CARGO_BIN_EXE_homelabd"))
            .args(["daemon", "--config"])
            .arg(&config)
            .arg("--repo")
            .arg(repo)
            .arg("--state-dir")
            .arg(state)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("HOMELABD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(state.with_extension("log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// The SQLite URL of the daemon started on `state`.
pub fn sqlite_url(state: &Path) -> String {
    format!("sqlite://{}", state.join("homelabd.db").display())
}

/// Waits (up to 10 minutes, polling every `poll`) until the store at `url` records `commit`.
pub async fn wait_revision(url: &str, commit: &str, poll: Duration) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let store = loop {
        if let Ok(s) = Store::connect(url).await {
            break s;
        }
        tokio::time::sleep(poll).await;
    };
    while Instant::now() < deadline {
        if let Ok(Some(r)) = store.latest_revision().await
            && r.commit == commit
        {
            return;
        }
        tokio::time::sleep(poll).await;
    }
    panic!("revision {commit} never recorded");
}

/// A memory figure of process `pid` from `/proc/PID/status` in MiB (`VmRSS`: now,
/// `VmHWM`: the peak so far); 0 when the process is gone.
pub fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The `p` quantile (0..=1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
