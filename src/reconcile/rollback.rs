//! Rollback (pure): the policy kept in the stored policy JSON, the last healthy output a
//! resource can return to, the render it was rolled back from (not applied again until
//! the definition changes), and whether a failed or unhealthy revision is rolled back.

use super::ResourceRecord;
use crate::model::RollbackPolicy;
use serde::{Deserialize, Serialize};

/// The key under which the stored policy keeps `policy.rollback`.
const STORED_KEY: &str = "rollback";

/// `policy` (a stored effective policy) with the rollback policy added when set.
pub fn with_rollback(
    mut policy: serde_json::Value,
    rollback: Option<RollbackPolicy>,
) -> serde_json::Value {
    if let (Some(map), Some(r)) = (policy.as_object_mut(), rollback)
        && let Ok(value) = serde_json::to_value(r)
    {
        map.insert(STORED_KEY.to_owned(), value);
    }
    policy
}

/// The rollback policy of a stored record (manual when absent or unreadable).
pub fn stored_rollback(record: &ResourceRecord) -> RollbackPolicy {
    record
        .policy
        .as_ref()
        .and_then(|p| p.get(STORED_KEY))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// The last output that was applied and healthy (or applied, without a health check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodOutput {
    pub revision: String,
    pub output_hash: String,
    /// What `applied_hash` was (output hash and secret digests).
    pub applied_hash: String,
}

/// A render that was rolled back from: it is not applied again by the loop until the
/// definition renders differently (or a person asks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub output_hash: String,
    pub revision: String,
    /// Why: "apply failed: …" or "not healthy within 60 s: …".
    pub reason: String,
    /// The revision it was rolled back to.
    pub restored: String,
}

/// Whether the failed or unhealthy render of `record` is rolled back automatically to
/// `good`: the policy says auto, and `good` is another render.
pub fn auto_rollback(record: &ResourceRecord, good: Option<&GoodOutput>) -> bool {
    stored_rollback(record) == RollbackPolicy::Auto
        && good.is_some_and(|g| record.output_hash.as_deref() != Some(g.output_hash.as_str()))
}

/// Why the loop does not apply `record` now: its render is the one rolled back from.
pub fn rejected_wait(record: &ResourceRecord, rejected: Option<&Rejected>) -> Option<String> {
    let r = rejected?;
    (record.output_hash.as_deref() == Some(r.output_hash.as_str())).then(|| {
        format!(
            "rolled back to {} ({} {}); not applied again until its definition changes or `homelabd apply {}`",
            short(&r.restored),
            short(&r.revision),
            r.reason,
            record.name
        )
    })
}

fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(output: &str, policy: serde_json::Value) -> ResourceRecord {
        serde_json::from_value(serde_json::json!({
            "name": "app", "state": "applied", "reason": null, "provider": null,
            "pool": null, "chart": null, "resource_type": null, "placement": null,
            "dimensions": null, "desired_revision": "b".repeat(40), "input_hash": null,
            "output_hash": output, "source": null, "last_error": null, "last_error_at": null,
            "updated_at": "2026-01-01T00:00:00Z", "applied_hash": null,
            "applied_revision": null, "policy": policy
        }))
        .expect("record")
    }

    #[test]
    fn only_auto_rolls_back_and_only_to_another_render() {
        let good = GoodOutput {
            revision: "a".repeat(40),
            output_hash: "h1".into(),
            applied_hash: "h1".into(),
        };
        let auto = with_rollback(serde_json::json!({}), Some(RollbackPolicy::Auto));
        assert!(auto_rollback(&record("h2", auto.clone()), Some(&good)));
        assert!(!auto_rollback(&record("h1", auto.clone()), Some(&good)));
        assert!(!auto_rollback(&record("h2", auto), None));
        let manual = record("h2", serde_json::json!({}));
        assert_eq!(stored_rollback(&manual), RollbackPolicy::Manual);
        assert!(!auto_rollback(&manual, Some(&good)));
    }

    #[test]
    fn the_rejected_render_waits_until_the_definition_renders_differently() {
        let rejected = Rejected {
            output_hash: "h2".into(),
            revision: "b".repeat(40),
            reason: "not healthy within 5 s: HTTP 500".into(),
            restored: "a".repeat(40),
        };
        let r = record("h2", serde_json::json!({}));
        assert_eq!(
            rejected_wait(&r, Some(&rejected)).as_deref(),
            Some(
                "rolled back to aaaaaaa (bbbbbbb not healthy within 5 s: HTTP 500); not applied again until its definition changes or `homelabd apply app`"
            )
        );
        assert_eq!(
            rejected_wait(&record("h3", serde_json::json!({})), Some(&rejected)),
            None
        );
        assert_eq!(rejected_wait(&r, None), None);
    }
}
