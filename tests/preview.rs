//! Pull-request previews: `homelabd preview` on real git repositories with a pull-request
//! branch (text, markdown, JSON; changed / created / removed, pruned vs orphaned; invalid
//! and hostile heads), the GitHub reporting against the REST simulator (status, one
//! comment updated in place), and a running daemon answering a signed `pull_request`
//! webhook and polling open pull requests.

mod support;

use homelabd::model::Provider;
use homelabd::pipeline::Engine;
use homelabd::place::{Prior, Priors};
use homelabd::preview::{self, Report};
use homelabd::propose::GitHubSettings;
use homelabd::reconcile::EffectivePolicy;
use homelabd::setting::Secret;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use support::daemon::{Daemon, DaemonCommand, wait_until};
use support::git;
use support::github_sim::{BOT_LOGIN, GithubSim, Recorded};

const POOL: &str = include_str!("../example-repo/pools/docker.yaml");
const ROOT: &str = include_str!("../example-repo/pools/homelab.yaml");
const WORKLOAD: &str = include_str!("../example-repo/workload-types/web-application.yaml");
const MARKER: &str = "<!-- homelabd-preview -->";

/// A docker-compose web application; `extra` is appended to `spec` (a policy, say).
fn app(name: &str, port: u16, extra: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  requirements:\n    \
         cpu: 1\n    memory_gb: 0.5\n    storage_gb: 2\n  placement: {{ provider: docker, pool: \
         /homelab/docker }}\n  chart:\n    name: docker-compose\n    values:\n      image: \
         nginx:1\n      ports:\n        - {{ name: http, container_port: 80, host_port: {port}, \
         protocol: tcp }}\n{extra}"
    )
}

const PRUNE: &str = "  policy:\n    prune: true\n";

/// A repository whose `main` holds the pools, the workload type and `defs`.
fn repo_with(defs: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "pools/docker.yaml", POOL);
    support::write(dir.path(), "pools/homelab.yaml", ROOT);
    support::write(dir.path(), "workload-types/web.yaml", WORKLOAD);
    for (path, content) in defs {
        support::write(dir.path(), path, content);
    }
    let repo = git2::Repository::init(dir.path()).unwrap();
    repo.set_head("refs/heads/main").unwrap();
    support::git_commit_all(dir.path(), "base");
    dir
}

/// Creates `branch` at the current commit and switches to it (later commits go there).
fn switch_to_new_branch(dir: &Path, branch: &str) {
    let repo = git2::Repository::open(dir).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    repo.branch(branch, &head, false).unwrap();
    repo.set_head(&format!("refs/heads/{branch}")).unwrap();
}

fn remove(dir: &Path, rel: &str) {
    std::fs::remove_file(dir.join(rel)).unwrap();
}

/// `homelabd preview --base main --head feature DIR --output FORMAT [extra…]`.
fn preview_cli(dir: &Path, format: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["preview", "--base", "main", "--head", "feature"];
    args.extend_from_slice(extra);
    args.extend(["--output", format]);
    let dir = dir.to_str().unwrap();
    args.push(dir);
    let out = support::homelabd(&args);
    (
        out.status.code().unwrap_or(-1),
        support::stdout(&out),
        support::stderr(&out),
    )
}

/// Checks the markdown as GitHub's renderer would structure it: every table row has the
/// header's number of cells (unescaped `|`), every `<details>` is closed and opens with a
/// `<summary>`, and every code fence is closed by a fence of the same length.
fn assert_well_formed(md: &str) {
    let cells = |line: &str| line.replace("\\|", "").matches('|').count();
    let mut table: Option<usize> = None;
    let mut fence: Option<String> = None;
    let mut open_details = 0usize;
    let lines: Vec<&str> = md.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(f) = &fence {
            if line.trim_end() == f {
                fence = None;
            }
            continue;
        }
        let ticks = line.chars().take_while(|c| *c == '`').count();
        if ticks >= 3 {
            fence = Some("`".repeat(ticks));
            continue;
        }
        match (table, line.starts_with('|')) {
            (None, true) => table = Some(cells(line)),
            (Some(n), true) => assert_eq!(cells(line), n, "table row {i}: {line}\n{md}"),
            (Some(_), false) => table = None,
            (None, false) => {}
        }
        if *line == "<details>" {
            open_details += 1;
            assert!(
                lines.get(i + 1).is_some_and(|l| l.starts_with("<summary>")),
                "{md}"
            );
        }
        if line.starts_with("<details><summary>") {
            open_details += 1;
        }
        if *line == "</details>" {
            open_details = open_details.checked_sub(1).expect("unbalanced </details>");
        }
    }
    assert!(fence.is_none(), "unclosed code fence\n{md}");
    assert_eq!(open_details, 0, "unclosed <details>\n{md}");
}

/// main: web, old-pruned (prune: true), old-kept (no policy). feature: web on another
/// port, status added, both old ones deleted.
fn changed_created_removed() -> tempfile::TempDir {
    let dir = repo_with(&[
        ("definitions/web.yaml", app("web", 8080, "")),
        (
            "definitions/old-pruned.yaml",
            app("old-pruned", 8081, PRUNE),
        ),
        ("definitions/old-kept.yaml", app("old-kept", 8082, "")),
    ]);
    switch_to_new_branch(dir.path(), "feature");
    support::write(dir.path(), "definitions/web.yaml", &app("web", 9090, ""));
    support::write(
        dir.path(),
        "definitions/status.yaml",
        &app("status", 8083, ""),
    );
    remove(dir.path(), "definitions/old-pruned.yaml");
    remove(dir.path(), "definitions/old-kept.yaml");
    support::git_commit_all(dir.path(), "feature");
    dir
}

#[test]
fn text_shows_changed_created_and_removed_with_the_diff() {
    let dir = changed_created_removed();
    let (code, out, err) = preview_cli(dir.path(), "text", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("against main"), "{out}");
    assert!(
        out.contains("1 created, 1 changed, 2 removed, 0 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("changed   web docker /homelab/docker on docker-01"),
        "{out}"
    );
    assert!(out.contains("created   status docker"), "{out}");
    assert!(
        out.contains("pruned: prune: true (its definition's policy.prune)"),
        "{out}"
    );
    assert!(
        out.contains("orphaned: prune: false (the daemon's default policy)"),
        "{out}"
    );
    // The changed line, and only it, with context.
    assert!(
        out.contains("--- a/docker/web/compose.yaml\n+++ b/docker/web/compose.yaml\n"),
        "{out}"
    );
    assert!(
        out.contains("\n-      - \"8080:80/tcp\"\n+      - \"9090:80/tcp\"\n"),
        "{out}"
    );
    assert!(out.contains("--- /dev/null\n+++ b/docker/status/compose.yaml"));
    assert!(out.contains("--- a/docker/old-kept/compose.yaml\n+++ /dev/null"));
    // Placement reasoning for created and changed resources.
    assert!(
        out.contains("- pool /homelab/docker: set in spec.placement.pool"),
        "{out}"
    );
    // No Terraform resource changes: no Terraform note.
    assert!(!out.contains("Terraform plan"), "{out}");
}

#[test]
fn markdown_has_the_marker_table_details_and_diff_fences() {
    let dir = changed_created_removed();
    let (code, md, err) = preview_cli(dir.path(), "markdown", &[]);
    assert_eq!(code, 0, "{md}\n{err}");
    assert!(
        md.starts_with(&format!("{MARKER}\n## homelabd preview: ✅ valid\n")),
        "{md}"
    );
    assert!(
        md.contains(
            "| Resource | Change | Provider | Pool | Nodes | Size | Files |\n|---|---|---|---|---|---|---|\n"
        ),
        "{md}"
    );
    assert!(
        md.contains("| `web` | changed | docker | /homelab/docker | docker-01 |"),
        "{md}"
    );
    assert!(md.contains("| `status` | created |"), "{md}");
    assert!(md.contains("| `old-pruned` | removed (pruned) |"), "{md}");
    assert!(md.contains("| `old-kept` | removed (orphaned) |"), "{md}");
    assert!(
        md.contains("### Pruned, orphaned and kept\n\n- `old-kept` → **orphaned**"),
        "{md}"
    );
    assert!(md.contains("- `old-pruned` → **pruned**"), "{md}");
    assert!(md.contains("### Placement\n"), "{md}");
    assert!(
        md.contains(
            "<details>\n<summary><code>web</code> (changed): 1 file</summary>\n\n```diff\n--- a/docker/web/compose.yaml\n"
        ),
        "{md}"
    );
    // Every collapsible section is closed, every fence too.
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    assert_eq!(md.matches("```diff\n").count(), 4, "{md}");
    assert_eq!(md.matches("\n```\n").count(), 4, "{md}");
    assert!(md.len() < 65_536);
    assert_well_formed(&md);
}

#[test]
fn json_counts_and_the_prune_default() {
    let dir = changed_created_removed();
    let (code, out, _) = preview_cli(dir.path(), "json", &[]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["counts"]["created"], 1);
    assert_eq!(v["counts"]["changed"], 1);
    assert_eq!(v["counts"]["removed"], 2);
    assert_eq!(v["counts"]["pruned"], 1);
    assert_eq!(v["counts"]["orphaned"], 1);
    let resource = |name: &str| {
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(resource("old-kept")["removal"]["outcome"], "orphaned");
    assert_eq!(
        resource("web")["files"],
        serde_json::json!(["compose.yaml"])
    );
    assert_eq!(
        v["changed_files"],
        serde_json::json!([
            "definitions/old-kept.yaml",
            "definitions/old-pruned.yaml",
            "definitions/status.yaml",
            "definitions/web.yaml"
        ])
    );
    // With the daemon's default `prune = true`, the resource without a policy is pruned.
    let (_, out, _) = preview_cli(dir.path(), "json", &["--default-prune"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["counts"]["pruned"], 2);
    assert_eq!(v["counts"]["orphaned"], 0);
}

#[test]
fn an_invalid_head_exits_1_with_file_and_line() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    let broken = app("web", 8080, "").replace("cpu: 1", "cpu: four");
    let line = broken
        .lines()
        .position(|l| l.contains("cpu: four"))
        .unwrap()
        + 1;
    support::write(dir.path(), "definitions/web.yaml", &broken);
    support::git_commit_all(dir.path(), "broken");

    let (code, out, err) = preview_cli(dir.path(), "text", &[]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("INVALID"), "{out}");
    assert!(
        out.contains(&format!("definitions/web.yaml:{line}:")),
        "{out}"
    );
    // The resource keeps its last good state; nothing is removed.
    assert!(out.contains("invalid   web"), "{out}");
    assert!(out.contains("keeps its last good state"), "{out}");

    let (code, out, _) = preview_cli(dir.path(), "json", &[]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"][0]["file"], "definitions/web.yaml");
    assert_eq!(v["errors"][0]["line"], line);
    assert_eq!(v["counts"]["removed"], 0);
    assert_eq!(v["counts"]["invalid"], 1);

    let (_, md, _) = preview_cli(dir.path(), "markdown", &[]);
    assert!(md.contains("## homelabd preview: ❌ invalid"), "{md}");
    assert!(
        md.contains("### Validation errors (1)\n\n- `definitions/web.yaml:"),
        "{md}"
    );
    assert!(
        md.contains("- `web` → **kept**: invalid at `definitions/web.yaml:"),
        "{md}"
    );
    assert_well_formed(&md);
}

#[test]
fn a_sub_directory_is_previewed_with_path() {
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "README.md", "not a definition\n");
    support::write(dir.path(), "homelab/pools/docker.yaml", POOL);
    support::write(dir.path(), "homelab/pools/homelab.yaml", ROOT);
    support::write(dir.path(), "homelab/workload-types/web.yaml", WORKLOAD);
    support::write(
        dir.path(),
        "homelab/definitions/web.yaml",
        &app("web", 8080, ""),
    );
    git2::Repository::init(dir.path())
        .unwrap()
        .set_head("refs/heads/main")
        .unwrap();
    support::git_commit_all(dir.path(), "base");
    switch_to_new_branch(dir.path(), "feature");
    support::write(
        dir.path(),
        "homelab/definitions/web.yaml",
        &app("web", 8181, ""),
    );
    support::git_commit_all(dir.path(), "port");
    let (code, out, err) = preview_cli(dir.path(), "json", &["--path", "homelab"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["changed_files"],
        serde_json::json!(["definitions/web.yaml"])
    );
    assert_eq!(v["counts"]["changed"], 1);
    let (code, _, err) = preview_cli(dir.path(), "json", &["--path", "elsewhere"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"elsewhere\" does not exist"), "{err}");
}

#[test]
fn unknown_refs_are_usage_errors() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    let out = support::homelabd(&[
        "preview",
        "--base",
        "main",
        "--head",
        "no-such-branch",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(support::stderr(&out).contains("\"no-such-branch\" not found"));
}

/// Billion laughs: nine levels of ten aliases each.
fn alias_bomb() -> String {
    let mut doc = String::from(
        "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"
        ));
    }
    format!("apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: bomb\n{doc}")
}

#[test]
fn a_hostile_head_is_reported_invalid_without_harm() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    // Template syntax in a value is data: rendered literally, never evaluated.
    let tricks = app("tricks", 8090, "").replace(
        "image: nginx:1",
        "image: nginx:1\n      env:\n        TRICK: \"{{ 7 * 7 }}{% for x in range(999999999) %}x{% endfor %}\"",
    );
    support::write(dir.path(), "definitions/tricks.yaml", &tricks);
    support::write(
        dir.path(),
        "definitions/escape.yaml",
        &app("../../etc/passwd", 8091, ""),
    );
    let huge = format!("# {}\n", "x".repeat(3 * 1024 * 1024));
    support::write(dir.path(), "definitions/huge.yaml", &huge);
    support::write(dir.path(), "definitions/bomb.yaml", &alias_bomb());
    support::git_commit_all(dir.path(), "hostile");

    let started = Instant::now();
    let (code, out, err) = preview_cli(dir.path(), "json", &[]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let errors = v["errors"].as_array().unwrap();
    let in_file = |file: &str| errors.iter().any(|e| e["file"] == file);
    assert!(in_file("definitions/escape.yaml"), "{errors:?}");
    assert!(in_file("definitions/bomb.yaml"), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e["file"] == "definitions/huge.yaml" && e["code"] == "file-too-large"),
        "{errors:?}"
    );
    // Nothing was written into the repository or next to it.
    assert!(!dir.path().join("docker").exists());
    let tricks = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "tricks")
        .cloned()
        .unwrap();
    let diff = tricks["diff"].as_str().unwrap();
    assert!(
        diff.contains("{{ 7 * 7 }}{% for x in range(999999999) %}"),
        "{diff}"
    );
    assert!(!diff.contains("49"), "{diff}");

    let (code, md, _) = preview_cli(dir.path(), "markdown", &[]);
    assert_eq!(code, 1);
    assert!(md.contains("definitions/escape.yaml"), "{md}");
    assert_well_formed(&md);
    assert!(md.len() < 65_536);
}

#[test]
fn a_huge_diff_is_truncated_with_a_note_and_the_comment_stays_small() {
    // Six resources, each changed by 500 lines on the head: every diff is cut at 400
    // lines, and together they are still more than a comment holds.
    let names: Vec<String> = (0..6).map(|i| format!("app-{i}")).collect();
    let defs: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                format!("definitions/{n}.yaml"),
                app(n, 10_000 + i as u16, ""),
            )
        })
        .collect();
    let refs: Vec<(&str, String)> = defs.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
    let dir = repo_with(&refs);
    switch_to_new_branch(dir.path(), "feature");
    for (i, n) in names.iter().enumerate() {
        let env: String = (0..500)
            .map(|k| format!("        VAR_{k}: \"value {k} of {n}\"\n"))
            .collect();
        let changed = app(n, 10_000 + i as u16, "").replace(
            "image: nginx:1",
            &format!("image: nginx:1\n      env:\n{}", env.trim_end()),
        );
        support::write(dir.path(), &format!("definitions/{n}.yaml"), &changed);
    }
    support::git_commit_all(dir.path(), "big");
    let (code, md, err) = preview_cli(dir.path(), "markdown", &[]);
    assert_eq!(code, 0, "{md}\n{err}");
    assert!(md.len() < 65_536, "{}", md.len());
    assert!(
        md.contains("(changed): 1 file, truncated</summary>"),
        "{md}"
    );
    assert!(
        md.contains("more lines not shown (diffs are cut at 400 lines"),
        "{md}"
    );
    assert!(md.contains("is truncated; run `homelabd preview` locally for the rest."));
    assert!(
        md.contains("are left out to keep this comment within GitHub's size limit: `app-"),
        "{md}"
    );
    assert_well_formed(&md);
    let (_, out, _) = preview_cli(dir.path(), "json", &[]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["counts"]["changed"], 6);
    assert!(
        v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["diff_truncated"] == true)
    );
}

// ---- GitHub reporting ----

fn github(sim: &GithubSim) -> GitHubSettings {
    GitHubSettings {
        owner: "example".into(),
        repo: "homelab".into(),
        api_url: sim.url.clone(),
        login: None,
        token: Some(Secret::new("ghp-preview-token")),
    }
}

#[tokio::test]
async fn a_comment_by_anyone_else_carrying_the_marker_is_never_edited() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    support::write(dir.path(), "definitions/web.yaml", &app("web", 9090, ""));
    support::git_commit_all(dir.path(), "port");
    let sim = GithubSim::start("example", "homelab", "ghp-preview-token", None).await;
    // A GitHub App token: GET /user is refused, so the token's login is unknown.
    sim.act_as_app("homelabd-app[bot]");
    let forged = format!("{MARKER}\n## homelabd preview\n✅ valid, merge away");
    let mallory = sim.add_comment(7, "mallory", &forged);
    let report = report_of(dir.path(), "feature");

    for round in 0..2 {
        let done = preview::github::report(&github(&sim), 7, &report)
            .await
            .unwrap();
        assert!(!done.updated, "round {round}: a comment was edited");
        assert_ne!(done.comment_id, mallory);
    }
    assert_eq!(
        sim.comments()
            .iter()
            .find(|c| c.id == mallory)
            .unwrap()
            .body,
        forged,
        "mallory's comment was rewritten"
    );
    assert!(
        sim.requests().iter().all(|r| r.method != "PATCH"),
        "{:?}",
        sim.requests()
    );
    let ours: Vec<u64> = sim
        .comments()
        .iter()
        .filter(|c| c.login == "homelabd-app[bot]")
        .map(|c| c.id)
        .collect();
    assert_eq!(ours.len(), 2);

    // Told its login, homelabd updates its own first comment, still not mallory's.
    let mut told = github(&sim);
    told.login = Some("homelabd-app[bot]".into());
    let done = preview::github::report(&told, 7, &report).await.unwrap();
    assert!(done.updated);
    assert_eq!(done.comment_id, ours[0]);
    assert_eq!(
        sim.comments()
            .iter()
            .find(|c| c.id == mallory)
            .unwrap()
            .body,
        forged
    );
}

fn report_of(dir: &Path, head: &str) -> Report {
    report_placed(dir, head, &Priors::new())
}

/// The preview of `head` against `main` by a daemon whose store holds `placements`.
fn report_placed(dir: &Path, head: &str, placements: &Priors) -> Report {
    let repo = git2::Repository::open(dir).unwrap();
    let engine = Engine::new().unwrap();
    let base = preview::resolve(&repo, "main").unwrap();
    let head_id = preview::resolve(&repo, head).unwrap();
    preview::preview_commits(
        &engine,
        &repo,
        ("main", base),
        (head, head_id),
        None,
        preview::Context {
            defaults: EffectivePolicy::CONSERVATIVE,
            identities: None,
            placements,
        },
    )
    .unwrap()
}

/// Inside the daemon the base is placed where the daemon put things (its store), not
/// afresh: a changed resource is shown on the node it is really on, and not as moved.
#[test]
fn the_base_is_placed_where_the_daemon_put_things() {
    let two_hosts = POOL.replace(
        "      storage_gb: 1000\n",
        "      storage_gb: 1000\n    - name: docker-02\n      address: 192.168.10.51\n      \
         cpu: 8\n      memory_gb: 32\n      storage_gb: 1000\n",
    );
    assert!(two_hosts.contains("docker-02"), "{two_hosts}");
    let dir = repo_with(&[
        ("pools/docker.yaml", two_hosts),
        ("definitions/web.yaml", app("web", 8080, "")),
    ]);
    switch_to_new_branch(dir.path(), "feature");
    support::write(dir.path(), "definitions/web.yaml", &app("web", 9090, ""));
    support::git_commit_all(dir.path(), "web on another port");

    let fresh = report_of(dir.path(), "feature");
    let web = |r: &Report| {
        r.resources
            .iter()
            .find(|x| x.name == "web")
            .unwrap()
            .clone()
    };
    let afresh = web(&fresh).nodes;
    // The daemon put web on the node a fresh placement would not choose.
    let elsewhere = if afresh == ["docker-01"] {
        "docker-02"
    } else {
        "docker-01"
    };
    let placements: Priors = [(
        "web".to_owned(),
        Prior {
            provider: Provider::Docker,
            pool: "/homelab/docker".into(),
            nodes: vec![elsewhere.into()],
            gpus: Vec::new(),
            cpu: 1,
            memory_gb: 0.5,
            storage_gb: 2,
            gpu: false,
            replicas: 1,
        },
    )]
    .into_iter()
    .collect();
    let placed = web(&report_placed(dir.path(), "feature", &placements));
    assert_eq!(placed.change, preview::Change::Changed);
    assert_eq!(placed.nodes, [elsewhere], "{placed:?}");
    assert_eq!(placed.moved_from, None, "{placed:?}");
}

fn summary(r: &Recorded) -> (String, String) {
    (r.method.clone(), r.path.clone())
}

#[tokio::test]
async fn the_status_is_set_and_one_comment_is_updated_in_place() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    support::write(dir.path(), "definitions/web.yaml", &app("web", 9090, ""));
    let first_sha = support::git_commit_all(dir.path(), "port");
    let sim = GithubSim::start("example", "homelab", "ghp-preview-token", None).await;
    // Someone quoting the marker in their own comment: never edited.
    let foreign = sim.add_comment(7, "mallory", &format!("{MARKER}\nnot homelabd"));

    let first = report_of(dir.path(), "feature");
    let done = preview::github::report(&github(&sim), 7, &first)
        .await
        .unwrap();
    assert!(!done.updated);
    let requests = sim.requests();
    assert_eq!(
        requests.iter().map(summary).collect::<Vec<_>>(),
        [
            (
                "POST".into(),
                format!("/repos/example/homelab/statuses/{first_sha}")
            ),
            ("GET".into(), "/user".into()),
            (
                "GET".into(),
                "/repos/example/homelab/issues/7/comments".into()
            ),
            (
                "POST".into(),
                "/repos/example/homelab/issues/7/comments".into()
            ),
        ]
    );
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer ghp-preview-token"))
    );
    let status = requests[0].body.clone().unwrap();
    assert_eq!(status["state"], "success");
    assert_eq!(status["context"], "homelabd/preview");
    assert_eq!(
        status["description"],
        "valid: 0 created, 1 changed, 0 removed, 0 unchanged"
    );
    let comment = requests[3].body.clone().unwrap();
    assert!(comment["body"].as_str().unwrap().starts_with(MARKER));

    // A second push, now broken: failure with the first error; the same comment PATCHed.
    let broken = app("web", 9090, "").replace("cpu: 1", "cpu: four");
    support::write(dir.path(), "definitions/web.yaml", &broken);
    let second_sha = support::git_commit_all(dir.path(), "broken");
    let second = report_of(dir.path(), "feature");
    let again = preview::github::report(&github(&sim), 7, &second)
        .await
        .unwrap();
    assert!(again.updated);
    assert_eq!(again.comment_id, done.comment_id);
    assert_ne!(again.comment_id, foreign);
    let requests = sim.requests();
    assert_eq!(
        requests[4..].iter().map(summary).collect::<Vec<_>>(),
        [
            (
                "POST".into(),
                format!("/repos/example/homelab/statuses/{second_sha}")
            ),
            ("GET".into(), "/user".into()),
            (
                "GET".into(),
                "/repos/example/homelab/issues/7/comments".into()
            ),
            (
                "PATCH".into(),
                format!("/repos/example/homelab/issues/comments/{}", done.comment_id)
            ),
        ]
    );
    let status = requests[4].body.clone().unwrap();
    assert_eq!(status["state"], "failure");
    let description = status["description"].as_str().unwrap();
    assert!(
        description.starts_with("1 error: definitions/web.yaml:"),
        "{description}"
    );
    assert!(description.chars().count() <= 140);
    let comments = sim.comments();
    let ours: Vec<_> = comments.iter().filter(|c| c.login == BOT_LOGIN).collect();
    assert_eq!(ours.len(), 1, "{comments:?}");
    assert!(ours[0].body.contains("❌ invalid"), "{}", ours[0].body);
    assert_eq!(
        comments.iter().find(|c| c.id == foreign).unwrap().body,
        format!("{MARKER}\nnot homelabd")
    );
}

// ---- the daemon ----

/// A daemon tracking `main` of `repo` (a path or URL) with its default SQLite store,
/// verifying webhooks with `secret` and calling GitHub with `token`.
fn start(repo: &str, state: &Path, config: &str, secret: &str, token: &str) -> Daemon {
    DaemonCommand::new(state)
        .repo(repo)
        .args(["--branch", "main"])
        .config(config)
        .env("HOMELABD_WEBHOOK_SECRET", secret)
        .env("HOMELABD_GITHUB_TOKEN", token)
        .env_remove("HOMELABD_DATABASE_URL")
        .spawn()
}

fn hub_signature(key: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn send_pull_request(
    daemon: &Daemon,
    secret: &str,
    delivery: &str,
    action: &str,
    number: u64,
    sha: &str,
) -> reqwest::StatusCode {
    send_pull_request_into(daemon, secret, delivery, action, number, sha, "main").await
}

async fn send_pull_request_into(
    daemon: &Daemon,
    secret: &str,
    delivery: &str,
    action: &str,
    number: u64,
    sha: &str,
    base: &str,
) -> reqwest::StatusCode {
    let body = serde_json::json!({
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": sha, "ref": "feature"},
            "base": {"ref": base},
        },
    })
    .to_string();
    support::http_client()
        .post(format!("http://127.0.0.1:{}/hooks/github", daemon.port))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", delivery)
        .header(
            "X-Hub-Signature-256",
            hub_signature(secret, body.as_bytes()),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn count(sim: &GithubSim, method: &str, path: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

#[tokio::test]
async fn a_signed_pull_request_webhook_and_polling_report_previews() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    let main_sha = git2::Repository::open(dir.path())
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap()
        .to_string();
    switch_to_new_branch(dir.path(), "feature");
    support::write(
        dir.path(),
        "definitions/status.yaml",
        &app("status", 8081, ""),
    );
    let first = support::git_commit_all(dir.path(), "add status");
    let sim = GithubSim::start("example", "homelab", "ghp-daemon-token", None).await;
    let state = tempfile::tempdir().unwrap();
    let config = format!(
        "[source]\npoll_interval_seconds = 1\n\n[policy]\napply = \"manual\"\n\n\
         [propose.github]\nowner = \"example\"\nrepo = \"homelab\"\napi_url = \"{}\"\n",
        sim.url
    );
    let secret = "webhook-secret-0123456789";
    let daemon = start(
        dir.path().to_str().unwrap(),
        state.path(),
        &config,
        secret,
        "ghp-daemon-token",
    );
    daemon.wait_healthy(60).await;

    sim.open_pull(7, "feature", &first);
    let status = send_pull_request(&daemon, secret, "d-1", "opened", 7, &first).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED);
    let comments = "/repos/example/homelab/issues/7/comments";
    wait_until(&daemon, 60, "the first comment", || {
        count(&sim, "POST", comments) == 1
    })
    .await;
    let statuses: Vec<Recorded> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/repos/example/homelab/statuses/{first}"))
        .collect();
    assert_eq!(statuses.len(), 1);
    let body = statuses[0].body.clone().unwrap();
    assert_eq!(body["state"], "success");
    assert_eq!(
        body["description"],
        "valid: 1 created, 0 changed, 0 removed, 1 unchanged"
    );
    let comment = sim.comments().pop().unwrap();
    assert!(
        comment.body.contains("| `status` | created |"),
        "{}",
        comment.body
    );

    // The same head again (a redelivery under a new id): nothing reported twice.
    let status = send_pull_request(&daemon, secret, "d-2", "reopened", 7, &first).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED);

    // A push to the pull request: the same comment is updated.
    support::write(
        dir.path(),
        "definitions/status.yaml",
        &app("status", 8082, ""),
    );
    let second = support::git_commit_all(dir.path(), "status port");
    sim.open_pull(7, "feature", &second);
    send_pull_request(&daemon, secret, "d-3", "synchronize", 7, &second).await;
    let patch = format!("/repos/example/homelab/issues/comments/{}", comment.id);
    wait_until(&daemon, 60, "the comment update", || {
        count(&sim, "PATCH", &patch) == 1
    })
    .await;
    assert_eq!(count(&sim, "POST", comments), 1);
    assert_eq!(
        count(
            &sim,
            "POST",
            &format!("/repos/example/homelab/statuses/{first}")
        ),
        1,
        "an unchanged head was reported again"
    );
    assert!(
        sim.comments()
            .iter()
            .any(|c| c.id == comment.id && c.body.contains("8082")),
        "{:?}",
        sim.comments()
    );

    // A pull request into another branch than the tracked one: not previewed.
    let other =
        send_pull_request_into(&daemon, secret, "d-6", "opened", 11, &second, "develop").await;
    assert_eq!(other, reqwest::StatusCode::ACCEPTED);

    // Polling: an open pull request nobody sent a webhook for.
    sim.open_pull(8, "feature", &second);
    wait_until(&daemon, 60, "the polled preview", || {
        count(&sim, "POST", "/repos/example/homelab/issues/8/comments") == 1
    })
    .await;
    // The store keeps each head's outcome, for the dashboard's list of previews.
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let previews = support::daemon::wait_for_store(
        &db,
        &daemon,
        30,
        "three recorded previews",
        async |s: &homelabd::store::Store| s.previews(10).await.ok(),
        |p| p.len() == 3,
    )
    .await;
    assert!(
        previews
            .iter()
            .all(|p| p.status == homelabd::store::PreviewStatus::Valid && p.reported),
        "{previews:#?}"
    );
    let polled = previews.iter().find(|p| p.pull == 8).unwrap();
    assert_eq!(polled.head, second);
    assert_eq!(polled.base.as_deref(), Some(main_sha.as_str()));
    assert_eq!(
        polled.pr_url.as_deref(),
        Some(format!("{}/example/homelab/pull/8", sim.url.trim_end_matches('/')).as_str())
    );
    assert!(
        polled.summary.starts_with("valid: 1 created"),
        "{}",
        polled.summary
    );
    // Previews never move the tracked branch or apply anything.
    let main_now = git2::Repository::open(dir.path())
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap()
        .to_string();
    assert_eq!(main_now, main_sha);
    // Pull request #11 (into develop) was handled before #8 was polled, and left alone.
    assert!(
        sim.requests()
            .iter()
            .all(|r| !r.path.contains("/issues/11/")),
        "{:?}",
        sim.requests()
    );
    assert!(!state.path().join("rendered-configs/docker/status").exists());
    // Other actions are acknowledged and ignored.
    let closed = send_pull_request(&daemon, secret, "d-5", "closed", 7, &second).await;
    assert_eq!(closed, reqwest::StatusCode::ACCEPTED);
    // Unsigned pull_request events are refused.
    let unsigned = support::http_client()
        .post(format!("http://127.0.0.1:{}/hooks/github", daemon.port))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "d-4")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_remote_pull_request_head_is_fetched_from_refs_pull() {
    // The remote holds the pull request only as refs/pull/9/head, as GitHub does for a
    // fork's pull request: no branch of that name exists there.
    let work = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(work.path(), "feature");
    support::write(work.path(), "definitions/web.yaml", &app("web", 9191, ""));
    let head = support::git_commit_all(work.path(), "port");
    let remote = tempfile::tempdir().unwrap();
    let bare = remote.path().join("homelab.git");
    git(
        remote.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.path().to_str().unwrap(),
            "homelab.git",
        ],
    );
    git(&bare, &["update-ref", "refs/pull/9/head", &head]);
    git(&bare, &["update-ref", "-d", "refs/heads/feature"]);

    let sim = GithubSim::start("example", "homelab", "ghp-remote-token", None).await;
    let state = tempfile::tempdir().unwrap();
    let config = format!(
        "[policy]\napply = \"manual\"\n\n[propose.github]\nowner = \"example\"\n\
         repo = \"homelab\"\napi_url = \"{}\"\n",
        sim.url
    );
    let url = format!("file://{}", bare.display());
    let daemon = start(
        &url,
        state.path(),
        &config,
        "s3cret-0123456789",
        "ghp-remote-token",
    );
    daemon.wait_healthy(60).await;
    sim.open_pull(9, "feature", &head);
    let accepted = send_pull_request(&daemon, "s3cret-0123456789", "r-1", "opened", 9, &head).await;
    assert_eq!(accepted, reqwest::StatusCode::ACCEPTED);
    let comments = "/repos/example/homelab/issues/9/comments";
    wait_until(&daemon, 60, "the comment", || {
        count(&sim, "POST", comments) == 1
    })
    .await;
    let body = &sim.comments()[0].body;
    assert!(body.contains("| `web` | changed |"), "{body}");
    assert!(body.contains("+      - \"9191:80/tcp\""), "{body}");
    // Fetched beside the tracked branch, which stays where the remote's main is.
    let mirror = git2::Repository::open_bare(state.path().join("repo.git")).unwrap();
    assert_eq!(
        mirror
            .refname_to_id("refs/homelabd/pull/9")
            .unwrap()
            .to_string(),
        head
    );
    let main = git2::Repository::open_bare(&bare)
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap();
    assert_eq!(
        mirror.refname_to_id("refs/remotes/origin/main").unwrap(),
        main
    );

    // A head the remote does not have: reported in the log, nothing sent to GitHub but
    // the question for the pull request's current head.
    let before = sim.requests().len();
    let missing = "1111111111111111111111111111111111111111";
    sim.open_pull(9, "feature", missing);
    send_pull_request(
        &daemon,
        "s3cret-0123456789",
        "r-2",
        "synchronize",
        9,
        missing,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon.log().contains("pull request preview failed") {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(daemon.log().contains(missing));
    let after: Vec<_> = sim.requests()[before..].iter().map(summary).collect();
    assert_eq!(
        after,
        [(
            "GET".to_owned(),
            "/repos/example/homelab/pulls/9".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_replayed_pull_request_payload_never_previews_an_old_head() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    support::write(dir.path(), "definitions/web.yaml", &app("web", 8081, ""));
    let old = support::git_commit_all(dir.path(), "port 8081");
    support::write(dir.path(), "definitions/web.yaml", &app("web", 8082, ""));
    let current = support::git_commit_all(dir.path(), "port 8082");
    let sim = GithubSim::start("example", "homelab", "ghp-replay-token", None).await;
    let state = tempfile::tempdir().unwrap();
    // No polling during the test: only webhooks start previews.
    let config = format!(
        "[source]\npoll_interval_seconds = 3600\n\n[policy]\napply = \"manual\"\n\n\
         [propose.github]\nowner = \"example\"\nrepo = \"homelab\"\napi_url = \"{}\"\n",
        sim.url
    );
    let secret = "replay-secret-0123456789";
    let daemon = start(
        dir.path().to_str().unwrap(),
        state.path(),
        &config,
        secret,
        "ghp-replay-token",
    );
    daemon.wait_healthy(60).await;
    sim.open_pull(7, "feature", &current);
    send_pull_request(&daemon, secret, "p-1", "synchronize", 7, &current).await;
    wait_until(&daemon, 60, "the preview of the current head", || {
        count(&sim, "POST", "/repos/example/homelab/issues/7/comments") == 1
    })
    .await;
    let comment = sim.comments().pop().unwrap();
    assert!(comment.body.contains("8082"), "{}", comment.body);

    // A captured payload of the old head, replayed under a new delivery id (GitHub does
    // not sign the id): valid signature, accepted, and ignored.
    let replayed = send_pull_request(&daemon, secret, "p-forged", "synchronize", 7, &old).await;
    assert_eq!(replayed, reqwest::StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon.log().contains("stale pull_request payload ignored") {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(daemon.log().contains(&old), "the log names the stale head");
    assert_eq!(
        count(
            &sim,
            "POST",
            &format!("/repos/example/homelab/statuses/{old}")
        ),
        0,
        "the old head got a commit status"
    );
    let patch = format!("/repos/example/homelab/issues/comments/{}", comment.id);
    assert_eq!(
        count(&sim, "PATCH", &patch),
        0,
        "the comment was overwritten"
    );
    assert!(sim.comments()[0].body.contains("8082"));

    // A closed pull request: a late payload of its last head previews nothing either.
    support::write(dir.path(), "definitions/web.yaml", &app("web", 8083, ""));
    let last = support::git_commit_all(dir.path(), "port 8083");
    sim.open_pull(7, "feature", &last);
    sim.close_pull(7);
    send_pull_request(&daemon, secret, "p-late", "synchronize", 7, &last).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon
        .log()
        .contains("pull request is closed: not previewed")
    {
        assert!(Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&sim, "PATCH", &patch), 0);
}

#[tokio::test]
async fn a_preview_past_its_deadline_fails_once_and_waits_for_a_new_head() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    // A repository chart that loops for hours with the fuel raised (10^10 iterations,
    // no output).
    let meta =
        std::fs::read_to_string(support::root().join("charts/docker-compose/Chart.yaml")).unwrap();
    support::write(dir.path(), "charts/docker-compose/Chart.yaml", &meta);
    support::write(
        dir.path(),
        "charts/docker-compose/templates/compose.yaml.tpl",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    );
    let slow = support::git_commit_all(dir.path(), "a chart that never finishes");
    let sim = GithubSim::start("example", "homelab", "ghp-slow-token", None).await;
    sim.open_pull(7, "feature", &slow);
    let state = tempfile::tempdir().unwrap();
    let config = format!(
        "[source]\npoll_interval_seconds = 1\n\n[policy]\napply = \"manual\"\n\n\
         [limits]\ntemplate_fuel = 1000000000000\npreview_timeout_seconds = 2\n\n\
         [propose.github]\nowner = \"example\"\nrepo = \"homelab\"\napi_url = \"{}\"\n",
        sim.url
    );
    let daemon = start(
        dir.path().to_str().unwrap(),
        state.path(),
        &config,
        "slow-secret-0123456789",
        "ghp-slow-token",
    );
    daemon.wait_healthy(60).await;
    let statuses = format!("/repos/example/homelab/statuses/{slow}");
    wait_until(&daemon, 60, "the failed status", || {
        count(&sim, "POST", &statuses) == 1
    })
    .await;
    let status = sim
        .requests()
        .into_iter()
        .find(|r| r.path == statuses)
        .and_then(|r| r.body)
        .unwrap();
    assert_eq!(status["state"], "error", "{status}");
    let description = status["description"].as_str().unwrap();
    assert!(
        description.contains("2 s") && description.contains("preview_timeout_seconds"),
        "{description}"
    );
    assert!(description.chars().count() <= 140);

    // Three more polls list the same head: it is not previewed again.
    let polls = count(&sim, "GET", "/repos/example/homelab/pulls");
    wait_until(&daemon, 30, "three more polls", || {
        count(&sim, "GET", "/repos/example/homelab/pulls") >= polls + 3
    })
    .await;
    assert_eq!(count(&sim, "POST", &statuses), 1);
    assert_eq!(
        daemon
            .log()
            .lines()
            .filter(|l| l.contains("previewing pull request") && l.contains(&slow))
            .count(),
        1,
        "{}",
        daemon.log()
    );
    assert!(daemon.log().contains("this head is not tried again"));

    // A new head is previewed as usual.
    support::write(
        dir.path(),
        "charts/docker-compose/templates/compose.yaml.tpl",
        "services: {}\n",
    );
    let fixed = support::git_commit_all(dir.path(), "a chart that finishes");
    sim.open_pull(7, "feature", &fixed);
    wait_until(&daemon, 60, "the preview of the new head", || {
        count(&sim, "POST", "/repos/example/homelab/issues/7/comments") == 1
    })
    .await;
    assert!(
        healthz_ok(&daemon).await,
        "the daemon answers while the old preview's thread runs out"
    );
}

async fn healthz_ok(daemon: &Daemon) -> bool {
    support::get(daemon.url("/healthz"))
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// A pull request that adds a database and an app depending on it: the preview shows
/// what each waits for and the order the daemon applies them in, in every format.
#[test]
fn the_preview_shows_the_apply_order_of_dependent_resources() {
    let dir = repo_with(&[("definitions/web.yaml", app("web", 8080, ""))]);
    switch_to_new_branch(dir.path(), "feature");
    support::write(dir.path(), "definitions/db.yaml", &app("db", 8090, ""));
    support::write(
        dir.path(),
        "definitions/app.yaml",
        &app("app", 8091, "  depends_on: [db]\n"),
    );
    support::git_commit_all(dir.path(), "feature");

    let (code, out, err) = preview_cli(dir.path(), "text", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("created   app docker"), "{out}");
    assert!(out.contains("            after: db\n"), "{out}");
    assert!(out.contains("Apply order: db → app."), "{out}");

    let (code, md, err) = preview_cli(dir.path(), "markdown", &[]);
    assert_eq!(code, 0, "{md}\n{err}");
    assert_well_formed(&md);
    assert!(md.contains("### Apply order\n\n`db` → `app`\n"), "{md}");
    assert!(md.contains("- `app` after `db`"), "{md}");

    let (code, json, err) = preview_cli(dir.path(), "json", &[]);
    assert_eq!(code, 0, "{json}\n{err}");
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["order"], serde_json::json!([["db"], ["app"]]));
    let app = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "app")
        .unwrap();
    assert_eq!(app["after"], serde_json::json!(["db"]));
}

/// The example's /homelab pool carries prices (45 W a node at 0.32 EUR a kWh), so every
/// changed resource shows its monthly estimate: in the text, and in the comment with how
/// it was made. A price is never part of a rendered file.
#[test]
fn changed_resources_carry_a_monthly_estimate_from_the_pools_prices() {
    assert!(ROOT.contains("kwh_price: 0.32"), "{ROOT}");
    let dir = changed_created_removed();
    let (code, out, err) = preview_cli(dir.path(), "text", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    // 1 of docker-01's 8 CPUs: 45 W × 730 h × 0.32 EUR/kWh ÷ 8 = 1.31 EUR.
    assert!(
        out.contains("estimated cost: 1.31 EUR a month (unchanged)"),
        "{out}"
    );
    assert!(out.contains("estimated cost: 1.31 EUR a month\n"), "{out}");
    assert!(
        out.contains("estimated cost: 1.31 EUR a month until now"),
        "{out}"
    );
    assert!(
        !out.contains("pricing"),
        "prices never reach a rendered file: {out}"
    );
    let (code, md, err) = preview_cli(dir.path(), "markdown", &[]);
    assert_eq!(code, 0, "{md}\n{err}");
    assert!(
        md.contains("**Estimated cost**\n\n- `old-kept`: 1.31 EUR a month until now\n"),
        "{md}"
    );
    assert!(md.contains("- `status`: 1.31 EUR a month\n"), "{md}");
    assert!(md.contains("730 hours a month"), "{md}");
    assert_well_formed(&md);
}
