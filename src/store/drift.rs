//! Drift records: `state_deviations` rows (opened when first seen, resolved — never
//! deleted — when gone) and the observed state kept on `deployment_instances`
//! (expected_state, actual_state, state_last_checked, deviation_detected).

use super::{AuditRecord, Inner, Store, StoreError, codec, postgres, sqlite};
use crate::observe::{Deviation, OpenDeviation};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
// Every dynamic statement here is composed from constants (the column list), never
// from input: input is always bound.
use sqlx::{AssertSqlSafe, Row};

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
}

const COLUMNS: &str = "id, resource, deviation_key, deviation_type, severity, auto_correctable,
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
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(open_only)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_sqlite)
                .collect(),
            Inner::Postgres(pool) => sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(open_only)
                .bind(limit.max(0))
                .fetch_all(pool)
                .await?
                .iter()
                .map(from_postgres)
                .collect(),
        }
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
        match &self.inner {
            Inner::Sqlite(pool) => {
                let at = codec::to_text(codec::micros(w.at));
                let mut tx = pool.begin().await?;
                for (name, expected, actual, detected) in &w.instances {
                    sqlx::query(instance)
                        .bind(name)
                        .bind(expected.to_string())
                        .bind(actual.to_string())
                        .bind(&at)
                        .bind(detected)
                        .execute(&mut *tx)
                        .await?;
                }
                for d in &w.new {
                    sqlx::query(insert)
                        .bind(uuid::Uuid::new_v4().to_string())
                        .bind(&d.resource)
                        .bind(&d.key)
                        .bind(d.kind.as_str())
                        .bind(d.severity.as_str())
                        .bind(d.auto_correctable)
                        .bind(&d.corrective_action)
                        .bind(d.expected.to_string())
                        .bind(d.actual.to_string())
                        .bind(&d.message)
                        .bind(&at)
                        .execute(&mut *tx)
                        .await?;
                }
                for (id, by) in &w.resolved {
                    sqlx::query(resolve)
                        .bind(id)
                        .bind(&at)
                        .bind(by)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &w.audit {
                    sqlite::insert_audit(&mut tx, a).await?;
                }
                super::outbox::insert_sqlite(&mut tx, &w.notifications).await?;
                tx.commit().await?;
            }
            Inner::Postgres(pool) => {
                let at = codec::micros(w.at);
                let mut tx = pool.begin().await?;
                for (name, expected, actual, detected) in &w.instances {
                    sqlx::query(instance)
                        .bind(name)
                        .bind(expected)
                        .bind(actual)
                        .bind(at)
                        .bind(detected)
                        .execute(&mut *tx)
                        .await?;
                }
                for d in &w.new {
                    sqlx::query(insert)
                        .bind(uuid::Uuid::new_v4())
                        .bind(&d.resource)
                        .bind(&d.key)
                        .bind(d.kind.as_str())
                        .bind(d.severity.as_str())
                        .bind(d.auto_correctable)
                        .bind(&d.corrective_action)
                        .bind(&d.expected)
                        .bind(&d.actual)
                        .bind(codec::strip_nul(&d.message).as_ref())
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                for (id, by) in &w.resolved {
                    let Ok(id) = uuid::Uuid::parse_str(id) else {
                        continue;
                    };
                    sqlx::query(resolve)
                        .bind(id)
                        .bind(at)
                        .bind(by)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &w.audit {
                    postgres::insert_audit(&mut tx, a).await?;
                }
                super::outbox::insert_postgres(&mut tx, &w.notifications).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

fn from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<DeviationRecord, StoreError> {
    let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = row.try_get(col)?;
        text.map(|t| codec::json_from_text(col, &t)).transpose()
    };
    let resolved: Option<String> = row.try_get("resolved_at")?;
    Ok(DeviationRecord {
        id: row.try_get("id")?,
        resource: row.try_get("resource")?,
        key: row.try_get("deviation_key")?,
        deviation_type: row.try_get("deviation_type")?,
        severity: row.try_get("severity")?,
        auto_correctable: row.try_get("auto_correctable")?,
        corrective_action: row.try_get("corrective_action")?,
        expected: json("expected")?,
        actual: json("actual")?,
        message: row.try_get("message")?,
        detected_at: codec::from_text("detected_at", row.try_get("detected_at")?)?,
        resolved_at: resolved
            .map(|t| codec::from_text("resolved_at", &t))
            .transpose()?,
        resolved_by: row.try_get("resolved_by")?,
    })
}

fn from_postgres(row: &sqlx::postgres::PgRow) -> Result<DeviationRecord, StoreError> {
    let id: uuid::Uuid = row.try_get("id")?;
    Ok(DeviationRecord {
        id: id.to_string(),
        resource: row.try_get("resource")?,
        key: row.try_get("deviation_key")?,
        deviation_type: row.try_get("deviation_type")?,
        severity: row.try_get("severity")?,
        auto_correctable: row.try_get("auto_correctable")?,
        corrective_action: row.try_get("corrective_action")?,
        expected: row.try_get("expected")?,
        actual: row.try_get("actual")?,
        message: row.try_get("message")?,
        detected_at: row.try_get("detected_at")?,
        resolved_at: row.try_get("resolved_at")?,
        resolved_by: row.try_get("resolved_by")?,
    })
}
