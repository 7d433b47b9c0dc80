//! `validate`, `render` and `plan`: the pipeline on a directory or a git revision.

use super::args::{OutputFormat, PlanArgs, RenderArgs, SourceArgs};
use super::output::{Progress, print_diagnostics, print_json};
use super::{Exit, UsageError};
use crate::config::RawConfig;
use crate::limits::Limits;
use crate::pipeline::{Engine, Outcome};
use crate::place::{Mode, Priors, describe_size};
use crate::render::write::{
    WriteOutcome, prune_shared, read_manifest, remove_leftovers, resource_dir, write_atomic,
};
use crate::source::verify::Verdict;
use crate::source::{self, Snapshot, SourceError};
use anyhow::Context as _;
use serde_json::json;
use std::collections::BTreeSet;

/// The `[limits]` of `--config` (or `HOMELABD_CONFIG`), else the defaults.
pub(super) fn limits(config: Option<&std::path::Path>) -> anyhow::Result<Limits> {
    Ok(one_shot_config(config)?.0)
}

/// What the one-shot commands take from `--config`: `[limits]` and
/// `[secrets] identity_file` (relative to the config file).
fn one_shot_config(
    config: Option<&std::path::Path>,
) -> anyhow::Result<(Limits, Option<std::path::PathBuf>)> {
    let Some(path) = config else {
        return Ok((Limits::default(), None));
    };
    let raw = RawConfig::load(path).map_err(|e| UsageError(e.to_string()))?;
    raw.limits
        .validate()
        .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    Ok((raw.limits, raw.secrets.identity_file))
}

/// Reads the snapshot the arguments name.
fn load(args: &SourceArgs, limits: &Limits) -> anyhow::Result<Snapshot> {
    if !args.repo.exists() {
        return Err(UsageError(format!("{} does not exist", args.repo.display())).into());
    }
    let result = match &args.rev {
        Some(rev) => source::load_commit_with(&args.repo, rev, args.path.as_deref(), limits),
        None => source::load_dir_with(&args.repo, args.path.as_deref(), limits),
    };
    result.map_err(|e| match e {
        SourceError::NotADirectory { .. }
        | SourceError::BadSubPath(_)
        | SourceError::RevisionNotFound { .. }
        | SourceError::SubPathMissing { .. } => UsageError(e.to_string()).into(),
        SourceError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            UsageError(e.to_string()).into()
        }
        other => anyhow::Error::new(other).context(format!("cannot read {}", args.repo.display())),
    })
}

/// The pipeline's outcome on the revision the arguments name, and that revision's
/// signature state (checked first, so a usage error stops before any work).
fn run_pipeline(args: &SourceArgs) -> anyhow::Result<(Outcome, Signature)> {
    run_placed(args, &Priors::new(), Mode::Sticky)
}

/// [`run_pipeline`], placing against the earlier placements `priors` as `mode` says.
fn run_placed(
    args: &SourceArgs,
    priors: &Priors,
    mode: Mode,
) -> anyhow::Result<(Outcome, Signature)> {
    let verdict = super::signature::check(
        &args.repo,
        args.rev.as_deref(),
        args.config.as_deref(),
        &args.signatures,
    )?;
    let (limits, identity_file) = one_shot_config(args.config.as_deref())?;
    let snapshot = load(args, &limits)?;
    let engine = Engine::with_limits(limits).context("built-in schemas")?;
    let signature = Signature {
        shown: args.rev.is_some(),
        unmet: super::signature::unmet(&args.signatures, verdict.as_ref()),
        verdict,
    };
    let mut outcome = engine.run_placed(&snapshot, priors, mode, &|_, _| None);
    check_secret_keys(&snapshot, identity_file.as_deref(), &mut outcome);
    Ok((outcome, signature))
}

/// Checks that every secret key a rendered resource uses exists — possible only with an
/// identity (`HOMELABD_AGE_IDENTITY_FILE`, the `age-identity` credential or `[secrets]
/// identity_file` of `--config`); without one a single warning says the keys were not
/// checked.
fn check_secret_keys(
    snapshot: &Snapshot,
    identity_file: Option<&std::path::Path>,
    outcome: &mut Outcome,
) {
    use crate::diag::Diagnostic;
    use crate::secrets::{Binding, Keyring, load_identity};
    let uses: Vec<(String, Vec<Binding>)> = outcome
        .rendered
        .iter()
        .map(|(name, r)| (name.clone(), r.secret_bindings()))
        .filter(|(_, bindings)| !bindings.is_empty())
        .collect();
    if uses.is_empty() {
        return;
    }
    let identity = load_identity(identity_file);
    if matches!(identity, Ok(None)) {
        outcome.diagnostics.push(Diagnostic::warning(
            "secret-keys-unchecked",
            crate::secrets::DIR,
            format!(
                "secret keys were not checked: no age identity (set {} or [secrets] \
                 identity_file with --config)",
                crate::secrets::IDENTITY_ENV
            ),
        ));
        return;
    }
    let mut keyring = Keyring::new(identity);
    keyring.load(snapshot);
    for (name, bindings) in uses {
        for b in bindings {
            if let Err(e) = keyring.check(&b.reference()) {
                let diag = match outcome.catalog.resources.get(&name) {
                    Some(entry) => entry.doc.diagnostic(
                        "secret-unreadable",
                        "/spec/chart/values",
                        e.to_string(),
                    ),
                    None => {
                        Diagnostic::error("secret-unreadable", crate::secrets::DIR, e.to_string())
                    }
                };
                outcome.diagnostics.push(diag);
            }
        }
    }
    crate::diag::sort(&mut outcome.diagnostics);
}

/// What signature verification said about the revision read.
struct Signature {
    verdict: Option<Verdict>,
    /// A git revision was read (a directory has no signature to report).
    shown: bool,
    /// `--require-signed` and not verified.
    unmet: bool,
}

impl Signature {
    /// The text line, for a git revision.
    fn print(&self) -> anyhow::Result<()> {
        if self.shown {
            outln!("{}", super::signature::line(self.verdict.as_ref()));
        }
        if self.unmet {
            eprintln!("error: --require-signed: the revision is not signed by an allowed key");
        }
        Ok(())
    }

    fn json(&self) -> serde_json::Value {
        match &self.verdict {
            Some(v) => serde_json::to_value(v).unwrap_or_default(),
            None if self.shown => json!({"state": "unchecked"}),
            None => serde_json::Value::Null,
        }
    }
}

fn exit_for(outcome: &Outcome, signature: &Signature) -> Exit {
    if outcome.has_errors() || signature.unmet {
        Exit::Invalid
    } else {
        Exit::Ok
    }
}

fn summary_json(outcome: &Outcome) -> serde_json::Value {
    json!({
        "valid": !outcome.has_errors(),
        "revision": outcome.revision,
        "files": outcome.files,
        "documents": outcome.catalog.documents,
        "resources": {
            "valid": outcome.rendered.len(),
            "invalid": outcome.catalog.invalid_resources.keys().collect::<Vec<_>>(),
        },
        "errors": outcome.error_count(),
        "warnings": outcome.warning_count(),
        "diagnostics": outcome.diagnostics,
    })
}

fn summary_line(outcome: &Outcome) -> String {
    format!(
        "{} documents in {} files: {} resources valid, {} invalid; {} errors, {} warnings",
        outcome.catalog.documents,
        outcome.files,
        outcome.rendered.len(),
        outcome.catalog.invalid_resources.len(),
        outcome.error_count(),
        outcome.warning_count()
    )
}

pub fn validate(args: SourceArgs) -> anyhow::Result<Exit> {
    let (outcome, signature) = run_pipeline(&args)?;
    match args.output {
        OutputFormat::Json => {
            let mut doc = summary_json(&outcome);
            doc["signature"] = signature.json();
            print_json(&doc)?
        }
        OutputFormat::Text => {
            print_diagnostics(&outcome.diagnostics);
            let verdict = if outcome.has_errors() {
                "invalid"
            } else {
                "valid"
            };
            outln!("{verdict}: {}", summary_line(&outcome));
            signature.print()?;
        }
    }
    Ok(exit_for(&outcome, &signature))
}

pub fn render(args: RenderArgs) -> anyhow::Result<Exit> {
    // Rendering into a directory that holds an earlier render keeps its placements.
    let priors = rendered_priors(&args.out);
    let (outcome, signature) = run_placed(&args.source, &priors, Mode::Sticky)?;
    if signature.unmet {
        signature.print()?;
        return Ok(Exit::Invalid); // nothing unverified is rendered
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    remove_leftovers(&args.out).with_context(|| format!("cannot tidy {}", args.out.display()))?;
    let progress = Progress::new("writing", outcome.rendered.len());
    let mut results = Vec::new();
    for (i, (name, rendered)) in outcome.rendered.iter().enumerate() {
        let dir = resource_dir(&args.out, rendered.manifest.provider.as_str(), name);
        let written = write_atomic(&dir, rendered)
            .with_context(|| format!("cannot write {}", dir.display()))?;
        progress.tick(i + 1);
        results.push((name, rendered, dir, written));
    }
    progress.finish();
    let referenced = outcome
        .rendered
        .values()
        .flat_map(|r| r.manifest.shared.iter().cloned())
        .collect();
    prune_shared(&args.out, &referenced)
        .with_context(|| format!("cannot tidy {}", args.out.display()))?;
    match args.source.output {
        OutputFormat::Json => {
            let mut doc = summary_json(&outcome);
            doc["signature"] = signature.json();
            doc["rendered"] = results
                .iter()
                .map(|(name, r, dir, w)| {
                    json!({
                        "resource": name,
                        "provider": r.manifest.provider,
                        "chart": r.manifest.chart,
                        "dir": dir,
                        "files": r.manifest.files.len(),
                        "outcome": if *w == WriteOutcome::Written { "written" } else { "unchanged" },
                        "output_hash": r.manifest.output_hash,
                    })
                })
                .collect();
            print_json(&doc)?;
        }
        OutputFormat::Text => {
            print_diagnostics(&outcome.diagnostics);
            for (name, r, dir, w) in &results {
                let what = if *w == WriteOutcome::Written {
                    "rendered "
                } else {
                    "unchanged"
                };
                outln!(
                    "{what} {:<11} {name:<24} {}",
                    r.manifest.provider,
                    dir.display()
                );
            }
            for name in outcome.catalog.invalid_resources.keys() {
                outln!(
                    "invalid   {:<11} {name:<24} (not rendered: see errors above)",
                    "-"
                );
            }
            outln!("{}", summary_line(&outcome));
            signature.print()?;
        }
    }
    Ok(exit_for(&outcome, &signature))
}

pub fn plan(args: PlanArgs) -> anyhow::Result<Exit> {
    if args.rebalance && args.against.is_none() {
        return Err(UsageError(
            "--rebalance compares with earlier placements: give --against DIR".to_owned(),
        )
        .into());
    }
    let priors = args
        .against
        .as_deref()
        .map(rendered_priors)
        .unwrap_or_default();
    let mode = if args.rebalance {
        Mode::Rebalance
    } else {
        Mode::Sticky
    };
    let (outcome, signature) = run_placed(&args.source, &priors, mode)?;
    let graph = dependency_graph(&outcome);
    let rendered_names: BTreeSet<String> = outcome.rendered.keys().cloned().collect();
    let layers = crate::model::depends::layers(&rendered_names, &graph);
    let wave_of = |name: &str| layers.iter().position(|l| l.iter().any(|n| n == name));
    let mut entries = Vec::new();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (name, rendered) in &outcome.rendered {
        let decision = &outcome.decisions[name];
        let action = match &args.against {
            None => "create",
            Some(dir) => match read_manifest(&resource_dir(
                dir,
                rendered.manifest.provider.as_str(),
                name,
            )) {
                None => "create",
                Some(m) if m.input_hash == rendered.manifest.input_hash => "unchanged",
                Some(_) => "update",
            },
        };
        *counts.entry(action).or_default() += 1;
        entries.push(json!({
            "resource": name,
            "action": action,
            "provider": decision.provider,
            "pool": decision.pool,
            "chart": rendered.manifest.chart,
            "nodes": decision.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            "gpus": decision.gpus,
            "size": describe_size(&decision.size),
            "reasons": decision.reasons,
            "alternatives": decision.alternatives,
            "moved": decision.moved,
            "input_hash": rendered.manifest.input_hash,
            "target": rendered.target,
            "depends_on": graph.get(name).cloned().unwrap_or_default(),
            "order": wave_of(name).map(|w| w + 1),
        }));
        if decision.moved.is_some() {
            *counts.entry("moved").or_default() += 1;
        }
    }
    for (name, where_) in &outcome.catalog.invalid_resources {
        *counts.entry("invalid").or_default() += 1;
        entries.push(json!({
            "resource": name,
            "action": "invalid",
            "file": where_.file,
            "line": where_.line,
        }));
    }
    if let Some(dir) = &args.against {
        let known: BTreeSet<&String> = outcome
            .rendered
            .keys()
            .chain(outcome.catalog.invalid_resources.keys())
            .collect();
        for (provider, name) in rendered_dirs(dir) {
            if !known.contains(&name) {
                *counts.entry("orphaned").or_default() += 1;
                entries
                    .push(json!({ "resource": name, "action": "orphaned", "provider": provider }));
            }
        }
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    let mut totals = format!(
        "Plan: {} to create, {} to update, {} unchanged, {} invalid, {} orphaned.",
        count("create"),
        count("update"),
        count("unchanged"),
        count("invalid"),
        count("orphaned")
    );
    if count("moved") > 0 {
        totals.push_str(&format!(
            " {} moved to other nodes (see \"moves from\" above).",
            count("moved")
        ));
    }
    match args.source.output {
        OutputFormat::Json => {
            let mut doc = summary_json(&outcome);
            doc["signature"] = signature.json();
            doc["plan"] = serde_json::Value::Array(entries);
            doc["order"] = json!(layers);
            doc["totals"] = json!({
                "create": count("create"), "update": count("update"), "unchanged": count("unchanged"),
                "invalid": count("invalid"), "orphaned": count("orphaned"),
                "moved": count("moved"),
            });
            print_json(&doc)?;
        }
        OutputFormat::Text => {
            print_diagnostics(&outcome.diagnostics);
            for e in &entries {
                let action = e["action"].as_str().unwrap_or("?");
                let name = e["resource"].as_str().unwrap_or("?");
                match action {
                    "invalid" => outln!(
                        "{action:<9} {name}  ({}:{}, see errors above)",
                        e["file"].as_str().unwrap_or("?"),
                        e["line"]
                    ),
                    "orphaned" => outln!(
                        "{action:<9} {name}  (rendered for {} but no longer defined; nothing is pruned)",
                        e["provider"].as_str().unwrap_or("?")
                    ),
                    _ => {
                        let nodes: Vec<&str> = e["nodes"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
                            .unwrap_or_default();
                        outln!(
                            "{action:<9} {name}  → {} {} {}  [{}]",
                            e["provider"].as_str().unwrap_or("?"),
                            e["pool"].as_str().unwrap_or("?"),
                            if nodes.is_empty() {
                                "(elastic)".to_owned()
                            } else {
                                nodes.join(",")
                            },
                            e["chart"].as_str().unwrap_or("?"),
                        );
                        for reason in e["reasons"].as_array().into_iter().flatten() {
                            outln!("          - {}", reason.as_str().unwrap_or(""));
                        }
                        if let Some(target) = outcome.rendered.get(name).map(|r| &r.target)
                            && !target.is_default()
                        {
                            outln!("          target: {}", target.describe());
                        }
                        if let Some(deps) = graph.get(name) {
                            outln!("          after: {}", deps.join(", "));
                        }
                    }
                }
            }
            if !graph.is_empty() {
                // Only the resources with dependencies or dependents: the rest run
                // in the first layer, in parallel.
                let involved: BTreeSet<&String> = graph
                    .iter()
                    .flat_map(|(n, d)| d.iter().chain([n]))
                    .collect();
                let order: Vec<String> = layers
                    .iter()
                    .map(|l| {
                        let shown: Vec<&str> = l
                            .iter()
                            .filter(|n| involved.contains(n))
                            .map(String::as_str)
                            .collect();
                        shown.join(", ")
                    })
                    .filter(|l| !l.is_empty())
                    .collect();
                outln!("Apply order: {} (prune in reverse).", order.join(" → "));
            }
            outln!("{totals}");
            signature.print()?;
        }
    }
    Ok(exit_for(&outcome, &signature))
}

/// `spec.depends_on` of every valid resource that has any.
fn dependency_graph(outcome: &crate::pipeline::Outcome) -> crate::model::depends::Graph {
    outcome
        .catalog
        .resources
        .iter()
        .filter(|(_, e)| !e.object.spec.depends_on.is_empty())
        .map(|(n, e)| (n.clone(), e.object.spec.depends_on.clone()))
        .collect()
}

/// Where each resource rendered under `dir` was placed, from its manifest (manifests
/// written before placement was recorded there give nothing).
fn rendered_priors(dir: &std::path::Path) -> Priors {
    rendered_dirs(dir)
        .into_iter()
        .filter_map(|(provider, name)| {
            let manifest = read_manifest(&resource_dir(dir, &provider, &name))?;
            Some((name, manifest.placement?))
        })
        .collect::<Priors>()
}

/// `(provider, resource)` for every rendered resource directory under `dir`.
fn rendered_dirs(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(providers) = std::fs::read_dir(dir) else {
        return out;
    };
    for p in providers.flatten() {
        let provider = p.file_name().to_string_lossy().into_owned();
        let Ok(resources) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for r in resources.flatten() {
            let name = r.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && r.path().join(crate::render::MANIFEST_FILE).exists() {
                out.push((provider.clone(), name));
            }
        }
    }
    out.sort();
    out
}
