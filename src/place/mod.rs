//! Place: choose provider, pool, chart, nodes and GPUs for every valid resource, and say
//! why. Pure and deterministic: resources are booked in a fixed order (those pinned to a
//! node first, then by name) into a [`Ledger`], so the same catalog always places the same.
//!
//! Ranking of candidate pools: provider preference of the workload type, then its pool
//! preference, then pool path. Within a pool, nodes are chosen by the workload type's
//! strategy (`spread`: most free memory after placement; `pack`: least) and replicas of a
//! high-availability resource always land on distinct nodes (anti-affinity).

mod choose;
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
    ChartMeta, DeploymentTemplateSpec, PlacementStrategy, Provider, Sized, UniversalResourceSpec,
    WorkloadTypeSpec, resolve_size,
};
use crate::validate::{Catalog, Entry};
use choose::{Unplaced, place_in};
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

/// The resource's template (if it names a known one) and its size: from the definition,
/// else the template, else the workload type's tier.
fn sized<'a>(
    spec: &UniversalResourceSpec,
    catalog: &'a Catalog,
    workload: &Entry<WorkloadTypeSpec>,
) -> (Option<&'a Entry<DeploymentTemplateSpec>>, Sized) {
    let template = spec
        .template
        .as_ref()
        .and_then(|t| catalog.templates.get(t));
    let size = resolve_size(
        spec,
        template.map(|t| (t.name(), &t.object.spec)),
        (workload.name(), &workload.object.spec),
    );
    (template, size)
}

/// Tries to fit every replica into `pool`.
// String error: a placement reason ("why not") shown to people in the decision, not a failure to handle.
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
