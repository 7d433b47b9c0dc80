//! The render phase: every placed resource rendered (or its identical output on disk
//! reused), in parallel; with a [`Memo`], a resource whose render inputs did not change
//! since the last run takes its input hash from there instead of putting its template
//! context together and hashing it again.

use super::memo::KeptRender;
use super::{Engine, Memo, Reuse, parallel_map};
use crate::diag::Diagnostic;
use crate::place::{Decision, Prior, ResolvedPool, resolve_pools};
use crate::render::{ChartSet, Rendered, context, render_resource};
use crate::validate::Catalog;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

impl Engine {
    /// Renders every placed resource of `jobs`, in order; keeps what the memo needs for
    /// the next run.
    pub(super) fn render_all(
        &self,
        catalog: &Catalog,
        charts: &ChartSet,
        jobs: &[&Decision],
        revision: Option<&str>,
        reuse: &Reuse<'_>,
        memo: Option<&mut Memo>,
    ) -> Vec<Result<Rendered, Box<Diagnostic>>> {
        let pools = resolve_pools(catalog);
        let Some(memo) = memo else {
            return parallel_map(jobs, |decision| {
                self.render_one(catalog, charts, &pools, decision, revision, reuse)
            });
        };
        let shared = self.shared_key(catalog, charts);
        let view: &Memo = memo;
        let results = parallel_map(jobs, |decision| {
            let key = render_key(&shared, view, catalog, decision);
            if let Some(kept) = key.and_then(|k| view.kept_render(&decision.resource, &k))
                && let Some(output) = reuse(&decision.resource, &kept.input_hash)
                && let Some(chart) = charts.charts.get(&decision.chart)
            {
                let mut reused = crate::render::reused(
                    chart,
                    &decision.resource,
                    decision.provider,
                    revision,
                    kept.input_hash.clone(),
                    output,
                );
                reused.manifest.placement = Some(Prior::of(decision));
                reused.manifest.shared = kept.shared.clone();
                reused.target = kept.target.clone();
                return (Ok(reused), Some(kept.clone()), true);
            }
            let result = self.render_and_vendor(catalog, charts, &pools, decision, revision, reuse);
            let keep = match (&result, key) {
                (Ok((r, vendor)), Some(key)) => Some(KeptRender {
                    key,
                    input_hash: r.manifest.input_hash.clone(),
                    shared: vendor.clone(),
                    target: r.target.clone(),
                }),
                _ => None,
            };
            (result.map(|(r, _)| r), keep, false)
        });
        let mut kept = HashMap::new();
        let mut from_memo = 0;
        let mut out = Vec::with_capacity(results.len());
        for (decision, (result, keep, taken)) in jobs.iter().zip(results) {
            if let Some(keep) = keep {
                kept.insert(decision.resource.clone(), keep);
            }
            from_memo += usize::from(taken);
            out.push(result);
        }
        memo.keep_renders(kept, from_memo);
        out
    }

    /// The part of every resource's render key that all resources share: this engine
    /// (schemas, limits, assets), the charts, and the pools, workload types and
    /// templates of the revision.
    fn shared_key(&self, catalog: &Catalog, charts: &ChartSet) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        part(self.fingerprint.as_bytes());
        part(self.assets.fingerprint.as_bytes());
        for (name, chart) in &charts.charts {
            part(name.as_bytes());
            part(chart.fingerprint.as_bytes());
        }
        let docs = catalog
            .pools
            .iter()
            .map(|(n, e)| ("pool", n, e.doc.value()))
            .chain(
                catalog
                    .workload_types
                    .iter()
                    .map(|(n, e)| ("workload", n, e.doc.value())),
            )
            .chain(
                catalog
                    .templates
                    .iter()
                    .map(|(n, e)| ("template", n, e.doc.value())),
            );
        for (kind, name, value) in docs {
            part(kind.as_bytes());
            part(name.as_bytes());
            part(value.to_string().as_bytes());
        }
        h.finalize().into()
    }

    /// Renders one placed resource (or, when `reuse` knows its input hash, reuses the
    /// output on disk). Also used for hypothetical placements (MCP dry renders).
    pub fn render_one(
        &self,
        catalog: &Catalog,
        charts: &ChartSet,
        pools: &BTreeMap<String, ResolvedPool>,
        decision: &Decision,
        revision: Option<&str>,
        reuse: &Reuse<'_>,
    ) -> Result<Rendered, Box<Diagnostic>> {
        self.render_and_vendor(catalog, charts, pools, decision, revision, reuse)
            .map(|(rendered, _)| rendered)
    }

    /// [`Engine::render_one`], with the shared entries its chart refers to (what a
    /// skipped render keeps on disk, and what the memo keeps).
    fn render_and_vendor(
        &self,
        catalog: &Catalog,
        charts: &ChartSet,
        pools: &BTreeMap<String, ResolvedPool>,
        decision: &Decision,
        revision: Option<&str>,
        reuse: &Reuse<'_>,
    ) -> Result<(Rendered, Vec<String>), Box<Diagnostic>> {
        let entry = &catalog.resources[&decision.resource];
        let fail = |message: String| Box::new(entry.doc.diagnostic("render", "", message));
        let chart = charts
            .charts
            .get(&decision.chart)
            .ok_or_else(|| fail(format!("chart {} is not available", decision.chart)))?;
        let pool = pools
            .get(&decision.pool)
            .ok_or_else(|| fail(format!("pool {} vanished", decision.pool)))?;
        let workload = catalog
            .workload_types
            .get(&entry.object.spec.workload_type)
            .ok_or_else(|| fail("workload type vanished".into()))?;
        let template = entry
            .object
            .spec
            .template
            .as_ref()
            .and_then(|t| catalog.templates.get(t));
        let target = resource_target(decision, pool)
            .map_err(|why| Box::new(entry.doc.diagnostic("target", "/spec/placement", why)))?;
        let mut ctx = context::build(&context::Inputs {
            resource: entry,
            decision,
            pool,
            workload,
            template,
            chart_name: &chart.meta.name,
            chart_version: &chart.meta.version,
            chart_values: &chart.values,
            chart_roles: &chart.meta.ansible_roles,
        });
        let vendor = crate::render::vendor_context(chart, &self.assets, &ctx);
        if let Some(map) = ctx.as_object_mut() {
            map.insert(
                "target".to_owned(),
                serde_json::to_value(&target).unwrap_or_default(),
            );
            map.insert("vendor".to_owned(), vendor);
        }
        let input = crate::render::input_hash(chart, &self.assets, &ctx);
        let vendor = crate::render::vendor_entries(&ctx["vendor"]);
        if let Some(output) = reuse(&decision.resource, &input) {
            let mut reused = crate::render::reused(
                chart,
                &decision.resource,
                decision.provider,
                revision,
                input,
                output,
            );
            reused.manifest.placement = Some(Prior::of(decision));
            reused.manifest.shared = vendor.clone();
            reused.target = target;
            return Ok((reused, vendor));
        }
        let mut rendered = render_resource(
            chart,
            &self.assets,
            &ctx,
            &decision.resource,
            decision.provider,
            revision,
            &self.limits,
        )
        .map_err(|e| fail(e.describe()))?;
        rendered.manifest.placement = Some(Prior::of(decision));
        rendered.target = target;
        // Every secret reference must reach the tool through the chart's bindings, or
        // the resource would be applied without it.
        let bindings = rendered
            .files
            .get(crate::secrets::BINDINGS_FILE)
            .map(|b| b.as_ref());
        crate::secrets::refs::check_bindings(&ctx["values"], bindings).map_err(|why| {
            Box::new(
                entry
                    .doc
                    .diagnostic("secret-delivery", "/spec/chart/values", why.to_string()),
            )
        })?;
        Ok((rendered, vendor))
    }
}

/// The target of a placed resource: its pool's properties with its nodes' on top; the
/// error is the message of the `target` diagnostic.
// String error: the text of a diagnostic or settings error that names the file and key.
fn resource_target(
    decision: &Decision,
    pool: &crate::place::ResolvedPool,
) -> Result<crate::target::Target, String> {
    let nodes: Vec<(&str, &serde_json::Map<String, serde_json::Value>)> = decision
        .nodes
        .iter()
        .filter_map(|a| pool.nodes.iter().find(|n| n.name == a.name))
        .map(|n| (n.name.as_str(), &n.properties))
        .collect();
    crate::target::resolve(decision.provider, &pool.properties, &nodes).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!(
            "the target of pool {} cannot be used: {}",
            pool.path,
            all.join("; ")
        )
    })
}

/// The key of everything `decision`'s render depends on: what all resources share, the
/// version of the file its document is in and the document's place there, and where it
/// was placed. `None` when its file is not in the memo.
fn render_key(
    shared: &[u8; 32],
    memo: &Memo,
    catalog: &Catalog,
    decision: &Decision,
) -> Option<[u8; 32]> {
    let doc = &catalog.resources.get(&decision.resource)?.doc;
    let version = memo.version(&doc.file)?;
    let placement = serde_json::to_vec(&(
        &decision.provider,
        &decision.pool,
        &decision.chart,
        &decision.nodes,
        &decision.gpus,
        &decision.size,
    ))
    .ok()?;
    let mut h = Sha256::new();
    h.update(shared);
    for part in [
        decision.resource.as_bytes(),
        doc.file.as_bytes(),
        &(doc.index as u64).to_le_bytes(),
        &version.to_le_bytes(),
        &placement,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    Some(h.finalize().into())
}
