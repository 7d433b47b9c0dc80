//! The Proxmox observer against the API simulator (`support/pve_sim.rs`): discovery of
//! the example homelab's cluster, drift of the example's rendered Proxmox resources, the
//! error answers, and the TLS trust options over real HTTPS.

mod support;

use homelabd::model::Provider;
use homelabd::observe::proxmox::{self, ProxmoxError, ProxmoxObserver, ProxmoxSettings};
use homelabd::observe::{DeviationKind, Observer, Report, Severity, Target};
use homelabd::pipeline::Engine;
use homelabd::setting::Secret;
use homelabd::source::load_dir;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use support::pve_sim::{PveSim, TOKEN_ID, TOKEN_SECRET};

fn settings(url: &str) -> ProxmoxSettings {
    ProxmoxSettings::new(url, TOKEN_ID)
}

fn observer_for(sim: &PveSim) -> ProxmoxObserver {
    proxmox::observer(&settings(&sim.url), &Secret::new(TOKEN_SECRET)).unwrap()
}

/// Renders the example homelab and writes its Proxmox resources under `out`, as the
/// daemon does; returns one target per resource.
fn render_example(out: &Path) -> Vec<Target> {
    let snapshot = load_dir(&support::example_repo(), None).unwrap();
    let outcome = Engine::new().unwrap().run(&snapshot);
    assert!(!outcome.has_errors(), "{:#?}", outcome.diagnostics);
    let mut targets = Vec::new();
    for (name, rendered) in &outcome.rendered {
        if rendered.manifest.provider != homelabd::model::Provider::Proxmox {
            continue;
        }
        let dir = out.join("proxmox").join(name);
        homelabd::render::write::write_atomic(&dir, rendered).unwrap();
        targets.push(Target {
            resource: name.clone(),
            provider: Provider::Proxmox,
            rendered_dir: dir,
            work_dir: out.join("work").join(name),
            secrets: Default::default(),
        });
    }
    assert_eq!(
        targets.len(),
        4,
        "jenkins, nextcloud, ollama-server, postgresql"
    );
    targets
}

fn all_deviations(report: &Report) -> Vec<&homelabd::observe::Deviation> {
    report
        .observations
        .iter()
        .flat_map(|o| &o.deviations)
        .chain(&report.unmanaged)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reports_nodes_capacity_gpus_storage_and_guests() {
    let sim = PveSim::start().await;
    let inv = observer_for(&sim).discover().await.unwrap();
    assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);

    let nodes: Vec<(&str, &str, Option<u64>)> = inv
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.status.as_str(), n.maxcpu))
        .collect();
    assert_eq!(
        nodes,
        [
            ("pve-01", "online", Some(12)),
            ("pve-02", "online", Some(12)),
            ("pve-03", "online", Some(12)),
            ("pve-gpu-01", "online", Some(32)),
            ("pve-gpu-02", "online", Some(48)),
        ]
    );
    let gpu2 = &inv.nodes[4];
    assert_eq!(
        gpu2.maxmem,
        Some(202_716_336_128),
        "bytes, as the API gives them"
    );
    assert!(
        gpu2.cpu.is_some_and(|c| c > 0.2 && c < 0.3),
        "load fraction"
    );

    let gpus: Vec<(&str, &str, Option<&str>)> = inv
        .gpus()
        .map(|(node, d)| (node, d.id.as_str(), d.device_name.as_deref()))
        .collect();
    assert_eq!(
        gpus,
        [
            (
                "pve-gpu-01",
                "0000:01:00.0",
                Some("GA102 [GeForce RTX 3090]")
            ),
            ("pve-gpu-02", "0000:02:00.0", Some("GP102GL [Tesla P40]")),
        ],
        "the RTX's audio function (0x0403) is not a GPU"
    );

    let lvm = inv
        .storage
        .iter()
        .find(|s| s.storage == "local-lvm")
        .unwrap();
    assert_eq!((lvm.kind.as_str(), lvm.nodes.len()), ("lvmthin", 5));
    assert!(lvm.nodes[0].total_bytes.unwrap() > lvm.nodes[0].used_bytes.unwrap());
    let zfs = inv
        .storage
        .iter()
        .find(|s| s.storage == "nvme-gpu")
        .unwrap();
    let zfs_nodes: Vec<&str> = zfs.nodes.iter().map(|n| n.node.as_str()).collect();
    assert_eq!(zfs_nodes, ["pve-gpu-01", "pve-gpu-02"]);
    assert!(
        inv.storage
            .iter()
            .any(|s| s.storage == "nas-backup" && s.shared)
    );

    let guests: Vec<(u64, &str, Option<&str>, &str, bool)> = inv
        .guests
        .iter()
        .map(|g| {
            (
                g.vmid,
                g.kind.as_str(),
                g.name.as_deref(),
                g.node.as_str(),
                g.template,
            )
        })
        .collect();
    assert_eq!(guests.len(), 10);
    assert!(guests.contains(&(101, "qemu", Some("jenkins"), "pve-01", false)));
    assert!(guests.contains(&(200, "lxc", Some("pihole"), "pve-02", false)));
    assert!(guests.contains(&(9000, "qemu", Some("debian-12-cloudinit"), "pve-01", true)));
    let ollama = inv.guests.iter().find(|g| g.vmid == 110).unwrap();
    assert_eq!(ollama.status, "running");
    assert!(
        ollama.tags.contains(&"hardware-gpu".to_owned()),
        "{:?}",
        ollama.tags
    );
    assert_eq!(ollama.maxmem, Some(8192 << 20));

    // Serialisable as the MCP tools will serve it.
    let v = serde_json::to_value(&inv).unwrap();
    assert_eq!(v["nodes"][3]["pci_devices"][0]["gpu"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_carries_on_past_an_offline_node_and_a_missing_permission() {
    let sim = PveSim::start().await;
    sim.set_offline("pve-03");
    sim.deny("/nodes/pve-01/hardware/pci", "/", "Sys.Audit");
    let inv = observer_for(&sim).discover().await.unwrap();
    let pve3 = inv.nodes.iter().find(|n| n.name == "pve-03").unwrap();
    assert_eq!((pve3.status.as_str(), pve3.cpu), ("offline", None));
    let on_pve3: Vec<(u64, &str)> = inv
        .guests
        .iter()
        .filter(|g| g.node == "pve-03")
        .map(|g| (g.vmid, g.status.as_str()))
        .collect();
    assert_eq!(
        on_pve3,
        [(103, "unknown"), (201, "unknown")],
        "from the cluster view"
    );
    assert!(
        inv.warnings.iter().any(|w| w.contains("pve-03 is offline")),
        "{:?}",
        inv.warnings
    );
    assert!(
        inv.warnings
            .iter()
            .any(|w| w.contains("pve-01") && w.contains("Permission check failed (/, Sys.Audit)")),
        "{:?}",
        inv.warnings
    );
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.starts_with("/nodes/pve-03/")),
        "an offline node is not asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_cluster_as_rendered_has_no_drift() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.observations.len(), 4);
    let found = all_deviations(&report);
    assert!(
        found.is_empty(),
        "templates and containers are not unmanaged VMs: {found:#?}"
    );
    let ollama = report
        .observations
        .iter()
        .find(|o| o.resource == "ollama-server")
        .unwrap();
    assert_eq!(ollama.actual["vms"][0]["vmid"], 110);
    assert_eq!(
        ollama.expected["vms"][0]["gpu_pci_ids"],
        json!(["0000:02:00.0"])
    );
    // One cluster-wide listing, then one config request per VM.
    let configs = sim
        .requests()
        .iter()
        .filter(|r| r.ends_with("/config"))
        .count();
    assert_eq!(configs, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_changed_by_hand_is_one_config_drift_with_expected_and_actual() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.set_config(101, "memory", json!("16384"));
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    let found = all_deviations(&report);
    assert_eq!(found.len(), 1, "{found:#?}");
    let d = found[0];
    assert_eq!(
        (d.resource.as_str(), d.key.as_str()),
        ("jenkins", "vm/jenkins/memory")
    );
    assert_eq!(
        (d.kind, d.severity),
        (DeviationKind::ConfigDrift, Severity::Warning)
    );
    assert_eq!(d.expected, json!({"memory_mb": 8192}));
    assert_eq!(d.actual, json!({"memory_mb": 16384}));
    assert_eq!(d.message, "jenkins: memory is 16384 MiB, expected 8192 MiB");
    assert!(d.auto_correctable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_vm_is_missing_and_a_stopped_one_a_resource_change() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.delete(103);
    sim.with(|c| c.guests.get_mut(&102).unwrap().status = "stopped".into());
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    let found = all_deviations(&report);
    let summary: Vec<(&str, &str, DeviationKind)> = found
        .iter()
        .map(|d| (d.resource.as_str(), d.key.as_str(), d.kind))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "nextcloud",
                "vm/nextcloud/status",
                DeviationKind::ResourceChange
            ),
            ("postgresql", "vm/postgresql", DeviationKind::Missing),
        ]
    );
    let missing = found[1];
    assert_eq!(missing.severity, Severity::Critical);
    assert!(missing.auto_correctable);
    assert_eq!(missing.corrective_action, "re-apply terraform");
}

/// Keeps `endpoint` as the Proxmox API `target` was applied to, as the terraform
/// executor does in its work directory.
fn applied_to(target: &Target, endpoint: &str) {
    std::fs::create_dir_all(&target.work_dir).unwrap();
    std::fs::write(
        target.work_dir.join("homelabd.target.json"),
        serde_json::json!({ "endpoint": endpoint }).to_string(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_applied_to_another_cluster_is_not_missing_from_this_one() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.delete(103);
    let postgresql = targets.iter().find(|t| t.resource == "postgresql").unwrap();
    // Its pool names another cluster's API: its VM is not expected on this one, and
    // "missing" would make self-heal re-apply it forever.
    applied_to(postgresql, "https://pve-b.home.arpa:8006/");
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    assert!(
        all_deviations(&report).is_empty(),
        "{:#?}",
        all_deviations(&report)
    );
    let why = &report.failed["postgresql"];
    assert!(
        why.starts_with("applied to the Proxmox VE API at https://pve-b.home.arpa:8006/"),
        "{why}"
    );
    assert_eq!(report.observations.len(), 3, "the others are observed");

    // Applied to this very API (any spelling of its URL): missing, as before.
    applied_to(postgresql, &format!("{}/", sim.url));
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    let found = all_deviations(&report);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].key, "vm/postgresql");
    assert_eq!(found[0].kind, DeviationKind::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_nobody_defined_is_unmanaged_and_never_to_be_deleted() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.add_vm(150, "pve-02", "scratch", 2048, 2);
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    assert!(report.observations.iter().all(|o| o.deviations.is_empty()));
    assert_eq!(report.unmanaged.len(), 1);
    let u = &report.unmanaged[0];
    assert_eq!(
        (u.resource.as_str(), u.key.as_str()),
        ("proxmox:vm/150", "vm/150")
    );
    assert_eq!(
        (u.kind, u.severity, u.auto_correctable),
        (DeviationKind::Unmanaged, Severity::Info, false)
    );
    assert_eq!(u.corrective_action, "import into git or remove by hand");
    assert_eq!(
        u.message,
        "VM 150 (scratch) on pve-02 is not defined in git"
    );
    assert_eq!(u.actual["name"], "scratch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_a_clear_401_that_never_shows_the_secret() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    let wrong = proxmox::observer(&settings(&sim.url), &Secret::new("not-the-secret")).unwrap();
    let err = wrong.observe(&targets).await.unwrap_err().to_string();
    assert!(err.starts_with("proxmox: "), "{err}");
    assert!(err.contains("401") && err.contains(TOKEN_ID), "{err}");
    assert!(err.contains("authentication failure"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
    match wrong.discover().await.unwrap_err() {
        ProxmoxError::Unauthorized { token_id, .. } => assert_eq!(token_id, TOKEN_ID),
        other => panic!("{other}"),
    }
    // A different token id with the right secret is refused too: the header is checked
    // exactly.
    let other_id = ProxmoxSettings::new(&sim.url, "root@pam!observer");
    let e = proxmox::observer(&other_id, &Secret::new(TOKEN_SECRET))
        .unwrap()
        .discover()
        .await
        .unwrap_err();
    assert!(matches!(e, ProxmoxError::Unauthorized { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_node_fails_its_target_and_the_others_are_still_observed() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.set_offline("pve-gpu-02");
    sim.set_config(102, "cores", json!(8));
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    let failed: Vec<&String> = report.failed.keys().collect();
    assert_eq!(failed, ["ollama-server"]);
    let reason = &report.failed["ollama-server"];
    assert!(
        reason.contains("595") && reason.contains("pve-gpu-02"),
        "{reason}"
    );
    let observed: Vec<&str> = report
        .observations
        .iter()
        .map(|o| o.resource.as_str())
        .collect();
    assert_eq!(observed, ["jenkins", "nextcloud", "postgresql"]);
    let found = all_deviations(&report);
    assert_eq!(
        found.len(),
        1,
        "the VM on the offline node is neither missing nor unmanaged: {found:#?}"
    );
    assert_eq!(found[0].message, "nextcloud: cores is 8, expected 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_expected_state_fails_alone_and_its_vm_is_not_unmanaged() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    let jenkins = targets.iter().find(|t| t.resource == "jenkins").unwrap();
    std::fs::remove_file(jenkins.rendered_dir.join("homelabd.expected.json")).unwrap();
    let report = observer_for(&sim).observe(&targets).await.unwrap();
    assert!(report.failed["jenkins"].contains("homelabd.expected.json does not exist"));
    assert_eq!(report.observations.len(), 3);
    assert!(report.unmanaged.is_empty(), "{:#?}", report.unmanaged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_requests_run_with_bounded_concurrency() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.set_config_latency(Duration::from_millis(50));
    let two = ProxmoxSettings {
        concurrency: 2,
        ..settings(&sim.url)
    };
    let observer = proxmox::observer(&two, &Secret::new(TOKEN_SECRET)).unwrap();
    let report = observer.observe(&targets).await.unwrap();
    assert_eq!(report.observations.len(), 4);
    assert_eq!(sim.config_peak(), 2, "four VMs, two at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_times_out_with_the_setting_named() {
    let sim = PveSim::start().await;
    let out = tempfile::tempdir().unwrap();
    let targets = render_example(out.path());
    sim.set_config_latency(Duration::from_secs(3));
    let quick = ProxmoxSettings {
        timeout_seconds: 1,
        ..settings(&sim.url)
    };
    let report = proxmox::observer(&quick, &Secret::new(TOKEN_SECRET))
        .unwrap()
        .observe(&targets)
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 4);
    let reason = &report.failed["jenkins"];
    assert!(
        reason.contains("no answer within 1 s (proxmox.timeout_seconds)"),
        "{reason}"
    );
}

// TLS: the simulator behind a TLS relay with tests/fixtures/pve/tls/server.pem, issued by
// ca.pem for 127.0.0.1 — the shape of a Proxmox node certificate signed by the cluster CA.

fn fixture_tls(name: &str) -> std::path::PathBuf {
    support::root().join("tests/fixtures/pve/tls").join(name)
}

async fn discover_over(settings: ProxmoxSettings) -> Result<proxmox::Inventory, ProxmoxError> {
    proxmox::observer(&settings, &Secret::new(TOKEN_SECRET))?
        .discover()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_cluster_ca_file_is_verified_and_works() {
    let sim = PveSim::start().await;
    let url = sim.https();
    let with_ca = ProxmoxSettings {
        ca_file: Some(fixture_tls("ca.pem")),
        ..settings(&url)
    };
    let inv = discover_over(with_ca).await.unwrap();
    assert_eq!(inv.nodes.len(), 5);

    let other_ca = ProxmoxSettings {
        ca_file: Some(fixture_tls("other-ca.pem")),
        ..settings(&url)
    };
    let err = discover_over(other_ca).await.unwrap_err();
    assert!(matches!(err, ProxmoxError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_pinned_fingerprint_trusts_exactly_that_certificate() {
    let sim = PveSim::start().await;
    // The certificate names 127.0.0.1 and localhost, and its CA is not trusted: the pin
    // alone decides, whatever host name is used.
    let url = sim.https().replace("127.0.0.1", "localhost");
    let pem = std::fs::read(fixture_tls("server.pem")).unwrap();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    let pin = proxmox::tls::format_fingerprint(&proxmox::tls::fingerprint_of(der.as_ref()));
    let pinned = ProxmoxSettings {
        fingerprint: Some(pin.clone()),
        ..settings(&url)
    };
    assert_eq!(discover_over(pinned).await.unwrap().nodes.len(), 5);

    let wrong = "00:".repeat(31) + "00";
    let err = discover_over(ProxmoxSettings {
        fingerprint: Some(wrong),
        ..settings(&url)
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&pin),
        "the error shows the server's real fingerprint: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_verified_by_default_and_only_skipped_when_asked() {
    let sim = PveSim::start().await;
    let url = sim.https();
    let err = discover_over(settings(&url)).await.unwrap_err();
    assert!(matches!(err, ProxmoxError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let insecure = ProxmoxSettings {
        verify_tls: false,
        ..settings(&url)
    };
    assert_eq!(discover_over(insecure).await.unwrap().nodes.len(), 5);
}

/// The example plus `web-ha`: three replicas, pinned VMIDs, an extra tag and a dimension
/// with characters Proxmox tags cannot hold.
fn render_with_web_ha() -> homelabd::pipeline::Outcome {
    let repo = support::example_copy();
    support::write(
        repo.path(),
        "definitions/apps/web-ha.yaml",
        r#"apiVersion: homelab.ai/v1
kind: UniversalResource
metadata:
  name: web-ha
spec:
  resource_type: compute
  workload_type: web-application
  requirements: { cpu: 2, memory_gb: 2, storage_gb: 0, high_availability: true, replicas: 3 }
  deployment: { environment: staging, backup_required: false }
  placement: { provider: proxmox, pool: /homelab/compute/general }
  chart: { name: proxmox-compute, values: { vmid_base: 500, tags: [Frontend], start_on_boot: false } }
  dimensions: { "Team Name": "R&D Ünit" }
"#,
    );
    let snapshot = load_dir(repo.path(), None).unwrap();
    let outcome = Engine::new().unwrap().run(&snapshot);
    assert!(!outcome.has_errors(), "{:#?}", outcome.diagnostics);
    outcome
}

fn expected_of(
    outcome: &homelabd::pipeline::Outcome,
    name: &str,
) -> proxmox::expected::ExpectedState {
    let files = &outcome.rendered[name].files;
    proxmox::expected::parse(&files["homelabd.expected.json"], name).unwrap()
}

#[test]
fn the_expected_state_follows_main_tf_for_replicas_pinned_vmids_and_odd_tags() {
    let outcome = render_with_web_ha();
    let state = expected_of(&outcome, "web-ha");
    let main_tf = String::from_utf8(outcome.rendered["web-ha"].files["main.tf"].to_vec()).unwrap();

    let names: Vec<&str> = state.vms.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["web-ha", "web-ha-2", "web-ha-3"]);
    let ids: Vec<Option<u64>> = state.vms.iter().map(|v| v.vm_id).collect();
    assert_eq!(ids, [Some(500), Some(501), Some(502)]);
    for (vm, module) in state.vms.iter().zip(main_tf.split("module \"vm_").skip(1)) {
        assert!(
            module.contains(&format!("name        = \"{}\"", vm.name)),
            "{module}"
        );
        assert!(
            module.contains(&format!("node_name   = \"{}\"", vm.node_name)),
            "{module}"
        );
        assert!(
            module.contains(&format!("vm_id       = {}", vm.vm_id.unwrap())),
            "{module}"
        );
    }
    let nodes: std::collections::BTreeSet<&str> =
        state.vms.iter().map(|v| v.node_name.as_str()).collect();
    assert_eq!(nodes.len(), 3, "replicas on distinct nodes");
    let vm = &state.vms[0];
    assert_eq!((vm.cores, vm.memory_mb, vm.disk_size_gb), (2, 2048, 20));
    assert!(!vm.on_boot && vm.started);
    // What modules/proxmox-vm computes: "key-value" with [^a-zA-Z0-9_+.-] replaced by
    // "_", lower case; extra tags lower case; "homelabd" always; sorted.
    assert_eq!(
        vm.tags,
        ["frontend", "homelabd", "site-home", "team_name-r_d__nit"]
    );
}

/// `local.tags` of `terraform/modules/proxmox-vm/main.tf`, evaluated by `terraform
/// console` for these inputs.
fn terraform_tags(
    dimensions: &serde_json::Value,
    extra: &[&str],
    backup: bool,
) -> Option<Vec<String>> {
    let Some(terraform) = support::tool("terraform") else {
        support::skip(
            "tags_match_what_the_terraform_module_computes",
            "terraform is not installed",
        );
        return None;
    };
    let module =
        std::fs::read_to_string(support::root().join("terraform/modules/proxmox-vm/main.tf"))
            .unwrap();
    let start = module.find("locals {").unwrap();
    let end = start + module[start..].find("\n}\n").unwrap() + 3;
    let dir = tempfile::tempdir().unwrap();
    let vars = r#"
variable "tags" { type = map(string) }
variable "extra_tags" { type = list(string) }
variable "backup" { type = bool }
variable "gpu_pci_ids" {
  type    = list(string)
  default = []
}
variable "gpu_mapping" {
  type    = string
  default = null
}
"#;
    std::fs::write(
        dir.path().join("main.tf"),
        format!("{vars}\n{}", &module[start..end]),
    )
    .unwrap();
    let tfvars = json!({ "tags": dimensions, "extra_tags": extra, "backup": backup });
    std::fs::write(dir.path().join("terraform.tfvars.json"), tfvars.to_string()).unwrap();
    let mut child = std::process::Command::new(terraform)
        .arg("console")
        .current_dir(dir.path())
        .env("TF_IN_AUTOMATION", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"jsonencode(local.tags)\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let literal = String::from_utf8(out.stdout).unwrap();
    let encoded: String = serde_json::from_str(literal.trim()).unwrap();
    Some(serde_json::from_str(&encoded).unwrap())
}

#[test]
fn tags_match_what_the_terraform_module_computes() {
    let outcome = render_with_web_ha();
    let web = expected_of(&outcome, "web-ha");
    let dims = json!({ "Team Name": "R&D Ünit", "site": "home" });
    let Some(tf) = terraform_tags(&dims, &["Frontend"], false) else {
        return;
    };
    assert_eq!(web.vms[0].tags, tf);
    let ollama = expected_of(&outcome, "ollama-server");
    let dims = json!({ "cost_center": "research", "hardware": "gpu", "owner": "homelab-admin", "service_class": "ai", "site": "home" });
    assert_eq!(
        ollama.vms[0].tags,
        terraform_tags(&dims, &["gpu"], true).unwrap()
    );
}
