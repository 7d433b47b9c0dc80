//! Observe benchmark: one full Proxmox drift pass over 1,000 VMs (1,000 targets, one VM
//! each) against the API simulator on loopback — the cluster-wide VM list plus one
//! config request per VM, `concurrency` at a time. Prints min / median / max of several
//! passes; the target is under 2 s per pass.
//!
//! Run: `cargo bench --bench observe` (release), or the debug build of it:
//! `cargo test --bench observe --no-run`, then `target/debug/deps/observe-<hash>`.

#[path = "../tests/support/pve_sim.rs"]
#[allow(dead_code)]
mod pve_sim;

use homelabd::model::Provider;
use homelabd::observe::proxmox::{self, ProxmoxSettings};
use homelabd::observe::{Observer, Target};
use homelabd::setting::Secret;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const VMS: usize = 1000;
const PASSES: usize = 7;

/// The repository root (the simulator reads its fixtures from there).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let sim = pve_sim::PveSim::start().await;
    let vms = sim.generate(VMS);
    let dir = tempfile::tempdir().expect("temp dir");
    let targets: Vec<Target> = vms
        .iter()
        .map(|(name, node, _, tags)| {
            let rendered_dir = dir.path().join("proxmox").join(name);
            std::fs::create_dir_all(&rendered_dir).expect("mkdir");
            let expected = serde_json::json!({
                "format": 1, "provider": "proxmox", "resource": name,
                "vms": [{
                    "name": name, "node_name": node, "cores": 2, "memory_mb": 2048,
                    "disk_size_gb": 20, "tags": tags.split(';').collect::<Vec<_>>(),
                    "on_boot": true, "started": true, "gpu_pci_ids": [], "gpu_mapping": null,
                }],
            });
            std::fs::write(
                rendered_dir.join(proxmox::expected::EXPECTED_FILE),
                expected.to_string(),
            )
            .expect("write expected state");
            Target {
                resource: name.clone(),
                provider: Provider::Proxmox,
                rendered_dir,
                work_dir: dir.path().join("work").join(name),
                secrets: Default::default(),
            }
        })
        .collect();

    for concurrency in [8, 16] {
        let settings = ProxmoxSettings {
            concurrency,
            ..ProxmoxSettings::new(&sim.url, pve_sim::TOKEN_ID)
        };
        let observer =
            proxmox::observer(&settings, &Secret::new(pve_sim::TOKEN_SECRET)).expect("observer");
        let mut times = Vec::with_capacity(PASSES);
        for _ in 0..PASSES {
            let start = Instant::now();
            let report = observer.observe(&targets).await.expect("drift pass");
            times.push(start.elapsed());
            assert_eq!(report.observations.len(), VMS, "{:?}", report.failed);
            assert!(
                report.observations.iter().all(|o| o.deviations.is_empty())
                    && report.unmanaged.is_empty(),
                "the generated cluster matches its expected state"
            );
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "proxmox drift pass, {VMS} VMs, concurrency {concurrency}: min {:.0} ms, median {:.0} ms, max {:.0} ms ({PASSES} passes; target < 2000 ms)",
            ms(times[0]),
            ms(times[PASSES / 2]),
            ms(times[PASSES - 1]),
        );
    }
}
