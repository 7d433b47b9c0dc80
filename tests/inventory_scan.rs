//! The daemon's scheduled inventory scan (`[inventory] scan_interval`): the leader scans
//! the Proxmox VE simulator (tests/support/pve_sim.rs) on its own — no MCP call — and
//! records what it finds in the store, the guests not in git included; a VM removed from
//! the cluster is marked gone at the next scan. With the scan off, nothing is recorded.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab};
use homelabd::store::{InventoryRecord, Store};
use std::time::Duration;
use support::pve_sim::{PveSim, TOKEN_ID, TOKEN_SECRET};

fn start(sim: &PveSim, lab: &Homelab, interval: &str) -> Daemon {
    let config = format!(
        "{GENEROUS_LIMITS}\n[proxmox]\nurl = \"{}\"\ntoken_id = \"{TOKEN_ID}\"\n\n[inventory]\nscan_interval = \"{interval}\"\n",
        sim.url
    );
    Daemon::start(
        &lab.repo,
        &config,
        &[("HOMELABD_PROXMOX_TOKEN", TOKEN_SECRET)],
    )
}

async fn proxmox_rows(store: &Store) -> Vec<InventoryRecord> {
    store.inventory(Some("proxmox"), true).await.unwrap()
}

fn vm<'a>(rows: &'a [InventoryRecord], name: &str) -> Option<&'a InventoryRecord> {
    rows.iter()
        .find(|r| r.item.kind == "vm" && r.item.name.as_deref() == Some(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_records_unmanaged_guests_on_schedule_and_marks_removed_ones_gone() {
    let sim = PveSim::start().await;
    sim.add_vm(990, "pve-02", "legacy-nas", 4096, 2);
    let lab = Homelab::new();
    let daemon = start(&sim, &lab, "1s");
    let store = Store::connect(&daemon.database_url()).await.unwrap();

    let rows =
        harness::wait_for_inventory(&store, &daemon, "proxmox", 30, "the first scan", |rows| {
            vm(rows, "legacy-nas").is_some()
        })
        .await;
    let nas = vm(&rows, "legacy-nas").unwrap();
    assert_eq!(nas.item.node.as_deref(), Some("pve-02"));
    assert_eq!(nas.item.managed_by, None, "no definition accounts for it");
    assert!(nas.gone_at.is_none());
    assert!(
        rows.iter().any(|r| r.item.kind == "node"),
        "the nodes and their load are recorded too: {rows:#?}"
    );

    sim.delete(990);
    let rows = harness::wait_for_inventory(
        &store,
        &daemon,
        "proxmox",
        30,
        "legacy-nas marked gone",
        |rows| vm(rows, "legacy-nas").is_some_and(|r| r.gone_at.is_some()),
    )
    .await;
    // Only the removed VM went; the rest of the cluster is still present.
    let present = store.inventory(Some("proxmox"), false).await.unwrap();
    assert!(vm(&present, "legacy-nas").is_none());
    assert!(
        present.iter().any(|r| r.item.kind == "vm") && rows.len() > present.len(),
        "{present:#?}"
    );
    assert!(
        daemon.log().contains("inventory scanned"),
        "{}",
        daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_scan_off_nothing_is_recorded_without_an_agent_asking() {
    let sim = PveSim::start().await;
    let lab = Homelab::new();
    let daemon = start(&sim, &lab, "off");
    let store = Store::connect(&daemon.database_url()).await.unwrap();
    // Ready means the first pass is recorded; a scan would follow it at once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(proxmox_rows(&store).await.is_empty(), "{}", daemon.log());
    // Drift observation of the lab's own VMs may list `type=vm`; only discovery reads the
    // node list and the storage.
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r == "/nodes" || r.contains("type=storage")),
        "the simulator was asked for a discovery: {:?}",
        sim.requests()
    );
}
