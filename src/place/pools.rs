//! The pool tree with inheritance applied: each pool's effective provider, properties and
//! dimensions (a child's own values win over its ancestors').

use crate::model::{Dimensions, Node, PoolCapacity, PoolType, Provider};
use crate::validate::Catalog;
use serde::Serialize;
use std::collections::BTreeMap;

/// A pool as placement sees it, after inheritance.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedPool {
    pub name: String,
    pub path: String,
    pub pool_type: PoolType,
    pub provider: Option<Provider>,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub dimensions: Dimensions,
    pub nodes: Vec<Node>,
    pub capacity: Option<PoolCapacity>,
    pub description: Option<String>,
}

impl ResolvedPool {
    /// Can resources be placed here? Pools with nodes, and cloud pools (elastic).
    pub fn is_target(&self) -> bool {
        !self.nodes.is_empty() || self.pool_type == PoolType::Cloud
    }

    /// CPU overcommit ratio from `properties.cpu_overcommit` (1.0 when absent).
    pub fn cpu_overcommit(&self) -> f64 {
        self.properties
            .get("cpu_overcommit")
            .and_then(|v| v.as_f64())
            .filter(|f| *f >= 1.0)
            .unwrap_or(1.0)
    }
}

/// Resolves every valid pool, keyed by path (pure).
pub fn resolve(catalog: &Catalog) -> BTreeMap<String, ResolvedPool> {
    let mut by_path: BTreeMap<String, ResolvedPool> = BTreeMap::new();
    let mut order: Vec<_> = catalog.pools.values().collect();
    order.sort_by_key(|p| {
        (
            p.object.spec.path.matches('/').count(),
            p.object.spec.path.clone(),
        )
    });
    for entry in order {
        let spec = &entry.object.spec;
        let parent = crate::validate::parent_path(&spec.path).and_then(|p| by_path.get(p));
        let mut properties = parent.map(|p| p.properties.clone()).unwrap_or_default();
        for (k, v) in &spec.properties {
            properties.insert(k.clone(), v.clone());
        }
        let mut dimensions = parent.map(|p| p.dimensions.clone()).unwrap_or_default();
        dimensions.extend(spec.dimensions.clone());
        let pool_type = spec.pool_type.unwrap_or(if spec.nodes.is_empty() {
            PoolType::Group
        } else {
            PoolType::Compute
        });
        let resolved = ResolvedPool {
            name: entry.name().to_owned(),
            path: spec.path.clone(),
            pool_type,
            provider: spec.provider.or(parent.and_then(|p| p.provider)),
            properties,
            dimensions,
            nodes: spec.nodes.clone(),
            capacity: spec.capacity.clone(),
            description: spec.description.clone(),
        };
        by_path.insert(spec.path.clone(), resolved);
    }
    by_path
}
