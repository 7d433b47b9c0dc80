//! The reconcile loop: one task that owns the daemon's state and handles one trigger at a
//! time, so a resource is never reconciled twice at once. Heavy work (git, the pipeline,
//! file writes) runs on the blocking pool; writes fan out with bounded parallelism.

use super::failure::PipelineError;
use super::pass as records;
use super::status::{DaemonStatus, VerificationStatus};
use super::trigger::Trigger;
use super::{DaemonError, notify};
use crate::apply::{Executors, Runner};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::model::Provider;
use crate::observe::Observer;
use crate::pipeline::{Engine, Outcome};
use crate::place::{Mode, Prior, Priors};
use crate::reconcile::{
    Action, Backoff, Desired, EffectivePolicy, ResourceState, plan, plan_desired,
};
use crate::render::write::{
    WriteOutcome, prune_shared, remove_leftovers, rendered_on_disk, resource_dir, write_atomic,
};
use crate::setting::redact_url;
use crate::source::TrackedRepo;
use crate::source::verify::Head;
use crate::store::{PassRecord, RenderRecord, ResourceRecord, Store};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

/// What the loop applies and observes with.
pub struct Tools {
    pub executors: Executors,
    /// Observers by provider (drift).
    pub observers: Vec<(Provider, Arc<dyn Observer>)>,
}

/// The loop's state.
pub struct Reconciler {
    pub settings: Settings,
    pub engine: Arc<Engine>,
    pub repo: TrackedRepo,
    pub executors: Executors,
    /// Observers by provider (drift).
    pub observers: Vec<(Provider, Arc<dyn Observer>)>,
    pub status: Arc<DaemonStatus>,
    pub metrics: Arc<Metrics>,
    /// The store once connected; `None` while the database is unreachable.
    pub store: Option<Arc<Store>>,
    /// Whether this daemon may act (the leader of several on one PostgreSQL).
    pub cluster: crate::cluster::Gate,
    /// The loop's view of every resource (mirrors the store).
    pub(super) stored: BTreeMap<String, ResourceRecord>,
    /// Where every resource was last placed (from the store's placement documents):
    /// placement keeps resources there while they fit.
    priors: Arc<Priors>,
    /// Passes not yet written because the database was down, oldest first.
    pub(super) pending: Vec<PassRecord>,
    /// Runs the executors' tools; cancelled when shutdown outlasts its deadline.
    pub(super) runner: Runner,
    /// True once shutdown began: no new apply starts.
    pub(super) stopping: watch::Receiver<bool>,
    /// Resources a person asked to apply (`homelabd apply NAME`), and "all".
    pub(super) approved: BTreeSet<String>,
    pub(super) approve_all: bool,
    /// Prune past the mass-deletion guard in the next apply phase.
    pub(super) force_prune: bool,
    /// Resources self-heal will re-apply in the next apply phase.
    pub(super) heal: BTreeSet<String>,
    /// Resources re-applied by self-heal, until their next observation.
    pub(super) healed: BTreeSet<String>,
    /// Each resource's last health check (`spec.health`), as the store keeps it.
    pub(super) health: BTreeMap<String, crate::store::HealthRecord>,
    /// A check passed again during an observation: dependents waiting for it may go on.
    pub(super) health_recovered: bool,
    /// Resources whose last apply failed (retried when their backoff expires).
    pub(super) apply_failed: BTreeSet<String>,
    pub(super) apply_backoff: Backoff,
    /// The last prune refusal logged, so it is audited once, not every pass.
    pub(super) prune_refused: Option<String>,
    /// Whether the newest revision had no errors (prune only from a clean one).
    pub(super) last_valid: bool,
    pub(super) interrupted_checked: bool,
    backoff: Backoff,
    git_backoff: Backoff,
    last_head: Option<String>,
    /// The desired-state summary of `last_head`: a forced pass on an unchanged commit
    /// (resync, `homelabd reconcile`) plans from it and runs the pipeline only if
    /// something would change.
    last_desired: Option<(String, Desired)>,
    last_catalog: Option<String>,
    loaded: bool,
    store_tasks_started: bool,
    next_db_retry: Option<Instant>,
    db_failures: u32,
    /// Pull-request previews in flight and the last head previewed per pull request.
    previews: crate::preview::daemon::Previews,
    /// Git and database outages waiting to be written to the notification outbox.
    notices: crate::notify_out::HealthNotices,
    /// The age identity and the secret files of the newest revision.
    pub(super) keyring: crate::secrets::Keyring,
    /// Each resource's secret bindings, with the output hash they were read for.
    pub(super) secret_bindings: BTreeMap<String, (String, Vec<crate::secrets::Binding>)>,
    /// Sync-window holds, `--ignore-windows` requests and the flapping count.
    pub(super) rollout: super::rollout::Rollout,
    /// What the watchdog thread judges the loop by ([`super::watchdog`]).
    pub progress: Arc<super::watchdog::Progress>,
    /// How often the idle loop wakes to show it is alive (`None`: no watchdog).
    pub watchdog_period: Option<Duration>,
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
        let Tools {
            executors,
            observers,
        } = tools;
        let backoff = Backoff::new(settings.backoff_base, settings.backoff_max);
        let apply_backoff = Backoff::new(settings.backoff_base, settings.backoff_max);
        let runner = Runner::new(
            Duration::from_secs(settings.executors.timeout_seconds),
            CancellationToken::new(),
        );
        let availability = executors.availability();
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
        let git_backoff = Backoff::new(settings.backoff_base, settings.backoff_max);
        let identity = crate::secrets::load_identity(settings.secrets_identity_file.as_deref());
        match &identity {
            Ok(Some(ids)) => info!(identities = ?ids, "age identity loaded for secrets"),
            Ok(None) => info!("no age identity: resources that use secrets will wait"),
            Err(e) => {
                warn!(error = %e, "cannot load the age identity; resources that use secrets will wait")
            }
        }
        let keyring = crate::secrets::Keyring::new(identity);
        Reconciler {
            keyring,
            rollout: Default::default(),
            secret_bindings: BTreeMap::new(),
            progress: Arc::default(),
            watchdog_period: None,
            settings,
            engine,
            repo,
            executors,
            observers,
            status,
            metrics,
            store: None,
            cluster: crate::cluster::Gate::single(),
            stored: BTreeMap::new(),
            priors: Arc::new(Priors::new()),
            pending: Vec::new(),
            runner,
            stopping,
            approved: BTreeSet::new(),
            approve_all: false,
            force_prune: false,
            heal: BTreeSet::new(),
            healed: BTreeSet::new(),
            health: BTreeMap::new(),
            health_recovered: false,
            apply_failed: BTreeSet::new(),
            apply_backoff,
            prune_refused: None,
            last_valid: false,
            interrupted_checked: false,
            backoff,
            git_backoff,
            last_head: None,
            last_desired: None,
            last_catalog: None,
            loaded: false,
            store_tasks_started: false,
            notices: Default::default(),
            next_db_retry: None,
            db_failures: 0,
            previews: Default::default(),
        }
    }

    /// Connects and migrates the store; on success loads the stored resources.
    async fn connect_store(&mut self) {
        if self.store.is_some() {
            return;
        }
        if self.next_db_retry.is_some_and(|t| t > Instant::now()) {
            return;
        }
        let url = self.settings.database_url.clone();
        let attempt = async {
            let store = Store::connect(&url).await?;
            store.migrate().await?;
            // With their placement documents, once: the loop keeps only where each
            // resource is (priors) and the slim records.
            let resources = store.resources().await?;
            let health = store.health_records().await?;
            Ok::<_, crate::store::StoreError>((store, resources, health))
        };
        match attempt.await {
            Ok((store, resources, health)) => {
                for h in health {
                    self.health.entry(h.resource.clone()).or_insert(h);
                }
                info!(database = %redact_url(&url), resources = resources.len(), "store connected");
                // The loop's own view wins for resources it already handled while the
                // database was away; the rest come from the store.
                let priors = Arc::make_mut(&mut self.priors);
                for r in resources {
                    if let Some(prior) = r.placement.as_ref().and_then(Prior::from_decision_json) {
                        priors.entry(r.name.clone()).or_insert(prior);
                    }
                    self.stored
                        .entry(r.name.clone())
                        .or_insert_with(|| slim(&r));
                }
                self.store = Some(Arc::new(store));
                self.db_failures = 0;
                self.next_db_retry = None;
                self.set_db(true, None);
            }
            Err(e) => {
                let wait = self.db_retry_later();
                warn!(database = %redact_url(&url), error = %e, retry_in = ?wait, "store unavailable");
                self.metrics.inc_error(crate::metrics::ErrorKind::Database);
                self.set_db(false, Some(e.to_string()));
            }
        }
    }

    /// Counts a failed database attempt and schedules the next one: 1 s doubling up to
    /// 30 s. Returns the wait.
    fn db_retry_later(&mut self) -> Duration {
        self.db_failures += 1;
        let wait = crate::reconcile::backoff::delay(
            self.db_failures,
            Duration::from_secs(1),
            Duration::from_secs(30),
        );
        self.next_db_retry = Some(Instant::now() + wait);
        wait
    }

    fn set_db(&self, ok: bool, error: Option<String>) {
        self.notices.database(ok, error.as_deref(), Utc::now());
        self.metrics.set_database_up(ok);
        self.status.update(|s| {
            s.db_ok = ok;
            s.db_error = error;
            s.ready = self.loaded && ok;
        });
        self.metrics.set_ready(self.loaded && ok);
    }

    /// Writes queued passes in order; stops at the first failure (kept for later).
    pub(super) async fn flush(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        while let Some(pass) = self.pending.first() {
            match store.record_pass(pass).await {
                Ok(()) => {
                    self.pending.remove(0);
                    if !self.status.snapshot().db_ok {
                        info!("database reachable again; queued results written");
                        self.set_db(true, None);
                    }
                }
                Err(e) if !e.is_transient() => {
                    // Refused for what it contains: retrying would wedge every later pass.
                    let dropped = self.pending.remove(0);
                    tracing::error!(
                        error = %e,
                        revision = dropped.revision.as_ref().map(|r| r.commit.as_str()).unwrap_or(""),
                        "the store refused a pass record; dropped (the next change re-records its resources)"
                    );
                    self.metrics.inc_error(crate::metrics::ErrorKind::Database);
                }
                Err(e) => {
                    warn!(error = %e, queued = self.pending.len(), "cannot write to the store; will retry");
                    self.metrics.inc_error(crate::metrics::ErrorKind::Database);
                    self.set_db(false, Some(e.to_string()));
                    self.db_retry_later();
                    return;
                }
            }
        }
        self.db_failures = 0;
        self.next_db_retry = None;
        let notices = self.notices.take();
        if !notices.is_empty()
            && let Err(e) = store.record_notifications(&notices).await
        {
            warn!(error = %e, "cannot write health notifications; will retry");
            self.notices.put_back(notices);
        }
    }

    /// When the loop should wake up by itself (retries, backoff expiry).
    fn next_wake(&self) -> Option<Instant> {
        let db = (self.store.is_none() || !self.pending.is_empty())
            .then_some(self.next_db_retry)
            .flatten();
        // A retry a sync window holds waits for the window, not for its backoff.
        let apply_retry = self
            .apply_failed
            .iter()
            .filter(|n| !self.rollout.held(n))
            .filter_map(|n| self.apply_backoff.retry_at(n))
            .min();
        [
            db,
            self.backoff.next_retry(),
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
        self.connect_store().await;
        self.flush().await;
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
        let retries_due = self.backoff.next_retry().is_some_and(|t| t <= now_i);
        let applies_due = self
            .apply_failed
            .iter()
            .any(|n| !self.apply_backoff.waiting(n, now_i) && !self.rollout.held(n))
            || self.rollout.opening_due(now_i)
            || !self.approved.is_empty()
            || self.approve_all
            || !self.heal.is_empty();
        if self.last_head.as_deref() == Some(head.as_str())
            && !force
            && !retries_due
            && !applies_due
        {
            return; // same commit, nothing due: costs nothing
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
        if self.heal.is_empty() {
            return;
        }
        let healing = self.heal.clone();
        let healed = self.apply_phase(head).await;
        self.healed
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
        self.connect_store().await;
        self.flush().await;
        let span = info_span!("observe", reason);
        async {
            self.observe_phase(None).await;
            if let Some(head) = self.last_head.clone() {
                if std::mem::take(&mut self.health_recovered) {
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
        if let Some(head) = &self.last_head {
            return Some(head.clone());
        }
        let store = self.store.as_ref()?;
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
                    self.notices.push(crate::notify_out::event::source_refused(
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
                    self.notices.push(crate::notify_out::event::source_accepted(
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
        self.notices.git(ok, error.as_deref(), Utc::now());
        self.metrics.set_git_up(ok);
        self.status.update(|s| {
            s.git_ok = ok;
            s.git_error = error;
        });
    }

    /// Removes shared modules and roles that no rendered directory refers to any more
    /// (a failure is logged: stale entries only cost disk).
    async fn prune_shared(&self, outcome: &Outcome, out_dir: &std::path::Path) {
        let referenced: std::collections::BTreeSet<String> = outcome
            .rendered
            .values()
            .flat_map(|r| r.manifest.shared.iter().cloned())
            .collect();
        let out = out_dir.to_path_buf();
        match tokio::task::spawn_blocking(move || prune_shared(&out, &referenced)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => info!(removed, "removed shared modules and roles no resource uses"),
            Ok(Err(e)) => warn!(error = %e, "cannot remove unused shared modules and roles"),
            Err(e) => warn!(error = %e, "removing unused shared modules and roles failed"),
        }
    }

    async fn reconcile_commit(&mut self, head: String, started: Instant) {
        let out_dir = self.settings.rendered_dir();
        if let Some((commit, desired)) = &self.last_desired
            && *commit == head
            && self.settled(&plan_desired(desired, &self.stored), desired, &out_dir)
        {
            // Same commit, nothing to do: no pipeline, no store write.
            self.finish(&head, 0, started, Utc::now());
            return;
        }
        let Some(outcome) = self.run_pipeline(&head).await else {
            return;
        };
        let now = Utc::now();
        self.last_valid = !outcome.has_errors();
        let steps = plan(&outcome, &self.stored);
        let mut pass = PassRecord {
            revision: Some(records::revision_record(&head, &outcome, now)),
            ..PassRecord::default()
        };
        pass.audit.push(records::audit(
            "revision.recorded",
            &head,
            serde_json::json!({"valid": !outcome.has_errors(), "errors": outcome.error_count(), "resources": outcome.rendered.len()}),
            now,
        ));
        let (pools, templates) = records::catalog_records(&outcome);
        let catalog = serde_json::to_string(&(&pools, &templates)).unwrap_or_default();
        if self.last_catalog.as_deref() != Some(catalog.as_str()) {
            pass.pools = Some(pools);
            pass.templates = Some(templates);
            self.last_catalog = Some(catalog);
        }

        let limit = Arc::new(Semaphore::new(self.settings.parallelism));
        let mut writes = JoinSet::new();
        let now_i = Instant::now();
        for step in &steps {
            let previous = self.stored.get(&step.resource);
            match step.action {
                Action::Create | Action::Update => {
                    if self.backoff.waiting(&step.resource, now_i) {
                        continue;
                    }
                    spawn_write(
                        &mut writes,
                        &limit,
                        &outcome,
                        &out_dir,
                        &step.resource,
                        false,
                    );
                }
                Action::Unchanged => {
                    // Unchanged costs a stat: only a directory removed by hand is rewritten.
                    if let Some(r) = outcome.rendered.get(&step.resource)
                        && !rendered_on_disk(&out_dir, &r.manifest.provider, &step.resource)
                    {
                        spawn_write(
                            &mut writes,
                            &limit,
                            &outcome,
                            &out_dir,
                            &step.resource,
                            true,
                        );
                    }
                }
                Action::Invalid => {
                    let record = records::invalid_record(step, previous, &outcome, now);
                    if previous.map(|p| (&p.state, &p.last_error))
                        != Some((&record.state, &record.last_error))
                    {
                        pass.audit.push(records::audit(
                            "resource.invalid",
                            &step.resource,
                            serde_json::json!({"error": record.last_error}),
                            now,
                        ));
                        pass.resources.push(record);
                    }
                }
                Action::Orphaned => {
                    if let Some(prev) = previous {
                        pass.audit.push(records::audit(
                            "resource.orphaned",
                            &step.resource,
                            serde_json::json!({"reason": step.reason}),
                            now,
                        ));
                        pass.resources
                            .push(records::orphaned_record(prev, &head, now));
                    }
                }
            }
        }
        let actions: BTreeMap<&str, Action> = steps
            .iter()
            .map(|s| (s.resource.as_str(), s.action))
            .collect();
        while let Some(done) = writes.join_next().await {
            let Ok((name, result)) = done else { continue };
            let previous = self.stored.get(&name);
            match result {
                Ok((written, repair)) => {
                    self.backoff.succeeded(&name);
                    if let Some(record) = records::rendered_record(
                        &name,
                        &head,
                        &outcome,
                        previous,
                        self.policy_defaults(),
                        now,
                    ) {
                        let action = actions
                            .get(name.as_str())
                            .copied()
                            .unwrap_or(Action::Update);
                        if !repair {
                            let mut details = serde_json::json!({"input_hash": record.input_hash, "output_hash": record.output_hash});
                            if let Some(moved) =
                                record.placement.as_ref().and_then(|p| p.get("moved"))
                            {
                                details["moved"] = moved.clone();
                            }
                            pass.audit.push(records::audit(
                                records::action_name(action),
                                &name,
                                details,
                                now,
                            ));
                        }
                        if let (Some(i), Some(o)) = (&record.input_hash, &record.output_hash) {
                            pass.renders.push(RenderRecord {
                                resource: name.clone(),
                                revision: head.clone(),
                                input_hash: i.clone(),
                                output_hash: o.clone(),
                                outcome: if written == WriteOutcome::Written {
                                    "written"
                                } else {
                                    "unchanged"
                                }
                                .to_owned(),
                                rendered_at: now,
                            });
                        }
                        pass.resources.push(record);
                    }
                }
                Err(error) => {
                    let wait = self.backoff.failed(&name, Instant::now());
                    warn!(resource = %name, error = %error, retry_in = ?wait, "render failed");
                    self.metrics.inc_error(crate::metrics::ErrorKind::Render);
                    pass.audit.push(records::audit(
                        "resource.failed",
                        &name,
                        serde_json::json!({"error": error}),
                        now,
                    ));
                    pass.resources
                        .push(records::failed_record(previous, &name, error, now));
                }
            }
        }
        if !pass.renders.is_empty() {
            self.prune_shared(&outcome, &out_dir).await;
        }
        // Keep only the summary between passes; the outcome (catalog, files) goes.
        self.last_desired = Some((head.clone(), Desired::of(&outcome)));
        drop(outcome);
        let priors = Arc::make_mut(&mut self.priors);
        for r in &pass.resources {
            if let Some(prior) = r.placement.as_ref().and_then(Prior::from_decision_json) {
                priors.insert(r.name.clone(), prior);
            }
            self.stored.insert(r.name.clone(), slim(r));
        }
        let changed = pass.resources.len();
        self.pending.push(pass);
        self.flush().await;

        self.finish(&head, changed, started, now);
    }

    /// Status, metrics, log line and sd_notify at the end of a pass.
    fn finish(&mut self, head: &str, changed: usize, started: Instant, now: chrono::DateTime<Utc>) {
        let counts = records::counts(&self.stored);
        let first = !self.loaded;
        self.loaded = true;
        self.last_head = Some(head.to_owned());
        let db_ok = self.store.is_some() && self.pending.is_empty();
        self.status.update(|s| {
            s.revision = Some(head.to_owned());
            s.last_sync = Some(now);
            s.resources = counts.clone();
            s.ready = db_ok || s.db_ok;
        });
        let ready = self.status.snapshot().ready;
        self.metrics.set_ready(ready);
        self.metrics.set_revision(head);
        self.metrics.set_resources(&counts);
        self.metrics.set_last_sync(now);
        self.metrics.observe_reconcile(started.elapsed());
        self.metrics.inc_pass();
        let summary = counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ");
        info!(changed, took = ?started.elapsed(), %summary, "reconciled");
        if first {
            notify::ready();
        }
        notify::status(&format!("{}: {summary}", records::short(head)));
    }

    /// Would carrying out `steps` change nothing at all (so a forced pass on the same
    /// commit can stop here)?
    fn settled(
        &self,
        steps: &[crate::reconcile::Step],
        desired: &Desired,
        out_dir: &std::path::Path,
    ) -> bool {
        let now = Instant::now();
        steps.iter().all(|step| {
            let stored = self.stored.get(&step.resource).map(|r| r.state);
            match step.action {
                Action::Unchanged => {
                    desired
                        .rendered
                        .get(&step.resource)
                        .is_some_and(|(_, _, provider)| {
                            rendered_on_disk(out_dir, provider, &step.resource)
                        })
                }
                Action::Create | Action::Update => self.backoff.waiting(&step.resource, now),
                Action::Invalid => stored == Some(ResourceState::Invalid),
                Action::Orphaned => stored == Some(ResourceState::Orphaned),
            }
        })
    }

    /// Runs the pipeline for `head` on the blocking pool, skipping the render of every
    /// resource whose identical output is already on disk (same input hash as stored).
    async fn run_pipeline(&mut self, head: &str) -> Option<Arc<Outcome>> {
        let known: HashMap<String, (String, String, String)> = self
            .stored
            .values()
            .filter(|r| {
                matches!(
                    r.state,
                    ResourceState::Rendered | ResourceState::Applied | ResourceState::ApplyFailed
                )
            })
            .filter_map(|r| {
                Some((
                    r.name.clone(),
                    (
                        r.input_hash.clone()?,
                        r.output_hash.clone()?,
                        r.provider?.as_str().to_owned(),
                    ),
                ))
            })
            .collect();
        let out_dir = self.settings.rendered_dir();
        let repo = self.repo.clone();
        let engine = self.engine.clone();
        let commit = head.to_owned();
        let priors = self.priors.clone();
        let live = self.live_load().await;
        let run = tokio::task::spawn_blocking(move || {
            let reuse = |name: &str, input: &str| {
                let (i, o, provider) = known.get(name)?;
                (i == input && rendered_on_disk(&out_dir, provider, name)).then(|| o.clone())
            };
            repo.snapshot(&commit, &engine.limits)
                .map(|s| engine.run_live(&s, &priors, &live, Mode::Sticky, &reuse))
        });
        let result = match run.await {
            Ok(r) => r.map_err(PipelineError::from),
            Err(e) => Err(PipelineError::from_join(e)),
        };
        match result {
            Ok(o) => {
                self.keyring.load_files(&o.secret_files);
                Some(Arc::new(o))
            }
            Err(e) => {
                self.pipeline_failed(e);
                None
            }
        }
    }

    /// What runs on the nodes outside git, from the store's inventory (none without a
    /// store or when it cannot be read: placement then sees booked capacity only).
    async fn live_load(&self) -> crate::place::LiveLoad {
        let Some(store) = &self.store else {
            return crate::place::LiveLoad::new();
        };
        match store.inventory(None, false).await {
            Ok(records) => crate::observe::inventory::stored_loads(&records, chrono::Utc::now()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the inventory; placing around booked capacity only");
                crate::place::LiveLoad::new()
            }
        }
    }

    /// The policy of a resource that sets none itself.
    fn policy_defaults(&self) -> EffectivePolicy {
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
            &mut self.backoff,
            &mut self.apply_backoff,
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
            render_backoff = %limits(&self.backoff),
            apply_backoff = %limits(&self.apply_backoff),
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
        self.store = None;
        self.stored.clear();
        self.pending.clear();
        self.last_head = None;
        self.last_desired = None;
        self.last_catalog = None;
        self.interrupted_checked = false;
        self.next_db_retry = None;
        self.pass(true, "became leader").await;
    }

    /// Starts the tasks that need the store (once it is connected).
    fn start_store_tasks(&mut self, tx: &mpsc::Sender<Trigger>, shutdown: &watch::Receiver<bool>) {
        if self.store_tasks_started {
            return;
        }
        if let Some(store) = &self.store {
            tokio::spawn(super::watch::store_requests(
                store.clone(),
                tx.clone(),
                shutdown.clone(),
            ));
            self.store_tasks_started = true;
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
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut force = false;
            let mut observe = None;
            let mut reasons = Vec::new();
            for t in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
                match t {
                    Trigger::Fetch { reason } => reasons.push(reason),
                    Trigger::Reconcile { resource, reason } => {
                        force = true;
                        if let Some(r) = &resource {
                            self.backoff.succeeded(r);
                            self.apply_backoff.succeeded(r);
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
                        match resource {
                            Some(r) => {
                                self.apply_backoff.succeeded(&r);
                                self.approved.insert(r);
                            }
                            None => self.approve_all = true,
                        }
                        self.force_prune |= prune;
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
                                    store: self.store.clone(),
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
            while !self.pending.is_empty() && self.store.is_some() {
                self.flush().await;
                if !self.pending.is_empty() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        })
        .await
        .is_err()
        {
            warn!(
                lost = self.pending.len(),
                "shutdown deadline reached with results unwritten; the next start re-derives them from git"
            );
        }
        Ok(())
    }
}

/// The loop's in-memory copy of a record: without the placement and dimensions JSON,
/// which only the store needs (its upsert keeps them when an update carries none). With
/// 10,000 resources this is most of the daemon's idle memory.
fn slim(r: &ResourceRecord) -> ResourceRecord {
    ResourceRecord {
        placement: None,
        dimensions: None,
        ..r.clone()
    }
}

type WriteResult = (String, Result<(WriteOutcome, bool), String>);

fn spawn_write(
    writes: &mut JoinSet<WriteResult>,
    limit: &Arc<Semaphore>,
    outcome: &Arc<Outcome>,
    out_dir: &std::path::Path,
    name: &str,
    repair: bool,
) {
    let limit = limit.clone();
    let outcome = outcome.clone();
    let out_dir = out_dir.to_path_buf();
    let name = name.to_owned();
    writes.spawn(async move {
        let _permit = limit.acquire_owned().await;
        let task_name = name.clone();
        let result = tokio::task::spawn_blocking(move || {
            let r = outcome.rendered.get(&task_name).ok_or("not rendered")?;
            if r.reused {
                return Err("internal: a skipped render was scheduled for writing".to_owned());
            }
            let dir = resource_dir(&out_dir, &r.manifest.provider, &task_name);
            let written = write_atomic(&dir, r)
                .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
            Ok::<_, String>((written, repair))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        (name, result)
    });
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
        let _ = r.notices.take();
        let panicked = tokio::task::spawn_blocking(|| panic!("index out of bounds"))
            .await
            .unwrap_err();
        r.pipeline_failed(PipelineError::from_join(panicked));
        let status = r.status.snapshot();
        assert!(status.git_ok, "the repository is fine");
        assert_eq!(status.git_error, None);
        assert!(r.notices.take().is_empty(), "no git outage notification");
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
