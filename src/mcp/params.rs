//! Tool parameters: typed structs whose field docs, enums and defaults become each tool's
//! input schema, so an agent knows what to send. Unknown fields are refused.

use crate::model::{Capability, PoolType, Provider, ResourceType, Tier};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// An infrastructure provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderName {
    Proxmox,
    Kubernetes,
    Docker,
    Aws,
    Azure,
    Vmware,
}

impl From<ProviderName> for Provider {
    fn from(p: ProviderName) -> Provider {
        match p {
            ProviderName::Proxmox => Provider::Proxmox,
            ProviderName::Kubernetes => Provider::Kubernetes,
            ProviderName::Docker => Provider::Docker,
            ProviderName::Aws => Provider::Aws,
            ProviderName::Azure => Provider::Azure,
            ProviderName::Vmware => Provider::Vmware,
        }
    }
}

/// What a pool groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PoolTypeName {
    Group,
    Compute,
    Storage,
    Network,
    Kubernetes,
    Docker,
    Cloud,
}

impl From<PoolTypeName> for PoolType {
    fn from(p: PoolTypeName) -> PoolType {
        match p {
            PoolTypeName::Group => PoolType::Group,
            PoolTypeName::Compute => PoolType::Compute,
            PoolTypeName::Storage => PoolType::Storage,
            PoolTypeName::Network => PoolType::Network,
            PoolTypeName::Kubernetes => PoolType::Kubernetes,
            PoolTypeName::Docker => PoolType::Docker,
            PoolTypeName::Cloud => PoolType::Cloud,
        }
    }
}

/// A sizing tier of a workload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TierName {
    Minimal,
    Standard,
    HighPerformance,
}

impl From<TierName> for Tier {
    fn from(t: TierName) -> Tier {
        match t {
            TierName::Minimal => Tier::Minimal,
            TierName::Standard => Tier::Standard,
            TierName::HighPerformance => Tier::HighPerformance,
        }
    }
}

/// What a resource is, broadly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceTypeName {
    Compute,
    Container,
    Service,
    Storage,
}

impl From<ResourceTypeName> for ResourceType {
    fn from(r: ResourceTypeName) -> ResourceType {
        match r {
            ResourceTypeName::Compute => ResourceType::Compute,
            ResourceTypeName::Container => ResourceType::Container,
            ResourceTypeName::Service => ResourceType::Service,
            ResourceTypeName::Storage => ResourceType::Storage,
        }
    }
}

/// Something a chart may or may not be able to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityName {
    Gpu,
    HighAvailability,
    Backup,
    Monitoring,
}

impl From<CapabilityName> for Capability {
    fn from(c: CapabilityName) -> Capability {
        match c {
            CapabilityName::Gpu => Capability::Gpu,
            CapabilityName::HighAvailability => Capability::HighAvailability,
            CapabilityName::Backup => Capability::Backup,
            CapabilityName::Monitoring => Capability::Monitoring,
        }
    }
}

/// Options of `discover-infrastructure-context`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverQuery {
    /// Also ask the Proxmox VE API configured in `[proxmox]` for its live inventory:
    /// nodes with load, storage, guests and GPUs (one round of API requests).
    #[serde(default)]
    pub proxmox: bool,
}

/// Filters for `query-resource-pools`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolQuery {
    /// Pool path pattern: a path prefix (`/homelab/compute`), or a glob where `*` matches
    /// one path segment and `**` any number (`/homelab/*/gpu-nodes`, `/cloud/**`).
    #[serde(default)]
    pub path_pattern: Option<String>,
    /// Only pools of this type.
    #[serde(default)]
    pub pool_type: Option<PoolTypeName>,
    /// Only pools of this provider (after inheritance).
    #[serde(default)]
    pub provider: Option<ProviderName>,
    /// Only pools whose effective dimensions (inherited tags) have all these key/values.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Only pools with at least this many vCPUs free on one node (or in the quota).
    #[serde(default)]
    pub min_free_cpu: Option<f64>,
    /// Only pools with at least this much memory (GiB) free on one node (or in the quota).
    #[serde(default)]
    pub min_free_memory_gb: Option<f64>,
    /// Only pools with at least this much disk (GiB) free on one node (or in the quota).
    #[serde(default)]
    pub min_free_storage_gb: Option<u64>,
    /// Only pools with at least one GPU that no resource holds.
    #[serde(default)]
    pub free_gpu: bool,
    /// Include group pools (no nodes, not cloud): the tree's inner nodes.
    #[serde(default = "yes")]
    pub include_groups: bool,
    /// Page size (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

fn yes() -> bool {
    true
}

/// A page of a list.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTemplates {
    /// Only templates for this provider.
    #[serde(default)]
    pub provider: Option<ProviderName>,
    /// Page size (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Filters for `list-available-helm-charts`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartQuery {
    /// Only charts of this provider.
    #[serde(default)]
    pub provider: Option<ProviderName>,
    /// Only charts that can render this capability.
    #[serde(default)]
    pub capability: Option<CapabilityName>,
    /// Only charts that render this workload type (a WorkloadType name).
    #[serde(default)]
    pub workload_type: Option<String>,
    /// Only charts that render this resource type.
    #[serde(default)]
    pub resource_type: Option<ResourceTypeName>,
}

/// Which resources `get-deployment-status` reports.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// One resource by name; all resources (paged) when absent.
    #[serde(default)]
    pub resource: Option<String>,
    /// Apply runs per resource, newest first (0-20, default 3).
    #[serde(default = "three")]
    pub runs: u32,
    /// List destroyed resources too (pruned, history kept); one named resource is shown
    /// destroyed or not.
    #[serde(default)]
    pub include_destroyed: bool,
    /// Page size (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

fn three() -> u32 {
    3
}

/// Which deviations `compare-expected-vs-actual-state` reports.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftQuery {
    /// Only this resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Only deviations that are still open (default); `false` adds recently resolved ones.
    #[serde(default = "yes")]
    pub open_only: bool,
    /// At most this many deviations (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The window of `detect-infrastructure-anomalies`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnomalyQuery {
    /// Look back this many hours for failed applies and deviations (1-720, default 24).
    #[serde(default = "day")]
    pub window_hours: u32,
    /// Report nodes and quotas whose CPU, memory, disk or GPUs are booked above this
    /// percentage (1-100, default 85).
    #[serde(default = "eighty_five")]
    pub capacity_threshold_percent: u32,
}

fn day() -> u32 {
    24
}

fn eighty_five() -> u32 {
    85
}

/// A proposed definition to check.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// One `UniversalResource` document as YAML (or JSON), exactly as it would be
    /// committed: `apiVersion: homelab.ai/v1`, `kind: UniversalResource`, `metadata`, `spec`.
    pub definition: String,
}

/// A proposed definition to render without writing anything.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateInput {
    /// One `UniversalResource` document as YAML (or JSON).
    pub definition: String,
    /// Also return the contents of vendored Terraform modules and Ansible roles (default:
    /// listed with their size only).
    #[serde(default)]
    pub include_vendored: bool,
    /// Longest file content returned; longer files are cut (default 65536 bytes).
    #[serde(default = "sixty_four_k")]
    pub max_bytes_per_file: u32,
}

fn sixty_four_k() -> u32 {
    65536
}

/// A workload described by its needs, for sizing and placement questions.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// A WorkloadType name (e.g. `ai-inference`); see `discover-infrastructure-context`.
    pub workload_type: String,
    /// What the resource is; the workload type's first resource type when absent.
    #[serde(default)]
    pub resource_type: Option<ResourceTypeName>,
    /// A DeploymentTemplate name whose defaults and rules apply.
    #[serde(default)]
    pub template: Option<String>,
    /// Sizing tier for sizes not given (default `standard`).
    #[serde(default)]
    pub tier: Option<TierName>,
    /// vCPUs.
    #[serde(default)]
    pub cpu: Option<u32>,
    /// Memory in GiB.
    #[serde(default)]
    pub memory_gb: Option<f64>,
    /// Disk in GiB.
    #[serde(default)]
    pub storage_gb: Option<u32>,
    /// Needs a GPU per replica.
    #[serde(default)]
    pub gpu: Option<bool>,
    /// Several replicas on distinct nodes.
    #[serde(default)]
    pub high_availability: bool,
    /// Replica count (default 2 with high availability, else 1).
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Required provider.
    #[serde(default)]
    pub provider: Option<ProviderName>,
    /// Required pool path (the pool or any pool below it).
    #[serde(default)]
    pub pool: Option<String>,
}

/// What `find-optimal-placement` places: exactly one of the three.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementQuery {
    /// An existing resource: its current placement with the reasons and alternatives.
    #[serde(default)]
    pub resource: Option<String>,
    /// A full `UniversalResource` document (YAML or JSON) to place hypothetically.
    #[serde(default)]
    pub definition: Option<String>,
    /// A workload described by its needs, placed hypothetically.
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
}

/// `plan-migration-from-snapshot`: from which state to which.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationQuery {
    /// The starting point: a snapshot name committed by `create-infrastructure-snapshot`,
    /// or any revision of the tracked repository (commit id, branch, tag).
    pub from: String,
    /// The target revision (default: the tracked branch's newest commit).
    #[serde(default)]
    pub to: Option<String>,
    /// Page size (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Which SOP: of a workload type, or of the workload type of a resource.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SopQuery {
    /// A WorkloadType name.
    #[serde(default)]
    pub workload_type: Option<String>,
    /// A resource name: its workload type's SOP plus the facts of its placement.
    #[serde(default)]
    pub resource: Option<String>,
}

/// Scope of `get-resource-allocation-guidelines`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuidelineQuery {
    /// Only pools at or below this path.
    #[serde(default)]
    pub pool: Option<String>,
    /// Only this workload type's tiers.
    #[serde(default)]
    pub workload_type: Option<String>,
}

/// Scope of `get-placement-strategy`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategyQuery {
    /// One workload type (default: all).
    #[serde(default)]
    pub workload_type: Option<String>,
}
