//! `Chart.yaml`: a chart's identity and its compatibility matrix.

use super::{Provider, ResourceType};
use serde::{Deserialize, Serialize};

/// Something a resource can ask for that not every chart can render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Gpu,
    HighAvailability,
    Backup,
    Monitoring,
}

impl Capability {
    /// The capability as written in `Chart.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Gpu => "gpu",
            Capability::HighAvailability => "high_availability",
            Capability::Backup => "backup",
            Capability::Monitoring => "monitoring",
        }
    }
}

/// The parsed `Chart.yaml` of one chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub provider: Provider,
    pub resource_types: Vec<ResourceType>,
    /// Workload type names, or `"*"` for any.
    pub workload_types: Vec<String>,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// Modules copied from `terraform/modules/<m>` into `modules/<m>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terraform_modules: Vec<String>,
    /// Ansible roles every resource rendered by this chart gets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ansible_roles: Vec<String>,
}

impl ChartMeta {
    /// Does the chart render this resource and workload type?
    pub fn supports(&self, resource_type: ResourceType, workload_type: &str) -> bool {
        self.resource_types.contains(&resource_type)
            && self
                .workload_types
                .iter()
                .any(|w| w == "*" || w == workload_type)
    }

    /// The capabilities in `needed` that this chart lacks.
    pub fn missing(&self, needed: &[Capability]) -> Vec<Capability> {
        needed
            .iter()
            .copied()
            .filter(|c| !self.capabilities.contains(c))
            .collect()
    }
}

/// The built-in chart used for a provider when nothing names one.
pub fn default_chart(provider: Provider) -> &'static str {
    match provider {
        Provider::Proxmox => "proxmox-compute",
        Provider::Kubernetes => "kubernetes-workload",
        Provider::Docker => "docker-compose",
        Provider::Aws => "aws-ec2",
        Provider::Azure => "azure-vm",
        Provider::Vmware => "vmware-vsphere",
    }
}
