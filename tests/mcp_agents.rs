//! What an agent written against the design's tool catalogue meets, through the real
//! Python MCP SDK (tests/support/requirements.txt) and the real daemon: every tool called
//! with the design's parameter names (aliases, implemented parameters, and the few that
//! cannot apply, which the answer names), unknown names refused. Skipped loudly (failed
//! under HOMELABD_TEST_STRICT=1) when the SDK cannot be installed.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, Homelab, PROPOSE_TOKEN, READ_TOKEN};
use homelabd::store::{RunOperation, Store};
use serde_json::{Value, json};
use support::store::{record_run, run_end};

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

/// The UniversalResource example of the design document (§2), under a new name.
fn design_definition() -> Value {
    json!({
        "apiVersion": "homelab.ai/v1",
        "kind": "UniversalResource",
        "metadata": { "name": "ollama-design", "labels": { "team": "research" } },
        "spec": {
            "resource_type": "compute",
            "workload_type": "ai-inference",
            "requirements": { "cpu": 4, "memory_gb": 8, "storage_gb": 100, "gpu": true,
                              "network": "default", "high_availability": false },
            "deployment": { "environment": "production", "backup_required": true, "monitoring": "enabled" },
            "placement": { "pool": "/homelab/compute/gpu-nodes", "provider": "proxmox" },
            "chart": { "name": "proxmox-compute", "values": {} },
            "dimensions": { "owner": "homelab-admin", "cost_center": "research" },
            "policy": { "apply": "auto", "self_heal": true, "prune": false }
        }
    })
}

/// A failed apply run of nextcloud with its log tails, as the executor records it.
async fn seed_run(url: &str, revision: &str) {
    let store = Store::connect(url).await.unwrap();
    let end = run_end(
        json!([["terraform", "apply"]]),
        1,
        1200,
        ("Plan: 2 to add", "Error: 401 Unauthorized"),
    );
    let at = ("nextcloud", revision, "terraform");
    record_run(&store, at, RunOperation::Apply, &end, &Default::default()).await;
}

fn answer<'a>(answers: &'a [Value], i: usize, what: &str) -> &'a Value {
    let a = &answers[i];
    assert!(
        a.get("protocol_error").is_none() && a["error"] == false,
        "{what} was refused: {a:#}"
    );
    &a["structured"]
}

fn not_applied(a: &Value) -> Vec<String> {
    a["parameters_not_applied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["parameter"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_takes_the_design_parameter_names() {
    let Some(python) = python_or_skip("MCP design parameters") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, harness::GENEROUS_LIMITS, &[]);
    seed_run(&daemon.database_url(), &lab.head).await;
    let definition = design_definition();
    let definition_text = serde_yaml::to_string(&definition).unwrap();
    let list = json!([
        { "name": "discover-infrastructure-context",
          "arguments": { "include_capacity": true, "include_templates": false, "provider_filter": "proxmox" } },
        { "name": "query-resource-pools",
          "arguments": { "provider_filter": "docker", "dimension_filters": { "site": "home" }, "include_capacity": false } },
        { "name": "list-deployment-templates", "arguments": { "provider_filter": "proxmox" } },
        { "name": "list-available-helm-charts",
          "arguments": { "provider_filter": "kubernetes", "workload_filter": "web-application" } },
        { "name": "get-deployment-status", "arguments": { "instance_name": "nextcloud", "include_logs": false } },
        { "name": "compare-expected-vs-actual-state", "arguments": { "instance_name": "nextcloud", "include_resolved": true } },
        { "name": "detect-infrastructure-anomalies", "arguments": { "analysis_window_hours": 48, "sensitivity": "high" } },
        { "name": "validate-universal-definition",
          "arguments": { "universal_definition": definition, "strict_validation": true } },
        { "name": "translate-universal-to-provider",
          "arguments": { "universal_definition": definition_text, "target_providers": ["proxmox", "docker"] } },
        { "name": "analyze-resource-requirements",
          "arguments": { "workload_type": "ai-inference", "performance_tier": "high-performance", "consider_gpu": true } },
        { "name": "find-optimal-placement",
          "arguments": { "workload_requirements": { "workload_type": "ci-cd", "provider": "proxmox" },
                         "affinity_rules": [{ "type": "same_node_as", "value": "jenkins" }] } },
        { "name": "find-optimal-placement",
          "arguments": { "workload_requirements": { "workload_type": "ci-cd", "provider": "proxmox" },
                         "affinity_rules": [{ "type": "different_node_from", "value": "jenkins" }] } },
        { "name": "find-best-provider-for-workload",
          "arguments": { "workload_type": "web-application", "performance_tier": "minimal", "target_providers": ["docker", "kubernetes"] } },
        { "name": "plan-migration-from-snapshot", "arguments": { "snapshot_id": lab.first, "target_revision": lab.head } },
        { "name": "get-deployment-sop", "arguments": { "service_name": "ollama-server", "include_troubleshooting": true } },
        { "name": "get-resource-allocation-guidelines",
          "arguments": { "resource_pool": "/homelab/compute", "workload_type": "ai-inference" } },
        { "name": "get-placement-strategy", "arguments": { "workload_type": "ai-inference", "consider_gpu": true } },
        { "name": "deploy-with-intelligence",
          "arguments": { "universal_definition": definition, "dry_run": true, "auto_approve": true } },
        { "name": "update-resource-dimensions",
          "arguments": { "instance_name": "jenkins", "dimensions": { "owner": "ci-team" }, "dry_run": true } },
        { "name": "generate-template-from-instance",
          "arguments": { "instance_name": "jenkins", "template_name": "jenkins-copy", "dry_run": true } },
        { "name": "create-infrastructure-snapshot",
          "arguments": { "snapshot_name": "before-upgrade", "description": "Before the upgrade.", "dry_run": true } },
        { "name": "decommission-resource", "arguments": { "instance_id": "uptime-kuma", "force": true, "dry_run": true } },
        { "name": "validate-universal-definition",
          "arguments": { "universal_definition": definition, "made_up_option": 1 } },
        { "name": "validate-universal-definition", "arguments": { "universal_definition": 42 } },
    ]);
    let a = harness::http_calls(&python, &daemon, PROPOSE_TOKEN, list).await;
    let log = daemon.log();

    let discover = answer(&a, 0, "discover");
    assert!(
        !discover["capacity"].as_array().unwrap().is_empty(),
        "{discover:#}"
    );
    assert_eq!(discover["templates"], json!([]));
    assert!(
        discover["pools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["provider"] == "proxmox"),
        "{discover:#}"
    );

    let pools = answer(&a, 1, "query-resource-pools")["pools"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!pools.is_empty());
    for p in &pools {
        assert_eq!(p["provider"], "docker", "{p:#}");
        assert_eq!(p["nodes"], json!([]), "include_capacity false: {p:#}");
    }

    let templates = answer(&a, 2, "list-deployment-templates")["templates"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!templates.is_empty());
    assert!(
        templates.iter().all(|t| t["provider"] == "proxmox"),
        "{templates:#?}"
    );

    let charts = answer(&a, 3, "list-available-helm-charts")["charts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(charts.len(), 1, "{charts:#?}");
    assert_eq!(charts[0]["provider"], "kubernetes");

    let status = answer(&a, 4, "get-deployment-status");
    assert_eq!(status["resources"][0]["name"], "nextcloud");
    let run = &status["resources"][0]["runs"][0];
    assert_eq!(run["state"], "failed", "{status:#}");
    assert!(
        run.get("stderr_tail").is_none(),
        "include_logs false: {run:#}"
    );

    answer(&a, 5, "compare-expected-vs-actual-state");

    let anomalies = answer(&a, 6, "detect-infrastructure-anomalies");
    assert_eq!(anomalies["window_hours"], 48, "{anomalies:#}");
    assert_eq!(not_applied(anomalies), ["sensitivity"]);
    assert!(
        a[6]["text"].as_str().unwrap().contains("sensitivity"),
        "the summary names it too: {}",
        a[6]["text"]
    );

    let valid = answer(&a, 7, "validate-universal-definition");
    assert_eq!(valid["name"], "ollama-design");
    assert_eq!(valid["strict"], true);
    let warnings = valid["problems"].as_array().unwrap().len();
    assert_eq!(valid["valid"], warnings == 0, "{valid:#}");

    let translated = answer(&a, 8, "translate-universal-to-provider");
    assert_eq!(translated["resource"], "ollama-design");
    let by = translated["by_provider"].as_array().unwrap();
    assert_eq!(by.len(), 2, "{translated:#}");
    assert_eq!(by[0]["provider"], "proxmox");
    assert_eq!(by[0]["fits"], true, "{:#}", by[0]);
    assert!(!by[0]["files"].as_array().unwrap().is_empty());
    assert_eq!(by[1]["provider"], "docker");
    assert!(
        by[1]["fits"] == true || by[1]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{:#}",
        by[1]
    );

    let sizing = answer(&a, 9, "analyze-resource-requirements");
    assert_eq!(sizing["recommended_tier"], "high-performance", "{sizing:#}");
    assert_eq!(sizing["size"]["gpu"], true);

    let jenkins_nodes = {
        let p = answer(&a, 10, "find-optimal-placement same_node_as");
        let nodes = p["placement"]["nodes"].clone();
        assert!(
            p["placement"]["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r.as_str().unwrap().contains("affinity")),
            "{p:#}"
        );
        nodes
    };
    let apart = answer(&a, 11, "find-optimal-placement different_node_from");
    let apart_nodes = apart["placement"]["nodes"].as_array().unwrap();
    assert!(!apart_nodes.is_empty(), "{apart:#}");
    for n in apart_nodes {
        assert!(
            !jenkins_nodes.as_array().unwrap().contains(n),
            "{n} is a node of jenkins: {apart:#}"
        );
    }

    let best = answer(&a, 12, "find-best-provider-for-workload");
    let providers: Vec<&str> = best["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert!(!providers.is_empty());
    assert!(
        providers
            .iter()
            .all(|p| ["docker", "kubernetes"].contains(p)),
        "{best:#}"
    );
    assert!(
        ["docker", "kubernetes"].contains(&best["best"]["provider"].as_str().unwrap()),
        "{best:#}"
    );

    let plan = answer(&a, 13, "plan-migration-from-snapshot");
    assert_eq!(plan["from_revision"], lab.first.as_str(), "{plan:#}");
    assert_eq!(plan["to_revision"], lab.head.as_str());

    let sop = answer(&a, 14, "get-deployment-sop");
    assert_eq!(not_applied(sop), ["include_troubleshooting"]);
    assert_eq!(sop["resource"]["name"], "ollama-server", "{sop:#}");

    let guide = answer(&a, 15, "get-resource-allocation-guidelines");
    assert!(
        guide["pools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["path"].as_str().unwrap().starts_with("/homelab/compute")),
        "{guide:#}"
    );

    assert_eq!(
        not_applied(answer(&a, 16, "get-placement-strategy")),
        ["consider_gpu"]
    );

    let deploy = answer(&a, 17, "deploy-with-intelligence");
    assert_eq!(deploy["proposal"]["status"], "dry-run", "{deploy:#}");
    assert_eq!(deploy["file"], "definitions/ollama-design.yaml");
    assert_eq!(not_applied(deploy), ["auto_approve"]);

    let dims = answer(&a, 18, "update-resource-dimensions");
    assert!(
        dims["content"].as_str().unwrap().contains("owner: ci-team"),
        "{dims:#}"
    );
    let template = answer(&a, 19, "generate-template-from-instance");
    assert_eq!(template["file"], "templates/jenkins-copy.yaml");
    let snapshot = answer(&a, 20, "create-infrastructure-snapshot");
    assert_eq!(
        snapshot["file"], "snapshots/before-upgrade.yaml",
        "{snapshot:#}"
    );
    let gone = answer(&a, 21, "decommission-resource");
    assert_eq!(gone["file"], "definitions/apps/uptime-kuma.yaml");
    assert_eq!(not_applied(gone), ["force"]);

    // Truly unknown names, and a definition that is neither text nor an object, are refused.
    let unknown = format!("{}", a[22]);
    assert!(
        unknown.contains("unknown field") && unknown.contains("made_up_option"),
        "{unknown}"
    );
    let number = format!("{}", a[23]);
    assert!(number.contains("not a number"), "{number}");

    assert!(!log.contains(PROPOSE_TOKEN) && !log.contains(READ_TOKEN));
}

/// At the default limits an agent's burst of 60 read-only calls passes, and proposals have
/// a smaller budget whose refusal says how long to wait; a token over its request budget
/// is told the same, inside the error the client shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_let_a_burst_of_reads_through_and_say_when_to_retry() {
    let Some(python) = python_or_skip("MCP rate limits") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, "", &[]);
    let mut list: Vec<Value> = (0..60)
        .map(|_| json!({ "name": "get-placement-strategy", "arguments": {} }))
        .collect();
    for i in 0..4 {
        list.push(json!({ "name": "decommission-resource",
            "arguments": { "resource": "uptime-kuma", "dry_run": true, "reason": format!("try {i}") } }));
    }
    let a = harness::http_calls(&python, &daemon, PROPOSE_TOKEN, Value::Array(list)).await;
    for (i, r) in a[..60].iter().enumerate() {
        assert_eq!(r["error"], false, "read {i} at the defaults: {r:#}");
    }
    for (i, r) in a[60..63].iter().enumerate() {
        assert_eq!(r["error"], false, "proposal {i} within the burst: {r:#}");
    }
    let refused = a[63]["protocol_error"].as_str().unwrap_or_default();
    assert!(
        refused.starts_with("rate limited, retry after ")
            && refused.contains("proposal_rate_limit"),
        "{:#}",
        a[63]
    );

    let tight = Daemon::start(
        &lab.repo,
        "[mcp]\nrate_limit_per_minute = 6\nrate_limit_burst = 5\n",
        &[],
    );
    let list: Vec<Value> = (0..8)
        .map(|_| json!({ "name": "get-placement-strategy", "arguments": {} }))
        .collect();
    let a = harness::http_calls(&python, &tight, READ_TOKEN, Value::Array(list)).await;
    assert_eq!(a[0]["error"], false, "{:#}", a[0]);
    let last = a[7]["protocol_error"].as_str().unwrap_or_default();
    assert!(
        last.starts_with("rate limited, retry after ") && last.contains("rate_limit_burst"),
        "the client shows the wait: {:#}",
        a[7]
    );
}

/// `plan-migration-from-snapshot` with `target_resource_pool` / `target_node`: a snapshot
/// committed through `create-infrastructure-snapshot` (and merged) is planned onto the
/// GPU pool — each Proxmox VM moves, flagged destructive with its downtime, the one
/// already there stays, the resources of other providers are named as left out — and
/// onto a node without a GPU or an unknown node, refused with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_plan_moves_a_snapshot_to_a_target_or_says_why_it_cannot() {
    let Some(python) = python_or_skip("MCP migration to a target") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, harness::GENEROUS_LIMITS, &[]);
    let a = harness::http_calls(
        &python,
        &daemon,
        PROPOSE_TOKEN,
        json!([{ "name": "create-infrastructure-snapshot",
                 "arguments": { "snapshot_name": "before-move" } }]),
    )
    .await;
    let snapshot = answer(&a, 0, "create-infrastructure-snapshot");
    let branch = snapshot["proposal"]["branch"].as_str().unwrap();
    harness::git(&lab.repo, &["merge", "-q", "--no-edit", branch]);
    let head = harness::git(&lab.repo, &["rev-parse", "HEAD"]);
    let store = Store::connect(&daemon.database_url()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.latest_revision().await.unwrap().map(|r| r.commit) != Some(head.clone()) {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let a = harness::http_calls(&python,
        &daemon,
        READ_TOKEN,
        json!([
            { "name": "plan-migration-from-snapshot",
              "arguments": { "snapshot_id": "before-move", "target_resource_pool": "/homelab/compute/gpu-nodes" } },
            { "name": "plan-migration-from-snapshot",
              "arguments": { "snapshot_id": "before-move", "target_node": "pve-01" } },
            { "name": "plan-migration-from-snapshot",
              "arguments": { "snapshot_id": "before-move", "target_node": "nowhere-01" } },
        ]),
    )
    .await;
    let plan = answer(&a, 0, "plan-migration-from-snapshot to a pool");
    assert_eq!(
        plan["target"], "pool /homelab/compute/gpu-nodes",
        "{plan:#}"
    );
    let moved: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resource"].as_str().unwrap())
        .collect();
    assert_eq!(moved, ["jenkins", "nextcloud", "postgresql"], "{plan:#}");
    for s in plan["steps"].as_array().unwrap() {
        assert_eq!(s["action"], "move", "{s:#}");
        assert_eq!(s["from"]["pool"], "/homelab/compute/general", "{s:#}");
        assert_eq!(s["to"]["pool"], "/homelab/compute/gpu-nodes", "{s:#}");
        assert_eq!(
            s["destructive"], true,
            "a VM on another host is recreated: {s:#}"
        );
        assert!(
            s["downtime"].as_str().unwrap().starts_with("recreate"),
            "{s:#}"
        );
    }
    assert_eq!(
        plan["unchanged"], 1,
        "ollama-server is there already: {plan:#}"
    );
    let left_out = plan["left_out"].to_string();
    assert!(
        left_out.contains("uptime-kuma: on docker, and the target is a proxmox pool"),
        "{left_out}"
    );

    let no_gpu = &a[1];
    assert_eq!(no_gpu["error"], true, "{no_gpu:#}");
    let text = no_gpu["text"].as_str().unwrap();
    assert!(
        text.contains("node pve-01 cannot take") && text.contains("ollama-server"),
        "{text}"
    );
    assert!(text.to_lowercase().contains("gpu"), "{text}");

    let unknown = &a[2];
    assert_eq!(unknown["error"], true, "{unknown:#}");
    assert!(
        unknown["text"]
            .as_str()
            .unwrap()
            .contains("no pool has a node nowhere-01"),
        "{unknown:#}"
    );
}
