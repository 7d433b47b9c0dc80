//! `ResourcePool`: a node in the pool tree (WTT's hierarchical resource pools).

use super::{Dimensions, Provider};
use serde::{Deserialize, Serialize};

/// What a pool groups; informs placement and the MCP pool queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolType {
    Group,
    Compute,
    Storage,
    Network,
    Kubernetes,
    Docker,
    Cloud,
}

/// `spec` of a `ResourcePool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcePoolSpec {
    /// Absolute path in the pool tree, e.g. `/homelab/compute/gpu-nodes`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Defaults to `group` for pools with children only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_type: Option<PoolType>,
    /// Inherited by descendants unless they set their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Provider settings (endpoint, datastore, region…); inherited and overridable.
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Tags inherited by descendants and by resources placed here.
    #[serde(default)]
    pub dimensions: Dimensions,
    /// Machines with fixed capacity. A pool without nodes is elastic (cloud).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Node>,
    /// Optional quota for an elastic pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<PoolCapacity>,
}

/// A machine (hypervisor, Kubernetes node, Docker host) and what it offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    /// Management address (IP or host name), for inventories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub cpu: u32,
    pub memory_gb: f64,
    #[serde(default)]
    pub storage_gb: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<Gpu>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// This machine's own provider settings, over its pool's: its Docker engine
    /// (`docker_host`), Kubernetes context, … (see [`crate::target`]).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// A GPU that can be given to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    pub model: String,
    /// PCI address such as `0000:01:00.0`, used for passthrough.
    pub pci_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<u32>,
}

/// Quota of an elastic pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolCapacity {
    pub cpu: u32,
    pub memory_gb: f64,
    #[serde(default)]
    pub storage_gb: u32,
    #[serde(default)]
    pub gpus: u32,
}
