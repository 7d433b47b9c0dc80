//! Placing one resource, in named steps: what it wants (size, provider, chart), which
//! pools are candidates (and why the others are not), how the candidates rank, and the
//! decision with its reasons. Node choice within the chosen pool is `fit_pool`'s.

use super::{Alternative, Decision, Fit, Ledger, Prior, ResolvedPool, Verdict, fit_pool, sticky};
use crate::diag::Diagnostic;
use crate::model::{
    Capability, ChartMeta, PlacementPreferences, Provider, Sized, UniversalResourceSpec,
    default_chart,
};
use crate::validate::{Catalog, Entry, is_within, needed_capabilities};
use std::collections::BTreeMap;

/// Why [`place_in`] placed nothing.
pub(super) enum Unplaced {
    /// No pool can take the resource.
    Diagnostic(Box<Diagnostic>),
    /// The earlier placement to keep is no longer possible, and why.
    NotKept(String),
}

/// Places one resource; with `keep`, only where `keep` says (its pool, nodes and GPUs),
/// or not at all.
pub(super) fn place_in(
    entry: &Entry<UniversalResourceSpec>,
    catalog: &Catalog,
    charts: &BTreeMap<String, ChartMeta>,
    pools: &BTreeMap<String, ResolvedPool>,
    ledger: &Ledger,
    keep: Option<&Prior>,
) -> Result<Decision, Unplaced> {
    let wants = Wants::of(entry, catalog, charts)?;
    if let Some(why) = keep.and_then(|prior| sticky::pool_gone(prior, pools, wants.spec)) {
        return Err(Unplaced::NotKept(why));
    }
    let (best, alternatives) = choose(&wants, pools, charts, ledger, keep);
    match best {
        Some(best) => Ok(decision(entry.name(), &wants, best, alternatives, keep)),
        None => Err(unplaced(entry, &wants, &alternatives, keep)),
    }
}

/// What a resource asks of its placement, from its definition, template, workload type
/// and chart.
struct Wants<'a> {
    spec: &'a UniversalResourceSpec,
    workload: &'a str,
    prefs: &'a PlacementPreferences,
    size: Sized,
    needed: Vec<Capability>,
    template_provider: Option<Provider>,
    template_chart: Option<String>,
    /// The chart named by the definition or its template.
    named_chart: Option<String>,
    /// The provider the definition, its template or its named chart requires.
    wanted_provider: Option<Provider>,
}

impl<'a> Wants<'a> {
    fn of(
        entry: &'a Entry<UniversalResourceSpec>,
        catalog: &'a Catalog,
        charts: &BTreeMap<String, ChartMeta>,
    ) -> Result<Wants<'a>, Unplaced> {
        let spec = &entry.object.spec;
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
        let (template, size) = super::sized(spec, catalog, workload);
        let template_provider = template.and_then(|t| t.object.spec.infrastructure.provider);
        let template_chart = template.and_then(|t| t.object.spec.infrastructure.chart.clone());
        let named_chart = spec.chart.name.clone().or(template_chart.clone());
        let wanted_provider = spec.placement.provider.or(template_provider).or(named_chart
            .as_ref()
            .and_then(|c| charts.get(c))
            .map(|c| c.provider));
        Ok(Wants {
            spec,
            workload: workload.name(),
            prefs: &workload.object.spec.preferences,
            needed: needed_capabilities(spec, size.gpu),
            size,
            template_provider,
            template_chart,
            named_chart,
            wanted_provider,
        })
    }
}

/// The pool chosen, with its rank, chart and node assignment.
struct Best<'p> {
    /// Position in the workload type's provider and pool preferences (`usize::MAX`:
    /// not preferred).
    rank: (usize, usize),
    pool: &'p ResolvedPool,
    chart: String,
    fit: Fit,
}

/// Tries every target pool (only `keep`'s with `keep`; only those within the
/// definition's pool): the best-ranked one with room, and every other with its verdict.
fn choose<'p>(
    wants: &Wants,
    pools: &'p BTreeMap<String, ResolvedPool>,
    charts: &BTreeMap<String, ChartMeta>,
    ledger: &Ledger,
    keep: Option<&Prior>,
) -> (Option<Best<'p>>, Vec<Alternative>) {
    let mut alternatives = Vec::new();
    let mut best: Option<Best> = None;
    let ranked_lower = |pool: &ResolvedPool| Alternative {
        provider: pool.provider,
        pool: pool.path.clone(),
        verdict: Verdict::RankedLower,
    };
    for pool in pools.values().filter(|p| p.is_target()) {
        if keep.is_some_and(|k| k.pool != pool.path) {
            continue;
        }
        if let Some(root) = &wants.spec.placement.pool
            && !is_within(&pool.path, root)
        {
            continue;
        }
        let fitted = candidate(wants, pool, charts).and_then(|(provider, chart)| {
            let fit = fit_pool(
                pool,
                wants.spec,
                &wants.size,
                wants.prefs.strategy,
                ledger,
                keep,
            )?;
            Ok((provider, chart, fit))
        });
        let (provider, chart, fit) = match fitted {
            Ok(found) => found,
            Err(why) => {
                alternatives.push(Alternative {
                    provider: pool.provider,
                    pool: pool.path.clone(),
                    verdict: Verdict::Rejected(why),
                });
                continue;
            }
        };
        let rank = rank(wants.prefs, provider, pool);
        if best.as_ref().is_none_or(|b| rank < b.rank) {
            if let Some(old) = best.take() {
                alternatives.push(ranked_lower(old.pool));
            }
            best = Some(Best {
                rank,
                pool,
                chart,
                fit,
            });
        } else {
            alternatives.push(ranked_lower(pool));
        }
    }
    (best, alternatives)
}

/// Whether `pool` can render the resource: its provider, and the chart for it with the
/// resource type, workload type and capabilities. Returns the provider and chart name,
/// or why not.
// String error: a placement reason ("why not") shown to people in the decision, not a failure to handle.
fn candidate(
    wants: &Wants,
    pool: &ResolvedPool,
    charts: &BTreeMap<String, ChartMeta>,
) -> Result<(Provider, String), String> {
    let spec = wants.spec;
    let Some(provider) = pool.provider else {
        return Err("the pool has no provider".into());
    };
    if let Some(w) = wants.wanted_provider.filter(|w| *w != provider) {
        return Err(format!("provider {provider}, {w} required"));
    }
    let chart_name = wants
        .named_chart
        .clone()
        .unwrap_or_else(|| default_chart(provider).to_owned());
    let chart = match charts.get(&chart_name) {
        Some(c) if c.provider == provider => c,
        Some(_) | None => return Err(format!("no chart {chart_name} for {provider}")),
    };
    if !chart.supports(spec.resource_type, &spec.workload_type) {
        return Err(format!(
            "chart {chart_name} does not render {} / {}",
            spec.resource_type.as_str(),
            spec.workload_type
        ));
    }
    let missing = chart.missing(&wants.needed);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
        return Err(format!("chart {chart_name} lacks {}", names.join(", ")));
    }
    Ok((provider, chart_name))
}

/// A candidate's rank: its provider's and then its pool's position in the workload
/// type's preferences (lower is better; `usize::MAX` when not listed).
fn rank(prefs: &PlacementPreferences, provider: Provider, pool: &ResolvedPool) -> (usize, usize) {
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
    (provider_rank, pool_rank)
}

/// Why nothing was placed: for a kept placement, the first verdict; else a diagnostic
/// naming up to six pools tried.
fn unplaced(
    entry: &Entry<UniversalResourceSpec>,
    wants: &Wants,
    alternatives: &[Alternative],
    keep: Option<&Prior>,
) -> Unplaced {
    if keep.is_some() {
        let why = alternatives
            .first()
            .map(|a| a.verdict.why().to_owned())
            .unwrap_or_else(|| "its pool can no longer take it".to_owned());
        return Unplaced::NotKept(why);
    }
    let d = entry
        .doc
        .diagnostic(
            "no-placement",
            "/spec/placement",
            format!("no pool can take {}", entry.name()),
        )
        .expected(format!(
            "a pool with room for {}",
            super::describe_size(&wants.size)
        ));
    let tried: Vec<String> = alternatives
        .iter()
        .take(6)
        .map(|a| format!("{}: {}", a.pool, a.verdict.why()))
        .collect();
    Unplaced::Diagnostic(Box::new(d.found(if tried.is_empty() {
        "no candidate pool".to_owned()
    } else {
        tried.join(" | ")
    })))
}

/// The decision for the chosen pool, with its reasons: the size, where the provider,
/// pool and chart came from, then the node choice's notes.
fn decision(
    name: &str,
    wants: &Wants,
    best: Best,
    alternatives: Vec<Alternative>,
    keep: Option<&Prior>,
) -> Decision {
    let provider = best.pool.provider.unwrap_or(Provider::Proxmox);
    let mut reasons = vec![super::describe_size(&wants.size)];
    reasons.extend(wants.size.sources.iter().cloned());
    reasons.push(provider_reason(wants, provider, best.rank.0));
    reasons.push(pool_reason(wants, best.pool, best.rank.1, keep.is_some()));
    reasons.push(chart_reason(wants, &best.chart, provider));
    reasons.extend(best.fit.notes);
    Decision {
        resource: name.to_owned(),
        provider,
        pool: best.pool.path.clone(),
        chart: best.chart,
        nodes: best.fit.nodes,
        gpus: best.fit.gpus,
        size: wants.size.clone(),
        reasons,
        alternatives,
        moved: None,
    }
}

fn provider_reason(wants: &Wants, provider: Provider, provider_rank: usize) -> String {
    let spec = wants.spec;
    if spec.placement.provider.is_some() {
        format!("provider {provider}: set in spec.placement.provider")
    } else if wants.template_provider.is_some() {
        format!(
            "provider {provider}: from template {}",
            spec.template.as_deref().unwrap_or("")
        )
    } else if provider_rank != usize::MAX {
        format!(
            "provider {provider}: preference {} of workload type {}",
            provider_rank + 1,
            wants.workload
        )
    } else {
        format!("provider {provider}: the best-ranked pool with room uses it")
    }
}

fn pool_reason(wants: &Wants, pool: &ResolvedPool, pool_rank: usize, kept: bool) -> String {
    match &wants.spec.placement.pool {
        _ if kept => format!(
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
            pool.path, wants.workload
        ),
        None => format!("pool {}: first pool in path order with room", pool.path),
    }
}

fn chart_reason(wants: &Wants, chart: &str, provider: Provider) -> String {
    let spec = wants.spec;
    if spec.chart.name.is_some() {
        format!("chart {chart}: named in spec.chart.name")
    } else if wants.template_chart.is_some() {
        format!(
            "chart {chart}: from template {}",
            spec.template.as_deref().unwrap_or("")
        )
    } else {
        format!("chart {chart}: default for {provider}")
    }
}
