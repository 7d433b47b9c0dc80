//! `query-resource-pools` (pure): pools after inheritance with each node's capacity,
//! what placement booked on it and for which resources, GPUs and their holders, quotas of
//! elastic pools; filtered by path glob, type, provider, dimensions and free room.

use super::context::View;
use super::inventory::short;
use super::page::{PageInfo, paginate};
use super::params::PoolQuery;
use super::reply::Summary;
use crate::model::{PoolType, Provider};
use crate::place::ResolvedPool;
use crate::validate::is_within;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Resource names by pool path.
pub(super) type ByPool<'a> = BTreeMap<&'a str, Vec<&'a str>>;
/// Resource names by (pool path, node).
pub(super) type ByNode<'a> = BTreeMap<(&'a str, &'a str), Vec<&'a str>>;

/// Resources per pool path, and per (pool, node).
pub(super) fn occupancy(view: &View) -> (ByPool<'_>, ByNode<'_>) {
    let mut by_pool = ByPool::new();
    let mut by_node = ByNode::new();
    for d in view.outcome.decisions.values() {
        by_pool.entry(&d.pool).or_default().push(&d.resource);
        for n in &d.nodes {
            by_node
                .entry((&d.pool, &n.name))
                .or_default()
                .push(&d.resource);
        }
    }
    (by_pool, by_node)
}

/// A GPU of a node and who holds it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NodeGpuOut {
    pub model: String,
    pub pci_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_gb: Option<u32>,
    /// The resource the GPU is assigned to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
}

/// A node's capacity, what is booked on it, and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NodeOut {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// vCPUs placement may book: physical threads times the pool's `cpu_overcommit`.
    pub cpu_total: f64,
    pub cpu_used: u32,
    pub cpu_free: f64,
    pub memory_gb_total: f64,
    pub memory_gb_used: f64,
    pub memory_gb_free: f64,
    pub storage_gb_total: u32,
    pub storage_gb_used: u32,
    pub storage_gb_free: i64,
    pub gpus: Vec<NodeGpuOut>,
    pub labels: BTreeMap<String, String>,
    pub resources: Vec<String>,
}

/// An elastic pool's quota and what is booked against it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct QuotaOut {
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    pub gpus: u32,
    pub cpu_used: u32,
    pub memory_gb_used: f64,
    pub storage_gb_used: u32,
    pub gpus_used: u32,
}

/// A pool, after inheritance, with capacity and occupancy.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PoolOut {
    pub name: String,
    pub path: String,
    pub pool_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags, inherited from ancestors unless overridden.
    pub dimensions: BTreeMap<String, String>,
    /// Provider settings, inherited from ancestors unless overridden.
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Resources can be placed here (it has nodes, or is a cloud pool).
    pub placeable: bool,
    /// A pool without nodes: bounded only by its quota, if any.
    pub elastic: bool,
    pub nodes: Vec<NodeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaOut>,
    /// How many resources are placed in this pool.
    pub resource_count: usize,
    /// The first 100 of them by name (`get-deployment-status` lists them all).
    pub resources: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub children: Vec<String>,
}

/// The answer of `query-resource-pools`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PoolsAnswer {
    pub revision: String,
    pub pools: Vec<PoolOut>,
    pub page: PageInfo,
}

impl Summary for PoolsAnswer {
    fn summary(&self) -> String {
        let mut out = format!(
            "{} of {} matching pool(s) at {}",
            self.pools.len(),
            self.page.total,
            short(&self.revision)
        );
        for p in &self.pools {
            let free: f64 = p.nodes.iter().map(|n| n.memory_gb_free).sum();
            let gpus = p
                .nodes
                .iter()
                .flat_map(|n| &n.gpus)
                .filter(|g| g.assigned_to.is_none())
                .count();
            out.push_str(&format!(
                "\n- {} [{}{}]: {} node(s), {:.1} GB memory free, {} free GPU(s), {} resource(s)",
                p.path,
                p.pool_type,
                p.provider.map(|x| format!(", {x}")).unwrap_or_default(),
                p.nodes.len(),
                free,
                gpus,
                p.resource_count
            ));
        }
        if let Some(c) = &self.page.next_cursor {
            out.push_str(&format!("\nmore: cursor {c}"));
        }
        out
    }
}

/// Most resource names listed per pool (nodes list all of theirs).
const POOL_RESOURCES: usize = 100;

/// Does pool `path` match `pattern` (a prefix, or a glob with `*` and `**` segments)?
pub fn path_matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('*') {
        let prefix = pattern.trim_end_matches('/');
        return prefix.is_empty() || is_within(path, prefix);
    }
    let pat: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    wildcard(&pat, &segs, |p| *p == "**", |p, s| segment(p, s))
}

/// One path segment against a pattern where `*` matches any run of characters.
fn segment(pattern: &str, s: &str) -> bool {
    let pat: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = s.chars().collect();
    wildcard(&pat, &text, |c| *c == '*', |p, c| p == c)
}

/// Does `text` match `pat`, where a star token matches any run of `text` (also none) and
/// every other token one item that `eq` accepts?
///
/// Greedy with one backtrack point (the last star): a later star supersedes the earlier
/// one, because whatever the earlier star could still absorb the later one can too. So
/// the work is at most `pat.len() × text.len()` comparisons, never exponential: a hostile
/// `/` + forty `*` + `Z` costs what an honest pattern costs.
fn wildcard<P, T>(
    pat: &[P],
    text: &[T],
    is_star: impl Fn(&P) -> bool,
    eq: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    // (pattern index after the last star, text index that star resumes from)
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(token) if is_star(token) => {
                p += 1;
                resume = Some((p, t));
            }
            Some(token) if eq(token, &text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match resume {
                Some((after_star, from)) => {
                    // Let the last star absorb one more item and retry from there.
                    p = after_star;
                    t = from + 1;
                    resume = Some((after_star, from + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(is_star)
}

fn pool_out(
    view: &View,
    p: &ResolvedPool,
    by_pool: &ByPool<'_>,
    by_node: &ByNode<'_>,
    holders: &BTreeMap<String, String>,
) -> PoolOut {
    let nodes = p
        .nodes
        .iter()
        .map(|n| {
            let used = view.ledger.node_usage(&p.path, &n.name);
            let cpu_used = used.map_or(0, |u| u.cpu);
            let memory_used = used.map_or(0.0, |u| u.memory_gb);
            let storage_used = used.map_or(0, |u| u.storage_gb);
            let cpu_total = f64::from(n.cpu) * p.cpu_overcommit();
            NodeOut {
                name: n.name.clone(),
                address: n.address.clone(),
                cpu_total,
                cpu_used,
                cpu_free: cpu_total - f64::from(cpu_used),
                memory_gb_total: n.memory_gb,
                memory_gb_used: memory_used,
                memory_gb_free: n.memory_gb - memory_used,
                storage_gb_total: n.storage_gb,
                storage_gb_used: storage_used,
                storage_gb_free: i64::from(n.storage_gb) - i64::from(storage_used),
                gpus: n
                    .gpus
                    .iter()
                    .map(|g| NodeGpuOut {
                        model: g.model.clone(),
                        pci_address: g.pci_address.clone(),
                        memory_gb: g.memory_gb,
                        assigned_to: holders.get(&g.pci_address.to_ascii_lowercase()).cloned(),
                    })
                    .collect(),
                labels: n.labels.clone(),
                resources: by_node
                    .get(&(p.path.as_str(), n.name.as_str()))
                    .map(|v| v.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let quota = p.capacity.as_ref().map(|cap| {
        let used = view.ledger.pool_usage(&p.path);
        QuotaOut {
            cpu: cap.cpu,
            memory_gb: cap.memory_gb,
            storage_gb: cap.storage_gb,
            gpus: cap.gpus,
            cpu_used: used.map_or(0, |u| u.cpu),
            memory_gb_used: used.map_or(0.0, |u| u.memory_gb),
            storage_gb_used: used.map_or(0, |u| u.storage_gb),
            gpus_used: used.map_or(0, |u| u.elastic_gpus),
        }
    });
    let parent = crate::validate::parent_path(&p.path).map(str::to_owned);
    PoolOut {
        name: p.name.clone(),
        path: p.path.clone(),
        pool_type: super::inventory::pool_type_name(p.pool_type),
        provider: p.provider,
        description: p.description.clone(),
        dimensions: p.dimensions.clone(),
        properties: p.properties.clone(),
        placeable: p.is_target(),
        elastic: p.nodes.is_empty() && p.is_target(),
        nodes,
        quota,
        resource_count: by_pool.get(p.path.as_str()).map_or(0, Vec::len),
        resources: by_pool
            .get(p.path.as_str())
            .map(|v| {
                v.iter()
                    .take(POOL_RESOURCES)
                    .map(|s| s.to_string())
                    .collect()
            })
            .unwrap_or_default(),
        parent,
        children: view
            .pools
            .keys()
            .filter(|c| crate::validate::parent_path(c) == Some(p.path.as_str()))
            .cloned()
            .collect(),
    }
}

/// Does `pool` pass the capacity filters of `q`?
fn has_room(pool: &PoolOut, q: &PoolQuery) -> bool {
    let wants_room = q.min_free_cpu.is_some()
        || q.min_free_memory_gb.is_some()
        || q.min_free_storage_gb.is_some()
        || q.free_gpu;
    if !wants_room {
        return true;
    }
    if !pool.placeable {
        return false;
    }
    if pool.elastic {
        let Some(quota) = &pool.quota else {
            return !q.free_gpu;
        };
        return q
            .min_free_cpu
            .is_none_or(|c| f64::from(quota.cpu) - f64::from(quota.cpu_used) >= c)
            && q.min_free_memory_gb
                .is_none_or(|m| quota.memory_gb - quota.memory_gb_used >= m)
            && q.min_free_storage_gb.is_none_or(|s| {
                u64::from(quota.storage_gb.saturating_sub(quota.storage_gb_used)) >= s
                    || quota.storage_gb == 0
            })
            && (!q.free_gpu || quota.gpus > quota.gpus_used);
    }
    pool.nodes.iter().any(|n| {
        q.min_free_cpu.is_none_or(|c| n.cpu_free >= c)
            && q.min_free_memory_gb
                .is_none_or(|m| n.memory_gb_free + 1e-9 >= m)
            && q.min_free_storage_gb
                .is_none_or(|s| n.storage_gb_free >= s as i64)
            && (!q.free_gpu || n.gpus.iter().any(|g| g.assigned_to.is_none()))
    })
}

/// `query-resource-pools`.
pub fn query_pools(view: &View, q: &PoolQuery) -> PoolsAnswer {
    let (by_pool, by_node) = occupancy(view);
    let mut holders = BTreeMap::new();
    for d in view.outcome.decisions.values() {
        for g in &d.gpus {
            holders.insert(g.pci_address.to_ascii_lowercase(), d.resource.clone());
        }
    }
    let pools: Vec<PoolOut> = view
        .pools
        .values()
        .filter(|p| {
            q.path_pattern
                .as_deref()
                .is_none_or(|pat| path_matches(pat, &p.path))
        })
        .filter(|p| q.pool_type.is_none_or(|t| p.pool_type == PoolType::from(t)))
        .filter(|p| {
            q.provider
                .is_none_or(|x| p.provider == Some(Provider::from(x)))
        })
        .filter(|p| {
            q.dimensions
                .iter()
                .all(|(k, v)| p.dimensions.get(k) == Some(v))
        })
        .filter(|p| q.include_groups || p.is_target())
        .map(|p| pool_out(view, p, &by_pool, &by_node, &holders))
        .filter(|p| has_room(p, q))
        .map(|mut p| {
            if q.include_capacity == Some(false) {
                p.nodes.clear();
                p.quota = None;
            }
            p
        })
        .collect();
    let (pools, page) = paginate(pools, |p| p.path.as_str(), q.limit, q.cursor.as_deref());
    PoolsAnswer {
        revision: view.head.clone(),
        pools,
        page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_are_prefixes_or_segment_globs() {
        assert!(path_matches(
            "/homelab/compute",
            "/homelab/compute/gpu-nodes"
        ));
        assert!(path_matches("/homelab/compute/", "/homelab/compute"));
        assert!(!path_matches("/homelab/comp", "/homelab/compute"));
        assert!(path_matches(
            "/homelab/*/gpu-nodes",
            "/homelab/compute/gpu-nodes"
        ));
        assert!(!path_matches("/homelab/*", "/homelab/compute/gpu-nodes"));
        assert!(path_matches("/cloud/**", "/cloud/aws/eu-west-1"));
        assert!(path_matches("/**/eu-*", "/cloud/aws/eu-west-1"));
        assert!(!path_matches("/**/us-*", "/cloud/aws/eu-west-1"));
        assert!(path_matches("/", "/anything"));
        assert!(path_matches("/*/*", "/a/b"));
        assert!(path_matches("/**", "/"));
        assert!(path_matches("/a*b*c", "/aXbYbZc"));
        assert!(!path_matches("/a*b*c", "/aXbYbZ"));
        assert!(path_matches("/**/**/x", "/x"));
        assert!(path_matches("/é*", "/éa"));
        assert!(!path_matches("/**/b/**/c", "/a/b/x/y"));
    }

    #[test]
    fn star_runs_cost_linear_work_not_exponential() {
        // Before: 40 stars against a 30-character segment tried ~2^40 splits.
        let pattern = format!("/{}Z", "*".repeat(40));
        assert!(!path_matches(&pattern, &format!("/{}", "a".repeat(30))));
        let pattern = format!("/{}Z", "**/".repeat(40));
        assert!(!path_matches(&pattern, &format!("/{}", "a/".repeat(30))));
    }
}
