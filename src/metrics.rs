//! Prometheus metrics for the daemon, on `prometheus-client`.
//!
//! One [`Metrics`] value owns the registry and every metric. All methods take `&self`, are
//! lock-free or hold a short mutex, and can be called from any task; the HTTP `/metrics`
//! endpoint calls [`Metrics::encode`] on each scrape.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `homelabd_reconcile_duration_seconds` | histogram | |
//! | `homelabd_resources` | gauge | `state` |
//! | `homelabd_revision_info` | gauge (always 1) | `commit` |
//! | `homelabd_errors_total` | counter | `kind` |
//! | `homelabd_last_successful_sync_timestamp_seconds` | gauge | |
//! | `homelabd_ready`, `homelabd_git_source_up`, `homelabd_database_up` | gauge (0/1) | |
//! | `homelabd_render_passes_total` | counter | |

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The kinds of error counted by `homelabd_errors_total` (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The tracked repository could not be read or fetched.
    Git,
    /// The store could not be written or read.
    Database,
    Validation,
    /// A resource could not be rendered or written.
    Render,
    /// A webhook delivery was refused (signature, replay, payload).
    Webhook,
    Apply,
    /// An observer failed.
    Observe,
    /// A fault of homelabd itself (a panicked pipeline task): a bug to report.
    Internal,
}

impl ErrorKind {
    /// Every kind; each is exported from the start, at 0.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Git,
        ErrorKind::Database,
        ErrorKind::Validation,
        ErrorKind::Render,
        ErrorKind::Webhook,
        ErrorKind::Apply,
        ErrorKind::Observe,
        ErrorKind::Internal,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Git => "git",
            ErrorKind::Database => "database",
            ErrorKind::Validation => "validation",
            ErrorKind::Render => "render",
            ErrorKind::Webhook => "webhook",
            ErrorKind::Apply => "apply",
            ErrorKind::Observe => "observe",
            ErrorKind::Internal => "internal",
        }
    }
}

/// The `Content-Type` of [`Metrics::encode`] (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `Content-Type` of [`Metrics::encode_openmetrics`] (OpenMetrics 1.0 text).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitLabel {
    commit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApplyLabel {
    operation: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabel {
    sink: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutorLabel {
    provider: String,
    reason: String,
}

/// Every metric the daemon exports, with its registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconcile_duration: Histogram,
    resources: Family<StateLabel, Gauge>,
    /// States ever reported, so a state missing from a later map is set to 0.
    resource_states: Mutex<BTreeSet<String>>,
    revision: Family<CommitLabel, Gauge>,
    /// The commit currently exported; also serialises `set_revision` so two writers never
    /// leave two commits behind.
    current_commit: Mutex<Option<String>>,
    errors: Family<KindLabel, Counter>,
    last_sync: Gauge<f64, AtomicU64>,
    ready: Gauge,
    git_up: Gauge,
    database_up: Gauge,
    render_passes: Counter,
    applies: Family<ApplyLabel, Counter>,
    open_deviations: Gauge,
    executor_available: Family<ExecutorLabel, Gauge>,
    cluster_leader: Gauge,
    cluster_members: Gauge,
    notifications: Family<NotificationLabel, Counter>,
    notifications_pending: Family<SinkLabel, Gauge>,
    head_refused: Gauge,
    refusals: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric. Error counters for the known kinds start at 0.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        // 50 ms … ~14 min in 15 doubling steps: a no-op pass to a slow Terraform apply.
        let reconcile_duration = Histogram::new(exponential_buckets(0.05, 2.0, 15));
        registry.register(
            "homelabd_reconcile_duration_seconds",
            "Duration of one reconcile pass",
            reconcile_duration.clone(),
        );
        let resources = Family::<StateLabel, Gauge>::default();
        registry.register(
            "homelabd_resources",
            "Resources by state",
            resources.clone(),
        );
        let revision = Family::<CommitLabel, Gauge>::default();
        registry.register(
            "homelabd_revision_info",
            "The commit currently reconciled (value is always 1)",
            revision.clone(),
        );
        let errors = Family::<KindLabel, Counter>::default();
        registry.register("homelabd_errors", "Errors by kind", errors.clone());
        for kind in ErrorKind::ALL {
            // Creating the series is the point; the returned guard is not needed.
            drop(errors.get_or_create(&KindLabel {
                kind: kind.as_str().into(),
            }));
        }
        let last_sync = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "homelabd_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync",
            last_sync.clone(),
        );
        let head_refused = Gauge::default();
        registry.register(
            "homelabd_source_head_refused",
            "1 while the tracked branch's newest commit is refused by signature verification (the last verified revision stays in force)",
            head_refused.clone(),
        );
        let refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "homelabd_source_refusals",
            "New heads refused by signature verification, by reason",
            refusals.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "homelabd_ready",
            "1 when the daemon is ready (first load done, database reachable)",
            ready.clone(),
        );
        let git_up = Gauge::default();
        registry.register(
            "homelabd_git_source_up",
            "1 when the last fetch from the git source succeeded",
            git_up.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "homelabd_database_up",
            "1 when the database is reachable",
            database_up.clone(),
        );
        let render_passes = Counter::default();
        registry.register(
            "homelabd_render_passes",
            "Pipeline passes (validate, place, render) run",
            render_passes.clone(),
        );
        let applies = Family::<ApplyLabel, Counter>::default();
        registry.register(
            "homelabd_apply_runs",
            "Apply and destroy runs by outcome (succeeded, failed, interrupted)",
            applies.clone(),
        );
        let open_deviations = Gauge::default();
        registry.register(
            "homelabd_open_deviations",
            "Deviations between expected and observed state not yet resolved",
            open_deviations.clone(),
        );
        let executor_available = Family::<ExecutorLabel, Gauge>::default();
        registry.register(
            "homelabd_executor_available",
            "1 when the provider's executor can apply; 0 with the reason it cannot",
            executor_available.clone(),
        );
        let cluster_leader = Gauge::default();
        registry.register(
            "homelabd_cluster_leader",
            "1 when this daemon may reconcile (the cluster leader, or the only daemon)",
            cluster_leader.clone(),
        );
        let cluster_members = Gauge::default();
        registry.register(
            "homelabd_cluster_members",
            "Daemons sharing the store whose heartbeat is live",
            cluster_members.clone(),
        );
        let notifications = Family::<NotificationLabel, Counter>::default();
        registry.register(
            "homelabd_notifications",
            "Notification delivery attempts by sink and outcome (delivered, failed)",
            notifications.clone(),
        );
        let notifications_pending = Family::<SinkLabel, Gauge>::default();
        registry.register(
            "homelabd_notifications_pending",
            "Notifications waiting for delivery (or a retry) per sink",
            notifications_pending.clone(),
        );
        Self {
            registry,
            reconcile_duration,
            resources,
            resource_states: Mutex::new(BTreeSet::new()),
            revision,
            current_commit: Mutex::new(None),
            errors,
            last_sync,
            ready,
            git_up,
            database_up,
            render_passes,
            applies,
            open_deviations,
            executor_available,
            cluster_leader,
            cluster_members,
            notifications,
            notifications_pending,
            head_refused,
            refusals,
        }
    }

    /// Counts one notification delivery attempt to `sink` (`delivered` or `failed`).
    pub fn inc_notification(&self, sink: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotificationLabel {
                sink: sink.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Sets how many notifications wait for `sink`.
    pub fn set_notifications_pending(&self, sink: &str, count: i64) {
        self.notifications_pending
            .get_or_create(&SinkLabel {
                sink: sink.to_owned(),
            })
            .set(count);
    }

    /// Whether this daemon leads, and how many members are alive.
    pub fn set_cluster(&self, leader: bool, members: i64) {
        self.cluster_leader.set(i64::from(leader));
        self.cluster_members.set(members);
    }

    /// Counts one apply or destroy run by its outcome.
    pub fn inc_apply(&self, operation: &str, outcome: &str) {
        self.applies
            .get_or_create(&ApplyLabel {
                operation: operation.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Sets the number of open deviations.
    pub fn set_open_deviations(&self, count: i64) {
        self.open_deviations.set(count);
    }

    /// Sets per provider whether its executor can apply (`reason` empty) or why not.
    pub fn set_executor_available(&self, provider: &str, reason: Option<&str>) {
        self.executor_available
            .get_or_create(&ExecutorLabel {
                provider: provider.to_owned(),
                reason: reason.unwrap_or("").to_owned(),
            })
            .set(i64::from(reason.is_none()));
    }

    /// Records the duration of one reconcile pass.
    pub fn observe_reconcile(&self, duration: Duration) {
        self.reconcile_duration.observe(duration.as_secs_f64());
    }

    /// Sets the resource count per state; states reported before but absent now go to 0.
    pub fn set_resources(&self, by_state: &BTreeMap<String, u64>) {
        let mut seen = lock(&self.resource_states);
        for state in by_state.keys() {
            if !seen.contains(state) {
                seen.insert(state.clone());
            }
        }
        for state in seen.iter() {
            let count = by_state.get(state).copied().unwrap_or(0);
            self.resources
                .get_or_create(&StateLabel {
                    state: state.clone(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Sets `homelabd_revision_info{commit=…} 1`, removing the previous commit's series.
    pub fn set_revision(&self, commit: &str) {
        let mut current = lock(&self.current_commit);
        if current.as_deref() == Some(commit) {
            return;
        }
        self.revision.clear();
        *current = Some(commit.to_owned());
        let label = CommitLabel {
            commit: commit.to_owned(),
        };
        self.revision.get_or_create(&label).set(1);
    }

    /// Counts one error of `kind`.
    pub fn inc_error(&self, kind: ErrorKind) {
        self.errors
            .get_or_create(&KindLabel {
                kind: kind.as_str().into(),
            })
            .inc();
    }

    /// Records the time of the last successful sync.
    pub fn set_last_sync(&self, at: DateTime<Utc>) {
        // Milliseconds keep the value exact in an f64 for any realistic date.
        self.last_sync.set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// Sets `homelabd_source_head_refused`; a new refusal (`Some(reason)` with `new`) is
    /// also counted in `homelabd_source_refusals_total`.
    pub fn set_head_refused(&self, reason: Option<&str>, new: bool) {
        self.head_refused.set(i64::from(reason.is_some()));
        if let (Some(reason), true) = (reason, new) {
            self.refusals
                .get_or_create(&ReasonLabel {
                    reason: reason.to_owned(),
                })
                .inc();
        }
    }

    /// Sets `homelabd_ready` to 1 or 0.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    /// Sets `homelabd_git_source_up` to 1 or 0.
    pub fn set_git_up(&self, up: bool) {
        self.git_up.set(i64::from(up));
    }

    /// Sets `homelabd_database_up` to 1 or 0.
    pub fn set_database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    /// Counts one pipeline pass (`homelabd_render_passes_total`).
    pub fn inc_pass(&self) {
        self.render_passes.inc();
    }

    /// The registry in the Prometheus text format 0.0.4 (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail; an encoder error would be a bug in a metric.
        if let Err(err) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(%err, "encoding metrics failed");
        }
        out
    }

    /// The registry in the OpenMetrics text format (see [`OPENMETRICS_CONTENT_TYPE`]).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%err, "encoding metrics failed");
        }
        out
    }
}

/// Locks a mutex, recovering the data if a writer panicked (metrics stay best-effort).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_absent_go_to_zero() {
        let m = Metrics::new();
        m.set_resources(&BTreeMap::from([
            ("rendered".into(), 3),
            ("invalid".into(), 1),
        ]));
        m.set_resources(&BTreeMap::from([("rendered".into(), 4)]));
        let text = m.encode();
        assert!(
            text.contains("homelabd_resources{state=\"rendered\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("homelabd_resources{state=\"invalid\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn only_current_revision() {
        let m = Metrics::new();
        m.set_revision("aaaa");
        m.set_revision("bbbb");
        let text = m.encode();
        assert!(!text.contains("aaaa"), "{text}");
        assert!(
            text.contains("homelabd_revision_info{commit=\"bbbb\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn every_error_kind_is_exported_from_the_start() {
        let m = Metrics::new();
        m.inc_error(ErrorKind::Webhook);
        let text = m.encode();
        assert!(
            text.contains("homelabd_errors_total{kind=\"webhook\"} 1"),
            "{text}"
        );
        for kind in ErrorKind::ALL
            .into_iter()
            .filter(|k| *k != ErrorKind::Webhook)
        {
            let zero = format!("homelabd_errors_total{{kind=\"{}\"}} 0", kind.as_str());
            assert!(text.contains(&zero), "{text}");
        }
    }

    #[test]
    fn openmetrics_ends_with_eof() {
        let m = Metrics::new();
        m.inc_pass();
        let text = m.encode_openmetrics();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("homelabd_render_passes_total 1"), "{text}");
    }
}
