//! The IO side of verification: a commit's signature and signed bytes read with git2
//! (`Repository::extract_signature`, never a shell-out to git or gpg), and the walk over
//! the first-parent chain that `all` mode checks.

use super::{CommitFacts, Decision, MAX_NEW_COMMITS, Mode, Refusal, Trust, Verdict};
use chrono::{DateTime, Utc};
use git2::{ErrorCode, Oid, Repository};

/// The tracked branch's newest commit and what may be reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The branch's newest commit.
    pub newest: String,
    /// The commit to reconcile: the newest when accepted, else the last verified one
    /// (`None` when nothing was verified yet).
    pub accepted: Option<String>,
    /// Who signed the newest commit, when it was verified now.
    pub signer: Option<String>,
    /// Why the newest commit was refused.
    pub refusal: Option<Refusal>,
}

impl Head {
    /// A head taken as it is (verification off).
    pub fn unverified(newest: String) -> Head {
        Head {
            accepted: Some(newest.clone()),
            newest,
            signer: None,
            refusal: None,
        }
    }
}

/// The verdict on one commit of `repo`.
pub fn signature_state(
    repo: &Repository,
    commit: Oid,
    trust: &Trust,
    now: DateTime<Utc>,
) -> Result<Verdict, git2::Error> {
    let found = repo.find_commit(commit)?;
    let committed_at =
        DateTime::from_timestamp(found.committer().when().seconds(), 0).unwrap_or_default();
    let verdict = match repo.extract_signature(&commit, None) {
        Ok((signature, signed)) => super::verify_commit(
            &CommitFacts {
                signed: &signed,
                signature: Some(&signature),
                committed_at,
            },
            trust,
            now,
        ),
        Err(e) if e.code() == ErrorCode::NotFound => super::verify_commit(
            &CommitFacts {
                signed: &[],
                signature: None,
                committed_at,
            },
            trust,
            now,
        ),
        Err(e) => return Err(e),
    };
    Ok(verdict)
}

/// Decides on `head` given the last verified commit `anchor` (if the repository still
/// has it). `head` mode checks the head; `all` mode every first-parent commit from the
/// head down to the anchor or to a commit the anchor already contains (so a force-push
/// that rewrote history is checked back to where it left the verified history). Without
/// an anchor (first start), `all` mode checks the head alone.
pub fn check(
    repo: &Repository,
    mode: Mode,
    head: Oid,
    anchor: Option<Oid>,
    trust: &Trust,
    now: DateTime<Utc>,
) -> Result<Decision, git2::Error> {
    if mode == Mode::Off || Some(head) == anchor {
        return Ok(Decision::Accept { signer: None });
    }
    let mut verdicts = Vec::new();
    let mut truncated = false;
    let mut next = Some(head);
    while let Some(id) = next {
        if let Some(anchor) = anchor
            && (id == anchor || repo.graph_descendant_of(anchor, id)?)
        {
            break;
        }
        if verdicts.len() == MAX_NEW_COMMITS {
            truncated = true;
            break;
        }
        let verdict = signature_state(repo, id, trust, now)?;
        let refused = matches!(verdict, Verdict::Refused { .. });
        verdicts.push((id.to_string(), verdict));
        if refused || mode == Mode::Head || anchor.is_none() {
            break;
        }
        next = repo.find_commit(id)?.parent_ids().next();
    }
    Ok(super::decide_history(
        &head.to_string(),
        &verdicts,
        truncated,
    ))
}

/// [`check`] as a [`Head`]: the refused head falls back to the anchor.
pub fn head(
    repo: &Repository,
    mode: Mode,
    newest: Oid,
    anchor: Option<&str>,
    trust: &Trust,
    now: DateTime<Utc>,
) -> Result<Head, git2::Error> {
    // An anchor the repository no longer has (a new mirror) cannot vouch for anything.
    let anchor = anchor
        .and_then(|a| Oid::from_str(a).ok())
        .filter(|a| repo.find_commit(*a).is_ok());
    Ok(match check(repo, mode, newest, anchor, trust, now)? {
        Decision::Accept { signer } => Head {
            newest: newest.to_string(),
            accepted: Some(newest.to_string()),
            signer,
            refusal: None,
        },
        Decision::Refuse(refusal) => Head {
            newest: newest.to_string(),
            accepted: anchor.map(|a| a.to_string()),
            signer: None,
            refusal: Some(refusal),
        },
    })
}

/// The preview note on `head` under `policy` (see [`super::merge_note`]); `None` when
/// verification has no trust material.
pub fn preview_note(
    repo: &Repository,
    head: Oid,
    policy: &super::Policy,
    now: DateTime<Utc>,
) -> Result<Option<String>, super::super::SourceError> {
    if policy.allowed_signers.is_none() && policy.gpg_keyring.is_none() {
        return Ok(None);
    }
    let trust = policy.load_trust()?;
    let verdict = signature_state(repo, head, &trust, now)?;
    Ok(Some(super::merge_note(
        &head.to_string(),
        &verdict,
        policy.mode,
        trust.trusts_github_web_flow(),
    )))
}
