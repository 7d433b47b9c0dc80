//! Previews in the daemon, off the reconcile path. A [`Trigger::Preview`] (from the
//! `pull_request` webhook or from [`poll_pulls`]) starts a task that fetches the pull
//! request's head, previews it against the tracked branch and reports on GitHub. Nothing
//! is applied, rendered to disk or written to the tracked branch: a remote's pull request
//! head is fetched into the mirror as `refs/homelabd/pull/<N>`, outside the refs the loop
//! reads.
//!
//! Only the current head is previewed: with `[propose.github]`, every preview first asks
//! GitHub for the pull request (`GET .../pulls/{number}`), and a head that is no longer
//! the pull request's (a replayed or late webhook payload: GitHub does not sign the
//! delivery id) or a closed pull request is ignored with a log line. The payload's head
//! is never trusted on its own. Without `[propose.github]` a preview is reported only in
//! the log.
//!
//! Bounds: one preview per pull request at a time (a newer head arriving meanwhile is
//! previewed next; older queued heads are dropped), at most [`MAX_CONCURRENT`] previews
//! in all, and the last previewed head of each pull request is remembered so an
//! unchanged pull request is not previewed or reported again.

use super::{PreviewError, Report, github, resolve};
use crate::config::Settings;
use crate::control::trigger::Trigger;
use crate::pipeline::Engine;
use crate::propose::GitHubSettings;
use crate::reconcile::EffectivePolicy;
use crate::source::{Origin, TrackedRepo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// The reason of the triggers [`poll_pulls`] sends.
pub const POLL_REASON: &str = "poll";

/// Whether this daemon should preview: only pull requests into the tracked branch (when
/// the event names its base); and, since every member of a cluster polls, a polled
/// preview runs on the leader only, a webhook's on the daemon that received it.
pub fn wanted_here(reason: &str, base: Option<&str>, tracked: &str, leader: bool) -> bool {
    if base.is_some_and(|b| b != tracked) {
        tracing::debug!(
            base,
            tracked,
            "pull request into another branch: not previewed"
        );
        return false;
    }
    leader || reason != POLL_REASON
}

/// Most previews running at once (each runs the pipeline twice).
pub const MAX_CONCURRENT: usize = 2;
/// The commit status description of a head whose preview failed for good.
fn failed_description(e: &PreviewError) -> String {
    let text = format!("preview failed: {e}");
    match text.char_indices().nth(139) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// Most pull requests whose last previewed head is remembered.
const MAX_REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
struct PullState {
    /// The head last previewed (reported, or failed in a way that would repeat: a
    /// timeout, a limit); not previewed again until the head changes.
    last: Option<String>,
    /// The head being previewed now.
    running: Option<String>,
    /// The newest head that arrived while one was running.
    queued: Option<String>,
}

/// The daemon's preview bookkeeping. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Previews {
    pulls: Arc<Mutex<HashMap<u64, PullState>>>,
    limit: Arc<Semaphore>,
}

impl Default for Previews {
    fn default() -> Self {
        Previews {
            pulls: Arc::default(),
            limit: Arc::new(Semaphore::new(MAX_CONCURRENT)),
        }
    }
}

/// What one preview needs from the daemon.
#[derive(Clone)]
struct Job {
    engine: Arc<Engine>,
    repo: TrackedRepo,
    github: Option<GitHubSettings>,
    /// Signature verification: the preview says whether the head would be accepted.
    verify: crate::source::verify::Policy,
    defaults: EffectivePolicy,
    /// `[secrets] identity_file` (the credential and environment win): a changed secret
    /// file is decrypted to name the keys that changed.
    identity_file: Option<std::path::PathBuf>,
    /// Where resources answer now (their recorded endpoints), for the ones the change
    /// moves or removes.
    store: Option<Arc<crate::store::Store>>,
}

/// The daemon's parts a preview reads.
pub struct DaemonParts<'a> {
    pub settings: &'a Settings,
    /// The tracked repository (the base, and where a local head is read).
    pub repo: &'a TrackedRepo,
    pub engine: &'a Arc<Engine>,
    /// Where resources answer now, for the ones a change moves or removes.
    pub store: Option<Arc<crate::store::Store>>,
}

/// What [`Previews::start`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A task was spawned.
    Spawned,
    /// Queued behind the preview of an older head of the same pull request.
    Queued,
    /// This head was already previewed (or is being previewed).
    Unchanged,
}

impl Previews {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, PullState>> {
        self.pulls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Previews `head_sha` of pull request `number` in a task of its own, unless that head
    /// was previewed already. Returns at once.
    pub fn start(
        &self,
        daemon: DaemonParts<'_>,
        number: u64,
        head_sha: String,
        reason: &str,
    ) -> Started {
        {
            let mut pulls = self.lock();
            if pulls.len() >= MAX_REMEMBERED && !pulls.contains_key(&number) {
                pulls.retain(|_, s| s.running.is_some());
            }
            let decided = decide(pulls.entry(number).or_default(), &head_sha);
            if decided != Started::Spawned {
                tracing::debug!(pull = number, head = %head_sha, reason, ?decided, "no new preview");
                return decided;
            }
        }
        let DaemonParts {
            settings,
            repo,
            engine,
            store,
        } = daemon;
        let job = Job {
            engine: Arc::clone(engine),
            repo: repo.clone(),
            github: settings.propose.github.clone(),
            verify: settings.verify.clone(),
            identity_file: settings.secrets_identity_file.clone(),
            store,
            defaults: EffectivePolicy {
                apply: settings.default_apply,
                self_heal: settings.default_self_heal,
                prune: settings.default_prune,
            },
        };
        tracing::info!(pull = number, head = %head_sha, reason, "previewing pull request");
        tokio::spawn(self.clone().run(job, number, head_sha));
        Started::Spawned
    }

    /// Previews `sha`, then whatever newer head was queued meanwhile.
    async fn run(self, job: Job, number: u64, mut sha: String) {
        loop {
            let outcome = match Arc::clone(&self.limit).acquire_owned().await {
                Ok(permit) => preview_and_report(&job, number, &sha, permit).await,
                Err(closed) => Err(PreviewError::Closed(closed)),
            };
            match &outcome {
                Ok(None) => {}
                Ok(Some(report)) => tracing::info!(
                    pull = number, head = %sha, valid = report.valid,
                    created = report.counts.created, changed = report.counts.changed,
                    removed = report.counts.removed, errors = report.errors.len(),
                    "pull request previewed"
                ),
                Err(e) if e.is_final() => {
                    tracing::warn!(pull = number, head = %sha, error = %e, "pull request preview failed; this head is not tried again");
                    if let Some(gh) = &job.github
                        && let Err(report) =
                            github::set_failed_status(gh, &sha, &failed_description(e)).await
                    {
                        tracing::warn!(pull = number, error = %report, "cannot report the failed preview");
                    }
                }
                Err(e) => {
                    tracing::warn!(pull = number, head = %sha, error = %e, "pull request preview failed")
                }
            }
            record(&job, number, &sha, &outcome).await;
            let remember = match &outcome {
                Ok(report) => report.is_some(),
                Err(e) => e.is_final(),
            };
            let next = finish(self.lock().entry(number).or_default(), &sha, remember);
            match next {
                Some(next) => sha = next,
                None => return,
            }
        }
    }
}

/// What a preview of `sha` concluded, as the store keeps it (`None`: nothing to keep,
/// the head was stale or the pull request closed). Pure.
fn preview_record(
    job_github: Option<&GitHubSettings>,
    number: u64,
    sha: &str,
    outcome: &Result<Option<Report>, PreviewError>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<crate::store::PreviewRecord> {
    use crate::store::{PreviewRecord, PreviewStatus};
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let mut record = PreviewRecord {
        pull: i64::try_from(number).unwrap_or(i64::MAX),
        head: sha.to_owned(),
        base: None,
        status: PreviewStatus::Failed,
        summary: String::new(),
        created: 0,
        changed: 0,
        removed: 0,
        errors: 0,
        pr_url: job_github.map(|gh| gh.pull_url(number)),
        reported: false,
        previewed_at: now,
    };
    match outcome {
        Ok(None) => return None,
        Ok(Some(report)) => {
            record.base = Some(report.base.commit.clone());
            record.status = if report.valid {
                PreviewStatus::Valid
            } else {
                PreviewStatus::Invalid
            };
            record.summary = super::format::status_description(report);
            record.created = count(report.counts.created);
            record.changed = count(report.counts.changed);
            record.removed = count(report.counts.removed);
            record.errors = count(report.errors.len());
            record.reported = job_github.is_some();
        }
        Err(e) => record.summary = failed_description(e),
    }
    Some(record)
}

/// Keeps the outcome in the store for the dashboard; a store that cannot be written
/// costs only that (logged), never the preview.
async fn record(job: &Job, number: u64, sha: &str, outcome: &Result<Option<Report>, PreviewError>) {
    let Some(store) = &job.store else { return };
    let Some(preview) = preview_record(
        job.github.as_ref(),
        number,
        sha,
        outcome,
        chrono::Utc::now(),
    ) else {
        return;
    };
    let audit = crate::store::AuditRecord {
        at: preview.previewed_at,
        actor: "daemon".into(),
        action: "preview.recorded".into(),
        subject: format!("pull/{number}"),
        details: serde_json::json!({
            "head": sha,
            "status": preview.status.as_str(),
            "summary": preview.summary,
        }),
    };
    if let Err(e) = store.record_preview(&preview, &audit).await {
        tracing::warn!(pull = number, error = %e, "preview not recorded in the store");
    }
}

/// What a new head of a pull request leads to, given its state; updates the state.
fn decide(state: &mut PullState, head_sha: &str) -> Started {
    let running = state.running.as_deref();
    if running == Some(head_sha) || (running.is_none() && state.last.as_deref() == Some(head_sha)) {
        return Started::Unchanged;
    }
    if running.is_some() {
        state.queued = Some(head_sha.to_owned());
        return Started::Queued;
    }
    state.running = Some(head_sha.to_owned());
    Started::Spawned
}

/// After a preview of `sha` ends (`remember` when it was reported or failed for good):
/// the next head to preview, if a newer one was queued meanwhile. Updates the state.
fn finish(state: &mut PullState, sha: &str, remember: bool) -> Option<String> {
    if remember {
        state.last = Some(sha.to_owned());
    }
    let next = state
        .queued
        .take()
        .filter(|next| state.last.as_deref() != Some(next.as_str()));
    state.running = next.clone();
    next
}

/// Previews `sha` and reports it, if it is still the pull request's head; `None` when it
/// is not (logged).
async fn preview_and_report(
    job: &Job,
    number: u64,
    sha: &str,
    permit: OwnedSemaphorePermit,
) -> Result<Option<Report>, PreviewError> {
    if let Some(gh) = &job.github {
        match github::judge(&github::pull_head(gh, number).await?, sha) {
            github::Verdict::Current => {}
            github::Verdict::Stale { current } => {
                tracing::warn!(
                    pull = number, announced = %sha, %current,
                    "stale pull_request payload ignored: the announced head is not the pull request's current head"
                );
                return Ok(None);
            }
            github::Verdict::Closed => {
                tracing::info!(pull = number, head = %sha, "pull request is closed: not previewed");
                return Ok(None);
            }
        }
    }
    // Where the daemon put each resource: the base is placed as the daemon placed it.
    let placements = crate::propose::store_priors(job.store.as_deref()).await;
    let blocking = job.clone();
    let head = sha.to_owned();
    let seconds = job.engine.limits.preview_timeout_seconds;
    let mut task =
        tokio::task::spawn_blocking(move || preview_pull(&blocking, number, &head, &placements));
    let mut report = match tokio::time::timeout(Duration::from_secs(seconds), &mut task).await {
        Ok(joined) => joined.map_err(PreviewError::Task)??,
        Err(_) => {
            // A blocking thread cannot be stopped; it ends within the pipeline's own
            // limits. Its concurrency slot stays taken until then, so timed-out previews
            // never pile up beyond MAX_CONCURRENT.
            tokio::spawn(async move {
                let _ = task.await;
                drop(permit);
            });
            return Err(PreviewError::Timeout { seconds });
        }
    };
    drop(permit);
    note_endpoints(job, &mut report).await;
    match &job.github {
        Some(gh) => {
            let done = github::report(gh, number, &report).await?;
            tracing::info!(
                pull = number,
                comment = done.comment_id,
                updated = done.updated,
                "preview reported on GitHub"
            );
        }
        None => tracing::info!(
            pull = number,
            summary = %super::format::status_description(&report),
            "no [propose.github]: the preview is not reported anywhere but this log"
        ),
    }
    Ok(Some(report))
}

/// Adds where the resources the change moves or removes answer now, from the store. A
/// store that cannot be read leaves the report without them (logged): the preview
/// itself does not depend on the store.
async fn note_endpoints(job: &Job, report: &mut Report) {
    let Some(store) = &job.store else { return };
    let touched: Vec<&str> = report
        .resources
        .iter()
        .filter(|r| r.removal.is_some() || r.moved_from.is_some())
        .map(|r| r.name.as_str())
        .collect();
    if touched.is_empty() {
        return;
    }
    // One query for the whole table once a change touches many resources.
    let records = if touched.len() > 50 {
        store.resources().await
    } else {
        let mut found = Vec::new();
        for name in touched {
            match store.resource(name).await {
                Ok(record) => found.extend(record),
                Err(e) => {
                    tracing::warn!(error = %e, "preview: recorded endpoints not read");
                    return;
                }
            }
        }
        Ok(found)
    };
    let recorded = match records {
        Ok(records) => records
            .into_iter()
            .filter(|r| !r.endpoints.is_empty())
            .map(|r| (r.name, r.endpoints))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "preview: recorded endpoints not read");
            return;
        }
    };
    super::report::note_endpoints(report, &recorded);
}

/// Fetches the pull request's head where needed, and previews it against the tracked
/// branch's newest commit. Blocking.
fn preview_pull(
    job: &Job,
    number: u64,
    sha: &str,
    placements: &crate::place::Priors,
) -> Result<Report, PreviewError> {
    let source = |what: &str, e| PreviewError::Source {
        what: what.to_owned(),
        source: e,
    };
    let base_hex = job
        .repo
        .head()
        .map_err(|e| source("the tracked branch", e))?;
    let repo = match &job.repo.origin {
        Origin::Local(path) => git2::Repository::open(path)?,
        Origin::Remote {
            url,
            mirror,
            token,
            ssh_key,
        } => {
            let repo = git2::Repository::open_bare(mirror)?;
            let refspec = format!("+refs/pull/{number}/head:refs/homelabd/pull/{number}");
            let mut remote = repo.remote_anonymous(url)?;
            let mut options = git2::FetchOptions::new();
            options.remote_callbacks(crate::source::tracked::callbacks(
                token.clone(),
                ssh_key.clone(),
            ));
            remote.fetch(&[refspec.as_str()], Some(&mut options), None)?;
            drop(remote);
            repo
        }
    };
    let head = git2::Oid::from_str(sha)?;
    if repo.find_commit(head).is_err() {
        return Err(PreviewError::RevisionNotFound {
            repo: job.repo.describe(),
            rev: format!("{sha} (head of pull request #{number})"),
        });
    }
    let base = resolve(&repo, &base_hex)?;
    let mut report = super::preview_commits(
        &job.engine,
        &repo,
        (&job.repo.branch, base),
        (&format!("pull/{number}"), head),
        job.repo.sub_path.as_deref(),
        super::Context {
            defaults: job.defaults,
            identities: crate::secrets::load_identity(job.identity_file.as_deref())
                .ok()
                .flatten()
                .as_ref(),
            placements,
        },
    )?;
    if job.verify.enabled() {
        let note = crate::source::verify::commit::preview_note(
            &repo,
            head,
            &job.verify,
            chrono::Utc::now(),
        )
        .map_err(|source| PreviewError::Source {
            what: format!("signature of pull/{number} ({head})"),
            source,
        })?;
        report.notes.extend(note);
    }
    Ok(report)
}

/// For remotes without webhooks: every poll interval, while `[propose.github]` is set,
/// lists the open pull requests and sends a [`Trigger::Preview`] for each (those whose
/// head was previewed already are skipped by [`Previews::start`]).
pub async fn poll_pulls(
    mut settings: watch::Receiver<Arc<Settings>>,
    tx: mpsc::Sender<Trigger>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (every, github) = {
            let s = settings.borrow();
            (s.poll_interval, s.propose.github.clone())
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            changed = settings.changed() => { if changed.is_err() { return } continue }
            _ = shutdown.changed() => return,
        }
        let Some(github) = github else { continue };
        match github::open_pulls(&github).await {
            Ok(pulls) => {
                for pull in pulls {
                    let trigger = Trigger::Preview {
                        number: pull.number,
                        head_sha: pull.head_sha,
                        base: pull.base,
                        reason: POLL_REASON.to_owned(),
                    };
                    if tx.send(trigger).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list open pull requests"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_leave_polled_previews_to_the_leader() {
        assert!(wanted_here(POLL_REASON, None, "main", true));
        assert!(!wanted_here(POLL_REASON, None, "main", false));
        assert!(wanted_here(
            "github pull_request opened #7",
            None,
            "main",
            false
        ));
    }

    #[test]
    fn pull_requests_into_other_branches_are_not_previewed() {
        assert!(wanted_here("webhook", Some("main"), "main", true));
        assert!(!wanted_here("webhook", Some("develop"), "main", true));
        assert!(!wanted_here(POLL_REASON, Some("develop"), "main", true));
    }

    #[test]
    fn one_preview_per_pull_request_and_the_newest_head_next() {
        let mut state = PullState::default();
        assert_eq!(decide(&mut state, "a"), Started::Spawned);
        // While "a" runs: "a" again is nothing, "b" then "c" queue, the newest wins.
        assert_eq!(decide(&mut state, "a"), Started::Unchanged);
        assert_eq!(decide(&mut state, "b"), Started::Queued);
        assert_eq!(decide(&mut state, "c"), Started::Queued);
        assert_eq!(finish(&mut state, "a", true).as_deref(), Some("c"));
        assert_eq!(state.running.as_deref(), Some("c"));
        assert_eq!(finish(&mut state, "c", true), None);
        assert_eq!(state.running, None);
        // An unchanged pull request is not previewed again.
        assert_eq!(decide(&mut state, "c"), Started::Unchanged);
        // A passing failure (GitHub or the network) is retried when the head is seen
        // again (next poll)…
        assert_eq!(decide(&mut state, "d"), Started::Spawned);
        assert_eq!(finish(&mut state, "d", false), None);
        assert_eq!(decide(&mut state, "d"), Started::Spawned);
        // …one that would repeat (a timeout, a limit) is not, until the head changes.
        assert_eq!(finish(&mut state, "d", true), None);
        assert_eq!(decide(&mut state, "d"), Started::Unchanged);
        assert_eq!(decide(&mut state, "e"), Started::Spawned);
    }

    #[test]
    fn each_outcome_is_recorded_as_the_dashboard_lists_it() {
        use crate::store::PreviewStatus;
        let now = chrono::Utc::now();
        let gh = GitHubSettings {
            owner: "example".into(),
            repo: "homelab".into(),
            api_url: crate::propose::GITHUB_API.into(),
            login: None,
            token: None,
        };
        let report = Report {
            base: super::super::Revision {
                name: "main".into(),
                commit: "a".repeat(40),
            },
            head: super::super::Revision {
                name: "pull/7".into(),
                commit: "b".repeat(40),
            },
            valid: true,
            errors: Vec::new(),
            warnings: Vec::new(),
            changed_files: Vec::new(),
            counts: super::super::report::Counts {
                created: 2,
                changed: 1,
                ..Default::default()
            },
            resources: Vec::new(),
            notes: Vec::new(),
            secrets: Vec::new(),
            order: Vec::new(),
        };
        let sha = "b".repeat(40);
        let valid = preview_record(Some(&gh), 7, &sha, &Ok(Some(report)), now).unwrap();
        assert_eq!(valid.status, PreviewStatus::Valid);
        assert_eq!((valid.created, valid.changed, valid.removed), (2, 1, 0));
        assert_eq!(valid.base.as_deref(), Some("a".repeat(40).as_str()));
        assert!(
            valid.summary.starts_with("valid: 2 created"),
            "{}",
            valid.summary
        );
        assert_eq!(
            valid.pr_url.as_deref(),
            Some("https://github.com/example/homelab/pull/7")
        );
        assert!(valid.reported);
        let failed = preview_record(
            None,
            7,
            &sha,
            &Err(PreviewError::Timeout { seconds: 120 }),
            now,
        )
        .unwrap();
        assert_eq!(failed.status, PreviewStatus::Failed);
        assert!(failed.summary.starts_with("preview failed"));
        assert!(!failed.reported && failed.pr_url.is_none() && failed.base.is_none());
        assert_eq!(preview_record(Some(&gh), 7, &sha, &Ok(None), now), None);
    }

    #[test]
    fn timeouts_and_limits_are_final_network_errors_are_not() {
        assert!(PreviewError::Timeout { seconds: 1 }.is_final());
        assert!(
            PreviewError::Source {
                what: "pull/7".into(),
                source: crate::source::SourceError::SnapshotTooLarge { limit: 1 },
            }
            .is_final()
        );
        assert!(
            !PreviewError::GitHubTimeout {
                api_url: "https://api.github.com".into(),
                seconds: 30
            }
            .is_final()
        );
        assert!(!PreviewError::Git(git2::Error::from_str("fetch failed")).is_final());
        let long = PreviewError::Timeout { seconds: 120 };
        assert!(failed_description(&long).chars().count() <= 140);
        assert!(failed_description(&long).contains("preview_timeout_seconds"));
    }
}
