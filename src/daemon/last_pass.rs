//! What the loop keeps of its last pass: the commit, the desired-state summary a forced
//! pass on the same commit plans from, the catalog last written, whether the revision
//! was clean (prune only from a clean one), and the parsed files the next commit reuses.

use crate::reconcile::Desired;

/// The loop's memory of its last pass.
#[derive(Default)]
pub(super) struct LastPass {
    /// The commit reconciled last.
    pub(super) head: Option<String>,
    /// The desired-state summary of `head`: a forced pass on an unchanged commit
    /// (resync, `homelabd reconcile`) plans from it and runs the pipeline only if
    /// something would change.
    pub(super) desired: Option<(String, Desired)>,
    /// The pools and templates last written (JSON), so an unchanged catalog is not
    /// written again.
    catalog: Option<String>,
    /// Whether the newest revision had no errors (prune only from a clean one).
    pub(super) valid: bool,
    /// Whether a pass finished since the start (the daemon is ready after the first).
    pub(super) loaded: bool,
    /// Every YAML file of the last run, parsed and checked: the next commit parses only
    /// the files that changed. Kept across [`LastPass::forget`] (it is keyed by content).
    pub(super) files: crate::pipeline::Memo,
    /// The blobs of the last commit read: the next commit reads only new ones.
    pub(super) blobs: crate::source::Blobs,
}

impl LastPass {
    /// Whether `head` was reconciled last.
    pub(super) fn is_head(&self, head: &str) -> bool {
        self.head.as_deref() == Some(head)
    }

    /// The desired state of `head` when it is the commit planned last.
    pub(super) fn desired_of(&self, head: &str) -> Option<&Desired> {
        self.desired
            .as_ref()
            .filter(|(commit, _)| commit == head)
            .map(|(_, desired)| desired)
    }

    /// Whether `catalog` differs from the one written last; remembers it.
    pub(super) fn catalog_changed(&mut self, catalog: String) -> bool {
        if self.catalog.as_deref() == Some(catalog.as_str()) {
            return false;
        }
        self.catalog = Some(catalog);
        true
    }

    /// Forgets the commit and what was written (another daemon led meanwhile); whether
    /// a pass ever finished stays.
    pub(super) fn forget(&mut self) {
        self.head = None;
        self.desired = None;
        self.catalog = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_catalog_is_written_once_and_again_after_forgetting() {
        let mut last = LastPass::default();
        assert!(last.catalog_changed("[[],[]]".to_owned()));
        assert!(!last.catalog_changed("[[],[]]".to_owned()));
        assert!(last.catalog_changed("[[{}],[]]".to_owned()));
        last.forget();
        assert!(last.catalog_changed("[[{}],[]]".to_owned()));
    }

    #[test]
    fn the_desired_state_is_only_for_its_own_commit() {
        let mut last = LastPass {
            desired: Some(("abc".to_owned(), Desired::default())),
            ..LastPass::default()
        };
        assert!(last.desired_of("abc").is_some());
        assert!(last.desired_of("def").is_none());
        last.forget();
        assert!(last.desired_of("abc").is_none());
    }
}
