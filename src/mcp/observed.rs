//! What a snapshot stores about reality (pure): every recorded resource as the daemon last
//! saw it (state, the revision applied, where it was placed, its addresses, its open
//! deviations) and every guest or container the live inventory saw that no definition
//! accounts for. Kept in the store's `infrastructure_snapshots` beside the committed
//! snapshot file, which holds only the desired placement.

use crate::store::{DeviationRecord, InventoryRecord, ResourceRecord};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The observed state of `resources` (destroyed ones left out), `inventory` (present
/// items no resource claims) and the open `deviations`, at `revision`.
pub fn observed(
    revision: &str,
    resources: &[ResourceRecord],
    inventory: &[InventoryRecord],
    deviations: &[DeviationRecord],
) -> Value {
    let mut open: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for d in deviations.iter().filter(|d| d.resolved_at.is_none()) {
        open.entry(d.resource.as_str()).or_default().push(json!({
            "type": d.deviation_type,
            "severity": d.severity,
            "message": d.message,
        }));
    }
    let resources: Vec<Value> = resources
        .iter()
        .filter(|r| r.destroyed_at.is_none())
        .map(|r| {
            json!({
                "name": r.name,
                "state": r.state.as_str(),
                "provider": r.provider,
                "pool": r.pool,
                "placement": r.placement,
                "desired_revision": r.desired_revision,
                "applied_revision": r.applied_revision,
                "applied_hash": r.applied_hash,
                "address": r.address,
                "endpoints": r.endpoints,
                "open_deviations": open.get(r.name.as_str()).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let unmanaged: Vec<Value> = inventory
        .iter()
        .filter(|i| i.gone_at.is_none() && i.item.is_unmanaged())
        .map(|i| {
            json!({
                "source": i.source,
                "key": i.item.key,
                "kind": i.item.kind,
                "name": i.item.name,
                "node": i.item.node,
                "details": i.item.details,
                "seen_at": i.seen_at,
            })
        })
        .collect();
    json!({
        "revision": revision,
        "resources": resources,
        "unmanaged": unmanaged,
    })
}
