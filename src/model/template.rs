//! `DeploymentTemplate`: WTT's parameterised deployment templates.

use super::{Dimensions, Provider};
use serde::{Deserialize, Serialize};

/// `spec` of a `DeploymentTemplate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentTemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default requirements for resources using the template (the definition wins).
    #[serde(default)]
    pub resources: RequirementDefaults,
    pub infrastructure: Infrastructure,
    #[serde(default)]
    pub configuration: Configuration,
    #[serde(default)]
    pub dimensions: Dimensions,
    #[serde(default)]
    pub validation: ValidationRules,
}

/// Requirement defaults a template supplies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gb: Option<u32>,
}

/// The infrastructure part: which provider and chart, with variables for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Infrastructure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// Chart used when the definition names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// Chart values, over the chart's defaults and under the definition's.
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

/// The configuration part: Ansible roles and their variables.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Configuration {
    /// Extra roles (from `ansible/roles`) run after the workload type's roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Merged into chart values under `ansible_vars`.
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

/// Extra checks on definitions that use the template.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ValidationRule>,
}

/// One rule: the value at `field` (a JSON pointer into the definition's `spec`) must
/// satisfy every bound that is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRule {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    #[serde(default)]
    pub required: bool,
    /// Shown to the user when the rule fails.
    pub message: String,
}
