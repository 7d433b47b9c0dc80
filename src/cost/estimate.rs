//! Monthly estimates (pure): per resource from its placed size and its pool's prices, per
//! pool from its resources and its machines' electricity. Every estimate lists its lines
//! and the assumptions behind it, so a number is never shown without how it was made.

use super::pricing::{InstanceType, NODE_WATTS_KEY, Pricing};
use crate::place::{Decision, ResolvedPool};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Hours in the month every estimate assumes (365 × 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// One priced part of an estimate.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Line {
    /// What is priced and how, e.g. `4 vCPU × 0.0100/h × 730 h × 2 replicas`.
    pub item: String,
    pub monthly: f64,
}

/// A resource's monthly estimate.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceCost {
    pub resource: String,
    pub pool: String,
    pub currency: String,
    /// The sum of the lines, rounded to cents.
    pub monthly: f64,
    pub lines: Vec<Line>,
    pub assumptions: Vec<String>,
}

/// A pool's monthly estimate: what its resources are charged and what its machines draw.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PoolCost {
    pub pool: String,
    pub currency: String,
    /// The resources placed in the pool, at its usage rates.
    pub resources: f64,
    /// Every node's electricity, whether anything runs on it or not.
    pub electricity: f64,
    pub monthly: f64,
    pub assumptions: Vec<String>,
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn replicas(n: u32) -> String {
    if n == 1 {
        "1 replica".into()
    } else {
        format!("{n} replicas")
    }
}

/// The cheapest instance type that holds one replica (ties by name), if any does.
fn cheapest(
    types: &BTreeMap<String, InstanceType>,
    cpu: u32,
    memory_gb: f64,
    gpus: u32,
) -> Option<(&String, &InstanceType)> {
    types
        .iter()
        .filter(|(_, t)| t.cpu >= cpu && t.memory_gb >= memory_gb && t.gpus >= gpus)
        .min_by(|a, b| a.1.hourly.total_cmp(&b.1.hourly).then(a.0.cmp(b.0)))
}

/// A node's electricity for a month, from its own `watts` or the pool's `node_watts`.
fn node_electricity(pricing: &Pricing, node: &crate::model::Node) -> Option<(f64, f64)> {
    let watts = node
        .properties
        .get(NODE_WATTS_KEY)
        .and_then(serde_json::Value::as_f64)
        .filter(|w| w.is_finite() && *w >= 0.0)
        .or(pricing.node_watts)?;
    let kwh = pricing.kwh_price?;
    Some((watts, watts * HOURS_PER_MONTH / 1000.0 * kwh))
}

/// The monthly estimate of `decision` in `pool` priced by `pricing`.
pub fn resource(decision: &Decision, pool: &ResolvedPool, pricing: &Pricing) -> ResourceCost {
    let size = &decision.size;
    let n = size.replicas.max(1);
    let gpus_per_replica = u32::from(size.gpu);
    let mut lines = Vec::new();
    let mut assumptions = vec![format!(
        "{HOURS_PER_MONTH} hours a month, running all the time; prices of pool {} in {}",
        pool.path, pricing.currency
    )];
    let mut unit_rates = true;
    if !pricing.instance_types.is_empty() {
        match cheapest(
            &pricing.instance_types,
            size.cpu,
            size.memory_gb,
            gpus_per_replica,
        ) {
            Some((name, t)) => {
                lines.push(Line {
                    item: format!(
                        "instance type {name} ({} vCPU, {} GB{}) × {:.4}/h × {HOURS_PER_MONTH} h × {}",
                        t.cpu,
                        t.memory_gb,
                        if t.gpus > 0 { format!(", {} GPU", t.gpus) } else { String::new() },
                        t.hourly,
                        replicas(n)
                    ),
                    monthly: t.hourly * HOURS_PER_MONTH * f64::from(n),
                });
                assumptions.push(format!(
                    "the cheapest listed instance type that holds {} vCPU and {} GB{} per replica",
                    size.cpu,
                    size.memory_gb,
                    if size.gpu { " and a GPU" } else { "" }
                ));
                unit_rates = false;
            }
            None => assumptions.push(
                "no listed instance type holds a replica; priced at the per-unit rates".into(),
            ),
        }
    }
    if unit_rates {
        let mut per_hour = |count: f64, unit: &str, rate: Option<f64>| {
            if let Some(rate) = rate
                && count > 0.0
            {
                lines.push(Line {
                    item: format!(
                        "{count} {unit} × {rate:.4}/h × {HOURS_PER_MONTH} h × {}",
                        replicas(n)
                    ),
                    monthly: count * rate * HOURS_PER_MONTH * f64::from(n),
                });
            }
        };
        per_hour(f64::from(size.cpu), "vCPU", pricing.vcpu_hour);
        per_hour(size.memory_gb, "GB memory", pricing.memory_gb_hour);
        per_hour(f64::from(gpus_per_replica), "GPU", pricing.gpu_hour);
    }
    if let Some(rate) = pricing.disk_gb_month
        && size.storage_gb > 0
    {
        lines.push(Line {
            item: format!(
                "{} GB disk × {rate:.4}/GB-month × {}",
                size.storage_gb,
                replicas(n)
            ),
            monthly: f64::from(size.storage_gb) * rate * f64::from(n),
        });
    }
    // Electricity: each replica's share of its node's draw, by the larger of its CPU and
    // memory share of the node (what it keeps others from using).
    for assignment in &decision.nodes {
        let Some(node) = pool.nodes.iter().find(|n| n.name == assignment.name) else {
            continue;
        };
        let Some((watts, monthly)) = node_electricity(pricing, node) else {
            continue;
        };
        let cpu_share = f64::from(size.cpu) / f64::from(node.cpu.max(1));
        let memory_share = if node.memory_gb > 0.0 {
            size.memory_gb / node.memory_gb
        } else {
            0.0
        };
        let share = cpu_share.max(memory_share).min(1.0);
        lines.push(Line {
            item: format!(
                "{:.0}% of node {} ({watts} W × {HOURS_PER_MONTH} h × {:.4}/kWh)",
                share * 100.0,
                node.name,
                pricing.kwh_price.unwrap_or_default()
            ),
            monthly: monthly * share,
        });
    }
    if lines.iter().any(|l| l.item.contains("% of node")) {
        assumptions.push(
            "electricity: a replica's share of its node's average draw is the larger of its CPU and memory share of the node"
                .into(),
        );
    }
    for line in &mut lines {
        line.monthly = cents(line.monthly);
    }
    ResourceCost {
        resource: decision.resource.clone(),
        pool: pool.path.clone(),
        currency: pricing.currency.clone(),
        monthly: cents(lines.iter().map(|l| l.monthly).sum()),
        lines,
        assumptions,
    }
}

/// The monthly estimate of `pool` with `resources` (the estimates of what is placed
/// there): their usage-rate lines plus every node's full electricity (the shares in the
/// resources' lines are left out, so nothing is counted twice).
pub fn pool(pool: &ResolvedPool, pricing: &Pricing, resources: &[&ResourceCost]) -> PoolCost {
    let usage: f64 = resources
        .iter()
        .flat_map(|r| r.lines.iter())
        .filter(|l| !l.item.contains("% of node"))
        .map(|l| l.monthly)
        .sum();
    let electricity: f64 = pool
        .nodes
        .iter()
        .filter_map(|n| node_electricity(pricing, n))
        .map(|(_, m)| m)
        .sum();
    let mut assumptions = vec![format!(
        "{HOURS_PER_MONTH} hours a month; {} resource(s) at the pool's rates",
        resources.len()
    )];
    if electricity > 0.0 {
        assumptions.push(format!(
            "electricity of all {} node(s) at their average draw, used or not",
            pool.nodes.len()
        ));
    }
    PoolCost {
        pool: pool.path.clone(),
        currency: pricing.currency.clone(),
        resources: cents(usage),
        electricity: cents(electricity),
        monthly: cents(usage + electricity),
        assumptions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, PoolType, Sized, Tier};
    use crate::place::NodeAssignment;

    fn node(name: &str, cpu: u32, memory_gb: f64, watts: Option<f64>) -> Node {
        let mut properties = serde_json::Map::new();
        if let Some(w) = watts {
            properties.insert("watts".into(), serde_json::json!(w));
        }
        Node {
            name: name.into(),
            address: None,
            cpu,
            memory_gb,
            storage_gb: 500,
            gpus: Vec::new(),
            labels: BTreeMap::new(),
            properties,
        }
    }

    fn pool_with(nodes: Vec<Node>) -> ResolvedPool {
        ResolvedPool {
            name: "p".into(),
            path: "/lab/p".into(),
            pool_type: if nodes.is_empty() {
                PoolType::Cloud
            } else {
                PoolType::Compute
            },
            provider: None,
            properties: serde_json::Map::new(),
            dimensions: Default::default(),
            nodes,
            capacity: None,
            description: None,
        }
    }

    fn decision(
        cpu: u32,
        memory_gb: f64,
        storage_gb: u32,
        replicas: u32,
        nodes: &[&str],
    ) -> Decision {
        Decision {
            resource: "web".into(),
            provider: crate::model::Provider::Proxmox,
            pool: "/lab/p".into(),
            chart: "c".into(),
            nodes: nodes
                .iter()
                .map(|n| NodeAssignment {
                    name: (*n).into(),
                    address: None,
                    labels: BTreeMap::new(),
                })
                .collect(),
            gpus: Vec::new(),
            size: Sized {
                cpu,
                memory_gb,
                storage_gb,
                gpu: false,
                replicas,
                tier: Tier::Standard,
                sources: Vec::new(),
            },
            reasons: Vec::new(),
            alternatives: Vec::new(),
            moved: None,
        }
    }

    #[test]
    fn unit_rates_price_every_replica_for_730_hours() {
        let pricing = Pricing {
            currency: "USD".into(),
            vcpu_hour: Some(0.01),
            memory_gb_hour: Some(0.005),
            disk_gb_month: Some(0.1),
            ..Pricing::default()
        };
        let c = resource(
            &decision(2, 4.0, 50, 2, &[]),
            &pool_with(Vec::new()),
            &pricing,
        );
        // 2 × 0.01 × 730 × 2 = 29.20; 4 × 0.005 × 730 × 2 = 29.20; 50 × 0.1 × 2 = 10.
        assert_eq!(c.monthly, 68.4);
        assert_eq!(c.lines.len(), 3);
        assert_eq!(c.lines[0].item, "2 vCPU × 0.0100/h × 730 h × 2 replicas");
        assert!(c.assumptions[0].contains("730 hours"));
    }

    #[test]
    fn the_cheapest_instance_type_that_holds_a_replica_is_priced() {
        let mut types = BTreeMap::new();
        for (name, hourly, cpu, mem) in [
            ("small", 0.02, 1, 2.0),
            ("medium", 0.04, 2, 4.0),
            ("large", 0.08, 4, 16.0),
        ] {
            types.insert(
                name.to_owned(),
                InstanceType {
                    hourly,
                    cpu,
                    memory_gb: mem,
                    gpus: 0,
                },
            );
        }
        let pricing = Pricing {
            currency: "USD".into(),
            instance_types: types,
            vcpu_hour: Some(1.0),
            ..Pricing::default()
        };
        let c = resource(
            &decision(2, 3.0, 0, 1, &[]),
            &pool_with(Vec::new()),
            &pricing,
        );
        assert_eq!(c.monthly, 29.2);
        assert!(
            c.lines[0].item.starts_with("instance type medium"),
            "{:?}",
            c.lines
        );
        let c = resource(
            &decision(8, 3.0, 0, 1, &[]),
            &pool_with(Vec::new()),
            &pricing,
        );
        assert_eq!(c.monthly, 8.0 * 730.0, "no type holds 8 vCPU: unit rates");
        assert!(
            c.assumptions
                .iter()
                .any(|a| a.contains("no listed instance type"))
        );
    }

    #[test]
    fn electricity_is_shared_by_the_larger_share_and_the_pool_pays_every_node() {
        let pricing = Pricing {
            currency: "EUR".into(),
            node_watts: Some(100.0),
            kwh_price: Some(0.30),
            ..Pricing::default()
        };
        let p = pool_with(vec![
            node("a", 16, 64.0, None),
            node("b", 8, 32.0, Some(50.0)),
        ]);
        // 4 of 16 CPU, 32 of 64 GB: half of node a's 100 W × 730 h × 0.30 = 21.90 → 10.95.
        let c = resource(&decision(4, 32.0, 0, 1, &["a"]), &p, &pricing);
        assert_eq!(c.monthly, 10.95);
        assert!(
            c.lines[0].item.starts_with("50% of node a"),
            "{:?}",
            c.lines
        );
        let total = pool(&p, &pricing, &[&c]);
        // Node a 21.90 + node b (its own 50 W) 10.95; no usage rates.
        assert_eq!(total.electricity, 32.85);
        assert_eq!(total.resources, 0.0);
        assert_eq!(total.monthly, 32.85);
    }
}
