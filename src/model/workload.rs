//! `WorkloadType`: sizing tiers, roles, placement preferences and the SOP text.

use super::{Provider, ResourceType};
use serde::{Deserialize, Serialize};

/// `spec` of a `WorkloadType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadTypeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Resource types this workload type applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_types: Vec<ResourceType>,
    pub tiers: SizingTiers,
    /// Ansible roles (from `ansible/roles`) every resource of this type gets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default)]
    pub preferences: PlacementPreferences,
    /// Standard operating procedure (Markdown), served to agents and operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sop: Option<String>,
}

/// The three sizing tiers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingTiers {
    pub minimal: SizingTier,
    pub standard: SizingTier,
    #[serde(rename = "high-performance")]
    pub high_performance: SizingTier,
}

/// Names of the sizing tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Minimal,
    Standard,
    HighPerformance,
}

/// One sizing tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingTier {
    pub cpu: u32,
    pub memory_gb: f64,
    #[serde(default)]
    pub storage_gb: u32,
    #[serde(default)]
    pub gpu: bool,
    /// When this tier fits (shown by sizing tools), e.g. "up to 5 developers".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How placement should rank candidates for this workload type.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreferences {
    /// Providers in order of preference; unlisted providers rank after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<Provider>,
    /// Pool paths (or prefixes) in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<String>,
    /// `spread` puts work on the least-loaded node, `pack` on the fullest that fits.
    #[serde(default)]
    pub strategy: PlacementStrategy,
}

/// Node choice among fitting nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementStrategy {
    #[default]
    Spread,
    Pack,
}

impl SizingTiers {
    /// The tier by name.
    pub fn get(&self, tier: Tier) -> &SizingTier {
        match tier {
            Tier::Minimal => &self.minimal,
            Tier::Standard => &self.standard,
            Tier::HighPerformance => &self.high_performance,
        }
    }
}
