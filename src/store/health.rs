//! Health checks (`resource_health`): each resource's last check, one row per resource.
//! Written with an observation (`record_observation`, in its transaction: the health
//! row, the deviation it opens or resolves and the audit rows together).

use super::dialect::{Arg, Row, Tx, text, time};
use super::{Store, StoreError};
pub use crate::reconcile::health::{HealthRecord, HealthStatus};

impl Store {
    /// Every resource's last health check, by name.
    pub async fn health_records(&self) -> Result<Vec<HealthRecord>, StoreError> {
        self.fetch_all(
            "SELECT resource, status, reason, checked_at, since, applied_hash
             FROM resource_health ORDER BY resource",
            &[],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
    }
}

/// Writes one check (replacing the resource's last one).
pub(super) async fn upsert(tx: &mut Tx, h: &HealthRecord) -> Result<(), StoreError> {
    let reason = super::codec::strip_nul(&h.reason);
    tx.execute(
        "INSERT INTO resource_health (resource, status, reason, checked_at, since, applied_hash)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (resource) DO UPDATE SET status = excluded.status,
             reason = excluded.reason, checked_at = excluded.checked_at,
             since = excluded.since, applied_hash = excluded.applied_hash",
        &[
            text(&h.resource),
            text(h.status.as_str()),
            text(&reason),
            time(h.checked_at),
            time(h.since),
            Arg::Text(h.applied_hash.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

fn from_row(row: &Row) -> Result<HealthRecord, StoreError> {
    let status: String = row.get("status")?;
    Ok(HealthRecord {
        resource: row.get("resource")?,
        status: HealthStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown health status {status:?}")))?,
        reason: row.get("reason")?,
        checked_at: row.time("checked_at")?,
        since: row.time("since")?,
        applied_hash: row.get("applied_hash")?,
    })
}
