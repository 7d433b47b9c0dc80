//! Rollout limits in the loop, around the pure `reconcile::window` and
//! `reconcile::flapping`: a sync window holds an apply (status says why and when the
//! next window opens, and the loop wakes then), and a resource whose automatic applies
//! reach the flapping limit is left `degraded`, with a notification, until its
//! definition changes or an operator asks.
//!
//! Windows are read in the daemon's time zone: `TZ` when set, else the system's local
//! time (`/etc/localtime`).

use super::pass::audit;
use super::run::Reconciler;
use crate::reconcile::ResourceState;
use crate::reconcile::flapping::{self, Limit};
use crate::reconcile::window::{self, Verdict, Window};
use crate::secrets::refs::marker_output as secrets_marker_output;
use crate::store::{NotificationRecord, PassRecord, ResourceRecord};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The loop's rollout state.
#[derive(Debug, Default)]
pub(super) struct Rollout {
    /// Resources `homelabd apply --ignore-windows` named for the next apply phase.
    ignore: BTreeSet<String>,
    /// `homelabd apply --all --ignore-windows`.
    ignore_all: bool,
    /// Resources a window holds, and when it opens (`None`: not soon).
    held: BTreeMap<String, Option<DateTime<Utc>>>,
    /// Automatic applies per resource and render (the flapping count).
    attempts: flapping::Attempts,
}

/// Why an apply was going to run, as far as the limits care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// An operator asked (`homelabd apply`): never counted, starts the count afresh.
    Requested,
    /// Self-heal correcting drift.
    Heal,
    /// A retry after a failed apply.
    Retry,
    /// A new render (or a rotated secret) applied by the loop.
    Change,
    /// Pruning a removed definition (held by windows, never counted).
    Prune,
}

impl Rollout {
    /// `homelabd apply [NAME] --ignore-windows`: the next apply phase ignores the windows
    /// for `resource` (all when `None`).
    pub(super) fn ignore_windows(&mut self, resource: Option<&str>) {
        match resource {
            Some(name) => {
                self.ignore.insert(name.to_owned());
            }
            None => self.ignore_all = true,
        }
    }

    /// Is `name` waiting for a window to open?
    pub(super) fn held(&self, name: &str) -> bool {
        self.held.contains_key(name)
    }

    /// When the earliest held resource's window opens (the loop wakes then).
    pub(super) fn next_opening(&self) -> Option<Instant> {
        let now = Utc::now();
        self.held.values().flatten().min().map(|at| {
            // A second late, so the window is open when the pass looks.
            let wait = (*at - now).to_std().unwrap_or(Duration::ZERO);
            Instant::now() + wait + Duration::from_secs(1)
        })
    }

    /// Has a held resource's window opened by `now`? (Compared with the opening itself:
    /// [`Rollout::next_opening`] is always a second ahead of the clock it is read by.)
    pub(super) fn opening_due(&self, now: DateTime<Utc>) -> bool {
        self.held.values().flatten().any(|at| *at <= now)
    }
}

/// Windows and ignore requests as one apply phase sees them.
pub(super) struct WindowCheck {
    defaults: Vec<Window>,
    ignore: BTreeSet<String>,
    ignore_all: bool,
    now: DateTime<chrono::Local>,
    /// Verdicts by [`window::windows_key`]: thousands of resources on the default
    /// windows are judged once per phase.
    verdicts: std::collections::HashMap<Option<String>, Verdict>,
}

impl Reconciler {
    /// Starts an apply phase's window checks: takes the ignore requests and forgets
    /// which resources were held (they are judged again).
    pub(super) fn window_check(&mut self) -> WindowCheck {
        self.rollout.held.clear();
        let defaults = Window::parse_all(&self.settings.default_windows).unwrap_or_else(|e| {
            // Validated when the configuration was read; never expected.
            warn!(error = %e, "the configured sync windows do not parse; using none");
            Vec::new()
        });
        WindowCheck {
            defaults,
            ignore: std::mem::take(&mut self.rollout.ignore),
            ignore_all: std::mem::take(&mut self.rollout.ignore_all),
            now: chrono::Local::now(),
            verdicts: Default::default(),
        }
    }

    /// Whether a window holds `record`'s apply now: the record to store with the reason
    /// (none when it says so already).
    pub(super) fn window_hold(
        &mut self,
        check: &mut WindowCheck,
        record: &ResourceRecord,
        cause: Cause,
    ) -> Option<Option<ResourceRecord>> {
        if check.ignore_all || check.ignore.contains(&record.name) {
            return None;
        }
        let verdict = check
            .verdicts
            .entry(window::windows_key(record))
            .or_insert_with(|| {
                let windows = window::resource_windows(record, &check.defaults);
                window::evaluate(&windows, &check.now)
            });
        let Verdict::Closed { reason, opens } = verdict.clone() else {
            return None;
        };
        info!(resource = %record.name, %reason, "apply held by a sync window");
        self.rollout.held.insert(record.name.clone(), opens);
        Some(held_record(record, cause, &reason))
    }

    /// Notes an apply about to run; for an automatic one past the flapping limit, the
    /// degraded record and its notification instead (the apply does not run).
    pub(super) fn count_attempt(
        &mut self,
        record: &ResourceRecord,
        render: &str,
        cause: Cause,
    ) -> Option<(ResourceRecord, NotificationRecord)> {
        let now = Utc::now();
        match cause {
            Cause::Requested => {
                self.rollout.attempts.forget(&record.name);
                return None;
            }
            Cause::Prune => return None,
            Cause::Heal | Cause::Retry | Cause::Change => {}
        }
        let limit = Limit::of(record, self.settings.default_flapping);
        if self
            .rollout
            .attempts
            .exceeded(&record.name, render, now, limit)
        {
            let last = match cause {
                Cause::Heal => "corrected drift that came back",
                _ => "did not settle it",
            };
            return Some(self.degrade(record, limit, last));
        }
        self.rollout.attempts.record(&record.name, render, now);
        None
    }

    /// After an automatic apply failed: has it used up its attempts?
    pub(super) fn flapping_after_failure(
        &self,
        record: &ResourceRecord,
        render: &str,
    ) -> Option<Limit> {
        let limit = Limit::of(record, self.settings.default_flapping);
        self.rollout
            .attempts
            .exceeded(&record.name, render, Utc::now(), limit)
            .then_some(limit)
    }

    /// `record` degraded at the flapping limit, and its notification.
    pub(super) fn degrade(
        &mut self,
        record: &ResourceRecord,
        limit: Limit,
        last: &str,
    ) -> (ResourceRecord, NotificationRecord) {
        let now = Utc::now();
        let reason = flapping::degraded_reason(&record.name, limit, last);
        warn!(resource = %record.name, %reason, "flapping limit reached");
        self.applies.succeeded(&record.name);
        let mut degraded = record.clone();
        degraded.state = ResourceState::Degraded;
        degraded.reason = Some(reason.clone());
        degraded.updated_at = now;
        let event = crate::notify_out::event::resource_degraded(
            &record.name,
            &reason,
            limit.max_attempts,
            limit.window,
            record.last_error.as_deref(),
            now,
        );
        (degraded, event)
    }

    /// `homelabd reconcile NAME`: a degraded resource is tried again (an applied render
    /// is kept as applied; otherwise it is retried now), its count started afresh. Only
    /// a request that names the resource does this: the scheduled resync, which names
    /// none, must not undo the flapping limit.
    pub(super) async fn clear_degraded(&mut self, resource: &str) {
        let names: Vec<String> = self
            .stored
            .get(resource)
            .filter(|r| r.state == ResourceState::Degraded)
            .map(|r| r.name.clone())
            .into_iter()
            .collect();
        if names.is_empty() {
            return;
        }
        let now = Utc::now();
        let mut pass = PassRecord::default();
        for name in names {
            let Some(mut r) = self.stored.get(&name).cloned() else {
                continue;
            };
            self.rollout.attempts.forget(&name);
            let applied =
                r.applied_hash.as_deref().map(secrets_marker_output) == r.output_hash.as_deref();
            if applied {
                r.state = ResourceState::Applied;
                r.reason = Some("applied; degraded cleared by `homelabd reconcile`".to_owned());
            } else {
                r.state = ResourceState::ApplyFailed;
                r.reason =
                    Some("degraded cleared by `homelabd reconcile`; applying again".to_owned());
                self.applies.retry_now(&name);
                self.applies.redo(&name);
            }
            r.updated_at = now;
            info!(resource = %name, "degraded state cleared");
            pass.audit.push(audit(
                "resource.degraded_cleared",
                &name,
                serde_json::json!({}),
                now,
            ));
            self.stored.insert(name, r.clone());
            pass.resources.push(r);
        }
        self.link.queue(pass);
        self.flush().await;
    }
}

/// The record of a resource a window holds, or `None` when it says so already. A new
/// render shows as rendered, not applied; a held retry or self-heal keeps its state.
fn held_record(record: &ResourceRecord, cause: Cause, reason: &str) -> Option<ResourceRecord> {
    let (state, text) = match cause {
        Cause::Heal => (record.state, format!("drift not corrected yet: {reason}")),
        Cause::Retry => (record.state, format!("retry held: {reason}")),
        Cause::Prune => (record.state, format!("prune held: {reason}")),
        Cause::Change | Cause::Requested => (
            ResourceState::Rendered,
            format!("rendered, not applied: {reason}"),
        ),
    };
    if record.reason.as_deref() == Some(text.as_str()) && record.state == state {
        return None;
    }
    let mut r = record.clone();
    r.state = state;
    r.reason = Some(text);
    r.updated_at = Utc::now();
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the loop woke when a held resource's window opened, but the pass it
    /// woke for did not count the opening as due (it compared a time always a second
    /// ahead), so the held apply never ran by itself.
    #[test]
    fn an_opened_window_is_due_at_the_wake_and_a_later_one_is_not() {
        let mut r = Rollout::default();
        let now = Utc::now();
        r.held
            .insert("later".to_owned(), Some(now + chrono::Duration::minutes(5)));
        assert!(!r.opening_due(now));
        r.held.insert(
            "nightly".to_owned(),
            Some(now - chrono::Duration::seconds(1)),
        );
        assert!(r.opening_due(now));
        assert!(r.next_opening().is_some(), "the loop wakes for it");
    }

    #[test]
    fn a_held_change_shows_as_rendered_and_a_held_heal_keeps_its_state() {
        let mut r = ResourceRecord::new_for_tests("web");
        r.state = ResourceState::Applied;
        let held = held_record(&r, Cause::Change, "outside sync window").expect("changed");
        assert_eq!(held.state, ResourceState::Rendered);
        assert_eq!(
            held.reason.as_deref(),
            Some("rendered, not applied: outside sync window")
        );
        assert_eq!(
            held_record(&held, Cause::Change, "outside sync window"),
            None
        );
        let heal = held_record(&r, Cause::Heal, "outside sync window").expect("changed");
        assert_eq!(heal.state, ResourceState::Applied);
    }
}
