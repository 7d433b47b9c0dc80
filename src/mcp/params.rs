//! Tool parameters: typed structs whose field docs, enums and defaults become each tool's
//! input schema, so an agent knows what to send. Unknown fields are refused.
//!
//! The design's parameter names are accepted too: a name with the same meaning is a serde
//! alias (`universal_definition` for `definition`, `instance_name` for `resource`, …), a
//! design parameter whose feature exists is implemented (`include_capacity`,
//! `strict_validation`, `target_providers`, …), and the few that cannot apply are declared
//! as [`NotApplied`] fields and named in the answer ([`super::compat`]).

use crate::model::{Capability, PoolType, Provider, ResourceType, Tier};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A design parameter accepted for compatibility but not applied; the answer names it in
/// `parameters_not_applied` with the reason ([`super::compat::NOT_APPLIED`]).
pub type NotApplied = Option<serde_json::Value>;

/// The JSON Schema of a definition given as text or as an object.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum DefinitionSchema {
    /// The document as YAML or JSON text.
    Text(String),
    /// The document as an object (`apiVersion`, `kind`, `metadata`, `spec`).
    Object(serde_json::Map<String, serde_json::Value>),
}

/// A definition as text: given as YAML/JSON text, or as an object (the design's
/// `universal_definition: {...}`), which is turned into its JSON text. Any other JSON
/// type is refused.
fn definition_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        v @ serde_json::Value::Object(_) => Ok(v.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "a definition is YAML/JSON text or an object, not {}",
            json_type(&other)
        ))),
    }
}

pub(super) fn opt_definition_text<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    definition_text(d).map(Some)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

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

impl ProviderName {
    /// The parameter value naming `p`.
    pub fn of(p: Provider) -> ProviderName {
        match p {
            Provider::Proxmox => ProviderName::Proxmox,
            Provider::Kubernetes => ProviderName::Kubernetes,
            Provider::Docker => ProviderName::Docker,
            Provider::Aws => ProviderName::Aws,
            Provider::Azure => ProviderName::Azure,
            Provider::Vmware => ProviderName::Vmware,
        }
    }
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
    /// Also give each placeable pool's capacity and what is booked of it (CPU with
    /// overcommit, memory, disk, GPUs).
    #[serde(default)]
    pub include_capacity: bool,
    /// List the deployment templates (default true; false leaves the list empty).
    #[serde(default = "yes")]
    pub include_templates: bool,
    /// Only pools and providers of this provider.
    #[serde(default)]
    pub provider_filter: Option<ProviderName>,
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
    /// Only pools of this provider (after inheritance). Also `provider_filter`.
    #[serde(default, alias = "provider_filter")]
    pub provider: Option<ProviderName>,
    /// Only pools whose effective dimensions (inherited tags) have all these key/values.
    /// Also `dimension_filters`.
    #[serde(default, alias = "dimension_filters")]
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
    /// Give each pool's nodes, quota and bookings (default true); false lists the pools
    /// and their tree only.
    #[serde(default)]
    pub include_capacity: Option<bool>,
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
    /// Only templates for this provider. Also `provider_filter`.
    #[serde(default, alias = "provider_filter")]
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
    /// Only charts of this provider. Also `provider_filter`.
    #[serde(default, alias = "provider_filter")]
    pub provider: Option<ProviderName>,
    /// Only charts that can render this capability. Also `capability_filter`.
    #[serde(default, alias = "capability_filter")]
    pub capability: Option<CapabilityName>,
    /// Only charts that render this workload type (a WorkloadType name). Also
    /// `workload_filter`.
    #[serde(default, alias = "workload_filter")]
    pub workload_type: Option<String>,
    /// Only charts that render this resource type.
    #[serde(default)]
    pub resource_type: Option<ResourceTypeName>,
}

/// Which resources `get-deployment-status` reports.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// One resource by name; all resources (paged) when absent. Also `instance_name`,
    /// `instance_id`, `resource_name`, `service_name`.
    #[serde(
        default,
        alias = "instance_name",
        alias = "instance_id",
        alias = "resource_name",
        alias = "service_name"
    )]
    pub resource: Option<String>,
    /// Apply runs per resource, newest first (0-20, default 3).
    #[serde(default = "three")]
    pub runs: u32,
    /// Include each run's stdout and stderr tails (default true).
    #[serde(default = "yes")]
    pub include_logs: bool,
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
    /// Only this resource. Also `instance_name`, `instance_id`, `resource_name`.
    #[serde(
        default,
        alias = "instance_name",
        alias = "instance_id",
        alias = "resource_name"
    )]
    pub resource: Option<String>,
    /// Only deviations that are still open (default); `false` adds recently resolved ones.
    #[serde(default = "yes")]
    pub open_only: bool,
    /// Add recently resolved deviations (the opposite of `open_only`; wins when given).
    #[serde(default)]
    pub include_resolved: Option<bool>,
    /// At most this many deviations (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// The window of `detect-infrastructure-anomalies`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnomalyQuery {
    /// Look back this many hours for failed applies and deviations (1-720, default 24).
    /// Also `analysis_window_hours`.
    #[serde(default = "day", alias = "analysis_window_hours")]
    pub window_hours: u32,
    /// Report nodes and quotas whose CPU, memory, disk or GPUs are booked above this
    /// percentage (1-100, default 85). Also `threshold_percent`.
    #[serde(default = "eighty_five", alias = "threshold_percent")]
    pub capacity_threshold_percent: u32,
    /// Accepted, not applied: anomalies here are facts, not scores (see the answer).
    #[serde(default)]
    pub sensitivity: NotApplied,
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
    /// One `UniversalResource` document as YAML (or JSON) text, or as an object, exactly as
    /// it would be committed: `apiVersion: homelab.ai/v1`, `kind: UniversalResource`,
    /// `metadata`, `spec`. Also `universal_definition`.
    #[serde(alias = "universal_definition", deserialize_with = "definition_text")]
    #[schemars(with = "DefinitionSchema")]
    pub definition: String,
    /// Count warnings as errors: `valid` is false while any warning remains.
    #[serde(default)]
    pub strict_validation: bool,
}

/// A proposed definition to render without writing anything.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateInput {
    /// One `UniversalResource` document as YAML (or JSON) text, or as an object. Also
    /// `universal_definition`.
    #[serde(alias = "universal_definition", deserialize_with = "definition_text")]
    #[schemars(with = "DefinitionSchema")]
    pub definition: String,
    /// Also render it for each of these providers (its `spec.placement` provider set to
    /// each, its pool, node and chart left to placement): one answer per provider, or why
    /// it cannot go there.
    #[serde(default)]
    pub target_providers: Vec<ProviderName>,
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
    /// Sizing tier for sizes not given (default `standard`). Also `performance_tier`.
    #[serde(default, alias = "performance_tier")]
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
    /// Needs a GPU per replica. Also `consider_gpu`.
    #[serde(default, alias = "consider_gpu")]
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
    /// Required pool path (the pool or any pool below it). Also `resource_pool`.
    #[serde(default, alias = "resource_pool")]
    pub pool: Option<String>,
    /// `find-best-provider-for-workload` only: compare just these providers (default:
    /// every provider with a pool).
    #[serde(default)]
    pub target_providers: Vec<ProviderName>,
    /// `find-best-provider-for-workload` only: add each provider's monthly estimate from
    /// its pool's `properties.pricing` (with the lines and assumptions).
    #[serde(default)]
    pub include_costs: bool,
    /// `find-best-provider-for-workload` only: a monthly budget; a provider over it (or
    /// without prices) is not chosen as best. Implies `include_costs`.
    #[serde(default)]
    pub cost_constraints: Option<CostConstraints>,
}

/// A monthly budget for `find-best-provider-for-workload`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostConstraints {
    /// The most the workload may cost a month. Also `max_monthly_cost`, `max_cost`.
    #[serde(alias = "max_monthly_cost", alias = "max_cost")]
    pub max_monthly: f64,
    /// Its currency (ISO 4217, e.g. `EUR`); estimates in another currency do not
    /// qualify. Any currency when absent.
    #[serde(default)]
    pub currency: Option<String>,
}

/// What `find-optimal-placement` places: exactly one of the three.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementQuery {
    /// An existing resource: its current placement with the reasons and alternatives.
    /// Also `instance_name`, `resource_name`.
    #[serde(default, alias = "instance_name", alias = "resource_name")]
    pub resource: Option<String>,
    /// A full `UniversalResource` document (YAML or JSON text, or an object) to place
    /// hypothetically. Also `universal_definition`.
    #[serde(
        default,
        alias = "universal_definition",
        deserialize_with = "opt_definition_text"
    )]
    #[schemars(with = "Option<DefinitionSchema>")]
    pub definition: Option<String>,
    /// A workload described by its needs, placed hypothetically. Also
    /// `workload_requirements`.
    #[serde(default, alias = "workload_requirements")]
    pub workload: Option<WorkloadSpec>,
    /// Constraints for a definition or workload placed hypothetically (not for an
    /// existing resource, whose placement is what it is).
    #[serde(default)]
    pub affinity_rules: Vec<AffinityRule>,
}

/// One placement constraint of `find-optimal-placement`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum AffinityRule {
    /// On this node.
    Node { value: String },
    /// In this pool or a pool below it.
    Pool { value: String },
    /// On this provider.
    Provider { value: ProviderName },
    /// On a node the named resource uses.
    SameNodeAs { value: String },
    /// On no node the named resource uses.
    DifferentNodeFrom { value: String },
}

/// `plan-migration-from-snapshot`: from which state to which.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationQuery {
    /// The starting point: a snapshot name committed by `create-infrastructure-snapshot`,
    /// or any revision of the tracked repository (commit id, branch, tag). Also
    /// `snapshot_id`, `snapshot_name`.
    #[serde(alias = "snapshot_id", alias = "snapshot_name")]
    pub from: String,
    /// The target revision (default: the tracked branch's newest commit). Also
    /// `target_revision`.
    #[serde(default, alias = "target_revision")]
    pub to: Option<String>,
    /// Plan moving every resource of the snapshot to this node (its pool, or the one
    /// `target_resource_pool` names): each is placed there as the daemon would place it;
    /// refused with the reasons when they do not all fit.
    #[serde(default)]
    pub target_node: Option<String>,
    /// Plan moving every resource of the snapshot to this pool (path); with
    /// `target_node`, to that node of it.
    #[serde(default)]
    pub target_resource_pool: Option<String>,
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
    /// A resource name: its workload type's SOP plus the facts of its placement. Also
    /// `service_name`, `instance_name`.
    #[serde(default, alias = "service_name", alias = "instance_name")]
    pub resource: Option<String>,
    /// Accepted, not applied: the SOP is served whole (see the answer).
    #[serde(default)]
    pub include_troubleshooting: NotApplied,
}

/// Scope of `get-resource-allocation-guidelines`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuidelineQuery {
    /// Only pools at or below this path. Also `resource_pool`.
    #[serde(default, alias = "resource_pool")]
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
    /// Accepted, not applied: the strategy does not depend on GPUs (see the answer).
    #[serde(default)]
    pub consider_gpu: NotApplied,
}
