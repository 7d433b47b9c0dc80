//! Drift records: `state_deviations` rows (opened when first seen, resolved — never
//! deleted — when gone) and the observed state kept on `deployment_instances`
//! (expected_state, actual_state, state_last_checked, deviation_detected).

use super::dialect::{Arg, Row, json, text, time};
use super::records::insert_audit;
use super::{AuditRecord, Store, StoreError, codec};
use crate::reconcile::drift::{Deviation, OpenDeviation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
// Every dynamic statement here is composed from constants (the column list), never
// from input: input is always bound.
use sqlx::AssertSqlSafe;

/// One deviation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviationRecord {
    pub id: String,
    pub resource: String,
    pub key: String,
    /// `missing`, `config_drift`, `resource_change` or `unmanaged`.
    pub deviation_type: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub auto_correctable: bool,
    pub corrective_action: Option<String>,
    pub expected: Option<serde_json::Value>,
    pub actual: Option<serde_json::Value>,
    pub message: Option<String>,
    pub detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it: `observer` (no longer seen), `self-heal`, `apply`.
    pub resolved_by: Option<String>,
}

/// What one observation pass writes, in one transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservationWrite {
    /// Per observed resource: (name, expected, actual, deviation detected).
    pub instances: Vec<(String, serde_json::Value, serde_json::Value, bool)>,
    pub new: Vec<Deviation>,
    /// Open deviation ids now resolved, each with who resolved it.
    pub resolved: Vec<(String, String)>,
    pub at: DateTime<Utc>,
    pub audit: Vec<AuditRecord>,
    /// Events for the notification outbox (drift detected / resolved).
    pub notifications: Vec<super::NotificationRecord>,
    /// Resources whose endpoints changed, with the ones seen now.
    pub endpoints: Vec<(String, Vec<crate::reconcile::endpoint::Endpoint>)>,
    /// Health checks made (each replaces the resource's last one).
    pub health: Vec<super::HealthRecord>,
}

pub(super) const COLUMNS: &str =
    "id, resource, deviation_key, deviation_type, severity, auto_correctable,
     corrective_action, expected, actual, message, detected_at, resolved_at, resolved_by";

impl Store {
    /// The open deviations' identities (for [`crate::observe::reconcile_open`]).
    pub async fn open_deviation_keys(&self) -> Result<Vec<OpenDeviation>, StoreError> {
        Ok(self
            .deviations(true, i64::MAX)
            .await?
            .into_iter()
            .map(|d| OpenDeviation {
                id: d.id,
                resource: d.resource,
                key: d.key,
            })
            .collect())
    }

    /// Deviations newest first: only open ones, or all (`open_only = false`).
    pub async fn deviations(
        &self,
        open_only: bool,
        limit: i64,
    ) -> Result<Vec<DeviationRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM state_deviations
             WHERE resolved_at IS NULL OR NOT $1
             ORDER BY detected_at DESC, resource, deviation_key LIMIT $2"
        );
        self.fetch_all(
            AssertSqlSafe(sql),
            &[Arg::Bool(open_only), Arg::Int(Some(limit.max(0)))],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// Writes an observation pass: instance columns, new deviations, resolutions and
    /// audit rows, in one transaction. A new deviation whose (resource, key) is already
    /// open is ignored (the unique index on open deviations holds either way).
    pub async fn record_observation(&self, w: &ObservationWrite) -> Result<(), StoreError> {
        let insert = "INSERT INTO state_deviations (id, resource, deviation_key, deviation_type,
                          severity, auto_correctable, corrective_action, expected, actual,
                          message, detected_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                      ON CONFLICT (resource, deviation_key) WHERE resolved_at IS NULL DO NOTHING";
        let resolve = "UPDATE state_deviations SET resolved_at = $2, resolved_by = $3
                       WHERE id = $1 AND resolved_at IS NULL";
        let instance = "UPDATE deployment_instances SET expected_state = $2, actual_state = $3,
                            state_last_checked = $4, deviation_detected = $5
                        WHERE name = $1";
        let mut tx = self.begin_write().await?;
        for (name, expected, actual, detected) in &w.instances {
            tx.execute(
                instance,
                &[
                    text(name),
                    json(expected),
                    json(actual),
                    time(w.at),
                    Arg::Bool(*detected),
                ],
            )
            .await?;
        }
        for d in &w.new {
            // An observer's message can carry anything a tool printed; NUL is replaced
            // on both backends alike (PostgreSQL text cannot hold it).
            let message = codec::strip_nul(&d.message);
            tx.execute(
                insert,
                &[
                    Arg::Id(uuid::Uuid::new_v4()),
                    text(&d.resource),
                    text(&d.key),
                    text(d.kind.as_str()),
                    text(d.severity.as_str()),
                    Arg::Bool(d.auto_correctable),
                    text(&d.corrective_action),
                    json(&d.expected),
                    json(&d.actual),
                    text(&message),
                    time(w.at),
                ],
            )
            .await?;
        }
        for (id, by) in &w.resolved {
            // An id that is no UUID names no stored deviation.
            let Ok(id) = uuid::Uuid::parse_str(id) else {
                continue;
            };
            tx.execute(resolve, &[Arg::Id(id), time(w.at), text(by)])
                .await?;
        }
        for a in &w.audit {
            insert_audit(&mut tx, a).await?;
        }
        super::outbox::insert(&mut tx, &w.notifications).await?;
        for (name, endpoints) in &w.endpoints {
            super::records::set_endpoints(&mut tx, name, endpoints).await?;
        }
        for h in &w.health {
            super::health::upsert(&mut tx, h).await?;
        }
        tx.commit().await
    }
}

pub(super) fn from_row(row: &Row) -> Result<DeviationRecord, StoreError> {
    Ok(DeviationRecord {
        id: row.id("id")?.to_string(),
        resource: row.get("resource")?,
        key: row.get("deviation_key")?,
        deviation_type: row.get("deviation_type")?,
        severity: row.get("severity")?,
        auto_correctable: row.get("auto_correctable")?,
        corrective_action: row.get("corrective_action")?,
        expected: row.opt_json("expected")?,
        actual: row.opt_json("actual")?,
        message: row.get("message")?,
        detected_at: row.time("detected_at")?,
        resolved_at: row.opt_time("resolved_at")?,
        resolved_by: row.get("resolved_by")?,
    })
}
