//! One commit's pass: run the pipeline (reusing renders already on disk), plan against
//! the loop's view, write what changed (bounded parallel), build the pass record
//! ([`super::pass_record`], pure) and queue it for the store.

use super::failure::PipelineError;
use super::notify;
use super::pass as records;
use super::pass_record::{self, PassInputs, WriteError, Writes, Written};
use super::run::{Reconciler, slim};
use crate::pipeline::Outcome;
use crate::place::{Mode, Prior};
use crate::reconcile::{Action, Desired, ResourceState, Step, plan, plan_desired};
use crate::render::write::{prune_shared, rendered_on_disk, resource_dir, write_atomic};
use crate::store::PassRecord;
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{info, warn};

impl Reconciler {
    /// Reconciles `head`: nothing when a forced pass on the same commit would change
    /// nothing; else pipeline → plan → writes → pass record → store.
    pub(super) async fn reconcile_commit(&mut self, head: String, started: Instant) {
        let out_dir = self.settings.rendered_dir();
        if let Some(desired) = self.last.desired_of(&head)
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
        self.last.valid = !outcome.has_errors();
        let steps = plan(&outcome, &self.stored);
        let writes = self.write_changed(&steps, &outcome, &out_dir).await;
        let mut pass = pass_record::build(&PassInputs {
            head: &head,
            outcome: &outcome,
            steps: &steps,
            stored: &self.stored,
            writes: &writes,
            defaults: self.policy_defaults(),
            now,
        });
        self.note_writes(&writes);
        let (pools, templates) = records::catalog_records(&outcome);
        let catalog = serde_json::to_string(&(&pools, &templates)).unwrap_or_default();
        if self.last.catalog_changed(catalog) {
            pass.pools = Some(pools);
            pass.templates = Some(templates);
        }
        if !pass.renders.is_empty() {
            self.prune_shared(&outcome, &out_dir).await;
        }
        // Keep only the summary between passes; the outcome goes, but for the catalog and
        // placements the scheduled inventory scan holds until the next pass.
        self.last.desired = Some((head.clone(), Desired::of(&outcome)));
        self.publish_inventory_plan(outcome);
        let changed = pass.resources.len();
        self.queue_pass(pass).await;
        self.finish(&head, changed, started, now);
    }

    /// Writes the created and updated resources (not those backing off) and the
    /// unchanged ones whose directory was removed by hand; returns each one's result.
    async fn write_changed(
        &self,
        steps: &[Step],
        outcome: &Arc<Outcome>,
        out_dir: &Path,
    ) -> Writes {
        let limit = Arc::new(Semaphore::new(self.settings.parallelism));
        let mut writes = JoinSet::new();
        let mut names = HashMap::new();
        let now = Instant::now();
        for step in steps {
            let repair = match step.action {
                Action::Create | Action::Update => {
                    if self.render_backoff.waiting(&step.resource, now) {
                        continue;
                    }
                    false
                }
                // Unchanged costs a stat: only a directory removed by hand is rewritten.
                // A reused render found its directory a moment ago (that is what reuse
                // checks), so it is not looked at twice.
                Action::Unchanged => match outcome.rendered.get(&step.resource) {
                    Some(r)
                        if !r.reused
                            && !rendered_on_disk(
                                out_dir,
                                r.manifest.provider.as_str(),
                                &step.resource,
                            ) =>
                    {
                        true
                    }
                    _ => continue,
                },
                Action::Invalid | Action::Orphaned => continue,
            };
            let id = spawn_write(
                &mut writes,
                &limit,
                outcome,
                out_dir,
                &step.resource,
                repair,
            );
            names.insert(id, step.resource.clone());
        }
        let mut out = Writes::new();
        while let Some(done) = writes.join_next_with_id().await {
            match done {
                Ok((id, result)) => {
                    if let Some(name) = names.remove(&id) {
                        out.insert(name, result);
                    }
                }
                // A write task that panicked is that resource's failure, never dropped.
                Err(e) => {
                    if let Some(name) = names.remove(&e.id()) {
                        out.insert(name, Err(WriteError::Task(e)));
                    }
                }
            }
        }
        out
    }

    /// Backoff, log and metrics for each write's result.
    fn note_writes(&mut self, writes: &Writes) {
        for (name, result) in writes {
            match result {
                Ok(_) => self.render_backoff.succeeded(name),
                Err(error) => {
                    let wait = self.render_backoff.failed(name, Instant::now());
                    warn!(resource = %name, error = %error, retry_in = ?wait, "render failed");
                    self.metrics.inc_error(crate::metrics::ErrorKind::Render);
                }
            }
        }
    }

    /// Takes the pass into the loop's view (records and placements) and queues it for
    /// the store, written now if the store is reachable.
    async fn queue_pass(&mut self, pass: PassRecord) {
        let priors = Arc::make_mut(&mut self.priors);
        for r in &pass.resources {
            if let Some(prior) = r.placement.as_ref().and_then(Prior::from_decision_json) {
                priors.insert(r.name.clone(), prior);
            }
            self.stored.insert(r.name.clone(), slim(r));
        }
        self.link.queue(pass);
        self.flush().await;
    }

    /// Removes shared modules and roles that no rendered directory refers to any more
    /// (a failure is logged: stale entries only cost disk).
    async fn prune_shared(&self, outcome: &Outcome, out_dir: &Path) {
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

    /// Status, metrics, log line and sd_notify at the end of a pass.
    fn finish(&mut self, head: &str, changed: usize, started: Instant, now: chrono::DateTime<Utc>) {
        let counts = records::counts(&self.stored);
        let first = !self.last.loaded;
        self.last.loaded = true;
        self.last.head = Some(head.to_owned());
        let db_ok = self.link.store().is_some() && !self.link.behind();
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
    fn settled(&self, steps: &[crate::reconcile::Step], desired: &Desired, out_dir: &Path) -> bool {
        let now = Instant::now();
        steps.iter().all(|step| {
            let stored = self.stored.get(&step.resource).map(|r| r.state);
            match step.action {
                Action::Unchanged => desired.rendered.get(&step.resource).is_some_and(|r| {
                    rendered_on_disk(out_dir, r.provider.as_str(), &step.resource)
                }),
                Action::Create | Action::Update => self.render_backoff.waiting(&step.resource, now),
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
        // The memo and the blobs go with the run and come back with it (a panicked run
        // loses them: the next one reads and parses everything).
        let mut memo = std::mem::take(&mut self.last.files);
        let mut blobs = std::mem::take(&mut self.last.blobs);
        let run = tokio::task::spawn_blocking(move || {
            let reuse = |name: &str, input: &str| {
                let (i, o, provider) = known.get(name)?;
                (i == input && rendered_on_disk(&out_dir, provider, name)).then(|| o.clone())
            };
            let started = Instant::now();
            let result = repo
                .snapshot_with(&commit, &engine.limits, &mut blobs)
                .map(|s| {
                    let load = started.elapsed();
                    let outcome =
                        engine.run_memo(&s, Some(&mut memo), &priors, &live, Mode::Sticky, &reuse);
                    (load, outcome)
                });
            (result, memo, blobs)
        });
        let result = match run.await {
            Ok((r, memo, blobs)) => {
                self.last.files = memo;
                self.last.blobs = blobs;
                r.map_err(PipelineError::from)
            }
            Err(e) => Err(PipelineError::from_join(e)),
        };
        match result {
            Ok((load, o)) => {
                let t = o.timings;
                let files = self.last.files.last_use();
                info!(
                    load = ?load,
                    parse = ?t.parse,
                    validate = ?t.validate,
                    place = ?t.place,
                    render = ?t.render,
                    files_parsed = files.parsed,
                    files_reused = files.reused,
                    renders_kept = files.renders_kept,
                    "pipeline"
                );
                self.secrets.keyring.load_files(&o.secret_files);
                Some(Arc::new(o))
            }
            Err(e) => {
                self.pipeline_failed(e);
                None
            }
        }
    }

    /// Hands the scheduled inventory scan this revision's outcome (nothing while the scan
    /// is off or the store is not connected); the scan prepares its sources and claims
    /// from it only when it is due.
    fn publish_inventory_plan(&self, outcome: Arc<Outcome>) {
        let Some(store) = self.link.store() else {
            return;
        };
        if self.settings.inventory_scan.is_none() {
            return;
        }
        // Not the rendered files (every resource's after a first pass) nor the secrets'
        // ciphertext: the scan reads the catalog and the placements only, and would
        // otherwise keep them in memory while the daemon idles.
        let outcome = match Arc::try_unwrap(outcome) {
            Ok(mut only) => {
                only.rendered = BTreeMap::new();
                only.secret_files = BTreeMap::new();
                only.diagnostics = Vec::new();
                Arc::new(only)
            }
            // Still held elsewhere: keeping it costs nothing more.
            Err(shared) => shared,
        };
        self.inventory
            .send_replace(Some(Arc::new(super::inventory_scan::ScanInputs {
                store: store.clone(),
                outcome,
                default_context: self.settings.executors.kubernetes.context.clone(),
            })));
    }

    /// What runs on the nodes outside git, from the store's inventory (none without a
    /// store or when it cannot be read: placement then sees booked capacity only).
    async fn live_load(&self) -> crate::place::LiveLoad {
        let Some(store) = self.link.store() else {
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
}

/// Starts writing `name`'s directory on the blocking pool, at most `limit` at once.
fn spawn_write(
    writes: &mut JoinSet<Result<Written, WriteError>>,
    limit: &Arc<Semaphore>,
    outcome: &Arc<Outcome>,
    out_dir: &Path,
    name: &str,
    repair: bool,
) -> tokio::task::Id {
    let limit = limit.clone();
    let outcome = outcome.clone();
    let out_dir = out_dir.to_path_buf();
    let name = name.to_owned();
    writes
        .spawn(async move {
            let _permit = limit.acquire_owned().await;
            tokio::task::spawn_blocking(move || {
                let r = outcome.rendered.get(&name).ok_or(WriteError::NotRendered)?;
                if r.reused {
                    return Err(WriteError::Reused);
                }
                let dir = resource_dir(&out_dir, r.manifest.provider.as_str(), &name);
                let outcome = write_atomic(&dir, r).map_err(|source| WriteError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                Ok(Written { outcome, repair })
            })
            .await
            .map_err(WriteError::Task)?
        })
        .id()
}
