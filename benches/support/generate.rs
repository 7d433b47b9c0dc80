//! Generated homelab repositories for the benchmarks.

use std::fmt::Write as _;
use std::path::Path;

/// Writes a repository with `n` definitions and pools big enough for all of them.
pub fn generate(dir: &Path, n: usize) {
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
