//! Inventory answers (pure): the overview of the homelab, deployment templates, and charts
//! with their compatibility matrix. Pools are in [`super::pools`].

use super::context::View;
use super::page::{PageInfo, paginate};
use super::params::{ChartQuery, DiscoverQuery, ListTemplates};
use super::reply::{Problem, Summary};
use crate::model::{Capability, PoolType, Provider, ResourceType};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Facts from the store for the overview (gathered by the caller).
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct StoreFacts {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest revision the daemon recorded, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    /// Resources by recorded state (`rendered`, `applied`, `failed`, …).
    pub resources_by_state: BTreeMap<String, u64>,
    /// Each inventory source's last recorded scan (by the daemon's schedule or an
    /// agent's `sync_to_database`): when, by whom, how many items, or why it failed.
    #[schemars(with = "Vec<serde_json::Value>")]
    pub inventory_scans: Vec<crate::store::ScanStatus>,
    /// The daemon's last scheduled scan, every source with its result (inside the
    /// daemon, after its first scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub last_scheduled_scan: Option<crate::control::status::InventoryScanStatus>,
}

/// How many of each thing the revision defines.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Counts {
    pub files: usize,
    pub documents: usize,
    pub pools: usize,
    /// Pools resources can be placed in (with nodes, or cloud).
    pub target_pools: usize,
    pub nodes: usize,
    pub workload_types: usize,
    pub templates: usize,
    pub charts: usize,
    pub resources_valid: usize,
    pub resources_invalid: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// One provider's share of the homelab.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProviderUse {
    #[schemars(with = "String")]
    pub provider: Provider,
    pub pools: usize,
    pub resources: usize,
}

/// A pool in the overview.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PoolBrief {
    pub path: String,
    pub pool_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<Provider>,
    pub nodes: usize,
    pub resources: usize,
}

/// A workload type in the overview.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NamedBrief {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An invalid resource and where to fix it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct InvalidOut {
    pub name: String,
    pub file: String,
    pub line: usize,
}

/// The answer of `discover-infrastructure-context`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DiscoverAnswer {
    /// The commit these answers come from.
    pub revision: String,
    pub repository: String,
    pub branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    pub counts: Counts,
    pub providers: Vec<ProviderUse>,
    pub pools: Vec<PoolBrief>,
    pub workload_types: Vec<NamedBrief>,
    pub templates: Vec<NamedBrief>,
    pub charts: Vec<String>,
    /// Up to 50 invalid resources.
    pub invalid_resources: Vec<InvalidOut>,
    /// Up to 20 problems of the revision (errors first).
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreFacts>,
    /// How long loading and running the pipeline on this revision took.
    pub load_ms: u64,
    /// The live Proxmox VE inventory (nodes with load, storage, guests, PCI devices and
    /// GPUs), when asked for with `proxmox: true` and `[proxmox]` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxmox: Option<serde_json::Value>,
    /// Why the Proxmox inventory is missing, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxmox_error: Option<String>,
    /// Each placeable pool's capacity and bookings, with `include_capacity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Vec<super::guidance::PoolUsageOut>>,
}

impl Summary for DiscoverAnswer {
    fn summary(&self) -> String {
        let c = &self.counts;
        let mut out = format!(
            "{} ({} @ {}): {} pools ({} nodes), {} workload types, {} templates, {} charts; {} resources valid, {} invalid ({} errors, {} warnings)",
            self.repository,
            self.branch,
            short(&self.revision),
            c.pools,
            c.nodes,
            c.workload_types,
            c.templates,
            c.charts,
            c.resources_valid,
            c.resources_invalid,
            c.errors,
            c.warnings
        );
        for p in &self.providers {
            out.push_str(&format!(
                "\n- {}: {} pool(s), {} resource(s)",
                p.provider, p.pools, p.resources
            ));
        }
        if let Some(p) = &self.proxmox {
            let nodes = p["nodes"].as_array().map_or(0, Vec::len);
            let guests = p["guests"].as_array().map_or(0, Vec::len);
            out.push_str(&format!(
                "\nProxmox VE (live): {nodes} node(s), {guests} guest(s)"
            ));
        }
        if let Some(e) = &self.proxmox_error {
            out.push_str(&format!("\nProxmox VE (live): {e}"));
        }
        if let Some(s) = &self.store {
            out.push_str(&format!(
                "\nstore ({}): last recorded revision {}",
                s.backend,
                s.last_revision.as_deref().map(short).unwrap_or("none")
            ));
            for scan in &s.inventory_scans {
                out.push_str(&format!("\n{}", scan_line(scan)));
            }
        }
        out
    }
}

/// One source's last scan, as a line: `inventory kubernetes:homelab: scanned at …, 3
/// items` or `… cannot be read since …: why`.
pub fn scan_line(scan: &crate::store::ScanStatus) -> String {
    let at = scan.at.format("%Y-%m-%d %H:%M:%S UTC");
    match &scan.error {
        Some(e) => format!(
            "inventory {}: cannot be read since {at} ({}): {e}",
            scan.source, scan.actor
        ),
        None => format!(
            "inventory {}: scanned at {at} ({}), {} item(s)",
            scan.source,
            scan.actor,
            scan.items.unwrap_or(0)
        ),
    }
}

/// The first 12 characters of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

pub(super) fn pool_type_name(t: PoolType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The overview of the whole revision.
pub fn discover(
    view: &View,
    repository: String,
    branch: String,
    sub_path: Option<String>,
    store: Option<StoreFacts>,
) -> DiscoverAnswer {
    let o = &view.outcome;
    let c = &o.catalog;
    let (by_pool, _) = super::pools::occupancy(view);
    let mut providers = Vec::new();
    for p in Provider::ALL {
        let pools = view
            .pools
            .values()
            .filter(|x| x.is_target() && x.provider == Some(p))
            .count();
        let resources = o.decisions.values().filter(|d| d.provider == p).count();
        if pools + resources > 0 {
            providers.push(ProviderUse {
                provider: p,
                pools,
                resources,
            });
        }
    }
    let mut problems: Vec<&crate::diag::Diagnostic> = o.diagnostics.iter().collect();
    problems.sort_by_key(|d| !d.is_error());
    DiscoverAnswer {
        revision: view.head.clone(),
        repository,
        branch,
        sub_path,
        counts: Counts {
            files: o.files,
            documents: c.documents,
            pools: view.pools.len(),
            target_pools: view.pools.values().filter(|p| p.is_target()).count(),
            nodes: view.pools.values().map(|p| p.nodes.len()).sum(),
            workload_types: c.workload_types.len(),
            templates: c.templates.len(),
            charts: o.charts.charts.len(),
            resources_valid: o.decisions.len(),
            resources_invalid: c.invalid_resources.len(),
            errors: o.error_count(),
            warnings: o.warning_count(),
        },
        providers,
        pools: view
            .pools
            .values()
            .map(|p| PoolBrief {
                path: p.path.clone(),
                pool_type: pool_type_name(p.pool_type),
                provider: p.provider,
                nodes: p.nodes.len(),
                resources: by_pool.get(p.path.as_str()).map_or(0, Vec::len),
            })
            .collect(),
        workload_types: c
            .workload_types
            .values()
            .map(|w| NamedBrief {
                name: w.name().to_owned(),
                description: w.object.spec.description.clone(),
            })
            .collect(),
        templates: c
            .templates
            .values()
            .map(|t| NamedBrief {
                name: t.name().to_owned(),
                description: t.object.spec.description.clone(),
            })
            .collect(),
        charts: o.charts.charts.keys().cloned().collect(),
        invalid_resources: c
            .invalid_resources
            .iter()
            .take(50)
            .map(|(name, i)| InvalidOut {
                name: name.clone(),
                file: i.file.clone(),
                line: i.line,
            })
            .collect(),
        problems: problems.into_iter().take(20).map(Problem::from).collect(),
        store,
        load_ms: view.load_time.as_millis() as u64,
        proxmox: None,
        proxmox_error: None,
        capacity: None,
    }
}

/// Narrows and extends the overview as `q` asks: templates left out, pools and providers
/// of one provider only, each placeable pool's capacity added.
pub fn apply_options(view: &View, answer: &mut DiscoverAnswer, q: &DiscoverQuery) {
    if !q.include_templates {
        answer.templates.clear();
    }
    let only = q.provider_filter.map(Provider::from);
    if let Some(p) = only {
        answer.pools.retain(|x| x.provider == Some(p));
        answer.providers.retain(|x| x.provider == p);
    }
    if q.include_capacity {
        let mut pools = super::guidance::guidelines(view, None, None)
            .map(|g| g.pools)
            .unwrap_or_default();
        if let Some(p) = only {
            pools.retain(|x| x.provider == Some(p));
        }
        answer.capacity = Some(pools);
    }
}

/// A template's validation rule.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RuleOut {
    /// JSON pointer into the definition's `spec`.
    pub field: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub equals: Option<serde_json::Value>,
    pub required: bool,
}

/// Requirement defaults a template supplies.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DefaultsOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_gb: Option<u32>,
}

/// A deployment template.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TemplateOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    pub defaults: DefaultsOut,
    /// Chart values the template sets.
    pub variables: serde_json::Map<String, serde_json::Value>,
    pub roles: Vec<String>,
    /// Ansible variables the template sets.
    pub configuration_variables: serde_json::Map<String, serde_json::Value>,
    pub dimensions: BTreeMap<String, String>,
    pub rules: Vec<RuleOut>,
    /// Resources that use the template.
    pub used_by: Vec<String>,
    pub file: String,
    /// For a template made by `generate-template-from-instance`: from what, and how the
    /// resources that use it fare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<GeneratedOut>,
}

/// Where a generated template came from and how its users' apply runs went.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GeneratedOut {
    /// The resource it was made from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub created_at: String,
    /// Finished apply runs of the resources that use it (succeeded or failed).
    pub apply_runs: i64,
    pub succeeded: i64,
    /// `succeeded / apply_runs`; absent before the first finished run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
}

/// The answer of `list-deployment-templates`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TemplatesAnswer {
    pub revision: String,
    pub templates: Vec<TemplateOut>,
    pub page: PageInfo,
}

impl Summary for TemplatesAnswer {
    fn summary(&self) -> String {
        let mut out = format!(
            "{} of {} template(s)",
            self.templates.len(),
            self.page.total
        );
        for t in &self.templates {
            out.push_str(&format!(
                "\n- {} ({}{}): {}; used by {}",
                t.name,
                t.provider.map_or("any provider", |p| p.as_str()),
                t.chart
                    .as_deref()
                    .map(|c| format!(", chart {c}"))
                    .unwrap_or_default(),
                t.description.as_deref().unwrap_or("no description"),
                if t.used_by.is_empty() {
                    "nothing".to_owned()
                } else {
                    t.used_by.join(", ")
                }
            ));
        }
        out
    }
}

/// `list-deployment-templates`.
pub fn list_templates(view: &View, q: &ListTemplates) -> TemplatesAnswer {
    let c = &view.outcome.catalog;
    let templates: Vec<TemplateOut> = c
        .templates
        .values()
        .filter(|t| {
            q.provider
                .is_none_or(|p| t.object.spec.infrastructure.provider == Some(Provider::from(p)))
        })
        .map(|t| {
            let s = &t.object.spec;
            TemplateOut {
                name: t.name().to_owned(),
                description: s.description.clone(),
                provider: s.infrastructure.provider,
                chart: s.infrastructure.chart.clone(),
                defaults: DefaultsOut {
                    cpu: s.resources.cpu,
                    memory_gb: s.resources.memory_gb,
                    storage_gb: s.resources.storage_gb,
                },
                variables: s.infrastructure.variables.clone(),
                roles: s.configuration.roles.clone(),
                configuration_variables: s.configuration.variables.clone(),
                dimensions: s.dimensions.clone(),
                rules: s
                    .validation
                    .rules
                    .iter()
                    .map(|r| RuleOut {
                        field: r.field.clone(),
                        message: r.message.clone(),
                        min: r.min,
                        max: r.max,
                        one_of: r.one_of.clone(),
                        equals: r.equals.clone(),
                        required: r.required,
                    })
                    .collect(),
                used_by: c
                    .resources
                    .values()
                    .filter(|r| r.object.spec.template.as_deref() == Some(t.name()))
                    .map(|r| r.name().to_owned())
                    .collect(),
                file: t.doc.file.clone(),
                generated: None,
            }
        })
        .collect();
    let (templates, page) = paginate(templates, |t| t.name.as_str(), q.limit, q.cursor.as_deref());
    TemplatesAnswer {
        revision: view.head.clone(),
        templates,
        page,
    }
}

/// A chart and what it can render.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ChartOut {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[schemars(with = "String")]
    pub provider: Provider,
    /// `built-in` or `repository` (a chart under the repository's `charts/`).
    pub origin: String,
    pub resource_types: Vec<String>,
    /// Workload type names, or `*` for any.
    pub workload_types: Vec<String>,
    pub capabilities: Vec<String>,
    pub terraform_modules: Vec<String>,
    pub ansible_roles: Vec<String>,
    /// How many resources of this revision are rendered with it.
    pub used_by: usize,
}

/// Which charts can render a workload type (the compatibility matrix).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CompatibilityOut {
    pub workload_type: String,
    pub resource_types: Vec<String>,
    pub charts: Vec<String>,
}

/// The answer of `list-available-helm-charts`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ChartsAnswer {
    pub revision: String,
    pub charts: Vec<ChartOut>,
    pub compatibility: Vec<CompatibilityOut>,
}

impl Summary for ChartsAnswer {
    fn summary(&self) -> String {
        let mut out = format!("{} chart(s)", self.charts.len());
        for c in &self.charts {
            out.push_str(&format!(
                "\n- {}@{} ({}, {}): {}; capabilities {}",
                c.name,
                c.version,
                c.provider,
                c.origin,
                c.resource_types.join("/"),
                c.capabilities.join(", ")
            ));
        }
        for m in &self.compatibility {
            out.push_str(&format!("\n{} → {}", m.workload_type, m.charts.join(", ")));
        }
        out
    }
}

/// `list-available-helm-charts`.
pub fn list_charts(view: &View, q: &ChartQuery) -> ChartsAnswer {
    let mut used: BTreeMap<&str, usize> = BTreeMap::new();
    for d in view.outcome.decisions.values() {
        *used.entry(d.chart.as_str()).or_default() += 1;
    }
    let wanted_type = q.resource_type.map(ResourceType::from);
    let charts: Vec<ChartOut> = view
        .outcome
        .charts
        .charts
        .values()
        .filter(|c| {
            q.provider
                .is_none_or(|p| c.meta.provider == Provider::from(p))
        })
        .filter(|c| {
            q.capability
                .is_none_or(|x| c.meta.capabilities.contains(&Capability::from(x)))
        })
        .filter(|c| wanted_type.is_none_or(|t| c.meta.resource_types.contains(&t)))
        .filter(|c| {
            q.workload_type
                .as_deref()
                .is_none_or(|w| c.meta.workload_types.iter().any(|x| x == "*" || x == w))
        })
        .map(|c| ChartOut {
            name: c.meta.name.clone(),
            version: c.meta.version.clone(),
            description: c.meta.description.clone(),
            provider: c.meta.provider,
            origin: c.origin.to_owned(),
            resource_types: c
                .meta
                .resource_types
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            workload_types: c.meta.workload_types.clone(),
            capabilities: c
                .meta
                .capabilities
                .iter()
                .map(|x| x.as_str().to_owned())
                .collect(),
            terraform_modules: c.meta.terraform_modules.clone(),
            ansible_roles: c.meta.ansible_roles.clone(),
            used_by: used.get(c.meta.name.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let compatibility = view
        .outcome
        .catalog
        .workload_types
        .values()
        .filter(|w| q.workload_type.as_deref().is_none_or(|x| x == w.name()))
        .map(|w| {
            let types = &w.object.spec.resource_types;
            CompatibilityOut {
                workload_type: w.name().to_owned(),
                resource_types: types.iter().map(|r| r.as_str().to_owned()).collect(),
                charts: view
                    .outcome
                    .charts
                    .charts
                    .values()
                    .filter(|c| {
                        let any_type =
                            types.is_empty() || types.iter().any(|t| c.meta.supports(*t, w.name()));
                        any_type
                            && c.meta
                                .workload_types
                                .iter()
                                .any(|x| x == "*" || x == w.name())
                    })
                    .map(|c| c.meta.name.clone())
                    .collect(),
            }
        })
        .collect();
    ChartsAnswer {
        revision: view.head.clone(),
        charts,
        compatibility,
    }
}
