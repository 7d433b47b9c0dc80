//! A real `homelabd daemon` process for the integration tests: started on a free port
//! with its stderr in a log file, and killed (SIGKILL) when dropped, so a failing test
//! never leaves a daemon behind. Also the polling helpers that show that log when a
//! wait times out.

use homelabd::store::Store;
use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// How to start a daemon: `homelabd daemon --state-dir STATE --listen 127.0.0.1:PORT`
/// on a free port, `HOMELABD_LOG=info`, no `NOTIFY_SOCKET` (a test is no systemd unit),
/// stdout discarded and stderr appended to `STATE/daemon.log` unless [`Self::log_file`]
/// says otherwise. Add arguments and environment, then [`Self::spawn`].
pub struct DaemonCommand {
    command: Command,
    state: PathBuf,
    log: PathBuf,
    port: u16,
}

impl DaemonCommand {
    pub fn new(state: &Path) -> DaemonCommand {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_homelabd"));
        command
            .arg("daemon")
            .arg("--state-dir")
            .arg(state)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("HOMELABD_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null());
        DaemonCommand {
            command,
            state: state.to_owned(),
            log: state.join("daemon.log"),
            port,
        }
    }

    /// `--repo REPO`: a local path or a remote URL.
    pub fn repo(mut self, repo: impl AsRef<OsStr>) -> Self {
        self.command.arg("--repo").arg(repo);
        self
    }

    /// `--database-url URL`.
    pub fn database(mut self, url: &str) -> Self {
        self.command.args(["--database-url", url]);
        self
    }

    /// Writes `text` to `STATE/config.toml` (creating STATE) and passes `--config`.
    pub fn config(mut self, text: &str) -> Self {
        std::fs::create_dir_all(&self.state).unwrap();
        let path = self.state.join("config.toml");
        std::fs::write(&path, text).unwrap();
        self.command.arg("--config").arg(path);
        self
    }

    /// Logs to `path` instead of `STATE/daemon.log`.
    pub fn log_file(mut self, path: &Path) -> Self {
        self.log = path.to_owned();
        self
    }

    /// Further arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.command.args(args);
        self
    }

    /// Sets an environment variable (a later one wins, so this overrides the defaults).
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Removes an environment variable the test process may have.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Starts the process; its log's directory is created if missing.
    pub fn spawn(mut self) -> Daemon {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self.command.stderr(log_file).spawn().expect("start daemon");
        Daemon {
            child,
            log: self.log,
            port: self.port,
        }
    }
}

/// A running `homelabd daemon`, killed with SIGKILL when dropped.
pub struct Daemon {
    pub child: Child,
    /// The file its stderr goes to.
    pub log: PathBuf,
    /// The HTTP listener's port.
    pub port: u16,
}

impl Daemon {
    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The process id, as the store records it.
    pub fn pid(&self) -> i64 {
        i64::from(self.child.id())
    }

    /// SIGKILL, and reaps the process.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the daemon has logged so far (empty before the file exists).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `secs` for `/healthz` to answer with success.
    pub async fn wait_healthy(&self, secs: u64) {
        let url = self.url("/healthz");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(r) = super::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "not listening\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of the Prometheus sample `name` on `/metrics`, if served.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let body = super::get(self.url("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        body.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls the store at `url` (connecting afresh each time, so a database outage is only
/// a missed poll) until `check` holds for what `read` returns; panics after `secs` with
/// the last state read and the daemon's log.
pub async fn wait_for_store<T: Debug>(
    url: &str,
    daemon: &Daemon,
    secs: u64,
    what: &str,
    read: impl AsyncFn(&Store) -> Option<T>,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(store) = Store::connect(url).await
            && let Some(s) = read(&store).await
        {
            if check(&s) {
                return s;
            }
            last = Some(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {what}\nlast: {last:#?}\ndaemon log:\n{}",
        daemon.log()
    );
}

/// Polls `done` every 100 ms; panics after `secs` naming `what`, with the daemon's log.
pub async fn wait_until(daemon: &Daemon, secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
