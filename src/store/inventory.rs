//! The live inventory (`inventory_items`): what the providers reported at each scan.
//! A scan of one source is written in one transaction with its audit row: the items it
//! saw are upserted (seen now, no longer gone), the source's other items are marked gone.
//! Nothing is deleted, so an item that vanished keeps its last details and times.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dialect::{Arg, json, text, time};
use super::records::insert_audit;
use super::{AuditRecord, Store, StoreError};

/// One thing a provider reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Unique within its source: `node/pve-01`, `qemu/100`, `lxc/201`,
    /// `storage/local-lvm`, `pci/pve-01/0000:01:00.0`, `engine`, `container/<id>`.
    pub key: String,
    /// `node`, `vm`, `ct` (an LXC container), `storage`, `gpu`, `engine`, `container`.
    pub kind: String,
    pub name: Option<String>,
    /// The node it runs on (for a node, itself).
    pub node: Option<String>,
    /// The resource in git that accounts for it (`None`: unmanaged, or not a workload).
    pub managed_by: Option<String>,
    /// What the provider said: sizes, state, load, labels.
    pub details: serde_json::Value,
}

impl InventoryItem {
    /// A guest or container (something a definition could account for).
    pub fn is_workload(&self) -> bool {
        matches!(self.kind.as_str(), "vm" | "ct" | "container")
    }

    /// A workload no definition accounts for.
    pub fn is_unmanaged(&self) -> bool {
        self.is_workload() && self.managed_by.is_none() && !self.flag("template")
    }

    /// Running (or, when the provider gives no state, assumed running).
    pub fn is_running(&self) -> bool {
        match self.details.get("status").and_then(|s| s.as_str()) {
            Some(s) => s == "running",
            None => true,
        }
    }

    /// A boolean detail (`false` when absent).
    pub fn flag(&self, key: &str) -> bool {
        self.details.get(key).and_then(|v| v.as_bool()) == Some(true)
    }

    /// A numeric detail.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.details.get(key).and_then(|v| v.as_f64())
    }
}

/// One stored item with its times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryRecord {
    #[serde(flatten)]
    pub item: InventoryItem,
    /// The source it was reported by (`proxmox`, `docker:<engine>`, `kubernetes:<context>`).
    pub source: String,
    pub first_seen_at: DateTime<Utc>,
    /// The last scan that reported it.
    pub seen_at: DateTime<Utc>,
    /// The first scan that no longer reported it (`None`: present at the last scan).
    pub gone_at: Option<DateTime<Utc>>,
}

/// What one scan changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InventoryCounts {
    /// Items reported for the first time.
    pub new: u64,
    /// Items reported again.
    pub seen: u64,
    /// Items of the source that this scan did not report.
    pub gone: u64,
}

impl Store {
    /// Records one scan of `source` taken at `seen_at`: every item upserted, the
    /// source's other present items marked gone, and an `inventory.synced` audit row by
    /// `actor`, in one transaction.
    pub async fn record_inventory(
        &self,
        source: &str,
        seen_at: DateTime<Utc>,
        items: &[InventoryItem],
        actor: &str,
    ) -> Result<InventoryCounts, StoreError> {
        let mut counts = InventoryCounts::default();
        let mut tx = self.begin_write().await?;
        for item in items {
            let details = super::proposals::without_nul(item.details.clone());
            let existed = tx
                .fetch_all(
                    "SELECT kind FROM inventory_items WHERE source = $1 AND item_key = $2",
                    &[text(source), text(&item.key)],
                )
                .await?
                .len();
            if existed > 0 {
                counts.seen += 1;
            } else {
                counts.new += 1;
            }
            tx.execute(
                "INSERT INTO inventory_items
                     (source, item_key, kind, name, node, managed_by, details,
                      first_seen_at, seen_at, gone_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, NULL)
                 ON CONFLICT (source, item_key) DO UPDATE SET
                     kind = excluded.kind, name = excluded.name, node = excluded.node,
                     managed_by = excluded.managed_by, details = excluded.details,
                     seen_at = excluded.seen_at, gone_at = NULL",
                &[
                    text(source),
                    text(&item.key),
                    text(&item.kind),
                    Arg::Text(item.name.as_deref()),
                    Arg::Text(item.node.as_deref()),
                    Arg::Text(item.managed_by.as_deref()),
                    json(&details),
                    time(seen_at),
                ],
            )
            .await?;
        }
        counts.gone = tx
            .execute(
                "UPDATE inventory_items SET gone_at = $2
                 WHERE source = $1 AND gone_at IS NULL AND seen_at < $2",
                &[text(source), time(seen_at)],
            )
            .await?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                at: seen_at,
                actor: actor.to_owned(),
                action: "inventory.synced".into(),
                subject: source.to_owned(),
                details: serde_json::json!({
                    "items": items.len(),
                    "new": counts.new,
                    "gone": counts.gone,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// The stored inventory, by source and key: present items only unless
    /// `include_gone`; one source or all.
    pub async fn inventory(
        &self,
        source: Option<&str>,
        include_gone: bool,
    ) -> Result<Vec<InventoryRecord>, StoreError> {
        let sql = "SELECT source, item_key, kind, name, node, managed_by, details,
                          first_seen_at, seen_at, gone_at
                   FROM inventory_items
                   WHERE ($1 IS NULL OR source = $1) AND ($2 OR gone_at IS NULL)
                   ORDER BY source, item_key";
        self.fetch_all(sql, &[Arg::Text(source), Arg::Bool(include_gone)])
            .await?
            .iter()
            .map(|row| {
                Ok(InventoryRecord {
                    item: InventoryItem {
                        key: row.get("item_key")?,
                        kind: row.get("kind")?,
                        name: row.get("name")?,
                        node: row.get("node")?,
                        managed_by: row.get("managed_by")?,
                        details: row.json("details")?,
                    },
                    source: row.get("source")?,
                    first_seen_at: row.time("first_seen_at")?,
                    seen_at: row.time("seen_at")?,
                    gone_at: row.opt_time("gone_at")?,
                })
            })
            .collect()
    }
}

/// The audit action of a source that could not be scanned (written when its error is
/// new or changed, not at every failed scan).
pub const SCAN_FAILED: &str = "inventory.scan_failed";

/// The last scan of one source, as the audit log tells it: the newest
/// `inventory.synced` or [`SCAN_FAILED`] row with that source as its subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanStatus {
    /// `proxmox`, `docker:<engine>`, `kubernetes:<context>`.
    pub source: String,
    /// When it was recorded (or first failed with this error).
    pub at: DateTime<Utc>,
    /// Who scanned: the daemon's schedule or an agent.
    pub actor: String,
    /// Items seen (a successful scan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// Why it could not be read (it keeps its last recorded items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Each source's newest scan row, from audit entries newest first (pure).
pub fn scan_statuses(entries: &[super::AuditEntry]) -> Vec<ScanStatus> {
    let mut out: Vec<ScanStatus> = Vec::new();
    for e in entries {
        let r = &e.record;
        if out.iter().any(|s| s.source == r.subject) {
            continue;
        }
        let failed = r.action == SCAN_FAILED;
        if !failed && r.action != "inventory.synced" {
            continue;
        }
        out.push(ScanStatus {
            source: r.subject.clone(),
            at: r.at,
            actor: r.actor.clone(),
            items: (!failed)
                .then(|| r.details.get("items").and_then(serde_json::Value::as_u64))
                .flatten(),
            error: failed.then(|| {
                r.details
                    .get("error")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("unreadable")
                    .to_owned()
            }),
        });
    }
    out.sort_by(|a, b| a.source.cmp(&b.source));
    out
}

impl Store {
    /// The last scan of every source (the newest 500 inventory audit rows are read).
    pub async fn scan_statuses(&self) -> Result<Vec<ScanStatus>, StoreError> {
        let page = self
            .audit_entries(
                &super::AuditQuery {
                    action: Some("inventory.".into()),
                    ..super::AuditQuery::default()
                },
                500,
            )
            .await?;
        Ok(scan_statuses(&page.entries))
    }
}
