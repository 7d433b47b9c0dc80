//! What the next apply phase owes: resources a person asked to apply, self-heal's
//! corrections, failed applies waiting for their backoff, and the prune override. The
//! loop fills it from triggers and observations; the apply phase takes from it.

use crate::reconcile::Backoff;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Applies owed to the next phases, and the backoff of failed ones.
pub(super) struct ApplyQueue {
    /// Resources a person asked to apply (`homelabd apply NAME`), and "all".
    approved: BTreeSet<String>,
    approve_all: bool,
    /// Prune past the mass-deletion guard in the next apply phase.
    force_prune: bool,
    /// Resources self-heal will re-apply in the next apply phase.
    pub(super) heal: BTreeSet<String>,
    /// Resources re-applied by self-heal, until their next observation.
    pub(super) healed: BTreeSet<String>,
    /// Resources whose last apply failed (retried when their backoff expires).
    failed: BTreeSet<String>,
    /// Retry delays of failed applies, per resource.
    pub(super) backoff: Backoff,
    /// The last prune refusal logged, so it is audited once, not every pass.
    prune_refused: Option<String>,
    /// Whether runs left `running` by a dead daemon were looked for on this connection.
    pub(super) interrupted_checked: bool,
    /// Rollbacks a person asked for (`homelabd rollback`), oldest first.
    rollbacks: Vec<ManualRollback>,
}

/// A rollback a person asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ManualRollback {
    pub(super) resource: String,
    /// A commit id or a prefix of one; `None`: the newest kept output.
    pub(super) revision: Option<String>,
    /// Who asked, for the audit log.
    pub(super) by: String,
}

impl ApplyQueue {
    /// An empty queue whose retries back off between `base` and `max`.
    pub(super) fn new(base: Duration, max: Duration) -> ApplyQueue {
        ApplyQueue {
            approved: BTreeSet::new(),
            approve_all: false,
            force_prune: false,
            heal: BTreeSet::new(),
            healed: BTreeSet::new(),
            failed: BTreeSet::new(),
            backoff: Backoff::new(base, max),
            prune_refused: None,
            interrupted_checked: false,
            rollbacks: Vec::new(),
        }
    }

    /// A person asked to apply `resource` (`None`: every resource), and maybe to prune
    /// past the guard. An asked-for resource skips its backoff.
    pub(super) fn approve(&mut self, resource: Option<String>, prune: bool) {
        match resource {
            Some(r) => {
                self.backoff.succeeded(&r);
                self.approved.insert(r);
            }
            None => self.approve_all = true,
        }
        self.force_prune |= prune;
    }

    /// A person asked to roll `rollback.resource` back (the next apply phase does it).
    pub(super) fn roll_back(&mut self, rollback: ManualRollback) {
        self.rollbacks.push(rollback);
    }

    /// Takes the rollbacks asked for.
    pub(super) fn take_rollbacks(&mut self) -> Vec<ManualRollback> {
        std::mem::take(&mut self.rollbacks)
    }

    /// A person asked to reconcile `name`: a failed apply of it is retried without
    /// waiting for its backoff.
    pub(super) fn retry_now(&mut self, name: &str) {
        self.backoff.succeeded(name);
    }

    /// Whether `name` waits out the backoff of a failed apply at `now`.
    pub(super) fn waiting(&self, name: &str, now: Instant) -> bool {
        self.backoff.waiting(name, now)
    }

    /// Whether the next pass has applies to make even on an unchanged commit (a retry
    /// `held` by a sync window is not due).
    pub(super) fn due(&self, now: Instant, held: impl Fn(&str) -> bool) -> bool {
        self.failed
            .iter()
            .any(|n| !self.backoff.waiting(n, now) && !held(n))
            || !self.approved.is_empty()
            || !self.rollbacks.is_empty()
            || self.approve_all
            || !self.heal.is_empty()
    }

    /// The earliest time a failed apply not `held` by a sync window is retried.
    pub(super) fn next_retry(&self, held: impl Fn(&str) -> bool) -> Option<Instant> {
        self.failed
            .iter()
            .filter(|n| !held(n))
            .filter_map(|n| self.backoff.retry_at(n))
            .min()
    }

    /// Failed applies whose backoff has expired.
    pub(super) fn retries(&self, now: Instant) -> BTreeSet<String> {
        self.failed
            .iter()
            .filter(|n| !self.backoff.waiting(n, now))
            .cloned()
            .collect()
    }

    /// Takes the resources asked for; "all" means every name in `all`.
    pub(super) fn take_approved<'a>(
        &mut self,
        all: impl Iterator<Item = &'a String>,
    ) -> BTreeSet<String> {
        let mut approved = std::mem::take(&mut self.approved);
        if std::mem::take(&mut self.approve_all) {
            approved.extend(all.cloned());
        }
        approved
    }

    /// Takes self-heal's corrections.
    pub(super) fn take_heal(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.heal)
    }

    /// Takes the prune override.
    pub(super) fn take_force_prune(&mut self) -> bool {
        std::mem::take(&mut self.force_prune)
    }

    /// Whether `refusal` (the prune guard's words this phase) is new since the last
    /// one logged; remembers it.
    pub(super) fn prune_refusal_is_new(&mut self, refusal: Option<&String>) -> bool {
        let new = refusal.is_some_and(|r| self.prune_refused.as_ref() != Some(r));
        self.prune_refused = refusal.cloned();
        new
    }

    /// `name`'s apply failed (or must be made again): retried after its backoff. Returns
    /// the wait.
    pub(super) fn failed(&mut self, name: &str, now: Instant) -> Duration {
        let wait = self.backoff.failed(name, now);
        self.failed.insert(name.to_owned());
        wait
    }

    /// `name` must be applied again at the next phase (an interrupted run), without
    /// growing its backoff.
    pub(super) fn redo(&mut self, name: &str) {
        self.failed.insert(name.to_owned());
    }

    /// `name`'s apply succeeded: no retry, backoff reset.
    pub(super) fn succeeded(&mut self, name: &str) {
        self.backoff.succeeded(name);
        self.failed.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> ApplyQueue {
        ApplyQueue::new(Duration::from_secs(5), Duration::from_secs(60))
    }

    #[test]
    fn an_apply_asked_for_is_due_at_once_and_taken_once() {
        let mut q = queue();
        let now = Instant::now();
        assert!(!q.due(now, |_| false));
        q.approve(Some("web".to_owned()), false);
        assert!(q.due(now, |_| false));
        let names = ["web".to_owned(), "db".to_owned()];
        assert_eq!(
            q.take_approved(names.iter()),
            BTreeSet::from(["web".to_owned()])
        );
        assert!(!q.due(now, |_| false), "taken: not due again");
    }

    #[test]
    fn apply_all_takes_every_resource_and_prune_override_is_taken_once() {
        let mut q = queue();
        q.approve(None, true);
        let names = ["web".to_owned(), "db".to_owned()];
        assert_eq!(q.take_approved(names.iter()).len(), 2);
        assert!(q.take_force_prune());
        assert!(!q.take_force_prune());
    }

    #[test]
    fn a_failed_apply_waits_for_its_backoff_and_an_approval_skips_it() {
        let mut q = queue();
        let now = Instant::now();
        let wait = q.failed("web", now);
        assert_eq!(wait, Duration::from_secs(5));
        assert!(!q.due(now, |_| false), "waiting for the backoff");
        assert_eq!(q.next_retry(|_| false), Some(now + wait));
        assert!(q.retries(now + wait).contains("web"));
        q.approve(Some("web".to_owned()), false);
        assert!(q.retries(now).contains("web"), "asked for: no wait");
        assert_eq!(q.next_retry(|n| n == "web"), None, "held by a window");
        q.succeeded("web");
        assert_eq!(q.next_retry(|_| false), None);
        assert!(q.retries(now + wait).is_empty());
    }

    #[test]
    fn a_prune_refusal_is_new_once_until_it_changes_or_clears() {
        let mut q = queue();
        let a = "would delete 3 of 4".to_owned();
        assert!(q.prune_refusal_is_new(Some(&a)));
        assert!(!q.prune_refusal_is_new(Some(&a)));
        assert!(!q.prune_refusal_is_new(None));
        assert!(
            q.prune_refusal_is_new(Some(&a)),
            "refused again after a clear"
        );
    }
}
