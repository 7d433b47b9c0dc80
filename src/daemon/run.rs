//! The reconcile loop: one task that owns the daemon's state and handles one trigger at a
//! time, so a resource is never reconciled twice at once. Heavy work (git, the pipeline,
//! file writes) runs on the blocking pool; writes fan out with bounded parallelism.

use super::apply_queue::ApplyQueue;
use super::failure::PipelineError;
use super::health_view::HealthView;
use super::last_pass::LastPass;
use super::pass as records;
use super::secret_phase::SecretCache;
use super::status::{DaemonStatus, VerificationStatus};
use super::store_link::StoreLink;
use super::trigger::Trigger;
use super::{DaemonError, notify};
use crate::apply::{Executors, Runner};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::model::Provider;
use crate::observe::Observer;
use crate::pipeline::Engine;
use crate::place::{Prior, Priors};
use crate::reconcile::{Backoff, EffectivePolicy};
use crate::render::write::remove_leftovers;
use crate::setting::redact_url;
use crate::source::TrackedRepo;
use crate::source::verify::Head;
use crate::store::ResourceRecord;
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// What the loop applies and observes with.
pub struct Tools {
    pub executors: Executors,
    /// Observers by provider (drift).
    pub observers: Vec<(Provider, Arc<dyn Observer>)>,
}

/// The loop's state: its inputs and outputs, and small owned parts — the store link
/// ([`StoreLink`]), the applies owed ([`ApplyQueue`]), the last pass ([`LastPass`]) and
/// the secrets cache — each with its own methods.
pub struct Reconciler {
    pub settings: Settings,
    pub engine: Arc<Engine>,
    pub repo: TrackedRepo,
    pub(super) tools: Tools,
    pub status: Arc<DaemonStatus>,
    pub metrics: Arc<Metrics>,
    /// Whether this daemon may act (the leader of several on one PostgreSQL).
    pub cluster: crate::cluster::Gate,
    /// The loop's view of every resource (mirrors the store).
    pub(super) stored: BTreeMap<String, ResourceRecord>,
    /// Where every resource was last placed (from the store's placement documents):
    /// placement keeps resources there while they fit.
    pub(super) priors: Arc<Priors>,
    /// The store, and the passes queued while it is unreachable.
    pub(super) link: StoreLink,
    /// Applies owed to the next apply phase, and failed ones backing off.
    pub(super) applies: ApplyQueue,
    /// What the loop keeps of its last pass.
    pub(super) last: LastPass,
    /// Runs the executors' tools; cancelled when shutdown outlasts its deadline.
    pub(super) runner: Runner,
    /// True once shutdown began: no new apply starts.
    pub(super) stopping: watch::Receiver<bool>,
    /// Each resource's last health check (`spec.health`), and whether one recovered.
    pub(super) health: HealthView,
    /// Retry delays of failed renders and writes, per resource.
    pub(super) render_backoff: Backoff,
    /// Retry delay of the git source.
    git_backoff: Backoff,
    /// Pull-request previews in flight and the last head previewed per pull request.
    previews: crate::preview::daemon::Previews,
    /// The age identity, the newest revision's secret files and the resources' bindings.
    pub(super) secrets: SecretCache,
    /// Sync-window holds, `--ignore-windows` requests and the flapping count.
    pub(super) rollout: super::rollout::Rollout,
    /// What the watchdog thread judges the loop by ([`super::watchdog`]).
    pub progress: Arc<super::watchdog::Progress>,
    /// How often the idle loop wakes to show it is alive (`None`: no watchdog).
    pub watchdog_period: Option<Duration>,
    /// What the scheduled inventory scan scans, after each pass ([`super::inventory_scan`]).
    pub(super) inventory: super::inventory_scan::Publisher,
}

impl Reconciler {
    pub fn new(
        settings: Settings,
        engine: Arc<Engine>,
        repo: TrackedRepo,
        tools: Tools,
        status: Arc<DaemonStatus>,
        metrics: Arc<Metrics>,
        stopping: watch::Receiver<bool>,
    ) -> Reconciler {
        let runner = Runner::new(
            Duration::from_secs(settings.executors.timeout_seconds),
            CancellationToken::new(),
        );
        let availability = tools.executors.availability();
        for (provider, available) in &availability {
            metrics.set_executor_available(
                provider.as_str(),
                available.as_ref().err().map(String::as_str),
            );
        }
        status.update(|s| {
            s.executors = availability
                .iter()
                .map(|(p, a)| (p.as_str().to_owned(), a.clone()))
                .collect();
        });
        let backoff = || Backoff::new(settings.backoff_base, settings.backoff_max);
        Reconciler {
            secrets: SecretCache::load(settings.secrets_identity_file.as_deref()),
            rollout: Default::default(),
            progress: Arc::default(),
            watchdog_period: None,
            inventory: watch::channel(None).0,
            engine,
            repo,
            tools,
            status,
            metrics,
            cluster: crate::cluster::Gate::single(),
            stored: BTreeMap::new(),
            priors: Arc::new(Priors::new()),
            link: StoreLink::default(),
            applies: ApplyQueue::new(settings.backoff_base, settings.backoff_max),
            last: LastPass::default(),
            runner,
            stopping,
            health: HealthView::default(),
            render_backoff: backoff(),
            git_backoff: backoff(),
            previews: Default::default(),
            settings,
        }
    }

    /// Connects and migrates the store; on success loads the stored resources.
    async fn connect_store(&mut self) {
        if self.link.store().is_some() || self.link.retry_pending(Instant::now()) {
            return;
        }
        let url = self.settings.database_url.clone();
        match StoreLink::open(&url).await {
            Ok((store, resources, health)) => {
                self.health.loaded(health);
                info!(database = %redact_url(&url), resources = resources.len(), "store connected");
                // The loop's own view wins for resources it already handled while the
                // database was away; the rest come from the store. With their placement
                // documents, once: the loop keeps only where each resource is (priors)
                // and the slim records.
                let priors = Arc::make_mut(&mut self.priors);
                for r in resources {
                    if let Some(prior) = r.placement.as_ref().and_then(Prior::from_decision_json) {
                        priors.entry(r.name.clone()).or_insert(prior);
                    }
                    self.stored
                        .entry(r.name.clone())
                        .or_insert_with(|| slim(&r));
                }
                self.link.connected(store);
                self.set_db(true, None);
            }
            Err(e) => {
                let wait = self.link.retry_later();
                warn!(database = %redact_url(&url), error = %e, retry_in = ?wait, "store unavailable");
                self.metrics.inc_error(crate::metrics::ErrorKind::Database);
                self.set_db(false, Some(e.to_string()));
            }
        }
    }

    fn set_db(&self, ok: bool, error: Option<String>) {
        self.link.notices.database(ok, error.as_deref(), Utc::now());
        self.metrics.set_database_up(ok);
        self.status.update(|s| {
            s.db_ok = ok;
            s.db_error = error;
            s.ready = self.last.loaded && ok;
        });
        self.metrics.set_ready(self.last.loaded && ok);
    }

    /// Writes queued passes in order (the rest waits for the next retry after a
    /// failure), then the outage notices.
    pub(super) async fn flush(&mut self) {
        let flushed = self.link.flush(&self.metrics).await;
        if flushed.written > 0 && !self.status.snapshot().db_ok {
            info!("database reachable again; queued results written");
            self.set_db(true, None);
        }
        match flushed.error {
            Some(error) => self.set_db(false, Some(error)),
            None => self.link.write_notices().await,
        }
    }

    /// When the loop should wake up by itself (retries, backoff expiry).
    fn next_wake(&self) -> Option<Instant> {
        // A retry a sync window holds waits for the window, not for its backoff.
        let apply_retry = self.applies.next_retry(|n| self.rollout.held(n));
        [
            self.link.wake(),
            self.render_backoff.next_retry(),
            self.git_backoff.next_retry(),
            apply_retry,
            self.rollout.next_opening(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One pass: newest commit → pipeline → plan → writes → one store transaction.
    /// `force` re-plans even when the commit did not change.
    pub async fn pass(&mut self, force: bool, reason: &str) {
        if !self.cluster.may_reconcile() {
            return; // a follower: the leader reconciles
        }
        let started = Instant::now();
        let had_store = self.link.store().is_some();
        self.connect_store().await;
        self.flush().await;
        // Applies wait while the store is away (every run must be recorded): when it comes
        // back, what was rendered meanwhile is due even on an unchanged commit.
        let store_back = !had_store && self.link.store().is_some() && !self.link.behind();
        let now_i = Instant::now();
        if self.git_backoff.waiting("git", now_i) && !force {
            return;
        }
        let repo = self.repo.clone();
        let policy = self.settings.verify.clone();
        let anchor = self.verified_anchor().await;
        let head = match tokio::task::spawn_blocking(move || {
            repo.verified_head(&policy, anchor.as_deref())
        })
        .await
        {
            Ok(Ok(head)) => {
                self.git_backoff.succeeded("git");
                self.set_git(true, None);
                head
            }
            Ok(Err(e)) => return self.pipeline_failed(e.into()),
            Err(e) => return self.pipeline_failed(PipelineError::from_join(e)),
        };
        self.note_verification(&head);
        if head.refusal.is_some() {
            self.flush().await; // the refusal's notification, now rather than next pass
        }
        let Some(head) = head.accepted else {
            return; // nothing verified yet: nothing may be reconciled
        };
        let retries_due = self.render_backoff.next_retry().is_some_and(|t| t <= now_i);
        let applies_due = self.applies.due(now_i, |n| self.rollout.held(n))
            || self.rollout.opening_due(Utc::now());
        if self.last.is_head(&head) && !force && !retries_due && !applies_due {
            if store_back {
                let commit = records::short(&head);
                let span = info_span!("apply", %commit, reason = "store connected");
                self.apply_and_observe(&head).instrument(span).await;
            }
            return; // same commit, nothing else due: costs nothing
        }
        let span = info_span!("reconcile", commit = %records::short(&head), reason);
        self.reconcile_commit(head.clone(), started)
            .instrument(span.clone())
            .await;
        self.apply_and_observe(&head).instrument(span).await;
    }

    /// Applies what is due, observes what was applied, and carries out self-heal once.
    async fn apply_and_observe(&mut self, head: &str) {
        let applied = self.apply_phase(head).await;
        if applied.is_empty() {
            return;
        }
        self.observe_phase(Some(&applied)).await;
        self.heal_then_observe(head).await;
    }

    /// Self-heal, once: re-applies what the last observation asked to heal and observes
    /// those resources again (never a second round in the same pass).
    async fn heal_then_observe(&mut self, head: &str) {
        if self.applies.heal.is_empty() {
            return;
        }
        let healing = self.applies.heal.clone();
        let healed = self.apply_phase(head).await;
        self.applies
            .healed
            .extend(healed.iter().filter(|n| healing.contains(*n)).cloned());
        if !healed.is_empty() {
            self.observe_phase(Some(&healed)).await;
        }
        self.publish_counts();
    }

    /// A drift pass over everything applied; self-heal follows where policy allows.
    async fn observe_all(&mut self, reason: &str) {
        if !self.cluster.may_reconcile() {
            return;
        }
        let had_store = self.link.store().is_some();
        self.connect_store().await;
        self.flush().await;
        let store_back = !had_store && self.link.store().is_some() && !self.link.behind();
        let span = info_span!("observe", reason);
        async {
            if let (true, Some(head)) = (store_back, self.last.head.clone()) {
                // What was rendered while the store was away is due now (see `pass`).
                self.apply_and_observe(&head).await;
            }
            self.observe_phase(None).await;
            if let Some(head) = self.last.head.clone() {
                if self.health.take_recovered() {
                    // Dependents that waited for it to be healthy go on now.
                    self.apply_and_observe(&head).await;
                }
                self.heal_then_observe(&head).await;
            }
        }
        .instrument(span)
        .await;
    }

    /// Status and metrics counts from the loop's view.
    fn publish_counts(&self) {
        let counts = records::counts(&self.stored);
        self.metrics.set_resources(&counts);
        self.status.update(|s| s.resources = counts.clone());
    }

    /// The last verified commit `all` mode checks new history against and a refused head
    /// falls back to: the revision this loop reconciled last, else the one the store
    /// recorded (it reached the infrastructure already).
    async fn verified_anchor(&self) -> Option<String> {
        if !self.settings.verify.enabled() {
            return None;
        }
        if let Some(head) = &self.last.head {
            return Some(head.clone());
        }
        let store = self.link.store()?;
        match store.latest_revision().await {
            Ok(revision) => revision.map(|r| r.commit),
            Err(e) => {
                warn!(error = %e, "cannot read the last recorded revision");
                None
            }
        }
    }

    /// Status, metrics, log and notification for what verification said about the
    /// newest commit; a refusal is logged and notified once per refused head.
    fn note_verification(&mut self, head: &Head) {
        let policy = &self.settings.verify;
        if !policy.enabled() {
            return;
        }
        let previous = self.status.snapshot().verification;
        let was_refused = previous.as_ref().and_then(|v| v.refused.as_ref());
        let now = Utc::now();
        match &head.refusal {
            Some(refusal) => {
                let new = was_refused.is_none_or(|r| r.head != refusal.head);
                if new {
                    warn!(
                        head = %refusal.head,
                        commit = %refusal.commit,
                        reason = refusal.reason.as_str(),
                        detail = %refusal.detail,
                        kept = head.accepted.as_deref().unwrap_or("nothing"),
                        "new commit refused by signature verification; keeping the last verified revision"
                    );
                    self.link
                        .notices
                        .push(crate::notify_out::event::source_refused(
                            refusal,
                            head.accepted.as_deref(),
                            now,
                        ));
                }
                self.metrics
                    .set_head_refused(Some(refusal.reason.as_str()), new);
            }
            None => {
                if was_refused.is_some() {
                    info!(head = %head.newest, signer = head.signer.as_deref().unwrap_or(""), "verified commit accepted after a refusal");
                    self.link
                        .notices
                        .push(crate::notify_out::event::source_accepted(
                            &head.newest,
                            head.signer.as_deref(),
                            now,
                        ));
                }
                self.metrics.set_head_refused(None, false);
            }
        }
        let status = VerificationStatus {
            mode: policy.mode.as_str().to_owned(),
            head: head.newest.clone(),
            // The same head as at the last look: keep who signed it.
            signer: head.signer.clone().or_else(|| {
                previous
                    .filter(|p| head.refusal.is_none() && p.head == head.newest)
                    .and_then(|p| p.signer)
            }),
            refused: head.refusal.clone(),
        };
        self.status.update(|s| s.verification = Some(status));
    }

    /// A pass got no desired state: a git outage is retried with backoff and notified; a
    /// fault of the pipeline task itself is a bug, logged and counted as `internal`.
    pub(super) fn pipeline_failed(&mut self, error: PipelineError) {
        if error.is_git_outage() {
            return self.git_failed(error.to_string());
        }
        error!(error = %error, "internal error while reading or rendering the revision; the next pass tries again");
        self.metrics.inc_error(crate::metrics::ErrorKind::Internal);
    }

    fn git_failed(&mut self, error: String) {
        let wait = self.git_backoff.failed("git", Instant::now());
        warn!(repo = %self.repo.describe(), error = %error, retry_in = ?wait, "git source unavailable; keeping the last good revision");
        self.metrics.inc_error(crate::metrics::ErrorKind::Git);
        self.set_git(false, Some(error));
    }

    fn set_git(&self, ok: bool, error: Option<String>) {
        self.link.notices.git(ok, error.as_deref(), Utc::now());
        self.metrics.set_git_up(ok);
        self.status.update(|s| {
            s.git_ok = ok;
            s.git_error = error;
        });
    }

    /// The policy of a resource that sets none itself.
    pub(super) fn policy_defaults(&self) -> EffectivePolicy {
        EffectivePolicy {
            apply: self.settings.default_apply,
            self_heal: self.settings.default_self_heal,
            prune: self.settings.default_prune,
        }
    }

    /// Takes over a reloaded configuration (see `Settings::reload`).
    fn apply_settings(&mut self, new: &Settings) {
        // What arrives here is already the running configuration (`Settings::reload`
        // kept every start-only key), so it replaces the loop's copy whole; the three
        // backoffs follow the limits.
        self.settings = new.clone();
        for backoff in [
            &mut self.render_backoff,
            &mut self.applies.backoff,
            &mut self.git_backoff,
        ] {
            backoff.set_limits(new.backoff_base, new.backoff_max);
        }
        let limits = |b: &Backoff| {
            let (base, max) = b.limits();
            format!("{}s..{}s", base.as_secs(), max.as_secs())
        };
        info!(
            parallelism = new.parallelism,
            poll = ?new.poll_interval,
            render_backoff = %limits(&self.render_backoff),
            apply_backoff = %limits(&self.applies.backoff),
            git_backoff = %limits(&self.git_backoff),
            "settings reloaded"
        );
    }

    /// Leadership moved (several daemons on one PostgreSQL). A new leader drops its view
    /// (another daemon changed the store meanwhile), reloads it and starts with a full
    /// pass on the newest commit: the loop is level-triggered, so no revision is skipped.
    async fn leadership_changed(&mut self) {
        if !self.cluster.may_reconcile() {
            info!("not the leader: reconciling stops here");
            return;
        }
        self.link.reset();
        self.stored.clear();
        self.last.forget();
        self.applies.interrupted_checked = false;
        self.pass(true, "became leader").await;
    }

    /// Starts the tasks that need the store (once it is connected).
    fn start_store_tasks(&mut self, tx: &mpsc::Sender<Trigger>, shutdown: &watch::Receiver<bool>) {
        if self.link.tasks_started {
            return;
        }
        if let Some(store) = self.link.store() {
            tokio::spawn(super::watch::store_requests(
                store.clone(),
                tx.clone(),
                shutdown.clone(),
            ));
            self.link.tasks_started = true;
        }
    }

    /// Runs until `shutdown` turns true, then drains (writes what is queued, with the
    /// configured deadline).
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Trigger>,
        tx: mpsc::Sender<Trigger>,
        mut shutdown: watch::Receiver<bool>,
        mut settings: watch::Receiver<Arc<Settings>>,
    ) -> Result<(), DaemonError> {
        let removed = remove_leftovers(&self.settings.rendered_dir()).unwrap_or(0);
        if removed > 0 {
            info!(removed, "removed leftovers of interrupted writes");
        }
        // Shutdown lets running applies finish for the configured deadline, then kills
        // their tools (the runs are recorded as interrupted and redone at the next start).
        let cancel = self.runner.cancel.clone();
        let mut stop = self.stopping.clone();
        let deadline = self.settings.shutdown_deadline;
        tokio::spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                tokio::time::sleep(deadline).await;
                cancel.cancel();
            }
        });
        // No reconcile before the first full load: the first pass is that load.
        self.progress.pass_started();
        self.pass(true, "startup").await;
        self.start_store_tasks(&tx, &shutdown);
        let mut leadership = self.cluster.clone();
        let mut alive =
            tokio::time::interval(self.watchdog_period.unwrap_or(Duration::from_secs(3600)));
        alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        #[cfg(debug_assertions)]
        let mut stall = super::watchdog::debug_stall::Stall::from_env();
        loop {
            self.progress.idle();
            let wake = self.next_wake();
            let trigger = tokio::select! {
                t = rx.recv() => t,
                _ = alive.tick() => {
                    #[cfg(debug_assertions)]
                    stall.maybe();
                    continue;
                }
                _ = async {
                    match wake {
                        Some(w) => tokio::time::sleep_until(w.into()).await,
                        None => std::future::pending::<()>().await,
                    }
                } => Some(Trigger::Fetch { reason: "retry".to_owned() }),
                _ = shutdown.changed() => None,
                _ = leadership.changed() => {
                    self.leadership_changed().await;
                    self.start_store_tasks(&tx, &shutdown);
                    continue;
                }
                changed = settings.changed() => {
                    if changed.is_ok() {
                        let new = settings.borrow_and_update().clone();
                        self.apply_settings(&new);
                    }
                    continue;
                }
            };
            let Some(first) = trigger else { break };
            self.progress.pass_started();
            // Debounce: gather what arrives in the next moment into one pass.
            super::watch::settle(&rx).await;
            let mut force = false;
            let mut observe = None;
            let mut reasons = Vec::new();
            for t in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match t {
                    Trigger::Fetch { reason } => reasons.push(reason),
                    Trigger::Reconcile { resource, reason } => {
                        force = true;
                        if let Some(r) = &resource {
                            self.render_backoff.succeeded(r);
                            self.applies.retry_now(r);
                            // Only a request naming it (the resync schedule names none).
                            self.clear_degraded(r).await;
                        }
                        reasons.push(reason);
                    }
                    Trigger::Apply {
                        resource,
                        prune,
                        ignore_windows,
                        reason,
                    } => {
                        force = true;
                        if ignore_windows {
                            self.rollout.ignore_windows(resource.as_deref());
                        }
                        self.applies.approve(resource, prune);
                        reasons.push(reason);
                    }
                    Trigger::Rollback {
                        resource,
                        revision,
                        by,
                        reason,
                    } => {
                        force = true;
                        self.applies.roll_back(super::apply_queue::ManualRollback {
                            resource,
                            revision,
                            by,
                        });
                        reasons.push(reason);
                    }
                    Trigger::Observe { reason } => observe = Some(reason),
                    Trigger::Preview {
                        number,
                        head_sha,
                        base,
                        reason,
                    } => {
                        if crate::preview::daemon::wanted_here(
                            &reason,
                            base.as_deref(),
                            &self.repo.branch,
                            self.cluster.may_reconcile(),
                        ) {
                            self.previews.start(
                                crate::preview::daemon::DaemonParts {
                                    settings: &self.settings,
                                    repo: &self.repo,
                                    engine: &self.engine,
                                    store: self.link.store().cloned(),
                                },
                                number,
                                head_sha,
                                &reason,
                            );
                        }
                    }
                }
            }
            reasons.dedup();
            if !reasons.is_empty() {
                self.pass(force, &reasons.join(", ")).await;
            }
            if let Some(reason) = observe {
                self.observe_all(&reason).await;
            }
            self.start_store_tasks(&tx, &shutdown);
        }
        notify::stopping();
        info!("shutting down: writing queued results");
        let deadline = self.settings.shutdown_deadline;
        if tokio::time::timeout(deadline, async {
            while self.link.behind() && self.link.store().is_some() {
                self.flush().await;
                if self.link.behind() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        })
        .await
        .is_err()
        {
            warn!(
                lost = self.link.queued(),
                "shutdown deadline reached with results unwritten; the next start re-derives them from git"
            );
        }
        Ok(())
    }
}

/// The loop's in-memory copy of a record: without the placement and dimensions JSON,
/// which only the store needs (its upsert keeps them when an update carries none). With
/// 10,000 resources this is most of the daemon's idle memory.
pub(super) fn slim(r: &ResourceRecord) -> ResourceRecord {
    ResourceRecord {
        placement: None,
        dimensions: None,
        ..r.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, RawConfig};

    fn reconciler(repo: &std::path::Path) -> Reconciler {
        let raw = RawConfig::parse(&format!("[source]\nrepo = {:?}\n", repo.display()), "test")
            .expect("config");
        let settings = Settings::resolve(raw, &Overrides::default()).expect("settings");
        let tracked = super::super::tracked_repo(&settings).expect("tracked repo");
        let (_stop, stopping) = watch::channel(false);
        Reconciler::new(
            settings,
            Arc::new(Engine::new().expect("engine")),
            tracked,
            Tools {
                executors: Executors::default(),
                observers: Vec::new(),
            },
            Arc::new(DaemonStatus::default()),
            Arc::new(Metrics::new()),
            stopping,
        )
    }

    fn errors(metrics: &Metrics, kind: &str) -> String {
        let needle = format!("homelabd_errors_total{{kind=\"{kind}\"}}");
        metrics
            .encode()
            .lines()
            .find(|l| l.starts_with(&needle))
            .unwrap_or_default()
            .to_owned()
    }

    /// Regression: a panicked pipeline task was logged, counted and notified as a git
    /// outage ("git source unavailable"), sending operators to look at their repository
    /// for a homelabd bug.
    #[tokio::test]
    async fn a_panicked_pipeline_task_is_no_git_outage() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        let mut r = reconciler(dir.path());
        r.set_git(true, None);
        let _ = r.link.notices.take();
        let panicked = tokio::task::spawn_blocking(|| panic!("index out of bounds"))
            .await
            .unwrap_err();
        r.pipeline_failed(PipelineError::from_join(panicked));
        let status = r.status.snapshot();
        assert!(status.git_ok, "the repository is fine");
        assert_eq!(status.git_error, None);
        assert!(
            r.link.notices.take().is_empty(),
            "no git outage notification"
        );
        assert!(
            errors(&r.metrics, "git").ends_with(" 0"),
            "{}",
            r.metrics.encode()
        );
        assert!(
            errors(&r.metrics, "internal").ends_with(" 1"),
            "{}",
            r.metrics.encode()
        );
    }
}
