//! What a change does, from the pipeline's outcome before and after it: which
//! diagnostics concern the change (and whether it must be refused), and what happens to
//! each resource — created, changed or removed, where it is placed and why, and the diff
//! of its rendered files. Pure.

use super::diff;
use crate::diag::Diagnostic;
use crate::model::Kind;
use crate::pipeline::Outcome;
use crate::place::{Decision, describe_size};
use crate::render::Rendered;
use schemars::JsonSchema;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Most lines of one resource's diff.
pub const MAX_DIFF_LINES: usize = 400;
/// Most bytes of one resource's diff.
pub const MAX_DIFF_BYTES: usize = 24 * 1024;

/// What a change does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Rendered after the change, not before (a new definition, or one that was invalid).
    Created,
    /// Rendered before and after, with different files.
    Changed,
    /// Rendered before, not after (its definition was deleted).
    Removed,
    /// Defined in a changed file, but its rendered files are byte-identical.
    Unchanged,
}

/// One resource affected by a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceChange {
    pub name: String,
    pub change: ChangeKind,
    /// Provider after the change (before it, for a removed resource); a string in the
    /// schema, as MCP clients have always seen it.
    #[schemars(with = "Option<String>")]
    pub provider: Option<crate::model::Provider>,
    /// Pool after the change (before it, for a removed resource).
    pub pool: Option<String>,
    pub chart: Option<String>,
    /// Nodes of the replicas, in replica order.
    pub nodes: Vec<String>,
    /// Resolved size, e.g. "4 CPU, 8 GB memory, 100 GB disk, GPU, 1 replica".
    pub size: Option<String>,
    /// Why the placement engine chose this provider, pool and nodes.
    pub reasons: Vec<String>,
    /// Other pools it considered: "pool (provider): verdict".
    pub alternatives: Vec<String>,
    /// Where it was before, when the provider or pool changed ("provider pool") or only
    /// its nodes did ("pve-01"); the first reason then says "moves from … because …".
    pub moved_from: Option<String>,
    /// The monthly estimate after the change (before it, for a removed resource), with
    /// the one before when it differs: "12.41 EUR a month (was 6.20 EUR)"; `None` where
    /// the pool has no `properties.pricing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_cost: Option<String>,
    /// Rendered files that differ, relative to the resource's directory.
    pub files: Vec<String>,
    /// Unified diff of the rendered files (`a/<provider>/<resource>/<file>`), cut at
    /// [`MAX_DIFF_LINES`] lines or [`MAX_DIFF_BYTES`] bytes.
    pub diff: String,
    pub diff_truncated: bool,
}

/// The diagnostics that concern a change, and whether it may go ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Diagnostics (errors and warnings) in the changed files, about objects defined in
    /// them, or new with the change anywhere in the tree.
    pub diagnostics: Vec<Diagnostic>,
    /// No error among them.
    pub valid: bool,
    /// Resources defined in the changed files, before or after the change.
    pub touched: BTreeSet<String>,
}

/// Which of `after`'s diagnostics concern a change of the files in `changed` (paths
/// relative to the definitions root): those in a changed file, those about an object
/// (of any kind) defined in a changed file before or after, and those that did not
/// exist before the change (a deleted pool breaking the resources placed in it).
pub fn assess(before: &Outcome, after: &Outcome, changed: &BTreeSet<String>) -> Assessment {
    let mut objects: BTreeSet<(&str, &str)> = BTreeSet::new();
    for outcome in [before, after] {
        objects.extend(defined_in(outcome, changed));
    }
    let old: BTreeSet<_> = before.diagnostics.iter().map(identity).collect();
    let diagnostics: Vec<Diagnostic> = after
        .diagnostics
        .iter()
        .filter(|d| {
            let about_object = match (&d.kind, &d.name) {
                (Some(kind), Some(name)) => objects.contains(&(kind.as_str(), name.as_str())),
                _ => false,
            };
            changed.contains(&d.file) || about_object || !old.contains(&identity(d))
        })
        .cloned()
        .collect();
    let touched = objects
        .iter()
        .filter(|(kind, _)| *kind == Kind::UniversalResource.as_str())
        .map(|(_, name)| (*name).to_owned())
        .collect();
    Assessment {
        valid: !diagnostics.iter().any(Diagnostic::is_error),
        diagnostics,
        touched,
    }
}

/// A diagnostic without its position: lines move when a file above them changes.
fn identity(d: &Diagnostic) -> (&str, &str, Option<&str>, Option<&str>, &str, &str) {
    (
        d.code,
        &d.file,
        d.kind.as_deref(),
        d.name.as_deref(),
        &d.pointer,
        &d.message,
    )
}

/// (kind, name) of every object whose document lives in one of `files`.
fn defined_in<'a>(outcome: &'a Outcome, files: &BTreeSet<String>) -> Vec<(&'a str, &'a str)> {
    let c = &outcome.catalog;
    let mut out = Vec::new();
    let mut add = |kind: Kind, name: &'a str, file: &str| {
        if files.contains(file) {
            out.push((kind.as_str(), name));
        }
    };
    for (name, e) in &c.pools {
        add(Kind::ResourcePool, name, &e.doc.file);
    }
    for (name, e) in &c.workload_types {
        add(Kind::WorkloadType, name, &e.doc.file);
    }
    for (name, e) in &c.templates {
        add(Kind::DeploymentTemplate, name, &e.doc.file);
    }
    for (name, e) in &c.resources {
        add(Kind::UniversalResource, name, &e.doc.file);
    }
    for (name, invalid) in &c.invalid_resources {
        add(Kind::UniversalResource, name, &invalid.file);
    }
    out
}

/// Every resource whose rendered output differs between `before` and `after`, plus the
/// `touched` ones whose output did not change, by name.
pub fn resource_changes(
    before: &Outcome,
    after: &Outcome,
    touched: &BTreeSet<String>,
) -> Vec<ResourceChange> {
    let names: BTreeSet<&String> = before
        .rendered
        .keys()
        .chain(after.rendered.keys())
        .collect();
    let pools = (
        crate::place::resolve_pools(&before.catalog),
        crate::place::resolve_pools(&after.catalog),
    );
    let mut out = Vec::new();
    for name in names {
        let old = before.rendered.get(name).zip(before.decisions.get(name));
        let new = after.rendered.get(name).zip(after.decisions.get(name));
        let change = match (old, new) {
            (Some((o, _)), Some((n, _))) if o.manifest.output_hash == n.manifest.output_hash => {
                if !touched.contains(name) {
                    continue;
                }
                ChangeKind::Unchanged
            }
            (Some(_), Some(_)) => ChangeKind::Changed,
            (None, Some(_)) => ChangeKind::Created,
            (Some(_), None) => ChangeKind::Removed,
            (None, None) => continue,
        };
        let mut described = describe(name, change, old, new);
        described.monthly_cost = monthly_cost(
            old.and_then(|(_, d)| crate::cost::of_decision(d, &pools.0)),
            new.and_then(|(_, d)| crate::cost::of_decision(d, &pools.1)),
        );
        out.push(described);
    }
    out
}

/// "12.41 EUR a month (was 6.20 EUR)", "… (unchanged)", or the one side there is.
fn monthly_cost(
    before: Option<crate::cost::ResourceCost>,
    after: Option<crate::cost::ResourceCost>,
) -> Option<String> {
    use crate::cost::money;
    match (before, after) {
        (Some(b), Some(a)) if b.monthly == a.monthly && b.currency == a.currency => Some(format!(
            "{} a month (unchanged)",
            money(a.monthly, &a.currency)
        )),
        (Some(b), Some(a)) => Some(format!(
            "{} a month (was {})",
            money(a.monthly, &a.currency),
            money(b.monthly, &b.currency)
        )),
        (None, Some(a)) => Some(format!("{} a month", money(a.monthly, &a.currency))),
        (Some(b), None) => Some(format!(
            "{} a month until now",
            money(b.monthly, &b.currency)
        )),
        (None, None) => None,
    }
}

fn describe(
    name: &str,
    change: ChangeKind,
    old: Option<(&Rendered, &Decision)>,
    new: Option<(&Rendered, &Decision)>,
) -> ResourceChange {
    let shown = new.or(old).map(|(_, d)| d);
    let moved_from = match (old, new) {
        (Some((_, o)), Some((_, n))) if o.provider != n.provider || o.pool != n.pool => {
            Some(format!("{} {}", o.provider.as_str(), o.pool))
        }
        // Same pool, other nodes: the move (and why) leads the reasons.
        (Some(_), Some((_, n))) => n.moved.as_ref().map(|m| m.from.clone()),
        _ => None,
    };
    let (files, text) = if change == ChangeKind::Unchanged {
        (Vec::new(), String::new())
    } else {
        file_diffs(name, old, new)
    };
    let (diff, diff_truncated) = diff::bound(&text, MAX_DIFF_LINES, MAX_DIFF_BYTES);
    ResourceChange {
        name: name.to_owned(),
        change,
        provider: shown.map(|d| d.provider),
        pool: shown.map(|d| d.pool.clone()),
        chart: shown.map(|d| d.chart.clone()),
        nodes: shown
            .map(|d| d.nodes.iter().map(|n| n.name.clone()).collect())
            .unwrap_or_default(),
        size: shown.map(|d| describe_size(&d.size)),
        reasons: new.map(|(_, d)| d.reasons.clone()).unwrap_or_default(),
        alternatives: new
            .map(|(_, d)| {
                d.alternatives
                    .iter()
                    .map(|a| match a.provider {
                        Some(p) => format!("{} ({}): {}", a.pool, p.as_str(), a.verdict),
                        None => format!("{}: {}", a.pool, a.verdict),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        moved_from,
        monthly_cost: None,
        files,
        diff,
        diff_truncated,
    }
}

/// The differing files and their unified diff. Vendored modules and roles are built-in
/// bytes (borrowed, never rendered): they are counted, not shown.
fn file_diffs(
    name: &str,
    old: Option<(&Rendered, &Decision)>,
    new: Option<(&Rendered, &Decision)>,
) -> (Vec<String>, String) {
    let empty = Default::default();
    let old_files = old.map_or(&empty, |(r, _)| &r.files);
    let new_files = new.map_or(&empty, |(r, _)| &r.files);
    let label = |side: Option<(&Rendered, &Decision)>, prefix: &str, path: &str| match side {
        Some((_, d)) => format!("{prefix}/{}/{name}/{path}", d.provider.as_str()),
        None => "/dev/null".to_owned(),
    };
    let paths: BTreeSet<&String> = old_files.keys().chain(new_files.keys()).collect();
    let mut files = Vec::new();
    let mut text = String::new();
    let (mut vendored_added, mut vendored_removed) = (0, 0);
    for path in paths {
        let (a, b) = (old_files.get(path), new_files.get(path));
        if a.map(|c| c.as_ref()) == b.map(|c| c.as_ref()) {
            continue;
        }
        files.push(path.clone());
        if a.is_some_and(is_vendored) || b.is_some_and(is_vendored) {
            match (a, b) {
                (None, Some(_)) => vendored_added += 1,
                (Some(_), None) => vendored_removed += 1,
                _ => {}
            }
            continue;
        }
        let (a_label, b_label) = (
            if a.is_some() {
                label(old, "a", path)
            } else {
                "/dev/null".into()
            },
            if b.is_some() {
                label(new, "b", path)
            } else {
                "/dev/null".into()
            },
        );
        match (as_text(a), as_text(b)) {
            (Some(None), _) | (_, Some(None)) => {
                text.push_str(&format!("Binary files {a_label} and {b_label} differ\n"));
            }
            (x, y) => text.push_str(&diff::unified(
                &a_label,
                &b_label,
                x.flatten().unwrap_or_default(),
                y.flatten().unwrap_or_default(),
            )),
        }
    }
    let shared = |side: Option<(&Rendered, &Decision)>| -> BTreeSet<String> {
        side.map(|(r, _)| r.manifest.shared.iter().cloned().collect())
            .unwrap_or_default()
    };
    let (old_shared, new_shared) = (shared(old), shared(new));
    let added: Vec<&String> = new_shared.difference(&old_shared).collect();
    let removed: Vec<&String> = old_shared.difference(&new_shared).collect();
    if !added.is_empty() || !removed.is_empty() {
        let list = |entries: &[&String]| {
            entries
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "# shared built-in modules and roles (rendered-configs/.shared/): added [{}], removed [{}] (not shown)\n",
            list(&added),
            list(&removed)
        ));
    }
    if vendored_added + vendored_removed > 0 {
        text.push_str(&format!(
            "# vendored built-in modules and roles: {vendored_added} files added, \
             {vendored_removed} removed (not shown)\n"
        ));
    }
    (files, text)
}

/// `None` for a missing file, `Some(None)` for one that is not UTF-8.
fn as_text<'a>(content: Option<&'a Cow<'static, [u8]>>) -> Option<Option<&'a str>> {
    content.map(|c| std::str::from_utf8(c).ok())
}

// The variant is the point: vendored files borrow the embedded bytes.
#[allow(clippy::ptr_arg)]
fn is_vendored(content: &Cow<'static, [u8]>) -> bool {
    matches!(content, Cow::Borrowed(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Engine;
    use crate::source::{Snapshot, SourceFile};

    const POOL: &str = include_str!("../../example-repo/pools/docker.yaml");
    const ROOT: &str = include_str!("../../example-repo/pools/homelab.yaml");
    const WORKLOAD: &str = include_str!("../../example-repo/workload-types/web-application.yaml");

    fn app(name: &str, port: u16) -> String {
        format!(
            "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  resource_type: container\n  workload_type: web-application\n  requirements: {{ cpu: 1, memory_gb: 0.5, storage_gb: 2 }}\n  placement: {{ provider: docker, pool: /homelab/docker }}\n  chart:\n    name: docker-compose\n    values:\n      image: nginx:1\n      ports:\n        - {{ name: http, container_port: 80, host_port: {port}, protocol: tcp }}\n"
        )
    }

    fn snapshot(files: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            revision: None,
            files: files
                .iter()
                .map(|(p, c)| SourceFile {
                    path: (*p).to_owned(),
                    content: c.as_bytes().to_vec(),
                })
                .collect(),
            diagnostics: Vec::new(),
        }
    }

    fn changed(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    fn base_files(web: &str) -> Vec<(&'static str, String)> {
        vec![
            ("pools/docker.yaml", POOL.to_owned()),
            ("pools/homelab.yaml", ROOT.to_owned()),
            ("workload-types/web.yaml", WORKLOAD.to_owned()),
            ("definitions/web.yaml", web.to_owned()),
        ]
    }

    fn run(engine: &Engine, files: &[(&str, String)]) -> Outcome {
        let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
        engine.run(&snapshot(&files))
    }

    #[test]
    fn a_new_definition_is_created_with_its_placement_and_diff() {
        let engine = Engine::new().unwrap();
        let before = run(&engine, &base_files(&app("web", 8080)));
        assert!(!before.has_errors(), "{:?}", before.diagnostics);
        let mut files = base_files(&app("web", 8080));
        files.push(("definitions/status.yaml", app("status", 8081)));
        let after = run(&engine, &files);
        let a = assess(&before, &after, &changed(&["definitions/status.yaml"]));
        assert!(a.valid, "{:?}", a.diagnostics);
        assert_eq!(a.touched, changed(&["status"]));
        let changes = resource_changes(&before, &after, &a.touched);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let c = &changes[0];
        assert_eq!((c.name.as_str(), c.change), ("status", ChangeKind::Created));
        assert_eq!(c.provider, Some(crate::model::Provider::Docker));
        assert_eq!(c.nodes, ["docker-01"]);
        assert!(!c.reasons.is_empty());
        assert!(
            c.diff
                .contains("--- /dev/null\n+++ b/docker/status/compose.yaml\n"),
            "{}",
            c.diff
        );
        assert!(
            c.diff.contains("+") && c.diff.contains("8081"),
            "{}",
            c.diff
        );
    }

    #[test]
    fn a_changed_value_shows_only_the_changed_lines() {
        let engine = Engine::new().unwrap();
        let before = run(&engine, &base_files(&app("web", 8080)));
        let after = run(&engine, &base_files(&app("web", 9090)));
        let a = assess(&before, &after, &changed(&["definitions/web.yaml"]));
        assert!(a.valid);
        let changes = resource_changes(&before, &after, &a.touched);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change, ChangeKind::Changed);
        assert_eq!(changes[0].files, ["compose.yaml"]);
        let diff = &changes[0].diff;
        assert!(diff.contains("-") && diff.contains("8080") && diff.contains("9090"));
        assert_eq!(
            diff.lines()
                .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
                .count(),
            diff.lines()
                .filter(|l| l.starts_with('-') && !l.starts_with("---"))
                .count(),
            "{diff}"
        );
    }

    #[test]
    fn errors_in_the_changed_file_refuse_the_change() {
        let engine = Engine::new().unwrap();
        let before = run(&engine, &base_files(&app("web", 8080)));
        let broken = app("web", 8080).replace("cpu: 1,", "cpu: four,");
        let after = run(&engine, &base_files(&broken));
        let a = assess(&before, &after, &changed(&["definitions/web.yaml"]));
        assert!(!a.valid);
        assert!(
            a.diagnostics
                .iter()
                .all(|d| d.file == "definitions/web.yaml")
        );
        assert!(a.diagnostics.iter().any(|d| d.is_error()));
    }

    #[test]
    fn deleting_a_pool_that_others_need_is_refused_for_their_new_errors() {
        let engine = Engine::new().unwrap();
        let before = run(&engine, &base_files(&app("web", 8080)));
        let mut files = base_files(&app("web", 8080));
        files.remove(0);
        let after = run(&engine, &files);
        let a = assess(&before, &after, &changed(&["pools/docker.yaml"]));
        assert!(!a.valid);
        assert!(
            a.diagnostics
                .iter()
                .any(|d| d.file == "definitions/web.yaml" && d.is_error()),
            "{:?}",
            a.diagnostics
        );
    }

    #[test]
    fn errors_elsewhere_that_were_there_before_do_not_block() {
        let engine = Engine::new().unwrap();
        let broken = app("web", 8080).replace("cpu: 1,", "cpu: four,");
        let before = run(&engine, &base_files(&broken));
        let mut files = base_files(&broken);
        files.push(("definitions/status.yaml", app("status", 8081)));
        let after = run(&engine, &files);
        let a = assess(&before, &after, &changed(&["definitions/status.yaml"]));
        assert!(a.valid, "{:?}", a.diagnostics);
        assert!(a.diagnostics.is_empty());
    }

    #[test]
    fn a_deleted_definition_is_removed() {
        let engine = Engine::new().unwrap();
        let mut files = base_files(&app("web", 8080));
        files.push(("definitions/status.yaml", app("status", 8081)));
        let before = run(&engine, &files);
        files.pop();
        let after = run(&engine, &files);
        let a = assess(&before, &after, &changed(&["definitions/status.yaml"]));
        assert!(a.valid);
        let changes = resource_changes(&before, &after, &a.touched);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].change, ChangeKind::Removed);
        assert!(
            changes[0].diff.contains("+++ /dev/null"),
            "{}",
            changes[0].diff
        );
        assert!(changes[0].reasons.is_empty());
    }
}
