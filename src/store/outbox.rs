//! The notification outbox: events (`notification_outbox`) written in the same
//! transaction as what they describe, and per-sink deliveries (`notification_deliveries`)
//! that the delivery task claims, sends and marks. Nothing here knows HTTP: the
//! `notify_out` module decides what a sink wants and how it is sent.

use super::{Inner, Store, StoreError, codec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// One event in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// Stable id: the receiver's deduplication key (`X-Homelabd-Delivery`).
    pub id: uuid::Uuid,
    /// e.g. `apply.failed` (see `notify_out::EventType`).
    pub event_type: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// The resource or other subject (`web`, `git`, `database`, a branch).
    pub subject: String,
    /// One human sentence.
    pub summary: String,
    /// Event-specific details (stored in the `payload` column).
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// One event due for one sink, as claimed by [`Store::due_deliveries`].
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub notification: NotificationRecord,
    pub sink: String,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// The delivery state of one event for one sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub notification_id: uuid::Uuid,
    pub sink: String,
    /// `pending`, `delivered` or `skipped`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

const INSERT: &str = "INSERT INTO notification_outbox (id, event_type, severity, subject, summary,
                          payload, created_at)
                      VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";

/// Inserts `events` in an open SQLite transaction (an event already there is kept).
pub(super) async fn insert_sqlite(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    events: &[NotificationRecord],
) -> Result<(), StoreError> {
    for n in events {
        // NUL is replaced on both backends alike (PostgreSQL cannot store it).
        sqlx::query(INSERT)
            .bind(n.id.to_string())
            .bind(&n.event_type)
            .bind(&n.severity)
            .bind(codec::strip_nul(&n.subject).as_ref())
            .bind(codec::strip_nul(&n.summary).as_ref())
            .bind(without_nul(&n.details).to_string())
            .bind(codec::to_text(codec::micros(n.occurred_at)))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Inserts `events` in an open PostgreSQL transaction (an event already there is kept).
pub(super) async fn insert_postgres(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    events: &[NotificationRecord],
) -> Result<(), StoreError> {
    for n in events {
        // PostgreSQL text and JSONB cannot hold NUL; a tool's error message can.
        let details = without_nul(&n.details);
        sqlx::query(INSERT)
            .bind(n.id)
            .bind(&n.event_type)
            .bind(&n.severity)
            .bind(codec::strip_nul(&n.subject).as_ref())
            .bind(codec::strip_nul(&n.summary).as_ref())
            .bind(details)
            .bind(codec::micros(n.occurred_at))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// `value` with every NUL in its strings and keys replaced by U+FFFD.
fn without_nul(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as V;
    match value {
        V::String(s) => V::String(codec::strip_nul(s).into_owned()),
        V::Array(items) => V::Array(items.iter().map(without_nul).collect()),
        V::Object(map) => V::Object(
            map.iter()
                .map(|(k, v)| (codec::strip_nul(k).into_owned(), without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

const NOTIFICATION_COLUMNS: &str =
    "o.id, o.event_type, o.severity, o.subject, o.summary, o.payload, o.created_at";

impl Store {
    /// Writes events that describe nothing else in the store (the daemon's own health),
    /// in one transaction.
    pub async fn record_notifications(
        &self,
        events: &[NotificationRecord],
    ) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                insert_sqlite(&mut tx, events).await?;
                tx.commit().await?;
            }
            Inner::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                insert_postgres(&mut tx, events).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// At most `limit` events, newest first.
    pub async fn notifications(&self, limit: i64) -> Result<Vec<NotificationRecord>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notification_outbox o
             ORDER BY o.created_at DESC, o.id LIMIT $1"
        );
        let limit = limit.max(0);
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(notification_from_sqlite)
                .collect(),
            Inner::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(notification_from_postgres)
                .collect(),
        }
    }

    /// Registers `sink` (first time: since `now`) and returns since when it is served:
    /// events older than that are not sent to it.
    pub async fn register_sink(
        &self,
        sink: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let insert = "INSERT INTO notification_sinks (name, since) VALUES ($1, $2)
                      ON CONFLICT (name) DO NOTHING";
        let select = "SELECT since FROM notification_sinks WHERE name = $1";
        match &self.inner {
            Inner::Sqlite(pool) => {
                sqlx::query(insert)
                    .bind(sink)
                    .bind(codec::to_text(codec::micros(now)))
                    .execute(pool)
                    .await?;
                let since: String = sqlx::query(select)
                    .bind(sink)
                    .fetch_one(pool)
                    .await?
                    .try_get("since")?;
                codec::from_text("since", &since)
            }
            Inner::Postgres(pool) => {
                sqlx::query(insert)
                    .bind(sink)
                    .bind(codec::micros(now))
                    .execute(pool)
                    .await?;
                Ok(sqlx::query(select)
                    .bind(sink)
                    .fetch_one(pool)
                    .await?
                    .try_get("since")?)
            }
        }
    }

    /// At most `limit` events from `since` on that have no delivery row for `sink` yet,
    /// oldest first.
    pub async fn undispatched(
        &self,
        sink: &str,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notification_outbox o
             WHERE o.created_at >= $2 AND NOT EXISTS (
                 SELECT 1 FROM notification_deliveries d
                 WHERE d.notification_id = o.id AND d.sink = $1)
             ORDER BY o.created_at, o.id LIMIT $3"
        );
        let limit = limit.max(0);
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(sink)
                .bind(codec::to_text(codec::micros(since)))
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(notification_from_sqlite)
                .collect(),
            Inner::Postgres(pool) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(sink)
                .bind(codec::micros(since))
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(notification_from_postgres)
                .collect(),
        }
    }

    /// Creates the delivery row of event `id` for `sink`: `pending` (due `now`) when the
    /// sink wants it, `skipped` otherwise. A row that exists already is kept.
    pub async fn dispatch(
        &self,
        id: uuid::Uuid,
        sink: &str,
        wanted: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO notification_deliveries (notification_id, sink, state,
                       next_attempt_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (notification_id, sink) DO NOTHING";
        let state = if wanted { "pending" } else { "skipped" };
        match &self.inner {
            Inner::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(sink)
                    .bind(state)
                    .bind(codec::to_text(codec::micros(now)))
                    .execute(pool)
                    .await?;
            }
            Inner::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(id)
                    .bind(sink)
                    .bind(state)
                    .bind(codec::micros(now))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Claims at most `limit` pending deliveries to `sinks` due at `now`, oldest event
    /// first: their next attempt moves to `claim_until`, so another daemon on the same
    /// database does not send them meanwhile, and one that died mid-send is retried
    /// after that. Deliveries to sinks not listed (removed from the config) wait.
    pub async fn due_deliveries(
        &self,
        sinks: &[String],
        now: DateTime<Utc>,
        limit: i64,
        claim_until: DateTime<Utc>,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let select = |sink_filter: &str| {
            format!(
                "SELECT {NOTIFICATION_COLUMNS}, d.sink, d.attempts
                 FROM notification_deliveries d
                 JOIN notification_outbox o ON o.id = d.notification_id
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND {sink_filter}
                 ORDER BY o.created_at, o.id, d.sink LIMIT $2"
            )
        };
        let claim = "UPDATE notification_deliveries SET next_attempt_at = $3
                     WHERE notification_id = $1 AND sink = $2";
        let limit = limit.max(0);
        match &self.inner {
            Inner::Sqlite(pool) => {
                // IMMEDIATE: the write lock is taken before reading, so the claim is atomic.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let sql = select("d.sink IN (SELECT value FROM json_each($3))");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(codec::to_text(codec::micros(now)))
                    .bind(limit)
                    .bind(serde_json::json!(sinks).to_string())
                    .fetch_all(&mut *tx)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let due = DueDelivery {
                        notification: notification_from_sqlite(row)?,
                        sink: row.try_get("sink")?,
                        attempts: row.try_get("attempts")?,
                    };
                    sqlx::query(claim)
                        .bind(due.notification.id.to_string())
                        .bind(&due.sink)
                        .bind(codec::to_text(codec::micros(claim_until)))
                        .execute(&mut *tx)
                        .await?;
                    out.push(due);
                }
                tx.commit().await?;
                Ok(out)
            }
            Inner::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // SKIP LOCKED: daemons sharing the database claim disjoint rows.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{} FOR UPDATE OF d SKIP LOCKED",
                    select("d.sink = ANY($3)")
                )))
                .bind(codec::micros(now))
                .bind(limit)
                .bind(sinks)
                .fetch_all(&mut *tx)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let due = DueDelivery {
                        notification: notification_from_postgres(row)?,
                        sink: row.try_get("sink")?,
                        attempts: row.try_get("attempts")?,
                    };
                    sqlx::query(claim)
                        .bind(due.notification.id)
                        .bind(&due.sink)
                        .bind(codec::micros(claim_until))
                        .execute(&mut *tx)
                        .await?;
                    out.push(due);
                }
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// Records that `sink` accepted event `id` at `at`.
    pub async fn mark_delivered(
        &self,
        id: uuid::Uuid,
        sink: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE notification_deliveries
                   SET state = 'delivered', attempts = attempts + 1, delivered_at = $3,
                       last_error = NULL
                   WHERE notification_id = $1 AND sink = $2";
        match &self.inner {
            Inner::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(sink)
                    .bind(codec::to_text(codec::micros(at)))
                    .execute(pool)
                    .await?;
            }
            Inner::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(id)
                    .bind(sink)
                    .bind(codec::micros(at))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records a failed attempt of `sink` for event `id`; the next one is due at
    /// `next_attempt_at`.
    pub async fn mark_failed(
        &self,
        id: uuid::Uuid,
        sink: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE notification_deliveries
                   SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4
                   WHERE notification_id = $1 AND sink = $2 AND state = 'pending'";
        let error = codec::strip_nul(error);
        match &self.inner {
            Inner::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(sink)
                    .bind(error.as_ref())
                    .bind(codec::to_text(codec::micros(next_attempt_at)))
                    .execute(pool)
                    .await?;
            }
            Inner::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(id)
                    .bind(sink)
                    .bind(error.as_ref())
                    .bind(codec::micros(next_attempt_at))
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// How many deliveries wait (pending) for `sink`.
    pub async fn pending_deliveries(&self, sink: &str) -> Result<i64, StoreError> {
        let sql = "SELECT count(*) AS n FROM notification_deliveries
                   WHERE sink = $1 AND state = 'pending'";
        Ok(match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(sql)
                .bind(sink)
                .fetch_one(pool)
                .await?
                .try_get("n")?,
            Inner::Postgres(pool) => sqlx::query(sql)
                .bind(sink)
                .fetch_one(pool)
                .await?
                .try_get("n")?,
        })
    }

    /// Deletes events that occurred before `before` and wait for no sink any more
    /// (their delivery rows go with them); returns how many.
    pub async fn prune_notifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM notification_outbox
                   WHERE created_at < $1 AND NOT EXISTS (
                       SELECT 1 FROM notification_deliveries d
                       WHERE d.notification_id = notification_outbox.id
                         AND d.state = 'pending')";
        let done = match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(sql)
                .bind(codec::to_text(codec::micros(before)))
                .execute(pool)
                .await?
                .rows_affected(),
            Inner::Postgres(pool) => sqlx::query(sql)
                .bind(codec::micros(before))
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(done)
    }

    /// Every delivery row of event `id`, by sink.
    pub async fn deliveries(&self, id: uuid::Uuid) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = "SELECT notification_id, sink, state, attempts, next_attempt_at, delivered_at,
                          last_error
                   FROM notification_deliveries WHERE notification_id = $1 ORDER BY sink";
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(sql)
                .bind(id.to_string())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let delivered: Option<String> = row.try_get("delivered_at")?;
                    Ok(DeliveryRecord {
                        notification_id: id,
                        sink: row.try_get("sink")?,
                        state: row.try_get("state")?,
                        attempts: row.try_get("attempts")?,
                        next_attempt_at: codec::from_text(
                            "next_attempt_at",
                            row.try_get("next_attempt_at")?,
                        )?,
                        delivered_at: delivered
                            .map(|t| codec::from_text("delivered_at", &t))
                            .transpose()?,
                        last_error: row.try_get("last_error")?,
                    })
                })
                .collect(),
            Inner::Postgres(pool) => sqlx::query(sql)
                .bind(id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    Ok(DeliveryRecord {
                        notification_id: row.try_get("notification_id")?,
                        sink: row.try_get("sink")?,
                        state: row.try_get("state")?,
                        attempts: row.try_get("attempts")?,
                        next_attempt_at: row.try_get("next_attempt_at")?,
                        delivered_at: row.try_get("delivered_at")?,
                        last_error: row.try_get("last_error")?,
                    })
                })
                .collect(),
        }
    }
}

fn notification_from_sqlite(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<NotificationRecord, StoreError> {
    let id: String = row.try_get("id")?;
    Ok(NotificationRecord {
        id: uuid::Uuid::parse_str(&id)
            .map_err(|e| StoreError::Corrupt(format!("notification_outbox.id {id:?}: {e}")))?,
        event_type: row.try_get("event_type")?,
        severity: row.try_get("severity")?,
        subject: row.try_get("subject")?,
        summary: row.try_get("summary")?,
        details: codec::json_from_text("payload", row.try_get("payload")?)?,
        occurred_at: codec::from_text("created_at", row.try_get("created_at")?)?,
    })
}

fn notification_from_postgres(
    row: &sqlx::postgres::PgRow,
) -> Result<NotificationRecord, StoreError> {
    Ok(NotificationRecord {
        id: row.try_get("id")?,
        event_type: row.try_get("event_type")?,
        severity: row.try_get("severity")?,
        subject: row.try_get("subject")?,
        summary: row.try_get("summary")?,
        details: row.try_get("payload")?,
        occurred_at: row.try_get("created_at")?,
    })
}
