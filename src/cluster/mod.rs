//! Several daemons on one PostgreSQL.
//!
//! One leader at a time does all the work (reconcile, apply, observe); the others are
//! followers: they serve `/healthz`, `/readyz`, `/metrics` and the read-only MCP answers
//! from the store, and take over when the leader goes away.
//!
//! - **Membership** ([`membership`]): every member writes a heartbeat every
//!   [`HEARTBEAT`] into `cluster_members` and, in the same transaction, takes or renews
//!   the one `cluster_lease` row for [`LEASE_TTL`]. A lease that is not renewed expires;
//!   the next member to heartbeat takes it and bumps its `epoch`. After a kill -9 of the
//!   leader a follower leads within `LEASE_TTL + HEARTBEAT` (6 s).
//! - **Fencing** ([`Gate`]): the loop asks before every pass and every apply whether it
//!   may act. A leader trusts its lease locally only until shortly before the expiry the
//!   database reported, and checks `holder = me AND epoch = mine AND unexpired` in the
//!   database right before an apply starts, so a daemon that lost the lease stops starting
//!   applies.
//! - **Per-resource locks**: around each tool run the apply holds
//!   `pg_try_advisory_lock(hashtext('homelabd:' || resource))` on a dedicated connection.
//!   Even a stale leader that still believes in its lease can never run a resource's tool
//!   while another daemon runs it; the server drops the lock with the connection when a
//!   daemon dies.
//! - **Runs of a dead member**: an apply run left `running` is marked `interrupted` (and
//!   its resource applied again; applies are idempotent) only once the member that
//!   started it (`apply_runs.member`) has not been heard from for `LEASE_TTL`.
//!
//! SQLite is single-daemon: [`lockfile`] holds an exclusive lock on
//! `<state dir>/homelabd.lock` (and next to the database file), and a second daemon
//! refuses to start, naming the holder.

pub mod lockfile;
pub mod membership;
pub mod role;

pub use lockfile::{StateLock, lock_state};
pub use membership::{Membership, start};
pub use role::{Fence, Gate, Leadership};

use std::time::Duration;

/// How often a member writes its heartbeat and renews or tries to take the lease.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a lease lasts without renewal, and how long a silent member counts as alive.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// Why an apply may not start on this daemon now.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Only the leader applies.
    #[error("this daemon is not the leader")]
    NotLeader,
    /// The lease in the database belongs to another member or epoch now (fencing).
    #[error("this daemon lost the leader lease")]
    LostLease,
    #[error("cannot check the leader lease: {0}")]
    LeaseCheck(#[source] crate::store::StoreError),
    /// Another daemon holds the resource's lock: the loop retries after a backoff.
    #[error("another homelabd is applying this resource")]
    Busy,
    #[error("cannot take the resource lock: {0}")]
    Lock(#[source] crate::store::StoreError),
}

/// Errors of the cluster module.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Another daemon holds the state directory's (or SQLite file's) lock.
    #[error(
        "another homelabd{holder} is already running with {what} (lock file {path} is held); \
         {hint}"
    )]
    AlreadyRunning {
        what: String,
        path: String,
        /// ` (pid N)` when the lock file names it.
        holder: String,
        hint: &'static str,
    },
    /// The lock file cannot be opened or locked.
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// May the loop start an apply of `resource` now? Checks the gate, the lease in the
/// database (fencing) and takes the resource's advisory lock. `Err` says why not
/// ([`ClaimError::Busy`] when another daemon holds the resource).
pub async fn claim(
    gate: &Gate,
    store: &crate::store::Store,
    resource: &str,
) -> Result<crate::store::ResourceLock, ClaimError> {
    if !gate.may_reconcile() {
        return Err(ClaimError::NotLeader);
    }
    if let Some(fence) = gate.fence() {
        match store.cluster_lease_held(&fence.member, fence.epoch).await {
            Ok(true) => {}
            Ok(false) => return Err(ClaimError::LostLease),
            Err(e) => return Err(ClaimError::LeaseCheck(e)),
        }
    }
    match store.try_lock_resource(resource).await {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(ClaimError::Busy),
        Err(e) => Err(ClaimError::Lock(e)),
    }
}
