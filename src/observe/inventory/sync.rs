//! Recording scans in the store, shared by the scheduled scan of the daemon's leader and
//! `discover-proxmox-resources` with `sync_to_database`: the same sources, the same
//! claims, the same rows (every item upserted, the source's others marked gone).

use super::Claims;
use super::scan::{self, Scanner, SourceScan, Sources};
use crate::place::{Decision, ResolvedPool};
use crate::store::{InventoryCounts, Store, StoreError};
use std::collections::BTreeMap;

/// What to scan and which resource accounts for what is found, from one revision: its
/// pools, its placements and its resources' documents (for `adopt.container`).
pub struct Plan {
    pub sources: Sources,
    pub claims: Claims,
}

impl Plan {
    /// The plan of a revision; `default_context` is `[executors.kubernetes] context`.
    pub fn of<'a>(
        pools: &BTreeMap<String, ResolvedPool>,
        default_context: Option<&str>,
        decisions: impl IntoIterator<Item = &'a Decision>,
        resources: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
    ) -> Plan {
        let mut claims = scan::claims(decisions);
        claims.adopted = scan::adopted(resources);
        Plan {
            sources: scan::sources(pools, default_context),
            claims,
        }
    }
}

/// Records each scan that could be read, by `actor`; one entry per scan, `None` for a
/// source that could not be read — its items stay as last seen instead of all being
/// marked gone.
pub async fn record(
    store: &Store,
    scans: &[SourceScan],
    actor: &str,
) -> Result<Vec<Option<InventoryCounts>>, StoreError> {
    let mut out = Vec::with_capacity(scans.len());
    for s in scans {
        out.push(match &s.result {
            Ok(items) => Some(
                store
                    .record_inventory(&s.source, s.seen_at, items, actor)
                    .await?,
            ),
            Err(_) => None,
        });
    }
    Ok(out)
}

/// Every provider's scan recorded (the daemon's schedule): the scans and what each changed.
pub async fn scan_and_record(
    scanner: &Scanner,
    plan: &Plan,
    store: &Store,
    actor: &str,
) -> Result<Vec<(SourceScan, Option<InventoryCounts>)>, StoreError> {
    let scans = scanner.scan(&plan.sources, &plan.claims, &[]).await;
    let counts = record(store, &scans, actor).await?;
    Ok(scans.into_iter().zip(counts).collect())
}
