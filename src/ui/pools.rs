//! The pools page's view model (pure): the pool tree ordered by path, each node with its
//! capacity as placement counts it (vCPUs are the node's threads times the pool's
//! `cpu_overcommit`, inherited from parent pools), what the stored placements book on
//! it, its GPUs and who holds them, and the live load the last inventory scan reported
//! (unmanaged guests and containers, measured memory).

use crate::model::Provider;
use crate::place::{LiveLoad, NodeLoad};
use crate::store::CatalogRecord;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What the last inventory scan said about a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveRow {
    /// Running guests and containers no definition accounts for, and what they take.
    pub unmanaged: usize,
    pub unmanaged_cpu: u32,
    pub unmanaged_memory: f64,
    /// Memory the node reports in use, when it does.
    pub measured_memory: Option<f64>,
    /// When the scan was taken.
    pub seen_at: String,
}

/// A node of a pool with its capacity and what is booked on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub address: String,
    /// vCPUs booked: placed resources plus running unmanaged guests.
    pub cpu_booked: f64,
    /// vCPUs placement may book: threads times the pool's overcommit.
    pub cpu_total: f64,
    /// The node's threads as declared.
    pub cpu_physical: f64,
    /// Memory (GB) booked: placed resources plus running unmanaged guests.
    pub memory_booked: f64,
    pub memory_total: f64,
    /// Share of the tighter of CPU and memory in percent (for the bar); memory counts
    /// what the node reports in use where that is more than what is booked.
    pub percent: u32,
    /// Resources placed on the node.
    pub resources: usize,
    /// (model, PCI address, holder or empty).
    pub gpus: Vec<(String, String, String)>,
    pub gpus_free: usize,
    pub live: Option<LiveRow>,
}

/// A pool in the tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolRow {
    pub name: String,
    pub path: String,
    /// Nesting depth (0 for a root) for indentation.
    pub depth: usize,
    pub pool_type: String,
    /// `None` for a pool of no single provider.
    pub provider: Option<Provider>,
    pub description: String,
    /// vCPUs per thread (1 without overcommit).
    pub cpu_overcommit: f64,
    /// Resources placed directly in this pool.
    pub resources: usize,
    /// The nodes shown (see [`limit_nodes`]) and how many the pool has.
    pub nodes: Vec<NodeRow>,
    pub node_count: usize,
    /// The page listing all of the pool's nodes.
    pub nodes_href: String,
    /// Over all nodes: vCPUs and memory booked against the pool's capacity.
    pub cpu_booked: f64,
    pub cpu_total: f64,
    pub memory_booked: f64,
    pub memory_total: f64,
}

fn num(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0)
}

fn string(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// What one placed resource books: its pool, its size, the node of every replica and
/// the GPUs it holds.
#[derive(Debug, Clone, PartialEq)]
struct Booking {
    pool: String,
    cpu: f64,
    memory: f64,
    /// One entry per replica (a node named twice is booked twice).
    nodes: Vec<String>,
    /// (node, PCI address).
    gpus: Vec<(String, String)>,
}

impl Booking {
    fn of(p: &Value) -> Booking {
        let size = p.get("size");
        let list = |key: &str| p.get(key).and_then(Value::as_array).into_iter().flatten();
        Booking {
            pool: string(p.get("pool")),
            cpu: num(size.and_then(|s| s.get("cpu"))),
            memory: num(size.and_then(|s| s.get("memory_gb"))),
            nodes: list("nodes").map(|n| string(n.get("name"))).collect(),
            gpus: list("gpus")
                .map(|g| (string(g.get("node")), string(g.get("pci_address"))))
                .collect(),
        }
    }
}

/// What the placements book per (pool, node), per pool, and who holds each GPU: the part
/// of the tree that only changes when the stored placements do, so the dashboard keeps
/// it between store changes and follows a change by [`Bookings::apply`] — only the
/// resources that changed are booked again.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bookings {
    /// Every placed resource's booking, by name.
    placed: BTreeMap<String, Booking>,
    /// (pool, node) → the resources booked there (by name: the sums add up in one
    /// order, however the bookings came about) and their replicas on it.
    nodes: BTreeMap<(String, String), BTreeMap<String, usize>>,
    /// (node, PCI address) → the resources holding it; the holder shown is the last by
    /// name (two holders mean the placements disagree; either is shown).
    gpus: BTreeMap<(String, String), std::collections::BTreeSet<String>>,
    per_pool: BTreeMap<String, usize>,
}

impl Bookings {
    /// Books again the resources in `changes`, each with its placement now (`None`:
    /// no longer placed, destroyed or gone): the same bookings as [`bookings`] of all
    /// placements as they now are.
    pub fn apply(&mut self, changes: &[(String, Option<Value>)]) {
        for (name, placement) in changes {
            self.unbook(name);
            if let Some(p) = placement {
                self.book(name, Booking::of(p));
            }
        }
    }

    fn book(&mut self, name: &str, b: Booking) {
        for node in &b.nodes {
            *self
                .nodes
                .entry((b.pool.clone(), node.clone()))
                .or_default()
                .entry(name.to_owned())
                .or_default() += 1;
        }
        for gpu in &b.gpus {
            self.gpus
                .entry(gpu.clone())
                .or_default()
                .insert(name.to_owned());
        }
        *self.per_pool.entry(b.pool.clone()).or_default() += 1;
        self.placed.insert(name.to_owned(), b);
    }

    fn unbook(&mut self, name: &str) {
        let Some(b) = self.placed.remove(name) else {
            return;
        };
        for node in &b.nodes {
            let key = (b.pool.clone(), node.clone());
            if let Some(held) = self.nodes.get_mut(&key) {
                held.remove(name);
                if held.is_empty() {
                    self.nodes.remove(&key);
                }
            }
        }
        for gpu in &b.gpus {
            if let Some(holders) = self.gpus.get_mut(gpu) {
                holders.remove(name);
                if holders.is_empty() {
                    self.gpus.remove(gpu);
                }
            }
        }
        if let Some(n) = self.per_pool.get_mut(&b.pool) {
            *n -= 1;
            if *n == 0 {
                self.per_pool.remove(&b.pool);
            }
        }
    }

    /// What the placements book on `node` of the pool `pool`: (cpu, memory, replicas).
    fn on_node(&self, pool: &str, node: &str) -> (f64, f64, usize) {
        let Some(held) = self.nodes.get(&(pool.to_owned(), node.to_owned())) else {
            return (0.0, 0.0, 0);
        };
        let mut sum = (0.0, 0.0, 0);
        for (name, replicas) in held {
            if let Some(b) = self.placed.get(name) {
                for _ in 0..*replicas {
                    sum.0 += b.cpu;
                    sum.1 += b.memory;
                    sum.2 += 1;
                }
            }
        }
        sum
    }

    /// Who holds the GPU at `pci` on `node`, if anyone.
    fn holder(&self, node: &str, pci: &str) -> Option<&String> {
        self.gpus
            .get(&(node.to_owned(), pci.to_owned()))
            .and_then(|holders| holders.last())
    }
}

/// What `placements` — (resource, placement document) of existing resources — book:
/// every replica books the resource's CPU and memory on its node; GPUs by PCI address.
pub fn bookings(placements: &[(String, Value)]) -> Bookings {
    let mut b = Bookings::default();
    for (name, p) in placements {
        b.unbook(name);
        b.book(name, Booking::of(p));
    }
    b
}

/// Each pool's `cpu_overcommit` by path: its own `properties.cpu_overcommit`, else its
/// parent's (as placement resolves properties); at least 1.
fn overcommits(pools: &[CatalogRecord]) -> BTreeMap<String, f64> {
    let mut by_depth: Vec<(&CatalogRecord, String)> =
        pools.iter().map(|p| (p, pool_path(p))).collect();
    by_depth.sort_by_key(|(_, path)| (path.matches('/').count(), path.clone()));
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (pool, path) in by_depth {
        let own = pool
            .spec
            .get("properties")
            .and_then(|p| p.get("cpu_overcommit"))
            .and_then(Value::as_f64);
        let inherited = path
            .rsplit_once('/')
            .and_then(|(parent, _)| out.get(parent).copied());
        let ratio = own.or(inherited).filter(|r| *r >= 1.0).unwrap_or(1.0);
        out.insert(path, ratio);
    }
    out
}

fn pool_path(pool: &CatalogRecord) -> String {
    pool.path
        .clone()
        .unwrap_or_else(|| string(pool.spec.get("path")))
}

fn live_row(load: &NodeLoad) -> LiveRow {
    LiveRow {
        unmanaged: load.unmanaged.len(),
        unmanaged_cpu: load.cpu,
        unmanaged_memory: load.memory_gb,
        measured_memory: load.measured_memory_gb,
        seen_at: load.seen_at.clone().unwrap_or_default(),
    }
}

fn node_row(
    node: &Value,
    key: &str,
    overcommit: f64,
    booked: &Bookings,
    live: &LiveLoad,
) -> NodeRow {
    let name = string(node.get("name"));
    let (cpu, memory, resources) = booked.on_node(key, &name);
    let load = live.get(&name);
    let cpu_booked = cpu + load.map_or(0.0, |l| f64::from(l.cpu));
    let memory_booked = memory + load.map_or(0.0, |l| l.memory_gb);
    let cpu_physical = num(node.get("cpu"));
    let cpu_total = cpu_physical * overcommit;
    let memory_total = num(node.get("memory_gb"));
    let memory_used = load
        .and_then(|l| l.measured_memory_gb)
        .map_or(memory_booked, |m| m.max(memory_booked));
    let share = |used: f64, total: f64| if total > 0.0 { used / total } else { 0.0 };
    let percent = (share(cpu_booked, cpu_total).max(share(memory_used, memory_total)) * 100.0)
        .round()
        .clamp(0.0, 999.0) as u32;
    let gpus: Vec<(String, String, String)> = node
        .get("gpus")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| {
            let pci = string(g.get("pci_address"));
            let holder = booked.holder(&name, &pci).cloned().unwrap_or_default();
            (string(g.get("model")), pci, holder)
        })
        .collect();
    NodeRow {
        address: string(node.get("address")),
        cpu_booked: round(cpu_booked),
        cpu_total: round(cpu_total),
        cpu_physical,
        memory_booked: round(memory_booked),
        memory_total,
        percent,
        resources,
        gpus_free: gpus.iter().filter(|g| g.2.is_empty()).count(),
        gpus,
        live: load.map(live_row),
        name,
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The pool tree ordered by path: `booked` is what the placements book (see
/// [`bookings`]), `live` the load of the last inventory scans by node name.
pub fn pool_tree(pools: &[CatalogRecord], booked: &Bookings, live: &LiveLoad) -> Vec<PoolRow> {
    let ratios = overcommits(pools);
    let mut rows: Vec<PoolRow> = pools
        .iter()
        .map(|pool| {
            let spec = &pool.spec;
            let path = pool_path(pool);
            // Placements name the pool by path (older ones by name).
            let key = if booked.per_pool.contains_key(&path) {
                path.clone()
            } else {
                pool.name.clone()
            };
            let overcommit = ratios.get(&path).copied().unwrap_or(1.0);
            let nodes = spec
                .get("nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|node| node_row(node, &key, overcommit, booked, live))
                .collect();
            let nodes: Vec<NodeRow> = nodes;
            let sum = |f: fn(&NodeRow) -> f64| round(nodes.iter().map(f).sum());
            PoolRow {
                node_count: nodes.len(),
                nodes_href: format!("/ui/pools{}", super::views::query(&[("path", &path)])),
                cpu_booked: sum(|n| n.cpu_booked),
                cpu_total: sum(|n| n.cpu_total),
                memory_booked: sum(|n| n.memory_booked),
                memory_total: sum(|n| n.memory_total),
                name: pool.name.clone(),
                depth: path.matches('/').count().saturating_sub(1),
                resources: booked.per_pool.get(&key).copied().unwrap_or(0),
                path,
                pool_type: string(spec.get("pool_type")),
                provider: spec
                    .get("provider")
                    .and_then(Value::as_str)
                    .and_then(Provider::parse),
                description: string(spec.get("description")),
                cpu_overcommit: overcommit,
                nodes,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows
}

/// Nodes listed per pool on the tree: a pool with more shows its busiest ones and links
/// to all of them.
pub const NODES_SHOWN: usize = 12;
/// Nodes per page when one pool's nodes are listed in full.
pub const NODES_PER_PAGE: usize = 100;

/// Keeps what the page shows of each pool's nodes: for the pool at `path`, the page of
/// all its nodes from `offset` (by name); for every other pool its [`NODES_SHOWN`]
/// busiest nodes, busiest first.
pub fn limit_nodes(rows: &mut [PoolRow], path: Option<&str>, offset: usize) {
    for row in rows {
        if path == Some(row.path.as_str()) {
            row.nodes = row
                .nodes
                .drain(..)
                .skip(offset)
                .take(NODES_PER_PAGE)
                .collect();
        } else if row.nodes.len() > NODES_SHOWN {
            row.nodes
                .sort_by(|a, b| b.percent.cmp(&a.percent).then(a.name.cmp(&b.name)));
            row.nodes.truncate(NODES_SHOWN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pools() -> Vec<CatalogRecord> {
        vec![
            CatalogRecord {
                name: "home".into(),
                path: Some("/home".into()),
                spec: json!({"path": "/home", "pool_type": "group",
                             "properties": {"cpu_overcommit": 4.0}}),
                dimensions: Default::default(),
            },
            CatalogRecord {
                name: "rack".into(),
                path: Some("/home/rack".into()),
                spec: json!({"path": "/home/rack", "pool_type": "cluster", "provider": "docker",
                    "nodes": [{"name": "n1", "cpu": 8, "memory_gb": 32,
                               "gpus": [{"model": "rtx", "pci_address": "0000:01:00.0"},
                                        {"model": "rtx", "pci_address": "0000:02:00.0"}]}]}),
                dimensions: Default::default(),
            },
            CatalogRecord {
                name: "strict".into(),
                path: Some("/home/strict".into()),
                spec: json!({"path": "/home/strict", "properties": {"cpu_overcommit": 1.0},
                    "nodes": [{"name": "n2", "cpu": 4, "memory_gb": 8}]}),
                dimensions: Default::default(),
            },
        ]
    }

    fn placements() -> Vec<(String, Value)> {
        vec![(
            "web".to_owned(),
            json!({"pool": "/home/rack", "nodes": [{"name": "n1"}],
                   "gpus": [{"node": "n1", "model": "rtx", "pci_address": "0000:01:00.0"}],
                   "size": {"cpu": 2, "memory_gb": 16.0}}),
        )]
    }

    #[test]
    fn nodes_book_cpu_memory_and_gpus_against_overcommitted_capacity() {
        let tree = pool_tree(&pools(), &bookings(&placements()), &LiveLoad::new());
        assert_eq!(tree[0].depth, 0);
        assert_eq!(tree[1].depth, 1);
        assert_eq!(tree[1].cpu_overcommit, 4.0, "inherited from /home");
        assert_eq!(tree[1].provider, Some(Provider::Docker));
        assert_eq!(tree[2].provider, None, "a pool of no single provider");
        let n1 = &tree[1].nodes[0];
        assert_eq!(
            (n1.cpu_booked, n1.cpu_physical, n1.cpu_total),
            (2.0, 8.0, 32.0)
        );
        assert_eq!(n1.percent, 50, "memory is the tighter");
        assert_eq!(n1.resources, 1);
        assert_eq!(n1.gpus[0].2, "web");
        assert_eq!(n1.gpus_free, 1);
        assert_eq!(tree[1].resources, 1);
        assert!(n1.live.is_none());
        let n2 = &tree[2].nodes[0];
        assert_eq!(tree[2].cpu_overcommit, 1.0, "a child may turn it off");
        assert_eq!(n2.cpu_total, 4.0);
    }

    #[test]
    fn big_pools_show_their_busiest_nodes_or_one_page_of_all() {
        let node = |i: usize| json!({"name": format!("n{i:03}"), "cpu": 4, "memory_gb": 100});
        let pools = vec![CatalogRecord {
            name: "big".into(),
            path: Some("/big".into()),
            spec: json!({"path": "/big", "nodes": (0..150).map(node).collect::<Vec<_>>()}),
            dimensions: Default::default(),
        }];
        let placements: Vec<(String, Value)> = (0..30)
            .map(|i| {
                (
                    format!("r{i}"),
                    json!({"pool": "/big", "nodes": [{"name": format!("n{:03}", 149 - i)}],
                           "size": {"cpu": 1, "memory_gb": i + 1}}),
                )
            })
            .collect();
        let tree = pool_tree(&pools, &bookings(&placements), &LiveLoad::new());
        assert_eq!((tree[0].cpu_booked, tree[0].cpu_total), (30.0, 600.0));
        assert_eq!(tree[0].memory_booked, 465.0);
        let mut shown = tree.clone();
        limit_nodes(&mut shown, None, 0);
        assert_eq!(shown[0].nodes.len(), NODES_SHOWN);
        assert_eq!(shown[0].node_count, 150);
        assert_eq!(shown[0].nodes_href, "/ui/pools?path=%2Fbig");
        assert_eq!(shown[0].nodes[0].name, "n120", "the busiest first");
        let mut page = tree.clone();
        limit_nodes(&mut page, Some("/big"), 100);
        assert_eq!(page[0].nodes.len(), 50);
        assert_eq!(page[0].nodes[0].name, "n100", "by name from the offset");
    }

    /// A small deterministic generator (xorshift64): the same sequences every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A placement on the pools of [`pools`]: some replicas (a node may repeat), a
    /// fractional size, sometimes a GPU another resource may also claim.
    fn random_placement(rng: &mut Rng) -> Value {
        let (pool, node) = match rng.below(3) {
            0 => ("/home/rack", "n1"),
            1 => ("/home/strict", "n2"),
            _ => ("rack", "n1"),
        };
        let replicas: Vec<Value> = (0..rng.below(3) + 1)
            .map(|_| json!({"name": if rng.below(4) == 0 { "n9" } else { node }}))
            .collect();
        let gpus: Vec<Value> = (0..rng.below(2))
            .map(|_| json!({"node": "n1", "pci_address": format!("0000:0{}:00.0", rng.below(2) + 1)}))
            .collect();
        json!({"pool": pool, "nodes": replicas, "gpus": gpus,
               "size": {"cpu": rng.below(8) as f64 * 0.1 + 0.3, "memory_gb": rng.below(5) as f64 * 1.7}})
    }

    #[test]
    fn booking_only_the_changed_resources_equals_booking_everything_again() {
        let mut rng = Rng(0x5eed_cafe_f00d_0001);
        let names: Vec<String> = (0..12).map(|i| format!("r{i:02}")).collect();
        for _sequence in 0..200 {
            let mut now: BTreeMap<String, Value> = BTreeMap::new();
            let mut kept = Bookings::default();
            for _step in 0..20 {
                let mut changes = Vec::new();
                for _ in 0..rng.below(4) + 1 {
                    let name = names[rng.below(names.len() as u64) as usize].clone();
                    let placement = (rng.below(4) != 0).then(|| random_placement(&mut rng));
                    match &placement {
                        Some(p) => now.insert(name.clone(), p.clone()),
                        None => now.remove(&name),
                    };
                    changes.push((name, placement));
                }
                // A name changed but not placed differently is booked again the same.
                if let Some((name, p)) = now.iter().next() {
                    changes.push((name.clone(), Some(p.clone())));
                }
                kept.apply(&changes);
                let all: Vec<(String, Value)> = now.clone().into_iter().collect();
                let fresh = bookings(&all);
                assert_eq!(kept, fresh, "after {changes:?}");
                assert_eq!(
                    pool_tree(&pools(), &kept, &LiveLoad::new()),
                    pool_tree(&pools(), &fresh, &LiveLoad::new())
                );
            }
        }
    }

    #[test]
    fn a_changed_placement_moves_its_booking_and_frees_its_gpu() {
        let mut kept = bookings(&placements());
        kept.apply(&[(
            "web".to_owned(),
            Some(json!({"pool": "/home/strict", "nodes": [{"name": "n2"}],
                        "size": {"cpu": 1, "memory_gb": 2.0}})),
        )]);
        let tree = pool_tree(&pools(), &kept, &LiveLoad::new());
        let (n1, n2) = (&tree[1].nodes[0], &tree[2].nodes[0]);
        assert_eq!((n1.cpu_booked, n1.resources, n1.gpus_free), (0.0, 0, 2));
        assert_eq!(
            (n2.cpu_booked, n2.memory_booked, n2.resources),
            (1.0, 2.0, 1)
        );
        assert_eq!((tree[1].resources, tree[2].resources), (0, 1));
        kept.apply(&[("web".to_owned(), None)]);
        assert_eq!(kept, Bookings::default(), "destroyed: nothing booked");
    }

    #[test]
    fn live_load_books_unmanaged_guests_and_measured_memory() {
        let mut live = LiveLoad::new();
        live.insert(
            "n1".into(),
            NodeLoad {
                cpu: 6,
                memory_gb: 4.0,
                unmanaged: vec!["legacy".into()],
                measured_memory_gb: Some(28.8),
                seen_at: Some("2026-12-01T10:00:00Z".into()),
                ..Default::default()
            },
        );
        let tree = pool_tree(&pools(), &bookings(&placements()), &live);
        let n1 = &tree[1].nodes[0];
        assert_eq!((n1.cpu_booked, n1.memory_booked), (8.0, 20.0));
        assert_eq!(n1.percent, 90, "28.8 of 32 GB measured in use");
        let l = n1.live.as_ref().expect("live row");
        assert_eq!((l.unmanaged, l.unmanaged_cpu), (1, 6));
        assert_eq!(l.seen_at, "2026-12-01T10:00:00Z");
    }
}
