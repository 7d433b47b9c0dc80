//! What the dashboard keeps between store changes (the pools page's bookings, the text
//! filter's search view): a value as of one store change — the newest audit row's
//! sequence number, which every write that places, moves or destroys a resource (a
//! pass, an apply) advances — followed from one change to the next through the audit
//! rows written in between, and built from scratch again at least every [`MAX_AGE`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a kept value may be followed from change to change before it is built from
/// scratch again. On PostgreSQL, sequence numbers are taken when a row is written and
/// become visible at commit, so a write can commit below a counter already read; this
/// bounds how long such a write stays unseen.
pub(super) const MAX_AGE: Duration = Duration::from_secs(60);

/// Audit rows since the kept change beyond which a value is built from scratch instead
/// of followed (a pass over many resources).
pub(super) const MAX_FOLLOWED: i64 = 500;

/// A value as of one store change.
#[derive(Debug)]
pub(super) struct Kept<T> {
    /// The newest audit row's sequence number the value includes.
    pub change: i64,
    /// When it was last built from scratch.
    pub rebuilt: Instant,
    pub value: Arc<T>,
}

impl<T> Clone for Kept<T> {
    fn clone(&self) -> Self {
        Kept {
            change: self.change,
            rebuilt: self.rebuilt,
            value: Arc::clone(&self.value),
        }
    }
}

/// One kept value, shared by the requests of all sessions.
#[derive(Debug)]
pub(super) struct KeptCell<T>(Mutex<Option<Kept<T>>>);

impl<T> Default for KeptCell<T> {
    fn default() -> Self {
        KeptCell(Mutex::new(None))
    }
}

impl<T> KeptCell<T> {
    /// What is kept, unless it was built from scratch more than [`MAX_AGE`] ago.
    pub fn fresh(&self) -> Option<Kept<T>> {
        let kept = self.0.lock().ok()?;
        kept.as_ref()
            .filter(|k| k.rebuilt.elapsed() < MAX_AGE)
            .cloned()
    }

    /// Lets go of the value kept for `change` (if that is still the one kept), so that
    /// the caller, holding it, can follow a change in place instead of copying it: a
    /// page reading it meanwhile reads from scratch.
    pub fn release(&self, change: i64) {
        if let Ok(mut kept) = self.0.lock()
            && kept.as_ref().is_some_and(|k| k.change == change)
        {
            *kept = None;
        }
    }

    /// Keeps `value`, unless a newer change is kept already (requests race).
    pub fn put(&self, value: Kept<T>) {
        if let Ok(mut kept) = self.0.lock()
            && kept
                .as_ref()
                .is_none_or(|k| k.change <= value.change || k.rebuilt.elapsed() >= MAX_AGE)
        {
            *kept = Some(value);
        }
    }
}
