//! Place: choose provider, pool, chart, nodes and GPUs for every valid resource, and say
//! why. Pure and deterministic: resources are booked in a fixed order (those pinned to a
//! node first, then by name) into a [`Ledger`], so the same catalog always places the same.
//!
//! Ranking of candidate pools: provider preference of the workload type, then its pool
//! preference, then pool path. Within a pool, nodes are chosen by the workload type's
//! strategy (`spread`: most free memory after placement; `pack`: least) and replicas of a
//! high-availability resource always land on distinct nodes (anti-affinity).

mod ledger;
mod live;
pub mod pools;
mod sticky;

pub use ledger::Ledger;
pub use live::{LiveLoad, NodeLoad, book_live};
pub use pools::{ResolvedPool, resolve as resolve_pools};
pub use sticky::{Mode, Move, Prior, Priors, place_all_live, place_all_with, priors_from_store};

use crate::diag::Diagnostic;
use crate::model::{
    ChartMeta, PlacementStrategy, Provider, Sized, UniversalResourceSpec, default_chart,
    resolve_size,
};
use crate::validate::{Catalog, Entry, is_within, needed_capabilities};
use serde::Serialize;
use std::collections::BTreeMap;

/// A node given to one replica.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeAssignment {
    pub name: String,
    pub address: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A GPU given to one replica.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct GpuAssignment {
    pub node: String,
    pub model: String,
    pub pci_address: String,
}

/// Another pool that was considered, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alternative {
    pub provider: Option<Provider>,
    pub pool: String,
    pub verdict: Verdict,
}

/// What became of a pool that was considered and not chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It cannot take the resource, and why ("provider docker, proxmox required").
    Rejected(String),
    /// It could take the resource, but another pool ranks higher.
    RankedLower,
}

impl Verdict {
    /// Why it was not chosen, without the verdict's name.
    pub fn why(&self) -> &str {
        match self {
            Verdict::Rejected(why) => why,
            Verdict::RankedLower => "fits, ranked lower",
        }
    }
}

/// "rejected: <why>" or "fits, ranked lower" (also the stored and MCP form).
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Rejected(why) => write!(f, "rejected: {why}"),
            Verdict::RankedLower => f.write_str(self.why()),
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a resource goes, with the reasons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub resource: String,
    pub provider: Provider,
    pub pool: String,
    pub chart: String,
    pub nodes: Vec<NodeAssignment>,
    pub gpus: Vec<GpuAssignment>,
    pub size: Sized,
    pub reasons: Vec<String>,
    pub alternatives: Vec<Alternative>,
    /// Placed somewhere else than last time: from where, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<Move>,
}

/// The outcome of trying one candidate pool.
struct Fit {
    nodes: Vec<NodeAssignment>,
    gpus: Vec<GpuAssignment>,
    notes: Vec<String>,
}

/// Places every resource of the catalog from scratch (no earlier placement to keep).
/// Resources that cannot be placed get an error diagnostic and no decision.
pub fn place_all(
    catalog: &Catalog,
    charts: &BTreeMap<String, ChartMeta>,
) -> (BTreeMap<String, Decision>, Vec<Diagnostic>) {
    place_all_with(catalog, charts, &Priors::new(), Mode::Sticky)
}

/// Places one resource against the current ledger without booking it (pure): the answer
/// to "where would this go?" for `plan` and for the MCP placement tools.
pub fn place_one(
    entry: &Entry<UniversalResourceSpec>,
    catalog: &Catalog,
    charts: &BTreeMap<String, ChartMeta>,
    pools: &BTreeMap<String, ResolvedPool>,
    ledger: &Ledger,
) -> Result<Decision, Box<Diagnostic>> {
    place_in(entry, catalog, charts, pools, ledger, None).map_err(|u| match u {
        Unplaced::Diagnostic(d) => d,
        Unplaced::NotKept(why) => {
            Box::new(entry.doc.diagnostic("no-placement", "/spec/placement", why))
        }
    })
}

/// Why [`place_in`] placed nothing.
enum Unplaced {
    /// No pool can take the resource.
    Diagnostic(Box<Diagnostic>),
    /// The earlier placement to keep is no longer possible, and why.
    NotKept(String),
}

/// Places one resource; with `keep`, only where `keep` says (its pool, nodes and GPUs),
/// or not at all.
fn place_in(
    entry: &Entry<UniversalResourceSpec>,
    catalog: &Catalog,
    charts: &BTreeMap<String, ChartMeta>,
    pools: &BTreeMap<String, ResolvedPool>,
    ledger: &Ledger,
    keep: Option<&Prior>,
) -> Result<Decision, Unplaced> {
    let spec = &entry.object.spec;
    let name = entry.name();
    let workload = catalog
        .workload_types
        .get(&spec.workload_type)
        .ok_or_else(|| {
            Unplaced::Diagnostic(Box::new(entry.doc.diagnostic(
                "unknown-workload-type",
                "/spec/workload_type",
                "unknown workload type",
            )))
        })?;
    let template = spec
        .template
        .as_ref()
        .and_then(|t| catalog.templates.get(t));
    let size = resolve_size(
        spec,
        template.map(|t| (t.name(), &t.object.spec)),
        (workload.name(), &workload.object.spec),
    );
    let prefs = &workload.object.spec.preferences;
    let needed = needed_capabilities(spec, size.gpu);
    let template_provider = template.and_then(|t| t.object.spec.infrastructure.provider);
    let template_chart = template.and_then(|t| t.object.spec.infrastructure.chart.clone());
    let named_chart = spec.chart.name.clone().or(template_chart.clone());
    let wanted_provider = spec.placement.provider.or(template_provider).or(named_chart
        .as_ref()
        .and_then(|c| charts.get(c))
        .map(|c| c.provider));

    let mut reasons = vec![describe_size(&size)];
    reasons.extend(size.sources.iter().cloned());
    let mut alternatives = Vec::new();
    let mut best: Option<(usize, usize, &ResolvedPool, String, Fit)> = None;

    if let Some(why) = keep.and_then(|prior| sticky::pool_gone(prior, pools, spec)) {
        return Err(Unplaced::NotKept(why));
    }
    for pool in pools.values().filter(|p| p.is_target()) {
        if keep.is_some_and(|k| k.pool != pool.path) {
            continue;
        }
        if let Some(root) = &spec.placement.pool
            && !is_within(&pool.path, root)
        {
            continue;
        }
        let reject = |why: String| Alternative {
            provider: pool.provider,
            pool: pool.path.clone(),
            verdict: Verdict::Rejected(why),
        };
        let Some(provider) = pool.provider else {
            alternatives.push(reject("the pool has no provider".into()));
            continue;
        };
        if let Some(w) = wanted_provider.filter(|w| *w != provider) {
            alternatives.push(reject(format!("provider {provider}, {w} required")));
            continue;
        }
        let chart_name = named_chart
            .clone()
            .unwrap_or_else(|| default_chart(provider).to_owned());
        let chart = match charts.get(&chart_name) {
            Some(c) if c.provider == provider => c,
            Some(_) | None => {
                alternatives.push(reject(format!("no chart {chart_name} for {provider}")));
                continue;
            }
        };
        if !chart.supports(spec.resource_type, &spec.workload_type) {
            alternatives.push(reject(format!(
                "chart {chart_name} does not render {} / {}",
                spec.resource_type.as_str(),
                spec.workload_type
            )));
            continue;
        }
        let missing = chart.missing(&needed);
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
            alternatives.push(reject(format!(
                "chart {chart_name} lacks {}",
                names.join(", ")
            )));
            continue;
        }
        let fit = match fit_pool(pool, spec, &size, prefs.strategy, ledger, keep) {
            Ok(fit) => fit,
            Err(why) => {
                alternatives.push(reject(why));
                continue;
            }
        };
        let provider_rank = prefs
            .providers
            .iter()
            .position(|p| *p == provider)
            .unwrap_or(usize::MAX);
        let pool_rank = prefs
            .pools
            .iter()
            .position(|p| is_within(&pool.path, p))
            .unwrap_or(usize::MAX);
        let better = match &best {
            None => true,
            Some((pr, pl, _, _, _)) => (provider_rank, pool_rank) < (*pr, *pl),
        };
        if better {
            if let Some((_, _, old, _, _)) = best.take() {
                alternatives.push(Alternative {
                    provider: old.provider,
                    pool: old.path.clone(),
                    verdict: Verdict::RankedLower,
                });
            }
            best = Some((provider_rank, pool_rank, pool, chart_name, fit));
        } else {
            alternatives.push(Alternative {
                provider: pool.provider,
                pool: pool.path.clone(),
                verdict: Verdict::RankedLower,
            });
        }
    }

    let Some((provider_rank, pool_rank, pool, chart_name, fit)) = best else {
        if keep.is_some() {
            let why = alternatives
                .first()
                .map(|a| a.verdict.why().to_owned())
                .unwrap_or_else(|| "its pool can no longer take it".to_owned());
            return Err(Unplaced::NotKept(why));
        }
        let mut d = entry
            .doc
            .diagnostic(
                "no-placement",
                "/spec/placement",
                format!("no pool can take {name}"),
            )
            .expected(format!("a pool with room for {}", describe_size(&size)));
        let tried: Vec<String> = alternatives
            .iter()
            .take(6)
            .map(|a| format!("{}: {}", a.pool, a.verdict.why()))
            .collect();
        d = d.found(if tried.is_empty() {
            "no candidate pool".to_owned()
        } else {
            tried.join(" | ")
        });
        return Err(Unplaced::Diagnostic(Box::new(d)));
    };
    let provider = pool.provider.unwrap_or(Provider::Proxmox);
    reasons.push(if spec.placement.provider.is_some() {
        format!("provider {provider}: set in spec.placement.provider")
    } else if template_provider.is_some() {
        format!(
            "provider {provider}: from template {}",
            spec.template.as_deref().unwrap_or("")
        )
    } else if provider_rank != usize::MAX {
        format!(
            "provider {provider}: preference {} of workload type {}",
            provider_rank + 1,
            workload.name()
        )
    } else {
        format!("provider {provider}: the best-ranked pool with room uses it")
    });
    reasons.push(match &spec.placement.pool {
        _ if keep.is_some() => format!(
            "pool {}: kept from the last placement (it still fits there)",
            pool.path
        ),
        Some(p) if *p == pool.path => format!("pool {}: set in spec.placement.pool", pool.path),
        Some(p) => format!(
            "pool {}: inside {p} (spec.placement.pool) with room",
            pool.path
        ),
        None if pool_rank != usize::MAX => format!(
            "pool {}: preferred by workload type {}",
            pool.path,
            workload.name()
        ),
        None => format!("pool {}: first pool in path order with room", pool.path),
    });
    reasons.push(if spec.chart.name.is_some() {
        format!("chart {chart_name}: named in spec.chart.name")
    } else if template_chart.is_some() {
        format!(
            "chart {chart_name}: from template {}",
            spec.template.as_deref().unwrap_or("")
        )
    } else {
        format!("chart {chart_name}: default for {provider}")
    });
    reasons.extend(fit.notes);
    Ok(Decision {
        resource: name.to_owned(),
        provider,
        pool: pool.path.clone(),
        chart: chart_name,
        nodes: fit.nodes,
        gpus: fit.gpus,
        size,
        reasons,
        alternatives,
        moved: None,
    })
}

/// Tries to fit every replica into `pool`.
fn fit_pool(
    pool: &ResolvedPool,
    spec: &UniversalResourceSpec,
    size: &Sized,
    strategy: PlacementStrategy,
    ledger: &Ledger,
    keep: Option<&Prior>,
) -> Result<Fit, String> {
    if let Some(prior) = keep
        && !pool.nodes.is_empty()
    {
        return sticky::fit_kept(pool, size, ledger, prior, strategy);
    }
    if pool.nodes.is_empty() {
        let total = |x: u32| x * size.replicas;
        ledger.fit_elastic(
            pool,
            total(size.cpu),
            size.memory_gb * f64::from(size.replicas),
            total(size.storage_gb),
            if size.gpu { size.replicas } else { 0 },
        )?;
        return Ok(Fit {
            nodes: Vec::new(),
            gpus: Vec::new(),
            notes: vec![format!(
                "elastic pool: {} replica(s) need no node choice",
                size.replicas
            )],
        });
    }
    let mut candidates = Vec::new();
    let mut refused = Vec::new();
    for node in &pool.nodes {
        if let Some(pinned) = &spec.placement.node
            && *pinned != node.name
        {
            continue;
        }
        match ledger.fit_node(
            pool,
            node,
            size.cpu,
            size.memory_gb,
            size.storage_gb,
            size.gpu,
        ) {
            Ok(room) => candidates.push((node, room)),
            Err(why) => refused.push(match ledger.outside_note(&pool.path, &node.name) {
                Some(outside) => format!("{}: {why} ({outside})", node.name),
                None => format!("{}: {why}", node.name),
            }),
        }
    }
    let replicas = size.replicas as usize;
    if candidates.len() < replicas {
        let what = if replicas > 1 {
            format!(
                "{replicas} distinct nodes with room (anti-affinity), {} found",
                candidates.len()
            )
        } else {
            "a node with room".to_owned()
        };
        return Err(if refused.is_empty() {
            what
        } else {
            format!("needs {what}; {}", refused.join(", "))
        });
    }
    candidates.sort_by(|a, b| by_strategy(strategy, a, b));
    let mut fit = Fit {
        nodes: Vec::new(),
        gpus: Vec::new(),
        notes: Vec::new(),
    };
    let label = match strategy {
        PlacementStrategy::Spread => "spread: most room left",
        PlacementStrategy::Pack => "pack: fullest node that fits",
    };
    for (node, room) in candidates.into_iter().take(replicas) {
        assign(&mut fit, node, room, label);
        if let Some(outside) = ledger.outside_note(&pool.path, &node.name) {
            fit.notes.push(format!("node {}: {outside}", node.name));
        }
    }
    if !refused.is_empty() {
        fit.notes
            .push(format!("nodes without room: {}", refused.join(", ")));
    }
    Ok(fit)
}

/// Orders candidate nodes best first: `spread` by the most memory left, `pack` by the
/// least, then by name.
fn by_strategy(
    strategy: PlacementStrategy,
    (a, ra): &(&crate::model::Node, ledger::Room),
    (b, rb): &(&crate::model::Node, ledger::Room),
) -> std::cmp::Ordering {
    let fa = ra.memory_free / ra.memory_total.max(1e-9);
    let fb = rb.memory_free / rb.memory_total.max(1e-9);
    let by_room = match strategy {
        PlacementStrategy::Spread => fb.total_cmp(&fa),
        PlacementStrategy::Pack => fa.total_cmp(&fb),
    };
    by_room.then_with(|| a.name.cmp(&b.name))
}

/// Gives `node` (and the GPU in `room`) to the next replica, with the note that says so.
fn assign(fit: &mut Fit, node: &crate::model::Node, room: ledger::Room, label: &str) {
    let mut note = format!(
        "node {}: {}/{} CPU and {:.1}/{:.1} GB memory free after placement ({label})",
        node.name, room.cpu_free, room.cpu_total, room.memory_free, room.memory_total
    );
    if let Some(gpu) = &room.gpu {
        note.push_str(&format!("; GPU {} at {}", gpu.model, gpu.pci_address));
        fit.gpus.push(GpuAssignment {
            node: node.name.clone(),
            model: gpu.model.clone(),
            pci_address: gpu.pci_address.clone(),
        });
    }
    fit.notes.push(note);
    fit.nodes.push(NodeAssignment {
        name: node.name.clone(),
        address: node.address.clone(),
        labels: node.labels.clone(),
    });
}

/// Books decision `d` into `ledger`: its nodes (and GPUs), or the pool's elastic
/// capacity for pools without nodes.
pub fn book(ledger: &mut Ledger, pools: &BTreeMap<String, ResolvedPool>, d: &Decision) {
    let s = &d.size;
    let room = Room {
        cpu: s.cpu,
        memory_gb: s.memory_gb,
        storage_gb: s.storage_gb,
        gpu: s.gpu,
        replicas: s.replicas,
    };
    let nodes = d.nodes.iter().map(|n| n.name.as_str());
    book_room(ledger, pools, &d.pool, nodes, &d.gpus, room);
}

/// What one replica of a placement takes, and how many replicas there are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Room {
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    pub gpu: bool,
    pub replicas: u32,
}

/// Books a placement in `pool`: each replica on its node (with the GPU assigned there),
/// or, without nodes, all replicas in the pool's elastic capacity.
pub(crate) fn book_room<'a>(
    ledger: &mut Ledger,
    pools: &BTreeMap<String, ResolvedPool>,
    pool: &str,
    nodes: impl Iterator<Item = &'a str>,
    gpus: &[GpuAssignment],
    room: Room,
) {
    let mut nodes = nodes.peekable();
    if nodes.peek().is_none() {
        if pools.contains_key(pool) {
            ledger.book_elastic(
                pool,
                room.cpu * room.replicas,
                room.memory_gb * f64::from(room.replicas),
                room.storage_gb * room.replicas,
                if room.gpu { room.replicas } else { 0 },
            );
        }
        return;
    }
    for node in nodes {
        let gpu = gpus
            .iter()
            .find(|g| g.node == node)
            .map(|g| g.pci_address.as_str());
        ledger.book_node(pool, node, room.cpu, room.memory_gb, room.storage_gb, gpu);
    }
}

/// "4 CPU, 8 GB memory, 100 GB disk, GPU, 2 replicas"
pub fn describe_size(s: &Sized) -> String {
    let mut out = format!(
        "{} CPU, {} GB memory, {} GB disk",
        s.cpu, s.memory_gb, s.storage_gb
    );
    if s.gpu {
        out.push_str(", GPU");
    }
    out.push_str(&format!(
        ", {} replica{}",
        s.replicas,
        if s.replicas == 1 { "" } else { "s" }
    ));
    out
}
