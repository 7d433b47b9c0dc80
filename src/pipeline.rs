//! The pure pipeline: a [`Snapshot`] in, an [`Outcome`] out — parsed, validated, placed
//! and rendered in memory. No IO happens here; the CLI and the daemon decide what to write.

use crate::diag::{self, Diagnostic};
use crate::limits::Limits;
use crate::model::parse_file;
use crate::place::{Decision, LiveLoad, Mode, Prior, Priors, place_all_live, resolve_pools};
use crate::render::{Assets, ChartSet, Rendered, context, render_resource};
use crate::source::{Snapshot, SourceFile};
use crate::validate::{Catalog, Context, SchemaError, SchemaSet, validate};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Given a resource and its input hash, the output hash of identical output that already
/// exists (so rendering can be skipped), or `None` to render.
pub type Reuse<'a> = dyn Fn(&str, &str) -> Option<String> + Sync + 'a;

/// Wall time of each stage of one run (charts and parsing count as `parse`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub parse: Duration,
    pub validate: Duration,
    pub place: Duration,
    pub render: Duration,
}

/// What is compiled once and reused for every revision: the schemas and the assets, and
/// the limits every revision is read and run within.
pub struct Engine {
    pub schemas: SchemaSet,
    pub assets: Assets,
    /// `[limits]`: also what callers pass to the `source` loaders.
    pub limits: Limits,
}

impl Engine {
    /// Compiles the built-in schemas and indexes the embedded assets; default limits.
    pub fn new() -> Result<Engine, SchemaError> {
        Engine::with_limits(Limits::default())
    }

    /// [`Engine::new`] with the configured `[limits]`.
    pub fn with_limits(limits: Limits) -> Result<Engine, SchemaError> {
        Ok(Engine {
            schemas: SchemaSet::builtin()?,
            assets: Assets::builtin(),
            limits,
        })
    }

    /// Runs the whole pipeline over `snapshot`, rendering every valid resource.
    pub fn run(&self, snapshot: &Snapshot) -> Outcome {
        self.run_with(snapshot, &|_, _| None)
    }

    /// Runs the pipeline, skipping the render of any resource for which `reuse(name,
    /// input_hash)` returns the output hash of identical output that already exists. Its
    /// [`Rendered`] then carries the manifest and no files.
    pub fn run_with(&self, snapshot: &Snapshot, reuse: &Reuse<'_>) -> Outcome {
        self.run_placed(snapshot, &Priors::new(), Mode::Sticky, reuse)
    }

    /// [`Engine::run_with`], placing against the earlier placements `priors` as `mode`
    /// says: kept where they still fit (the daemon, `plan --against`), or afresh with the
    /// moves reported (`plan --rebalance`).
    pub fn run_placed(
        &self,
        snapshot: &Snapshot,
        priors: &Priors,
        mode: Mode,
        reuse: &Reuse<'_>,
    ) -> Outcome {
        self.run_live(snapshot, priors, &LiveLoad::new(), mode, reuse)
    }

    /// [`Engine::run_placed`] around the live load outside git (`live`: unmanaged guests
    /// and measured use by node, from the inventory), which new and moved resources are
    /// placed around.
    pub fn run_live(
        &self,
        snapshot: &Snapshot,
        priors: &Priors,
        live: &LiveLoad,
        mode: Mode,
        reuse: &Reuse<'_>,
    ) -> Outcome {
        let mut timings = Timings::default();
        let mut clock = Instant::now();
        let mut lap = |slot: &mut Duration| {
            *slot = clock.elapsed();
            clock = Instant::now();
        };
        let mut diagnostics = snapshot.diagnostics.clone();
        let (charts, chart_diags) =
            ChartSet::load(snapshot.chart_files(), self.limits.template_fuel);
        diagnostics.extend(chart_diags);
        let metas = charts.metas();

        let sources: Vec<&SourceFile> = snapshot.documents().collect();
        let files = sources.len();
        let mut documents = Vec::new();
        for (docs, diags) in parallel_map(&sources, |file| parse_file(file, &self.limits)) {
            documents.extend(docs);
            diagnostics.extend(diags);
        }
        lap(&mut timings.parse);
        let roles = self.assets.role_names();
        let secret_files = crate::secrets::secret_files(snapshot);
        let secrets = secret_files.keys().cloned().collect();
        let ctx = Context {
            schemas: &self.schemas,
            charts: &metas,
            roles: &roles,
            secrets: &secrets,
        };
        let (mut catalog, diags) = validate(documents, &ctx);
        diagnostics.extend(diags);
        lap(&mut timings.validate);

        let (decisions, diags) = place_all_live(&catalog, &metas, priors, live, mode);
        for d in &diags {
            if let Some(name) = &d.name {
                catalog.invalidate_resource(name);
            }
        }
        diagnostics.extend(diags);
        lap(&mut timings.place);

        let pools = resolve_pools(&catalog);
        let mut rendered = BTreeMap::new();
        let jobs: Vec<&Decision> = decisions.values().collect();
        let results = parallel_map(&jobs, |decision| {
            self.render_one(
                &catalog,
                &charts,
                &pools,
                decision,
                snapshot.revision.as_deref(),
                reuse,
            )
        });
        for (decision, result) in jobs.iter().zip(results) {
            match result {
                Ok(r) => {
                    rendered.insert(decision.resource.clone(), r);
                }
                Err(d) => {
                    diagnostics.push(*d);
                    catalog.invalidate_resource(&decision.resource);
                }
            }
        }
        let decisions = decisions
            .into_iter()
            .filter(|(name, _)| rendered.contains_key(name))
            .collect();
        lap(&mut timings.render);
        diag::sort(&mut diagnostics);
        Outcome {
            timings,
            revision: snapshot.revision.clone(),
            files,
            diagnostics,
            catalog,
            decisions,
            rendered,
            charts,
            secrets,
            secret_files,
        }
    }

    /// Renders one placed resource (or, when `reuse` knows its input hash, reuses the
    /// output on disk). Also used for hypothetical placements (MCP dry renders).
    pub fn render_one(
        &self,
        catalog: &Catalog,
        charts: &ChartSet,
        pools: &BTreeMap<String, crate::place::ResolvedPool>,
        decision: &Decision,
        revision: Option<&str>,
        reuse: &Reuse<'_>,
    ) -> Result<Rendered, Box<Diagnostic>> {
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
        if let Some(output) = reuse(&decision.resource, &input) {
            let mut reused = crate::render::reused(
                chart,
                &decision.resource,
                decision.provider.as_str(),
                revision,
                input,
                output,
            );
            reused.manifest.placement = Some(Prior::of(decision));
            reused.manifest.shared = crate::render::vendor_entries(&ctx["vendor"]);
            reused.target = target;
            return Ok(reused);
        }
        let mut rendered = render_resource(
            chart,
            &self.assets,
            &ctx,
            &decision.resource,
            decision.provider.as_str(),
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
        Ok(rendered)
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

/// Maps `f` over `items` on every core (scoped threads, contiguous chunks), returning the
/// results in input order, so parallelism never changes the outcome.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads <= 1 || items.len() < 64 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Everything one pipeline run found out.
#[derive(Debug)]
pub struct Outcome {
    pub timings: Timings,
    pub revision: Option<String>,
    /// Number of YAML files read.
    pub files: usize,
    /// Every problem, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub catalog: Catalog,
    /// Placement of every resource that was rendered.
    pub decisions: BTreeMap<String, Decision>,
    /// Rendered files of every valid resource.
    pub rendered: BTreeMap<String, Rendered>,
    pub charts: ChartSet,
    /// The secret files of the revision, by name (their content stays in the snapshot).
    pub secrets: std::collections::BTreeSet<String>,
    /// The encrypted secret files by name (ciphertext: the daemon's keyring opens them).
    pub secret_files: BTreeMap<String, Vec<u8>>,
}

impl Outcome {
    /// Where this run placed every resource: the earlier placements for a run on the
    /// next revision (previews and proposals place the change around the base).
    pub fn priors(&self) -> Priors {
        self.decisions
            .iter()
            .map(|(name, d)| (name.clone(), Prior::of(d)))
            .collect()
    }

    /// Did any document have an error?
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}
