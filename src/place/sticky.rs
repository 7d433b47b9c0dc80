//! Sticky placement: a resource keeps the pool, nodes and GPUs of its last placement as
//! long as it still fits there and its definition does not ask for somewhere else; new
//! and moved resources are placed around the kept ones. Pure: the earlier placements are
//! an input ([`Priors`]), which the daemon reads from its store and the one-shot commands
//! from rendered manifests.
//!
//! Booking order, so that the result depends only on the inputs: resources kept where
//! they were (pinned ones first, then those whose requirements did not grow, then the
//! rest, each by name), then everything else in the order of a fresh placement (pinned
//! first, then by name). A resource whose requirements grew is checked after its
//! unchanged neighbours, so its growth never pushes them off their node.

use super::live::LiveLoad;
use super::{
    Decision, Fit, GpuAssignment, Ledger, ResolvedPool, Room, Unplaced, assign, book, book_room,
    by_strategy, ledger, place_in, place_one, resolve_pools,
};
use crate::diag::Diagnostic;
use crate::model::{ChartMeta, Node, PlacementStrategy, Provider, Sized, UniversalResourceSpec};
use crate::validate::{Catalog, Entry, is_within};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a resource was placed last time: what sticky placement keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prior {
    pub provider: Provider,
    pub pool: String,
    /// The node of each replica, in replica order (empty in an elastic pool).
    #[serde(default)]
    pub nodes: Vec<String>,
    /// The GPUs its replicas hold.
    #[serde(default)]
    pub gpus: Vec<GpuAssignment>,
    /// The size it was booked with: its room stays taken while its definition is invalid.
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    #[serde(default)]
    pub gpu: bool,
    pub replicas: u32,
}

/// Earlier placements by resource name.
pub type Priors = BTreeMap<String, Prior>;

/// The priors recorded in stored placement documents, `(name, placement JSON)` pairs
/// (records without a readable placement give none).
pub fn priors_from_store<'a>(
    records: impl IntoIterator<Item = (&'a str, Option<&'a serde_json::Value>)>,
) -> Priors {
    records
        .into_iter()
        .filter_map(|(name, p)| Some((name.to_owned(), Prior::from_decision_json(p?)?)))
        .collect()
}

/// How [`place_all_with`] uses the earlier placements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Keep every resource where it was while it fits there (what the daemon does).
    Sticky,
    /// Place everything afresh and report where that moves resources (`--rebalance`).
    Rebalance,
}

/// A resource placed somewhere else than last time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// Where it was: nodes, or `pool (nodes)` when the pool changes too.
    pub from: String,
    /// Where it goes, in the same form.
    pub to: String,
    /// Why it cannot stay.
    pub because: String,
    /// Moving recreates it (a Proxmox or vSphere VM is rebuilt on the new host, and the
    /// data on its disks does not come along).
    pub destructive: bool,
}

impl Move {
    /// "moves from pve-01 to pve-02 because …", with the destructive warning.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "moves from {} to {} because {}",
            self.from, self.to, self.because
        );
        if self.destructive {
            out.push_str(
                " (destructive: the VM is recreated on the new host; its disks do not move along)",
            );
        }
        out
    }
}

/// Subset of a stored [`Decision`] (JSON) that a [`Prior`] is made from.
#[derive(Deserialize)]
struct StoredDecision {
    provider: Provider,
    pool: String,
    #[serde(default)]
    nodes: Vec<StoredNode>,
    #[serde(default)]
    gpus: Vec<GpuAssignment>,
    size: StoredSize,
}

#[derive(Deserialize)]
struct StoredNode {
    name: String,
}

#[derive(Deserialize)]
struct StoredSize {
    cpu: u32,
    memory_gb: f64,
    storage_gb: u32,
    #[serde(default)]
    gpu: bool,
    replicas: u32,
}

impl Prior {
    /// The placement `d` made.
    pub fn of(d: &Decision) -> Prior {
        Prior {
            provider: d.provider,
            pool: d.pool.clone(),
            nodes: d.nodes.iter().map(|n| n.name.clone()).collect(),
            gpus: d.gpus.clone(),
            cpu: d.size.cpu,
            memory_gb: d.size.memory_gb,
            storage_gb: d.size.storage_gb,
            gpu: d.size.gpu,
            replicas: d.size.replicas,
        }
    }

    /// From a decision as the store keeps it (`deployment_instances.placement`); `None`
    /// for anything else.
    pub fn from_decision_json(value: &serde_json::Value) -> Option<Prior> {
        let d = StoredDecision::deserialize(value).ok()?;
        Some(Prior {
            provider: d.provider,
            pool: d.pool,
            nodes: d.nodes.into_iter().map(|n| n.name).collect(),
            gpus: d.gpus,
            cpu: d.size.cpu,
            memory_gb: d.size.memory_gb,
            storage_gb: d.size.storage_gb,
            gpu: d.size.gpu,
            replicas: d.size.replicas,
        })
    }

    /// Is `d` the same place (pool, nodes and GPUs)?
    fn same_place(&self, d: &Decision) -> bool {
        let pci = |g: &[GpuAssignment]| -> Vec<(String, String)> {
            g.iter()
                .map(|g| (g.node.clone(), g.pci_address.to_ascii_lowercase()))
                .collect()
        };
        self.pool == d.pool
            && self.nodes.iter().eq(d.nodes.iter().map(|n| &n.name))
            && pci(&self.gpus) == pci(&d.gpus)
    }

    /// "pve-01", "pve-01, pve-02", or the pool for an elastic one.
    fn nodes_text(&self) -> String {
        if self.nodes.is_empty() {
            self.pool.clone()
        } else {
            self.nodes.join(", ")
        }
    }
}

/// Places every resource of the catalog, keeping earlier placements as `mode` says.
/// Resources that cannot be placed get an error diagnostic and no decision; a resource
/// placed elsewhere than in `priors` carries the [`Move`] and says so first in its
/// reasons.
pub fn place_all_with(
    catalog: &Catalog,
    charts: &BTreeMap<String, ChartMeta>,
    priors: &Priors,
    mode: Mode,
) -> (BTreeMap<String, Decision>, Vec<Diagnostic>) {
    place_all_live(catalog, charts, priors, &LiveLoad::new(), mode)
}

/// [`place_all_with`] around the live load outside git (`live`, by node name): booked
/// after the kept placements and before new and moved resources, which are placed
/// around it with reasons naming it.
pub fn place_all_live(
    catalog: &Catalog,
    charts: &BTreeMap<String, ChartMeta>,
    priors: &Priors,
    live: &LiveLoad,
    mode: Mode,
) -> (BTreeMap<String, Decision>, Vec<Diagnostic>) {
    let pools = resolve_pools(catalog);
    let mut ledger = Ledger::default();
    let mut decisions = BTreeMap::new();
    let mut diags = Vec::new();
    let mut failed = BTreeSet::new();
    let mut why_not_kept: BTreeMap<&str, String> = BTreeMap::new();
    let mut order: Vec<&Entry<UniversalResourceSpec>> = catalog.resources.values().collect();
    order.sort_by_key(|e| (e.object.spec.placement.node.is_none(), e.name().to_owned()));

    if mode == Mode::Sticky {
        // An invalid definition keeps its last good state: the resource still runs where
        // it was, so its room is not handed to anyone else.
        for name in catalog.invalid_resources.keys() {
            if let Some(prior) = priors.get(name) {
                book_prior(&mut ledger, &pools, prior);
            }
        }
        let mut keep: Vec<(&Entry<UniversalResourceSpec>, &Prior, bool)> = order
            .iter()
            .filter_map(|e| {
                let prior = priors.get(e.name())?;
                Some((*e, prior, grew(e, prior, catalog)))
            })
            .collect();
        keep.sort_by_key(|(e, _, grew)| (e.object.spec.placement.node.is_none(), *grew, e.name()));
        for (entry, prior, _) in keep {
            match place_in(entry, catalog, charts, &pools, &ledger, Some(prior)) {
                Ok(mut d) => {
                    if !prior.same_place(&d) {
                        // Some replicas kept their nodes; the others were replaced.
                        let because = replaced_because(prior, &d, &pools);
                        attach_move(&mut d, prior, because);
                    }
                    book(&mut ledger, &pools, &d);
                    decisions.insert(d.resource.clone(), d);
                }
                Err(Unplaced::NotKept(why)) => {
                    why_not_kept.insert(entry.name(), why);
                }
                Err(Unplaced::Diagnostic(d)) => {
                    failed.insert(entry.name());
                    diags.push(*d);
                }
            }
        }
    }

    super::live::book_live(&mut ledger, &pools, live);

    for entry in order {
        let name = entry.name();
        if decisions.contains_key(name) || failed.contains(name) {
            continue;
        }
        match place_one(entry, catalog, charts, &pools, &ledger) {
            Ok(mut d) => {
                if let Some(prior) = priors.get(name)
                    && !prior.same_place(&d)
                {
                    let because = match mode {
                        Mode::Sticky => why_not_kept
                            .remove(name)
                            .unwrap_or_else(|| "it no longer fits where it was".to_owned()),
                        Mode::Rebalance => {
                            "a fresh placement of every resource puts it there (rebalance)"
                                .to_owned()
                        }
                    };
                    attach_move(&mut d, prior, because);
                }
                book(&mut ledger, &pools, &d);
                decisions.insert(d.resource.clone(), d);
            }
            Err(mut d) => {
                if let Some(why) = why_not_kept.get(name) {
                    d.message = format!("{}; it cannot stay where it was: {why}", d.message);
                }
                diags.push(*d);
            }
        }
    }
    (decisions, diags)
}

/// Is the earlier placement impossible for a reason of pool or definition (not of room)?
pub(super) fn pool_gone(
    prior: &Prior,
    pools: &BTreeMap<String, ResolvedPool>,
    spec: &UniversalResourceSpec,
) -> Option<String> {
    let Some(pool) = pools.get(&prior.pool) else {
        return Some(format!("pool {} no longer exists", prior.pool));
    };
    if !pool.is_target() {
        return Some(format!("pool {} no longer has nodes", prior.pool));
    }
    if let Some(root) = &spec.placement.pool
        && !is_within(&prior.pool, root)
    {
        return Some(format!("spec.placement.pool now asks for {root}"));
    }
    if let Some(provider) = spec.placement.provider
        && provider != prior.provider
    {
        return Some(format!("spec.placement.provider now asks for {provider}"));
    }
    if let Some(node) = &spec.placement.node
        && prior.nodes.iter().any(|n| n != node)
    {
        return Some(format!("spec.placement.node now pins it to {node}"));
    }
    None
}

/// Fits every replica on the node it had, with the GPU it had; the error is the reason
/// shown with the move (text for people, like [`super::Verdict::Rejected`]). When only
/// some replicas of a resource cannot stay (their node left the pool or lost room), those
/// alone get other nodes (distinct, none of its others, chosen by `strategy`) and the
/// rest stay: losing one host never moves the replicas that still run elsewhere.
// String error: a placement reason ("why not") shown to people in the decision, not a failure to handle.
pub(super) fn fit_kept(
    pool: &ResolvedPool,
    size: &Sized,
    ledger: &Ledger,
    prior: &Prior,
    strategy: PlacementStrategy,
) -> Result<Fit, String> {
    let replicas = size.replicas as usize;
    if prior.nodes.len() != replicas {
        return Err(format!(
            "it now has {replicas} replica(s), it had {}",
            prior.nodes.len()
        ));
    }
    let slots: Vec<Result<(&Node, ledger::Room), String>> = prior
        .nodes
        .iter()
        .map(|name| keep_replica(pool, size, ledger, prior, name))
        .collect();
    let lost: Vec<&String> = slots.iter().filter_map(|s| s.as_ref().err()).collect();
    if lost.len() == replicas {
        return Err(lost
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("; "));
    }
    let mut spare = if lost.is_empty() {
        Vec::new()
    } else {
        spare_nodes(pool, size, ledger, prior, strategy)
    }
    .into_iter();
    if spare.len() < lost.len() {
        return Err(format!(
            "{}; no other node of pool {} has room for {} replica(s)",
            lost.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            pool.path,
            lost.len()
        ));
    }
    let mut fit = Fit {
        nodes: Vec::new(),
        gpus: Vec::new(),
        notes: Vec::new(),
    };
    for (slot, was) in slots.into_iter().zip(&prior.nodes) {
        match slot {
            Ok((node, room)) => assign(&mut fit, node, room, "kept: placed there before"),
            Err(why) => {
                let Some((node, room)) = spare.next() else {
                    return Err(why);
                };
                let label = format!("replaces the replica on {was}: {why}");
                assign(&mut fit, node, room, &label);
            }
        }
    }
    Ok(fit)
}

/// One replica on the node it had (and the GPU it held there), or why it cannot stay.
// String error: a placement reason ("why not") shown to people in the decision, not a failure to handle.
fn keep_replica<'p>(
    pool: &'p ResolvedPool,
    size: &Sized,
    ledger: &Ledger,
    prior: &Prior,
    name: &str,
) -> Result<(&'p Node, ledger::Room), String> {
    let Some(node) = pool.nodes.iter().find(|n| n.name == name) else {
        return Err(format!("node {name} is no longer in pool {}", pool.path));
    };
    let mut room = ledger
        .fit_node(
            pool,
            node,
            size.cpu,
            size.memory_gb,
            size.storage_gb,
            size.gpu,
        )
        .map_err(|why| format!("node {name} no longer has room for it ({why})"))?;
    if size.gpu
        && let Some(held) = prior.gpus.iter().find(|g| g.node == name)
    {
        let pci = held.pci_address.to_ascii_lowercase();
        let taken = ledger
            .node_usage(&pool.path, name)
            .is_some_and(|u| u.gpus.contains(&pci));
        match node
            .gpus
            .iter()
            .find(|g| g.pci_address.eq_ignore_ascii_case(&pci))
        {
            Some(gpu) if !taken => room.gpu = Some(gpu.clone()),
            Some(_) => return Err(format!("GPU {pci} on node {name} is taken")),
            None => return Err(format!("GPU {pci} is no longer on node {name}")),
        }
    }
    Ok((node, room))
}

/// Nodes of `pool` that none of the resource's replicas used and that have room for one
/// more, best first by `strategy`.
fn spare_nodes<'p>(
    pool: &'p ResolvedPool,
    size: &Sized,
    ledger: &Ledger,
    prior: &Prior,
    strategy: PlacementStrategy,
) -> Vec<(&'p Node, ledger::Room)> {
    let mut spare: Vec<(&Node, ledger::Room)> = pool
        .nodes
        .iter()
        .filter(|n| !prior.nodes.contains(&n.name))
        .filter_map(|node| {
            let room = ledger
                .fit_node(
                    pool,
                    node,
                    size.cpu,
                    size.memory_gb,
                    size.storage_gb,
                    size.gpu,
                )
                .ok()?;
            Some((node, room))
        })
        .collect();
    spare.sort_by(|a, b| by_strategy(strategy, a, b));
    spare
}

/// Does the resource now ask for more than it was booked with?
fn grew(entry: &Entry<UniversalResourceSpec>, prior: &Prior, catalog: &Catalog) -> bool {
    let spec = &entry.object.spec;
    let Some(workload) = catalog.workload_types.get(&spec.workload_type) else {
        return true;
    };
    let (_, size) = super::sized(spec, catalog, workload);
    size.cpu > prior.cpu
        || size.memory_gb > prior.memory_gb + 1e-9
        || size.storage_gb > prior.storage_gb
        || (size.gpu && !prior.gpu)
        || size.replicas != prior.replicas
}

/// Books an earlier placement as it was.
fn book_prior(ledger: &mut Ledger, pools: &BTreeMap<String, ResolvedPool>, p: &Prior) {
    let room = Room {
        cpu: p.cpu,
        memory_gb: p.memory_gb,
        storage_gb: p.storage_gb,
        gpu: p.gpu,
        replicas: p.replicas,
    };
    let nodes = p.nodes.iter().map(String::as_str);
    book_room(ledger, pools, &p.pool, nodes, &p.gpus, room);
}

/// Marks `d` as moved from `prior`, the move first among its reasons.
fn attach_move(d: &mut Decision, prior: &Prior, because: String) {
    let moved = make_move(prior, d, because);
    d.reasons.insert(0, moved.describe());
    d.moved = Some(moved);
}

/// Why the replicas of `prior` that `d` puts elsewhere could not stay.
fn replaced_because(prior: &Prior, d: &Decision, pools: &BTreeMap<String, ResolvedPool>) -> String {
    let pool = pools.get(&prior.pool);
    let reasons: Vec<String> = prior
        .nodes
        .iter()
        .zip(&d.nodes)
        .filter(|(was, now)| **was != now.name)
        .map(|(was, _)| match pool {
            Some(p) if !p.nodes.iter().any(|n| n.name == *was) => {
                format!("node {was} is no longer in pool {}", p.path)
            }
            _ => format!("node {was} no longer has room for it"),
        })
        .collect();
    if reasons.is_empty() {
        "its GPUs changed".to_owned()
    } else {
        reasons.join("; ")
    }
}

/// The move from `prior` to `d`.
fn make_move(prior: &Prior, d: &Decision, because: String) -> Move {
    let to_nodes = if d.nodes.is_empty() {
        d.pool.clone()
    } else {
        d.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (from, to) = if prior.pool == d.pool {
        (prior.nodes_text(), to_nodes)
    } else {
        let place = |pool: &str, nodes: String| {
            if nodes == pool {
                pool.to_owned()
            } else {
                format!("{pool} ({nodes})")
            }
        };
        (
            place(&prior.pool, prior.nodes_text()),
            place(&d.pool, to_nodes),
        )
    };
    let recreates = |p: Provider| matches!(p, Provider::Proxmox | Provider::Vmware);
    Move {
        from,
        to,
        because,
        destructive: recreates(prior.provider) || recreates(d.provider),
    }
}
