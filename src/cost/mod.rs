//! Cost estimates (pure): what a resource and a pool cost a month, from the prices pools
//! carry in `properties.pricing` ([`pricing`]: per vCPU-hour, GB-hour of memory, GB-month
//! of disk, GPU-hour, cloud instance types; for homelab machines, watts per node and the
//! price of a kWh) and the placement's sizes ([`estimate`], 730 hours a month). Pools
//! without prices are left out and said to be. Used by the MCP tools and prompts, previews
//! and pull-request bodies.

pub mod estimate;
pub mod pricing;

pub use estimate::{HOURS_PER_MONTH, Line, PoolCost, ResourceCost};
pub use pricing::{Pricing, PricingError};

use crate::place::{Decision, ResolvedPool};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Estimates for a set of placed resources and the pools they use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Costs {
    pub resources: Vec<ResourceCost>,
    pub pools: Vec<PoolCost>,
    /// Resources in pools without prices.
    pub unpriced: Vec<String>,
    /// Pools whose `properties.pricing` cannot be used, and why.
    pub problems: Vec<String>,
}

/// The estimate of every decision, and of every pool that has one of them, by name.
pub fn estimate_all<'a>(
    decisions: impl IntoIterator<Item = &'a Decision>,
    pools: &BTreeMap<String, ResolvedPool>,
) -> Costs {
    let mut costs = Costs::default();
    let mut by_pool: BTreeMap<&str, Vec<ResourceCost>> = BTreeMap::new();
    let mut priced: BTreeMap<&str, Option<Pricing>> = BTreeMap::new();
    for d in decisions {
        let Some(pool) = pools.get(&d.pool) else {
            costs.unpriced.push(d.resource.clone());
            continue;
        };
        let pricing = priced.entry(pool.path.as_str()).or_insert_with(|| {
            Pricing::of(pool).unwrap_or_else(|e| {
                costs.problems.push(e.to_string());
                None
            })
        });
        match pricing {
            Some(p) => by_pool
                .entry(pool.path.as_str())
                .or_default()
                .push(estimate::resource(d, pool, p)),
            None => costs.unpriced.push(d.resource.clone()),
        }
    }
    for (path, resources) in by_pool {
        if let (Some(pool), Some(Some(pricing))) = (pools.get(path), priced.get(path)) {
            let refs: Vec<&ResourceCost> = resources.iter().collect();
            costs.pools.push(estimate::pool(pool, pricing, &refs));
        }
        costs.resources.extend(resources);
    }
    costs.resources.sort_by(|a, b| a.resource.cmp(&b.resource));
    costs.unpriced.sort();
    costs
}

/// The estimate of one decision, `None` when its pool has no (usable) prices.
pub fn of_decision(
    decision: &Decision,
    pools: &BTreeMap<String, ResolvedPool>,
) -> Option<ResourceCost> {
    let pool = pools.get(&decision.pool)?;
    let pricing = Pricing::of(pool).ok()??;
    Some(estimate::resource(decision, pool, &pricing))
}

/// `12.34 EUR`
pub fn money(amount: f64, currency: &str) -> String {
    format!("{amount:.2} {currency}")
}

/// Monthly totals by currency, e.g. `41.10 EUR + 12.00 USD`, or `None` with nothing priced.
pub fn total(resources: &[ResourceCost]) -> Option<String> {
    let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
    for r in resources {
        *sums.entry(r.currency.as_str()).or_default() += r.monthly;
    }
    (!sums.is_empty()).then(|| {
        sums.iter()
            .map(|(c, v)| money(*v, c))
            .collect::<Vec<_>>()
            .join(" + ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_kept_per_currency() {
        let r = |monthly: f64, currency: &str| ResourceCost {
            resource: "r".into(),
            pool: "/p".into(),
            currency: currency.into(),
            monthly,
            lines: Vec::new(),
            assumptions: Vec::new(),
        };
        assert_eq!(total(&[]), None);
        assert_eq!(
            total(&[r(1.5, "EUR"), r(2.0, "USD"), r(0.25, "EUR")]).as_deref(),
            Some("1.75 EUR + 2.00 USD")
        );
    }
}
