//! Adoption end to end on this machine's real Docker engine, with the real `homelabd
//! daemon` (SQLite) and the Python MCP SDK: two containers started with `docker run` are
//! adopted — one with `homelabd adopt`, one with the MCP tool `adopt-unmanaged-resource`
//! over the daemon's `/mcp` — and their proposal branches merged into the tracked branch.
//! The daemon takes both over as they run: applied, the same container ids, nothing
//! created under compose, no open deviation, their published ports recorded as
//! endpoints (so the observer did look at them). A secret in their environment never
//! reaches git. A change of the definition that leaves the withheld secret out is
//! refused with the reason while the container keeps running; with it set, the
//! container is recreated under compose and keeps its volume's data and its read-only
//! bind mount.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::git;
use homelabd::reconcile::ResourceState;
use homelabd::store::{ApplyRunRecord, DeviationRecord, ResourceRecord, Store};
use serde_json::{Value, json};
use std::process::Command;
use support::daemon::{Daemon, DaemonCommand, free_port, wait_for_store};
use support::docker::{RemoveProjects, docker_ready, project_containers, unique_suffix};

const TOKEN: &str = "adopt-propose-token-0123456789";

#[derive(Debug)]
struct Seen {
    resources: Vec<ResourceRecord>,
    runs: Vec<ApplyRunRecord>,
    open: Vec<DeviationRecord>,
}

impl Seen {
    fn applied(&self, name: &str) -> bool {
        self.resources
            .iter()
            .any(|r| r.name == name && r.state == ResourceState::Applied && !r.endpoints.is_empty())
    }
    fn runs(&self, name: &str, state: &str) -> usize {
        self.runs
            .iter()
            .filter(|r| r.resource == name && r.state.as_str() == state)
            .count()
    }
    fn open_for(&self, name: &str) -> Vec<&DeviationRecord> {
        self.open.iter().filter(|d| d.resource == name).collect()
    }
}

async fn seen(store: &Store) -> Option<Seen> {
    Some(Seen {
        resources: store.resources().await.ok()?,
        runs: store.apply_runs(None, 1000).await.ok()?,
        open: store.deviations(true, 1000).await.ok()?,
    })
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success(), text)
}

/// Removes the containers and volumes started outside compose when dropped.
struct RemoveLegacy(Vec<String>, Vec<String>);

impl Drop for RemoveLegacy {
    fn drop(&mut self) {
        for c in &self.0 {
            let _ = docker(&["rm", "-f", c]);
        }
        for v in &self.1 {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
    }
}

/// `docker run -d` of a long-running test container the way people start services by
/// hand: a secret and a plain variable, a published port, a named volume holding data,
/// a read-only bind mount, a label, a restart policy and its own command. Returns its id.
fn run_by_hand(
    name: &str,
    volume: &str,
    conf: &std::path::Path,
    port: u16,
    secret: &str,
) -> String {
    let (ok, id) = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "-e",
        "TZ=UTC",
        "-e",
        &format!("DB_PASSWORD={secret}"),
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "-v",
        &format!("{volume}:/data"),
        "-v",
        &format!("{}:/conf:ro", conf.display()),
        "--label",
        "traefik.enable=true",
        "--restart",
        "unless-stopped",
        support::docker::TEST_IMAGE,
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    ]);
    assert!(ok, "docker run {name} failed");
    let (ok, _) = docker(&[
        "exec",
        name,
        "sh",
        "-c",
        &format!("echo {name} > /data/proof"),
    ]);
    assert!(ok, "cannot write into the volume of {name}");
    id
}

fn container_id(name: &str) -> Option<String> {
    let (ok, id) = docker(&[
        "inspect",
        "--type",
        "container",
        "--format",
        "{{.Id}}",
        name,
    ]);
    ok.then_some(id)
}

/// The proposal's file on its branch, as git has it.
fn file_on(repo: &std::path::Path, branch: &str, name: &str) -> String {
    git(
        repo,
        &["show", &format!("{branch}:definitions/{name}.yaml")],
    )
}

/// The definition file with `after` written as a new line below the line holding
/// `anchor`, at its indentation.
fn add_line_below(text: &str, anchor: &str, after: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.contains(anchor) {
            let indent: String = line.chars().take_while(|c| *c == ' ').collect();
            out.push_str(&format!("{indent}{after}\n"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn adopted_containers_keep_their_id_until_their_definition_changes() {
    let test = "adopted_containers_keep_their_id_until_their_definition_changes";
    if !docker_ready(test) {
        return;
    }
    let Some(python) = harness::python() else {
        support::skip(
            test,
            "the Python mcp SDK could not be installed into .tools/venv",
        );
        return;
    };
    let id = unique_suffix();
    let (by_cli, by_mcp) = (format!("legacy-cli-{id}"), format!("legacy-mcp-{id}"));
    let (cli_res, mcp_res) = (format!("web-cli-{id}"), format!("web-mcp-{id}"));
    let (cli_vol, mcp_vol) = (format!("adopt-cli-{id}"), format!("adopt-mcp-{id}"));
    let _projects = RemoveProjects(vec![cli_res.clone(), mcp_res.clone()]);
    let _legacy = RemoveLegacy(
        vec![by_cli.clone(), by_mcp.clone()],
        vec![cli_vol.clone(), mcp_vol.clone()],
    );
    let secret = format!("hunter2-{id}");
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("site.conf"), format!("site {id}\n")).unwrap();
    let cli_id = run_by_hand(&by_cli, &cli_vol, conf.path(), free_port(), &secret);
    let mcp_id = run_by_hand(&by_mcp, &mcp_vol, conf.path(), free_port(), &secret);

    let repo = support::repo_with(&[]);
    let state = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let daemon: Daemon = DaemonCommand::new(state.path())
        .repo(repo.path())
        .database(&db)
        .config(
            "[reconcile]\nobserve_schedule = \"*/2 * * * * *\"\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n",
        )
        .env("HOMELABD_MCP_TOKEN", TOKEN)
        .spawn();
    daemon.wait_healthy(60).await;

    // Through the CLI.
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args([
            "adopt", &by_cli, "--name", &cli_res, "--output", "json", "--repo",
        ])
        .arg(repo.path())
        .args(["--database-url", &db, "--state-dir"])
        .arg(state.path().join("cli"))
        .env("HOMELABD_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "homelabd adopt: {}\n{}",
        support::stderr(&out),
        support::stdout(&out)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli_branch = cli["proposal"]["branch"].as_str().unwrap().to_owned();
    assert_eq!(cli["proposal"]["status"], "local", "{cli:#}");

    // Through MCP, with the design's parameter names.
    let config = json!({
        "transport": "http", "era": "modern", "url": daemon.url("/mcp"), "token": TOKEN,
        "calls": [{"name": "adopt-unmanaged-resource",
                   "arguments": {"container_name": by_mcp, "resource_name": mcp_res,
                                 "reason": "bring the hand-started service under git"}}],
    });
    let (ok, out, err) =
        tokio::task::spawn_blocking(move || harness::run_script(&python, "calls.py", &config))
            .await
            .unwrap();
    assert!(ok, "calls.py failed\n{out}\n{err}");
    let answers: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    let mcp = &answers[0]["structured"];
    assert_eq!(answers[0]["error"], false, "{answers:#?}");
    let mcp_branch = mcp["proposal"]["branch"].as_str().unwrap().to_owned();

    for (branch, res, answer) in [(&cli_branch, &cli_res, &cli), (&mcp_branch, &mcp_res, mcp)] {
        let text = file_on(repo.path(), branch, res);
        assert_eq!(
            Some(text.as_str()),
            answer["content"].as_str().map(str::trim_end)
        );
        assert!(!text.contains(&secret), "a secret reached git:\n{text}");
        assert!(text.contains("env DB_PASSWORD withheld"), "{text}");
        assert!(text.contains("traefik.enable"), "{text}");
        let notes = answer["notes"].to_string();
        assert!(notes.contains("homelabd secret set"), "{notes}");
    }

    // Merge both into the tracked branch: the daemon takes the containers over.
    git(
        repo.path(),
        &["merge", "-q", "--no-edit", &cli_branch, &mcp_branch],
    );
    let s = wait_for_store(
        &db,
        &daemon,
        120,
        "both adopted, applied and observed",
        seen,
        |s| s.applied(&cli_res) && s.applied(&mcp_res),
    )
    .await;
    assert_eq!(container_id(&by_cli).as_deref(), Some(cli_id.as_str()));
    assert_eq!(container_id(&by_mcp).as_deref(), Some(mcp_id.as_str()));
    assert!(project_containers(&cli_res).is_empty() && project_containers(&mcp_res).is_empty());
    assert_eq!(
        (s.runs(&cli_res, "succeeded"), s.runs(&mcp_res, "succeeded")),
        (1, 1),
        "{s:#?}"
    );
    // A few more observations: still nothing open, nothing recreated.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let s = seen(&Store::connect(&db).await.unwrap()).await.unwrap();
    assert!(s.open_for(&cli_res).is_empty(), "{:#?}", s.open);
    assert!(s.open_for(&mcp_res).is_empty(), "{:#?}", s.open);
    assert_eq!(s.runs(&cli_res, "succeeded"), 1, "no further apply: {s:#?}");
    assert_eq!(container_id(&by_cli).as_deref(), Some(cli_id.as_str()));

    // A change that leaves the withheld secret out is refused; the container runs on.
    let file = format!("definitions/{cli_res}.yaml");
    let text = std::fs::read_to_string(repo.path().join(&file)).unwrap();
    let changed = text.replace("TZ: UTC", "TZ: Europe/Amsterdam");
    assert_ne!(changed, text);
    support::write(repo.path(), &file, &changed);
    support::git_commit_all(repo.path(), "web: Amsterdam time");
    let s = wait_for_store(&db, &daemon, 60, "the recreation refused", seen, |s| {
        s.runs(&cli_res, "failed") >= 1
    })
    .await;
    let refused = s
        .runs
        .iter()
        .find(|r| r.resource == cli_res && r.state.as_str() == "failed")
        .and_then(|r| r.error.clone())
        .unwrap_or_default();
    assert!(refused.contains("DB_PASSWORD"), "{refused}");
    assert_eq!(container_id(&by_cli).as_deref(), Some(cli_id.as_str()));

    // With it set, the container is recreated under compose; the volume keeps its data.
    let with_secret = add_line_below(&changed, "TZ: Europe/Amsterdam", "DB_PASSWORD: from-git");
    support::write(repo.path(), &file, &with_secret);
    support::git_commit_all(repo.path(), "web: the database password in git (a test)");
    let s = wait_for_store(&db, &daemon, 120, "recreated under compose", seen, |s| {
        s.runs(&cli_res, "succeeded") >= 2 && s.applied(&cli_res)
    })
    .await;
    assert_eq!(container_id(&by_cli), None, "the adopted container is gone");
    let now = project_containers(&cli_res);
    assert_eq!(now.len(), 1, "{s:#?}");
    let (_, env) = docker(&["inspect", "--format", "{{json .Config.Env}}", &now[0]]);
    assert!(env.contains("TZ=Europe/Amsterdam"), "{env}");
    let (_, proof) = docker(&["exec", &now[0], "cat", "/data/proof"]);
    assert_eq!(proof, by_cli, "the volume's data is kept");
    let (_, site) = docker(&["exec", &now[0], "cat", "/conf/site.conf"]);
    assert_eq!(site, format!("site {id}"), "the bind mount is kept");
    let (written, _) = docker(&["exec", &now[0], "sh", "-c", "echo x > /conf/other"]);
    assert!(!written, "the bind mount stays read-only");
    // The other adoption was never touched.
    assert_eq!(container_id(&by_mcp).as_deref(), Some(mcp_id.as_str()));
}
