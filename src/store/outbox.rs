//! The notification outbox: events (`notification_outbox`) written in the same
//! transaction as what they describe, and per-sink deliveries (`notification_deliveries`)
//! that the delivery task claims, sends and marks. Nothing here knows HTTP: the
//! `notify_out` module decides what a sink wants and how it is sent.

use super::dialect::{Arg, Row, Tx, json, text, time};
use super::{Store, StoreError, codec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
// Every dynamic statement here is composed from constants (the column list and the
// backend's list condition), never from input: input is always bound.
use sqlx::AssertSqlSafe;

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

/// Inserts `events` in an open transaction (an event already there is kept).
pub(super) async fn insert(tx: &mut Tx, events: &[NotificationRecord]) -> Result<(), StoreError> {
    for n in events {
        // NUL is replaced on both backends alike (PostgreSQL cannot store it; a tool's
        // error message can contain one).
        let details = without_nul(&n.details);
        tx.execute(
            "INSERT INTO notification_outbox (id, event_type, severity, subject, summary,
                 payload, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            &[
                Arg::Id(n.id),
                text(&n.event_type),
                text(&n.severity),
                text(&codec::strip_nul(&n.subject)),
                text(&codec::strip_nul(&n.summary)),
                json(&details),
                time(n.occurred_at),
            ],
        )
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
        let mut tx = self.begin_write().await?;
        insert(&mut tx, events).await?;
        tx.commit().await
    }

    /// At most `limit` events, newest first.
    pub async fn notifications(&self, limit: i64) -> Result<Vec<NotificationRecord>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notification_outbox o
             ORDER BY o.created_at DESC, o.id LIMIT $1"
        );
        self.fetch_all(AssertSqlSafe(sql), &[Arg::Int(Some(limit.max(0)))])
            .await?
            .iter()
            .map(notification_from)
            .collect()
    }

    /// The newest event of type `event_type`, if any.
    pub async fn latest_notification(
        &self,
        event_type: &str,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notification_outbox o
             WHERE o.event_type = $1 ORDER BY o.created_at DESC, o.id LIMIT 1"
        );
        self.fetch_all(AssertSqlSafe(sql), &[text(event_type)])
            .await?
            .first()
            .map(notification_from)
            .transpose()
    }

    /// Registers `sink` (first time: since `now`) and returns since when it is served:
    /// events older than that are not sent to it.
    pub async fn register_sink(
        &self,
        sink: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        self.execute(
            "INSERT INTO notification_sinks (name, since) VALUES ($1, $2)
             ON CONFLICT (name) DO NOTHING",
            &[text(sink), time(now)],
        )
        .await?;
        self.fetch_one(
            "SELECT since FROM notification_sinks WHERE name = $1",
            &[text(sink)],
        )
        .await?
        .time("since")
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
        self.fetch_all(
            AssertSqlSafe(sql),
            &[text(sink), time(since), Arg::Int(Some(limit.max(0)))],
        )
        .await?
        .iter()
        .map(notification_from)
        .collect()
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
        let state = if wanted { "pending" } else { "skipped" };
        self.execute(
            "INSERT INTO notification_deliveries (notification_id, sink, state,
                 next_attempt_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (notification_id, sink) DO NOTHING",
            &[Arg::Id(id), text(sink), text(state), time(now)],
        )
        .await?;
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
        let mut sql = format!(
            "SELECT {NOTIFICATION_COLUMNS}, d.sink, d.attempts
             FROM notification_deliveries d
             JOIN notification_outbox o ON o.id = d.notification_id
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND {}
             ORDER BY o.created_at, o.id, d.sink LIMIT $2",
            self.text_list("d.sink", 3)
        );
        if self.backend() == super::Backend::Postgres {
            // SKIP LOCKED: daemons sharing the database claim disjoint rows. (SQLite's
            // write transaction holds the one write lock, so its claim is atomic anyway.)
            sql.push_str(" FOR UPDATE OF d SKIP LOCKED");
        }
        let mut tx = self.begin_write().await?;
        let rows = tx
            .fetch_all(
                AssertSqlSafe(sql),
                &[
                    time(now),
                    Arg::Int(Some(limit.max(0))),
                    Arg::TextList(sinks),
                ],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let due = DueDelivery {
                notification: notification_from(row)?,
                sink: row.get("sink")?,
                attempts: row.get("attempts")?,
            };
            tx.execute(
                "UPDATE notification_deliveries SET next_attempt_at = $3
                 WHERE notification_id = $1 AND sink = $2",
                &[
                    Arg::Id(due.notification.id),
                    text(&due.sink),
                    time(claim_until),
                ],
            )
            .await?;
            out.push(due);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records that `sink` accepted event `id` at `at`.
    pub async fn mark_delivered(
        &self,
        id: uuid::Uuid,
        sink: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE notification_deliveries
             SET state = 'delivered', attempts = attempts + 1, delivered_at = $3,
                 last_error = NULL
             WHERE notification_id = $1 AND sink = $2",
            &[Arg::Id(id), text(sink), time(at)],
        )
        .await?;
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
        self.execute(
            "UPDATE notification_deliveries
             SET attempts = attempts + 1, last_error = $3, next_attempt_at = $4
             WHERE notification_id = $1 AND sink = $2 AND state = 'pending'",
            &[
                Arg::Id(id),
                text(sink),
                text(&codec::strip_nul(error)),
                time(next_attempt_at),
            ],
        )
        .await?;
        Ok(())
    }

    /// How many deliveries wait (pending) for `sink`.
    pub async fn pending_deliveries(&self, sink: &str) -> Result<i64, StoreError> {
        self.fetch_one(
            "SELECT count(*) AS n FROM notification_deliveries
             WHERE sink = $1 AND state = 'pending'",
            &[text(sink)],
        )
        .await?
        .get("n")
    }

    /// Deletes events that occurred before `before` and wait for no sink any more
    /// (their delivery rows go with them); returns how many.
    pub async fn prune_notifications(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM notification_outbox
             WHERE created_at < $1 AND NOT EXISTS (
                 SELECT 1 FROM notification_deliveries d
                 WHERE d.notification_id = notification_outbox.id
                   AND d.state = 'pending')",
            &[time(before)],
        )
        .await
    }

    /// Every delivery row of event `id`, by sink.
    pub async fn deliveries(&self, id: uuid::Uuid) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.fetch_all(
            "SELECT notification_id, sink, state, attempts, next_attempt_at, delivered_at,
                    last_error
             FROM notification_deliveries WHERE notification_id = $1 ORDER BY sink",
            &[Arg::Id(id)],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(DeliveryRecord {
                notification_id: row.id("notification_id")?,
                sink: row.get("sink")?,
                state: row.get("state")?,
                attempts: row.get("attempts")?,
                next_attempt_at: row.time("next_attempt_at")?,
                delivered_at: row.opt_time("delivered_at")?,
                last_error: row.get("last_error")?,
            })
        })
        .collect()
    }
}

fn notification_from(row: &Row) -> Result<NotificationRecord, StoreError> {
    Ok(NotificationRecord {
        id: row.id("id")?,
        event_type: row.get("event_type")?,
        severity: row.get("severity")?,
        subject: row.get("subject")?,
        summary: row.get("summary")?,
        details: row.json("payload")?,
        occurred_at: row.time("created_at")?,
    })
}
