//! The loop's link to the store: the connection once made, the passes queued while the
//! database is down (written in order when it is back), the retry schedule, and the git
//! and database outage notices waiting for the outbox.

use crate::metrics::{ErrorKind, Metrics};
use crate::notify_out::HealthNotices;
use crate::store::{HealthRecord, PassRecord, ResourceRecord, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, warn};

/// A connected store with its resources and their health checks.
pub(super) type Opened = (Store, Vec<ResourceRecord>, Vec<HealthRecord>);

/// The store connection and what waits for it.
#[derive(Default)]
pub(super) struct StoreLink {
    /// The store once connected; `None` while the database is unreachable.
    store: Option<Arc<Store>>,
    /// Passes not yet written because the database was down, oldest first.
    pending: Vec<PassRecord>,
    /// When the next connection or write attempt is due after a failure.
    next_retry: Option<Instant>,
    /// Failed attempts in a row (the retry delay doubles with each).
    failures: u32,
    /// Git and database outages waiting to be written to the notification outbox.
    pub(super) notices: HealthNotices,
    /// Whether the tasks that need the store (request polling) were started.
    pub(super) tasks_started: bool,
}

/// What one flush did, for the loop's status.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Flushed {
    /// Passes written.
    pub written: usize,
    /// The transient error that stopped the flush (the rest stays queued).
    pub error: Option<String>,
}

impl StoreLink {
    /// The connected store.
    pub(super) fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// Whether passes wait to be written (an apply now could not be recorded in order).
    pub(super) fn behind(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Passes waiting to be written.
    pub(super) fn queued(&self) -> usize {
        self.pending.len()
    }

    /// Queues a pass behind the ones not yet written.
    pub(super) fn queue(&mut self, pass: PassRecord) {
        self.pending.push(pass);
    }

    /// Whether a connection attempt should wait for its retry time.
    pub(super) fn retry_pending(&self, now: Instant) -> bool {
        self.next_retry.is_some_and(|t| t > now)
    }

    /// Connects and migrates the store; returns it with the stored resources (with their
    /// placement documents, read once) and their last health checks.
    pub(super) async fn open(url: &str) -> Result<Opened, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        let resources = store.resources().await?;
        let health = store.health_records().await?;
        Ok((store, resources, health))
    }

    /// Takes a connected store.
    pub(super) fn connected(&mut self, store: Store) {
        self.store = Some(Arc::new(store));
        self.failures = 0;
        self.next_retry = None;
    }

    /// Counts a failed database attempt and schedules the next one: 1 s doubling up to
    /// 30 s. Returns the wait.
    pub(super) fn retry_later(&mut self) -> Duration {
        self.failures += 1;
        let wait = crate::reconcile::backoff::delay(
            self.failures,
            Duration::from_secs(1),
            Duration::from_secs(30),
        );
        self.next_retry = Some(Instant::now() + wait);
        wait
    }

    /// When the loop must wake for the database by itself (not connected, or passes
    /// queued).
    pub(super) fn wake(&self) -> Option<Instant> {
        (self.store.is_none() || !self.pending.is_empty())
            .then_some(self.next_retry)
            .flatten()
    }

    /// Forgets the connection and what was queued (another daemon led meanwhile, so the
    /// store is read afresh); the next attempt is immediate.
    pub(super) fn reset(&mut self) {
        self.store = None;
        self.pending.clear();
        self.next_retry = None;
    }

    /// Writes queued passes in order and stops at the first transient failure (kept for
    /// later); a pass the store refuses for what it contains is dropped, or it would
    /// wedge every later one.
    pub(super) async fn flush(&mut self, metrics: &Metrics) -> Flushed {
        let mut flushed = Flushed::default();
        let Some(store) = self.store.clone() else {
            return flushed;
        };
        while let Some(pass) = self.pending.first() {
            match store.record_pass(pass).await {
                Ok(()) => {
                    self.pending.remove(0);
                    flushed.written += 1;
                }
                Err(e) if !e.is_transient() => {
                    let dropped = self.pending.remove(0);
                    error!(
                        error = %e,
                        revision = dropped.revision.as_ref().map(|r| r.commit.as_str()).unwrap_or(""),
                        "the store refused a pass record; dropped (the next change re-records its resources)"
                    );
                    metrics.inc_error(ErrorKind::Database);
                }
                Err(e) => {
                    warn!(error = %e, queued = self.pending.len(), "cannot write to the store; will retry");
                    metrics.inc_error(ErrorKind::Database);
                    flushed.error = Some(e.to_string());
                    self.retry_later();
                    return flushed;
                }
            }
        }
        self.failures = 0;
        self.next_retry = None;
        flushed
    }

    /// Writes the outage notices waiting for the outbox (kept for later on failure).
    pub(super) async fn write_notices(&mut self) {
        let Some(store) = &self.store else {
            return;
        };
        let notices = self.notices.take();
        if !notices.is_empty()
            && let Err(e) = store.record_notifications(&notices).await
        {
            warn!(error = %e, "cannot write health notifications; will retry");
            self.notices.put_back(notices);
        }
    }
}
