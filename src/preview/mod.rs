//! Pull-request previews: what a pull request would do, before anyone merges it.
//!
//! The head's tree and the base's (the tracked branch) are read with git2 — nothing is
//! checked out — and both go through the pipeline exactly as the daemon runs it
//! (validate, place, render, in memory). [`report`] compares them per resource
//! (created / changed with a unified diff of the rendered files / removed, pruned or
//! orphaned by the base definition's policy / unchanged / invalid) and lists the head's
//! errors with file and line; [`format`] prints that as text, GitHub markdown (the pull
//! request comment, marked `<!-- homelabd-preview -->`) or JSON.
//!
//! A preview never applies anything, never writes to the tracked branch and never writes
//! rendered files: everything stays in memory. A hostile head (template tricks in values,
//! paths that escape, huge files, alias bombs) meets the same bounded loaders and
//! validators as any commit and is reported invalid.
//!
//! [`github`] reports through octocrab (commit status `homelabd/preview` and one comment
//! updated in place); [`daemon`] runs previews off the reconcile path on a
//! `pull_request` webhook or by polling open pull requests.

pub mod daemon;
pub mod event;
pub mod format;
pub mod github;
pub mod report;
pub mod secrets;

pub use report::{Change, Report, Revision};

use crate::pipeline::Engine;
use crate::reconcile::EffectivePolicy;
use crate::source::{SourceError, load_tree};
use git2::Repository;

/// Why a preview could not be made (an invalid head is a report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("revision {rev:?} not found in {repo}")]
    RevisionNotFound { repo: String, rev: String },
    #[error("reading {what}: {source}")]
    Source {
        what: String,
        #[source]
        source: SourceError,
    },
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
    /// A GitHub request failed.
    #[error("GitHub: {what}: {}", crate::propose::github::describe(source))]
    GitHub {
        what: String,
        #[source]
        source: octocrab::Error,
    },
    /// GitHub did not answer in time.
    #[error("GitHub: no answer from {api_url} within {seconds} s")]
    GitHubTimeout { api_url: String, seconds: u64 },
    /// GitHub's answer about a pull request names no head commit.
    #[error("GitHub: pull request #{number}: GitHub's answer has no head commit")]
    NoHeadCommit { number: u64 },
    /// GitHub's answer to creating the comment names no id.
    #[error("GitHub: the new comment has no id in GitHub's answer")]
    NoCommentId,
    /// No GitHub client could be made (no token, a bad `api_url`).
    #[error("GitHub: {0}")]
    Client(#[from] crate::propose::github::GitHubError),
    #[error(
        "the preview took longer than {seconds} s and was given up; {}",
        crate::limits::Limits::hint("preview_timeout_seconds")
    )]
    Timeout { seconds: u64 },
    /// The blocking preview task panicked or was cancelled.
    #[error("the preview task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The daemon's preview slots were closed (it is stopping).
    #[error("the preview task failed: {0}")]
    Closed(#[source] tokio::sync::AcquireError),
}

impl PreviewError {
    /// Would previewing the same head again fail the same way? A timeout, a revision over
    /// a limit or a crashed task would; a network error or a head not fetched yet may not.
    pub fn is_final(&self) -> bool {
        use crate::source::SourceError as S;
        match self {
            PreviewError::Timeout { .. } | PreviewError::Task(_) | PreviewError::Closed(_) => true,
            PreviewError::Source { source, .. } => matches!(
                source,
                S::SnapshotTooLarge { .. } | S::TooManyEntries { .. } | S::TooManyFiles
            ),
            _ => false,
        }
    }
}

/// Resolves `rev` (a branch, tag, remote branch or commit id) to a commit of `repo`.
pub fn resolve(repo: &Repository, rev: &str) -> Result<git2::Oid, PreviewError> {
    let not_found = || PreviewError::RevisionNotFound {
        repo: repo.path().display().to_string(),
        rev: rev.to_owned(),
    };
    let object = repo.revparse_single(rev).map_err(|_| not_found())?;
    Ok(object.peel_to_commit().map_err(|_| not_found())?.id())
}

/// What a preview knows beyond the two trees.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The policy of a resource that sets none (the daemon's `[policy]`).
    pub defaults: EffectivePolicy,
    /// With identities, a changed secret file is decrypted on both sides to name the keys
    /// that changed (values are compared in memory, never shown).
    pub identities: Option<&'a crate::secrets::Identities>,
    /// Where the daemon put each resource (its store): the base is placed around them as
    /// the daemon placed it, so the preview shows the nodes things are really on. Empty:
    /// the base is placed afresh.
    pub placements: &'a crate::place::Priors,
}

/// Previews `head` against `base` in `repo` (definitions under `sub`): both trees read
/// without a checkout, run through `engine`, compared.
pub fn preview_commits(
    engine: &Engine,
    repo: &Repository,
    base: (&str, git2::Oid),
    head: (&str, git2::Oid),
    sub: Option<&str>,
    context: Context<'_>,
) -> Result<Report, PreviewError> {
    let Context {
        defaults,
        identities,
        placements,
    } = context;
    let load = |name: &str, id: git2::Oid| {
        load_tree(repo, id, sub, &engine.limits).map_err(|source| PreviewError::Source {
            what: format!("{name} ({id})"),
            source,
        })
    };
    let base_snapshot = load(base.0, base.1)?;
    let head_snapshot = load(head.0, head.1)?;
    let before = engine.run_placed(
        &base_snapshot,
        placements,
        crate::place::Mode::Sticky,
        &|_, _| None,
    );
    // Identical inputs render identically: reuse the base's output hash, so only what
    // the pull request touches is rendered twice.
    let reuse = |name: &str, input: &str| {
        before
            .rendered
            .get(name)
            .filter(|r| r.manifest.input_hash == input)
            .map(|r| r.manifest.output_hash.clone())
    };
    // The head is placed around the base: resources stay where the base put them while
    // they fit, and every move is explained.
    let after = engine.run_placed(
        &head_snapshot,
        &before.priors(),
        crate::place::Mode::Sticky,
        &reuse,
    );
    let changed = report::changed_paths(
        base_snapshot
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.content.as_slice())),
        head_snapshot
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.content.as_slice())),
    );
    // Files skipped on the head (too large, links) changed too, even though unread.
    let mut changed = changed;
    changed.extend(head_snapshot.diagnostics.iter().map(|d| d.file.clone()));
    // Secret files by name on each side (ciphertext): which changed, and with an
    // identity, which keys.
    let (base_secrets, head_secrets) = (
        crate::secrets::secret_files(&base_snapshot),
        crate::secrets::secret_files(&head_snapshot),
    );
    let mut secrets = secrets::changes(&changed, &base_secrets, &head_secrets, &before, &after);
    if let Some(ids) = identities {
        secrets::name_changed_keys(&mut secrets, &base_secrets, &head_secrets, ids);
    }
    let mut report = report::build(
        Revision {
            name: base.0.to_owned(),
            commit: base.1.to_string(),
        },
        Revision {
            name: head.0.to_owned(),
            commit: head.1.to_string(),
        },
        &before,
        &after,
        &changed,
        defaults,
    );
    report
        .notes
        .extend(secrets.iter().map(secrets::SecretChange::note));
    report.secrets = secrets;
    Ok(report)
}
