//! Pipeline benchmark: generates homelab repositories of 100, 1,000 and 10,000
//! definitions (a mix of Proxmox VMs with Ansible roles, Kubernetes workloads, Compose
//! services and AWS instances) and reports load, parse, validate, place, render and write
//! times plus peak memory. Run with `cargo bench --bench pipeline`; pass sizes to choose
//! (`cargo bench --bench pipeline -- 10000`).

use homelabd::pipeline::Engine;
use homelabd::render::write::{resource_dir, write_atomic};
use homelabd::source::load_dir;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1_000, 10_000]
    } else {
        sizes
    };
    let engine = Engine::new().expect("schemas compile");
    println!(
        "| definitions | load | parse | validate | place | render | total (no write) | write | peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in sizes {
        let repo = tempfile::tempdir().expect("temp dir");
        generate(repo.path(), n);
        let started = Instant::now();
        let snapshot = load_dir(repo.path(), None).expect("load");
        let load = started.elapsed();
        let outcome = engine.run(&snapshot);
        let total = started.elapsed();
        assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics.first());
        assert_eq!(outcome.rendered.len(), n);
        let out = tempfile::tempdir().expect("temp dir");
        let w = Instant::now();
        for (name, r) in &outcome.rendered {
            write_atomic(&resource_dir(out.path(), &r.manifest.provider, name), r).expect("write");
        }
        let write = w.elapsed();
        let t = outcome.timings;
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} MiB |",
            ms(load),
            ms(t.parse),
            ms(t.validate),
            ms(t.place),
            ms(t.render),
            ms(total),
            ms(write),
            peak_rss_mib()
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb / 1024)
}

/// Writes a repository with `n` definitions and pools big enough for all of them.
fn generate(dir: &Path, n: usize) {
    let header = "apiVersion: homelab.ai/v1\n";
    let nodes = |prefix: &str, count: usize, cpu: u32, mem: u32| {
        let mut s = String::from("  nodes:\n");
        for i in 0..count {
            let _ = writeln!(
                s,
                "    - {{ name: {prefix}-{i:04}, cpu: {cpu}, memory_gb: {mem}, storage_gb: 100000 }}"
            );
        }
        s
    };
    let per_node = 4;
    let quarter = n.div_ceil(4);
    let mut pools = String::new();
    for (name, path, provider, pool_type, node_prefix) in [
        ("lab", "/lab", None, "group", None),
        ("vms", "/lab/vms", Some("proxmox"), "compute", Some("pve")),
        (
            "k8s",
            "/lab/k8s",
            Some("kubernetes"),
            "kubernetes",
            Some("k8s"),
        ),
        (
            "docker",
            "/lab/docker",
            Some("docker"),
            "docker",
            Some("dock"),
        ),
        ("aws", "/lab/aws", Some("aws"), "cloud", None),
    ] {
        let _ = write!(
            pools,
            "---\n{header}kind: ResourcePool\nmetadata: {{ name: {name} }}\nspec:\n  path: {path}\n  pool_type: {pool_type}\n"
        );
        if let Some(p) = provider {
            let _ = writeln!(pools, "  provider: {p}");
        }
        if provider == Some("proxmox") {
            pools.push_str("  properties: { endpoint: \"https://pve.example:8006/\", datastore: local-lvm, bridge: vmbr0, os_template: 9000 }\n");
        }
        if provider == Some("kubernetes") {
            pools.push_str("  properties: { namespace: apps }\n");
        }
        if provider == Some("aws") {
            pools.push_str("  properties: { region: eu-west-1, subnet_id: subnet-0abc, vpc_id: vpc-0abc, ami: ami-0abc }\n");
        }
        if let Some(prefix) = node_prefix {
            pools.push_str(&nodes(prefix, quarter / per_node + 1, 64, 256));
        }
    }
    std::fs::create_dir_all(dir.join("pools")).unwrap();
    std::fs::write(dir.join("pools/pools.yaml"), pools).unwrap();
    std::fs::create_dir_all(dir.join("workload-types")).unwrap();
    std::fs::write(
        dir.join("workload-types/web.yaml"),
        format!("{header}kind: WorkloadType\nmetadata: {{ name: web }}\nspec:\n  roles: [docker]\n  tiers:\n    minimal: {{ cpu: 1, memory_gb: 1 }}\n    standard: {{ cpu: 2, memory_gb: 4, storage_gb: 20 }}\n    high-performance: {{ cpu: 8, memory_gb: 16 }}\n"),
    )
    .unwrap();
    for i in 0..n {
        let (rt, provider, values) = match i % 4 {
            0 => ("compute", "proxmox", ""),
            1 => (
                "container",
                "kubernetes",
                "\n  chart: { values: { image: \"nginx:1.27\", ports: [{ name: http, container_port: 80, protocol: TCP }] } }",
            ),
            2 => (
                "container",
                "docker",
                "\n  chart: { values: { image: \"nginx:1.27\", ports: [{ name: http, container_port: 80, host_port: 8080, protocol: tcp }] } }",
            ),
            _ => ("compute", "aws", ""),
        };
        let doc = format!(
            "{header}kind: UniversalResource\nmetadata: {{ name: svc-{i:05} }}\nspec:\n  resource_type: {rt}\n  workload_type: web\n  requirements: {{ cpu: 2, memory_gb: 4, storage_gb: 20 }}\n  placement: {{ provider: {provider} }}\n  dimensions: {{ owner: bench, index: \"{i}\" }}{values}\n"
        );
        let sub = dir
            .join("definitions")
            .join(format!("group-{:03}", i / 100));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("svc-{i:05}.yaml")), doc).unwrap();
    }
}
