//! "Daemon degraded / recovered" events from the git and database health the loop
//! already tracks (pure: no IO; the loop writes what [`HealthNotices::take`] returns).
//!
//! Only transitions count: a source failing on every poll is one "degraded" event. The
//! outbox lives in the database, so a database outage cannot be written while it lasts:
//! its "degraded" event (with the time it began) and its "recovered" event are both
//! produced when the database answers again. A git outage's event is produced at once
//! and written with the loop's next store write.

use super::event::{self, Component};
use crate::store::NotificationRecord;
use chrono::{DateTime, Utc};
use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    git_down_since: Option<DateTime<Utc>>,
    db_down: Option<(DateTime<Utc>, String)>,
    pending: Vec<NotificationRecord>,
}

/// Health transitions waiting to be written to the outbox.
#[derive(Debug, Default)]
pub struct HealthNotices {
    state: Mutex<State>,
}

impl HealthNotices {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain data behind: keep going.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// The git source is reachable (`ok`) or not (with `error`) at `now`.
    pub fn git(&self, ok: bool, error: Option<&str>, now: DateTime<Utc>) {
        self.with(|s| match (ok, s.git_down_since) {
            (false, None) => {
                s.git_down_since = Some(now);
                s.pending.push(event::degraded(
                    Component::Git,
                    error.unwrap_or("unreachable"),
                    now,
                ));
            }
            (true, Some(since)) => {
                s.git_down_since = None;
                s.pending.push(event::recovered(Component::Git, since, now));
            }
            _ => {}
        })
    }

    /// The database is reachable (`ok`) or not (with `error`) at `now`.
    pub fn database(&self, ok: bool, error: Option<&str>, now: DateTime<Utc>) {
        self.with(|s| match (ok, s.db_down.take()) {
            (false, None) => {
                s.db_down = Some((now, error.unwrap_or("unreachable").to_owned()));
            }
            (false, Some(down)) => s.db_down = Some(down),
            (true, Some((since, error))) => {
                s.pending
                    .push(event::degraded(Component::Database, &error, since));
                s.pending
                    .push(event::recovered(Component::Database, since, now));
            }
            (true, None) => {}
        })
    }

    /// Queues an event that has no transaction of its own to ride in (a refused commit).
    pub fn push(&self, event: NotificationRecord) {
        self.with(|s| s.pending.push(event))
    }

    /// Takes the events to write.
    pub fn take(&self) -> Vec<NotificationRecord> {
        self.with(|s| std::mem::take(&mut s.pending))
    }

    /// Puts back events whose write failed, ahead of newer ones.
    pub fn put_back(&self, mut events: Vec<NotificationRecord>) {
        self.with(|s| {
            events.append(&mut s.pending);
            s.pending = events;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(events: &[NotificationRecord]) -> Vec<(&str, &str)> {
        events
            .iter()
            .map(|e| (e.event_type.as_str(), e.subject.as_str()))
            .collect()
    }

    #[test]
    fn a_git_outage_is_one_event_at_once_and_one_on_recovery() {
        let h = HealthNotices::default();
        let t0 = Utc::now();
        h.git(true, None, t0);
        h.git(false, Some("connection refused"), t0);
        h.git(
            false,
            Some("connection refused"),
            t0 + chrono::Duration::seconds(5),
        );
        assert_eq!(types(&h.take()), [("daemon.degraded", "git")]);
        h.git(true, None, t0 + chrono::Duration::seconds(9));
        let events = h.take();
        assert_eq!(types(&events), [("daemon.recovered", "git")]);
        assert_eq!(events[0].details["down_seconds"], 9);
        assert!(h.take().is_empty());
    }

    #[test]
    fn a_database_outage_is_reported_when_it_ends_with_its_start_time() {
        let h = HealthNotices::default();
        let t0 = Utc::now();
        h.database(false, Some("connection refused"), t0);
        h.database(
            false,
            Some("still refused"),
            t0 + chrono::Duration::seconds(3),
        );
        assert!(h.take().is_empty(), "nowhere to write it yet");
        h.database(true, None, t0 + chrono::Duration::seconds(20));
        let events = h.take();
        assert_eq!(
            types(&events),
            [
                ("daemon.degraded", "database"),
                ("daemon.recovered", "database")
            ]
        );
        assert_eq!(events[0].occurred_at, t0);
        assert_eq!(events[0].details["error"], "connection refused");
        h.database(true, None, t0 + chrono::Duration::seconds(30));
        assert!(h.take().is_empty());
    }

    #[test]
    fn events_put_back_keep_their_order() {
        let h = HealthNotices::default();
        let t0 = Utc::now();
        h.git(false, Some("x"), t0);
        let first = h.take();
        h.git(true, None, t0);
        h.put_back(first);
        assert_eq!(
            types(&h.take()),
            [("daemon.degraded", "git"), ("daemon.recovered", "git")]
        );
    }
}
