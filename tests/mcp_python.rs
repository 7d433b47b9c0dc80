//! MCP with a real client no one here wrote: the Python `mcp` SDK from PyPI (pinned in
//! tests/support/requirements.txt, installed into .tools/venv) drives `homelabd mcp` over
//! stdio and the daemon's `/mcp` over streamable HTTP with bearer tokens, in both
//! protocol eras (the 2025-11-25 handshake and the stateless 2026-07-28 protocol).
//!
//! The scripts in tests/mcp/ check every read-only tool's answers against what this file
//! reads from the repository itself (its YAML), from `homelabd plan` and `homelabd
//! render`, and from the store; proposals are checked here against the git repositories
//! and the GitHub simulator (tests/support/github_sim.rs; GitHub cannot be reached from
//! the build machines). Skipped loudly (failed under HOMELABD_TEST_STRICT=1) when the
//! SDK cannot be installed.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, Homelab, PROPOSE_TOKEN, READ_TOKEN, git};
use homelabd::store::{ApplyRunEffects, ObservationWrite, RunOperation, Store};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use support::github_sim::GithubSim;
use support::store::{record_run, run_end};

const PROPOSALS: [&str; 7] = [
    "adopt-unmanaged-resource",
    "create-infrastructure-snapshot",
    "decommission-resource",
    "deploy-with-intelligence",
    "generate-template-from-instance",
    "rebalance-placement",
    "update-resource-dimensions",
];

const QUERIES: [&str; 18] = [
    "analyze-resource-requirements",
    "compare-expected-vs-actual-state",
    "detect-infrastructure-anomalies",
    "discover-infrastructure-context",
    "discover-proxmox-resources",
    "find-best-provider-for-workload",
    "find-optimal-placement",
    "get-deployment-sop",
    "get-deployment-status",
    "get-placement-strategy",
    "get-resource-allocation-guidelines",
    "list-available-helm-charts",
    "list-deployment-templates",
    "plan-migration-from-snapshot",
    "query-audit-log",
    "query-resource-pools",
    "translate-universal-to-provider",
    "validate-universal-definition",
];

fn python_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let python = harness::python();
    if python.is_none() {
        support::skip(
            test,
            "the Python mcp SDK could not be installed into .tools/venv",
        );
    }
    python
}

fn script(python: &Path, name: &str, config: &Value) -> String {
    let (ok, out, err) = harness::run_script(python, name, config);
    assert!(ok, "{name} failed\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// Every YAML document under `dir` (charts excluded), as JSON.
fn documents(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "charts" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".yaml") {
                let text = std::fs::read_to_string(&p).unwrap();
                for doc in serde_yaml::Deserializer::from_str(&text) {
                    let v: Value = serde::Deserialize::deserialize(doc).unwrap();
                    if !v.is_null() {
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

fn cli_json(args: &[&str]) -> Value {
    let out = support::homelabd(args);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "homelabd {args:?}: {}",
        support::stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What the answers must say, read from the repository (YAML), the built-in charts,
/// `homelabd plan` and `homelabd render`; `store` adds what the store holds.
fn expectations(lab: &Homelab, store: Option<Value>) -> Value {
    let docs = documents(&lab.repo);
    let of = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
    let repo = lab.repo.to_str().unwrap();
    let plan = cli_json(&["plan", repo, "--output", "json"]);
    let out = tempfile::tempdir().unwrap();
    let render = cli_json(&[
        "render",
        repo,
        "--out",
        out.path().to_str().unwrap(),
        "--output",
        "json",
    ]);

    let mut placements = serde_json::Map::new();
    let mut used_gpus: Vec<String> = Vec::new();
    for e in plan["plan"].as_array().unwrap() {
        placements.insert(
            e["resource"].as_str().unwrap().to_owned(),
            json!({ "provider": e["provider"], "pool": e["pool"], "nodes": e["nodes"] }),
        );
        for g in e["gpus"].as_array().unwrap() {
            used_gpus.push(g["pci_address"].as_str().unwrap().to_owned());
        }
    }
    let provider_of = |path: &str| -> Option<String> {
        let mut p = path.to_owned();
        loop {
            let pool = of("ResourcePool").find(|d| d["spec"]["path"] == p.as_str())?;
            if let Some(x) = pool["spec"]["provider"].as_str() {
                return Some(x.to_owned());
            }
            p = p
                .rsplit_once('/')
                .map(|(a, _)| a.to_owned())
                .filter(|a| !a.is_empty())?;
        }
    };
    let mut pools = Vec::new();
    let mut placeable = Vec::new();
    let mut free_gpu_pools = Vec::new();
    let mut free_gpu_nodes = Vec::new();
    let mut gpu_lines = Vec::new();
    let mut cloud = Vec::new();
    for p in of("ResourcePool") {
        let s = &p["spec"];
        let path = s["path"].as_str().unwrap().to_owned();
        let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
        let pool_type = s["pool_type"].as_str().unwrap_or("group").to_owned();
        if !nodes.is_empty() || pool_type == "cloud" {
            placeable.push(path.clone());
        }
        if pool_type == "cloud" {
            cloud.push(path.clone());
        }
        let mut total = 0;
        let mut free = 0;
        for n in &nodes {
            for g in n["gpus"].as_array().into_iter().flatten() {
                total += 1;
                if !used_gpus.contains(&g["pci_address"].as_str().unwrap().to_owned()) {
                    free += 1;
                    free_gpu_nodes.push(n["name"].as_str().unwrap().to_owned());
                }
            }
        }
        if free > 0 {
            free_gpu_pools.push(path.clone());
        }
        if total > 0 {
            gpu_lines.push(format!(
                "- {path} ({}): {free} of {total} GPU(s) free",
                provider_of(&path).unwrap_or_default()
            ));
        }
        pools.push(json!({
            "path": path,
            "pool_type": pool_type,
            "nodes": nodes.iter().map(|n| n["name"].clone()).collect::<Vec<_>>(),
        }));
    }
    free_gpu_pools.sort();
    assert_eq!(
        free_gpu_nodes.len(),
        1,
        "the example has one free GPU: {free_gpu_nodes:?}"
    );
    assert_eq!(gpu_lines.len(), 1, "{gpu_lines:?}");
    let inference = of("WorkloadType")
        .find(|w| w["metadata"]["name"] == "ai-inference")
        .unwrap();
    let mut gpu_providers: Vec<String> = free_gpu_pools
        .iter()
        .filter_map(|p| provider_of(p))
        .collect();
    let prefs: Vec<String> = inference["spec"]["preferences"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    gpu_providers.sort_by_key(|p| prefs.iter().position(|x| x == p).unwrap_or(usize::MAX));
    gpu_providers.dedup();

    let mut workload_types = serde_json::Map::new();
    let mut tiers = serde_json::Map::new();
    for w in of("WorkloadType") {
        let s = &w["spec"];
        let name = w["metadata"]["name"].as_str().unwrap();
        workload_types.insert(
            name.to_owned(),
            json!({
                "sop": s["sop"],
                "providers": s["preferences"]["providers"].as_array().cloned().unwrap_or_default(),
                "pools": s["preferences"]["pools"].as_array().cloned().unwrap_or_default(),
                "strategy": s["preferences"]["strategy"].as_str().unwrap_or("spread"),
            }),
        );
        let t = &s["tiers"];
        tiers.insert(
            name.to_owned(),
            json!({
                "minimal": [t["minimal"]["cpu"], t["minimal"]["memory_gb"], t["minimal"]["storage_gb"]],
                "standard": [t["standard"]["cpu"], t["standard"]["memory_gb"], t["standard"]["storage_gb"]],
                "high-performance": [t["high-performance"]["cpu"], t["high-performance"]["memory_gb"], t["high-performance"]["storage_gb"]],
            }),
        );
    }
    let resources: Vec<&Value> = of("UniversalResource").collect();
    let mut templates = serde_json::Map::new();
    for t in of("DeploymentTemplate") {
        let name = t["metadata"]["name"].as_str().unwrap();
        let mut users: Vec<&str> = resources
            .iter()
            .filter(|r| r["spec"]["template"] == name)
            .map(|r| r["metadata"]["name"].as_str().unwrap())
            .collect();
        users.sort();
        templates.insert(name.to_owned(), json!(users));
    }
    let mut charts = serde_json::Map::new();
    for e in std::fs::read_dir(support::root().join("charts"))
        .unwrap()
        .flatten()
    {
        let meta: Value =
            serde_yaml::from_str(&std::fs::read_to_string(e.path().join("Chart.yaml")).unwrap())
                .unwrap();
        charts.insert(
            meta["name"].as_str().unwrap().to_owned(),
            json!({ "provider": meta["provider"], "capabilities": meta["capabilities"] }),
        );
    }
    let render_hashes: BTreeMap<String, Value> = render["rendered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resource"].as_str().unwrap().to_owned(),
                r["output_hash"].clone(),
            )
        })
        .collect();
    let ollama_gpu = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"] == "ollama-server")
        .unwrap()["gpus"][0]["pci_address"]
        .clone();
    let mut cloud_resources: Vec<String> = placements
        .iter()
        .filter(|(_, p)| cloud.iter().any(|c| p["pool"] == c.as_str()))
        .map(|(n, _)| n.clone())
        .collect();
    cloud_resources.sort();
    json!({
        "revision": lab.head,
        "first": lab.first,
        "pools": pools,
        "placeable": placeable,
        "resources": resources.iter().map(|r| r["metadata"]["name"].clone()).collect::<Vec<_>>(),
        "workload_types": workload_types,
        "tiers": tiers,
        "templates": templates,
        "charts": charts,
        "placements": placements,
        "render_hashes": render_hashes,
        "definitions": { "ollama-server": std::fs::read_to_string(lab.repo.join("definitions/ai/ollama.yaml")).unwrap() },
        "new_gpu_resource": "ollama-two",
        "free_gpu_node": free_gpu_nodes[0],
        "free_gpu_pools": free_gpu_pools,
        "placement_gpu": ollama_gpu,
        "gpu_providers": gpu_providers,
        "gpu_prompt_line": gpu_lines[0],
        "cloud_resources": cloud_resources,
        "store": store,
    })
}

fn stdio(lab: &Homelab, state: &Path, era: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "mcp".to_owned(),
        "--repo".to_owned(),
        lab.repo.display().to_string(),
        "--state-dir".to_owned(),
        state.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    json!({
        "transport": "stdio",
        "era": era,
        "command": env!("CARGO_BIN_EXE_homelabd"),
        "args": args,
        "env": { "HOMELABD_LOG": "warn", "PATH": std::env::var("PATH").unwrap_or_default() },
    })
}

fn http(daemon: &Daemon, token: &str, era: &str) -> Value {
    json!({ "transport": "http", "era": era, "url": daemon.url("/mcp"), "token": token })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

#[test]
fn stdio_clients_of_both_eras_get_every_read_only_answer_from_the_repository() {
    let Some(python) = python_or_skip("MCP over stdio") else {
        return;
    };
    let lab = Homelab::new();
    let state = tempfile::tempdir().unwrap();
    let expect = expectations(&lab, None);
    for era in ["legacy", "modern"] {
        let out = script(
            &python,
            "read_tools.py",
            &with(
                stdio(&lab, state.path(), era, &[]),
                json!({ "expect": expect }),
            ),
        );
        assert!(out.starts_with("OK "), "{era}: {out}");
        eprintln!("stdio {era}: {}", out.trim());
    }
}

#[test]
fn stdio_lists_every_tool_with_annotations_and_read_only_hides_the_proposals() {
    let Some(python) = python_or_skip("MCP tool list over stdio") else {
        return;
    };
    let lab = Homelab::new();
    let state = tempfile::tempdir().unwrap();
    let all: Vec<&str> = QUERIES.iter().chain(PROPOSALS.iter()).copied().collect();
    for era in ["legacy", "modern"] {
        script(
            &python,
            "list_tools.py",
            &with(
                stdio(&lab, state.path(), era, &[]),
                json!({ "expect_tools": all, "proposal_tools": PROPOSALS }),
            ),
        );
        script(
            &python,
            "list_tools.py",
            &with(
                stdio(&lab, state.path(), era, &["--read-only"]),
                json!({ "expect_tools": QUERIES, "proposal_tools": PROPOSALS, "refused_proposal": "read-only" }),
            ),
        );
    }
}

/// Records a failed apply run and an open deviation in the daemon's store, as the
/// executors and observers would; returns what the tools must report.
async fn seed_store(url: &str, revision: &str) -> (String, Value, Value) {
    let store = Store::connect(url).await.unwrap();
    let end = run_end(
        json!([["terraform", "apply", "-auto-approve"]]),
        1,
        4200,
        (
            "Plan: 2 to add, 0 to change, 0 to destroy.",
            "Error: 401 Unauthorized (PROXMOX_VE_API_TOKEN)",
        ),
    );
    let at = ("nextcloud", revision, "terraform");
    record_run(&store, at, RunOperation::Apply, &end, &Default::default()).await;
    let deviation = homelabd::observe::Deviation {
        resource: "uptime-kuma".into(),
        key: "container/uptime-kuma/state".into(),
        kind: homelabd::observe::DeviationKind::ResourceChange,
        severity: homelabd::observe::Severity::Critical,
        auto_correctable: true,
        corrective_action: "re-apply docker compose".into(),
        expected: json!("running"),
        actual: json!("exited"),
        message: "container uptime-kuma is exited, expected running".into(),
    };
    store
        .record_observation(&ObservationWrite {
            new: vec![deviation],
            at: chrono::Utc::now(),
            ..ObservationWrite::default()
        })
        .await
        .unwrap();
    seed_destroyed(&store, revision).await;
    let states: BTreeMap<String, String> = store
        .resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.name, r.state.as_str().to_owned()))
        .collect();
    (
        serde_json::to_string(&states).unwrap(),
        json!({
            "resource": "nextcloud", "state": "failed", "exit_code": 1, "executor": "terraform",
            "stdout_tail": end.stdout_tail, "stderr_tail": end.stderr_tail,
        }),
        json!({ "resource": "uptime-kuma", "key": "container/uptime-kuma/state", "severity": "critical" }),
    )
}

/// A resource pruned earlier: recorded, applied, then destroyed (its history kept).
async fn seed_destroyed(store: &Store, revision: &str) {
    let record = homelabd::store::ResourceRecord {
        state: homelabd::reconcile::ResourceState::Orphaned,
        pool: Some("/homelab/docker".into()),
        chart: Some("docker-compose".into()),
        resource_type: Some("container".into()),
        output_hash: None,
        applied_hash: Some("sha256:old".into()),
        applied_revision: Some(revision.into()),
        ..support::store::rendered_resource(DESTROYED, revision)
    };
    store
        .record_pass(&homelabd::store::PassRecord {
            resources: vec![record],
            ..Default::default()
        })
        .await
        .unwrap();
    let end = run_end(json!([["docker", "compose", "down"]]), 0, 900, ("", ""));
    let effects = ApplyRunEffects {
        destroyed: Some(homelabd::store::Destroyed {
            name: DESTROYED.into(),
            revision: revision.into(),
            at: chrono::Utc::now(),
            reason: "destroyed by docker compose".into(),
        }),
        ..ApplyRunEffects::default()
    };
    let at = (DESTROYED, revision, "docker compose");
    record_run(store, at, RunOperation::Destroy, &end, &effects).await;
}

/// The name of the destroyed resource [`seed_destroyed`] records.
const DESTROYED: &str = "old-wiki";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tokens_scope_the_tools_and_every_answer_matches_the_repository_and_store() {
    let Some(python) = python_or_skip("MCP over HTTP") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, harness::GENEROUS_LIMITS, &[]);
    let (states, run, deviation) = seed_store(&daemon.database_url(), &lab.head).await;
    let states: Value = serde_json::from_str(&states).unwrap();
    let expect = expectations(
        &lab,
        Some(
            json!({ "states": states, "run": run, "deviation": deviation, "destroyed": DESTROYED }),
        ),
    );
    let all: Vec<&str> = QUERIES.iter().chain(PROPOSALS.iter()).copied().collect();
    let runs = vec![
        (
            "list_tools.py",
            with(
                http(&daemon, READ_TOKEN, "legacy"),
                json!({ "expect_tools": QUERIES, "proposal_tools": PROPOSALS, "refused_proposal": "propose scope" }),
            ),
        ),
        (
            "list_tools.py",
            with(
                http(&daemon, PROPOSE_TOKEN, "modern"),
                json!({ "expect_tools": all, "proposal_tools": PROPOSALS }),
            ),
        ),
        (
            "read_tools.py",
            with(
                http(&daemon, READ_TOKEN, "legacy"),
                json!({ "expect": expect }),
            ),
        ),
        (
            "read_tools.py",
            with(
                http(&daemon, READ_TOKEN, "modern"),
                json!({ "expect": expect }),
            ),
        ),
    ];
    for (name, config) in runs {
        let python = python.clone();
        let out = tokio::task::spawn_blocking(move || script(&python, name, &config))
            .await
            .unwrap();
        assert!(out.starts_with("OK "), "{name}: {out}\n{}", daemon.log());
        eprintln!("http {name}: {}", out.trim());
    }
    let log = daemon.log();
    assert!(
        log.contains("client=env-read"),
        "tool calls are logged with the token name"
    );
    assert!(
        !log.contains(READ_TOKEN) && !log.contains(PROPOSE_TOKEN),
        "no token in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_proposal_pushes_one_commit_and_opens_a_pull_request() {
    let Some(python) = python_or_skip("MCP proposal over HTTP") else {
        return;
    };
    let lab = Homelab::new();
    let sim = GithubSim::start("lab", "homelab", "gh-test-token", Some(lab.bare.clone())).await;
    let config = format!(
        "{}\n[propose]\nremote = \"origin\"\nauthor_name = \"homelabd bot\"\nauthor_email = \"bot@example.invalid\"\n\n[propose.github]\nowner = \"lab\"\nrepo = \"homelab\"\napi_url = \"{}\"\n",
        harness::GENEROUS_LIMITS,
        sim.url
    );
    let daemon = Daemon::start(
        &lab.repo,
        &config,
        &[("HOMELABD_GITHUB_TOKEN", "gh-test-token")],
    );
    let request = with(
        http(&daemon, PROPOSE_TOKEN, "modern"),
        json!({
            "tool": "deploy-with-intelligence",
            "arguments": {
                "name": "vision",
                "workload": { "workload_type": "ai-inference", "gpu": true },
                "dimensions": { "owner": "ml-team" },
                "reason": "Image captioning for the photo library.",
            },
        }),
    );
    let out = tokio::task::spawn_blocking(move || script(&python, "propose.py", &request))
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(out.trim()).unwrap();
    let p = &answer["proposal"];
    assert_eq!(p["status"], "pull-request", "{answer:#}\n{}", daemon.log());
    let branch = p["branch"].as_str().unwrap();
    let commit = p["commit"].as_str().unwrap();
    assert!(
        branch.starts_with("homelabd/deploy-with-intelligence/vision-"),
        "{branch}"
    );
    assert_eq!(p["base_commit"], lab.head.as_str());
    assert_eq!(answer["file"], "definitions/vision.yaml");
    // The only free GPU is on pve-gpu-01.
    assert_eq!(answer["placement"]["nodes"], json!(["pve-gpu-01"]));

    // The remote has the branch at the commit; main is untouched; the working copy too.
    let remote: BTreeMap<String, String> = Homelab::branches(&lab.bare).into_iter().collect();
    assert_eq!(remote.get(branch).map(String::as_str), Some(commit));
    assert_eq!(remote.get("main"), Some(&lab.head));
    assert_eq!(git(&lab.repo, &["rev-parse", "main"]), lab.head);
    assert!(!lab.repo.join("definitions/vision.yaml").exists());
    // One commit on the head, adding exactly the file with the returned content.
    assert_eq!(
        git(&lab.bare, &["rev-parse", &format!("{commit}^")]),
        lab.head
    );
    assert_eq!(
        git(&lab.bare, &["diff", "--name-status", &lab.head, commit]),
        "A\tdefinitions/vision.yaml"
    );
    let committed = git(
        &lab.bare,
        &["show", &format!("{commit}:definitions/vision.yaml")],
    );
    assert_eq!(committed, answer["content"].as_str().unwrap().trim_end());
    assert!(
        committed.contains("owner: ml-team") && committed.contains("gpu: true"),
        "{committed}"
    );
    assert_eq!(
        git(&lab.bare, &["log", "-1", "--format=%an <%ae>", commit]),
        "homelabd bot <bot@example.invalid>"
    );

    // The pull request as GitHub received it.
    let requests = sim.requests();
    let pulls: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(pulls.len(), 1, "{requests:#?}");
    assert_eq!(pulls[0].path, "/repos/lab/homelab/pulls");
    assert_eq!(
        pulls[0].authorization.as_deref(),
        Some("Bearer gh-test-token")
    );
    let body = pulls[0].body.clone().unwrap();
    assert_eq!(body["head"], branch);
    assert_eq!(body["base"], "main");
    assert!(
        body["title"].as_str().unwrap().starts_with("Deploy vision"),
        "{body:#}"
    );
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains("Image captioning for the photo library."),
        "{text}"
    );
    assert!(
        text.contains("pve-gpu-01"),
        "the placement reasoning: {text}"
    );
    assert_eq!(p["pr_url"], sim.pull_url(1).as_str());

    // Recorded in the audit log with the token as the actor.
    let store = Store::connect(&daemon.database_url()).await.unwrap();
    let audit = store.audit_log(50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "proposal.opened" && a.actor == "mcp:env"),
        "{audit:#?}"
    );
}

#[test]
fn a_stdio_decommission_proposal_leaves_a_local_branch_without_the_definition() {
    let Some(python) = python_or_skip("MCP proposal over stdio") else {
        return;
    };
    let lab = Homelab::new();
    let state = tempfile::tempdir().unwrap();
    let request = with(
        stdio(&lab, state.path(), "legacy", &[]),
        json!({
            "tool": "decommission-resource",
            "arguments": { "resource": "uptime-kuma", "reason": "Replaced by Grafana alerts." },
        }),
    );
    let answer: Value =
        serde_json::from_str(script(&python, "propose.py", &request).trim()).unwrap();
    let p = &answer["proposal"];
    assert_eq!(p["status"], "local", "no remote configured: {answer:#}");
    assert_eq!(answer["change"], "delete");
    let branch = p["branch"].as_str().unwrap();
    let commit = p["commit"].as_str().unwrap();
    let local: BTreeMap<String, String> = Homelab::branches(&lab.repo).into_iter().collect();
    assert_eq!(local.get(branch).map(String::as_str), Some(commit));
    assert_eq!(local.get("main"), Some(&lab.head));
    assert_eq!(
        git(&lab.repo, &["diff", "--name-status", &lab.head, commit]),
        "D\tdefinitions/apps/uptime-kuma.yaml"
    );
    assert!(
        lab.repo.join("definitions/apps/uptime-kuma.yaml").exists(),
        "the working copy is untouched"
    );
    assert!(
        answer["notes"][0].as_str().unwrap().contains("orphaned"),
        "{answer:#}"
    );
}
