//! Shared setup of the MCP tests: the example homelab as a real git repository (two
//! commits, a bare repository as its `origin`), the real `homelabd daemon` with MCP
//! tokens, and the Python MCP SDK from the project's tool virtualenv.
#![allow(dead_code)]

use super::support;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The token with the propose scope every daemon here accepts.
pub const PROPOSE_TOKEN: &str = "propose-token-0123456789";
/// The token with the read scope every daemon here accepts.
pub const READ_TOKEN: &str = "read-token-0123456789";
/// An `[mcp]` section whose rate limit no functional test reaches.
pub const GENEROUS_LIMITS: &str = "[mcp]\nrate_limit_per_minute = 60000\nrate_limit_burst = 5000\nproposal_rate_limit_per_minute = 6000\nproposal_rate_limit_burst = 500\n";

/// The example homelab in a git repository with two commits, and a bare `origin`.
pub struct Homelab {
    pub dir: tempfile::TempDir,
    /// The working repository (branch `main`).
    pub repo: PathBuf,
    /// A bare repository proposals are pushed to.
    pub bare: PathBuf,
    /// The first commit: the example as shipped.
    pub first: String,
    /// The second commit (the head): jenkins moves to another cost center.
    pub head: String,
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Homelab {
    pub fn new() -> Homelab {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("homelab");
        support::copy_tree(&support::example_repo(), &repo);
        git(&repo, &["init", "-q", "-b", "main"]);
        let first = support::git_commit_all(&repo, "the example homelab");
        let jenkins = repo.join("definitions/ci/jenkins.yaml");
        let text = std::fs::read_to_string(&jenkins).unwrap();
        assert!(
            text.contains("cost_center: engineering"),
            "jenkins.yaml changed: {text}"
        );
        std::fs::write(
            &jenkins,
            text.replacen("cost_center: engineering", "cost_center: platform", 1),
        )
        .unwrap();
        let head = support::git_commit_all(&repo, "jenkins: cost center platform");
        let bare = dir.path().join("origin.git");
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        git(&repo, &["remote", "add", "origin", bare.to_str().unwrap()]);
        git(&repo, &["push", "-q", "origin", "main"]);
        Homelab {
            dir,
            repo,
            bare,
            first,
            head,
        }
    }

    /// Branch name → commit id of `git_dir`.
    pub fn branches(git_dir: &Path) -> Vec<(String, String)> {
        let out = git(
            git_dir,
            &[
                "for-each-ref",
                "--format=%(refname:short) %(objectname)",
                "refs/heads",
            ],
        );
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(b, c)| (b.to_owned(), c.to_owned()))
            .collect()
    }
}

/// The Python interpreter of the tool virtualenv with the `mcp` SDK, or `None` (the
/// caller skips) when it cannot be installed here.
pub fn python() -> Option<PathBuf> {
    let python = support::tool("python")?;
    let ok = Command::new(&python)
        .args(["-c", "import mcp, httpx2"])
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(python)
}

/// Runs `tests/mcp/<script>` with `config` (written to a JSON file passed as the one
/// argument); returns (success, stdout, stderr).
pub fn run_script(
    python: &Path,
    script: &str,
    config: &serde_json::Value,
) -> (bool, String, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(config).unwrap()).unwrap();
    let out = Command::new(python)
        .arg(support::root().join("tests/mcp").join(script))
        .arg(file.path())
        .env("PYTHONPATH", support::root().join("tests/mcp"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `calls` (`[{name, arguments}]`) over one streamable-HTTP session of the modern
/// protocol with `token` (tests/mcp/calls.py); one answer per call.
pub async fn http_calls(
    python: &Path,
    daemon: &Daemon,
    token: &str,
    calls: serde_json::Value,
) -> Vec<serde_json::Value> {
    let config = serde_json::json!({
        "transport": "http", "era": "modern", "url": daemon.url("/mcp"), "token": token,
        "calls": calls,
    });
    let python = python.to_path_buf();
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || run_script(&python, "calls.py", &config))
            .await
            .unwrap();
    assert!(ok, "calls.py failed\nstdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Polls the inventory `store` recorded for `source` (items marked gone included) every
/// 200 ms until `done` holds; panics after `secs` with what was recorded and the log.
pub async fn wait_for_inventory(
    store: &homelabd::store::Store,
    daemon: &Daemon,
    source: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&[homelabd::store::InventoryRecord]) -> bool,
) -> Vec<homelabd::store::InventoryRecord> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let rows = store.inventory(Some(source), true).await.unwrap();
        if done(&rows) {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not recorded within {secs} s\nrows: {:#?}\nlog:\n{}",
            rows.iter()
                .map(|r| (&r.item.key, &r.item.name, r.gone_at))
                .collect::<Vec<_>>(),
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A running `homelabd daemon`, killed when dropped.
pub struct Daemon {
    child: Child,
    pub port: u16,
    pub state: tempfile::TempDir,
    log: PathBuf,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Daemon {
    /// Starts the daemon on `repo` with `config` appended to a config that keeps every
    /// resource from being applied, and the two test tokens in the environment.
    pub fn start(repo: &Path, config: &str, env: &[(&str, &str)]) -> Daemon {
        let state = tempfile::tempdir().unwrap();
        let port = free_port();
        let config_path = state.path().join("config.toml");
        std::fs::write(
            &config_path,
            format!("[policy]\napply = \"manual\"\n\n{config}"),
        )
        .unwrap();
        let log = state.path().join("daemon.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_homelabd"));
        cmd.args(["daemon", "--config"])
            .arg(&config_path)
            .arg("--repo")
            .arg(repo)
            .arg("--state-dir")
            .arg(state.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("HOMELABD_LOG", "info")
            .env("HOMELABD_MCP_TOKEN", PROPOSE_TOKEN)
            .env("HOMELABD_MCP_READ_TOKEN", READ_TOKEN)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let daemon = Daemon {
            child: cmd.spawn().expect("start homelabd daemon"),
            port,
            state,
            log,
        };
        daemon.wait_ready();
        daemon
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn database_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.state.path().join("homelabd.db").display()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's state directory (rendered configs, work directories, database).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Waits for `/readyz` 200: the first pass is recorded.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ready = std::net::TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .and_then(|mut s| {
                    use std::io::{Read, Write};
                    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    s.write_all(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                        .ok()?;
                    let mut buf = String::new();
                    s.read_to_string(&mut buf).ok()?;
                    Some(buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200"))
                })
                .unwrap_or(false);
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("daemon not ready within 60 s:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
