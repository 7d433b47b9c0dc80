//! Proposals: a change to the definitions turned into a branch, a commit and (where
//! GitHub is configured) a pull request for a human to review. A proposal never acts on
//! infrastructure; merging it is what changes the desired state.
//!
//! [`Proposer::propose`] takes a [`ProposalRequest`] (the tool and client that ask, a
//! subject, the files to write or delete under the definitions root, a title and body)
//! and:
//!
//! 1. checks it ([`request`]): tool and subject are DNS-1123 labels; every path is a plain
//!    relative `.yaml` / `.yml` path inside the definitions tree (no `..`, absolute paths,
//!    hidden names such as `.git`, backslashes, or `charts/`) — else
//!    [`ProposeError::BadName`] / [`ProposeError::BadPath`];
//! 2. builds the new tree from the tracked branch's head entirely in memory ([`git`]: an
//!    in-memory object database stacked on the repository's, so concurrent proposals
//!    share nothing and nothing reaches the disk yet), loads it as a snapshot and runs
//!    the pipeline on it and on the head, exactly as the daemon would;
//! 3. refuses the change with [`ProposeError::Invalid`] when a diagnostic that concerns
//!    it is an error ([`assess`]: in a changed file, about an object defined in one, or
//!    new anywhere) — nothing is written, only an audit row `proposal.refused`;
//! 4. otherwise builds it again through a plain repository handle (writing only the new
//!    objects) and creates the branch
//!    `homelabd/<tool>/<subject>-<short id>` from the head with one commit (title, body,
//!    files, resources, validation result, trailers; author and committer from
//!    [`ProposeSettings`]). The tracked branch and any working copy are never touched;
//! 5. pushes that branch alone, never forced: to `[propose] remote` for a local tracked
//!    repository (status `local` without one), to the repository's URL for a remote one
//!    (status `pushed`);
//! 6. with `[propose.github]`, opens a pull request through octocrab whose body shows the
//!    resource table, the placement reasoning, the validation result and the rendered
//!    diff per resource ([`message`]) — status `pull-request`. Without it, a compare
//!    link is returned for GitHub- and GitLab-like remotes;
//! 7. records the proposal and its audit row `proposal.opened` (actor = client) in one
//!    transaction. A failure after the branch exists (push, GitHub) is recorded with the
//!    status reached and the error, audit `proposal.failed`.
//!
//! A dry run (`dry_run: true`) does steps 1–3 and returns the same outcome without a
//! branch, commit, push, pull request or any record.
//!
//! The [`ProposalOutcome`] serialises with a JSON Schema (`schemars`), for MCP tools'
//! structured results. Diffs of rendered files come from [`diff`], a Myers line diff cut
//! at a bound with a note.

pub mod adopt;
pub mod adopt_vm;
pub mod assess;
pub mod deploy;
pub mod diff;
pub mod git;
pub(crate) mod github;
pub mod message;
pub mod request;
pub mod revert;
mod settings;

pub use assess::{ChangeKind, ResourceChange};
pub use git::PushError;
pub use github::GitHubError;
pub use settings::{GITHUB_API, GitHubSettings, ProposeSettings};

use crate::diag::Diagnostic;
use crate::pipeline::Engine;
use crate::source::{Origin, SourceError, TrackedRepo, load_tree};
use crate::store::{AuditRecord, PassRecord, ProposalRecord, ProposalStatus, Store};
use git::PushTarget;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a tool asks to change.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposalRequest {
    /// The tool that makes the proposal, e.g. `deploy-with-intelligence`,
    /// `decommission-resource` (a DNS-1123 label: it is part of the branch name).
    pub tool: String,
    /// Who asked: `mcp:<token name>` or `stdio`. Recorded as the audit actor.
    pub client: String,
    /// The resource or template the change is about (a DNS-1123 label, in the branch name).
    pub subject: String,
    pub changes: Vec<FileChange>,
    /// The commit subject and pull-request title (one line).
    pub title: String,
    /// More explanation, for the commit body and the pull-request description.
    pub body: String,
    /// Validate, place, render and diff only: no branch, commit, push, pull request or
    /// record.
    pub dry_run: bool,
}

/// One file of a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Creates or replaces a file. The path is relative to the definitions root (the
    /// tracked repository's sub-path, if any).
    Write { path: String, content: String },
    /// Deletes a file that exists on the tracked branch.
    Delete { path: String },
}

/// What a proposal did (or, for a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProposalOutcome {
    /// The proposal id (a UUID), also in the commit trailers and the store.
    pub id: String,
    /// `dry-run`, `local` (branch in the local repository only), `pushed` or
    /// `pull-request`.
    #[schemars(with = "String")]
    pub status: ProposalStatus,
    /// `homelabd/<tool>/<subject>-<short id>`; `None` for a dry run.
    pub branch: Option<String>,
    /// The proposal commit; `None` for a dry run.
    pub commit: Option<String>,
    /// The tracked branch the proposal starts from (the pull request's base).
    pub base_branch: String,
    /// The head commit of the tracked branch the change was built on.
    pub base_commit: String,
    /// The pull request's web page.
    pub pr_url: Option<String>,
    /// A page comparing the branch with the tracked branch, for GitHub- and GitLab-like
    /// remotes.
    pub compare_url: Option<String>,
    /// No error concerns the change (always true in a returned outcome: an invalid
    /// change is refused with [`ProposeError::Invalid`]).
    pub valid: bool,
    /// Diagnostics that concern the change: in the changed files, about objects defined
    /// in them, or new with the change.
    #[schemars(with = "Vec<DiagnosticSchema>")]
    pub diagnostics: Vec<Diagnostic>,
    /// Every resource whose rendered output changes, and those defined in the changed
    /// files.
    pub resources: Vec<ResourceChange>,
}

/// The JSON shape of [`Diagnostic`], for the outcome's schema.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct DiagnosticSchema {
    /// `error` or `warning`.
    severity: String,
    /// Machine-readable class, e.g. `schema`, `unknown-pool`.
    code: String,
    /// Path relative to the definitions root.
    file: String,
    line: Option<u64>,
    column: Option<u64>,
    kind: Option<String>,
    name: Option<String>,
    /// JSON pointer of the field inside the document.
    pointer: String,
    message: String,
    expected: Option<String>,
    found: Option<String>,
}

/// Why a proposal was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// The change has errors (listed); nothing was written.
    #[error("the change is invalid: {}", summarize(diagnostics))]
    Invalid { diagnostics: Vec<Diagnostic> },
    /// A path is outside the definitions tree, not a YAML file, or not changeable.
    #[error("{0}")]
    BadPath(String),
    /// The tool, subject, title or body is not acceptable.
    #[error("{0}")]
    BadName(String),
    /// The change leaves every file as it is.
    #[error("the change leaves every file as it is on the tracked branch")]
    NoChange,
    /// Reading the repository or writing the branch failed.
    #[error("git: {}", .0.message())]
    Git(#[source] git2::Error),
    /// The tracked repository could not be read.
    #[error("git: {0}")]
    Source(#[from] SourceError),
    /// The task that builds the proposal panicked or was cancelled.
    #[error("git: the proposal task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// Pushing the branch failed (it exists locally).
    #[error("push: {0}")]
    Push(#[from] git::PushError),
    /// Opening the pull request failed (the branch was pushed).
    #[error("GitHub: {0}")]
    GitHub(#[from] github::GitHubError),
    /// The store could not say whether a revert was proposed already.
    #[error("store: cannot read the earlier proposals: {0}")]
    Earlier(#[source] crate::store::StoreError),
    /// The proposal was made but could not be recorded.
    #[error(
        "store: branch {branch} was created ({status}) but the proposal could not be recorded: {source}"
    )]
    Store {
        branch: String,
        status: ProposalStatus,
        #[source]
        source: crate::store::StoreError,
    },
}

impl ProposeError {
    /// Refused for what was asked (as opposed to failing on the way).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ProposeError::Invalid { .. }
                | ProposeError::BadPath(_)
                | ProposeError::BadName(_)
                | ProposeError::NoChange
        )
    }
}

fn summarize(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
    match errors.first() {
        Some(first) if errors.len() == 1 => first.to_string(),
        Some(first) => format!("{} errors; the first: {first}", errors.len()),
        None => "no errors".into(),
    }
}

/// Makes proposals against one tracked repository. Cheap to share behind an `Arc`;
/// concurrent proposals are independent.
pub struct Proposer {
    settings: ProposeSettings,
    repo: TrackedRepo,
    engine: Arc<Engine>,
    store: Option<Arc<Store>>,
}

/// What the git step produced.
struct Staged {
    base_commit: String,
    commit: Option<String>,
    target: Option<PushTarget>,
    diagnostics: Vec<Diagnostic>,
    resources: Vec<ResourceChange>,
    files: Vec<(String, &'static str)>,
}

impl Proposer {
    /// A proposer for `repo`, validating with `engine` and recording in `store` (when
    /// there is one).
    pub fn new(
        settings: ProposeSettings,
        repo: TrackedRepo,
        engine: Arc<Engine>,
        store: Option<Arc<Store>>,
    ) -> Proposer {
        Proposer {
            settings,
            repo,
            engine,
            store,
        }
    }

    /// Makes the proposal; see the module docs for every step.
    pub async fn propose(&self, req: ProposalRequest) -> Result<ProposalOutcome, ProposeError> {
        self.submit(req, None).await
    }

    /// Proposes to revert the change that broke `revert.name` (see [`revert`]): its
    /// document as it was at the good revision, on `homelabd/revert-<name>-<short bad>`.
    /// `Ok(None)` when a proposal was made on that branch already (one per rejected
    /// revision).
    pub async fn propose_revert(
        &self,
        revert: &revert::Revert,
    ) -> Result<Option<ProposalOutcome>, ProposeError> {
        let branch = revert::branch_name(&revert.name, &revert.bad);
        if let Some(store) = &self.store
            && store
                .proposal_on_branch(&branch)
                .await
                .map_err(ProposeError::Earlier)?
                .is_some()
        {
            return Ok(None);
        }
        let (tracked, path, good) = (self.repo.clone(), revert.path.clone(), revert.good.clone());
        let (head_text, good_text) = tokio::task::spawn_blocking(move || {
            let repo = git::open(&tracked.origin)?;
            let sub = tracked.sub_path.as_deref();
            let head = tracked.head()?;
            Ok::<_, ProposeError>((
                git::file_at(&repo, &head, sub, &path)?,
                git::file_at(&repo, &good, sub, &path)?,
            ))
        })
        .await
        .map_err(ProposeError::Task)??;
        let req = revert::request(revert, &head_text, &good_text)
            .map_err(|e| ProposeError::BadPath(e.to_string()))?;
        self.submit(req, Some(branch)).await.map(Some)
    }

    /// Makes the proposal on `branch` (default: named after the tool, subject and id).
    async fn submit(
        &self,
        req: ProposalRequest,
        branch: Option<String>,
    ) -> Result<ProposalOutcome, ProposeError> {
        let id = uuid::Uuid::new_v4();
        let client = request::one_line(&req.client, 200);
        let branch = branch.unwrap_or_else(|| request::branch_name(&req.tool, &req.subject, &id));
        let result = self.run(&req, id, &client, branch).await;
        if let Err(e) = &result
            && e.is_refusal()
            && !req.dry_run
        {
            self.record_refusal(&req, id, &client, e).await;
        }
        result
    }

    async fn run(
        &self,
        req: &ProposalRequest,
        id: uuid::Uuid,
        client: &str,
        branch: String,
    ) -> Result<ProposalOutcome, ProposeError> {
        // The change is placed around where the daemon put everything.
        let priors = store_priors(self.store.as_deref()).await;
        let staged = {
            let (settings, tracked, engine) = (
                self.settings.clone(),
                self.repo.clone(),
                Arc::clone(&self.engine),
            );
            let (req, branch, client) = (req.clone(), branch.clone(), client.to_owned());
            tokio::task::spawn_blocking(move || {
                let base = Base {
                    tracked: &tracked,
                    engine: &engine,
                    priors: &priors,
                };
                stage(&settings, &base, &req, id, &branch, &client)
            })
            .await
            .map_err(ProposeError::Task)??
        };
        let mut outcome = ProposalOutcome {
            id: id.to_string(),
            status: ProposalStatus::DryRun,
            branch: None,
            commit: None,
            base_branch: self.repo.branch.clone(),
            base_commit: staged.base_commit.clone(),
            pr_url: None,
            compare_url: None,
            valid: true,
            diagnostics: staged.diagnostics.clone(),
            resources: staged.resources.clone(),
        };
        if req.dry_run {
            return Ok(outcome);
        }
        outcome.status = ProposalStatus::Local;
        outcome.branch = Some(branch.clone());
        outcome.commit = staged.commit.clone();
        let published = self
            .publish(req, client, &staged, &branch, &mut outcome)
            .await;
        let (action, error) = match &published {
            Ok(()) => ("proposal.opened", None),
            Err(e) => ("proposal.failed", Some(e.to_string())),
        };
        let recorded = self
            .record(req, id, client, &staged, &outcome, action, error)
            .await;
        if let Err(e) = &recorded {
            tracing::error!(proposal = %id, branch = %branch, error = %e, "proposal not recorded");
        }
        if let Err(e) = published {
            tracing::warn!(proposal = %id, branch = %branch, error = %e, "proposal failed");
            return Err(e);
        }
        if let Err(e) = recorded {
            return Err(ProposeError::Store {
                branch,
                status: outcome.status,
                source: e,
            });
        }
        tracing::info!(
            proposal = %id, tool = %req.tool, client, branch = %branch, status = %outcome.status,
            "proposal opened"
        );
        Ok(outcome)
    }

    /// Pushes the branch and opens the pull request, updating `outcome` as each succeeds.
    async fn publish(
        &self,
        req: &ProposalRequest,
        client: &str,
        staged: &Staged,
        branch: &str,
        outcome: &mut ProposalOutcome,
    ) -> Result<(), ProposeError> {
        let Some(target) = staged.target.clone() else {
            return Ok(());
        };
        let (token, ssh_key) = match &self.repo.origin {
            Origin::Local(_) => (
                self.settings.git_token.clone(),
                self.settings.ssh_key.clone(),
            ),
            Origin::Remote { token, ssh_key, .. } => (token.clone(), ssh_key.clone()),
        };
        let origin = self.repo.origin.clone();
        let name = branch.to_owned();
        let url = tokio::task::spawn_blocking(move || {
            let repo = git::open(&origin)?;
            git::push(&repo, &target, &name, token, ssh_key)?;
            Ok::<_, ProposeError>(target.url(&repo))
        })
        .await
        .map_err(git::PushError::Task)??;
        outcome.status = ProposalStatus::Pushed;
        outcome.compare_url = url
            .as_deref()
            .and_then(|u| git::compare_url(u, &self.repo.branch, branch));
        let Some(github) = &self.settings.github else {
            return Ok(());
        };
        let text = request::clean_text(&req.body);
        let body = message::pull_request_body(&message::Summary {
            id: &outcome.id,
            tool: &req.tool,
            client,
            title: req.title.trim(),
            body: &text,
            branch,
            base_branch: &outcome.base_branch,
            base_commit: &outcome.base_commit,
            files: &staged.files,
            resources: &staged.resources,
            diagnostics: &staged.diagnostics,
        });
        // The title is plain text on GitHub, but invisible characters still reorder it.
        let title = message::visible(req.title.trim());
        let opened =
            github::open_pull_request(github, branch, &self.repo.branch, &title, &body).await?;
        if let Some(repo_url) = &opened.repo_url {
            outcome.compare_url = Some(format!(
                "{}/compare/{}...{branch}",
                repo_url.trim_end_matches('/'),
                self.repo.branch
            ));
        }
        outcome.pr_url = Some(opened.pr_url);
        outcome.status = ProposalStatus::PullRequest;
        Ok(())
    }

    /// The proposal row and its audit row, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        req: &ProposalRequest,
        id: uuid::Uuid,
        client: &str,
        staged: &Staged,
        outcome: &ProposalOutcome,
        action: &str,
        error: Option<String>,
    ) -> Result<(), crate::store::StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let now = chrono::Utc::now();
        let branch = outcome.branch.clone().unwrap_or_default();
        let details = serde_json::json!({
            "subject": req.subject,
            "title": req.title,
            "base_branch": outcome.base_branch,
            "base_commit": outcome.base_commit,
            "files": staged.files.iter().map(|(p, w)| serde_json::json!({"path": p, "change": w})).collect::<Vec<_>>(),
            "resources": outcome.resources.iter().map(|r| serde_json::json!({
                "name": r.name, "change": r.change, "provider": r.provider, "pool": r.pool,
                "nodes": r.nodes,
            })).collect::<Vec<_>>(),
            "diagnostics": outcome.diagnostics,
            "compare_url": outcome.compare_url,
            "error": error,
        });
        let proposal = ProposalRecord {
            id,
            tool: req.tool.clone(),
            client: client.to_owned(),
            branch: branch.clone(),
            commit: outcome.commit.clone(),
            pr_url: outcome.pr_url.clone(),
            status: outcome.status,
            created_at: now,
            details,
        };
        let audit = AuditRecord {
            at: now,
            actor: client.to_owned(),
            action: action.to_owned(),
            subject: branch,
            details: serde_json::json!({
                "proposal": id.to_string(),
                "tool": req.tool,
                "status": outcome.status,
                "commit": outcome.commit,
                "pr_url": outcome.pr_url,
                "error": error,
            }),
        };
        let opened = [crate::notify_out::event::proposal_opened(&proposal)];
        store.record_proposal(&proposal, &audit, &opened).await
    }

    /// The audit row of a refused proposal (no proposal row: nothing was made). A store
    /// failure here is logged: the refusal itself is what the caller must see.
    async fn record_refusal(
        &self,
        req: &ProposalRequest,
        id: uuid::Uuid,
        client: &str,
        error: &ProposeError,
    ) {
        let Some(store) = &self.store else {
            return;
        };
        let diagnostics = match error {
            ProposeError::Invalid { diagnostics } => diagnostics.as_slice(),
            _ => &[],
        };
        let audit = AuditRecord {
            at: chrono::Utc::now(),
            actor: client.to_owned(),
            action: "proposal.refused".into(),
            subject: request::one_line(&req.subject, 200),
            details: serde_json::json!({
                "proposal": id.to_string(),
                "tool": request::one_line(&req.tool, 200),
                "title": request::one_line(&req.title, 300),
                "paths": req.changes.iter().map(|c| match c {
                    FileChange::Write { path, .. } | FileChange::Delete { path } => request::one_line(path, 300),
                }).collect::<Vec<_>>(),
                "reason": error.to_string(),
                "diagnostics": diagnostics,
            }),
        };
        let pass = PassRecord {
            audit: vec![audit],
            ..PassRecord::default()
        };
        if let Err(e) = store.record_pass(&pass).await {
            tracing::error!(proposal = %id, error = %e, "could not record a refused proposal");
        }
    }
}

/// Steps 1–4 (blocking): check, build in memory, validate and diff, and — unless a dry
/// run — write the objects and create the branch.
/// What a proposal is made against: the tracked repository, the engine that validates
/// it, and where the daemon placed everything (the change is placed around it).
struct Base<'a> {
    tracked: &'a TrackedRepo,
    engine: &'a Engine,
    priors: &'a crate::place::Priors,
}

fn stage(
    settings: &ProposeSettings,
    base: &Base<'_>,
    req: &ProposalRequest,
    id: uuid::Uuid,
    branch: &str,
    client: &str,
) -> Result<Staged, ProposeError> {
    let (tracked, engine, priors) = (base.tracked, base.engine, base.priors);
    let edits = request::check(req)?;
    let local = matches!(tracked.origin, Origin::Local(_));
    if settings.github.is_some() && local && settings.remote.is_none() {
        return Err(github::GitHubError::NowhereToPush.into());
    }
    let head_hex = tracked.head()?;
    let repo = git::open(&tracked.origin)?;
    let target = match (&tracked.origin, &settings.remote) {
        _ if req.dry_run => None,
        (Origin::Local(_), Some(remote)) => Some(PushTarget::resolve(&repo, remote)?),
        (Origin::Local(_), None) => None,
        (Origin::Remote { url, .. }, _) => Some(PushTarget::Url(url.clone())),
    };
    let head = git2::Oid::from_str(&head_hex)?;
    let head_commit = repo.find_commit(head)?;
    let sub = tracked.sub_path.as_deref();
    let sub_parts: Vec<&str> = sub
        .unwrap_or_default()
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let before = engine.run_placed(
        &load_tree(&repo, head, sub, &engine.limits)?,
        priors,
        crate::place::Mode::Sticky,
        &|_, _| None,
    );
    let changed: BTreeSet<String> = edits.iter().map(|e| e.path.to_owned()).collect();
    let files: Vec<(String, &'static str)> = edits
        .iter()
        .map(|e| {
            let what = if e.content.is_some() {
                "written"
            } else {
                "deleted"
            };
            (e.path.to_owned(), what)
        })
        .collect();
    let identity = git2::Signature::now(&settings.author_name, &settings.author_email)?;
    let (diagnostics, resources) = git::in_memory(&repo, || {
        let tree_id = git::apply(&repo, &head_commit.tree()?, &sub_parts, &edits)?;
        if tree_id == head_commit.tree_id() {
            return Err(ProposeError::NoChange);
        }
        let tree = repo.find_tree(tree_id)?;
        // load_tree reads a commit; this one lives in memory only.
        let provisional = repo.commit(
            None,
            &identity,
            &identity,
            "homelabd proposal being validated",
            &tree,
            &[&head_commit],
        )?;
        let reuse = |name: &str, input: &str| {
            before
                .rendered
                .get(name)
                .filter(|r| r.manifest.input_hash == input)
                .map(|r| r.manifest.output_hash.clone())
        };
        // Placed around the head's placement, so the change moves only what it must.
        let after = engine.run_placed(
            &load_tree(&repo, provisional, sub, &engine.limits)?,
            &before.priors(),
            crate::place::Mode::Sticky,
            &reuse,
        );
        let assessment = assess::assess(&before, &after, &changed);
        if !assessment.valid {
            return Err(ProposeError::Invalid {
                diagnostics: assessment.diagnostics,
            });
        }
        let resources = assess::resource_changes(&before, &after, &assessment.touched);
        Ok((assessment.diagnostics, resources))
    })?;
    drop(head_commit);
    drop(repo);
    let mut staged = Staged {
        base_commit: head_hex.clone(),
        commit: None,
        target,
        diagnostics,
        resources,
        files,
    };
    if req.dry_run {
        return Ok(staged);
    }
    // Valid: build it again for real through a fresh handle, which writes only the new
    // objects.
    let repo = git::open(&tracked.origin)?;
    let head_commit = repo.find_commit(head)?;
    let tree = repo.find_tree(git::apply(&repo, &head_commit.tree()?, &sub_parts, &edits)?)?;
    let body = request::clean_text(&req.body);
    let text = message::commit_message(&message::Summary {
        id: &id.to_string(),
        tool: &req.tool,
        client,
        title: req.title.trim(),
        body: &body,
        branch,
        base_branch: &tracked.branch,
        base_commit: &head_hex,
        files: &staged.files,
        resources: &staged.resources,
        diagnostics: &staged.diagnostics,
    });
    let commit = repo.commit(None, &identity, &identity, &text, &tree, &[&head_commit])?;
    git::create_branch(&repo, branch, commit, &format!("homelabd: proposal {id}"))?;
    staged.commit = Some(commit.to_string());
    Ok(staged)
}

/// Where the daemon placed every resource (empty without a store, or when it cannot be
/// read: placement is then fresh, as for a first run).
pub async fn store_priors(store: Option<&Store>) -> crate::place::Priors {
    let Some(store) = store else {
        return crate::place::Priors::new();
    };
    match store.resources().await {
        Ok(records) => crate::place::priors_from_store(
            records
                .iter()
                .map(|r| (r.name.as_str(), r.placement.as_ref())),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read placements from the store; placing afresh");
            crate::place::Priors::new()
        }
    }
}
