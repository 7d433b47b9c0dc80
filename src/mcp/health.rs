//! Health answers (pure): deployment status from the revision and the store (state, apply
//! runs with log tails), deviations between expected and actual state, and anomalies
//! (deviations, failed applies, invalid definitions, capacity) over a time window.

use super::context::View;
use super::inventory::short;
use super::page::PageInfo;
use super::reply::{Problem, Summary};
use crate::store::{ApplyRunRecord, DeviationRecord, ResourceRecord, RunState};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One apply or destroy run.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RunOut {
    pub revision: String,
    pub executor: String,
    /// `apply`, `destroy` or `rollback` (a kept healthy output of an earlier revision
    /// put in place again).
    pub operation: String,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// Every command run, as argument vectors.
    pub argv: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_tail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}

impl From<&ApplyRunRecord> for RunOut {
    fn from(r: &ApplyRunRecord) -> RunOut {
        RunOut {
            revision: r.revision.clone(),
            executor: r.executor.clone(),
            operation: r.operation.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            exit_code: r.exit_code,
            started_at: time(&r.started_at),
            duration_ms: r.duration_ms,
            argv: r.argv.clone(),
            error: r.error.clone(),
            stdout_tail: r.stdout_tail.clone(),
            stderr_tail: r.stderr_tail.clone(),
        }
    }
}

/// What the store says about a resource.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RecordedOut {
    /// `rendered`, `applied`, `failed`, `invalid`, `orphaned`, `destroyed`
    pub state: String,
    /// When prune destroyed it (its runs and deviations are kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed_at: Option<String>,
    /// The revision that no longer defined it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destroyed_revision: Option<String>,
    /// Where it can be reached (the first endpoint's address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Every place it answers, as the last apply or observation found them.
    pub endpoints: Vec<crate::reconcile::endpoint::Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The commit of the last good desired state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_revision: Option<String>,
    /// The commit last applied successfully.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<String>,
    pub updated_at: String,
}

/// Where a resource is placed, briefly.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PlacedOut {
    #[schemars(with = "String")]
    pub provider: crate::model::Provider,
    pub pool: String,
    pub nodes: Vec<String>,
    pub chart: String,
    /// The engine, cluster, account or API it is applied to (`default`: the daemon's).
    pub target: String,
}

/// One resource's status.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ResourceStatus {
    pub name: String,
    /// Defined in the tracked revision (valid or not).
    pub defined: bool,
    pub valid: bool,
    /// `file:line` of the definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Problems of the definition in the tracked revision.
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacedOut>,
    /// The store's record (absent without a store or before the daemon saw it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<RecordedOut>,
    /// Does the store's desired revision render the same inputs as the tracked revision?
    /// (`false`: the daemon has not reconciled the newest commit for this resource yet.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up_to_date: Option<bool>,
    /// Newest apply runs first.
    pub runs: Vec<RunOut>,
    /// The secrets the resource's tool gets at apply time: names only, never a value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretUseOut>,
    /// `spec.depends_on`: applied before this resource (it waits for them, with the
    /// reason in `recorded.reason`), destroyed after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The last health check (`spec.health`), when it has one and was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthOut>,
}

/// A resource's last health check.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct HealthOut {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// What the last attempt saw ("HTTP 200", "TCP 10.0.0.5:5432: connection refused").
    pub reason: String,
    pub checked_at: String,
    /// Since when the status holds.
    pub since: String,
    /// Checked against the render applied now (`false`: a newer apply is not checked yet).
    pub current: bool,
}

impl HealthOut {
    /// From the store's record, against the resource's applied render.
    pub fn of(h: &crate::store::HealthRecord, record: Option<&ResourceRecord>) -> HealthOut {
        HealthOut {
            status: h.status.as_str().to_owned(),
            reason: h.reason.clone(),
            checked_at: time(&h.checked_at),
            since: time(&h.since),
            current: record.is_some_and(|r| r.applied_hash == h.applied_hash),
        }
    }
}

/// One secret a resource uses, and how its tool receives it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SecretUseOut {
    /// The file `secrets/<secret>.age`.
    pub secret: String,
    pub key: String,
    /// The environment variable of the tool that carries it at apply time.
    pub delivered_as: String,
    /// The commit that last changed `secrets/<secret>.age` (within the newest 1000
    /// commits of the tracked branch), and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_in: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
}

/// The secrets a rendered resource's chart binds (its `homelabd.secrets.json`).
fn secret_uses(view: &View, name: &str) -> Vec<SecretUseOut> {
    let Some(rendered) = view.outcome.rendered.get(name) else {
        return Vec::new();
    };
    rendered
        .secret_bindings()
        .into_iter()
        .map(|b| SecretUseOut {
            secret: b.secret,
            key: b.key,
            delivered_as: b.env,
            changed_in: None,
            changed_at: None,
        })
        .collect()
}

/// The answer of `get-deployment-status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StatusAnswer {
    pub revision: String,
    /// Is a store connected (state and runs come from it)?
    pub store: bool,
    pub resources: Vec<ResourceStatus>,
    pub page: PageInfo,
}

impl Summary for StatusAnswer {
    fn summary(&self) -> String {
        let mut out = format!(
            "{} of {} resource(s) at {}{}",
            self.resources.len(),
            self.page.total,
            short(&self.revision),
            if self.store {
                ""
            } else {
                " (no store: definitions only)"
            }
        );
        for r in &self.resources {
            let state = r.recorded.as_ref().map_or(
                if r.valid {
                    "valid, not recorded"
                } else {
                    "invalid"
                },
                |x| x.state.as_str(),
            );
            out.push_str(&format!("\n- {}: {state}", r.name));
            if let Some(a) = r.recorded.as_ref().and_then(|x| x.address.as_deref()) {
                out.push_str(&format!(" at {a}"));
            }
            if let Some(p) = &r.placement {
                out.push_str(&format!(
                    " on {} {} {}",
                    p.provider,
                    p.pool,
                    p.nodes.join(",")
                ));
            }
            if !r.depends_on.is_empty() {
                out.push_str(&format!("; after {}", r.depends_on.join(", ")));
            }
            if let Some(reason) = r.recorded.as_ref().and_then(|x| x.reason.as_deref())
                && reason.starts_with("waiting for ")
            {
                out.push_str(&format!("; {reason}"));
            }
            if let Some(h) = &r.health {
                out.push_str(&format!("; {} ({})", h.status, h.reason));
            }
            if let Some(run) = r.runs.first() {
                out.push_str(&format!(
                    "; last {} {} {}",
                    run.operation, run.state, run.started_at
                ));
            }
            if let Some(e) = r.recorded.as_ref().and_then(|x| x.last_error.as_deref()) {
                out.push_str(&format!("; error: {}", e.lines().next().unwrap_or("")));
            }
            if !r.secrets.is_empty() {
                let names: Vec<String> = r
                    .secrets
                    .iter()
                    .map(|u| format!("{}/{}", u.secret, u.key))
                    .collect();
                out.push_str(&format!("; secrets: {}", names.join(", ")));
            }
            for p in r.problems.iter().take(3) {
                out.push_str(&format!("\n    {}", p.line()));
            }
        }
        out
    }
}

/// Every resource name the revision or the store knows, sorted.
pub fn status_names(view: &View, records: &[ResourceRecord]) -> Vec<String> {
    let c = &view.outcome.catalog;
    let mut names: BTreeSet<String> = c.resources.keys().cloned().collect();
    names.extend(c.invalid_resources.keys().cloned());
    names.extend(records.iter().map(|r| r.name.clone()));
    names.into_iter().collect()
}

/// One resource's status from the revision, its store record and its runs.
pub fn status_of(
    view: &View,
    name: &str,
    record: Option<&ResourceRecord>,
    runs: &[ApplyRunRecord],
) -> ResourceStatus {
    let o = &view.outcome;
    let c = &o.catalog;
    let decision = o.decisions.get(name);
    let source = c
        .resources
        .get(name)
        .map(|e| format!("{}:{}", e.doc.file, e.doc.start.0))
        .or_else(|| {
            c.invalid_resources
                .get(name)
                .map(|i| format!("{}:{}", i.file, i.line))
        });
    let input_hash = o.rendered.get(name).map(|r| r.manifest.input_hash.as_str());
    ResourceStatus {
        name: name.to_owned(),
        defined: source.is_some(),
        valid: decision.is_some(),
        source,
        problems: o
            .diagnostics
            .iter()
            .filter(|d| {
                d.name.as_deref() == Some(name) && d.kind.as_deref() == Some("UniversalResource")
            })
            .map(Problem::from)
            .collect(),
        placement: decision.map(|d| PlacedOut {
            provider: d.provider,
            pool: d.pool.clone(),
            nodes: d.nodes.iter().map(|n| n.name.clone()).collect(),
            chart: d.chart.clone(),
            target: o
                .rendered
                .get(name)
                .map_or_else(|| "default".to_owned(), |r| r.target.describe()),
        }),
        recorded: record.map(|r| RecordedOut {
            state: r.shown_state().to_owned(),
            destroyed_at: r.destroyed_at.as_ref().map(time),
            destroyed_revision: r.destroyed_revision.clone(),
            address: r.address.clone(),
            endpoints: r.endpoints.clone(),
            reason: r.reason.clone(),
            desired_revision: r.desired_revision.clone(),
            applied_revision: r.applied_revision.clone(),
            last_error: r.last_error.clone(),
            last_error_at: r.last_error_at.as_ref().map(time),
            updated_at: time(&r.updated_at),
        }),
        up_to_date: match (record.and_then(|r| r.input_hash.as_deref()), input_hash) {
            (Some(stored), Some(now)) => Some(stored == now),
            _ => None,
        },
        runs: runs.iter().map(RunOut::from).collect(),
        secrets: secret_uses(view, name),
        depends_on: c
            .resources
            .get(name)
            .map(|e| e.object.spec.depends_on.clone())
            .or_else(|| record.map(crate::reconcile::order::stored_depends_on))
            .unwrap_or_default(),
        health: None,
    }
}

/// A deviation between expected and actual state.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DeviationOut {
    pub resource: String,
    /// What deviates, e.g. `container/state` or `vm/memory`.
    pub key: String,
    /// `missing`, `config_drift`, `resource_change` or `unmanaged`.
    pub deviation_type: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub auto_correctable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrective_action: Option<String>,
    pub expected: serde_json::Value,
    pub actual: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub detected_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// Is the resource still defined in the tracked revision?
    pub defined: bool,
}

/// The answer of `compare-expected-vs-actual-state`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DriftAnswer {
    pub revision: String,
    /// Open deviations among those read.
    pub open: usize,
    pub deviations: Vec<DeviationOut>,
    /// Deviations per resource among those shown.
    pub by_resource: BTreeMap<String, usize>,
    /// Resources of the revision with no deviation shown (expected equals actual, or never
    /// observed).
    pub without_deviation: usize,
}

impl Summary for DriftAnswer {
    fn summary(&self) -> String {
        let mut out = format!(
            "{} deviation(s) shown, {} open, at {}",
            self.deviations.len(),
            self.open,
            short(&self.revision)
        );
        for d in &self.deviations {
            out.push_str(&format!(
                "\n- [{}] {} {} ({}){}: {}",
                d.severity,
                d.resource,
                d.key,
                d.deviation_type,
                if d.resolved_at.is_some() {
                    ", resolved"
                } else {
                    ""
                },
                d.message.as_deref().unwrap_or("")
            ));
        }
        out
    }
}

impl From<(&DeviationRecord, bool)> for DeviationOut {
    fn from((d, defined): (&DeviationRecord, bool)) -> DeviationOut {
        DeviationOut {
            resource: d.resource.clone(),
            key: d.key.clone(),
            deviation_type: d.deviation_type.clone(),
            severity: d.severity.clone(),
            auto_correctable: d.auto_correctable,
            corrective_action: d.corrective_action.clone(),
            expected: d.expected.clone().unwrap_or(serde_json::Value::Null),
            actual: d.actual.clone().unwrap_or(serde_json::Value::Null),
            message: d.message.clone(),
            detected_at: time(&d.detected_at),
            resolved_at: d.resolved_at.as_ref().map(time),
            resolved_by: d.resolved_by.clone(),
            defined,
        }
    }
}

/// `compare-expected-vs-actual-state` over the deviations read from the store.
pub fn drift(
    view: &View,
    deviations: &[DeviationRecord],
    resource: Option<&str>,
    limit: usize,
) -> DriftAnswer {
    let c = &view.outcome.catalog;
    let defined = |r: &str| c.resources.contains_key(r) || c.invalid_resources.contains_key(r);
    let shown: Vec<DeviationOut> = deviations
        .iter()
        .filter(|d| resource.is_none_or(|r| d.resource == r))
        .take(limit)
        .map(|d| DeviationOut::from((d, defined(&d.resource))))
        .collect();
    let mut by_resource = BTreeMap::new();
    for d in &shown {
        *by_resource.entry(d.resource.clone()).or_insert(0) += 1;
    }
    DriftAnswer {
        revision: view.head.clone(),
        open: shown.iter().filter(|d| d.resolved_at.is_none()).count(),
        without_deviation: c
            .resources
            .keys()
            .filter(|r| resource.is_none_or(|x| x == r.as_str()))
            .filter(|r| !by_resource.contains_key(*r))
            .count(),
        deviations: shown,
        by_resource,
    }
}

/// One thing that looks wrong.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Anomaly {
    /// `deviation`, `failed-apply`, `failed-resource`, `invalid-definition`, `capacity`
    /// or `gpu-exhausted`.
    pub kind: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub message: String,
    /// When it was first seen (store events), if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// The answer of `detect-infrastructure-anomalies`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AnomalyAnswer {
    pub revision: String,
    pub window_hours: u32,
    pub capacity_threshold_percent: u32,
    /// Was a store read (deviations, runs, states)? Without one only the revision and
    /// capacity are checked.
    pub store: bool,
    pub anomalies: Vec<Anomaly>,
    pub counts: BTreeMap<String, usize>,
}

impl Summary for AnomalyAnswer {
    fn summary(&self) -> String {
        if self.anomalies.is_empty() {
            return format!(
                "no anomalies in the last {} h (capacity threshold {}%)",
                self.window_hours, self.capacity_threshold_percent
            );
        }
        let mut out = format!(
            "{} anomal{} in the last {} h",
            self.anomalies.len(),
            if self.anomalies.len() == 1 {
                "y"
            } else {
                "ies"
            },
            self.window_hours
        );
        for a in &self.anomalies {
            out.push_str(&format!("\n- [{}] {}: {}", a.severity, a.kind, a.message));
        }
        out
    }
}

/// Store facts the anomaly scan reads (gathered by the caller).
#[derive(Debug, Default)]
pub struct StoreEvents {
    pub deviations: Vec<DeviationRecord>,
    pub runs: Vec<ApplyRunRecord>,
    pub records: Vec<ResourceRecord>,
}

/// Scans deviations, runs, states, definitions and capacity for anomalies (pure: `now`
/// is passed in).
pub fn anomalies(
    view: &View,
    events: Option<&StoreEvents>,
    now: DateTime<Utc>,
    window_hours: u32,
    threshold_percent: u32,
) -> AnomalyAnswer {
    let since = now - chrono::Duration::hours(i64::from(window_hours));
    let mut out: Vec<Anomaly> = Vec::new();
    let anomaly = |kind: &str, severity: &str, message: String| Anomaly {
        kind: kind.into(),
        severity: severity.into(),
        resource: None,
        pool: None,
        node: None,
        message,
        since: None,
    };
    if let Some(ev) = events {
        for d in ev.deviations.iter().filter(|d| d.resolved_at.is_none()) {
            out.push(Anomaly {
                resource: Some(d.resource.clone()),
                since: Some(time(&d.detected_at)),
                ..anomaly(
                    "deviation",
                    &d.severity,
                    format!(
                        "{} {}: {} ({})",
                        d.resource,
                        d.key,
                        d.message.as_deref().unwrap_or(&d.deviation_type),
                        d.corrective_action
                            .as_deref()
                            .unwrap_or("no corrective action known")
                    ),
                )
            });
        }
        for r in ev.runs.iter().filter(|r| {
            r.started_at >= since && matches!(r.state, RunState::Failed | RunState::Interrupted)
        }) {
            out.push(Anomaly {
                resource: Some(r.resource.clone()),
                since: Some(time(&r.started_at)),
                ..anomaly(
                    "failed-apply",
                    "critical",
                    format!(
                        "{} of {} at {} {} (exit {}): {}",
                        r.operation,
                        r.resource,
                        short(&r.revision),
                        r.state,
                        r.exit_code.map_or("-".to_owned(), |c| c.to_string()),
                        r.error.as_deref().unwrap_or("no error recorded")
                    ),
                )
            });
        }
        for r in ev.records.iter().filter(|r| r.state.is_failed()) {
            out.push(Anomaly {
                resource: Some(r.name.clone()),
                since: r.last_error_at.as_ref().map(time),
                ..anomaly(
                    "failed-resource",
                    "critical",
                    format!(
                        "{} is failed: {}",
                        r.name,
                        r.last_error
                            .as_deref()
                            .and_then(|e| e.lines().next())
                            .unwrap_or("no error recorded")
                    ),
                )
            });
        }
    }
    for (name, where_) in &view.outcome.catalog.invalid_resources {
        let first = view
            .outcome
            .diagnostics
            .iter()
            .find(|d| d.is_error() && d.name.as_deref() == Some(name.as_str()))
            .map(|d| d.message.clone())
            .unwrap_or_else(|| "invalid".to_owned());
        out.push(Anomaly {
            resource: Some(name.clone()),
            ..anomaly(
                "invalid-definition",
                "warning",
                format!(
                    "{name} ({}:{}) is invalid and keeps its last good state: {first}",
                    where_.file, where_.line
                ),
            )
        });
    }
    let limit = f64::from(threshold_percent.clamp(1, 100)) / 100.0;
    for pool in view.pools.values() {
        for node in &pool.nodes {
            let Some(used) = view.ledger.node_usage(&pool.path, &node.name) else {
                continue;
            };
            let cpu_total = f64::from(node.cpu) * pool.cpu_overcommit();
            let mut over = Vec::new();
            let mut check = |what: &str, used: f64, total: f64| {
                if total > 0.0 && used / total >= limit {
                    over.push(format!(
                        "{what} {:.0}% ({used}/{total})",
                        100.0 * used / total
                    ));
                }
            };
            check("CPU", f64::from(used.cpu), cpu_total);
            check("memory GB", used.memory_gb, node.memory_gb);
            check(
                "disk GB",
                f64::from(used.storage_gb),
                f64::from(node.storage_gb),
            );
            if !over.is_empty() {
                out.push(Anomaly {
                    pool: Some(pool.path.clone()),
                    node: Some(node.name.clone()),
                    ..anomaly(
                        "capacity",
                        "warning",
                        format!(
                            "{} in {} is booked above {threshold_percent}%: {}",
                            node.name,
                            pool.path,
                            over.join(", ")
                        ),
                    )
                });
            }
        }
        let gpus: usize = pool.nodes.iter().map(|n| n.gpus.len()).sum();
        let held: usize = pool
            .nodes
            .iter()
            .filter_map(|n| view.ledger.node_usage(&pool.path, &n.name))
            .map(|u| u.gpus.len())
            .sum();
        if gpus > 0 && held >= gpus {
            out.push(Anomaly {
                pool: Some(pool.path.clone()),
                ..anomaly(
                    "gpu-exhausted",
                    "info",
                    format!("every GPU in {} is assigned ({held} of {gpus}): a new GPU workload cannot go there", pool.path),
                )
            });
        }
        if let (Some(cap), Some(used)) = (&pool.capacity, view.ledger.pool_usage(&pool.path)) {
            let mut over = Vec::new();
            if cap.cpu > 0 && f64::from(used.cpu) / f64::from(cap.cpu) >= limit {
                over.push(format!("CPU {}/{}", used.cpu, cap.cpu));
            }
            if cap.memory_gb > 0.0 && used.memory_gb / cap.memory_gb >= limit {
                over.push(format!("memory {}/{} GB", used.memory_gb, cap.memory_gb));
            }
            if !over.is_empty() {
                out.push(Anomaly {
                    pool: Some(pool.path.clone()),
                    ..anomaly(
                        "capacity",
                        "warning",
                        format!(
                            "quota of {} is booked above {threshold_percent}%: {}",
                            pool.path,
                            over.join(", ")
                        ),
                    )
                });
            }
        }
    }
    let rank = |s: &str| match s {
        "critical" => 0,
        "warning" => 1,
        _ => 2,
    };
    out.sort_by(|a, b| {
        (rank(&a.severity), &a.kind, &a.message).cmp(&(rank(&b.severity), &b.kind, &b.message))
    });
    let mut counts = BTreeMap::new();
    for a in &out {
        *counts.entry(a.kind.clone()).or_insert(0) += 1;
    }
    AnomalyAnswer {
        revision: view.head.clone(),
        window_hours,
        capacity_threshold_percent: threshold_percent,
        store: events.is_some(),
        anomalies: out,
        counts,
    }
}
