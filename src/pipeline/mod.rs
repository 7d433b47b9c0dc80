//! The pure pipeline: a [`Snapshot`] in, an [`Outcome`] out — parsed, validated, placed
//! and rendered in memory. No IO happens here; the CLI and the daemon decide what to write.
//! A [`Memo`] carried from one run to the next spares parsing and checking the files that
//! did not change (the daemon's commit passes).

mod memo;
mod renders;

pub use memo::{Memo, MemoUse};

use crate::diag::{self, Diagnostic};
use crate::limits::Limits;
use crate::model::parse_file;
use crate::place::{Decision, LiveLoad, Mode, Prior, Priors, place_all_live};
use crate::render::{Assets, ChartSet, Rendered};
use crate::source::{Snapshot, SourceFile};
use crate::validate::{Catalog, Context, SchemaError, SchemaSet, assemble, check};
use memo::FileChecks;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Given a resource and its input hash, the output hash of identical output that already
/// exists (so rendering can be skipped), or `None` to render.
pub type Reuse<'a> = dyn Fn(&str, &str) -> Option<String> + Sync + 'a;

/// Wall time of each stage of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Charts, and each YAML file parsed and its documents checked on their own
    /// (envelope, JSON Schema, typed decoding), or taken from the [`Memo`].
    pub parse: Duration,
    /// The checks across documents (names, pool tree, references, `depends_on`).
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
    /// What a file's parsed and checked documents depend on besides its bytes (the
    /// schemas and the limits): a [`Memo`] made by another engine is not trusted.
    fingerprint: String,
}

impl Engine {
    /// Compiles the built-in schemas and indexes the embedded assets; default limits.
    pub fn new() -> Result<Engine, SchemaError> {
        Engine::with_limits(Limits::default())
    }

    /// [`Engine::new`] with the configured `[limits]`.
    pub fn with_limits(limits: Limits) -> Result<Engine, SchemaError> {
        let mut schema_texts: Vec<u8> = Vec::new();
        for (kind, text) in crate::validate::schema::BUILTIN_SCHEMAS {
            schema_texts.extend(kind.as_str().as_bytes());
            schema_texts.extend(text.as_bytes());
        }
        let fingerprint = crate::render::hash::files(
            [
                ("schemas", schema_texts.as_slice()),
                ("limits", format!("{limits:?}").as_bytes()),
            ]
            .into_iter(),
        );
        Ok(Engine {
            schemas: SchemaSet::builtin()?,
            assets: Assets::builtin(),
            limits,
            fingerprint,
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
        self.run_memo(snapshot, None, priors, live, mode, reuse)
    }

    /// [`Engine::run_live`], taking the parsed and checked documents of every file whose
    /// bytes are the same as in `memo`'s last run from there (and keeping this run's for
    /// the next). Without a memo every file is parsed and nothing is kept.
    pub fn run_memo(
        &self,
        snapshot: &Snapshot,
        memo: Option<&mut Memo>,
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
        let fresh = |files: &[&SourceFile]| parallel_map(files, |file| self.check_file(file));
        let mut memo = memo;
        let per_file = match memo.as_deref_mut() {
            Some(memo) => memo.checks(&self.fingerprint, &sources, fresh),
            None => fresh(&sources),
        };
        let mut documents = Vec::new();
        for (docs, diags) in per_file {
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
        let (mut catalog, diags) = assemble(documents, &ctx);
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

        let mut rendered = BTreeMap::new();
        let jobs: Vec<&Decision> = decisions.values().collect();
        let results = self.render_all(
            &catalog,
            &charts,
            &jobs,
            snapshot.revision.as_deref(),
            reuse,
            memo,
        );
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

    /// Parses one file and checks each of its documents on its own.
    fn check_file(&self, file: &SourceFile) -> FileChecks {
        let (docs, diags) = parse_file(file, &self.limits);
        let checked = docs
            .into_iter()
            .map(|doc| check(doc, &self.schemas))
            .collect();
        (checked, diags)
    }
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

#[cfg(test)]
mod tests;
