//! Shared helpers for the integration tests: temp repositories, the built binary, and
//! external tools that may be missing (skipped loudly, or failed under
//! `HOMELABD_TEST_STRICT=1`, which `.ci/run` sets).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `example-repo/`.
pub fn example_repo() -> PathBuf {
    root().join("example-repo")
}

/// Runs the built `homelabd` binary.
pub fn homelabd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(args)
        .env("HOMELABD_LOG", "warn")
        .output()
        .expect("spawn homelabd")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A temp directory holding a copy of the example homelab.
pub fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_repo(), dir.path());
    dir
}

/// Writes `content` to `dir/rel`, creating parents.
pub fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Is the suite in strict mode (CI), where a missing tool is a failure?
pub fn strict() -> bool {
    std::env::var("HOMELABD_TEST_STRICT").is_ok_and(|v| v == "1")
}

/// Reports that a test cannot run here: loudly, and as a failure in strict mode.
pub fn skip(test: &str, why: &str) {
    let msg = format!("SKIPPED {test}: {why}");
    if strict() {
        panic!("{msg} (HOMELABD_TEST_STRICT=1 turns skips into failures)");
    }
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
}

/// Finds `tool` in the project's tool venv (installing it on first use) or on PATH.
pub fn tool(name: &str) -> Option<PathBuf> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let venv_bin = root().join(".tools/venv/bin");
    let python_tool = matches!(
        name,
        "ansible-playbook" | "cfn-lint" | "kubernetes-validate" | "python"
    );
    if python_tool {
        let ok = *INSTALLED.get_or_init(|| {
            Command::new("bash")
                .arg(root().join("tests/support/install-tools.sh"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
        let p = venv_bin.join(name);
        if ok && p.exists() {
            return Some(p);
        }
    }
    // The signing tools of the signature tests: installed with apt-get on a fresh CI machine.
    static SYSTEM: OnceLock<bool> = OnceLock::new();
    if matches!(name, "gpg" | "gpgconf" | "ssh-keygen") && which(name).is_none() {
        SYSTEM.get_or_init(|| {
            Command::new("bash")
                .arg(root().join("tests/support/install-system-tools.sh"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
    }
    // The dashboard tests' headless browser: Debian's chromium and chromium-driver.
    static BROWSER: OnceLock<bool> = OnceLock::new();
    if matches!(name, "chromium" | "chromedriver") && which(name).is_none() {
        BROWSER.get_or_init(|| {
            Command::new("bash")
                .arg(root().join("tests/support/install-browser.sh"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
    }
    which(name)
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Commits every file under `dir` into the git repository there (initialising it).
pub fn git_commit_all(dir: &Path, message: &str) -> String {
    let repo = git2::Repository::open(dir)
        .or_else(|_| git2::Repository::init(dir))
        .unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.update_all(["*"].iter(), None).unwrap();
    index.write().unwrap();
    let tree_id = index.write_tree().unwrap();
    let tree = repo.find_tree(tree_id).unwrap();
    let sig = git2::Signature::now("Test", "test@example.invalid").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
        .to_string()
}

/// Runs the `git` CLI in `dir` with a fixed test identity; panics with its stderr unless
/// it succeeds. Returns its trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Copies the example's pools, workload types and templates into `dir`: enough for
/// definitions to place and render, with none of the example's own definitions.
pub fn example_basics(dir: &Path) {
    for sub in ["pools", "workload-types", "templates"] {
        copy_tree(&example_repo().join(sub), &dir.join(sub));
    }
}

/// A committed repository with the [`example_basics`] and only `defs`, each a
/// `(name, text)` written to `definitions/NAME.yaml`.
pub fn repo_with(defs: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    example_basics(dir.path());
    for (name, text) in defs {
        write(dir.path(), &format!("definitions/{name}.yaml"), text);
    }
    git_commit_all(dir.path(), "test homelab");
    dir
}

/// A `homelabd daemon` process (log file, free port, killed on drop) and store polling.
pub mod daemon;

/// The local Docker engine: the busybox test image and compose project containers.
pub mod docker;

/// A real `git daemon` serving bare repositories over `git://`.
pub mod git_daemon;

/// A throwaway PostgreSQL server (`DATABASE_URL`, or a private cluster via initdb).
pub mod pg;

/// Store fixtures: SQLite and PostgreSQL databases, seed records.
pub mod store;

/// Polling the store while a daemon works: resources, runs, deviations, health.
pub mod seen;

/// Logging in to the dashboard through its login form.
pub mod ui_login;

/// A simulator of the GitHub REST endpoints used to open pull requests.
pub mod github_sim;

/// A simulator of the Proxmox VE API endpoints the Proxmox observer reads.
pub mod pve_sim;

/// A simulator of the Kubernetes API endpoints `kubectl get nodes -o json` uses.
pub mod kube_sim;

/// An HTTP client for tests. reqwest is built without a bundled TLS provider (homelabd
/// installs ring at start), so tests install it too before building one.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `GET url` with `Authorization: Bearer token` (`/readyz` shows its details only to a
/// valid MCP token).
pub async fn get_with_token(
    url: impl reqwest::IntoUrl,
    token: &str,
) -> reqwest::Result<reqwest::Response> {
    http_client().get(url).bearer_auth(token).send().await
}

/// `GET url` with [`http_client`].
pub async fn get(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    http_client().get(url).send().await
}
