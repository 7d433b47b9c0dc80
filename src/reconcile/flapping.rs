//! Flapping limits: a resource whose automatic applies (the first apply of a render,
//! retries after a failure, self-heal) keep coming back is left alone after
//! `max_attempts` of them within `window`, in state `degraded`, until its definition
//! changes (a new render) or an operator asks (`homelabd apply NAME`,
//! `homelabd reconcile NAME`). Pure: the loop keeps the [`Attempts`] and passes the clock.

use super::ResourceRecord;
use crate::model::window::{Flapping, format_duration, parse_duration};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// The key under which the stored policy keeps a resource's own limit.
const STORED_KEY: &str = "flapping";

/// A flapping limit with every field decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_attempts: u32,
    pub window: Duration,
}

impl Default for Limit {
    /// Three automatic attempts in ten minutes.
    fn default() -> Limit {
        Limit {
            max_attempts: 3,
            window: Duration::from_secs(600),
        }
    }
}

impl Limit {
    /// `own` over `defaults`; a window that does not parse keeps the default's
    /// (validation reports it).
    pub fn resolve(own: Option<&Flapping>, defaults: Limit) -> Limit {
        let Some(own) = own else { return defaults };
        Limit {
            max_attempts: own.max_attempts.unwrap_or(defaults.max_attempts).max(1),
            window: own
                .window
                .as_deref()
                .and_then(|w| parse_duration(w).ok())
                .unwrap_or(defaults.window),
        }
    }

    /// The limit of a stored resource: its own (kept in the stored policy) over `defaults`.
    pub fn of(record: &ResourceRecord, defaults: Limit) -> Limit {
        let own: Option<Flapping> = record
            .policy
            .as_ref()
            .and_then(|p| p.get(STORED_KEY))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        Limit::resolve(own.as_ref(), defaults)
    }

    /// `3 within 10m`.
    pub fn describe(self) -> String {
        format!(
            "{} within {}",
            self.max_attempts,
            format_duration(self.window)
        )
    }
}

/// `policy` (a stored effective policy) with the resource's own limit when it sets one.
pub fn with_flapping(
    mut policy: serde_json::Value,
    flapping: Option<&Flapping>,
) -> serde_json::Value {
    if let (Some(map), Some(flapping)) = (policy.as_object_mut(), flapping) {
        map.insert(STORED_KEY.to_owned(), serde_json::json!(flapping));
    }
    policy
}

/// The automatic applies of each resource, for the render they applied.
#[derive(Debug, Clone, Default)]
pub struct Attempts {
    by_resource: BTreeMap<String, Tracked>,
}

#[derive(Debug, Clone)]
struct Tracked {
    /// The output hash the attempts were for: a new render starts afresh.
    render: String,
    at: Vec<DateTime<Utc>>,
}

/// More attempts than this are never kept per resource (the oldest go first).
const KEPT: usize = 1000;

impl Attempts {
    /// Notes an automatic apply of `render` at `at`.
    pub fn record(&mut self, name: &str, render: &str, at: DateTime<Utc>) {
        let tracked = self
            .by_resource
            .entry(name.to_owned())
            .or_insert_with(|| Tracked {
                render: render.to_owned(),
                at: Vec::new(),
            });
        if tracked.render != render {
            tracked.render = render.to_owned();
            tracked.at.clear();
        }
        tracked.at.push(at);
        if tracked.at.len() > KEPT {
            tracked.at.remove(0);
        }
    }

    /// How many automatic applies of `render` fell within `window` before `now`.
    pub fn count(&self, name: &str, render: &str, now: DateTime<Utc>, window: Duration) -> usize {
        let Some(tracked) = self.by_resource.get(name).filter(|t| t.render == render) else {
            return 0;
        };
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        tracked
            .at
            .iter()
            .filter(|t| **t <= now && now - **t < window)
            .count()
    }

    /// Has `name` reached its limit for `render`?
    pub fn exceeded(&self, name: &str, render: &str, now: DateTime<Utc>, limit: Limit) -> bool {
        self.count(name, render, now, limit.window) >= limit.max_attempts as usize
    }

    /// Starts afresh (an operator asked, or the resource is gone).
    pub fn forget(&mut self, name: &str) {
        self.by_resource.remove(name);
    }
}

/// The reason a degraded resource shows.
pub fn degraded_reason(name: &str, limit: Limit, last: &str) -> String {
    format!(
        "degraded: {} automatic applies within {} {last}; no more attempts until the \
         definition changes or `homelabd apply {name}`",
        limit.max_attempts,
        format_duration(limit.window)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
            + chrono::Duration::minutes(minute)
    }

    #[test]
    fn the_limit_is_reached_by_attempts_within_the_window_only() {
        let limit = Limit::default();
        let mut a = Attempts::default();
        a.record("web", "o1", t(0));
        a.record("web", "o1", t(4));
        assert!(!a.exceeded("web", "o1", t(5), limit));
        a.record("web", "o1", t(8));
        assert!(a.exceeded("web", "o1", t(8), limit));
        // Ten minutes after the first, it no longer counts.
        assert!(!a.exceeded("web", "o1", t(10), limit));
        assert!(!a.exceeded("db", "o1", t(8), limit));
    }

    #[test]
    fn a_new_render_and_an_operator_start_afresh() {
        let limit = Limit::default();
        let mut a = Attempts::default();
        for m in 0..3 {
            a.record("web", "o1", t(m));
        }
        assert!(a.exceeded("web", "o1", t(3), limit));
        assert!(!a.exceeded("web", "o2", t(3), limit));
        a.record("web", "o2", t(3));
        assert_eq!(a.count("web", "o2", t(3), limit.window), 1);
        assert_eq!(a.count("web", "o1", t(3), limit.window), 0);
        a.forget("web");
        assert_eq!(a.count("web", "o2", t(3), limit.window), 0);
    }

    #[test]
    fn a_resource_limit_wins_over_the_default_field_by_field() {
        let mut record = ResourceRecord::new_for_tests("web");
        assert_eq!(Limit::of(&record, Limit::default()), Limit::default());
        let own = Flapping {
            max_attempts: Some(5),
            window: None,
        };
        record.policy = Some(with_flapping(serde_json::json!({}), Some(&own)));
        assert_eq!(
            Limit::of(&record, Limit::default()),
            Limit {
                max_attempts: 5,
                window: Duration::from_secs(600)
            }
        );
        assert_eq!(Limit::default().describe(), "3 within 10m");
    }
}
