//! The live inventory through the real Python MCP SDK against the real daemon:
//! `discover-proxmox-resources` reads the Proxmox VE simulator (tests/support/pve_sim.rs,
//! the documented API; Proxmox cannot run here) and this machine's real Docker engine,
//! says which guests and containers are not in git, records them in the store only for
//! the propose scope, and from then on placement answers count them against capacity.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab, PROPOSE_TOKEN, READ_TOKEN};
use serde_json::{Value, json};
use std::process::Command;
use support::pve_sim::{PveSim, TOKEN_ID, TOKEN_SECRET};

/// Removes a container when dropped.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn source<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["structured"]["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer:#}"))
        .iter()
        .find(|s| s["source"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {answer:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_inventory_names_what_is_not_in_git_and_placement_counts_it_once_recorded() {
    let Some(python) = harness::python() else {
        support::skip(
            "live inventory over MCP",
            "the Python mcp SDK could not be installed",
        );
        return;
    };
    let docker = support::docker::docker_ready("live inventory of the Docker engine");
    let sim = PveSim::start().await;
    let lab = Homelab::new();
    let container = docker.then(|| {
        let name = format!("legacy-{}", support::docker::unique_suffix());
        let out = Command::new("docker")
            // No network: the inventory needs a container, not a bridge (another test's
            // second engine may have removed the default one).
            .args([
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                &name,
                "--memory",
                "64m",
            ])
            .arg(support::docker::TEST_IMAGE)
            .args(["sleep", "3600"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container(name)
    });
    // The scheduled scan is off: only an agent's sync_to_database records here.
    let config = format!(
        "{GENEROUS_LIMITS}\n[proxmox]\nurl = \"{}\"\ntoken_id = \"{TOKEN_ID}\"\n\n[inventory]\nscan_interval = \"off\"\n",
        sim.url
    );
    let daemon = Daemon::start(
        &lab.repo,
        &config,
        &[("HOMELABD_PROXMOX_TOKEN", TOKEN_SECRET)],
    );
    let on_pve02 = "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata: { name: probe }\nspec:\n  resource_type: compute\n  workload_type: ci-cd\n  requirements: { cpu: 1, memory_gb: 1, storage_gb: 10 }\n  placement: { pool: /homelab/compute/general, node: pve-02 }\n";

    let read = harness::http_calls(
        &python,
        &daemon,
        READ_TOKEN,
        json!([
            {"name": "discover-proxmox-resources", "arguments": {}},
            {"name": "discover-proxmox-resources", "arguments": {"sync_to_database": true}},
            {"name": "find-optimal-placement", "arguments": {"definition": on_pve02}},
        ]),
    )
    .await;
    let live = &read[0];
    assert_eq!(live["error"], false, "{live:#}");
    let pve = source(live, "proxmox");
    assert_eq!(pve["counts"]["node"], 5, "{pve:#}");
    assert_eq!(pve["counts"]["gpu"], 2, "{pve:#}");
    assert_eq!(
        pve["unmanaged"],
        json!(["frigate", "mqtt", "pihole", "unifi"]),
        "containers of the fixture no definition accounts for"
    );
    let owner = |name: &str| {
        pve["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .map(|i| i["managed_by"].clone())
            .unwrap_or_else(|| panic!("{name} not listed"))
    };
    assert_eq!(owner("jenkins"), "jenkins");
    assert_eq!(owner("pihole"), Value::Null);
    let text = live["text"].as_str().unwrap();
    assert!(
        text.contains("pve-02: 0.5 GB, 1 CPU used by 1 guest(s) not in git (pihole)"),
        "{text}"
    );
    assert_eq!(live["structured"]["synced"], false);
    if let Some(Container(name)) = &container {
        let engine = source(live, "docker:unix:///var/run/docker.sock");
        let mine = engine["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not in {engine:#}"));
        assert_eq!(mine["managed_by"], Value::Null);
        assert_eq!(mine["node"], "docker-01");
        assert_eq!(mine["details"]["memory_limit_bytes"], 64 << 20);
        assert!(
            engine["unmanaged"]
                .as_array()
                .unwrap()
                .contains(&json!(name))
        );
    }
    let refused = &read[1];
    assert!(
        refused["error"] == true && refused["text"].as_str().unwrap().contains("propose scope"),
        "{refused:#}"
    );
    let blind = read[2]["structured"]["placement"]["reasons"].to_string();
    assert!(
        !blind.contains("not in git"),
        "nothing recorded yet: {blind}"
    );

    let store = homelabd::store::Store::connect(&daemon.database_url())
        .await
        .unwrap();
    assert!(
        store.inventory(None, true).await.unwrap().is_empty(),
        "read scope wrote nothing"
    );

    let propose = harness::http_calls(
        &python,
        &daemon,
        PROPOSE_TOKEN,
        json!([
            {"name": "discover-proxmox-resources", "arguments": {"sync_to_database": true}},
            {"name": "find-optimal-placement", "arguments": {"definition": on_pve02}},
        ]),
    )
    .await;
    assert_eq!(propose[0]["structured"]["synced"], true, "{:#}", propose[0]);
    let reasons = propose[1]["structured"]["placement"]["reasons"].to_string();
    assert!(
        reasons.contains("node pve-02: 0.5 GB, 1 CPU used by 1 guest(s) not in git: pihole"),
        "{reasons}"
    );

    let stored = store.inventory(Some("proxmox"), false).await.unwrap();
    let pihole = stored
        .iter()
        .find(|r| r.item.name.as_deref() == Some("pihole"))
        .expect("pihole recorded");
    assert_eq!(
        (pihole.item.kind.as_str(), pihole.item.managed_by.as_deref()),
        ("ct", None)
    );
    assert!(chrono::Utc::now() - pihole.seen_at < chrono::TimeDelta::minutes(10));
    if let Some(Container(name)) = &container {
        let docker = store
            .inventory(Some("docker:unix:///var/run/docker.sock"), false)
            .await
            .unwrap();
        assert!(
            docker
                .iter()
                .any(|r| r.item.name.as_deref() == Some(name.as_str()))
        );
    }
    let audit = store.audit_log(50).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "inventory.synced"
            && a.subject == "proxmox"
            && a.actor == "mcp:env"),
        "{audit:#?}"
    );
}
