//! What a pull request would do, from the pipeline's outcome on the base (the tracked
//! branch) and on the head (the pull request): per resource created / changed / removed /
//! unchanged / invalid, with the rendered diff, the placement reasoning, and for a removed
//! resource whether the daemon would prune it (destroy what it deployed) or leave it
//! orphaned, by the policy its base definition had. Pure: the outcomes come from the
//! caller.

use crate::diag::Diagnostic;
use crate::pipeline::Outcome;
use crate::propose::assess::{self, ChangeKind, ResourceChange};
use crate::reconcile::EffectivePolicy;
use serde::Serialize;
use std::collections::BTreeSet;

/// What happens to one resource when the pull request is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Rendered on the head, not on the base.
    Created,
    /// Rendered on both, with different files.
    Changed,
    /// Rendered on the base; its definition is gone on the head.
    Removed,
    /// Rendered on both, byte-identical.
    Unchanged,
    /// Rendered on the base, invalid on the head: the daemon keeps its last good state.
    Invalid,
}

impl Change {
    /// The word shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Changed => "changed",
            Change::Removed => "removed",
            Change::Unchanged => "unchanged",
            Change::Invalid => "invalid",
        }
    }
}

/// What the daemon does with a removed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    /// `pruned` (its deployment is destroyed) or `orphaned` (left running, no longer
    /// managed).
    pub outcome: &'static str,
    /// Why, in words: the policy and where it came from.
    pub why: String,
}

/// One resource in a preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourcePreview {
    pub name: String,
    pub change: Change,
    pub provider: Option<crate::model::Provider>,
    pub pool: Option<String>,
    pub chart: Option<String>,
    pub nodes: Vec<String>,
    pub size: Option<String>,
    /// Why the placement engine chose this provider, pool and nodes (head side).
    pub reasons: Vec<String>,
    /// Other pools it considered: "pool (provider): verdict".
    pub alternatives: Vec<String>,
    /// "provider pool" on the base, when the placement moved.
    pub moved_from: Option<String>,
    /// The monthly estimate from the pool's prices, with the base's when it differs.
    pub monthly_cost: Option<String>,
    /// Rendered files that differ, relative to the resource's directory.
    pub files: Vec<String>,
    /// Unified diff of the rendered files, bounded (see `diff_truncated`).
    pub diff: String,
    pub diff_truncated: bool,
    /// For a removed resource: pruned or orphaned.
    pub removal: Option<Removal>,
    /// For an invalid one: `file:line` of its definition on the head.
    pub invalid_at: Option<String>,
    /// Where it answers now, when the change moves or removes it (from the daemon's
    /// store; `None` in a preview without one, or when nothing was recorded).
    pub endpoints: Option<EndpointChange>,
    /// For a created or changed resource: the resources it is applied after
    /// (`spec.depends_on` on the head).
    pub after: Vec<String>,
}

/// Where a resource answers today, and what the change does to that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointChange {
    /// The recorded endpoints, as "name at address".
    pub now: String,
    /// What happens to them, in words.
    pub effect: String,
}

/// The whole preview of one pull request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The base commit (the tracked branch's head) and how it was named.
    pub base: Revision,
    pub head: Revision,
    /// The head has no validation error.
    pub valid: bool,
    /// Every error on the head, with file and line.
    pub errors: Vec<Diagnostic>,
    /// Warnings that concern the change (in a changed file, about an object defined in
    /// one, or new with it).
    pub warnings: Vec<Diagnostic>,
    /// Definition files that differ between base and head.
    pub changed_files: Vec<String>,
    pub counts: Counts,
    /// Every resource on either side, by name.
    pub resources: Vec<ResourcePreview>,
    /// What the preview could not do, in words (e.g. why there is no Terraform plan),
    /// and which secrets changed.
    pub notes: Vec<String>,
    /// Secret files the pull request adds, changes or removes (names, never values).
    pub secrets: Vec<super::secrets::SecretChange>,
    /// The order the daemon applies the created and changed resources in, in waves
    /// (each after the ones before), when their dependencies make one; empty otherwise.
    pub order: Vec<Vec<String>>,
}

/// A commit and the name it was asked for by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revision {
    pub name: String,
    pub commit: String,
}

/// How many resources of each kind of change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub invalid: usize,
    pub pruned: usize,
    pub orphaned: usize,
}

/// Why no Terraform plan summary is shown for Proxmox and vSphere resources.
pub const TERRAFORM_NOTE: &str = "Terraform plan: not run. `terraform plan` needs the \
     provider plugins (downloaded by `terraform init`) and the provider's API; a preview \
     runs offline and never reaches infrastructure, so the rendered Terraform files are \
     diffed instead.";

/// Builds the report. `changed_files` are the definition files that differ between the
/// two trees; `defaults` is the policy of a resource that sets none (the daemon's
/// `[policy]` section).
pub fn build(
    base: Revision,
    head: Revision,
    before: &Outcome,
    after: &Outcome,
    changed_files: &BTreeSet<String>,
    defaults: EffectivePolicy,
) -> Report {
    let assessment = assess::assess(before, after, changed_files);
    let all: BTreeSet<String> = before
        .rendered
        .keys()
        .chain(after.rendered.keys())
        .cloned()
        .collect();
    let mut counts = Counts::default();
    let mut resources = Vec::new();
    for c in assess::resource_changes(before, after, &all) {
        let invalid = after.catalog.invalid_resources.get(&c.name);
        let change = match (c.change, invalid) {
            (ChangeKind::Removed, Some(_)) => Change::Invalid,
            (ChangeKind::Created, _) => Change::Created,
            (ChangeKind::Changed, _) => Change::Changed,
            (ChangeKind::Removed, None) => Change::Removed,
            (ChangeKind::Unchanged, _) => Change::Unchanged,
        };
        let removal = (change == Change::Removed).then(|| removal(before, &c.name, defaults));
        let invalid_at = invalid.map(|i| format!("{}:{}", i.file, i.line));
        match change {
            Change::Created => counts.created += 1,
            Change::Changed => counts.changed += 1,
            Change::Removed => counts.removed += 1,
            Change::Unchanged => counts.unchanged += 1,
            Change::Invalid => counts.invalid += 1,
        }
        match removal.as_ref().map(|r| r.outcome) {
            Some("pruned") => counts.pruned += 1,
            Some(_) => counts.orphaned += 1,
            None => {}
        }
        resources.push(preview_of(c, change, removal, invalid_at));
    }
    // A new definition that is invalid on the head was never rendered on either side.
    for (name, invalid) in &after.catalog.invalid_resources {
        if !all.contains(name) {
            counts.invalid += 1;
            resources.push(ResourcePreview {
                name: name.clone(),
                change: Change::Invalid,
                provider: None,
                pool: None,
                chart: None,
                nodes: Vec::new(),
                size: None,
                reasons: Vec::new(),
                alternatives: Vec::new(),
                moved_from: None,
                monthly_cost: None,
                files: Vec::new(),
                diff: String::new(),
                diff_truncated: false,
                removal: None,
                invalid_at: Some(format!("{}:{}", invalid.file, invalid.line)),
                endpoints: None,
                after: Vec::new(),
            });
        }
    }
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    let order = apply_order(after, &mut resources);
    let errors: Vec<Diagnostic> = after
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    let warnings = assessment
        .diagnostics
        .into_iter()
        .filter(|d| !d.is_error())
        .collect();
    let mut notes = Vec::new();
    let terraform = resources.iter().any(|r| {
        r.change != Change::Unchanged
            && matches!(
                r.provider,
                Some(crate::model::Provider::Proxmox | crate::model::Provider::Vmware)
            )
    });
    if terraform {
        notes.push(TERRAFORM_NOTE.to_owned());
    }
    if !errors.is_empty() && counts.removed > 0 {
        notes.push(
            "The head has errors: the daemon never prunes from a revision with errors, so \
             nothing is destroyed until they are fixed."
                .to_owned(),
        );
    }
    Report {
        base,
        head,
        valid: errors.is_empty(),
        errors,
        warnings,
        changed_files: changed_files.iter().cloned().collect(),
        counts,
        resources,
        notes,
        secrets: Vec::new(),
        order,
    }
}

/// Fills in what each created or changed resource is applied after, and returns the
/// waves those resources are applied in when dependencies among them make an order.
fn apply_order(after: &Outcome, resources: &mut [ResourcePreview]) -> Vec<Vec<String>> {
    let graph: crate::model::depends::Graph = after
        .catalog
        .resources
        .iter()
        .filter(|(_, e)| !e.object.spec.depends_on.is_empty())
        .map(|(n, e)| (n.clone(), e.object.spec.depends_on.clone()))
        .collect();
    let mut applied = BTreeSet::new();
    for r in resources.iter_mut() {
        if matches!(r.change, Change::Created | Change::Changed) {
            r.after = graph.get(&r.name).cloned().unwrap_or_default();
            applied.insert(r.name.clone());
        }
    }
    let waves = crate::model::depends::layers(&applied, &graph);
    if waves.len() > 1 { waves } else { Vec::new() }
}

/// Pruned or orphaned, by the policy the resource's definition had on the base.
fn removal(before: &Outcome, name: &str, defaults: EffectivePolicy) -> Removal {
    let own = before
        .catalog
        .resources
        .get(name)
        .map(|e| &e.object.spec.policy);
    let policy = own.map_or(defaults, |p| EffectivePolicy::resolve(p, defaults));
    let source = match own.and_then(|p| p.prune) {
        Some(_) => "its definition's policy.prune",
        None => "the daemon's default policy",
    };
    if policy.prune {
        Removal {
            outcome: "pruned",
            why: format!(
                "prune: true ({source}): what the daemon deployed for it is destroyed \
                 (within the mass-deletion guard)"
            ),
        }
    } else {
        Removal {
            outcome: "orphaned",
            why: format!(
                "prune: false ({source}): what the daemon deployed keeps running and is \
                 no longer managed"
            ),
        }
    }
}

fn preview_of(
    c: ResourceChange,
    change: Change,
    removal: Option<Removal>,
    invalid_at: Option<String>,
) -> ResourcePreview {
    ResourcePreview {
        name: c.name,
        change,
        provider: c.provider,
        pool: c.pool,
        chart: c.chart,
        nodes: c.nodes,
        size: c.size,
        reasons: c.reasons,
        alternatives: c.alternatives,
        moved_from: c.moved_from,
        monthly_cost: c.monthly_cost,
        files: c.files,
        diff: c.diff,
        diff_truncated: c.diff_truncated,
        removal,
        invalid_at,
        endpoints: None,
        after: Vec::new(),
    }
}

/// Says, for each resource the change moves or removes, where it answers now
/// (`recorded`: the endpoints the daemon last recorded, by resource) and what becomes of
/// that address, so a reviewer sees which links and DNS entries the merge breaks.
pub fn note_endpoints(
    report: &mut Report,
    recorded: &std::collections::BTreeMap<String, Vec<crate::observe::Endpoint>>,
) {
    for r in &mut report.resources {
        let Some(now) = recorded.get(&r.name).filter(|e| !e.is_empty()) else {
            continue;
        };
        let effect = match (&r.removal, &r.moved_from) {
            (Some(removal), _) if removal.outcome == "pruned" => {
                "it is destroyed, so these addresses stop answering".to_owned()
            }
            (Some(_), _) => "it keeps running there, no longer managed by homelabd".to_owned(),
            (None, Some(from)) if r.change == Change::Changed => format!(
                "it moves from {from} to {}, so these addresses change",
                placement_words(r)
            ),
            _ => continue,
        };
        r.endpoints = Some(EndpointChange {
            now: crate::observe::endpoint::describe(now),
            effect,
        });
    }
}

/// "provider pool (nodes)" of a resource's placement on the head.
fn placement_words(r: &ResourcePreview) -> String {
    let mut words = [r.provider.map(|p| p.as_str()), r.pool.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !r.nodes.is_empty() {
        words.push_str(&format!(" ({})", r.nodes.join(", ")));
    }
    words
}

/// Paths whose content differs between two sets of (path, content) pairs.
pub fn changed_paths<'a>(
    before: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    after: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> BTreeSet<String> {
    let old: std::collections::BTreeMap<&str, &[u8]> = before.into_iter().collect();
    let new: std::collections::BTreeMap<&str, &[u8]> = after.into_iter().collect();
    old.keys()
        .chain(new.keys())
        .filter(|p| old.get(*p) != new.get(*p))
        .map(|p| (*p).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApplyPolicy;
    use crate::pipeline::Engine;
    use crate::source::{Snapshot, SourceFile};

    const POOL: &str = include_str!("../../example-repo/pools/docker.yaml");
    const ROOT: &str = include_str!("../../example-repo/pools/homelab.yaml");
    const WORKLOAD: &str = include_str!("../../example-repo/workload-types/web-application.yaml");

    fn app(name: &str, port: u16, policy: &str) -> String {
        format!(
            "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  resource_type: container\n  workload_type: web-application\n  requirements: {{ cpu: 1, memory_gb: 0.5, storage_gb: 2 }}\n  placement: {{ provider: docker, pool: /homelab/docker }}\n  chart:\n    name: docker-compose\n    values:\n      image: nginx:1\n      ports:\n        - {{ name: http, container_port: 80, host_port: {port}, protocol: tcp }}\n{policy}"
        )
    }

    fn outcome(engine: &Engine, defs: &[(&str, String)]) -> Outcome {
        let mut files = vec![
            ("pools/docker.yaml", POOL.to_owned()),
            ("pools/homelab.yaml", ROOT.to_owned()),
            ("workload-types/web.yaml", WORKLOAD.to_owned()),
        ];
        files.extend(defs.iter().cloned());
        engine.run(&Snapshot {
            revision: None,
            files: files
                .into_iter()
                .map(|(p, c)| SourceFile {
                    path: p.to_owned(),
                    content: c.into_bytes(),
                })
                .collect(),
            diagnostics: Vec::new(),
        })
    }

    fn rev(name: &str) -> Revision {
        Revision {
            name: name.into(),
            commit: "0".repeat(40),
        }
    }

    const DEFAULTS: EffectivePolicy = EffectivePolicy {
        apply: ApplyPolicy::Auto,
        self_heal: false,
        prune: false,
    };

    fn changed(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn removed_resources_are_pruned_or_orphaned_by_their_base_policy() {
        let engine = Engine::new().unwrap();
        let before = outcome(
            &engine,
            &[
                ("a.yaml", app("keep", 8080, "")),
                (
                    "b.yaml",
                    app("gone-prune", 8081, "  policy: { prune: true }\n"),
                ),
                ("c.yaml", app("gone-orphan", 8082, "")),
                (
                    "d.yaml",
                    app("gone-no-prune", 8083, "  policy: { prune: false }\n"),
                ),
            ],
        );
        let after = outcome(&engine, &[("a.yaml", app("keep", 8080, ""))]);
        let files = changed(&["b.yaml", "c.yaml", "d.yaml"]);
        let r = build(rev("main"), rev("pr"), &before, &after, &files, DEFAULTS);
        assert!(r.valid);
        let outcome_of = |name: &str| {
            r.resources
                .iter()
                .find(|x| x.name == name)
                .and_then(|x| x.removal.as_ref())
                .map(|x| x.outcome)
        };
        assert_eq!(outcome_of("gone-prune"), Some("pruned"));
        assert_eq!(outcome_of("gone-orphan"), Some("orphaned"));
        assert_eq!(outcome_of("gone-no-prune"), Some("orphaned"));
        assert_eq!(outcome_of("keep"), None);
        assert_eq!(
            (r.counts.removed, r.counts.pruned, r.counts.orphaned),
            (3, 1, 2)
        );
        assert_eq!(r.counts.unchanged, 1);
        // With a pruning default, only the explicit `prune: false` stays orphaned.
        let pruning = EffectivePolicy {
            prune: true,
            ..DEFAULTS
        };
        let r = build(rev("main"), rev("pr"), &before, &after, &files, pruning);
        assert_eq!((r.counts.pruned, r.counts.orphaned), (2, 1));
    }

    #[test]
    fn removed_resources_say_where_they_answer_now_and_what_becomes_of_it() {
        let engine = Engine::new().unwrap();
        let before = outcome(
            &engine,
            &[
                ("a.yaml", app("keep", 8080, "")),
                ("b.yaml", app("gone", 8081, "  policy: { prune: true }\n")),
                ("c.yaml", app("left", 8082, "")),
            ],
        );
        let after = outcome(&engine, &[("a.yaml", app("keep", 8080, ""))]);
        let mut r = build(
            rev("main"),
            rev("pr"),
            &before,
            &after,
            &changed(&["b.yaml", "c.yaml"]),
            DEFAULTS,
        );
        let at = |address: &str| {
            vec![crate::observe::Endpoint {
                kind: crate::observe::endpoint::DOCKER_PORT.into(),
                name: "web 80/tcp".into(),
                address: address.into(),
            }]
        };
        let recorded = [
            ("keep".to_owned(), at("10.0.0.5:8080")),
            ("gone".to_owned(), at("10.0.0.5:8081")),
            ("left".to_owned(), at("10.0.0.5:8082")),
        ]
        .into_iter()
        .collect();
        note_endpoints(&mut r, &recorded);
        let of = |name: &str| {
            r.resources
                .iter()
                .find(|x| x.name == name)
                .and_then(|x| x.endpoints.clone())
        };
        assert_eq!(of("keep"), None, "an unchanged resource keeps its address");
        let gone = of("gone").unwrap();
        assert_eq!(gone.now, "web 80/tcp at 10.0.0.5:8081");
        assert!(gone.effect.contains("stop answering"), "{}", gone.effect);
        assert!(of("left").unwrap().effect.contains("keeps running"));
        let comment = crate::preview::format::markdown(&r);
        assert!(comment.contains("### Addresses that change"), "{comment}");
        assert!(comment.contains("`gone` (web 80/tcp at 10.0.0.5:8081): it is destroyed"));
        assert!(
            crate::preview::format::text(&r).contains("reachable now: web 80/tcp at 10.0.0.5:8081")
        );
    }

    #[test]
    fn an_invalid_head_keeps_the_resource_and_lists_errors_with_lines() {
        let engine = Engine::new().unwrap();
        let before = outcome(&engine, &[("a.yaml", app("web", 8080, ""))]);
        let broken = app("web", 8080, "").replace("cpu: 1", "cpu: four");
        let after = outcome(
            &engine,
            &[
                ("a.yaml", broken),
                (
                    "b.yaml",
                    app("new-bad", 8081, "").replace("cpu: 1", "cpu: x"),
                ),
            ],
        );
        let r = build(
            rev("main"),
            rev("pr"),
            &before,
            &after,
            &changed(&["a.yaml", "b.yaml"]),
            DEFAULTS,
        );
        assert!(!r.valid);
        assert!(r.errors.iter().all(|d| d.line.is_some()), "{:?}", r.errors);
        assert!(r.errors.iter().any(|d| d.file == "a.yaml"));
        assert_eq!(r.counts.removed, 0);
        assert_eq!(r.counts.invalid, 2);
        let web = r.resources.iter().find(|x| x.name == "web").unwrap();
        assert_eq!(web.change, Change::Invalid);
        assert!(web.invalid_at.as_deref().unwrap().starts_with("a.yaml:"));
        assert!(
            r.resources
                .iter()
                .any(|x| x.name == "new-bad" && x.change == Change::Invalid)
        );
    }

    #[test]
    fn created_and_changed_carry_placement_and_diff() {
        let engine = Engine::new().unwrap();
        let before = outcome(&engine, &[("a.yaml", app("web", 8080, ""))]);
        let after = outcome(
            &engine,
            &[
                ("a.yaml", app("web", 9090, "")),
                ("b.yaml", app("new", 8081, "")),
            ],
        );
        let r = build(
            rev("main"),
            rev("pr"),
            &before,
            &after,
            &changed(&["a.yaml", "b.yaml"]),
            DEFAULTS,
        );
        assert_eq!((r.counts.created, r.counts.changed), (1, 1));
        for x in &r.resources {
            assert!(!x.reasons.is_empty(), "{x:?}");
            assert!(!x.diff.is_empty());
        }
        // Docker only: no Terraform note.
        assert!(r.notes.is_empty());
    }

    #[test]
    fn changed_paths_compare_content() {
        let a: Vec<(&str, &[u8])> = vec![("x", b"1"), ("y", b"2"), ("z", b"3")];
        let b: Vec<(&str, &[u8])> = vec![("x", b"1"), ("y", b"changed"), ("w", b"new")];
        assert_eq!(changed_paths(a, b), changed(&["w", "y", "z"]));
    }
}
