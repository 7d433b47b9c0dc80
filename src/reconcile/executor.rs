//! The executor interface: what the loop hands a rendered resource to. The only
//! implementation so far says honestly that nothing is applied.

use std::path::Path;

/// What became of a hand-over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The provider's tool applied the rendered files.
    Applied,
    /// Rendered but deliberately not applied, with the reason shown to the user.
    NotApplied { reason: String },
    /// The tool ran and failed.
    Failed { error: String },
}

/// Applies rendered resources for one or more providers.
pub trait Executor: Send + Sync {
    /// Applies the resource rendered in `dir`.
    fn apply(&self, provider: &str, resource: &str, dir: &Path) -> ApplyOutcome;
}

/// The executor used until real ones exist: reports "rendered, not applied".
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExecutor;

impl Executor for NoExecutor {
    fn apply(&self, _provider: &str, _resource: &str, _dir: &Path) -> ApplyOutcome {
        ApplyOutcome::NotApplied {
            reason: "no executor yet".to_owned(),
        }
    }
}
