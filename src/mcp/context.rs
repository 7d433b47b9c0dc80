//! What the MCP tools read: the tracked repository's newest commit run through the
//! pipeline (cached per commit), the store, and the proposer. This is the IO shell; the
//! answers themselves are computed by the pure modules from a [`View`].

use super::settings::ServerSettings;
use crate::control::status::DaemonStatus;
use crate::pipeline::{Engine, Outcome};
use crate::place::{Ledger, ResolvedPool, resolve_pools};
use crate::source::{Origin, TrackedRepo};
use crate::store::Store;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How many older revisions (for migration plans) stay loaded besides the head.
const OLD_VIEWS: usize = 2;

/// Why the repository could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("cannot read the repository: {0}")]
    Source(#[from] crate::source::SourceError),
    #[error("the daemon has not loaded the repository yet")]
    NotLoaded,
    #[error("revision {0:?} is not in the tracked repository")]
    UnknownRevision(String),
    /// A commit that exists but is not the tracked head or one of its ancestors: an
    /// unmerged branch, a pull request's head, a proposal. Read tools never see it.
    #[error(
        "revision {rev:?} ({commit}) is not on the tracked branch {branch}: read tools see only its head ({head}) and the commits before it"
    )]
    NotOnTrackedBranch {
        rev: String,
        commit: String,
        branch: String,
        head: String,
    },
    #[error("the pipeline task failed: {0}")]
    Task(String),
}

/// One revision of the repository as the pipeline sees it. Rendered files are dropped
/// after the run (only manifests stay), so a cached view costs the catalog, not the
/// rendered output.
#[derive(Debug)]
pub struct View {
    /// The commit id.
    pub head: String,
    pub outcome: Outcome,
    /// Pools with inheritance applied, by path.
    pub pools: BTreeMap<String, ResolvedPool>,
    /// Every decision booked, as placement left it: what is used on each node and pool.
    pub ledger: Ledger,
    /// How long the load and pipeline run took.
    pub load_time: Duration,
}

impl View {
    /// Runs the pipeline over `snapshot` (pure apart from the clock for `load_time`).
    pub fn build(engine: &Engine, snapshot: &crate::source::Snapshot, head: String) -> View {
        View::build_placed(engine, snapshot, head, &crate::place::Priors::new())
    }

    /// [`View::build`], keeping resources where `priors` (the store's placements) put
    /// them, as the daemon does.
    pub fn build_placed(
        engine: &Engine,
        snapshot: &crate::source::Snapshot,
        head: String,
        priors: &crate::place::Priors,
    ) -> View {
        View::build_live(
            engine,
            snapshot,
            head,
            priors,
            &crate::place::LiveLoad::new(),
        )
    }

    /// [`View::build_placed`] around the live load outside git (`live`, from the store's
    /// inventory): hypothetical placements are made around it too.
    pub fn build_live(
        engine: &Engine,
        snapshot: &crate::source::Snapshot,
        head: String,
        priors: &crate::place::Priors,
        live: &crate::place::LiveLoad,
    ) -> View {
        let started = Instant::now();
        let mut outcome = engine.run_live(
            snapshot,
            priors,
            live,
            crate::place::Mode::Sticky,
            &|_, _| None,
        );
        // The rendered files are not needed to answer (and would double the memory),
        // except the secret bindings that `get-deployment-status` lists by name.
        for r in outcome.rendered.values_mut() {
            r.files
                .retain(|path, _| path == crate::secrets::BINDINGS_FILE);
        }
        let pools = resolve_pools(&outcome.catalog);
        let mut ledger = super::placement::ledger_of(outcome.decisions.values(), &pools);
        crate::place::book_live(&mut ledger, &pools, live);
        View {
            head,
            outcome,
            pools,
            ledger,
            load_time: started.elapsed(),
        }
    }
}

/// How far back [`McpContext::last_changes`] looks (commits), so one answer stays cheap on
/// a long history.
pub const HISTORY_LIMIT: usize = 1000;

/// Where the newest commit comes from.
#[derive(Debug, Clone)]
pub enum HeadSource {
    /// Read the tracked branch (fetching a remote at most once per poll interval).
    Repository,
    /// Inside the daemon: the revision the daemon last reconciled, so MCP answers match
    /// what the daemon did (and a remote is never fetched twice).
    Daemon(Arc<DaemonStatus>),
}

#[derive(Debug, Default)]
struct Cache {
    current: Option<Arc<View>>,
    old: VecDeque<Arc<View>>,
    remote_head: Option<(String, Instant)>,
    /// The daemon's last scheduled inventory scan the views were placed after.
    scanned_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Everything the tools share.
pub struct McpContext {
    pub settings: ServerSettings,
    pub repo: TrackedRepo,
    pub engine: Arc<Engine>,
    pub store: Option<Arc<Store>>,
    /// Makes the proposal tools' branches and pull requests (`None`: read-only).
    pub proposer: Option<Arc<crate::propose::Proposer>>,
    /// No proposal tools at all (`--read-only`, `[mcp] read_only`).
    pub read_only: bool,
    pub head_source: HeadSource,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for McpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpContext")
            .field("repo", &self.repo.describe())
            .field("read_only", &self.read_only)
            .field("store", &self.store.is_some())
            .field("proposer", &self.proposer.is_some())
            .finish_non_exhaustive()
    }
}

impl McpContext {
    pub fn new(
        settings: ServerSettings,
        repo: TrackedRepo,
        engine: Arc<Engine>,
        store: Option<Arc<Store>>,
        proposer: Option<Arc<crate::propose::Proposer>>,
        read_only: bool,
        head_source: HeadSource,
    ) -> McpContext {
        McpContext {
            settings,
            repo,
            engine,
            store,
            proposer,
            read_only,
            head_source,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The newest commit's view, loading and running the pipeline when the head moved.
    /// Concurrent callers wait for one load instead of each running the pipeline.
    pub async fn view(&self) -> Result<Arc<View>, ViewError> {
        let mut cache = self.cache.lock().await;
        self.forget_if_rescanned(&mut cache);
        let head = self.head(&mut cache).await?;
        if let Some(v) = cache.current.as_ref().filter(|v| v.head == head) {
            return Ok(v.clone());
        }
        let view = match cache.old.iter().position(|v| v.head == head) {
            Some(i) => cache.old.remove(i).ok_or(ViewError::NotLoaded)?,
            None => Arc::new(self.load(head).await?),
        };
        if let Some(previous) = cache.current.replace(view.clone()) {
            remember(&mut cache.old, previous);
        }
        Ok(view)
    }

    /// The view of a revision (branch, tag or commit id) that is the tracked head or one
    /// of its ancestors; anything else (an unmerged branch, `refs/homelabd/pull/N`, a
    /// proposal) is [`ViewError::NotOnTrackedBranch`], so read scope never sees — or makes
    /// the daemon load — content nobody merged.
    pub async fn view_at(&self, rev: &str) -> Result<Arc<View>, ViewError> {
        let commit = self.resolve(rev).await?;
        let mut cache = self.cache.lock().await;
        self.forget_if_rescanned(&mut cache);
        let head = self.head(&mut cache).await?;
        if commit != head && !self.is_ancestor(&commit, &head).await? {
            return Err(ViewError::NotOnTrackedBranch {
                rev: rev.to_owned(),
                commit,
                branch: self.repo.branch.clone(),
                head,
            });
        }
        if let Some(v) = cache.current.as_ref().filter(|v| v.head == commit) {
            return Ok(v.clone());
        }
        if let Some(v) = cache.old.iter().find(|v| v.head == commit) {
            return Ok(v.clone());
        }
        let view = Arc::new(self.load(commit).await?);
        remember(&mut cache.old, view.clone());
        Ok(view)
    }

    /// Resolves `rev` to a commit id in the tracked repository.
    pub async fn resolve(&self, rev: &str) -> Result<String, ViewError> {
        let path = match &self.repo.origin {
            Origin::Local(p) => p.clone(),
            Origin::Remote { mirror, .. } => mirror.clone(),
        };
        let rev = rev.to_owned();
        tokio::task::spawn_blocking(move || {
            crate::source::resolve_commit(&path, &rev)
                .map(|oid| oid.to_string())
                .map_err(|_| ViewError::UnknownRevision(rev))
        })
        .await
        .map_err(|e| ViewError::Task(e.to_string()))?
    }

    /// Is `commit` an ancestor of `head` in the tracked repository?
    async fn is_ancestor(&self, commit: &str, head: &str) -> Result<bool, ViewError> {
        let path = match &self.repo.origin {
            Origin::Local(p) => p.clone(),
            Origin::Remote { mirror, .. } => mirror.clone(),
        };
        let (commit, head) = (commit.to_owned(), head.to_owned());
        tokio::task::spawn_blocking(move || {
            let check = || -> Result<bool, git2::Error> {
                let repo = git2::Repository::open(&path)?;
                repo.graph_descendant_of(git2::Oid::from_str(&head)?, git2::Oid::from_str(&commit)?)
            };
            check().map_err(|e| ViewError::Source(e.into()))
        })
        .await
        .map_err(|e| ViewError::Task(e.to_string()))?
    }

    /// Inside the daemon: drops the views placed before its last scheduled inventory scan,
    /// so answers count the live load it recorded.
    fn forget_if_rescanned(&self, cache: &mut Cache) {
        let HeadSource::Daemon(status) = &self.head_source else {
            return;
        };
        let scanned_at = status.snapshot().inventory_scan.map(|s| s.at);
        if scanned_at != cache.scanned_at {
            cache.current = None;
            cache.old.clear();
            cache.scanned_at = scanned_at;
        }
    }

    /// The daemon's last scheduled inventory scan (`None` outside the daemon or before
    /// its first scan).
    pub fn last_scan(&self) -> Option<crate::control::status::InventoryScanStatus> {
        match &self.head_source {
            HeadSource::Daemon(status) => status.snapshot().inventory_scan,
            HeadSource::Repository => None,
        }
    }

    /// Drops the loaded views, so the next answer places around what the store holds now
    /// (after the inventory was recorded).
    pub async fn forget_views(&self) {
        let mut cache = self.cache.lock().await;
        cache.current = None;
        cache.old.clear();
    }

    /// Resources by state as the daemon last recorded them (inside the daemon only: its
    /// live status mirrors the store without a query).
    pub fn state_counts(&self) -> Option<BTreeMap<String, u64>> {
        match &self.head_source {
            HeadSource::Daemon(status) => {
                let s = status.snapshot();
                s.ready.then_some(s.resources)
            }
            HeadSource::Repository => None,
        }
    }

    /// When each of `paths` (relative to the definitions root) last changed in `head`'s
    /// first-parent history, looking back at most [`HISTORY_LIMIT`] commits.
    pub async fn last_changes(
        &self,
        head: &str,
        paths: Vec<String>,
    ) -> Result<BTreeMap<String, crate::source::history::LastChange>, ViewError> {
        let repo_path = match &self.repo.origin {
            Origin::Local(p) => p.clone(),
            Origin::Remote { mirror, .. } => mirror.clone(),
        };
        let prefix = match &self.repo.sub_path {
            Some(sub) if !sub.is_empty() => format!("{}/", sub.trim_end_matches('/')),
            _ => String::new(),
        };
        let head = head.to_owned();
        tokio::task::spawn_blocking(move || {
            let full: Vec<String> = paths.iter().map(|p| format!("{prefix}{p}")).collect();
            let found =
                crate::source::history::last_changes(&repo_path, &head, &full, HISTORY_LIMIT)
                    .map_err(|e| ViewError::Source(e.into()))?;
            Ok(paths
                .into_iter()
                .zip(full)
                .filter_map(|(p, f)| found.get(&f).map(|c| (p, c.clone())))
                .collect())
        })
        .await
        .map_err(|e| ViewError::Task(e.to_string()))?
    }

    /// The bytes of `path` (relative to the definitions root) at `commit`; `None` when
    /// the commit has no such file.
    pub async fn read_file(&self, commit: &str, path: &str) -> Result<Option<Vec<u8>>, ViewError> {
        let repo_path = match &self.repo.origin {
            Origin::Local(p) => p.clone(),
            Origin::Remote { mirror, .. } => mirror.clone(),
        };
        let full = match &self.repo.sub_path {
            Some(sub) if !sub.is_empty() => format!("{}/{path}", sub.trim_end_matches('/')),
            _ => path.to_owned(),
        };
        let commit = commit.to_owned();
        tokio::task::spawn_blocking(move || {
            let read = || -> Result<Option<Vec<u8>>, git2::Error> {
                let repo = git2::Repository::open(&repo_path)?;
                let tree = repo.find_commit(git2::Oid::from_str(&commit)?)?.tree()?;
                let Ok(entry) = tree.get_path(std::path::Path::new(&full)) else {
                    return Ok(None);
                };
                Ok(entry
                    .to_object(&repo)?
                    .as_blob()
                    .map(|b| b.content().to_vec()))
            };
            read().map_err(|e| ViewError::Source(e.into()))
        })
        .await
        .map_err(|e| ViewError::Task(e.to_string()))?
    }

    async fn head(&self, cache: &mut Cache) -> Result<String, ViewError> {
        if let HeadSource::Daemon(status) = &self.head_source {
            return status.snapshot().revision.ok_or(ViewError::NotLoaded);
        }
        let remote = matches!(self.repo.origin, Origin::Remote { .. });
        if remote
            && let Some((head, at)) = &cache.remote_head
            && at.elapsed() < self.settings.poll_interval
        {
            return Ok(head.clone());
        }
        let repo = self.repo.clone();
        let head = tokio::task::spawn_blocking(move || repo.head())
            .await
            .map_err(|e| ViewError::Task(e.to_string()))??;
        if remote {
            cache.remote_head = Some((head.clone(), Instant::now()));
        }
        Ok(head)
    }

    async fn load(&self, commit: String) -> Result<View, ViewError> {
        let repo = self.repo.clone();
        let engine = self.engine.clone();
        let priors = crate::propose::store_priors(self.store.as_deref()).await;
        let live = match &self.store {
            Some(store) => store
                .inventory(None, false)
                .await
                .map(|r| crate::observe::inventory::stored_loads(&r, chrono::Utc::now()))
                .unwrap_or_default(),
            None => crate::place::LiveLoad::new(),
        };
        tokio::task::spawn_blocking(move || {
            let snapshot = repo.snapshot(&commit, &engine.limits)?;
            let view = View::build_live(&engine, &snapshot, commit, &priors, &live);
            tracing::info!(
                revision = %view.head,
                resources = view.outcome.catalog.resources.len(),
                ms = view.load_time.as_millis() as u64,
                "MCP view loaded"
            );
            Ok(view)
        })
        .await
        .map_err(|e| ViewError::Task(e.to_string()))?
    }
}

fn remember(old: &mut VecDeque<Arc<View>>, view: Arc<View>) {
    old.retain(|v| v.head != view.head);
    old.push_front(view);
    old.truncate(OLD_VIEWS);
}
