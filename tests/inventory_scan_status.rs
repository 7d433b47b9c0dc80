//! What the scheduled inventory scan tells, with the real daemon on the example homelab,
//! the Proxmox VE simulator (tests/support/pve_sim.rs; Proxmox cannot run here) and a
//! kubeconfig without the pool's context `homelab` (the quickstart's situation):
//!
//! - an agent's placement answer counts a VM the scan recorded after the answer before
//!   (the MCP views placed around the old inventory are dropped after a scan), through
//!   the Python MCP SDK;
//! - the missing context is logged at WARN once, not at every interval, and
//!   `homelabd status` and the MCP overview say when each source was last scanned and
//!   why the context cannot be read.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab, READ_TOKEN};
use homelabd::store::Store;
use serde_json::json;
use std::process::Command;
use std::time::Duration;
use support::pve_sim::{PveSim, TOKEN_ID, TOKEN_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_refresh_agents_answers_and_a_missing_context_is_told_once_in_status() {
    let Some(python) = harness::python() else {
        support::skip(
            "inventory scan status",
            "the Python mcp SDK could not be installed",
        );
        return;
    };
    let sim = PveSim::start().await;
    let lab = Homelab::new();
    let empty = tempfile::tempdir().unwrap();
    let kubeconfig = empty.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();
    let config = format!(
        "{GENEROUS_LIMITS}\n[proxmox]\nurl = \"{}\"\ntoken_id = \"{TOKEN_ID}\"\n\n[inventory]\nscan_interval = \"1s\"\n",
        sim.url
    );
    let daemon = Daemon::start(
        &lab.repo,
        &config,
        &[
            ("HOMELABD_PROXMOX_TOKEN", TOKEN_SECRET),
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
        ],
    );
    let store = Store::connect(&daemon.database_url()).await.unwrap();
    harness::wait_for_inventory(&store, &daemon, "proxmox", 30, "pihole scanned", |rows| {
        rows.iter()
            .any(|r| r.gone_at.is_none() && r.item.name.as_deref() == Some("pihole"))
    })
    .await;

    let on_pve02 = "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata: { name: probe }\nspec:\n  resource_type: compute\n  workload_type: ci-cd\n  requirements: { cpu: 1, memory_gb: 1, storage_gb: 10 }\n  placement: { pool: /homelab/compute/general, node: pve-02 }\n";
    let place = json!([{"name": "find-optimal-placement", "arguments": {"definition": on_pve02}}]);
    let before = harness::http_calls(&python, &daemon, READ_TOKEN, place.clone()).await;
    let reasons = before[0]["structured"]["placement"]["reasons"].to_string();
    assert!(
        reasons.contains("not in git: pihole") && !reasons.contains("legacy-nas"),
        "{reasons}"
    );

    // A VM made by hand, seen by the next scheduled scan: the next answer counts it.
    sim.add_vm(990, "pve-02", "legacy-nas", 4096, 2);
    harness::wait_for_inventory(
        &store,
        &daemon,
        "proxmox",
        30,
        "legacy-nas scanned",
        |rows| {
            rows.iter()
                .any(|r| r.gone_at.is_none() && r.item.name.as_deref() == Some("legacy-nas"))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = harness::http_calls(&python, &daemon, READ_TOKEN, place).await;
    let reasons = after[0]["structured"]["placement"]["reasons"].to_string();
    assert!(reasons.contains("legacy-nas"), "{reasons}");

    // Several scans later: the missing context was logged at WARN once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = daemon.log();
    let warned = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("kubernetes:homelab"))
        .count();
    assert_eq!(warned, 1, "{log}");
    assert!(
        log.matches("inventory scanned").count() >= 4,
        "several scans ran: {log}"
    );

    // `homelabd status` says when each source was scanned and why one is not.
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["status", "--database-url", &daemon.database_url()])
        .output()
        .unwrap();
    let text = support::stdout(&out);
    assert!(out.status.success(), "{text}\n{}", support::stderr(&out));
    let line = text
        .lines()
        .find(|l| l.starts_with("inventory kubernetes:homelab: cannot be read since"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("homelab"), "{line}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("inventory proxmox: scanned at") && l.contains("item(s)")),
        "{text}"
    );

    // And the MCP overview, with the daemon's last scheduled scan.
    let overview = harness::http_calls(
        &python,
        &daemon,
        READ_TOKEN,
        json!([{"name": "discover-infrastructure-context", "arguments": {}}]),
    )
    .await;
    let store_facts = &overview[0]["structured"]["store"];
    let scans = store_facts["inventory_scans"].as_array().unwrap();
    let kube = scans
        .iter()
        .find(|s| s["source"] == "kubernetes:homelab")
        .unwrap_or_else(|| panic!("{store_facts:#}"));
    assert!(kube["error"].as_str().is_some(), "{kube:#}");
    let last = &store_facts["last_scheduled_scan"];
    assert!(last["at"].as_str().is_some(), "{store_facts:#}");
    assert!(
        last["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source"] == "proxmox" && s["items"].as_u64().is_some_and(|n| n > 0)),
        "{last:#}"
    );
}
