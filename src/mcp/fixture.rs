//! A small homelab in memory for the MCP unit tests: a GPU pool with two Proxmox nodes
//! (one GPU), a Docker host, an elastic AWS pool with a quota, two workload types (one
//! with an SOP, one without), a template with a GPU rule, and three resources.

use super::context::View;
use crate::pipeline::Engine;
use crate::source::{Snapshot, SourceFile};
use std::sync::OnceLock;

pub const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

pub const POOLS: &str = r#"
apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: lab }
spec: { path: /lab, pool_type: group, dimensions: { site: home } }
---
apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: gpu }
spec:
  path: /lab/gpu
  pool_type: compute
  provider: proxmox
  properties: { endpoint: "https://pve:8006/", datastore: local-lvm, bridge: vmbr0, os_template: 9000 }
  nodes:
    - { name: gpu-1, cpu: 8, memory_gb: 32, storage_gb: 500, gpus: [{ model: RTX 3090, pci_address: "0000:01:00.0" }] }
    - { name: gpu-2, cpu: 8, memory_gb: 32, storage_gb: 500 }
---
apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: docker }
spec:
  path: /lab/docker
  pool_type: docker
  provider: docker
  nodes:
    - { name: docker-1, cpu: 4, memory_gb: 8, storage_gb: 100 }
---
apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: cloud }
spec: { path: /cloud, pool_type: group }
---
apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: aws }
spec:
  path: /cloud/aws
  pool_type: cloud
  provider: aws
  properties: { region: eu-west-1, subnet_id: subnet-1, vpc_id: vpc-1, ami: ami-1 }
  capacity: { cpu: 16, memory_gb: 32 }
"#;

pub const TYPES: &str = r##"
apiVersion: homelab.ai/v1
kind: WorkloadType
metadata: { name: inference }
spec:
  resource_types: [compute]
  tiers:
    minimal: { cpu: 2, memory_gb: 4, storage_gb: 20, gpu: true, description: one small model }
    standard: { cpu: 4, memory_gb: 8, storage_gb: 50, gpu: true, description: a few models }
    high-performance: { cpu: 8, memory_gb: 16, storage_gb: 100, gpu: true }
  preferences: { providers: [proxmox], pools: [/lab/gpu] }
---
apiVersion: homelab.ai/v1
kind: WorkloadType
metadata: { name: web }
spec:
  resource_types: [container, service, compute]
  tiers:
    minimal: { cpu: 1, memory_gb: 1 }
    standard: { cpu: 1, memory_gb: 2, storage_gb: 10 }
    high-performance: { cpu: 2, memory_gb: 4, storage_gb: 20 }
  preferences: { providers: [docker], strategy: pack }
  sop: "# Web\n\nRestart the container.\n"
"##;

pub const TEMPLATES: &str = r#"
apiVersion: homelab.ai/v1
kind: DeploymentTemplate
metadata: { name: gpu-vm }
spec:
  description: A VM with a GPU.
  resources: { cpu: 2 }
  infrastructure: { provider: proxmox, chart: proxmox-compute, variables: { cpu_type: host } }
  validation:
    rules:
      - { field: /requirements/gpu, equals: true, message: needs a GPU }
"#;

pub const LLM: &str = r#"
apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: llm }
spec:
  resource_type: compute
  workload_type: inference
  template: gpu-vm
  requirements: { gpu: true, memory_gb: 8 }
  dimensions: { owner: research }
"#;

pub const SITE: &str = r#"
apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: site }
spec:
  resource_type: container
  workload_type: web
  requirements: { cpu: 1, memory_gb: 7 }
  chart: { values: { image: "nginx:1.27", ports: [{ name: http, container_port: 80, host_port: 8080, protocol: tcp }] } }
---
apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: burst }
spec:
  resource_type: compute
  workload_type: web
  requirements: { cpu: 4, memory_gb: 8 }
  placement: { provider: aws }
"#;

/// A definition with a type error in it.
pub const BROKEN: &str = r#"
apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: broken }
spec:
  resource_type: compute
  workload_type: web
  requirements: { cpu: four }
"#;

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new().expect("built-in schemas"))
}

/// A view of `files` (path, YAML) at [`HEAD`].
pub fn view_of(files: &[(&str, &str)]) -> View {
    let snapshot = Snapshot {
        revision: Some(HEAD.to_owned()),
        files: files
            .iter()
            .map(|(path, text)| SourceFile {
                path: (*path).to_owned(),
                content: text.as_bytes().to_vec(),
            })
            .collect(),
        diagnostics: Vec::new(),
    };
    View::build(engine(), &snapshot, HEAD.to_owned())
}

/// The fixture homelab.
pub fn view() -> View {
    view_of(&[
        ("pools.yaml", POOLS),
        ("types.yaml", TYPES),
        ("templates.yaml", TEMPLATES),
        ("definitions/llm.yaml", LLM),
        ("definitions/site.yaml", SITE),
    ])
}

/// The fixture homelab plus the broken definition.
pub fn view_with_broken() -> View {
    view_of(&[
        ("pools.yaml", POOLS),
        ("types.yaml", TYPES),
        ("templates.yaml", TEMPLATES),
        ("definitions/llm.yaml", LLM),
        ("definitions/site.yaml", SITE),
        ("definitions/broken.yaml", BROKEN),
    ])
}
