//! Turning one pipeline outcome and its plan into store records (pure).

use crate::diag::Diagnostic;
use crate::pipeline::Outcome;
use crate::reconcile::{Action, EffectivePolicy, ResourceState, Step};
use crate::store::{AuditRecord, CatalogRecord, ResourceRecord, RevisionRecord};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The revision row for `outcome`.
pub fn revision_record(commit: &str, outcome: &Outcome, now: DateTime<Utc>) -> RevisionRecord {
    RevisionRecord {
        commit: commit.to_owned(),
        seen_at: now,
        valid: !outcome.has_errors(),
        resources_valid: outcome.rendered.len() as i64,
        resources_invalid: outcome.catalog.invalid_resources.len() as i64,
        errors: outcome.error_count() as i64,
        warnings: outcome.warning_count() as i64,
        diagnostics: serde_json::to_value(&outcome.diagnostics).unwrap_or_default(),
    }
}

/// The stored record of a resource that was just rendered. What was last applied
/// (`applied_hash`) carries over from `previous`; the apply itself is recorded later.
pub fn rendered_record(
    name: &str,
    commit: &str,
    outcome: &Outcome,
    previous: Option<&ResourceRecord>,
    defaults: EffectivePolicy,
    now: DateTime<Utc>,
) -> Option<ResourceRecord> {
    let rendered = outcome.rendered.get(name)?;
    let decision = outcome.decisions.get(name)?;
    let entry = outcome.catalog.resources.get(name)?;
    let policy = EffectivePolicy::resolve(&entry.object.spec.policy, defaults);
    let output_hash = rendered.manifest.output_hash.clone();
    let applied_hash = previous.and_then(|p| p.applied_hash.clone());
    // An applied hash may carry secret digests after the output hash; a rotated value
    // is the apply phase's business, not a change of the render.
    let applied_output = applied_hash
        .as_deref()
        .map(crate::secrets::refs::marker_output);
    let (state, reason) = if applied_output == Some(output_hash.as_str()) {
        let applied = previous.map(|p| p.state) == Some(ResourceState::Applied);
        if applied {
            (
                ResourceState::Applied,
                "applied; render unchanged".to_owned(),
            )
        } else {
            (
                ResourceState::Rendered,
                "rendered; same output as last applied".to_owned(),
            )
        }
    } else {
        (
            ResourceState::Rendered,
            "rendered, not applied yet".to_owned(),
        )
    };
    Some(ResourceRecord {
        name: name.to_owned(),
        state,
        reason: Some(reason),
        provider: Some(decision.provider),
        pool: Some(decision.pool.clone()),
        chart: Some(rendered.manifest.chart.clone()),
        resource_type: Some(entry.object.spec.resource_type.as_str().to_owned()),
        placement: placement_with_target(decision, &rendered.target),
        dimensions: serde_json::to_value(&entry.object.spec.dimensions).ok(),
        desired_revision: Some(commit.to_owned()),
        input_hash: Some(rendered.manifest.input_hash.clone()),
        output_hash: Some(output_hash),
        source: Some(format!("{}:{}", entry.doc.file, entry.doc.start.0)),
        last_error: None,
        last_error_at: None,
        updated_at: now,
        applied_hash,
        applied_revision: previous.and_then(|p| p.applied_revision.clone()),
        policy: Some(stored_policy(policy, &entry.object.spec)),
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
    })
}

/// The stored policy: the effective one, with what the loop reads from it later
/// (`depends_on`, the resource's own sync windows and flapping limit).
fn stored_policy(
    policy: EffectivePolicy,
    spec: &crate::model::UniversalResourceSpec,
) -> serde_json::Value {
    use crate::reconcile::{flapping, order, window};
    let json = window::with_windows(policy.to_json(), spec.policy.windows.as_ref());
    let json = flapping::with_flapping(json, spec.policy.flapping.as_ref());
    let json = order::with_depends_on(json, &spec.depends_on);
    let json = crate::reconcile::health::with_health(json, spec.health.as_ref());
    crate::reconcile::rollback::with_rollback(json, spec.policy.rollback)
}

/// The stored placement: the decision, and the target it resolved to (for status).
fn placement_with_target(
    decision: &crate::place::Decision,
    target: &crate::target::Target,
) -> Option<serde_json::Value> {
    let mut value = serde_json::to_value(decision).ok()?;
    if let Some(map) = value.as_object_mut() {
        map.insert("target".to_owned(), serde_json::to_value(target).ok()?);
    }
    Some(value)
}

/// An invalid resource keeps its last good desired state; only state and error change.
pub fn invalid_record(
    step: &Step,
    previous: Option<&ResourceRecord>,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> ResourceRecord {
    let errors: Vec<&Diagnostic> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && d.name.as_deref() == Some(step.resource.as_str()))
        .collect();
    let mut message: Vec<String> = errors.iter().take(3).map(|d| d.to_string()).collect();
    if errors.len() > 3 {
        message.push(format!("… and {} more", errors.len() - 3));
    }
    if message.is_empty() {
        message.push(step.reason.clone());
    }
    let source = outcome
        .catalog
        .invalid_resources
        .get(&step.resource)
        .map(|w| format!("{}:{}", w.file, w.line));
    let mut record = previous
        .cloned()
        .unwrap_or_else(|| empty_record(&step.resource, now));
    record.state = ResourceState::Invalid;
    record.reason = Some(match &record.desired_revision {
        Some(rev) => format!("invalid; keeping the last good state from {}", short(rev)),
        None => "invalid; never rendered".to_owned(),
    });
    record.source = source.or(record.source);
    record.last_error = Some(message.join("\n"));
    record.last_error_at = Some(now);
    record.updated_at = now;
    record
}

/// A resource whose definition disappeared from a clean commit.
pub fn orphaned_record(
    previous: &ResourceRecord,
    commit: &str,
    now: DateTime<Utc>,
) -> ResourceRecord {
    let mut record = previous.clone();
    record.state = ResourceState::Orphaned;
    record.reason = Some(format!(
        "no longer defined in {}; not pruned",
        short(commit)
    ));
    record.updated_at = now;
    record
}

/// A resource whose render or write failed.
pub fn failed_record(
    previous: Option<&ResourceRecord>,
    name: &str,
    error: String,
    now: DateTime<Utc>,
) -> ResourceRecord {
    let mut record = previous.cloned().unwrap_or_else(|| empty_record(name, now));
    record.state = ResourceState::RenderFailed;
    record.reason = Some("render or write failed; retrying with backoff".to_owned());
    record.last_error = Some(error);
    record.last_error_at = Some(now);
    record.updated_at = now;
    record
}

fn empty_record(name: &str, now: DateTime<Utc>) -> ResourceRecord {
    ResourceRecord {
        name: name.to_owned(),
        state: ResourceState::Invalid,
        reason: None,
        provider: None,
        pool: None,
        chart: None,
        resource_type: None,
        placement: None,
        dimensions: None,
        desired_revision: None,
        input_hash: None,
        output_hash: None,
        source: None,
        last_error: None,
        last_error_at: None,
        updated_at: now,
        applied_hash: None,
        applied_revision: None,
        policy: None,
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
    }
}

/// Pools and templates of the outcome, for the catalog tables.
pub fn catalog_records(outcome: &Outcome) -> (Vec<CatalogRecord>, Vec<CatalogRecord>) {
    let pools = outcome
        .catalog
        .pools
        .values()
        .map(|p| CatalogRecord {
            name: p.name().to_owned(),
            path: Some(p.object.spec.path.clone()),
            spec: serde_json::to_value(&p.object.spec).unwrap_or_default(),
            dimensions: p.object.spec.dimensions.clone(),
        })
        .collect();
    let templates = outcome
        .catalog
        .templates
        .values()
        .map(|t| CatalogRecord {
            name: t.name().to_owned(),
            path: None,
            spec: serde_json::to_value(&t.object.spec).unwrap_or_default(),
            dimensions: t.object.spec.dimensions.clone(),
        })
        .collect();
    (pools, templates)
}

/// One audit row by the daemon.
pub fn audit(
    action: &str,
    subject: &str,
    details: serde_json::Value,
    now: DateTime<Utc>,
) -> AuditRecord {
    AuditRecord {
        at: now,
        actor: "daemon".to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details,
    }
}

/// Resource counts by state.
pub fn counts(records: &BTreeMap<String, ResourceRecord>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in records.values() {
        *out.entry(r.state.as_str().to_owned()).or_default() += 1;
    }
    out
}

/// The audit action for a plan step.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "resource.created",
        Action::Update => "resource.updated",
        Action::Unchanged => "resource.unchanged",
        Action::Invalid => "resource.invalid",
        Action::Orphaned => "resource.orphaned",
    }
}

/// The first 12 characters of a commit id.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}
