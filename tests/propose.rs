//! Proposals end to end, with real parts: the example homelab in a real git repository,
//! a real bare repository as the remote, SQLite (and PostgreSQL for the store), and a
//! simulator of GitHub's REST API for pull requests (GitHub itself is out of reach).

mod support;

use homelabd::notify_out::event::proposal_opened;
use homelabd::pipeline::Engine;
use homelabd::propose::{
    ChangeKind, FileChange, GitHubError, GitHubSettings, ProposalRequest, ProposeError,
    ProposeSettings, Proposer,
};
use homelabd::source::{Origin, TrackedRepo};
use homelabd::store::{AuditRecord, ProposalRecord, ProposalStatus, Store};
use pretty_assertions::assert_eq;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::git;
use support::github_sim::GithubSim;

const AUTHOR: &str = "Proposal Bot";
const EMAIL: &str = "bot@homelab.example";
const NEW_FILE: &str = "definitions/apps/status-page.yaml";

/// A working repository holding `content_root` (the example homelab at `sub`, or at the
/// top) on `main`, and a bare repository as its `origin`, both in temp dirs.
struct Repos {
    _dirs: tempfile::TempDir,
    work: PathBuf,
    bare: PathBuf,
    state: PathBuf,
    head: String,
}

fn repos(sub: Option<&str>) -> Repos {
    let dirs = tempfile::tempdir().unwrap();
    let work = dirs.path().join("work");
    let bare = dirs.path().join("remote.git");
    let state = dirs.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let content = match sub {
        Some(sub) => work.join(sub),
        None => work.clone(),
    };
    support::copy_tree(&support::example_repo(), &content);
    git(
        dirs.path(),
        &["init", "-q", "-b", "main", work.to_str().unwrap()],
    );
    let head = support::git_commit_all(&work, "the example homelab");
    git(
        dirs.path(),
        &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
    );
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    git(&work, &["push", "-q", "origin", "main"]);
    Repos {
        _dirs: dirs,
        work,
        bare,
        state,
        head,
    }
}

fn settings(remote: Option<&str>) -> ProposeSettings {
    ProposeSettings {
        remote: remote.map(str::to_owned),
        author_name: AUTHOR.into(),
        author_email: EMAIL.into(),
        ..ProposeSettings::default()
    }
}

fn local(repos: &Repos, sub: Option<&str>) -> TrackedRepo {
    TrackedRepo {
        origin: Origin::Local(repos.work.clone()),
        branch: "main".into(),
        sub_path: sub.map(str::to_owned),
    }
}

async fn sqlite(repos: &Repos) -> Arc<Store> {
    let url = format!("sqlite://{}", repos.state.join("homelabd.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

fn engine() -> Arc<Engine> {
    Arc::new(Engine::new().unwrap())
}

/// A new Docker service: the example's uptime-kuma under another name and port.
fn status_page(name: &str, port: u16) -> String {
    std::fs::read_to_string(support::example_repo().join("definitions/apps/uptime-kuma.yaml"))
        .unwrap()
        .replace("name: uptime-kuma", &format!("name: {name}"))
        .replace("host_port: 3001", &format!("host_port: {port}"))
}

fn request(subject: &str, changes: Vec<FileChange>) -> ProposalRequest {
    ProposalRequest {
        tool: "deploy-with-intelligence".into(),
        client: "mcp:ci-agent".into(),
        subject: subject.into(),
        changes,
        title: format!("Deploy {subject}"),
        body: "A status page for the family.".into(),
        dry_run: false,
    }
}

/// A proposer on the local working repository that pushes to `origin` and records in
/// `store`.
fn pushing_proposer(repos: &Repos, store: &Arc<Store>) -> Proposer {
    Proposer::new(
        settings(Some("origin")),
        local(repos, None),
        engine(),
        Some(Arc::clone(store)),
    )
}

/// The request most tests make: add the status page at [`NEW_FILE`].
fn add_status_page() -> ProposalRequest {
    request(
        "status-page",
        vec![write(NEW_FILE, status_page("status-page", 3002))],
    )
}

/// The GitHub simulator for `example/homelab`, accepting `ghp-test-token`, which finds
/// pushed branches in `repos.bare`.
async fn github_sim(repos: &Repos) -> GithubSim {
    GithubSim::start(
        "example",
        "homelab",
        "ghp-test-token",
        Some(repos.bare.clone()),
    )
    .await
}

/// `[propose.github]` for `example/homelab` at `api_url`.
fn github(api_url: &str, token: Option<&str>) -> GitHubSettings {
    GitHubSettings {
        owner: "example".into(),
        repo: "homelab".into(),
        api_url: api_url.into(),
        login: None,
        token: token.map(homelabd::setting::Secret::new),
    }
}

fn write(path: &str, content: String) -> FileChange {
    FileChange::Write {
        path: path.into(),
        content,
    }
}

/// Branch name → commit id of every local branch of the repository at `dir`.
fn branches(dir: &Path) -> BTreeMap<String, String> {
    let repo = git2::Repository::open(dir).unwrap();
    let mut out = BTreeMap::new();
    for b in repo.branches(Some(git2::BranchType::Local)).unwrap() {
        let (b, _) = b.unwrap();
        out.insert(
            b.name().unwrap().unwrap().to_owned(),
            b.get().peel_to_commit().unwrap().id().to_string(),
        );
    }
    out
}

/// Path → content of every file in a commit's tree.
fn tree_files(dir: &Path, commit: &str) -> BTreeMap<String, String> {
    let repo = git2::Repository::open(dir).unwrap();
    let commit = repo
        .find_commit(git2::Oid::from_str(commit).unwrap())
        .unwrap();
    let mut out = BTreeMap::new();
    commit
        .tree()
        .unwrap()
        .walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let blob = repo.find_blob(entry.id()).unwrap();
                out.insert(
                    format!("{root}{}", entry.name().unwrap()),
                    String::from_utf8_lossy(blob.content()).into_owned(),
                );
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
    out
}

/// Every file under a repository's object directory (loose objects and packs).
fn object_files(git_dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().is_dir() {
                walk(&entry.path(), out);
            } else {
                out.push(entry.path());
            }
        }
    }
    let mut out = Vec::new();
    walk(&git_dir.join("objects"), &mut out);
    out.sort();
    out
}

/// Handlers of a multi-threaded server (the MCP transport) await proposals.
#[allow(dead_code)]
fn proposals_can_be_awaited_on_any_thread(proposer: &Proposer, req: ProposalRequest) {
    fn is_send<T: Send>(_: &T) {}
    is_send(&proposer.propose(req));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_proposal_pushes_one_commit_with_exactly_the_change() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let proposer = pushing_proposer(&repos, &store);
    let content = status_page("status-page", 3002);
    let objects_before = object_files(&repos.work.join(".git"));
    let outcome = proposer
        .propose(request(
            "status-page",
            vec![write(NEW_FILE, content.clone())],
        ))
        .await
        .unwrap();

    assert_eq!(outcome.status, ProposalStatus::Pushed);
    // Only the new objects are written: the blob, the three trees on its path and the
    // commit (nothing of the validation run, no copy of the rest of the tree).
    assert_eq!(
        object_files(&repos.work.join(".git")).len(),
        objects_before.len() + 5
    );
    let branch = outcome.branch.clone().unwrap();
    let short = &outcome.id[..8];
    assert_eq!(
        branch,
        format!("homelabd/deploy-with-intelligence/status-page-{short}")
    );
    let commit = outcome.commit.clone().unwrap();
    assert_eq!(outcome.base_commit, repos.head);
    assert!(outcome.valid);
    assert_eq!(outcome.compare_url, None, "a path remote has no web page");

    // The remote has the branch; its commit is the head plus exactly the new file.
    let remote = branches(&repos.bare);
    assert_eq!(remote.get(&branch), Some(&commit));
    assert_eq!(remote.get("main"), Some(&repos.head), "main is untouched");
    let mut expected = tree_files(&repos.work, &repos.head);
    expected.insert(NEW_FILE.into(), content);
    assert_eq!(tree_files(&repos.bare, &commit), expected);
    let repo = git2::Repository::open(&repos.bare).unwrap();
    let c = repo
        .find_commit(git2::Oid::from_str(&commit).unwrap())
        .unwrap();
    assert_eq!(
        c.parent_ids().map(|p| p.to_string()).collect::<Vec<_>>(),
        [repos.head.as_str()]
    );
    assert_eq!(
        (c.author().name().ok(), c.author().email().ok()),
        (Some(AUTHOR), Some(EMAIL))
    );
    assert_eq!(
        (c.committer().name().ok(), c.committer().email().ok()),
        (Some(AUTHOR), Some(EMAIL))
    );
    let message = c.message().unwrap();
    assert!(
        message.starts_with("Deploy status-page\n\nA status page for the family.\n"),
        "{message}"
    );
    assert!(
        message.contains("  created   status-page docker /homelab/docker on docker-01\n"),
        "{message}"
    );
    assert!(message.contains("\nValidation: valid"), "{message}");
    assert!(
        message.contains(&format!("Proposal-id: {}\n", outcome.id)),
        "{message}"
    );

    // The local repository: same branch, main and HEAD and the working copy untouched.
    let local_branches = branches(&repos.work);
    assert_eq!(local_branches.get(&branch), Some(&commit));
    assert_eq!(local_branches.get("main"), Some(&repos.head));
    assert_eq!(
        git(&repos.work, &["symbolic-ref", "HEAD"]),
        "refs/heads/main"
    );
    assert_eq!(git(&repos.work, &["status", "--porcelain"]), "");
    assert!(!repos.work.join(NEW_FILE).exists());

    // What the change does: one new Docker service, with its rendered compose file.
    assert_eq!(outcome.resources.len(), 1, "{:?}", outcome.resources);
    let r = &outcome.resources[0];
    assert_eq!(
        (r.name.as_str(), r.change),
        ("status-page", ChangeKind::Created)
    );
    assert_eq!(r.provider, Some(homelabd::model::Provider::Docker));
    assert_eq!(r.nodes, ["docker-01"]);
    assert!(!r.reasons.is_empty());
    assert!(
        r.diff.contains("+++ b/docker/status-page/compose.yaml"),
        "{}",
        r.diff
    );
    assert!(r.diff.contains("3002"), "{}", r.diff);

    // Recorded: the proposal and its audit row.
    let rows = store.proposals(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id.to_string(), outcome.id);
    assert_eq!(
        (
            row.tool.as_str(),
            row.client.as_str(),
            row.branch.as_str(),
            row.status.as_str()
        ),
        (
            "deploy-with-intelligence",
            "mcp:ci-agent",
            branch.as_str(),
            "pushed"
        )
    );
    assert_eq!(row.commit.as_deref(), Some(commit.as_str()));
    assert_eq!(row.details["files"][0]["path"], NEW_FILE);
    assert_eq!(row.details["resources"][0]["name"], "status-page");
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (
            audit[0].action.as_str(),
            audit[0].actor.as_str(),
            audit[0].subject.as_str()
        ),
        ("proposal.opened", "mcp:ci-agent", branch.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_remote_the_branch_stays_local() {
    let repos = repos(None);
    let proposer = Proposer::new(settings(None), local(&repos, None), engine(), None);
    let outcome = proposer.propose(add_status_page()).await.unwrap();
    assert_eq!(outcome.status, ProposalStatus::Local);
    let branch = outcome.branch.unwrap();
    assert_eq!(branches(&repos.work).get(&branch), outcome.commit.as_ref());
    assert!(!branches(&repos.bare).contains_key(&branch));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_tracked_repository_pushes_to_its_url_and_opens_a_pull_request() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let sim = github_sim(&repos).await;
    let mut settings = settings(None);
    settings.github = Some(github(&sim.url, None));
    settings
        .resolve_with(
            None,
            None,
            Some(homelabd::setting::Secret::new("ghp-test-token")),
        )
        .unwrap();
    let tracked = TrackedRepo {
        origin: Origin::Remote {
            url: format!("file://{}", repos.bare.display()),
            mirror: repos.state.join("repo.git"),
            token: None,
            ssh_key: None,
        },
        branch: "main".into(),
        sub_path: None,
    };
    let proposer = Proposer::new(settings, tracked, engine(), Some(Arc::clone(&store)));
    let outcome = proposer.propose(add_status_page()).await.unwrap();

    let branch = outcome.branch.clone().unwrap();
    assert_eq!(outcome.status, ProposalStatus::PullRequest);
    assert_eq!(outcome.pr_url.as_deref(), Some(sim.pull_url(1).as_str()));
    assert_eq!(
        outcome.compare_url,
        Some(format!(
            "{}/example/homelab/compare/main...{branch}",
            sim.url
        ))
    );
    assert_eq!(branches(&repos.bare).get(&branch), outcome.commit.as_ref());
    assert_eq!(branches(&repos.bare).get("main"), Some(&repos.head));

    let requests = sim.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect::<Vec<_>>(),
        [
            ("GET", "/repos/example/homelab"),
            ("POST", "/repos/example/homelab/pulls")
        ]
    );
    for r in &requests {
        assert_eq!(r.authorization.as_deref(), Some("Bearer ghp-test-token"));
    }
    let body = requests[1].body.clone().expect("a JSON body");
    assert_eq!(body["head"], branch.as_str());
    assert_eq!(body["base"], "main");
    assert_eq!(body["title"], "Deploy status-page");
    let text = body["body"].as_str().unwrap();
    assert!(
        text.starts_with("Request from `")
            && text.contains("quoted as given:\n\n> A status page for the family.\n\n## Summary"),
        "{text}"
    );
    assert!(
        text.contains("| Resource | Change | Provider | Pool | Nodes | Size |"),
        "{text}"
    );
    assert!(
        text.contains("| `status-page` | created | docker | /homelab/docker | docker-01 |"),
        "{text}"
    );
    assert!(text.contains("## Placement"), "{text}");
    assert!(text.contains("## Validation\n\n✅ valid"), "{text}");
    assert!(
        text.contains("```diff\n--- /dev/null\n+++ b/docker/status-page/compose.yaml\n"),
        "{text}"
    );
    assert!(text.contains("<details>"), "{text}");

    let rows = store.proposals(10).await.unwrap();
    assert_eq!(rows[0].status, ProposalStatus::PullRequest);
    assert_eq!(rows[0].pr_url, outcome.pr_url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_pull_request_is_reported_and_recorded_with_the_pushed_branch() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let sim = github_sim(&repos).await;
    sim.fail_pull_requests_with(
        403,
        serde_json::json!({"message": "Resource not accessible by personal access token", "status": "403"}),
    );
    let mut settings = settings(Some("origin"));
    settings.github = Some(github(&sim.url, Some("ghp-test-token")));
    let proposer = Proposer::new(
        settings,
        local(&repos, None),
        engine(),
        Some(Arc::clone(&store)),
    );
    let err = proposer.propose(add_status_page()).await.unwrap_err();
    let ProposeError::GitHub(cause) = &err else {
        panic!("expected a GitHub error, got {err:?}");
    };
    assert!(
        matches!(cause, GitHubError::Open { .. }),
        "the pull request was refused: {cause:?}"
    );
    assert!(
        std::error::Error::source(cause).is_some(),
        "GitHub's answer is kept as the cause"
    );
    let message = cause.to_string();
    assert!(
        message.contains("Resource not accessible") && message.contains("403"),
        "{message}"
    );
    let rows = store.proposals(10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ProposalStatus::Pushed);
    assert_eq!(rows[0].pr_url, None);
    assert!(rows[0].details["error"].as_str().unwrap().contains("403"));
    assert!(branches(&repos.bare).contains_key(&rows[0].branch));
    assert_eq!(
        store.audit_log(1).await.unwrap()[0].action,
        "proposal.failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_definition_is_refused_and_nothing_is_written() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let proposer = pushing_proposer(&repos, &store);
    let objects_before = object_files(&repos.work.join(".git"));
    let remote_objects_before = object_files(&repos.bare);
    let broken =
        status_page("status-page", 3002).replace("pool: /homelab/docker", "pool: /homelab/nowhere");
    let err = proposer
        .propose(request("status-page", vec![write(NEW_FILE, broken)]))
        .await
        .unwrap_err();
    let ProposeError::Invalid { diagnostics } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert!(
        diagnostics.iter().any(|d| d.is_error()
            && d.file == NEW_FILE
            && d.code == "unknown-pool"
            && d.found.as_deref() == Some("/homelab/nowhere")),
        "{diagnostics:#?}"
    );
    assert!(err.to_string().contains(NEW_FILE), "{err}");

    assert_eq!(branches(&repos.work).keys().collect::<Vec<_>>(), ["main"]);
    assert_eq!(branches(&repos.bare).keys().collect::<Vec<_>>(), ["main"]);
    assert_eq!(
        object_files(&repos.work.join(".git")),
        objects_before,
        "no object written"
    );
    assert_eq!(object_files(&repos.bare), remote_objects_before);
    assert!(store.proposals(10).await.unwrap().is_empty());
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (
            audit[0].action.as_str(),
            audit[0].actor.as_str(),
            audit[0].subject.as_str()
        ),
        ("proposal.refused", "mcp:ci-agent", "status-page")
    );
    assert_eq!(audit[0].details["diagnostics"][0]["file"], NEW_FILE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaping_paths_and_bad_names_are_refused() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let proposer = pushing_proposer(&repos, &store);
    let objects_before = object_files(&repos.work.join(".git"));
    for path in [
        "../../x.yaml",
        "/etc/cron.d/x.yaml",
        ".git/hooks/x.yaml",
        "definitions/x.sh",
    ] {
        let err = proposer
            .propose(request("status-page", vec![write(path, "x: 1\n".into())]))
            .await
            .unwrap_err();
        assert!(matches!(err, ProposeError::BadPath(_)), "{path}: {err:?}");
    }
    let err = proposer
        .propose(request(
            "../../x",
            vec![write(NEW_FILE, status_page("status-page", 3002))],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProposeError::BadName(m) if m.contains("subject")),
        "{err:?}"
    );
    let err = proposer
        .propose(request(
            "uptime-kuma",
            vec![FileChange::Delete {
                path: "definitions/apps/missing.yaml".into(),
            }],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProposeError::BadPath(m) if m.contains("does not exist")),
        "{err:?}"
    );
    let unchanged =
        std::fs::read_to_string(repos.work.join("definitions/apps/uptime-kuma.yaml")).unwrap();
    let err = proposer
        .propose(request(
            "uptime-kuma",
            vec![write("definitions/apps/uptime-kuma.yaml", unchanged)],
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, ProposeError::NoChange), "{err:?}");

    assert_eq!(branches(&repos.work).keys().collect::<Vec<_>>(), ["main"]);
    assert_eq!(object_files(&repos.work.join(".git")), objects_before);
    assert!(!repos.work.parent().unwrap().join("x.yaml").exists());
    assert!(store.proposals(10).await.unwrap().is_empty());
    let audit = store.audit_log(20).await.unwrap();
    assert_eq!(audit.len(), 7);
    assert!(audit.iter().all(|a| a.action == "proposal.refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_proposals_make_two_correct_branches() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let proposer = pushing_proposer(&repos, &store);
    let (a_content, b_content) = (status_page("status-a", 3010), status_page("status-b", 3011));
    let (a, b) = tokio::join!(
        proposer.propose(request(
            "status-a",
            vec![write("definitions/apps/status-a.yaml", a_content.clone())]
        )),
        proposer.propose(request(
            "status-b",
            vec![write("definitions/apps/status-b.yaml", b_content.clone())]
        )),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let remote = branches(&repos.bare);
    let head_files = tree_files(&repos.work, &repos.head);
    for (outcome, path, content) in [
        (&a, "definitions/apps/status-a.yaml", a_content),
        (&b, "definitions/apps/status-b.yaml", b_content),
    ] {
        let branch = outcome.branch.as_ref().unwrap();
        let commit = outcome.commit.as_ref().unwrap();
        assert_eq!(remote.get(branch), Some(commit));
        let mut expected = head_files.clone();
        expected.insert(path.into(), content);
        assert_eq!(tree_files(&repos.bare, commit), expected, "{branch}");
    }
    assert_ne!(a.branch, b.branch);
    assert_eq!(remote.get("main"), Some(&repos.head));
    assert_eq!(store.proposals(10).await.unwrap().len(), 2);
    // The repository is sound: git itself finds nothing wrong.
    git(&repos.work, &["fsck", "--no-progress", "--strict"]);
    git(&repos.bare, &["fsck", "--no-progress", "--strict"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_everything_and_writes_nothing() {
    let repos = repos(None);
    let store = sqlite(&repos).await;
    let proposer = pushing_proposer(&repos, &store);
    let objects_before = object_files(&repos.work.join(".git"));
    let mut req = add_status_page();
    req.dry_run = true;
    let outcome = proposer.propose(req).await.unwrap();
    assert_eq!(outcome.status, ProposalStatus::DryRun);
    assert_eq!(
        (outcome.branch, outcome.commit, outcome.pr_url),
        (None, None, None)
    );
    assert_eq!(outcome.base_commit, repos.head);
    assert_eq!(outcome.resources.len(), 1);
    assert!(
        outcome.resources[0]
            .diff
            .contains("+++ b/docker/status-page/compose.yaml")
    );
    assert_eq!(branches(&repos.work).keys().collect::<Vec<_>>(), ["main"]);
    assert_eq!(branches(&repos.bare).keys().collect::<Vec<_>>(), ["main"]);
    assert_eq!(object_files(&repos.work.join(".git")), objects_before);
    assert!(store.proposals(10).await.unwrap().is_empty());
    assert!(store.audit_log(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decommission_deletes_the_file_and_reports_the_resource_removed() {
    let repos = repos(None);
    let proposer = Proposer::new(
        settings(Some("origin")),
        local(&repos, None),
        engine(),
        None,
    );
    let path = "definitions/apps/uptime-kuma.yaml";
    let mut req = request(
        "uptime-kuma",
        vec![FileChange::Delete { path: path.into() }],
    );
    req.tool = "decommission-resource".into();
    let outcome = proposer.propose(req).await.unwrap();
    assert!(
        outcome
            .branch
            .as_ref()
            .unwrap()
            .starts_with("homelabd/decommission-resource/uptime-kuma-")
    );
    let mut expected = tree_files(&repos.work, &repos.head);
    expected.remove(path);
    assert_eq!(
        tree_files(&repos.bare, outcome.commit.as_ref().unwrap()),
        expected
    );
    assert_eq!(outcome.resources.len(), 1);
    assert_eq!(outcome.resources[0].name, "uptime-kuma");
    assert_eq!(outcome.resources[0].change, ChangeKind::Removed);
    assert!(
        outcome.resources[0]
            .diff
            .contains("--- a/docker/uptime-kuma/compose.yaml\n+++ /dev/null")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_relative_to_the_tracked_sub_path() {
    let repos = repos(Some("infra/homelab"));
    let proposer = Proposer::new(
        settings(Some("origin")),
        local(&repos, Some("infra/homelab")),
        engine(),
        None,
    );
    let content = status_page("status-page", 3002);
    let outcome = proposer
        .propose(request(
            "status-page",
            vec![write(NEW_FILE, content.clone())],
        ))
        .await
        .unwrap();
    let files = tree_files(&repos.bare, outcome.commit.as_ref().unwrap());
    assert_eq!(
        files.get(&format!("infra/homelab/{NEW_FILE}")),
        Some(&content)
    );
    assert!(!files.contains_key(NEW_FILE));
    assert_eq!(outcome.resources[0].name, "status-page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_without_anywhere_to_push_is_an_error_before_anything_is_written() {
    let repos = repos(None);
    let mut settings = settings(None);
    settings.github = Some(github("http://127.0.0.1:9", Some("t")));
    let proposer = Proposer::new(settings, local(&repos, None), engine(), None);
    let err = proposer.propose(add_status_page()).await.unwrap_err();
    assert!(
        matches!(&err, ProposeError::GitHub(m) if m.to_string().contains("[propose] remote")),
        "{err:?}"
    );
    assert_eq!(branches(&repos.work).keys().collect::<Vec<_>>(), ["main"]);
}

fn proposal(
    id: uuid::Uuid,
    at: chrono::DateTime<chrono::Utc>,
    status: ProposalStatus,
) -> (ProposalRecord, AuditRecord) {
    let branch = format!(
        "homelabd/deploy-with-intelligence/web-{}",
        &id.simple().to_string()[..8]
    );
    let record = ProposalRecord {
        id,
        tool: "deploy-with-intelligence".into(),
        client: "mcp:agent".into(),
        branch: branch.clone(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        pr_url: (status == ProposalStatus::PullRequest)
            .then(|| "https://github.com/o/r/pull/7".into()),
        status,
        created_at: at,
        details: serde_json::json!({"title": "Deploy web\u{0}", "files": [{"path": "definitions/web.yaml"}]}),
    };
    let audit = AuditRecord {
        at,
        actor: "mcp:agent".into(),
        action: "proposal.opened".into(),
        subject: branch,
        details: serde_json::json!({"proposal": id.to_string()}),
    };
    (record, audit)
}

async fn store_contract(store: &Store) {
    use chrono::{Duration, SubsecRound, Utc};
    store.migrate().await.unwrap();
    let t0 = Utc::now().trunc_subsecs(6);
    let (first, first_audit) = proposal(uuid::Uuid::new_v4(), t0, ProposalStatus::Pushed);
    let (second, second_audit) = proposal(
        uuid::Uuid::new_v4(),
        t0 + Duration::seconds(1),
        ProposalStatus::PullRequest,
    );
    store
        .record_proposal(&first, &first_audit, &[proposal_opened(&first)])
        .await
        .unwrap();
    store
        .record_proposal(&second, &second_audit, &[proposal_opened(&second)])
        .await
        .unwrap();

    let rows = store.proposals(10).await.unwrap();
    let mut expected_second = second.clone();
    expected_second.details["title"] = "Deploy web\u{fffd}".into();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], expected_second, "newest first, NUL replaced");
    assert_eq!(rows[1].id, first.id);
    assert_eq!(store.proposals(1).await.unwrap().len(), 1);
    let audit = store.audit_log(10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0], second_audit);

    // Both rows or neither: a proposal that cannot be written takes its audit row along.
    let (again, again_audit) =
        proposal(first.id, t0 + Duration::seconds(2), ProposalStatus::Pushed);
    assert!(
        store
            .record_proposal(&again, &again_audit, &[proposal_opened(&again)])
            .await
            .is_err()
    );
    assert_eq!(store.audit_log(10).await.unwrap().len(), 2);
    assert_eq!(store.proposals(10).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_are_recorded_with_their_audit_row_in_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("homelabd.db").display());
    store_contract(&Store::connect(&url).await.unwrap()).await;

    let test = "proposals_are_recorded_with_their_audit_row_in_sqlite_and_postgres (postgres)";
    let Some((_pg, url)) = support::store::postgres(test).await else {
        return;
    };
    store_contract(&Store::connect(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_vm_shows_its_terraform_diff_and_names_the_shared_roles() {
    let repos = repos(None);
    let proposer = Proposer::new(
        settings(Some("origin")),
        local(&repos, None),
        engine(),
        None,
    );
    let jenkins =
        std::fs::read_to_string(support::example_repo().join("definitions/ci/jenkins.yaml"))
            .unwrap()
            .replace("name: jenkins", "name: jenkins-2");
    let mut req = request(
        "jenkins-2",
        vec![write("definitions/ci/jenkins-2.yaml", jenkins)],
    );
    req.dry_run = true;
    let outcome = proposer.propose(req).await.unwrap();
    let r = outcome
        .resources
        .iter()
        .find(|r| r.name == "jenkins-2")
        .expect("the new VM");
    assert_eq!(r.change, ChangeKind::Created);
    assert_eq!(r.provider, Some(homelabd::model::Provider::Proxmox));
    assert!(
        r.diff.contains("+++ b/proxmox/jenkins-2/main.tf"),
        "{}",
        r.diff
    );
    // The modules and roles come from the shared directory: named, not shown.
    assert!(
        r.diff
            .contains("# shared built-in modules and roles (rendered-configs/.shared/): added [")
            && r.diff.contains("base-system@")
            && r.diff.contains("(not shown)"),
        "{}",
        r.diff
    );
    assert!(
        !r.files.iter().any(|f| f.starts_with("ansible/roles/")),
        "{:?}",
        r.files
    );
}
