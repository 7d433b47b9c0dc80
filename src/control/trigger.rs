//! Triggers: everything that can wake the reconcile loop becomes one of these.

/// A request to the daemon's loop. Level-triggered: the reason is only for logs and spans;
/// the loop always re-reads the newest commit and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Look for a new commit now (webhook push, inotify on refs, poll timer).
    Fetch { reason: String },
    /// Reconcile now: one resource, or all when `resource` is `None`.
    Reconcile {
        resource: Option<String>,
        reason: String,
    },
    /// Apply now whatever the apply policy (`homelabd apply`): one resource or all;
    /// `prune` also destroys orphans past the mass-deletion guard.
    Apply {
        resource: Option<String>,
        prune: bool,
        /// Apply outside the sync windows (`--ignore-windows`).
        ignore_windows: bool,
        reason: String,
    },
    /// Put a kept healthy output of `resource` in place again (`homelabd rollback`):
    /// the newest kept, or the one of `revision` (a commit id or a prefix of one).
    Rollback {
        resource: String,
        revision: Option<String>,
        /// Who asked (`cli:<user>`), for the audit log.
        by: String,
        reason: String,
    },
    /// Observe every applied resource now (the drift schedule).
    Observe { reason: String },
    /// Preview pull request `number` at `head_sha` (a `pull_request` webhook, or polling
    /// open pull requests), off the reconcile path: see [`crate::preview::daemon`].
    Preview {
        number: u64,
        head_sha: String,
        /// The branch it merges into, when the event says: pull requests into another
        /// branch than the tracked one are not previewed.
        base: Option<String>,
        reason: String,
    },
}
