//! `get-deployment-sop` (pure): standard operating procedures. They come from the
//! workload type's `sop` field; a workload type without one gets a procedure derived from
//! its own data (tiers, roles, placement preferences, the templates its resources use),
//! and the answer says it was derived. For a resource, the facts of its placement come
//! with it.

use super::context::View;
use super::reply::{Refusal, Summary};
use crate::model::{Tier, WorkloadTypeSpec, tier_label};
use crate::validate::Entry;
use schemars::JsonSchema;
use serde::Serialize;
use std::fmt::Write as _;

/// The facts of one resource that an operator following the SOP needs.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceFacts {
    pub name: String,
    /// `file:line` of the definition.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<crate::model::Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    pub nodes: Vec<String>,
    /// `model at pci_address on node`.
    pub gpus: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    pub backup_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_schedule: Option<String>,
}

/// The answer of `get-deployment-sop`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SopAnswer {
    pub revision: String,
    pub workload_type: String,
    /// `workload-type` (written in the WorkloadType's `sop`) or `derived` (composed from
    /// the workload type's tiers, roles, preferences, templates and charts because it has
    /// no `sop`).
    pub origin: String,
    /// The procedure, as Markdown.
    pub sop: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceFacts>,
}

impl Summary for SopAnswer {
    fn summary(&self) -> String {
        let mut out = format!(
            "SOP for {} ({}):\n\n{}",
            self.workload_type, self.origin, self.sop
        );
        if let Some(r) = &self.resource {
            let _ = write!(
                out,
                "\n\n## This resource: {}\n- defined at {}\n- placed on {} {} {}",
                r.name,
                r.source,
                r.provider.map_or("(not placed)", |p| p.as_str()),
                r.pool.as_deref().unwrap_or(""),
                r.nodes.join(", ")
            );
            for g in &r.gpus {
                let _ = write!(out, "\n- GPU {g}");
            }
            if r.backup_required {
                let _ = write!(
                    out,
                    "\n- backups: {}",
                    r.backup_schedule
                        .as_deref()
                        .unwrap_or("the chart's default schedule")
                );
            }
        }
        out
    }
}

/// `get-deployment-sop` for a workload type, or for the workload type of a resource.
pub fn sop(
    view: &View,
    workload_type: Option<&str>,
    resource: Option<&str>,
) -> Result<SopAnswer, Refusal> {
    let c = &view.outcome.catalog;
    let entry = match resource {
        Some(r) => Some(c.resources.get(r).ok_or_else(|| {
            if c.invalid_resources.contains_key(r) {
                Refusal::fixable(
                    format!("resource {r:?} is invalid in the tracked revision"),
                    vec![
                        "fix its definition first (get-deployment-status shows the problems)"
                            .into(),
                    ],
                )
            } else {
                Refusal::unknown("resource", r, c.resources.keys())
            }
        })?),
        None => None,
    };
    let wt_name = match (workload_type, entry) {
        (Some(w), _) => w.to_owned(),
        (None, Some(e)) => e.object.spec.workload_type.clone(),
        (None, None) => {
            return Err(Refusal::fixable(
                "name a workload_type or a resource",
                vec![format!(
                    "workload types: {}",
                    c.workload_types
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
            ));
        }
    };
    let wt = c
        .workload_types
        .get(&wt_name)
        .ok_or_else(|| Refusal::unknown("workload type", &wt_name, c.workload_types.keys()))?;
    let (origin, text) = match &wt.object.spec.sop {
        Some(text) if !text.trim().is_empty() => ("workload-type", text.clone()),
        _ => ("derived", derived_sop(view, wt)),
    };
    let facts = entry.map(|e| {
        let d = view.outcome.decisions.get(e.name());
        ResourceFacts {
            name: e.name().to_owned(),
            source: format!("{}:{}", e.doc.file, e.doc.start.0),
            provider: d.map(|d| d.provider),
            pool: d.map(|d| d.pool.clone()),
            nodes: d
                .map(|d| d.nodes.iter().map(|n| n.name.clone()).collect())
                .unwrap_or_default(),
            gpus: d
                .map(|d| {
                    d.gpus
                        .iter()
                        .map(|g| format!("{} at {} on {}", g.model, g.pci_address, g.node))
                        .collect()
                })
                .unwrap_or_default(),
            chart: d.map(|d| d.chart.clone()),
            backup_required: e.object.spec.deployment.backup_required,
            backup_schedule: e.object.spec.deployment.backup_schedule.clone(),
        }
    });
    Ok(SopAnswer {
        revision: view.head.clone(),
        workload_type: wt_name,
        origin: origin.to_owned(),
        sop: text,
        resource: facts,
    })
}

/// A procedure composed from the workload type's own data.
fn derived_sop(view: &View, wt: &Entry<WorkloadTypeSpec>) -> String {
    let s = &wt.object.spec;
    let name = wt.name();
    let mut out = format!("# {name}\n\n");
    if let Some(d) = &s.description {
        let _ = writeln!(out, "{d}\n");
    }
    out.push_str("_Derived from the workload type's tiers, roles and placement preferences: it has no `sop` of its own._\n\n## Size\n");
    for t in [Tier::Minimal, Tier::Standard, Tier::HighPerformance] {
        let x = s.tiers.get(t);
        let _ = writeln!(
            out,
            "- `{}`: {} CPU, {} GB memory, {} GB disk{}{}",
            tier_label(t),
            x.cpu,
            x.memory_gb,
            x.storage_gb,
            if x.gpu { ", GPU" } else { "" },
            x.description
                .as_deref()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
    }
    out.push_str("\n## Deploy\n");
    let types: Vec<&str> = s.resource_types.iter().map(|r| r.as_str()).collect();
    let _ = writeln!(
        out,
        "1. Add a `UniversalResource` with `workload_type: {name}`{} and a `requirements.tier` (or explicit sizes).",
        if types.is_empty() {
            String::new()
        } else {
            format!(" and `resource_type` one of {}", types.join(", "))
        }
    );
    let templates: Vec<&str> = view
        .outcome
        .catalog
        .templates
        .values()
        .filter(|t| {
            view.outcome.catalog.resources.values().any(|r| {
                r.object.spec.workload_type == name
                    && r.object.spec.template.as_deref() == Some(t.name())
            })
        })
        .map(|t| t.name())
        .collect();
    if !templates.is_empty() {
        let _ = writeln!(
            out,
            "   Templates used by existing {name} resources: {}.",
            templates.join(", ")
        );
    }
    let prefs = &s.preferences;
    if !prefs.providers.is_empty() || !prefs.pools.is_empty() {
        let providers: Vec<&str> = prefs.providers.iter().map(|p| p.as_str()).collect();
        let _ = writeln!(
            out,
            "2. Leave placement open to follow the preferences (providers: {}; pools: {}), or pin `placement.pool`.",
            if providers.is_empty() {
                "any".to_owned()
            } else {
                providers.join(" > ")
            },
            if prefs.pools.is_empty() {
                "any".to_owned()
            } else {
                prefs.pools.join(" > ")
            }
        );
    } else {
        out.push_str("2. Leave placement open (the first pool in path order with room is chosen) or pin `placement.pool`.\n");
    }
    out.push_str("3. Check it with `validate-universal-definition` and `translate-universal-to-provider`, then open a pull request.\n");
    if !s.roles.is_empty() {
        let _ = writeln!(
            out,
            "4. After the merge the configuration roles run: {}.",
            s.roles.join(", ")
        );
    }
    out.push_str("\n## Verify\n- `get-deployment-status` shows the resource `applied` at the merged revision.\n- `compare-expected-vs-actual-state` shows no open deviation for it.\n");
    out.push_str("\n## Rollback\nRevert the commit that changed the definition; the next reconcile renders and applies the previous configuration.\n");
    out
}
