//! Resolving a resource's effective size: definition, then template, then workload tier.

use super::{DeploymentTemplateSpec, Tier, UniversalResourceSpec, WorkloadTypeSpec};
use serde::Serialize;

/// Where a resolved size came from, so `plan` and the MCP sizing tools can justify it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sized {
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    pub gpu: bool,
    pub replicas: u32,
    pub tier: Tier,
    /// One line per field that did not come from the definition itself.
    pub sources: Vec<String>,
}

impl Sized {
    /// Memory rounded up to whole MiB, the unit most providers take.
    pub fn memory_mb(&self) -> u64 {
        (self.memory_gb * 1024.0).ceil() as u64
    }
}

/// Resolves the effective size of `spec` (pure).
pub fn resolve(
    spec: &UniversalResourceSpec,
    template: Option<(&str, &DeploymentTemplateSpec)>,
    workload: (&str, &WorkloadTypeSpec),
) -> Sized {
    let req = &spec.requirements;
    let tier_name = req.tier.unwrap_or(Tier::Standard);
    let tier = workload.1.tiers.get(tier_name);
    let tier_label = format!(
        "tier {} of workload type {}",
        tier_label(tier_name),
        workload.0
    );
    let defaults = template.map(|(name, t)| (name, &t.resources));
    let mut sources = Vec::new();

    let mut pick = |field: &str, own: Option<f64>, from_template: Option<f64>, from_tier: f64| {
        if let Some(v) = own {
            return v;
        }
        if let (Some(v), Some((name, _))) = (from_template, defaults) {
            sources.push(format!("{field} {v} from template {name}"));
            return v;
        }
        sources.push(format!("{field} {from_tier} from {tier_label}"));
        from_tier
    };
    let cpu = pick(
        "cpu",
        req.cpu.map(f64::from),
        defaults.and_then(|(_, d)| d.cpu).map(f64::from),
        f64::from(tier.cpu),
    ) as u32;
    let memory_gb = pick(
        "memory_gb",
        req.memory_gb,
        defaults.and_then(|(_, d)| d.memory_gb),
        tier.memory_gb,
    );
    let storage_gb = pick(
        "storage_gb",
        req.storage_gb.map(f64::from),
        defaults.and_then(|(_, d)| d.storage_gb).map(f64::from),
        f64::from(tier.storage_gb),
    ) as u32;
    let gpu = match req.gpu {
        Some(g) => g,
        None => {
            if tier.gpu {
                sources.push(format!("gpu from {tier_label}"));
            }
            tier.gpu
        }
    };
    Sized {
        cpu,
        memory_gb,
        storage_gb,
        gpu,
        replicas: req.replica_count(),
        tier: tier_name,
        sources,
    }
}

/// The tier's name as written in YAML.
pub fn tier_label(tier: Tier) -> &'static str {
    match tier {
        Tier::Minimal => "minimal",
        Tier::Standard => "standard",
        Tier::HighPerformance => "high-performance",
    }
}
