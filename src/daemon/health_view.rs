//! The loop's view of its resources' health checks: each resource's last check as the
//! store keeps it, and whether a check passed again since the last pass (dependents
//! waiting for it may go on). What a set of checks means for the store — health rows,
//! `health` deviations opened and resolved, audit rows and notifications — is decided
//! here without IO; `health_phase` runs the probes and writes.

use super::pass::audit;
use crate::observe::{Deviation, OpenDeviation, reconcile_open};
use crate::reconcile::health::{self as core, DEVIATION_KEY, HealthRecord, HealthStatus};
use crate::store::ObservationWrite;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use tracing::{info, warn};

/// One check made: the resource, what it found, why, and the render it checked.
pub(super) struct CheckResult {
    pub name: String,
    pub status: HealthStatus,
    pub reason: String,
    pub applied_hash: Option<String>,
}

/// What the checks of one phase found, ready to be merged into an observation write.
#[derive(Default)]
pub(super) struct HealthFindings {
    pub write: ObservationWrite,
    /// Resources whose check now passes after it did not (their dependents may go on).
    pub recovered: BTreeSet<String>,
}

/// Each resource's last health check, and the "a check recovered" flag.
#[derive(Debug, Default)]
pub(super) struct HealthView {
    last: BTreeMap<String, HealthRecord>,
    /// A check passed again during an observation: dependents waiting for it may go on.
    recovered: bool,
}

impl HealthView {
    /// The checks the store keeps, read when it connects (the loop's own newer ones win).
    pub(super) fn loaded(&mut self, stored: Vec<HealthRecord>) {
        for h in stored {
            self.last.entry(h.resource.clone()).or_insert(h);
        }
    }

    /// `name`'s last check.
    pub(super) fn get(&self, name: &str) -> Option<&HealthRecord> {
        self.last.get(name)
    }

    /// The view after a recorded write.
    pub(super) fn remember(&mut self, write: &ObservationWrite) {
        for h in &write.health {
            self.last.insert(h.resource.clone(), h.clone());
        }
    }

    /// An observation's checks were recorded: remembers whether any recovered.
    pub(super) fn observed(&mut self, findings_recovered: &BTreeSet<String>) {
        self.recovered |= !findings_recovered.is_empty();
    }

    /// Whether a check recovered since the last call (and forgets it).
    pub(super) fn take_recovered(&mut self) -> bool {
        std::mem::take(&mut self.recovered)
    }

    /// The write for a set of checks at `now`: the health rows, the deviations opened
    /// and resolved (only the `health` ones: `open` holds no others), audit rows and
    /// notifications for every change of status.
    pub(super) fn findings(
        &self,
        open: &[OpenDeviation],
        results: Vec<CheckResult>,
        now: DateTime<Utc>,
    ) -> HealthFindings {
        let mut f = HealthFindings::default();
        f.write.at = now;
        let mut found: Vec<Deviation> = Vec::new();
        let mut checked = BTreeSet::new();
        for c in results {
            let previous = self.last.get(&c.name);
            let record =
                HealthRecord::next(previous, &c.name, c.status, c.reason, c.applied_hash, now);
            if previous.map(|p| p.status) != Some(c.status) {
                if c.status == HealthStatus::Healthy {
                    f.recovered.insert(c.name.clone());
                }
                f.write.audit.push(audit(
                    &format!("health.{}", c.status.as_str()),
                    &c.name,
                    serde_json::json!({"reason": record.reason}),
                    now,
                ));
            }
            if c.status == HealthStatus::Unhealthy {
                found.push(core::deviation(&c.name, &record.reason));
            }
            checked.insert(c.name);
            f.write.health.push(record);
        }
        let changes = reconcile_open(open, &found, &checked);
        for d in &changes.new {
            warn!(resource = %d.resource, message = %d.message, "unhealthy");
            f.write
                .notifications
                .push(crate::notify_out::event::drift_detected(d, now));
        }
        let by_id: BTreeMap<&str, &str> = open
            .iter()
            .map(|d| (d.id.as_str(), d.resource.as_str()))
            .collect();
        for id in &changes.resolved {
            let resource = by_id.get(id.as_str()).copied().unwrap_or("?");
            info!(%resource, "healthy again");
            f.write
                .resolved
                .push((id.clone(), "health check".to_owned()));
            f.write
                .notifications
                .push(crate::notify_out::event::drift_resolved(
                    resource,
                    DEVIATION_KEY,
                    "health check",
                    now,
                ));
        }
        f.write.new = changes.new;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: HealthStatus, reason: &str) -> CheckResult {
        CheckResult {
            name: name.to_owned(),
            status,
            reason: reason.to_owned(),
            applied_hash: Some("h1".to_owned()),
        }
    }

    fn actions(f: &HealthFindings) -> Vec<&str> {
        f.write.audit.iter().map(|a| a.action.as_str()).collect()
    }

    fn events(f: &HealthFindings) -> Vec<&str> {
        f.write
            .notifications
            .iter()
            .map(|n| n.event_type.as_str())
            .collect()
    }

    #[test]
    fn an_unhealthy_check_opens_a_health_deviation_once() {
        let mut view = HealthView::default();
        let now = Utc::now();
        let f = view.findings(
            &[],
            vec![check("web", HealthStatus::Unhealthy, "connection refused")],
            now,
        );
        assert_eq!(actions(&f), ["health.unhealthy"]);
        assert_eq!(f.write.new.len(), 1);
        assert_eq!(f.write.new[0].key, DEVIATION_KEY);
        assert_eq!(events(&f), ["drift.detected"]);
        assert!(f.recovered.is_empty());
        view.remember(&f.write);
        assert_eq!(
            view.get("web").map(|h| h.reason.as_str()),
            Some("connection refused")
        );

        // Still unhealthy, its deviation open: no new row, no audit, the same `since`.
        let open = [OpenDeviation {
            id: "d1".to_owned(),
            resource: "web".to_owned(),
            key: DEVIATION_KEY.to_owned(),
        }];
        let later = now + chrono::Duration::seconds(30);
        let again = view.findings(
            &open,
            vec![check("web", HealthStatus::Unhealthy, "connection refused")],
            later,
        );
        assert!(actions(&again).is_empty());
        assert!(again.write.new.is_empty() && again.write.resolved.is_empty());
        assert_eq!(again.write.health[0].since, now);
        assert_eq!(again.write.health[0].checked_at, later);
    }

    #[test]
    fn a_check_that_passes_again_resolves_its_deviation_and_lets_dependents_go_on() {
        let mut view = HealthView::default();
        let now = Utc::now();
        let sick = view.findings(&[], vec![check("db", HealthStatus::Unhealthy, "down")], now);
        view.remember(&sick.write);
        let open = [OpenDeviation {
            id: "d1".to_owned(),
            resource: "db".to_owned(),
            key: DEVIATION_KEY.to_owned(),
        }];
        let f = view.findings(
            &open,
            vec![check("db", HealthStatus::Healthy, "HTTP 200")],
            now,
        );
        assert_eq!(actions(&f), ["health.healthy"]);
        assert_eq!(
            f.write.resolved,
            [("d1".to_owned(), "health check".to_owned())]
        );
        assert_eq!(events(&f), ["drift.resolved"]);
        assert_eq!(f.recovered, BTreeSet::from(["db".to_owned()]));

        assert!(!view.take_recovered());
        view.observed(&f.recovered);
        assert!(view.take_recovered(), "dependents may go on");
        assert!(!view.take_recovered(), "once");
    }

    #[test]
    fn the_loops_own_checks_win_over_the_stored_ones() {
        let mut view = HealthView::default();
        let now = Utc::now();
        let f = view.findings(
            &[],
            vec![check("web", HealthStatus::Healthy, "HTTP 200")],
            now,
        );
        view.remember(&f.write);
        let mut stale = f.write.health[0].clone();
        stale.status = HealthStatus::Unhealthy;
        stale.reason = "old".to_owned();
        view.loaded(vec![stale]);
        assert_eq!(
            view.get("web").map(|h| h.status),
            Some(HealthStatus::Healthy)
        );
    }
}
