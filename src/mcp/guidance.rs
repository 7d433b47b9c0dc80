//! Guidance answers (pure): allocation guidelines from the pools' real capacity and
//! usage, and the placement strategy of each workload type. SOPs are in [`super::sop`].

use super::context::View;
use super::inventory::short;
use super::reply::{Refusal, Summary};
use super::sizing::TierOut;
use crate::model::{PlacementStrategy, Tier, WorkloadTypeSpec, tier_label};
use crate::validate::is_within;
use schemars::JsonSchema;
use serde::Serialize;
use std::fmt::Write as _;

/// Booked and total capacity of one pool.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PoolUsageOut {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<crate::model::Provider>,
    pub elastic: bool,
    pub nodes: usize,
    pub cpu_used: f64,
    /// vCPUs including the pool's overcommit (a quota for elastic pools; 0 = unbounded).
    pub cpu_total: f64,
    pub cpu_overcommit: f64,
    pub memory_gb_used: f64,
    pub memory_gb_total: f64,
    pub storage_gb_used: f64,
    pub storage_gb_total: f64,
    pub gpus_used: usize,
    pub gpus_total: usize,
    /// The highest of CPU, memory and disk use in percent (0 for unbounded pools).
    pub utilisation_percent: f64,
}

/// A workload type's sizing and preferences.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WorkloadGuide {
    pub workload_type: String,
    pub tiers: Vec<TierOut>,
    pub preferred_providers: Vec<String>,
    pub preferred_pools: Vec<String>,
    pub strategy: String,
}

/// The answer of `get-resource-allocation-guidelines`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GuidelinesAnswer {
    pub revision: String,
    pub pools: Vec<PoolUsageOut>,
    pub workload_types: Vec<WorkloadGuide>,
    /// Guidelines computed from the usage above.
    pub guidelines: Vec<String>,
}

impl Summary for GuidelinesAnswer {
    fn summary(&self) -> String {
        let mut out = format!("allocation guidelines at {}:", short(&self.revision));
        for g in &self.guidelines {
            out.push_str("\n- ");
            out.push_str(g);
        }
        out
    }
}

fn strategy_name(s: PlacementStrategy) -> &'static str {
    match s {
        PlacementStrategy::Spread => "spread",
        PlacementStrategy::Pack => "pack",
    }
}

fn tiers_of(s: &WorkloadTypeSpec) -> Vec<TierOut> {
    [Tier::Minimal, Tier::Standard, Tier::HighPerformance]
        .into_iter()
        .map(|t| {
            let x = s.tiers.get(t);
            TierOut {
                tier: tier_label(t).to_owned(),
                cpu: x.cpu,
                memory_gb: x.memory_gb,
                storage_gb: x.storage_gb,
                gpu: x.gpu,
                description: x.description.clone(),
            }
        })
        .collect()
}

/// `get-resource-allocation-guidelines`.
pub fn guidelines(
    view: &View,
    pool: Option<&str>,
    workload_type: Option<&str>,
) -> Result<GuidelinesAnswer, Refusal> {
    let c = &view.outcome.catalog;
    if let Some(w) = workload_type
        && !c.workload_types.contains_key(w)
    {
        return Err(Refusal::unknown(
            "workload type",
            w,
            c.workload_types.keys(),
        ));
    }
    let mut pools = Vec::new();
    for p in view.pools.values().filter(|p| p.is_target()) {
        if let Some(root) = pool
            && !is_within(&p.path, root.trim_end_matches('/'))
        {
            continue;
        }
        let mut u = PoolUsageOut {
            path: p.path.clone(),
            provider: p.provider,
            elastic: p.nodes.is_empty(),
            nodes: p.nodes.len(),
            cpu_used: 0.0,
            cpu_total: 0.0,
            cpu_overcommit: p.cpu_overcommit(),
            memory_gb_used: 0.0,
            memory_gb_total: 0.0,
            storage_gb_used: 0.0,
            storage_gb_total: 0.0,
            gpus_used: 0,
            gpus_total: 0,
            utilisation_percent: 0.0,
        };
        if p.nodes.is_empty() {
            if let Some(cap) = &p.capacity {
                u.cpu_total = f64::from(cap.cpu);
                u.memory_gb_total = cap.memory_gb;
                u.storage_gb_total = f64::from(cap.storage_gb);
                u.gpus_total = cap.gpus as usize;
            }
            if let Some(used) = view.ledger.pool_usage(&p.path) {
                u.cpu_used = f64::from(used.cpu);
                u.memory_gb_used = used.memory_gb;
                u.storage_gb_used = f64::from(used.storage_gb);
                u.gpus_used = used.elastic_gpus as usize;
            }
        }
        for n in &p.nodes {
            u.cpu_total += f64::from(n.cpu) * p.cpu_overcommit();
            u.memory_gb_total += n.memory_gb;
            u.storage_gb_total += f64::from(n.storage_gb);
            u.gpus_total += n.gpus.len();
            if let Some(used) = view.ledger.node_usage(&p.path, &n.name) {
                u.cpu_used += f64::from(used.cpu);
                u.memory_gb_used += used.memory_gb;
                u.storage_gb_used += f64::from(used.storage_gb);
                u.gpus_used += used.gpus.len();
            }
        }
        let pct = |used: f64, total: f64| {
            if total > 0.0 {
                100.0 * used / total
            } else {
                0.0
            }
        };
        u.utilisation_percent = pct(u.cpu_used, u.cpu_total)
            .max(pct(u.memory_gb_used, u.memory_gb_total))
            .max(pct(u.storage_gb_used, u.storage_gb_total));
        pools.push(u);
    }
    let mut lines = Vec::new();
    let fixed: Vec<&PoolUsageOut> = pools.iter().filter(|p| !p.elastic).collect();
    if let Some(most) = fixed.iter().max_by(|a, b| {
        (a.memory_gb_total - a.memory_gb_used).total_cmp(&(b.memory_gb_total - b.memory_gb_used))
    }) {
        lines.push(format!(
            "most free memory: {} ({:.1} of {:.1} GB free across {} node(s)) — the place for memory-heavy work",
            most.path,
            most.memory_gb_total - most.memory_gb_used,
            most.memory_gb_total,
            most.nodes
        ));
    }
    for p in pools.iter().filter(|p| p.utilisation_percent >= 80.0) {
        lines.push(format!(
            "{} is {:.0}% booked (CPU {:.0}/{:.0}, memory {:.1}/{:.1} GB, disk {:.0}/{:.0} GB): put new work elsewhere or add a node",
            p.path, p.utilisation_percent, p.cpu_used, p.cpu_total, p.memory_gb_used, p.memory_gb_total, p.storage_gb_used, p.storage_gb_total
        ));
    }
    for p in pools.iter().filter(|p| p.cpu_overcommit > 1.0) {
        lines.push(format!(
            "{} books up to {} vCPUs per physical thread (cpu_overcommit): CPU-bound work there competes for cores",
            p.path, p.cpu_overcommit
        ));
    }
    let gpu_free: Vec<String> = pools
        .iter()
        .filter(|p| p.gpus_total > p.gpus_used)
        .map(|p| format!("{} ({} free)", p.path, p.gpus_total - p.gpus_used))
        .collect();
    let gpu_charts: Vec<&str> = view
        .outcome
        .charts
        .charts
        .values()
        .filter(|ch| {
            ch.meta
                .capabilities
                .contains(&crate::model::Capability::Gpu)
        })
        .map(|ch| ch.meta.name.as_str())
        .collect();
    lines.push(if gpu_free.is_empty() {
        "no GPU is free: a GPU workload cannot be placed until one is released or added".to_owned()
    } else {
        format!(
            "free GPUs: {}; one GPU per replica, and only charts with the gpu capability ({}) render them",
            gpu_free.join(", "),
            gpu_charts.join(", ")
        )
    });
    let ha: Vec<String> = pools
        .iter()
        .filter(|p| p.nodes >= 2)
        .map(|p| format!("{} ({} nodes)", p.path, p.nodes))
        .collect();
    if !ha.is_empty() {
        lines.push(format!(
            "high availability puts each replica on a distinct node; pools with at least two nodes: {}",
            ha.join(", ")
        ));
    }
    for p in pools.iter().filter(|p| p.elastic) {
        lines.push(if p.cpu_total > 0.0 {
            format!(
                "{} is elastic with a quota: {:.0} of {:.0} vCPU and {:.1} of {:.1} GB memory left",
                p.path,
                p.cpu_total - p.cpu_used,
                p.cpu_total,
                p.memory_gb_total - p.memory_gb_used,
                p.memory_gb_total
            )
        } else {
            format!(
                "{} is elastic without a quota: it takes anything its provider's charts can render",
                p.path
            )
        });
    }
    lines.push("sizes a definition leaves out come from its template's resources, then from its workload type's tier (standard unless requirements.tier says otherwise)".to_owned());
    Ok(GuidelinesAnswer {
        revision: view.head.clone(),
        pools,
        workload_types: c
            .workload_types
            .values()
            .filter(|w| workload_type.is_none_or(|x| x == w.name()))
            .map(|w| WorkloadGuide {
                workload_type: w.name().to_owned(),
                tiers: tiers_of(&w.object.spec),
                preferred_providers: w
                    .object
                    .spec
                    .preferences
                    .providers
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
                preferred_pools: w.object.spec.preferences.pools.clone(),
                strategy: strategy_name(w.object.spec.preferences.strategy).to_owned(),
            })
            .collect(),
        guidelines: lines,
    })
}

/// One workload type's placement strategy.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StrategyOut {
    pub workload_type: String,
    /// Providers in order of preference (unlisted ones rank after them).
    pub providers: Vec<String>,
    /// Pool paths (or prefixes) in order of preference.
    pub pools: Vec<String>,
    /// `spread` or `pack`.
    pub strategy: String,
    pub strategy_meaning: String,
    /// Placeable pools in the order placement ranks them for this workload type.
    pub ranked_pools: Vec<String>,
    /// How many resources have this workload type.
    pub resource_count: usize,
    /// The first 20 of them by name, and where they went.
    pub resources: Vec<String>,
}

/// The answer of `get-placement-strategy`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StrategyAnswer {
    pub revision: String,
    /// How the placement engine decides, in order.
    pub rules: Vec<String>,
    pub workload_types: Vec<StrategyOut>,
}

impl Summary for StrategyAnswer {
    fn summary(&self) -> String {
        let mut out = String::from("placement rules:");
        for r in &self.rules {
            let _ = write!(out, "\n- {r}");
        }
        for w in &self.workload_types {
            let _ = write!(
                out,
                "\n{}: {} ({}); pools ranked: {}",
                w.workload_type,
                w.strategy,
                w.strategy_meaning,
                w.ranked_pools.join(" > ")
            );
        }
        out
    }
}

/// `get-placement-strategy`.
pub fn strategy(view: &View, workload_type: Option<&str>) -> Result<StrategyAnswer, Refusal> {
    let c = &view.outcome.catalog;
    if let Some(w) = workload_type
        && !c.workload_types.contains_key(w)
    {
        return Err(Refusal::unknown(
            "workload type",
            w,
            c.workload_types.keys(),
        ));
    }
    let pinned = c
        .resources
        .values()
        .filter(|r| r.object.spec.placement.node.is_some())
        .count();
    let rules = vec![
        format!("resources are booked in a fixed order: the {pinned} pinned to a node first, then the others by name; the same definitions always place the same"),
        "candidate pools: placeable pools (with nodes, or cloud) inside spec.placement.pool, of the required provider (definition, then template, then named chart), whose chart renders the resource and workload type and has every needed capability (gpu, high_availability, backup)".to_owned(),
        "ranking: the workload type's provider preference, then its pool preference, then pool path; the first candidate with room wins, the rest are reported as alternatives".to_owned(),
        "room: vCPUs (times the pool's cpu_overcommit), memory and disk per node after what is already booked; one free GPU per replica; elastic pools only against their quota".to_owned(),
        "replicas of a high-availability resource go to distinct nodes (anti-affinity)".to_owned(),
    ];
    let mut out = Vec::new();
    for w in c
        .workload_types
        .values()
        .filter(|w| workload_type.is_none_or(|x| x == w.name()))
    {
        let prefs = &w.object.spec.preferences;
        let mut ranked: Vec<(usize, usize, &str)> = view
            .pools
            .values()
            .filter(|p| p.is_target())
            .map(|p| {
                let pr = p
                    .provider
                    .and_then(|x| prefs.providers.iter().position(|y| *y == x))
                    .unwrap_or(usize::MAX);
                let pl = prefs
                    .pools
                    .iter()
                    .position(|y| is_within(&p.path, y))
                    .unwrap_or(usize::MAX);
                (pr, pl, p.path.as_str())
            })
            .collect();
        ranked.sort();
        out.push(StrategyOut {
            workload_type: w.name().to_owned(),
            providers: prefs
                .providers
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            pools: prefs.pools.clone(),
            strategy: strategy_name(prefs.strategy).to_owned(),
            strategy_meaning: match prefs.strategy {
                PlacementStrategy::Spread => {
                    "the node with the most free memory after placement (keeps load even)"
                }
                PlacementStrategy::Pack => {
                    "the fullest node that still fits (keeps whole nodes free)"
                }
            }
            .to_owned(),
            ranked_pools: ranked.into_iter().map(|(_, _, p)| p.to_owned()).collect(),
            resource_count: c
                .resources
                .values()
                .filter(|r| r.object.spec.workload_type == w.name())
                .count(),
            resources: c
                .resources
                .values()
                .filter(|r| r.object.spec.workload_type == w.name())
                .take(20)
                .map(|r| match view.outcome.decisions.get(r.name()) {
                    Some(d) => format!(
                        "{} → {} {}",
                        r.name(),
                        d.pool,
                        d.nodes
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    None => format!("{} (not placed)", r.name()),
                })
                .collect(),
        });
    }
    Ok(StrategyAnswer {
        revision: view.head.clone(),
        rules,
        workload_types: out,
    })
}
