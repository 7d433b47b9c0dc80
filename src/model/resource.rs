//! `UniversalResource`: what the user wants running, independent of provider.

use super::{Dimensions, Provider, Tier};
use serde::{Deserialize, Serialize};

/// What a resource is, broadly; charts declare which types they can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Compute,
    Container,
    Service,
    Storage,
}

impl ResourceType {
    /// The type as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Compute => "compute",
            ResourceType::Container => "container",
            ResourceType::Service => "service",
            ResourceType::Storage => "storage",
        }
    }
}

/// `spec` of a `UniversalResource`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniversalResourceSpec {
    pub resource_type: ResourceType,
    /// Name of a `WorkloadType`.
    pub workload_type: String,
    /// Name of a `DeploymentTemplate` whose defaults and rules apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default)]
    pub requirements: Requirements,
    #[serde(default)]
    pub deployment: Deployment,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default)]
    pub chart: ChartRef,
    #[serde(default)]
    pub dimensions: Dimensions,
    #[serde(default)]
    pub policy: Policy,
    /// How homelabd tells that it works after an apply and on every observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::HealthCheck>,
    /// Resources applied (at their current revision) before this one, and destroyed
    /// after it when both are pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// Sizing and capabilities the resource needs. Sizes left out come from the template's
/// `resources`, then from the workload type's tier (`standard` unless `tier` says otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Sizing tier of the workload type used for sizes not given here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Virtual CPU cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Memory in GiB (fractions allowed, e.g. 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<f64>,
    /// Disk in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gb: Option<u32>,
    /// Needs one GPU per replica (passed through on Proxmox, requested on Kubernetes,
    /// device reservation on Docker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<bool>,
    /// Network (bridge, VLAN or cloud network name).
    #[serde(default = "default_network")]
    pub network: String,
    /// Run several replicas on distinct nodes.
    #[serde(default)]
    pub high_availability: bool,
    /// Replica count; defaults to 2 with `high_availability`, else 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

impl Default for Requirements {
    fn default() -> Self {
        Requirements {
            tier: None,
            cpu: None,
            memory_gb: None,
            storage_gb: None,
            gpu: None,
            network: default_network(),
            high_availability: false,
            replicas: None,
        }
    }
}

fn default_network() -> String {
    "default".to_owned()
}

impl Requirements {
    /// How many replicas to place: explicit, else 2 for HA, else 1.
    pub fn replica_count(&self) -> u32 {
        self.replicas
            .unwrap_or(if self.high_availability { 2 } else { 1 })
    }
}

/// Deployment environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Production,
    Staging,
    Development,
}

/// Whether monitoring is wired up for the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monitoring {
    #[default]
    Enabled,
    Disabled,
}

/// Operational intent for the deployment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub backup_required: bool,
    /// Cron expression for backups; the chart's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_schedule: Option<String>,
    #[serde(default)]
    pub monitoring: Monitoring,
}

/// Where the resource should go; anything left open is chosen by placement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// A pool path such as `/homelab/compute/gpu-nodes`; the pool or any pool below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// A node name inside the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Which chart renders the resource, and overrides of its values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartRef {
    /// Chart name; the provider's default chart when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Deep-merged over the chart's defaults and the template's variables.
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// Whether the daemon applies changes by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyPolicy {
    Auto,
    Manual,
}

/// Per-resource reconcile policy; unset fields take the daemon's configured defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Sync windows: when the daemon may apply this resource (`[]`: always, whatever
    /// the configured default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<super::window::SyncWindow>>,
    /// How many automatic applies before the resource is left `degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<super::window::Flapping>,
    /// What happens when a new revision fails or is not healthy in time (manual when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackPolicy>,
}

/// `policy.rollback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackPolicy {
    /// Re-apply the last healthy output by itself.
    Auto,
    /// Only `homelabd rollback NAME`.
    #[default]
    Manual,
    /// Never, and keep no last healthy output.
    Off,
}
