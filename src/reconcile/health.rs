//! Health in the loop (pure): the record the store keeps per resource (healthy or
//! unhealthy, why, when checked and since when), the decision after each attempt while
//! an apply waits to become healthy, the deviation an unhealthy resource opens, and the
//! check kept in the stored policy JSON so the loop knows it without the catalog.

use super::ResourceRecord;
use super::drift::{Deviation, DeviationKind, Severity};
use crate::model::health::HealthCheck;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The key under which the stored policy keeps `spec.health`.
const STORED_KEY: &str = "health";

/// The deviation key of a failing health check (one per resource).
pub const DEVIATION_KEY: &str = "health";

/// Whether a resource answers its health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The status stored as `name`.
    pub fn parse(name: &str) -> Option<HealthStatus> {
        [HealthStatus::Healthy, HealthStatus::Unhealthy]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One resource's last health check (a row of `resource_health`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub resource: String,
    pub status: HealthStatus,
    /// What the last attempt saw: "HTTP 200", "connection refused", "not healthy within 60 s: …".
    pub reason: String,
    pub checked_at: DateTime<Utc>,
    /// When the status last changed.
    pub since: DateTime<Utc>,
    /// The applied render (`applied_hash`) it was checked against.
    pub applied_hash: Option<String>,
}

impl HealthRecord {
    /// The record after a check at `now`: `since` moves only when the status changes.
    pub fn next(
        previous: Option<&HealthRecord>,
        resource: &str,
        status: HealthStatus,
        reason: String,
        applied_hash: Option<String>,
        now: DateTime<Utc>,
    ) -> HealthRecord {
        let since = previous
            .filter(|p| p.status == status)
            .map(|p| p.since)
            .unwrap_or(now);
        HealthRecord {
            resource: resource.to_owned(),
            status,
            reason,
            checked_at: now,
            since,
            applied_hash,
        }
    }

    /// Healthy, and checked against the render applied now.
    pub fn healthy_for(&self, applied_hash: Option<&str>) -> bool {
        self.status == HealthStatus::Healthy && self.applied_hash.as_deref() == applied_hash
    }
}

/// What one attempt saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub passed: bool,
    /// "HTTP 200", "connection refused", "container web exited (1)".
    pub detail: String,
}

/// What to do after an attempt while an apply waits to become healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy {
        reason: String,
    },
    /// Try again after the interval.
    Again,
    Unhealthy {
        reason: String,
    },
}

/// After an attempt `elapsed` into a wait of `timeout`: healthy as soon as one passes;
/// unhealthy when the next attempt would start past the timeout.
pub fn after_attempt(
    attempt: &Attempt,
    elapsed: Duration,
    interval: Duration,
    timeout: Duration,
) -> Verdict {
    if attempt.passed {
        Verdict::Healthy {
            reason: attempt.detail.clone(),
        }
    } else if elapsed + interval > timeout {
        Verdict::Unhealthy {
            reason: format!(
                "not healthy within {} s: {}",
                timeout.as_secs(),
                attempt.detail
            ),
        }
    } else {
        Verdict::Again
    }
}

/// The deviation an unhealthy resource has open (resolved when it is healthy again).
pub fn deviation(resource: &str, reason: &str) -> Deviation {
    Deviation {
        resource: resource.to_owned(),
        key: DEVIATION_KEY.to_owned(),
        kind: DeviationKind::ResourceChange,
        severity: Severity::Critical,
        // Re-applying the same render rarely mends a failing service: a person (or a
        // rollback) decides.
        auto_correctable: false,
        corrective_action: format!(
            "look at {resource}'s logs; with policy.rollback: auto a revision that is not healthy in time is rolled back"
        ),
        expected: serde_json::json!({"health": "healthy"}),
        actual: serde_json::json!({"health": "unhealthy", "reason": reason}),
        message: format!("health check failing: {reason}"),
    }
}

/// `policy` (a stored effective policy) with the health check added when there is one.
pub fn with_health(
    mut policy: serde_json::Value,
    check: Option<&HealthCheck>,
) -> serde_json::Value {
    if let (Some(map), Some(check)) = (policy.as_object_mut(), check)
        && let Ok(value) = serde_json::to_value(check)
    {
        map.insert(STORED_KEY.to_owned(), value);
    }
    policy
}

/// The health check kept in a stored record (none when absent or unreadable).
pub fn stored_health(record: &ResourceRecord) -> Option<HealthCheck> {
    record
        .policy
        .as_ref()
        .and_then(|p| p.get(STORED_KEY))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Why a dependency with a health check is not ready yet, or `None` when it is healthy
/// at the render applied now (or has no check).
pub fn health_wait(record: &ResourceRecord, health: Option<&HealthRecord>) -> Option<String> {
    stored_health(record)?;
    match health {
        Some(h) if h.healthy_for(record.applied_hash.as_deref()) => None,
        Some(h) if h.status == HealthStatus::Unhealthy && h.applied_hash == record.applied_hash => {
            Some(format!("not healthy: {}", h.reason))
        }
        _ => Some("not healthy yet".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn waiting_ends_healthy_at_the_first_pass_or_unhealthy_at_the_timeout() {
        let s = Duration::from_secs;
        let ok = Attempt {
            passed: true,
            detail: "HTTP 200".into(),
        };
        let refused = Attempt {
            passed: false,
            detail: "connection refused".into(),
        };
        assert_eq!(
            after_attempt(&ok, s(59), s(5), s(60)),
            Verdict::Healthy {
                reason: "HTTP 200".into()
            }
        );
        assert_eq!(after_attempt(&refused, s(10), s(5), s(60)), Verdict::Again);
        assert_eq!(
            after_attempt(&refused, s(56), s(5), s(60)),
            Verdict::Unhealthy {
                reason: "not healthy within 60 s: connection refused".into()
            }
        );
    }

    #[test]
    fn since_moves_only_when_the_status_changes() {
        let first = HealthRecord::next(None, "db", HealthStatus::Healthy, "ok".into(), None, at(0));
        let again = HealthRecord::next(
            Some(&first),
            "db",
            HealthStatus::Healthy,
            "ok".into(),
            None,
            at(60),
        );
        assert_eq!((again.since, again.checked_at), (at(0), at(60)));
        let down = HealthRecord::next(
            Some(&again),
            "db",
            HealthStatus::Unhealthy,
            "refused".into(),
            None,
            at(120),
        );
        assert_eq!(down.since, at(120));
    }

    #[test]
    fn a_dependency_with_a_check_is_ready_only_when_healthy_at_its_applied_render() {
        let mut r: ResourceRecord = serde_json::from_value(serde_json::json!({
            "name": "db", "state": "applied", "reason": null, "provider": null,
            "pool": null, "chart": null, "resource_type": null, "placement": null,
            "dimensions": null, "desired_revision": null, "input_hash": null,
            "output_hash": null, "source": null, "last_error": null, "last_error_at": null,
            "updated_at": "2026-01-01T00:00:00Z", "applied_hash": "h2",
            "applied_revision": null, "policy": {"apply": "auto"}
        }))
        .expect("record");
        // No check: nothing to wait for.
        assert_eq!(health_wait(&r, None), None);
        let check = HealthCheck {
            provider: Some(true),
            ..HealthCheck::default()
        };
        r.policy = Some(with_health(
            serde_json::json!({"apply": "auto"}),
            Some(&check),
        ));
        assert_eq!(stored_health(&r), Some(check));
        assert_eq!(health_wait(&r, None).as_deref(), Some("not healthy yet"));
        let old = HealthRecord::next(
            None,
            "db",
            HealthStatus::Healthy,
            "ok".into(),
            Some("h1".into()),
            at(0),
        );
        assert_eq!(
            health_wait(&r, Some(&old)).as_deref(),
            Some("not healthy yet")
        );
        let bad = HealthRecord::next(
            None,
            "db",
            HealthStatus::Unhealthy,
            "refused".into(),
            Some("h2".into()),
            at(0),
        );
        assert_eq!(
            health_wait(&r, Some(&bad)).as_deref(),
            Some("not healthy: refused")
        );
        let good = HealthRecord::next(
            None,
            "db",
            HealthStatus::Healthy,
            "ok".into(),
            Some("h2".into()),
            at(0),
        );
        assert_eq!(health_wait(&r, Some(&good)), None);
    }
}
