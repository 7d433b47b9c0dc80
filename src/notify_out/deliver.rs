//! The delivery task: fans new outbox events out to the sinks that want them, claims the
//! deliveries that are due, POSTs them and records the outcome. It has its own database
//! connections and runs beside the reconcile loop, never inside it; each sink has its
//! own loop, so a slow or dead receiver delays only its own deliveries.

use super::payload;
use super::settings::{NotifySettings, SinkSettings};
use crate::metrics::Metrics;
use crate::store::{DueDelivery, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Events fanned out, and deliveries sent, per step.
const BATCH: i64 = 64;

/// Errors of the delivery task.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification outbox: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver accepted it (2xx).
    Delivered,
    /// Try again later; `retry_after` when the receiver asked for a delay.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// Classifies an HTTP answer (pure).
pub fn classify(status: u16, retry_after: Option<&str>, body_start: &str) -> Attempt {
    if (200..300).contains(&status) {
        return Attempt::Delivered;
    }
    let retry_after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)));
    let body: String = body_start.chars().take(200).collect();
    let body = body.trim();
    Attempt::Failed {
        error: if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        },
        retry_after,
    }
}

/// When to try again after the `attempts`-th failed attempt (pure): exponential from
/// `base` up to `max`, or later if the receiver asked for it (`Retry-After`).
pub fn next_attempt(
    now: DateTime<Utc>,
    attempts: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> DateTime<Utc> {
    let wait = crate::reconcile::backoff::delay(attempts.max(1), base, max);
    let wait = retry_after.map_or(wait, |r| r.max(wait));
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(900))
}

/// One step's work, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// New delivery rows (pending or skipped by the sink's filter).
    pub dispatched: usize,
    pub delivered: usize,
    pub failed: usize,
}

/// Delivers the outbox to the configured sinks.
pub struct Deliverer {
    store: Arc<Store>,
    sinks: HashMap<String, Arc<SinkSettings>>,
    /// Since when each sink is served (registered once).
    since: HashMap<String, DateTime<Utc>>,
    /// What a sink seen for the first time is served from.
    serve_from: DateTime<Utc>,
    client: reqwest::Client,
    backoff_base: Duration,
    backoff_max: Duration,
    /// How long a claimed delivery is reserved for this sender.
    claim: chrono::Duration,
    retention: Duration,
    /// When old events were last pruned.
    pruned_at: Option<std::time::Instant>,
    metrics: Option<Arc<Metrics>>,
}

impl Deliverer {
    /// A deliverer for `settings` over `store` (TLS verification on, ring provider).
    pub fn new(store: Arc<Store>, settings: &NotifySettings) -> Result<Deliverer, NotifyError> {
        // The platform verifier needs a process-wide provider; an error only means one
        // is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("homelabd/", env!("CARGO_PKG_VERSION")))
            // A redirect could carry the signed body somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Client(e.without_url().to_string()))?;
        let longest = settings
            .sinks
            .iter()
            .map(|s| s.timeout)
            .max()
            .unwrap_or(Duration::from_secs(10));
        Ok(Deliverer {
            store,
            sinks: settings
                .sinks
                .iter()
                .map(|s| (s.name.clone(), Arc::new(s.clone())))
                .collect(),
            since: HashMap::new(),
            serve_from: Utc::now(),
            client,
            backoff_base: settings.backoff_base,
            backoff_max: settings.backoff_max,
            // Long enough that a send in flight is never claimed twice.
            claim: chrono::Duration::from_std(longest + Duration::from_secs(30))
                .unwrap_or(chrono::Duration::seconds(630)),
            retention: settings.retention,
            pruned_at: None,
            metrics: None,
        })
    }

    /// Serves sinks seen for the first time from `t` on (default: when this deliverer
    /// was made). The daemon passes its start, so events recorded before the delivery
    /// task first reached the database (an outage at startup) are not missed.
    pub fn serving_from(mut self, t: DateTime<Utc>) -> Deliverer {
        self.serve_from = t;
        self
    }

    /// Counts attempts and pending deliveries per sink in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Deliverer {
        self.metrics = Some(metrics);
        self
    }

    /// One round: registers sinks (first time), fans out new events, sends what is due.
    pub async fn step(&mut self) -> Result<StepReport, NotifyError> {
        let now = Utc::now();
        let mut report = StepReport::default();
        for (name, sink) in &self.sinks {
            let since = match self.since.get(name) {
                Some(t) => *t,
                None => {
                    let t = self.store.register_sink(name, self.serve_from).await?;
                    self.since.insert(name.clone(), t);
                    t
                }
            };
            for n in self.store.undispatched(name, since, BATCH).await? {
                let wanted = sink.wants(&n.event_type, &n.severity);
                self.store.dispatch(n.id, name, wanted, now).await?;
                report.dispatched += 1;
            }
        }
        if self
            .pruned_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(3600))
        {
            let before = chrono::Duration::from_std(self.retention)
                .ok()
                .and_then(|r| now.checked_sub_signed(r));
            if let Some(before) = before {
                let pruned = self.store.prune_notifications(before).await?;
                if pruned > 0 {
                    info!(pruned, "old notifications removed from the outbox");
                }
            }
            self.pruned_at = Some(std::time::Instant::now());
        }
        let mut names: Vec<String> = self.sinks.keys().cloned().collect();
        // One at a time, oldest first: a sink gets its events in order (a retried one
        // can still arrive after newer ones), and each claim only has to outlast one
        // request, so a delivery held by a daemon that died is retried soon. A sink that
        // failed is left alone for the rest of the step: its next events would most
        // likely fail too, and must not overtake the one waiting for a retry.
        for _ in 0..BATCH {
            if names.is_empty() {
                break;
            }
            let now = Utc::now();
            let claim_until = now + self.claim;
            let Some(d) = self
                .store
                .due_deliveries(&names, now, 1, claim_until)
                .await?
                .into_iter()
                .next()
            else {
                break;
            };
            let Some(sink) = self.sinks.get(&d.sink).cloned() else {
                continue; // only configured sinks are claimed
            };
            let attempt = send(&self.client, &sink, &d).await;
            if matches!(attempt, Attempt::Failed { .. }) {
                names.retain(|n| *n != d.sink);
            }
            self.record((d, attempt), &mut report).await?;
        }
        if let Some(metrics) = &self.metrics {
            for name in self.sinks.keys() {
                let pending = self.store.pending_deliveries(name).await?;
                metrics.set_notifications_pending(name, pending);
            }
        }
        Ok(report)
    }

    async fn record(
        &self,
        (d, attempt): (DueDelivery, Attempt),
        report: &mut StepReport,
    ) -> Result<(), NotifyError> {
        let now = Utc::now();
        match attempt {
            Attempt::Delivered => {
                self.store
                    .mark_delivered(d.notification.id, &d.sink, now)
                    .await?;
                debug!(sink = %d.sink, event = %d.notification.id, kind = %d.notification.event_type, "notification delivered");
                report.delivered += 1;
                if let Some(m) = &self.metrics {
                    m.inc_notification(&d.sink, "delivered");
                }
            }
            Attempt::Failed { error, retry_after } => {
                let attempts = u32::try_from(d.attempts).unwrap_or(0) + 1;
                let next = next_attempt(
                    now,
                    attempts,
                    self.backoff_base,
                    self.backoff_max,
                    retry_after,
                );
                warn!(sink = %d.sink, event = %d.notification.id, attempts, %error, retry_at = %next, "notification not delivered; will retry");
                self.store
                    .mark_failed(d.notification.id, &d.sink, &error, next)
                    .await?;
                report.failed += 1;
                if let Some(m) = &self.metrics {
                    m.inc_notification(&d.sink, "failed");
                }
            }
        }
        Ok(())
    }
}

/// POSTs one delivery. Errors never include the URL (it is a secret).
async fn send(client: &reqwest::Client, sink: &SinkSettings, d: &DueDelivery) -> Attempt {
    let out = payload::render(
        sink.kind,
        &d.notification,
        sink.secret.as_ref().map(|s| s.expose().as_bytes()),
    );
    let mut req = client
        .post(sink.url.expose())
        .timeout(sink.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(out.body);
    for (name, value) in out.headers {
        req = req.header(name, value);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = if (200..300).contains(&status) {
                String::new()
            } else {
                resp.text().await.unwrap_or_default()
            };
            classify(status, retry_after.as_deref(), &body)
        }
        Err(e) => Attempt::Failed {
            error: error_chain(&e.without_url()),
            retry_after: None,
        },
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The daemon's delivery task: one loop per sink, so a slow or dead receiver delays
/// only its own deliveries. Each connects to the store (retrying while it is down), then
/// steps every `poll_interval` until `shutdown` turns true. With no sinks it returns at
/// once; events still accumulate in the outbox for sinks configured later (from then on).
pub async fn run(
    settings: NotifySettings,
    database_url: String,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) {
    let started = Utc::now();
    let mut loops = tokio::task::JoinSet::new();
    for sink in &settings.sinks {
        let one = NotifySettings {
            sinks: vec![sink.clone()],
            ..settings.clone()
        };
        loops.spawn(run_sinks(
            one,
            database_url.clone(),
            metrics.clone(),
            started,
            shutdown.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
}

/// The loop of [`run`] for the sinks in `settings`.
async fn run_sinks(
    settings: NotifySettings,
    database_url: String,
    metrics: Arc<Metrics>,
    started: DateTime<Utc>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    let mut deliverer: Option<Deliverer> = None;
    loop {
        let wait = match &mut deliverer {
            None => match Store::connect(&database_url).await {
                Ok(store) => match Deliverer::new(Arc::new(store), &settings) {
                    Ok(d) => {
                        let d = d.serving_from(started).with_metrics(metrics.clone());
                        let names: Vec<&str> =
                            settings.sinks.iter().map(|s| s.name.as_str()).collect();
                        info!(sinks = ?names, "notification delivery started");
                        deliverer = Some(d);
                        failures = 0;
                        Duration::ZERO
                    }
                    Err(e) => {
                        warn!(error = %e, "notifications disabled");
                        return;
                    }
                },
                Err(e) => {
                    failures += 1;
                    debug!(error = %e, "notification outbox: store unavailable");
                    crate::reconcile::backoff::delay(
                        failures,
                        Duration::from_secs(1),
                        Duration::from_secs(30),
                    )
                }
            },
            // Shutdown does not wait for a slow receiver: what was claimed and not
            // marked is sent again after its claim ends (at least once).
            Some(d) => match tokio::select! {
                r = d.step() => r,
                _ = shutdown.changed() => return,
            } {
                Ok(report) => {
                    failures = 0;
                    if report.dispatched + report.delivered + report.failed > 0 {
                        debug!(?report, "notification step");
                    }
                    // More may be waiting beyond one batch: go on at once.
                    if report.dispatched as i64 >= BATCH
                        || (report.delivered + report.failed) as i64 >= BATCH
                    {
                        Duration::ZERO
                    } else {
                        settings.poll_interval
                    }
                }
                Err(e) => {
                    // The schema may not be migrated yet, or the database is down.
                    failures += 1;
                    debug!(error = %e, "notification step failed; will retry");
                    crate::reconcile::backoff::delay(
                        failures,
                        settings.poll_interval,
                        Duration::from_secs(30),
                    )
                }
            },
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundreds_are_delivered_everything_else_retried() {
        assert_eq!(classify(204, None, ""), Attempt::Delivered);
        assert_eq!(
            classify(503, Some("7"), "down for maintenance\n"),
            Attempt::Failed {
                error: "HTTP 503: down for maintenance".into(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        assert_eq!(
            classify(404, Some("Wed, 21 Oct 2015 07:28:00 GMT"), ""),
            Attempt::Failed {
                error: "HTTP 404".into(),
                retry_after: None,
            }
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_maximum() {
        let now = Utc::now();
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(60);
        let secs = |a, r| (next_attempt(now, a, base, max, r) - now).num_seconds();
        assert_eq!(secs(1, None), 5);
        assert_eq!(secs(2, None), 10);
        assert_eq!(secs(3, None), 20);
        assert_eq!(secs(10, None), 60);
        assert_eq!(secs(1, Some(Duration::from_secs(30))), 30);
        assert_eq!(secs(3, Some(Duration::from_secs(1))), 20);
    }
}
