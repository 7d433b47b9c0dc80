//! The Kubernetes inventory through the real `kubectl` against an API server: the
//! simulator of tests/support/kube_sim.rs (discovery `/api`, `/apis`, `/api/v1` and
//! `/api/v1/nodes`; a real API server cannot run here), reached through a kubeconfig
//! whose context `homelab` is the one the example homelab's kubernetes pool names. The
//! daemon's scheduled scan records each node with its capacity and allocatable CPU and
//! memory and its readiness, marks a node that left the cluster gone, and
//! `discover-proxmox-resources` (through the Python MCP SDK) answers and records the
//! same.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab, PROPOSE_TOKEN};
use homelabd::store::{InventoryRecord, Store};
use serde_json::json;
use support::kube_sim::{KubeSim, SimNode};

const SOURCE: &str = "kubernetes:homelab";

fn node<'a>(rows: &'a [InventoryRecord], name: &str) -> Option<&'a InventoryRecord> {
    rows.iter()
        .find(|r| r.item.kind == "node" && r.item.name.as_deref() == Some(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_scans_and_discovery_record_kubernetes_nodes_with_their_allocatable() {
    if support::tool("kubectl").is_none() {
        support::skip("kubernetes inventory", "kubectl is not installed");
        return;
    }
    let mut small = SimNode::new("k8s-node-03", 4, 16);
    small.ready = false;
    let kube = KubeSim::start(vec![
        SimNode::new("k8s-node-01", 8, 32),
        SimNode::new("k8s-node-02", 8, 32),
        small,
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig("homelab")).unwrap();
    let lab = Homelab::new();
    let daemon = Daemon::start(
        &lab.repo,
        &format!("{GENEROUS_LIMITS}\n[inventory]\nscan_interval = \"1s\"\n"),
        &[("KUBECONFIG", kubeconfig.to_str().unwrap())],
    );
    let store = Store::connect(&daemon.database_url()).await.unwrap();

    let rows = harness::wait_for_inventory(&store, &daemon, SOURCE, 60, "the first scan", |rows| {
        node(rows, "k8s-node-03").is_some()
    })
    .await;
    let one = &node(&rows, "k8s-node-01").unwrap().item.details;
    assert_eq!(one["status"], "ready");
    assert_eq!(one["cpus"], 8.0);
    assert_eq!(one["allocatable_cpus"], 7.5);
    assert_eq!(one["memory_total_bytes"], 32u64 << 30);
    assert_eq!(one["allocatable_memory_bytes"], 31u64 << 30);
    assert_eq!(one["kubelet_version"], "v1.31.4+k3s1");
    let three = &node(&rows, "k8s-node-03").unwrap().item.details;
    assert_eq!(three["status"], "not-ready");
    assert_eq!(three["allocatable_cpus"], 3.5);
    assert!(
        kube.requests().iter().any(|p| p == "/api/v1/nodes"),
        "{:?}",
        kube.requests()
    );

    // A node that left the cluster is marked gone at the next scan; the others stay.
    kube.with_nodes(|nodes| nodes.retain(|n| n.name != "k8s-node-02"));
    let rows = harness::wait_for_inventory(
        &store,
        &daemon,
        SOURCE,
        60,
        "k8s-node-02 marked gone",
        |rows| node(rows, "k8s-node-02").is_some_and(|r| r.gone_at.is_some()),
    )
    .await;
    assert!(node(&rows, "k8s-node-01").unwrap().gone_at.is_none());

    // The agent's view of the same cluster, recorded on request.
    let Some(python) = harness::python() else {
        support::skip(
            "kubernetes inventory over MCP",
            "the Python mcp SDK could not be installed",
        );
        return;
    };
    let answers = harness::http_calls(
        &python,
        &daemon,
        PROPOSE_TOKEN,
        json!([{"name": "discover-proxmox-resources",
                "arguments": {"providers": ["kubernetes"], "sync_to_database": true}}]),
    )
    .await;
    let answer = &answers[0];
    assert_eq!(answer["error"], false, "{answer:#}");
    let sources = answer["structured"]["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "only kubernetes was asked: {answer:#}");
    let source = &sources[0];
    assert_eq!(source["source"], SOURCE);
    assert!(source.get("error").is_none(), "{source:#}");
    assert_eq!(source["counts"]["node"], 2, "{source:#}");
    let item = source["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "k8s-node-01")
        .unwrap_or_else(|| panic!("{source:#}"));
    assert_eq!(item["details"]["allocatable_cpus"], 7.5);
    assert_eq!(item["details"]["allocatable_memory_bytes"], 31u64 << 30);
    assert_eq!(answer["structured"]["synced"], true);
    // Recorded by the agent too: node-03 (not ready) is still present, node-02 gone.
    let rows = store.inventory(Some(SOURCE), false).await.unwrap();
    let names: Vec<_> = rows.iter().filter_map(|r| r.item.name.as_deref()).collect();
    assert_eq!(names, ["k8s-node-01", "k8s-node-03"], "{rows:#?}");
}
