//! Rollback (pure): the policy kept in the stored policy JSON, the healthy outputs a
//! resource can return to (the newest [`KEEP_GOOD`], which one `homelabd rollback` takes),
//! the render it was rolled back from (not applied again until the definition changes),
//! and whether a failed or unhealthy revision is rolled back.

use super::ResourceRecord;
use crate::model::RollbackPolicy;
use chrono::{DateTime, Utc};
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

/// How many healthy outputs are kept per resource (the newest; older ones are removed).
pub const KEEP_GOOD: usize = 5;

/// An output that was applied and healthy (or applied, without a health check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodOutput {
    pub revision: String,
    pub output_hash: String,
    /// What `applied_hash` was (output hash and secret digests).
    pub applied_hash: String,
    /// When it was kept (absent in outputs kept before several were: the oldest).
    #[serde(default)]
    pub kept_at: Option<DateTime<Utc>>,
}

/// `kept` newest first (by when each was kept; by revision among equals, so the order
/// is total).
pub fn newest_first(kept: &mut [GoodOutput]) {
    kept.sort_by(|a, b| {
        b.kept_at
            .cmp(&a.kept_at)
            .then_with(|| a.revision.cmp(&b.revision))
    });
}

/// The kept outputs (newest first) past the [`KEEP_GOOD`] newest: to be removed.
pub fn surplus(kept: &[GoodOutput]) -> &[GoodOutput] {
    kept.get(KEEP_GOOD..).unwrap_or_default()
}

/// Why `homelabd rollback` has nothing to put in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NothingKept {
    #[error(
        "no healthy output of {name} is kept{}",
        kept_list(.kept)
    )]
    /// Nothing is kept for the resource.
    NoneKept { name: String, kept: Vec<String> },
    #[error(
        "no healthy output of {name} at revision {revision} is kept; kept revisions: {}",
        .kept.join(", ")
    )]
    /// Outputs are kept, none of the revision asked for.
    NotAt {
        name: String,
        revision: String,
        kept: Vec<String>,
    },
    #[error(
        "revision {revision} of {name} is ambiguous: it starts {}",
        .matches.join(", ")
    )]
    /// The prefix asked for starts several kept revisions.
    Ambiguous {
        name: String,
        revision: String,
        matches: Vec<String>,
    },
}

fn kept_list(kept: &[String]) -> String {
    if kept.is_empty() {
        " (it is kept after an apply that is healthy, unless policy.rollback is off)".to_owned()
    } else {
        format!("; kept revisions: {}", kept.join(", "))
    }
}

/// The kept output of `name` (`kept` newest first) that `homelabd rollback` puts in
/// place: the newest, or the one whose revision starts with `to`.
pub fn choose<'a>(
    name: &str,
    kept: &'a [GoodOutput],
    to: Option<&str>,
) -> Result<&'a GoodOutput, NothingKept> {
    let listed = || -> Vec<String> { kept.iter().map(|g| short(&g.revision).to_owned()).collect() };
    let Some(to) = to.map(str::trim).filter(|t| !t.is_empty()) else {
        return kept.first().ok_or_else(|| NothingKept::NoneKept {
            name: name.to_owned(),
            kept: Vec::new(),
        });
    };
    let wanted = to.to_ascii_lowercase();
    let matches: Vec<&GoodOutput> = kept
        .iter()
        .filter(|g| g.revision.starts_with(&wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(NothingKept::NotAt {
            name: name.to_owned(),
            revision: to.to_owned(),
            kept: listed(),
        }),
        many => Err(NothingKept::Ambiguous {
            name: name.to_owned(),
            revision: to.to_owned(),
            matches: many.iter().map(|g| g.revision.clone()).collect(),
        }),
    }
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

/// The first seven characters of a revision (all of a shorter one).
pub fn short(revision: &str) -> &str {
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
            kept_at: None,
        };
        let auto = with_rollback(serde_json::json!({}), Some(RollbackPolicy::Auto));
        assert!(auto_rollback(&record("h2", auto.clone()), Some(&good)));
        assert!(!auto_rollback(&record("h1", auto.clone()), Some(&good)));
        assert!(!auto_rollback(&record("h2", auto), None));
        let manual = record("h2", serde_json::json!({}));
        assert_eq!(stored_rollback(&manual), RollbackPolicy::Manual);
        assert!(!auto_rollback(&manual, Some(&good)));
    }

    fn kept(revision: char, minute: u32) -> GoodOutput {
        GoodOutput {
            revision: revision.to_string().repeat(40),
            output_hash: format!("h{revision}"),
            applied_hash: format!("h{revision}"),
            kept_at: Some(
                DateTime::parse_from_rfc3339(&format!("2026-01-01T00:{minute:02}:00Z"))
                    .expect("time")
                    .with_timezone(&Utc),
            ),
        }
    }

    #[test]
    fn rollback_takes_the_newest_or_the_revision_asked_for_and_says_what_is_kept() {
        let mut all = vec![kept('a', 1), kept('c', 3), kept('b', 2)];
        newest_first(&mut all);
        let order: Vec<&str> = all.iter().map(|g| short(&g.revision)).collect();
        assert_eq!(order, ["ccccccc", "bbbbbbb", "aaaaaaa"]);
        assert_eq!(
            choose("app", &all, None).map(|g| &g.revision),
            Ok(&all[0].revision)
        );
        assert_eq!(
            choose("app", &all, Some("AAAA")).map(|g| &g.revision),
            Ok(&all[2].revision)
        );
        assert_eq!(
            choose("app", &all, Some("dd")).unwrap_err().to_string(),
            "no healthy output of app at revision dd is kept; kept revisions: ccccccc, bbbbbbb, aaaaaaa"
        );
        assert_eq!(
            choose("jenkins", &[], None).unwrap_err().to_string(),
            "no healthy output of jenkins is kept (it is kept after an apply that is healthy, unless policy.rollback is off)"
        );
        let mut twins = vec![kept('a', 1), kept('a', 2)];
        twins[1].revision = format!("{}b", "a".repeat(39));
        assert!(matches!(
            choose("app", &twins, Some("aaa")),
            Err(NothingKept::Ambiguous { .. })
        ));
    }

    #[test]
    fn only_the_newest_few_are_kept() {
        let mut all: Vec<GoodOutput> = ('a'..='g').zip(1..).map(|(c, m)| kept(c, m)).collect();
        newest_first(&mut all);
        let gone: Vec<&str> = surplus(&all).iter().map(|g| short(&g.revision)).collect();
        assert_eq!(gone, ["bbbbbbb", "aaaaaaa"]);
        assert!(surplus(&all[..3]).is_empty());
        // An output kept before several were has no time: it is the oldest.
        let mut mixed = vec![
            GoodOutput {
                kept_at: None,
                ..kept('z', 0)
            },
            kept('a', 1),
        ];
        newest_first(&mut mixed);
        assert_eq!(short(&mixed[1].revision), "zzzzzzz");
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
