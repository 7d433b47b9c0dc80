//! `analyze-resource-requirements` (pure): the workload type's tiers, the tier that covers
//! the stated needs, the effective size with where each value came from, whether it fits
//! anywhere now, and what existing resources of the same type use.

use super::context::View;
use super::params::WorkloadSpec;
use super::placement::{
    PlacementOut, SizeOut, candidate_name, trial, trial_failure, workload_document,
};
use super::reply::{Refusal, Summary};
use crate::model::{SizingTier, Tier, UniversalResourceSpec, resolve_size, tier_label};
use crate::pipeline::Engine;
use schemars::JsonSchema;
use serde::Serialize;

/// One sizing tier of a workload type.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TierOut {
    pub tier: String,
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    pub gpu: bool,
    /// When this tier fits, as the workload type says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What existing resources of the same workload type use.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PeersOut {
    pub count: usize,
    /// Up to ten of them.
    pub names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_range: Option<[u32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_gb_range: Option<[f64; 2]>,
}

/// The answer of `analyze-resource-requirements`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SizingAnswer {
    pub revision: String,
    pub workload_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tiers: Vec<TierOut>,
    pub recommended_tier: String,
    /// The size a definition with the recommended tier and the given values would get.
    pub size: SizeOut,
    pub justification: Vec<String>,
    /// Where it would go now, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementOut>,
    /// Why it would not be placed (or why the definition is invalid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement_problem: Option<String>,
    pub peers: PeersOut,
}

impl Summary for SizingAnswer {
    fn summary(&self) -> String {
        let s = &self.size;
        let mut out = format!(
            "{} tier {}: {} CPU, {} GB memory, {} GB disk{}, {} replica(s)",
            self.workload_type,
            self.recommended_tier,
            s.cpu,
            s.memory_gb,
            s.storage_gb,
            if s.gpu { ", GPU" } else { "" },
            s.replicas
        );
        for j in &self.justification {
            out.push_str("\n- ");
            out.push_str(j);
        }
        out
    }
}

const TIERS: [Tier; 3] = [Tier::Minimal, Tier::Standard, Tier::HighPerformance];

/// The smallest tier that covers every stated need, or `standard` when none is stated.
pub fn recommend(tiers: &crate::model::SizingTiers, w: &WorkloadSpec) -> (Tier, String) {
    if let Some(t) = w.tier {
        return (t.into(), "tier given in the request".to_owned());
    }
    let stated =
        w.cpu.is_some() || w.memory_gb.is_some() || w.storage_gb.is_some() || w.gpu == Some(true);
    if !stated {
        return (
            Tier::Standard,
            "no needs stated: standard is the tier the daemon uses by default".to_owned(),
        );
    }
    let covers = |t: &SizingTier| {
        w.cpu.is_none_or(|c| t.cpu >= c)
            && w.memory_gb.is_none_or(|m| t.memory_gb + 1e-9 >= m)
            && w.storage_gb.is_none_or(|s| t.storage_gb >= s)
            && (w.gpu != Some(true) || t.gpu)
    };
    match TIERS.into_iter().find(|t| covers(tiers.get(*t))) {
        Some(t) => (
            t,
            format!(
                "{} is the smallest tier that covers the stated needs",
                tier_label(t)
            ),
        ),
        None => (
            Tier::HighPerformance,
            "no tier covers every stated need: the largest tier is used and the stated values override it".to_owned(),
        ),
    }
}

/// Sizes `w` against the workload type's tiers and the revision's capacity.
pub fn analyze(engine: &Engine, view: &View, w: &WorkloadSpec) -> Result<SizingAnswer, Refusal> {
    let catalog = &view.outcome.catalog;
    let Some(workload) = catalog.workload_types.get(&w.workload_type) else {
        return Err(Refusal::unknown(
            "workload type",
            &w.workload_type,
            catalog.workload_types.keys(),
        ));
    };
    let template = match &w.template {
        Some(t) => Some(
            catalog
                .templates
                .get(t)
                .ok_or_else(|| Refusal::unknown("template", t, catalog.templates.keys()))?,
        ),
        None => None,
    };
    let spec = &workload.object.spec;
    let (tier, why) = recommend(&spec.tiers, w);
    let mut sized = w.clone();
    sized.tier = Some(match tier {
        Tier::Minimal => super::params::TierName::Minimal,
        Tier::Standard => super::params::TierName::Standard,
        Tier::HighPerformance => super::params::TierName::HighPerformance,
    });
    let name = candidate_name(view);
    let text = workload_document(view, &name, &sized);
    let resource: UniversalResourceSpec = serde_yaml::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::from_value(v["spec"].clone()).ok())
        .ok_or_else(|| {
            Refusal::fixable("the requirements do not form a valid definition", vec![])
        })?;
    let size = resolve_size(
        &resource,
        template.map(|t| (t.name(), &t.object.spec)),
        (workload.name(), &workload.object.spec),
    );
    let mut justification = vec![why];
    if let Some(d) = &spec.tiers.get(tier).description {
        justification.push(format!("tier {}: {d}", tier_label(tier)));
    }
    justification.extend(size.sources.iter().cloned());
    let t = trial(engine, view, &text, false);
    let placement = t
        .decision
        .as_ref()
        .filter(|_| t.is_valid())
        .map(PlacementOut::from);
    let placement_problem = (!t.is_valid()).then(|| trial_failure(&t));
    match (&placement, &placement_problem) {
        (Some(p), _) => {
            justification.push(format!("fits now: {}", p.line().replacen(&name, "it", 1)))
        }
        (None, Some(why)) => justification.push(format!("does not fit now: {why}")),
        (None, None) => {}
    }
    let peers: Vec<&crate::place::Decision> = catalog
        .resources
        .values()
        .filter(|e| e.object.spec.workload_type == w.workload_type)
        .filter_map(|e| view.outcome.decisions.get(e.name()))
        .collect();
    let range = |f: &dyn Fn(&crate::place::Decision) -> f64| {
        peers
            .iter()
            .map(|d| f(d))
            .fold(None, |acc: Option<[f64; 2]>, v| {
                Some(acc.map_or([v, v], |[lo, hi]| [lo.min(v), hi.max(v)]))
            })
    };
    let cpu_range = range(&|d| f64::from(d.size.cpu)).map(|[a, b]| [a as u32, b as u32]);
    let memory_gb_range = range(&|d| d.size.memory_gb);
    if let (Some([lo, hi]), Some([mlo, mhi])) = (cpu_range, memory_gb_range) {
        justification.push(format!(
            "{} existing {} resource(s) use {lo}-{hi} CPU and {mlo}-{mhi} GB memory",
            peers.len(),
            w.workload_type
        ));
    }
    Ok(SizingAnswer {
        revision: view.head.clone(),
        workload_type: w.workload_type.clone(),
        description: spec.description.clone(),
        tiers: TIERS
            .into_iter()
            .map(|t| {
                let s = spec.tiers.get(t);
                TierOut {
                    tier: tier_label(t).to_owned(),
                    cpu: s.cpu,
                    memory_gb: s.memory_gb,
                    storage_gb: s.storage_gb,
                    gpu: s.gpu,
                    description: s.description.clone(),
                }
            })
            .collect(),
        recommended_tier: tier_label(tier).to_owned(),
        size: SizeOut {
            cpu: size.cpu,
            memory_gb: size.memory_gb,
            storage_gb: size.storage_gb,
            gpu: size.gpu,
            replicas: size.replicas,
            tier: tier_label(size.tier).to_owned(),
            sources: size.sources.clone(),
        },
        justification,
        placement,
        placement_problem,
        peers: PeersOut {
            count: peers.len(),
            names: peers.iter().take(10).map(|d| d.resource.clone()).collect(),
            cpu_range,
            memory_gb_range,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SizingTiers;

    fn tier(cpu: u32, memory_gb: f64, gpu: bool) -> SizingTier {
        SizingTier {
            cpu,
            memory_gb,
            storage_gb: 50,
            gpu,
            description: None,
        }
    }

    fn tiers() -> SizingTiers {
        SizingTiers {
            minimal: tier(2, 4.0, false),
            standard: tier(4, 8.0, false),
            high_performance: tier(8, 32.0, true),
        }
    }

    fn wants(cpu: Option<u32>, memory_gb: Option<f64>, gpu: Option<bool>) -> WorkloadSpec {
        WorkloadSpec {
            workload_type: "w".into(),
            cpu,
            memory_gb,
            gpu,
            ..WorkloadSpec::default()
        }
    }

    #[test]
    fn the_smallest_covering_tier_is_recommended() {
        assert_eq!(
            recommend(&tiers(), &wants(None, None, None)).0,
            Tier::Standard
        );
        assert_eq!(
            recommend(&tiers(), &wants(Some(1), None, None)).0,
            Tier::Minimal
        );
        assert_eq!(
            recommend(&tiers(), &wants(None, Some(6.0), None)).0,
            Tier::Standard
        );
        assert_eq!(
            recommend(&tiers(), &wants(None, None, Some(true))).0,
            Tier::HighPerformance
        );
        let (t, why) = recommend(&tiers(), &wants(Some(64), None, None));
        assert_eq!(t, Tier::HighPerformance);
        assert!(why.contains("no tier covers"), "{why}");
    }
}
