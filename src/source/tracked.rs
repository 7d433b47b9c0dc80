//! The daemon's view of the user's repository: the newest commit of the tracked branch,
//! from a local repository (read in place) or a remote one (mirrored as a bare repository
//! in the state directory and fetched). All calls block; the daemon runs them on the
//! blocking pool.
//!
//! The newest commit of the branch is the truth: fetches use a forced refspec, so a
//! force-push or rewritten history simply moves the branch.

use super::verify::{self, Head, Policy, Verdict};
use super::{Snapshot, SourceError};
use crate::setting::Secret;
use git2::{Cred, FetchOptions, RemoteCallbacks, Repository};
use std::path::{Path, PathBuf};

/// Where the tracked repository lives and how to reach it.
#[derive(Debug, Clone)]
pub enum Origin {
    Local(PathBuf),
    Remote {
        url: String,
        /// Bare mirror inside the state directory.
        mirror: PathBuf,
        token: Option<Secret>,
        ssh_key: Option<PathBuf>,
    },
}

/// The tracked branch of one repository.
#[derive(Debug, Clone)]
pub struct TrackedRepo {
    pub origin: Origin,
    pub branch: String,
    pub sub_path: Option<String>,
}

impl TrackedRepo {
    /// The directory whose changes mean "look again" for a local repository: its git dir.
    pub fn watch_dir(&self) -> Option<PathBuf> {
        match &self.origin {
            Origin::Local(path) => Repository::open(path).ok().map(|r| r.path().to_path_buf()),
            Origin::Remote { .. } => None,
        }
    }

    /// Opens (and for a remote, fetches) the repository and returns the branch's newest
    /// commit id.
    pub fn head(&self) -> Result<String, SourceError> {
        let repo = self.open_and_fetch()?;
        let id = self.branch_commit(&repo)?;
        Ok(id.to_string())
    }

    /// Opens (and for a remote, fetches) the repository and decides which commit the loop
    /// may reconcile under `policy`: the branch's newest commit when it verifies (or
    /// verification is off), else `anchor`, the last verified commit, with the refusal.
    pub fn verified_head(
        &self,
        policy: &Policy,
        anchor: Option<&str>,
    ) -> Result<Head, SourceError> {
        let repo = self.open_and_fetch()?;
        let newest = self.branch_commit(&repo)?;
        if !policy.enabled() {
            return Ok(Head::unverified(newest.to_string()));
        }
        let trust = policy.load_trust()?;
        Ok(verify::commit::head(
            &repo,
            policy.mode,
            newest,
            anchor,
            &trust,
            chrono::Utc::now(),
        )?)
    }

    /// The signature state of `commit` under `policy`'s trust material.
    pub fn signature_state(&self, policy: &Policy, commit: &str) -> Result<Verdict, SourceError> {
        let repo = self.open()?;
        let trust = policy.load_trust()?;
        let oid = git2::Oid::from_str(commit)?;
        Ok(verify::signature_state(
            &repo,
            oid,
            &trust,
            chrono::Utc::now(),
        )?)
    }

    /// Reads the snapshot of `commit` within `limits`.
    pub fn snapshot(
        &self,
        commit: &str,
        limits: &crate::limits::Limits,
    ) -> Result<Snapshot, SourceError> {
        self.snapshot_with(commit, limits, &mut super::Blobs::default())
    }

    /// [`TrackedRepo::snapshot`], reading only the blobs `blobs` does not hold from the
    /// last snapshot (see [`super::load_tree_with`]).
    pub fn snapshot_with(
        &self,
        commit: &str,
        limits: &crate::limits::Limits,
        blobs: &mut super::Blobs,
    ) -> Result<Snapshot, SourceError> {
        let repo = self.open()?;
        let oid = git2::Oid::from_str(commit)?;
        super::git::load_tree_with(&repo, oid, self.sub_path.as_deref(), limits, blobs)
    }

    /// The first line of `commit`'s message (at most 200 characters) and its author's
    /// name, read without fetching; `None` when the commit is not in the repository.
    pub fn commit_summary(&self, commit: &str) -> Result<Option<(String, String)>, SourceError> {
        let repo = self.open()?;
        let Ok(oid) = git2::Oid::from_str(commit) else {
            return Ok(None);
        };
        let Ok(found) = repo.find_commit(oid) else {
            return Ok(None);
        };
        let message = String::from_utf8_lossy(found.message_bytes());
        let summary: String = message
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        let author = String::from_utf8_lossy(found.author().name_bytes())
            .chars()
            .take(100)
            .collect();
        Ok(Some((summary, author)))
    }

    fn open(&self) -> Result<Repository, SourceError> {
        Ok(match &self.origin {
            Origin::Local(path) => Repository::open(path)?,
            Origin::Remote { mirror, .. } => Repository::open_bare(mirror)?,
        })
    }

    fn open_and_fetch(&self) -> Result<Repository, SourceError> {
        match &self.origin {
            Origin::Local(path) => Ok(Repository::open(path)?),
            Origin::Remote {
                url,
                mirror,
                token,
                ssh_key,
            } => {
                let repo = match Repository::open_bare(mirror) {
                    Ok(r) => r,
                    Err(_) => {
                        std::fs::create_dir_all(mirror).map_err(|source| SourceError::Io {
                            path: mirror.display().to_string(),
                            source,
                        })?;
                        Repository::init_bare(mirror)?
                    }
                };
                let refspec = format!("+refs/heads/{0}:refs/remotes/origin/{0}", self.branch);
                let mut remote = repo.remote_anonymous(url)?;
                let mut options = FetchOptions::new();
                options.remote_callbacks(callbacks(token.clone(), ssh_key.clone()));
                options.prune(git2::FetchPrune::On);
                remote.fetch(&[refspec.as_str()], Some(&mut options), None)?;
                drop(remote);
                Ok(repo)
            }
        }
    }

    fn branch_commit(&self, repo: &Repository) -> Result<git2::Oid, SourceError> {
        let name = match &self.origin {
            Origin::Local(_) => format!("refs/heads/{}", self.branch),
            Origin::Remote { .. } => format!("refs/remotes/origin/{}", self.branch),
        };
        let reference = repo
            .find_reference(&name)
            .map_err(|_| SourceError::RevisionNotFound {
                repo: self.describe(),
                rev: self.branch.clone(),
            })?;
        Ok(reference.peel_to_commit()?.id())
    }

    /// The repository as shown in logs and status (URLs without credentials).
    pub fn describe(&self) -> String {
        match &self.origin {
            Origin::Local(p) => p.display().to_string(),
            Origin::Remote { url, .. } => crate::setting::redact_url(url),
        }
    }
}

/// Credentials: an https token (as the password, GitHub-style) or an ssh key file.
/// Shared with proposal pushes.
pub(crate) fn callbacks(
    token: Option<Secret>,
    ssh_key: Option<PathBuf>,
) -> RemoteCallbacks<'static> {
    let mut cb = RemoteCallbacks::new();
    let mut attempts = 0;
    cb.credentials(move |_url, username, allowed| {
        // libgit2 calls again after a rejected credential; stop instead of looping.
        attempts += 1;
        if attempts > 3 {
            return Err(git2::Error::from_str("credentials rejected"));
        }
        if allowed.contains(git2::CredentialType::SSH_KEY)
            && let Some(key) = &ssh_key
        {
            return Cred::ssh_key(username.unwrap_or("git"), None, Path::new(key), None);
        }
        if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
            && let Some(token) = &token
        {
            return Cred::userpass_plaintext(username.unwrap_or("x-access-token"), token.expose());
        }
        Cred::default()
    });
    cb
}
