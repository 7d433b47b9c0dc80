//! What the proposal tools take and answer: their requests (with the aliases of the
//! design's parameter names), the answer every one of them gives, and the refusal a
//! failed proposal becomes. The handlers are in `proposal_tools`.

use super::params::{NotApplied, WorkloadSpec};
use super::placement::PlacementOut;
use super::reply::{Refusal, Summary};
use crate::propose::{ProposalOutcome, ProposeError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Deployment environment of a new resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentName {
    Production,
    Staging,
    Development,
}

impl EnvironmentName {
    /// As written in a definition's `spec.deployment.environment`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentName::Production => "production",
            EnvironmentName::Staging => "staging",
            EnvironmentName::Development => "development",
        }
    }
}

/// `deploy-with-intelligence`: a new resource from its needs or a full definition.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Name of the new resource: a DNS-1123 label (lowercase letters, digits, '-').
    /// Required with `workload`; with `definition` it defaults to its `metadata.name`.
    #[serde(default, alias = "resource_name", alias = "instance_name")]
    pub name: Option<String>,
    /// A complete UniversalResource document (YAML or JSON text, or an object) whose
    /// `metadata.name` is `name`. When given, `workload` and the fields below it are not
    /// used. Also `universal_definition`.
    #[serde(
        default,
        alias = "universal_definition",
        deserialize_with = "super::params::opt_definition_text"
    )]
    #[schemars(with = "Option<super::params::DefinitionSchema>")]
    pub definition: Option<String>,
    /// The workload's needs; homelabd picks the tier, sizes, places and renders it.
    #[serde(default)]
    pub workload: Option<WorkloadSpec>,
    /// Deployment environment (default production).
    #[serde(default)]
    pub environment: Option<EnvironmentName>,
    /// Back it up (needs a chart with the backup capability).
    #[serde(default)]
    pub backup_required: bool,
    /// Cron schedule of the backups, e.g. "0 3 * * *" (default: the chart's).
    #[serde(default)]
    pub backup_schedule: Option<String>,
    /// Chart to render it with (default: the template's, else the provider's default).
    #[serde(default)]
    pub chart: Option<String>,
    /// Chart values, over the chart's and the template's (e.g. image, ports, env).
    #[serde(default)]
    pub chart_values: serde_json::Map<String, serde_json::Value>,
    /// Free-form tags (owner, cost_center, …).
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Labels on the resource's metadata.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// File to create, relative to the definitions root (default definitions/<name>.yaml).
    #[serde(default)]
    pub path: Option<String>,
    /// Why it is wanted: goes into the commit and the pull request.
    #[serde(default)]
    pub reason: Option<String>,
    /// Validate, place, render and diff only: no branch, commit or pull request.
    #[serde(default)]
    pub dry_run: bool,
    /// Accepted, not applied: merging the pull request is the approval (see the answer).
    #[serde(default)]
    #[allow(dead_code)] // named in the answer by `compat`, never read here
    pub auto_approve: NotApplied,
    /// Accepted, not applied: a pull request is opened where configured (see the answer).
    #[serde(default)]
    #[allow(dead_code)] // named in the answer by `compat`, never read here
    pub create_pr: NotApplied,
}

/// `update-resource-dimensions`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DimensionsRequest {
    /// The resource to change. Also `instance_name`, `instance_id`, `resource_name`.
    #[serde(
        alias = "instance_name",
        alias = "instance_id",
        alias = "resource_name"
    )]
    pub resource: String,
    /// Dimensions to add or replace. Also `dimensions`.
    #[serde(default, alias = "dimensions")]
    pub set: BTreeMap<String, String>,
    /// Dimension keys to remove. Also `remove_dimensions`.
    #[serde(default, alias = "remove_dimensions")]
    pub remove: Vec<String>,
    /// Why: goes into the commit and the pull request.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `rebalance-placement`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RebalanceRequest {
    /// Why: goes into the commit and the pull request.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `generate-template-from-instance`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// The placed resource to copy. Also `instance_name`, `instance_id`.
    #[serde(alias = "instance_name", alias = "instance_id")]
    pub resource: String,
    /// Name of the new DeploymentTemplate (DNS-1123 label); written to
    /// templates/<template>.yaml. Also `template_name`.
    #[serde(alias = "template_name")]
    pub template: String,
    /// The template's description (default: derived from the resource).
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `create-infrastructure-snapshot`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    /// Snapshot name (DNS-1123 label); written to snapshots/<name>.yaml. Also
    /// `snapshot_name`.
    #[serde(alias = "snapshot_name")]
    pub name: String,
    /// Why: goes into the commit and the pull request. Also `description`.
    #[serde(default, alias = "description")]
    pub reason: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// `decommission-resource`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecommissionRequest {
    /// The resource whose definition is removed. Also `instance_name`, `instance_id`,
    /// `resource_name`.
    #[serde(
        alias = "instance_name",
        alias = "instance_id",
        alias = "resource_name"
    )]
    pub resource: String,
    /// Why: goes into the commit and the pull request.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// Accepted, not applied: pruning follows the resource's policy (see the answer).
    #[serde(default)]
    #[allow(dead_code)] // named in the answer by `compat`, never read here
    pub force: NotApplied,
}

/// What a proposal tool did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProposalAnswer {
    /// The proposal: id, status (`dry-run`, `local`, `pushed`, `pull-request`), branch,
    /// commit, pull-request and compare URLs, diagnostics and affected resources.
    pub proposal: ProposalOutcome,
    /// The file written or deleted, relative to the definitions root.
    pub file: String,
    /// `write` or `delete`.
    pub change: String,
    /// The new content of the file (absent for a deletion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Where the new or changed resource goes, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementOut>,
    /// Sizing and other notes.
    pub notes: Vec<String>,
}

impl Summary for ProposalAnswer {
    fn summary(&self) -> String {
        let p = &self.proposal;
        let mut out = format!(
            "proposal {} ({}): {} {}",
            p.id, p.status, self.change, self.file
        );
        if let Some(b) = &p.branch {
            out.push_str(&format!("\nbranch {b}"));
        }
        if let Some(c) = &p.commit {
            out.push_str(&format!(" at commit {c}"));
        }
        if let Some(u) = &p.pr_url {
            out.push_str(&format!("\npull request: {u}"));
        } else if let Some(u) = &p.compare_url {
            out.push_str(&format!("\ncompare: {u}"));
        }
        for r in &p.resources {
            out.push_str(&format!(
                "\n- {} {:?} {} {}",
                r.name,
                r.change,
                r.provider.map_or("", |p| p.as_str()),
                r.pool.as_deref().unwrap_or("")
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("\n- {n}"));
        }
        out
    }
}

impl From<ProposeError> for Refusal {
    fn from(e: ProposeError) -> Refusal {
        match e {
            ProposeError::Invalid { diagnostics } => {
                Refusal::invalid("the change is invalid; nothing was written", &diagnostics)
            }
            e if e.is_refusal() => {
                Refusal::fixable(format!("refused: {e}"), vec!["nothing was written".into()])
            }
            other => Refusal::Unavailable(other.to_string()),
        }
    }
}

/// `name` as a DNS-1123 label, or a refusal naming `what`.
pub(super) fn label(what: &str, name: &str) -> Result<(), Refusal> {
    if crate::model::is_dns1123_label(name) {
        Ok(())
    } else {
        Err(Refusal::fixable(
            format!("{what} {name:?} is not a DNS-1123 label; nothing was written"),
            vec!["use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit".into()],
        ))
    }
}
