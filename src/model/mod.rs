//! Typed definitions: the four kinds a user writes under `apiVersion: homelab.ai/v1`.
//!
//! These serde types and `schemas/<kind>.schema.json` describe the same documents; the
//! schema is checked first (for precise diagnostics) and the typed value is built only
//! from documents that passed it. `tests/schema_agreement.rs` keeps the two in step.

mod chart;
pub mod depends;
mod document;
pub mod health;
mod pool;
pub mod positions;
mod resource;
mod sizing;
pub mod split;
mod template;
pub mod window;
mod workload;

pub use chart::{Capability, ChartMeta, default_chart};
pub use document::{Document, parse_file};
pub use pool::{Gpu, Node, PoolCapacity, PoolType, ResourcePoolSpec};
pub use resource::{
    ApplyPolicy, ChartRef, Deployment, Environment, Monitoring, Placement, Policy, Requirements,
    ResourceType, RollbackPolicy, UniversalResourceSpec,
};
pub use sizing::{Sized, resolve as resolve_size, tier_label};
pub use template::{
    Configuration, DeploymentTemplateSpec, Infrastructure, RequirementDefaults, ValidationRule,
    ValidationRules,
};
pub use workload::{
    PlacementPreferences, PlacementStrategy, SizingTier, SizingTiers, Tier, WorkloadTypeSpec,
};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only API version this release understands.
pub const API_VERSION: &str = "homelab.ai/v1";

/// Free-form string tags (WTT "dimensions", Kubernetes-style labels).
pub type Dimensions = BTreeMap<String, String>;

/// The kinds of document a repository may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    UniversalResource,
    ResourcePool,
    DeploymentTemplate,
    WorkloadType,
}

impl Kind {
    /// Every kind, in the order diagnostics and listings use.
    pub const ALL: [Kind; 4] = [
        Kind::ResourcePool,
        Kind::WorkloadType,
        Kind::DeploymentTemplate,
        Kind::UniversalResource,
    ];

    /// The `kind:` string as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UniversalResource => "UniversalResource",
            Kind::ResourcePool => "ResourcePool",
            Kind::DeploymentTemplate => "DeploymentTemplate",
            Kind::WorkloadType => "WorkloadType",
        }
    }

    /// Parses the `kind:` string; `None` for anything this release does not know.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// File name of the kind's JSON Schema under `schemas/`.
    pub fn schema_file(self) -> &'static str {
        match self {
            Kind::UniversalResource => "universal-resource.schema.json",
            Kind::ResourcePool => "resource-pool.schema.json",
            Kind::DeploymentTemplate => "deployment-template.schema.json",
            Kind::WorkloadType => "workload-type.schema.json",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Infrastructure providers, named as their `rendered-configs/<provider>/` directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Proxmox,
    Kubernetes,
    Docker,
    Aws,
    Azure,
    Vmware,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 6] = [
        Provider::Proxmox,
        Provider::Kubernetes,
        Provider::Docker,
        Provider::Aws,
        Provider::Azure,
        Provider::Vmware,
    ];

    /// The provider's name as written in YAML and used as a directory name.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Proxmox => "proxmox",
            Provider::Kubernetes => "kubernetes",
            Provider::Docker => "docker",
            Provider::Aws => "aws",
            Provider::Azure => "azure",
            Provider::Vmware => "vmware",
        }
    }

    /// The provider named `name` (as [`Provider::as_str`] writes it), if any.
    pub fn parse(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: table columns (`{:<11}`) line up as with a string.
        f.pad(self.as_str())
    }
}

/// `metadata` of every document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// DNS-1123 label, unique per kind.
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A document's envelope around its kind-specific `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Object<S> {
    pub api_version: String,
    pub kind: Kind,
    pub metadata: Metadata,
    pub spec: S,
}

/// Is `name` a DNS-1123 label (lowercase alphanumerics and `-`, 1..=63, alnum at both ends)?
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_accepts_labels_and_rejects_paths() {
        for good in ["a", "ollama-server", "web-01", &"a".repeat(63)] {
            assert!(is_dns1123_label(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "../../etc",
            "a.b",
            &"a".repeat(64),
            "ä",
        ] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn kind_round_trips_through_its_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("Deployment"), None);
    }
}
