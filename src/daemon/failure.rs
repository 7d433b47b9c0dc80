//! Why a pass got no desired state: the repository could not be read (a git outage,
//! retried with backoff and notified) or the pipeline task itself failed (a homelabd bug,
//! logged and counted as `internal`, never reported as a git outage).

use crate::source::SourceError;

/// Why the pipeline (or reading the branch head) gave no result.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The tracked repository could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The blocking task panicked (the message is the panic's, when it has one).
    #[error("internal error: the pipeline task panicked: {0}")]
    Panicked(String),
    /// The blocking task was cancelled (the runtime is shutting down).
    #[error("the pipeline task was cancelled")]
    Cancelled,
}

impl PipelineError {
    /// The error of a blocking task that did not return.
    pub fn from_join(e: tokio::task::JoinError) -> PipelineError {
        match e.try_into_panic() {
            Ok(payload) => PipelineError::Panicked(
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned()),
            ),
            Err(_) => PipelineError::Cancelled,
        }
    }

    /// Is this a git outage (as opposed to a fault of homelabd itself)?
    pub fn is_git_outage(&self) -> bool {
        matches!(self, PipelineError::Source(_))
    }
}
