//! The events homelabd notifies about, and their outbox records (pure).

use crate::reconcile::drift::Deviation;
use crate::store::{NotificationRecord, ProposalRecord};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "apply.failed")]
    ApplyFailed,
    /// An apply succeeded after the previous one had failed.
    #[serde(rename = "apply.recovered")]
    ApplyRecovered,
    #[serde(rename = "drift.detected")]
    DriftDetected,
    #[serde(rename = "drift.resolved")]
    DriftResolved,
    #[serde(rename = "proposal.opened")]
    ProposalOpened,
    /// Git or the database became unreachable.
    #[serde(rename = "daemon.degraded")]
    DaemonDegraded,
    /// It is reachable again.
    #[serde(rename = "daemon.recovered")]
    DaemonRecovered,
    /// A new head of the tracked branch failed signature verification; the last verified
    /// revision stays in force.
    #[serde(rename = "source.refused")]
    SourceRefused,
    /// A verified head was accepted again after a refusal.
    #[serde(rename = "source.accepted")]
    SourceAccepted,
    /// Where a resource can be reached changed (first seen, moved, gone).
    #[serde(rename = "endpoints.changed")]
    EndpointsChanged,
    /// A resource's automatic applies reached the flapping limit; nothing is tried
    /// again until its definition changes or an operator asks.
    #[serde(rename = "resource.degraded")]
    ResourceDegraded,
    /// A new revision failed or was not healthy in time, and the last healthy output was
    /// applied again.
    #[serde(rename = "resource.rolled_back")]
    ResourceRolledBack,
}

impl EventType {
    /// Every event type, in a fixed order.
    pub const ALL: [EventType; 12] = [
        EventType::ApplyFailed,
        EventType::ApplyRecovered,
        EventType::DriftDetected,
        EventType::DriftResolved,
        EventType::ProposalOpened,
        EventType::DaemonDegraded,
        EventType::DaemonRecovered,
        EventType::SourceRefused,
        EventType::SourceAccepted,
        EventType::EndpointsChanged,
        EventType::ResourceDegraded,
        EventType::ResourceRolledBack,
    ];

    /// The stored and configured name, e.g. `apply.failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ApplyFailed => "apply.failed",
            EventType::ApplyRecovered => "apply.recovered",
            EventType::DriftDetected => "drift.detected",
            EventType::DriftResolved => "drift.resolved",
            EventType::ProposalOpened => "proposal.opened",
            EventType::DaemonDegraded => "daemon.degraded",
            EventType::DaemonRecovered => "daemon.recovered",
            EventType::SourceRefused => "source.refused",
            EventType::SourceAccepted => "source.accepted",
            EventType::EndpointsChanged => "endpoints.changed",
            EventType::ResourceDegraded => "resource.degraded",
            EventType::ResourceRolledBack => "resource.rolled_back",
        }
    }

    /// The type named `name`, if any.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// How urgent an event is (the same scale as a deviation's); sinks filter with
/// `min_severity`.
pub use crate::reconcile::drift::Severity;

/// A part of the daemon whose loss degrades it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Git,
    Database,
}

impl Component {
    /// The event subject.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Git => "git",
            Component::Database => "database",
        }
    }
}

fn record(
    event: EventType,
    severity: Severity,
    subject: &str,
    summary: String,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> NotificationRecord {
    NotificationRecord {
        id: uuid::Uuid::new_v4(),
        event_type: event.as_str().to_owned(),
        severity: severity.as_str().to_owned(),
        subject: subject.to_owned(),
        summary,
        details,
        occurred_at: at,
    }
}

/// The first line of `text`, at most 300 characters: summaries stay one readable line.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// What an apply run was: the facts both apply events carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyFacts<'a> {
    pub resource: &'a str,
    pub run: &'a str,
    pub executor: &'a str,
    /// `apply` or `destroy`.
    pub operation: &'a str,
    pub revision: Option<&'a str>,
    pub exit_code: Option<i32>,
}

/// An apply or destroy failed.
pub fn apply_failed(facts: &ApplyFacts<'_>, error: &str, at: DateTime<Utc>) -> NotificationRecord {
    record(
        EventType::ApplyFailed,
        Severity::Critical,
        facts.resource,
        format!(
            "{} of {} failed: {}",
            facts.operation,
            facts.resource,
            one_line(error)
        ),
        json!({
            "resource": facts.resource,
            "run": facts.run,
            "executor": facts.executor,
            "operation": facts.operation,
            "revision": facts.revision,
            "exit_code": facts.exit_code,
            "error": error,
        }),
        at,
    )
}

/// An apply succeeded after the previous one had failed.
pub fn apply_recovered(facts: &ApplyFacts<'_>, at: DateTime<Utc>) -> NotificationRecord {
    record(
        EventType::ApplyRecovered,
        Severity::Info,
        facts.resource,
        format!(
            "{} applied successfully again by {}",
            facts.resource, facts.executor
        ),
        json!({
            "resource": facts.resource,
            "run": facts.run,
            "executor": facts.executor,
            "operation": facts.operation,
            "revision": facts.revision,
        }),
        at,
    )
}

/// A resource reached its flapping limit (`max_attempts` automatic applies within
/// `window`) and is left degraded.
pub fn resource_degraded(
    resource: &str,
    reason: &str,
    max_attempts: u32,
    window: std::time::Duration,
    last_error: Option<&str>,
    at: DateTime<Utc>,
) -> NotificationRecord {
    record(
        EventType::ResourceDegraded,
        Severity::Critical,
        resource,
        format!("{resource} is degraded: {}", one_line(reason)),
        json!({
            "resource": resource,
            "reason": reason,
            "max_attempts": max_attempts,
            "window_seconds": window.as_secs(),
            "last_error": last_error,
        }),
        at,
    )
}

/// A resource was rolled back from `bad` to the last healthy revision `good`.
pub fn resource_rolled_back(
    resource: &str,
    bad: &str,
    good: &str,
    why: &str,
    run: &str,
    at: DateTime<Utc>,
) -> NotificationRecord {
    record(
        EventType::ResourceRolledBack,
        Severity::Warning,
        resource,
        format!(
            "{resource} rolled back to {} ({} {})",
            short(good),
            short(bad),
            one_line(why)
        ),
        json!({
            "resource": resource,
            "run": run,
            "from_revision": bad,
            "to_revision": good,
            "reason": why,
        }),
        at,
    )
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

/// A new deviation was found.
pub fn drift_detected(d: &Deviation, at: DateTime<Utc>) -> NotificationRecord {
    record(
        EventType::DriftDetected,
        d.severity,
        &d.resource,
        format!("drift on {}: {}", d.resource, one_line(&d.message)),
        json!({
            "resource": d.resource,
            "key": d.key,
            "type": d.kind.as_str(),
            "auto_correctable": d.auto_correctable,
            "corrective_action": d.corrective_action,
            "expected": d.expected,
            "actual": d.actual,
            "message": d.message,
        }),
        at,
    )
}

/// An open deviation is gone.
pub fn drift_resolved(
    resource: &str,
    key: &str,
    resolved_by: &str,
    at: DateTime<Utc>,
) -> NotificationRecord {
    record(
        EventType::DriftResolved,
        Severity::Info,
        resource,
        format!("drift on {resource} resolved ({key}, by {resolved_by})"),
        json!({"resource": resource, "key": key, "resolved_by": resolved_by}),
        at,
    )
}

/// Where `resource` can be reached changed from `before` to `now`.
pub fn endpoints_changed(
    resource: &str,
    before: &[crate::reconcile::endpoint::Endpoint],
    now: &[crate::reconcile::endpoint::Endpoint],
    at: DateTime<Utc>,
) -> NotificationRecord {
    use crate::reconcile::endpoint::describe;
    record(
        EventType::EndpointsChanged,
        Severity::Info,
        resource,
        one_line(&format!("{resource} is reachable: {}", describe(now))),
        json!({"resource": resource, "endpoints": now, "before": before}),
        at,
    )
}

/// A proposal (branch, commit, maybe a pull request) was made.
pub fn proposal_opened(p: &ProposalRecord) -> NotificationRecord {
    let summary = match &p.pr_url {
        Some(url) => format!("proposal by {} opened: {url}", p.client),
        None => format!(
            "proposal by {} on branch {} ({})",
            p.client, p.branch, p.status
        ),
    };
    record(
        EventType::ProposalOpened,
        Severity::Info,
        &p.branch,
        summary,
        json!({
            "proposal": p.id.to_string(),
            "tool": p.tool,
            "client": p.client,
            "branch": p.branch,
            "commit": p.commit,
            "pr_url": p.pr_url,
            "status": p.status,
            "title": p.details.get("title"),
        }),
        p.created_at,
    )
}

/// `component` became unreachable at `since`.
pub fn degraded(component: Component, error: &str, since: DateTime<Utc>) -> NotificationRecord {
    record(
        EventType::DaemonDegraded,
        Severity::Critical,
        component.as_str(),
        format!(
            "homelabd degraded: {} unreachable: {}",
            component.as_str(),
            one_line(error)
        ),
        json!({"component": component.as_str(), "error": error, "since": since}),
        since,
    )
}

/// `component` is reachable again at `at` after being down since `since`.
pub fn recovered(
    component: Component,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> NotificationRecord {
    let down = (at - since).num_seconds().max(0);
    record(
        EventType::DaemonRecovered,
        Severity::Info,
        component.as_str(),
        format!(
            "homelabd recovered: {} reachable again after {down}s",
            component.as_str()
        ),
        json!({"component": component.as_str(), "since": since, "down_seconds": down}),
        at,
    )
}

/// The tracked branch's new head was refused by signature verification; `kept` is the
/// verified revision still reconciled.
pub fn source_refused(
    refusal: &crate::source::verify::Refusal,
    kept: Option<&str>,
    at: DateTime<Utc>,
) -> NotificationRecord {
    record(
        EventType::SourceRefused,
        Severity::Critical,
        &refusal.head,
        format!(
            "{}; keeping {}",
            one_line(&refusal.describe()),
            kept.map(|k| k.get(..12).unwrap_or(k))
                .unwrap_or("nothing (no verified revision yet)")
        ),
        json!({
            "head": refusal.head,
            "commit": refusal.commit,
            "reason": refusal.reason.as_str(),
            "detail": refusal.detail,
            "kept_revision": kept,
        }),
        at,
    )
}

/// A verified head was accepted after a refusal.
pub fn source_accepted(head: &str, signer: Option<&str>, at: DateTime<Utc>) -> NotificationRecord {
    record(
        EventType::SourceAccepted,
        Severity::Info,
        head,
        format!(
            "commit {} accepted again{}",
            head.get(..12).unwrap_or(head),
            signer
                .map(|s| format!(" (signed by {s})"))
                .unwrap_or_default()
        ),
        json!({"head": head, "signer": signer}),
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ApplyFacts<'static> {
        ApplyFacts {
            resource: "web",
            run: "run-1",
            executor: "docker-compose",
            operation: "apply",
            revision: Some("abc1234"),
            exit_code: Some(3),
        }
    }

    #[test]
    fn every_type_round_trips_by_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert_eq!(EventType::parse("apply.exploded"), None);
    }

    #[test]
    fn severities_order_from_info_to_critical() {
        assert!(Severity::Info < Severity::Warning);
        assert!(Severity::Warning < Severity::Critical);
        assert_eq!(Severity::parse("warning"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
    }

    #[test]
    fn apply_failed_is_critical_with_a_one_line_summary() {
        let at = Utc::now();
        let n = apply_failed(&facts(), "compose exited with 3\nlong stderr", at);
        assert_eq!(n.event_type, "apply.failed");
        assert_eq!(n.severity, "critical");
        assert_eq!(n.subject, "web");
        assert_eq!(n.summary, "apply of web failed: compose exited with 3");
        assert_eq!(n.details["exit_code"], 3);
        assert_eq!(n.details["error"], "compose exited with 3\nlong stderr");
        assert_eq!(n.occurred_at, at);
    }

    #[test]
    fn each_event_gets_its_own_id() {
        let at = Utc::now();
        assert_ne!(
            apply_recovered(&facts(), at).id,
            apply_recovered(&facts(), at).id
        );
    }

    #[test]
    fn long_errors_are_cut_in_the_summary_only() {
        let error = "x".repeat(1000);
        let n = apply_failed(&facts(), &error, Utc::now());
        assert!(n.summary.chars().count() < 340);
        assert!(n.summary.ends_with('…'));
        assert_eq!(n.details["error"].as_str().unwrap().len(), 1000);
    }

    #[test]
    fn recovery_reports_how_long_it_was_down() {
        let since = Utc::now();
        let n = recovered(
            Component::Database,
            since,
            since + chrono::Duration::seconds(42),
        );
        assert_eq!(n.event_type, "daemon.recovered");
        assert_eq!(n.subject, "database");
        assert_eq!(n.details["down_seconds"], 42);
        assert!(n.summary.contains("after 42s"));
    }
}
