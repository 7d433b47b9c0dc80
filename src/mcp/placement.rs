//! Hypothetical resources (pure): validate, size, place and render one proposed document
//! against a loaded [`View`] without running the whole pipeline again. The document is
//! validated together with the revision's pools, workload types and templates (the same
//! checks the daemon runs), placed against the revision's ledger (everything else stays
//! where it is), and rendered with the revision's charts.

use super::context::View;
use super::params::WorkloadSpec;
use super::reply::Summary;
use crate::diag::Diagnostic;
use crate::model::{Document, Provider, ResourceType, parse_file, tier_label};
use crate::pipeline::Engine;
use crate::place::{Decision, Ledger, ResolvedPool, place_one};
use crate::render::Rendered;
use crate::source::SourceFile;
use crate::validate::{Catalog, Context, validate};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Books `decisions` into a fresh ledger, as placement does after each decision.
pub fn ledger_of<'a>(
    decisions: impl Iterator<Item = &'a Decision>,
    pools: &BTreeMap<String, ResolvedPool>,
) -> Ledger {
    let mut ledger = Ledger::default();
    for d in decisions {
        crate::place::book(&mut ledger, pools, d);
    }
    ledger
}

/// The effective size of a placed resource.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SizeOut {
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    pub gpu: bool,
    pub replicas: u32,
    /// The workload type's tier used for sizes the definition left out.
    pub tier: String,
    /// Where each size not written in the definition came from.
    pub sources: Vec<String>,
}

/// A GPU given to one replica.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GpuOut {
    pub node: String,
    pub model: String,
    pub pci_address: String,
}

/// A pool that was considered and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AlternativeOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<Provider>,
    pub pool: String,
    pub verdict: String,
}

/// Where a resource goes and why: the placement engine's decision.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PlacementOut {
    pub resource: String,
    #[schemars(with = "String")]
    pub provider: Provider,
    pub pool: String,
    pub chart: String,
    /// One node per replica (empty for an elastic cloud pool).
    pub nodes: Vec<String>,
    pub gpus: Vec<GpuOut>,
    pub size: SizeOut,
    pub reasons: Vec<String>,
    /// Other pools, rejected or ranked lower, with the verdict.
    pub alternatives: Vec<AlternativeOut>,
}

impl From<&Decision> for PlacementOut {
    fn from(d: &Decision) -> PlacementOut {
        PlacementOut {
            resource: d.resource.clone(),
            provider: d.provider,
            pool: d.pool.clone(),
            chart: d.chart.clone(),
            nodes: d.nodes.iter().map(|n| n.name.clone()).collect(),
            gpus: d
                .gpus
                .iter()
                .map(|g| GpuOut {
                    node: g.node.clone(),
                    model: g.model.clone(),
                    pci_address: g.pci_address.clone(),
                })
                .collect(),
            size: SizeOut {
                cpu: d.size.cpu,
                memory_gb: d.size.memory_gb,
                storage_gb: d.size.storage_gb,
                gpu: d.size.gpu,
                replicas: d.size.replicas,
                tier: tier_label(d.size.tier).to_owned(),
                sources: d.size.sources.clone(),
            },
            reasons: d.reasons.clone(),
            alternatives: d
                .alternatives
                .iter()
                .map(|a| AlternativeOut {
                    provider: a.provider,
                    pool: a.pool.clone(),
                    verdict: a.verdict.to_string(),
                })
                .collect(),
        }
    }
}

impl PlacementOut {
    /// "ollama-server → proxmox /homelab/compute/gpu-nodes pve-gpu-01 [proxmox-compute]"
    pub fn line(&self) -> String {
        let nodes = if self.nodes.is_empty() {
            "(elastic)".to_owned()
        } else {
            self.nodes.join(",")
        };
        format!(
            "{} → {} {} {} [{}]",
            self.resource, self.provider, self.pool, nodes, self.chart
        )
    }
}

/// The answer of `find-optimal-placement`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlacementAnswer {
    /// The revision placement ran against.
    pub revision: String,
    /// `existing` (the resource's current placement) or `hypothetical`.
    pub mode: String,
    pub placement: PlacementOut,
}

impl Summary for PlacementAnswer {
    fn summary(&self) -> String {
        let mut out = format!("{} placement: {}", self.mode, self.placement.line());
        for r in &self.placement.reasons {
            out.push_str("\n- ");
            out.push_str(r);
        }
        out
    }
}

/// One proposed document run through validation, placement and (optionally) rendering.
#[derive(Debug)]
pub struct Trial {
    /// `metadata.name`, when it could be read.
    pub name: Option<String>,
    /// Problems with the proposed document only.
    pub diagnostics: Vec<Diagnostic>,
    /// The revision's pools, workload types and templates plus the proposed resource.
    pub catalog: Catalog,
    pub decision: Option<Decision>,
    pub rendered: Option<Rendered>,
    /// Where a resource of the same name is already defined (`file:line`).
    pub existing: Option<String>,
}

impl Trial {
    /// No errors and a placement.
    pub fn is_valid(&self) -> bool {
        self.decision.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The file name proposed documents are reported under.
pub const PROPOSED_FILE: &str = "proposed.yaml";

/// Validates, places and (with `render`) renders one proposed `UniversalResource`.
pub fn trial(engine: &Engine, view: &View, text: &str, render: bool) -> Trial {
    let source = SourceFile {
        path: PROPOSED_FILE.to_owned(),
        content: text.as_bytes().to_vec(),
    };
    let (mut docs, mut diagnostics) = parse_file(&source, &engine.limits);
    let mut out = Trial {
        name: None,
        diagnostics: Vec::new(),
        catalog: Catalog::default(),
        decision: None,
        rendered: None,
        existing: None,
    };
    if docs.len() != 1 || docs[0].kind_str() != Some("UniversalResource") {
        if diagnostics.iter().all(|d| !d.is_error()) {
            let found = match docs.as_slice() {
                [] => "no document".to_owned(),
                [one] => format!("kind {}", one.kind_str().unwrap_or("(none)")),
                many => format!("{} documents", many.len()),
            };
            diagnostics.push(
                Diagnostic::error(
                    "not-a-resource",
                    PROPOSED_FILE,
                    "expected one resource definition",
                )
                .expected("exactly one document with kind: UniversalResource")
                .found(found),
            );
        }
        out.diagnostics = diagnostics;
        return out;
    }
    let Some(doc) = docs.pop() else {
        return out;
    };
    out.name = doc.name().map(str::to_owned);
    let catalog = &view.outcome.catalog;
    if let Some(name) = &out.name {
        out.existing = catalog
            .resources
            .get(name)
            .map(|e| format!("{}:{}", e.doc.file, e.doc.start.0))
            .or_else(|| {
                catalog
                    .invalid_resources
                    .get(name)
                    .map(|i| format!("{}:{}", i.file, i.line))
            });
    }
    let mut all: Vec<Document> = Vec::new();
    all.extend(catalog.pools.values().map(|e| e.doc.clone()));
    all.extend(catalog.workload_types.values().map(|e| e.doc.clone()));
    all.extend(catalog.templates.values().map(|e| e.doc.clone()));
    all.push(doc);
    let metas = view.outcome.charts.metas();
    let roles = engine.assets.role_names();
    let ctx = Context {
        schemas: &engine.schemas,
        charts: &metas,
        roles: &roles,
        secrets: &view.outcome.secrets,
    };
    let (mini, diags) = validate(all, &ctx);
    diagnostics.extend(diags.into_iter().filter(|d| d.file == PROPOSED_FILE));
    out.catalog = mini;
    let Some(name) = out.name.clone() else {
        out.diagnostics = diagnostics;
        return out;
    };
    let Some(entry) = out.catalog.resources.get(&name) else {
        out.diagnostics = diagnostics;
        return out;
    };
    let others;
    let ledger = if view.outcome.decisions.contains_key(&name) {
        others = ledger_of(
            view.outcome
                .decisions
                .values()
                .filter(|d| d.resource != name),
            &view.pools,
        );
        &others
    } else {
        &view.ledger
    };
    match place_one(entry, &out.catalog, &metas, &view.pools, ledger) {
        Ok(decision) => {
            if render {
                match render_one(engine, view, &out.catalog, &decision) {
                    Ok(r) => out.rendered = Some(r),
                    Err(d) => diagnostics.push(*d),
                }
            }
            out.decision = Some(decision);
        }
        Err(d) => diagnostics.push(*d),
    }
    crate::diag::sort(&mut diagnostics);
    out.diagnostics = diagnostics;
    out
}

fn render_one(
    engine: &Engine,
    view: &View,
    catalog: &Catalog,
    decision: &Decision,
) -> Result<Rendered, Box<Diagnostic>> {
    engine.render_one(
        catalog,
        &view.outcome.charts,
        &view.pools,
        decision,
        None,
        &|_, _| None,
    )
}

/// A name not used by any resource of `view`, for hypothetical placements.
pub fn candidate_name(view: &View) -> String {
    let catalog = &view.outcome.catalog;
    let mut name = "placement-candidate".to_owned();
    while catalog.resources.contains_key(&name) || catalog.invalid_resources.contains_key(&name) {
        name.push('x');
    }
    name
}

/// A `UniversalResource` document (YAML) for a workload described by its needs.
pub fn workload_document(view: &View, name: &str, w: &WorkloadSpec) -> String {
    let resource_type = w.resource_type.map(ResourceType::from).unwrap_or_else(|| {
        view.outcome
            .catalog
            .workload_types
            .get(&w.workload_type)
            .and_then(|t| t.object.spec.resource_types.first().copied())
            .unwrap_or(ResourceType::Compute)
    });
    let mut requirements = serde_json::Map::new();
    if let Some(t) = w.tier {
        requirements.insert("tier".into(), json!(tier_label(t.into())));
    }
    if let Some(v) = w.cpu {
        requirements.insert("cpu".into(), json!(v));
    }
    if let Some(v) = w.memory_gb {
        requirements.insert("memory_gb".into(), json!(v));
    }
    if let Some(v) = w.storage_gb {
        requirements.insert("storage_gb".into(), json!(v));
    }
    if let Some(v) = w.gpu {
        requirements.insert("gpu".into(), json!(v));
    }
    if w.high_availability {
        requirements.insert("high_availability".into(), json!(true));
    }
    if let Some(v) = w.replicas {
        requirements.insert("replicas".into(), json!(v));
    }
    let mut placement = serde_json::Map::new();
    if let Some(p) = w.provider {
        placement.insert("provider".into(), json!(Provider::from(p).as_str()));
    }
    if let Some(p) = &w.pool {
        placement.insert("pool".into(), json!(p));
    }
    let mut spec = serde_json::Map::new();
    spec.insert("resource_type".into(), json!(resource_type.as_str()));
    spec.insert("workload_type".into(), json!(w.workload_type));
    if let Some(t) = &w.template {
        spec.insert("template".into(), json!(t));
    }
    spec.insert("requirements".into(), requirements.into());
    if !placement.is_empty() {
        spec.insert("placement".into(), placement.into());
    }
    let doc = json!({
        "apiVersion": crate::model::API_VERSION,
        "kind": "UniversalResource",
        "metadata": { "name": name },
        "spec": spec,
    });
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// One provider's answer in `find-best-provider-for-workload`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProviderOption {
    #[schemars(with = "String")]
    pub provider: Provider,
    /// Can the workload go to this provider now?
    pub fits: bool,
    /// Position in the workload type's provider preference (1 = first), if listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preference: Option<usize>,
    /// Where it would go on this provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementOut>,
    /// Why it cannot go there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `include_costs` or `cost_constraints`: the monthly estimate where it would
    /// go, from the pool's `properties.pricing` (absent when that pool has no prices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<crate::cost::ResourceCost>,
    /// With `cost_constraints`: whether the estimate is within the budget (false also
    /// when there is no estimate in the budget's currency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_budget: Option<bool>,
}

/// The answer of `find-best-provider-for-workload`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BestProviderAnswer {
    pub revision: String,
    /// The provider the placement engine chooses with no provider forced; absent when
    /// nothing fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best: Option<PlacementOut>,
    /// Every provider with at least one pool, fitting ones first in preference order.
    pub providers: Vec<ProviderOption>,
    /// How costs were estimated, and what the budget did to the choice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cost_notes: Vec<String>,
}

impl Summary for BestProviderAnswer {
    fn summary(&self) -> String {
        let mut out = match &self.best {
            Some(b) => format!("best: {}", b.line()),
            None => "no provider can take this workload now".to_owned(),
        };
        for p in &self.providers {
            out.push_str(&format!(
                "\n- {}: {}",
                p.provider,
                match (&p.placement, &p.reason) {
                    (Some(pl), _) => format!("fits ({} {})", pl.pool, pl.nodes.join(",")),
                    (None, Some(r)) => format!("does not fit: {r}"),
                    (None, None) => "does not fit".to_owned(),
                }
            ));
            if let Some(c) = &p.monthly_cost {
                out.push_str(&format!(
                    ", about {} a month",
                    crate::cost::money(c.monthly, &c.currency)
                ));
            }
            if p.within_budget == Some(false) {
                out.push_str(" (over budget)");
            }
        }
        for note in &self.cost_notes {
            out.push_str(&format!("\n{note}"));
        }
        out
    }
}

/// The message of a failed trial, for answers: the first error's message and found text.
pub fn trial_failure(t: &Trial) -> String {
    t.diagnostics
        .iter()
        .find(|d| d.is_error())
        .map(|d| match &d.found {
            Some(f) => format!("{}: {f}", d.message),
            None => d.message.clone(),
        })
        .unwrap_or_else(|| "not placed".to_owned())
}

/// Places `workload` on every provider that has a pool, and once with no provider forced.
pub fn best_provider(engine: &Engine, view: &View, workload: &WorkloadSpec) -> BestProviderAnswer {
    let budget = workload.cost_constraints.as_ref();
    let costs = workload.include_costs || budget.is_some();
    let name = candidate_name(view);
    let free = trial(
        engine,
        view,
        &workload_document(view, &name, workload),
        false,
    );
    let prefs = view
        .outcome
        .catalog
        .workload_types
        .get(&workload.workload_type)
        .map(|w| w.object.spec.preferences.providers.clone())
        .unwrap_or_default();
    let asked: Vec<Provider> = workload
        .target_providers
        .iter()
        .map(|p| Provider::from(*p))
        .collect();
    let mut providers = Vec::new();
    for provider in Provider::ALL {
        if !asked.is_empty() && !asked.contains(&provider) {
            continue;
        }
        if !view
            .pools
            .values()
            .any(|p| p.is_target() && p.provider == Some(provider))
        {
            continue;
        }
        let mut forced = workload.clone();
        forced.provider = Some(provider_name(provider));
        let t = trial(
            engine,
            view,
            &workload_document(view, &name, &forced),
            false,
        );
        let preference = prefs.iter().position(|p| *p == provider).map(|i| i + 1);
        let placed = t.decision.as_ref().filter(|_| t.is_valid());
        let monthly_cost = placed
            .filter(|_| costs)
            .and_then(|d| crate::cost::of_decision(d, &view.pools));
        providers.push(ProviderOption {
            provider,
            fits: t.is_valid(),
            preference,
            reason: (!t.is_valid()).then(|| trial_failure(&t)),
            placement: placed.map(PlacementOut::from),
            within_budget: budget.map(|b| within(b, monthly_cost.as_ref())),
            monthly_cost,
        });
    }
    providers.sort_by_key(|p| (!p.fits, p.preference.unwrap_or(usize::MAX)));
    // With target_providers, the engine's free choice counts only when it is one of them;
    // otherwise the first that fits, in preference order.
    let affordable = |provider: Provider| {
        providers
            .iter()
            .find(|p| p.provider == provider)
            .is_none_or(|p| p.within_budget != Some(false))
    };
    let best = free
        .decision
        .as_ref()
        .filter(|d| free.is_valid() && (asked.is_empty() || asked.contains(&d.provider)))
        .filter(|d| affordable(d.provider))
        .map(PlacementOut::from)
        .or_else(|| {
            providers
                .iter()
                .find(|p| {
                    (!asked.is_empty() || budget.is_some())
                        && p.fits
                        && p.within_budget != Some(false)
                })
                .and_then(|p| p.placement.clone())
        });
    let mut cost_notes = Vec::new();
    if costs {
        cost_notes.push(format!(
            "estimates: {} hours a month, every replica, from the pool's properties.pricing; a pool without prices has none",
            crate::cost::HOURS_PER_MONTH
        ));
    }
    if let Some(b) = budget {
        let limit = match &b.currency {
            Some(c) => crate::cost::money(b.max_monthly, c),
            None => format!("{:.2}", b.max_monthly),
        };
        if best.is_none() && providers.iter().any(|p| p.fits) {
            cost_notes.push(format!(
                "nothing that fits is estimated within {limit} a month (providers without prices do not qualify)"
            ));
        } else {
            cost_notes.push(format!(
                "best is chosen among providers estimated within {limit} a month"
            ));
        }
    }
    BestProviderAnswer {
        revision: view.head.clone(),
        best,
        providers,
        cost_notes,
    }
}

/// Is `cost` within `budget` (same currency when the budget names one)?
fn within(
    budget: &super::params::CostConstraints,
    cost: Option<&crate::cost::ResourceCost>,
) -> bool {
    cost.is_some_and(|c| {
        budget
            .currency
            .as_deref()
            .is_none_or(|cur| cur.eq_ignore_ascii_case(&c.currency))
            && c.monthly <= budget.max_monthly
    })
}

fn provider_name(p: Provider) -> super::params::ProviderName {
    use super::params::ProviderName as N;
    match p {
        Provider::Proxmox => N::Proxmox,
        Provider::Kubernetes => N::Kubernetes,
        Provider::Docker => N::Docker,
        Provider::Aws => N::Aws,
        Provider::Azure => N::Azure,
        Provider::Vmware => N::Vmware,
    }
}

/// `text` (a definition) with `spec.placement.provider` set to `provider`, and the pool,
/// node and chart it names left to placement where they belong to another provider. Text
/// that is not a YAML mapping is returned as it is (the trial reports it).
pub fn with_provider(view: &View, text: &str, provider: Provider) -> String {
    let Ok(mut doc) = serde_yaml::from_str::<serde_json::Value>(text) else {
        return text.to_owned();
    };
    let Some(spec) = doc.get_mut("spec").and_then(|s| s.as_object_mut()) else {
        return text.to_owned();
    };
    let chart = spec
        .get("chart")
        .and_then(|c| c.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    if let Some(chart) = chart
        && view
            .outcome
            .charts
            .charts
            .get(&chart)
            .is_some_and(|c| c.meta.provider != provider)
        && let Some(c) = spec.get_mut("chart").and_then(|c| c.as_object_mut())
    {
        c.remove("name");
    }
    let placement = spec
        .entry("placement")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    if let Some(p) = placement {
        let pool_provider = p
            .get("pool")
            .and_then(|x| x.as_str())
            .and_then(|x| view.pools.get(x))
            .and_then(|x| x.provider);
        if pool_provider != Some(provider) {
            p.remove("pool");
            p.remove("node");
        }
        p.insert("provider".into(), json!(provider.as_str()));
    }
    serde_yaml::to_string(&doc).unwrap_or_else(|_| text.to_owned())
}

/// Most nodes tried when a `different_node_from` rule moves a placement off the nodes it
/// must avoid (each try is one placement of the document).
const MAX_NODE_TRIES: usize = 64;

/// Places `text` (a definition) under `rules`: node, pool, provider and `same_node_as`
/// become `spec.placement` pins; `different_node_from` moves the placement to the first
/// node (pools by path, nodes in order) that fits and holds no replica of the named
/// resource. Each rule is stated in the decision's reasons.
pub fn with_affinity(
    engine: &Engine,
    view: &View,
    text: &str,
    rules: &[super::params::AffinityRule],
) -> Result<Trial, super::reply::Refusal> {
    use super::params::AffinityRule as R;
    use super::reply::Refusal;
    if rules.is_empty() {
        return Ok(trial(engine, view, text, false));
    }
    let mut doc: serde_json::Value = serde_yaml::from_str(text).map_err(|e| {
        Refusal::fixable(
            "affinity_rules need a definition that parses as YAML or JSON",
            vec![e.to_string()],
        )
    })?;
    let decisions = &view.outcome.decisions;
    let decision_of = |name: &str| {
        decisions
            .get(name)
            .ok_or_else(|| Refusal::unknown("resource", name, decisions.keys()))
    };
    let mut pins = serde_json::Map::new();
    let mut avoid: Vec<String> = Vec::new();
    let mut said = Vec::new();
    for rule in rules {
        match rule {
            R::Node { value } => {
                pins.insert("node".into(), json!(value));
                said.push(format!("affinity: on node {value}"));
            }
            R::Pool { value } => {
                pins.insert("pool".into(), json!(value));
                said.push(format!("affinity: in pool {value}"));
            }
            R::Provider { value } => {
                let p = Provider::from(*value);
                pins.insert("provider".into(), json!(p.as_str()));
                said.push(format!("affinity: on provider {}", p.as_str()));
            }
            R::SameNodeAs { value } => {
                let d = decision_of(value)?;
                let Some(node) = d.nodes.first() else {
                    return Err(Refusal::fixable(
                        format!(
                            "{value} is in the elastic pool {} and has no node to share",
                            d.pool
                        ),
                        vec![],
                    ));
                };
                pins.insert("node".into(), json!(node.name));
                said.push(format!("affinity: on {}, a node of {value}", node.name));
            }
            R::DifferentNodeFrom { value } => {
                let d = decision_of(value)?;
                avoid.extend(d.nodes.iter().map(|n| n.name.clone()));
                said.push(format!(
                    "anti-affinity: not on {} (nodes of {value})",
                    if d.nodes.is_empty() {
                        "any node".to_owned()
                    } else {
                        d.nodes
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
        }
    }
    let Some(spec) = doc.get_mut("spec").and_then(|s| s.as_object_mut()) else {
        return Ok(trial(engine, view, text, false));
    };
    let placement = spec.entry("placement").or_insert_with(|| json!({}));
    if let Some(p) = placement.as_object_mut() {
        p.extend(pins);
    }
    let pinned = serde_yaml::to_string(&doc).unwrap_or_default();
    let mut t = trial(engine, view, &pinned, false);
    let clashes = |t: &Trial| {
        t.decision
            .as_ref()
            .is_some_and(|d| d.nodes.iter().any(|n| avoid.contains(&n.name)))
    };
    if t.is_valid() && clashes(&t) {
        let provider = doc["spec"]["placement"]["provider"]
            .as_str()
            .and_then(|p| Provider::ALL.into_iter().find(|x| x.as_str() == p));
        let within = doc["spec"]["placement"]["pool"].as_str().map(str::to_owned);
        let nodes = view
            .pools
            .values()
            .filter(|p| provider.is_none_or(|x| p.provider == Some(x)))
            .filter(|p| {
                within
                    .as_deref()
                    .is_none_or(|w| p.path == w || p.path.starts_with(&format!("{w}/")))
            })
            .flat_map(|p| p.nodes.iter().map(|n| n.name.clone()))
            .filter(|n| !avoid.contains(n))
            .take(MAX_NODE_TRIES);
        let mut moved = None;
        for node in nodes {
            doc["spec"]["placement"]["node"] = json!(node);
            let text = serde_yaml::to_string(&doc).unwrap_or_default();
            let attempt = trial(engine, view, &text, false);
            if attempt.is_valid() && !clashes(&attempt) {
                said.push(format!(
                    "anti-affinity: moved to {node}, the first node (pools by path) with room away from the avoided ones"
                ));
                moved = Some(attempt);
                break;
            }
        }
        t = moved.ok_or_else(|| {
            Refusal::fixable(
                "no node with room satisfies the affinity rules",
                said.clone(),
            )
        })?;
    }
    if let Some(d) = t.decision.as_mut() {
        d.reasons.extend(said);
    }
    Ok(t)
}
