//! Adoption of a Proxmox VM created by hand, end to end with the real `homelabd daemon`
//! (SQLite), `homelabd adopt` and git, against the Proxmox VE simulator
//! (tests/support/pve_sim.rs; Proxmox VE cannot run here). Before: the VM is an open
//! "unmanaged" deviation. `homelabd adopt legacy-nas` proposes a definition stating it as
//! it runs; merged, the daemon renders it with a Terraform `import` block for the same
//! node/VMID, observes the VM from that render on — no open deviation, and a memory
//! change made by hand afterwards is drift of the resource — and nothing asks the
//! cluster to create a VM.
//!
//! Terraform's bpg/proxmox provider cannot be downloaded here, so the import itself is
//! not run (the daemon keeps `policy.apply: manual`, as the test harness sets): the test
//! checks the rendered import block (parsed by `terraform fmt` when terraform is
//! installed) and the drift result against the simulator.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab, git};
use homelabd::store::{DeviationRecord, Store};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};
use support::pve_sim::{PveSim, TOKEN_ID, TOKEN_SECRET};

async fn open_deviations(store: &Store) -> Vec<DeviationRecord> {
    store.deviations(true, 1000).await.unwrap_or_default()
}

/// Waits up to 60 s for the open deviations to satisfy `done`.
async fn wait_for(
    store: &Store,
    daemon: &Daemon,
    what: &str,
    done: impl Fn(&[DeviationRecord]) -> bool,
) -> Vec<DeviationRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = open_deviations(store).await;
        if done(&open) {
            return open;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within 60 s\nopen: {:#?}\nlog:\n{}",
            open.iter()
                .map(|d| (&d.resource, &d.key, &d.message))
                .collect::<Vec<_>>(),
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn is_nas(d: &DeviationRecord) -> bool {
    d.resource == "proxmox:vm/990" || d.resource == "legacy-nas"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_vm_is_imported_by_its_vmid_and_shows_no_drift() {
    let sim = PveSim::start().await;
    sim.add_vm(990, "pve-02", "legacy-nas", 6144, 2);
    sim.set_config(990, "tags", json!("nas;Storage"));
    sim.set_config(990, "onboot", json!(1));
    sim.set_config(990, "agent", json!("enabled=1"));
    let lab = Homelab::new();
    let proxmox = format!(
        "[proxmox]\nurl = \"{}\"\ntoken_id = \"{TOKEN_ID}\"\n\n[inventory]\nscan_interval = \"off\"\n",
        sim.url
    );
    let daemon = Daemon::start(
        &lab.repo,
        &format!(
            "{GENEROUS_LIMITS}\n[reconcile]\nobserve_schedule = \"*/1 * * * * *\"\n\n{proxmox}"
        ),
        &[("HOMELABD_PROXMOX_TOKEN", TOKEN_SECRET)],
    );
    let db = daemon.database_url();
    let store = Store::connect(&db).await.unwrap();

    // Before: a VM nobody defined.
    wait_for(&store, &daemon, "legacy-nas reported unmanaged", |open| {
        open.iter()
            .any(|d| d.resource == "proxmox:vm/990" && d.deviation_type == "unmanaged")
    })
    .await;

    // `homelabd adopt`, with the same [proxmox] settings as the daemon.
    let cli = tempfile::tempdir().unwrap();
    let config = cli.path().join("config.toml");
    std::fs::write(&config, &proxmox).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["adopt", "legacy-nas", "--output", "json", "--config"])
        .arg(&config)
        .arg("--repo")
        .arg(&lab.repo)
        .args(["--database-url", &db, "--state-dir"])
        .arg(cli.path().join("state"))
        .env("HOMELABD_PROXMOX_TOKEN", TOKEN_SECRET)
        .env("HOMELABD_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "homelabd adopt: {}\n{}",
        support::stderr(&out),
        support::stdout(&out)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let branch = answer["proposal"]["branch"].as_str().unwrap().to_owned();
    assert_eq!(answer["file"], "definitions/legacy-nas.yaml", "{answer:#}");
    let text = git(
        &lab.repo,
        &["show", &format!("{branch}:definitions/legacy-nas.yaml")],
    );
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let spec = &doc["spec"];
    assert_eq!(
        spec["requirements"],
        json!({"cpu": 2, "memory_gb": 6.0, "storage_gb": 32}),
        "{text}"
    );
    assert_eq!(spec["placement"]["node"], "pve-02", "{text}");
    assert_eq!(spec["placement"]["provider"], "proxmox", "{text}");
    let values = &spec["chart"]["values"];
    assert_eq!(values["adopt"], json!({"vmid": 990, "node": "pve-02"}));
    assert_eq!(values["tags"], json!(["nas", "storage"]));
    assert_eq!(values["start_on_boot"], true);
    assert_eq!(values["disk_interface"], "scsi0");
    assert_eq!(values["datastore"], "local-lvm");

    // Merged: rendered with an import block for the same VM, observed without drift.
    git(&lab.repo, &["merge", "-q", "--no-edit", &branch]);
    let open = wait_for(&store, &daemon, "the adopted VM observed", |open| {
        !open.iter().any(|d| d.resource == "proxmox:vm/990")
    })
    .await;
    // A few more observations: still nothing open for it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let open_now = open_deviations(&store).await;
    let nas: Vec<_> = open.iter().chain(&open_now).filter(|d| is_nas(d)).collect();
    assert!(nas.is_empty(), "{nas:#?}\n{}", daemon.log());
    let record = store.resource("legacy-nas").await.unwrap().unwrap();
    assert_eq!(
        record.applied_hash, None,
        "not applied: policy.apply is manual"
    );

    let main_tf = std::fs::read_to_string(
        daemon
            .state_dir()
            .join("rendered-configs/proxmox/legacy-nas/main.tf"),
    )
    .unwrap();
    let import = main_tf
        .find("\nimport {")
        .map(|i| &main_tf[i..])
        .and_then(|rest| rest.find("\n}").map(|end| &rest[..end]))
        .unwrap_or_else(|| panic!("no import block:\n{main_tf}"));
    assert!(
        import.contains("to = module.vm_1.proxmox_virtual_environment_vm.this")
            && import.contains("id = \"pve-02/990\""),
        "{import}"
    );
    assert!(main_tf.contains("vm_id       = 990"), "{main_tf}");
    assert!(main_tf.contains("adopted         = true"), "{main_tf}");
    if let Some(terraform) = support::tool("terraform") {
        let parsed = Command::new(terraform)
            .args(["fmt", "-write=false", "-list=false", "-"])
            .stdin(
                std::fs::File::open(
                    daemon
                        .state_dir()
                        .join("rendered-configs/proxmox/legacy-nas/main.tf"),
                )
                .unwrap(),
            )
            .output()
            .unwrap();
        assert!(parsed.status.success(), "{}", support::stderr(&parsed));
    }
    // Only adopted resources import: the example's own VMs render none.
    let jenkins = std::fs::read_to_string(
        daemon
            .state_dir()
            .join("rendered-configs/proxmox/jenkins/main.tf"),
    )
    .unwrap();
    assert!(!jenkins.contains("import {"), "{jenkins}");

    // The VM is compared with the definition: memory changed by hand is its drift.
    sim.set_config(990, "memory", json!("8192"));
    let open = wait_for(&store, &daemon, "memory drift of legacy-nas", |open| {
        open.iter()
            .any(|d| d.resource == "legacy-nas" && d.key == "vm/legacy-nas/memory")
    })
    .await;
    assert!(
        !open.iter().any(|d| d.resource == "proxmox:vm/990"),
        "{open:#?}"
    );

    // Nothing asked the cluster to create (or change) a VM, and there is still one.
    let writes: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with('/'))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let named = sim.with(|c| {
        c.guests
            .values()
            .filter(|g| g.config.get("name") == Some(&json!("legacy-nas")))
            .count()
    });
    assert_eq!(named, 1);
}
