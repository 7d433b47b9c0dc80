//! The observation phase: asks each provider's observer what exists, records what
//! differs (new deviations opened, vanished ones resolved — never deleted) and marks
//! resources whose policy allows self-heal for a corrective apply.

use super::pass::audit;
use super::run::Reconciler;
use crate::observe::{Deviation, Target, reconcile_open};
use crate::reconcile::{EffectivePolicy, ResourceState};
use crate::store::ObservationWrite;
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use tracing::{info, warn};

impl Reconciler {
    /// Observes applied resources: all of them (and what no resource accounts for), or
    /// only those in `only`.
    pub(super) async fn observe_phase(&mut self, only: Option<&BTreeSet<String>>) {
        let Some(store) = self.link.store().cloned() else {
            return;
        };
        let checks = self
            .stored
            .values()
            .any(|r| crate::reconcile::health::stored_health(r).is_some());
        if self.tools.observers.is_empty() && !checks {
            return;
        }
        let open = match store.open_deviation_keys().await {
            Ok(open) => open,
            Err(e) => {
                warn!(error = %e, "cannot read open deviations");
                return;
            }
        };
        let mut found: Vec<Deviation> = Vec::new();
        let mut observed: BTreeSet<String> = BTreeSet::new();
        let mut instances = Vec::new();
        let mut reachable: Vec<(String, Vec<crate::observe::Endpoint>)> = Vec::new();
        for (provider, observer) in self.tools.observers.clone() {
            let rendered_root = self.settings.rendered_dir().join(provider.as_str());
            let rendered = |name: &str| rendered_root.join(name);
            let records: Vec<_> = self
                .stored
                .values()
                .filter(|r| r.provider == Some(provider))
                // An adopted VM exists before its first apply, so it is observed from
                // its render on (and is no longer unmanaged once merged).
                .filter(|r| {
                    r.applied_hash.is_some()
                        || (provider == crate::model::Provider::Proxmox
                            && r.state != ResourceState::Orphaned
                            && crate::observe::proxmox::expected::adopts(&rendered(&r.name)))
                })
                .filter(|r| only.is_none_or(|o| o.contains(&r.name)))
                .cloned()
                .collect();
            let targets: Vec<Target> = records
                .iter()
                .map(|r| Target {
                    resource: r.name.clone(),
                    provider,
                    rendered_dir: rendered(&r.name),
                    work_dir: self
                        .settings
                        .state_dir
                        .join("work")
                        .join(provider.as_str())
                        .join(&r.name),
                    // Unreadable secrets: the check runs without them and says so
                    // through the tool's own error, rather than skipping silently.
                    secrets: self.secret_env(&r.name).unwrap_or_default(),
                })
                .collect();
            if targets.is_empty() && only.is_some() {
                continue;
            }
            let report = match observer.observe(&targets).await {
                Ok(report) => report,
                Err(e) => {
                    warn!(observer = observer.name(), error = %e, "observation failed; open deviations stay open");
                    self.metrics.inc_error(crate::metrics::ErrorKind::Observe);
                    continue;
                }
            };
            for (resource, reason) in &report.failed {
                warn!(observer = observer.name(), %resource, %reason, "cannot observe resource");
            }
            for obs in report.observations {
                // An orphaned resource is reported, not managed: its state is nobody's
                // to correct.
                let orphaned = self
                    .stored
                    .get(&obs.resource)
                    .is_some_and(|r| r.state == ResourceState::Orphaned);
                if orphaned {
                    continue;
                }
                observed.insert(obs.resource.clone());
                if let Some(now) = obs.endpoints {
                    let before = self.stored.get(&obs.resource).map(|r| &r.endpoints);
                    if before != Some(&now) {
                        reachable.push((obs.resource.clone(), now));
                    }
                }
                instances.push((
                    obs.resource.clone(),
                    obs.expected,
                    obs.actual,
                    !obs.deviations.is_empty(),
                ));
                found.extend(obs.deviations);
            }
            if only.is_none() {
                // Unmanaged things belong to the observer as a whole: only a full pass
                // can say one is gone.
                let prefix = format!("{}:", observer.name());
                observed.extend(
                    open.iter()
                        .filter(|d| d.resource.starts_with(&prefix))
                        .map(|d| d.resource.clone()),
                );
                for d in report.unmanaged {
                    observed.insert(d.resource.clone());
                    found.push(d);
                }
            }
        }
        // Health deviations are the health checks' to open and resolve.
        let health_key = crate::reconcile::health::DEVIATION_KEY;
        let health = self.check_on_observation(&open, only, &reachable).await;
        let open_before = open.len();
        let open: Vec<_> = open.into_iter().filter(|d| d.key != health_key).collect();
        let changes = reconcile_open(&open, &found, &observed);
        let now = Utc::now();
        let open_by_id: BTreeMap<&str, (&str, &str)> = open
            .iter()
            .map(|d| (d.id.as_str(), (d.resource.as_str(), d.key.as_str())))
            .collect();
        let mut write = ObservationWrite {
            instances,
            at: now,
            ..ObservationWrite::default()
        };
        for d in &changes.new {
            warn!(resource = %d.resource, kind = d.kind.as_str(), message = %d.message, "drift detected");
            write
                .notifications
                .push(crate::notify_out::event::drift_detected(d, now));
            write.audit.push(audit(
                "drift.detected",
                &d.resource,
                serde_json::json!({"key": d.key, "type": d.kind.as_str(), "severity": d.severity.as_str(), "message": d.message}),
                now,
            ));
        }
        for id in &changes.resolved {
            let (resource, key) = open_by_id.get(id.as_str()).copied().unwrap_or(("?", "?"));
            let by = if self.applies.healed.contains(resource) {
                "self-heal"
            } else {
                "observer"
            };
            info!(%resource, %key, resolved_by = by, "drift resolved");
            write.resolved.push((id.clone(), by.to_owned()));
            write
                .notifications
                .push(crate::notify_out::event::drift_resolved(
                    resource, key, by, now,
                ));
            write.audit.push(audit(
                "drift.resolved",
                resource,
                serde_json::json!({"key": key, "resolved_by": by}),
                now,
            ));
        }
        for (name, now) in &reachable {
            let before = self
                .stored
                .get(name)
                .map(|r| r.endpoints.clone())
                .unwrap_or_default();
            info!(resource = %name, endpoints = %crate::observe::endpoint::describe(now), "endpoints changed");
            write
                .notifications
                .push(crate::notify_out::event::endpoints_changed(
                    name, &before, now, write.at,
                ));
            write.audit.push(audit(
                "resource.endpoints",
                name,
                serde_json::json!({"endpoints": now, "before": before}),
                write.at,
            ));
        }
        write.endpoints = reachable;
        write.new = changes.new;
        let mut h = health.write;
        write.new.append(&mut h.new);
        write.resolved.append(&mut h.resolved);
        write.audit.append(&mut h.audit);
        write.notifications.append(&mut h.notifications);
        write.health = h.health;
        if let Err(e) = store.record_observation(&write).await {
            warn!(error = %e, "cannot record the observation");
            self.metrics.inc_error(crate::metrics::ErrorKind::Database);
            return;
        }
        for name in &observed {
            self.applies.healed.remove(name);
        }
        self.health.remember(&write);
        self.health.observed(&health.recovered);
        for (name, now) in &write.endpoints {
            if let Some(r) = self.stored.get_mut(name) {
                r.address = crate::observe::endpoint::primary(now);
                r.endpoints = now.clone();
            }
        }
        // Self-heal: resources with a correctable difference whose policy allows it.
        for d in &found {
            if !d.auto_correctable {
                continue;
            }
            let Some(record) = self.stored.get(&d.resource) else {
                continue;
            };
            if EffectivePolicy::from_stored(record.policy.as_ref()).self_heal {
                self.applies.heal.insert(d.resource.clone());
            }
        }
        let still_open = (open_before + write.new.len()).saturating_sub(write.resolved.len());
        self.metrics.set_open_deviations(still_open as i64);
        self.status
            .update(|s| s.open_deviations = Some(still_open as u64));
    }
}
