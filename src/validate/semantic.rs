//! Cross-document checks: the pool tree and every reference between documents.

use super::{Catalog, Context, Entry, rules};
use crate::diag::Diagnostic;
use crate::model::{
    Capability, DeploymentTemplateSpec, Document, ResourcePoolSpec, UniversalResourceSpec,
    WorkloadTypeSpec, resolve_size,
};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn check(catalog: &mut Catalog, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    check_pools(catalog, diags);
    check_workload_types(catalog, ctx, diags);
    check_templates(catalog, ctx, diags);
    for template in catalog.templates.values() {
        super::secret_refs::check_template(template, ctx, diags);
    }
    let names: Vec<String> = catalog.resources.keys().cloned().collect();
    for name in names {
        let Some(entry) = catalog.resources.get(&name) else {
            continue;
        };
        let before = diags.len();
        check_resource(entry, catalog, ctx, diags);
        super::secret_refs::check_resource(entry, ctx, diags);
        check_health(entry, diags);
        if diags[before..].iter().any(Diagnostic::is_error) {
            catalog.invalidate_resource(&name);
        }
    }
    super::depends::check(catalog, diags);
}

/// `spec.health`: exactly one kind of check, and no reference but the endpoint's.
fn check_health(entry: &Entry<crate::model::UniversalResourceSpec>, diags: &mut Vec<Diagnostic>) {
    let Some(check) = &entry.object.spec.health else {
        return;
    };
    if let Err(e) = check.check_form() {
        diags.push(
            entry
                .doc
                .diagnostic("health-check", "/spec/health", format!("health check: {e}"))
                .expected("one of http, tcp, provider with endpoint references only"),
        );
    }
}

/// Pool paths are unique, every parent exists and is valid, nodes and GPUs are unique.
/// (Paths make cycles impossible: a pool's parent is always a strictly shorter path.)
fn check_pools(catalog: &mut Catalog, diags: &mut Vec<Diagnostic>) {
    let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, pool) in &catalog.pools {
        by_path
            .entry(pool.object.spec.path.clone())
            .or_default()
            .push(name.clone());
    }
    let mut invalid: BTreeSet<String> = BTreeSet::new();
    for names in by_path.values().filter(|n| n.len() > 1) {
        for name in names {
            let pool = &catalog.pools[name];
            diags.push(
                pool.doc
                    .diagnostic(
                        "duplicate-pool-path",
                        "/spec/path",
                        format!(
                            "pool path {} is used by pools {}",
                            pool.object.spec.path,
                            names.join(", ")
                        ),
                    )
                    .expected("a path unique across pools"),
            );
            invalid.insert(name.clone());
        }
    }
    // Shallow paths first, so a pool is judged after its parent.
    let mut order: Vec<(usize, String, String)> = catalog
        .pools
        .iter()
        .map(|(n, p)| {
            (
                p.object.spec.path.matches('/').count(),
                p.object.spec.path.clone(),
                n.clone(),
            )
        })
        .collect();
    order.sort();
    let mut valid_paths: BTreeSet<String> = BTreeSet::new();
    for (_, path, name) in order {
        let pool = &catalog.pools[&name];
        if invalid.contains(&name) {
            continue;
        }
        let mut ok = check_nodes(pool, diags);
        if let Some(parent) = parent_path(&path)
            && !valid_paths.contains(parent)
        {
            let exists = by_path.contains_key(parent);
            diags.push(
                pool.doc
                    .diagnostic(
                        "missing-parent-pool",
                        "/spec/path",
                        if exists {
                            format!("parent pool {parent} is invalid")
                        } else {
                            format!("parent pool {parent} does not exist")
                        },
                    )
                    .expected(format!("a valid ResourcePool with path {parent}"))
                    .found(path.clone()),
            );
            ok = false;
        }
        if ok {
            valid_paths.insert(path);
        } else {
            invalid.insert(name);
        }
    }
    for name in invalid {
        catalog.pools.remove(&name);
    }
}

fn check_nodes(pool: &Entry<ResourcePoolSpec>, diags: &mut Vec<Diagnostic>) -> bool {
    let mut ok = true;
    let mut names = BTreeSet::new();
    for (i, node) in pool.object.spec.nodes.iter().enumerate() {
        if !names.insert(node.name.as_str()) {
            diags.push(
                pool.doc
                    .diagnostic(
                        "duplicate-node",
                        &format!("/spec/nodes/{i}/name"),
                        "node name used twice in this pool",
                    )
                    .found(node.name.clone()),
            );
            ok = false;
        }
        let mut pci = BTreeSet::new();
        for (g, gpu) in node.gpus.iter().enumerate() {
            if !pci.insert(gpu.pci_address.to_ascii_lowercase()) {
                diags.push(
                    pool.doc
                        .diagnostic(
                            "duplicate-gpu",
                            &format!("/spec/nodes/{i}/gpus/{g}/pci_address"),
                            "PCI address listed twice on this node",
                        )
                        .found(gpu.pci_address.clone()),
                );
                ok = false;
            }
        }
    }
    ok
}

/// `/a/b/c` → `/a/b`; `/a` → none.
pub fn parent_path(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

fn check_workload_types(catalog: &mut Catalog, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    let mut invalid = Vec::new();
    for (name, wt) in &catalog.workload_types {
        for (i, role) in wt.object.spec.roles.iter().enumerate() {
            if !ctx.roles.contains(role) {
                diags.push(unknown(
                    &wt.doc,
                    "unknown-role",
                    &format!("/spec/roles/{i}"),
                    "Ansible role",
                    role,
                    ctx.roles.iter(),
                ));
                invalid.push(name.clone());
            }
        }
    }
    for name in invalid {
        catalog.workload_types.remove(&name);
    }
}

fn check_templates(catalog: &mut Catalog, ctx: &Context<'_>, diags: &mut Vec<Diagnostic>) {
    let mut invalid = Vec::new();
    for (name, t) in &catalog.templates {
        let spec = &t.object.spec;
        let before = diags.len();
        if let Some(chart) = &spec.infrastructure.chart {
            match ctx.charts.get(chart) {
                None => diags.push(unknown(
                    &t.doc,
                    "unknown-chart",
                    "/spec/infrastructure/chart",
                    "chart",
                    chart,
                    ctx.charts.keys(),
                )),
                Some(meta) => {
                    if let Some(p) = spec.infrastructure.provider.filter(|p| *p != meta.provider) {
                        diags.push(
                            t.doc
                                .diagnostic(
                                    "provider-mismatch",
                                    "/spec/infrastructure/provider",
                                    format!("chart {chart} renders for {}", meta.provider),
                                )
                                .expected(meta.provider.to_string())
                                .found(p.to_string()),
                        );
                    }
                }
            }
        }
        for (i, role) in spec.configuration.roles.iter().enumerate() {
            if !ctx.roles.contains(role) {
                diags.push(unknown(
                    &t.doc,
                    "unknown-role",
                    &format!("/spec/configuration/roles/{i}"),
                    "Ansible role",
                    role,
                    ctx.roles.iter(),
                ));
            }
        }
        if diags.len() > before {
            invalid.push(name.clone());
        }
    }
    for name in invalid {
        catalog.templates.remove(&name);
    }
}

/// One resource's references, in named steps: its workload type, its template (and
/// the template's rules over its resolved sizes), its chart, where it asks to be placed,
/// and its backup schedule.
fn check_resource(
    entry: &Entry<UniversalResourceSpec>,
    catalog: &Catalog,
    ctx: &Context<'_>,
    diags: &mut Vec<Diagnostic>,
) {
    let spec = &entry.object.spec;
    let doc = &entry.doc;
    let workload = check_workload_type(doc, spec, catalog, diags);
    let template = find_template(doc, spec, catalog, diags);
    if let Some(t) = template {
        check_template_fit(doc, spec, t, workload, diags);
    }
    if let Some(chart) = &spec.chart.name {
        check_chart(doc, spec, chart, ctx, workload, template, diags);
    }
    check_pool_and_node(doc, spec, catalog, diags);
    check_backup_schedule(doc, spec, diags);
    check_rollout_limits(doc, spec, diags);
}

type WorkloadEntry = Entry<WorkloadTypeSpec>;
type TemplateEntry = Entry<DeploymentTemplateSpec>;

/// The resource's workload type exists and applies to its resource type.
fn check_workload_type<'c>(
    doc: &Document,
    spec: &UniversalResourceSpec,
    catalog: &'c Catalog,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'c WorkloadEntry> {
    let workload = catalog.workload_types.get(&spec.workload_type);
    match workload {
        None => diags.push(unknown(
            doc,
            "unknown-workload-type",
            "/spec/workload_type",
            "WorkloadType",
            &spec.workload_type,
            catalog.workload_types.keys(),
        )),
        Some(wt) => {
            let allowed = &wt.object.spec.resource_types;
            if !allowed.is_empty() && !allowed.contains(&spec.resource_type) {
                diags.push(
                    doc.diagnostic(
                        "resource-type",
                        "/spec/resource_type",
                        format!(
                            "workload type {} does not apply to this resource type",
                            spec.workload_type
                        ),
                    )
                    .expected(format!(
                        "one of {}",
                        allowed
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .found(spec.resource_type.as_str()),
                );
            }
        }
    }
    workload
}

/// The template the resource names, if it names one (unknown: a diagnostic).
fn find_template<'c>(
    doc: &Document,
    spec: &UniversalResourceSpec,
    catalog: &'c Catalog,
    diags: &mut Vec<Diagnostic>,
) -> Option<&'c TemplateEntry> {
    spec.template.as_ref().and_then(|t| {
        let found = catalog.templates.get(t);
        if found.is_none() {
            diags.push(unknown(
                doc,
                "unknown-template",
                "/spec/template",
                "DeploymentTemplate",
                t,
                catalog.templates.keys(),
            ));
        }
        found
    })
}

/// The template's rules hold for the resource's resolved sizes, and the template's
/// provider agrees with the one the resource asks for.
fn check_template_fit(
    doc: &Document,
    spec: &UniversalResourceSpec,
    t: &TemplateEntry,
    workload: Option<&WorkloadEntry>,
    diags: &mut Vec<Diagnostic>,
) {
    // Rules see the sizes the resource will really get, not only what it wrote.
    let mut effective = doc.value()["spec"].clone();
    if let Some(wt) = workload {
        let sized = resolve_size(
            spec,
            Some((t.name(), &t.object.spec)),
            (wt.name(), &wt.object.spec),
        );
        if let Some(req) = effective
            .as_object_mut()
            .map(|o| {
                o.entry("requirements")
                    .or_insert_with(|| serde_json::json!({}))
            })
            .and_then(|r| r.as_object_mut())
        {
            req.insert("cpu".into(), sized.cpu.into());
            req.insert("memory_gb".into(), sized.memory_gb.into());
            req.insert("storage_gb".into(), sized.storage_gb.into());
            req.insert("gpu".into(), sized.gpu.into());
        }
    }
    for rule in &t.object.spec.validation.rules {
        if let Some((expected, found)) = rules::check(rule, &effective) {
            diags.push(
                doc.diagnostic(
                    "template-rule",
                    &format!("/spec{}", rule.field),
                    format!("{} (rule of template {})", rule.message, t.name()),
                )
                .expected(expected)
                .found(found),
            );
        }
    }
    if let (Some(a), Some(b)) = (
        spec.placement.provider,
        t.object.spec.infrastructure.provider,
    ) && a != b
    {
        diags.push(
            doc.diagnostic(
                "provider-mismatch",
                "/spec/placement/provider",
                format!("template {} is for {b}", t.name()),
            )
            .expected(b.to_string())
            .found(a.to_string()),
        );
    }
}

/// The named chart exists, renders this resource and workload type for the provider
/// asked for, and has every capability the resource needs.
fn check_chart(
    doc: &Document,
    spec: &UniversalResourceSpec,
    chart: &str,
    ctx: &Context<'_>,
    workload: Option<&WorkloadEntry>,
    template: Option<&TemplateEntry>,
    diags: &mut Vec<Diagnostic>,
) {
    match ctx.charts.get(chart) {
        None => diags.push(unknown(
            doc,
            "unknown-chart",
            "/spec/chart/name",
            "chart",
            chart,
            ctx.charts.keys(),
        )),
        Some(meta) => {
            if !meta.supports(spec.resource_type, &spec.workload_type) {
                diags.push(
                    doc.diagnostic(
                        "chart-unsupported",
                        "/spec/chart/name",
                        format!(
                            "chart {chart} does not render {} resources of workload type {}",
                            spec.resource_type.as_str(),
                            spec.workload_type
                        ),
                    )
                    .expected(format!(
                        "resource types {:?}, workload types {:?}",
                        meta.resource_types, meta.workload_types
                    )),
                );
            }
            if let Some(p) = spec.placement.provider.filter(|p| *p != meta.provider) {
                diags.push(
                    doc.diagnostic(
                        "provider-mismatch",
                        "/spec/placement/provider",
                        format!("chart {chart} renders for {}", meta.provider),
                    )
                    .expected(meta.provider.to_string())
                    .found(p.to_string()),
                );
            }
            if let Some(wt) = workload {
                let sized = resolve_size(
                    spec,
                    template.map(|t| (t.name(), &t.object.spec)),
                    (wt.name(), &wt.object.spec),
                );
                for cap in meta.missing(&needed_capabilities(spec, sized.gpu)) {
                    diags.push(
                        doc.diagnostic(
                            "chart-capability",
                            "/spec/chart/name",
                            format!("chart {chart} cannot provide {}", cap.as_str()),
                        )
                        .expected(format!("a chart with capability {}", cap.as_str())),
                    );
                }
            }
        }
    }
}

/// The pool the resource asks for exists and holds the node it asks for (or, without a
/// pool, some pool has that node).
fn check_pool_and_node(
    doc: &Document,
    spec: &UniversalResourceSpec,
    catalog: &Catalog,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(pool_path) = &spec.placement.pool {
        match catalog.pool_by_path(pool_path) {
            None => diags.push(unknown(
                doc,
                "unknown-pool",
                "/spec/placement/pool",
                "ResourcePool path",
                pool_path,
                catalog.pools.values().map(|p| &p.object.spec.path),
            )),
            Some(_) => {
                if let Some(node) = &spec.placement.node {
                    let in_subtree = catalog.pools.values().any(|p| {
                        is_within(&p.object.spec.path, pool_path)
                            && p.object.spec.nodes.iter().any(|n| &n.name == node)
                    });
                    if !in_subtree {
                        diags.push(
                            doc.diagnostic(
                                "unknown-node",
                                "/spec/placement/node",
                                format!("no node {node} in pool {pool_path} or below"),
                            )
                            .found(node.clone()),
                        );
                    }
                }
            }
        }
    } else if let Some(node) = &spec.placement.node
        && !catalog
            .pools
            .values()
            .any(|p| p.object.spec.nodes.iter().any(|n| &n.name == node))
    {
        diags.push(
            doc.diagnostic(
                "unknown-node",
                "/spec/placement/node",
                format!("no pool has a node {node}"),
            )
            .found(node.clone()),
        );
    }
}

/// The backup schedule, if any, is a cron schedule.
fn check_backup_schedule(
    doc: &Document,
    spec: &UniversalResourceSpec,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(schedule) = &spec.deployment.backup_schedule {
        // Crontab's five fields; the cron crate wants seconds first.
        if let Err(e) = format!("0 {schedule}").parse::<cron::Schedule>() {
            diags.push(
                doc.diagnostic(
                    "backup-schedule",
                    "/spec/deployment/backup_schedule",
                    format!("not a cron schedule: {e}"),
                )
                .expected("five cron fields, e.g. \"0 3 * * *\"")
                .found(schedule.clone()),
            );
        }
    }
}

/// Sync windows have a cron schedule and a duration; the flapping window is a duration.
fn check_rollout_limits(doc: &Document, spec: &UniversalResourceSpec, diags: &mut Vec<Diagnostic>) {
    use crate::model::window::{parse_duration, parse_schedule};
    for (i, w) in spec.policy.windows.iter().flatten().enumerate() {
        if let Err(e) = parse_schedule(&w.schedule) {
            diags.push(
                doc.diagnostic(
                    "sync-window",
                    &format!("/spec/policy/windows/{i}/schedule"),
                    e.to_string(),
                )
                .expected("five cron fields, e.g. \"0 2 * * *\"")
                .found(w.schedule.clone()),
            );
        }
        if let Err(e) = parse_duration(&w.duration) {
            diags.push(
                doc.diagnostic(
                    "sync-window",
                    &format!("/spec/policy/windows/{i}/duration"),
                    e.to_string(),
                )
                .expected("a duration from 1m to 31d, e.g. \"2h\"")
                .found(w.duration.clone()),
            );
        }
    }
    if let Some(window) = spec
        .policy
        .flapping
        .as_ref()
        .and_then(|f| f.window.as_ref())
        && let Err(e) = parse_duration(window)
    {
        diags.push(
            doc.diagnostic("flapping", "/spec/policy/flapping/window", e.to_string())
                .expected("a duration from 1m to 31d, e.g. \"10m\"")
                .found(window.clone()),
        );
    }
}

/// The capabilities a chart must have to render `spec`.
pub fn needed_capabilities(spec: &UniversalResourceSpec, gpu: bool) -> Vec<Capability> {
    let mut caps = Vec::new();
    if gpu {
        caps.push(Capability::Gpu);
    }
    if spec.requirements.high_availability || spec.requirements.replica_count() > 1 {
        caps.push(Capability::HighAvailability);
    }
    if spec.deployment.backup_required {
        caps.push(Capability::Backup);
    }
    caps
}

/// Is pool `path` equal to `ancestor` or below it?
pub fn is_within(path: &str, ancestor: &str) -> bool {
    path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

/// "unknown X" with the known names (a few) as the expectation.
pub(super) fn unknown<'a>(
    doc: &crate::model::Document,
    code: &'static str,
    pointer: &str,
    what: &str,
    found: &str,
    known: impl Iterator<Item = &'a String>,
) -> Diagnostic {
    let mut known: Vec<&String> = known.collect();
    known.sort();
    known.dedup();
    let mut list: Vec<&str> = known.iter().take(12).map(|s| s.as_str()).collect();
    if known.len() > 12 {
        list.push("…");
    }
    let expected = if list.is_empty() {
        format!("a defined {what} (none are defined)")
    } else {
        format!("one of {}", list.join(", "))
    };
    doc.diagnostic(code, pointer, format!("unknown {what}"))
        .expected(expected)
        .found(found.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_paths_nest_by_prefix() {
        assert_eq!(parent_path("/a/b/c"), Some("/a/b"));
        assert_eq!(parent_path("/a"), None);
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(!is_within("/ab", "/a"));
    }
}
