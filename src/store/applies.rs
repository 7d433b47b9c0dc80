//! Apply runs: one row per apply or destroy, written before the tool starts (`running`)
//! and finished afterwards together with the resource's new state and audit rows, in one
//! transaction. A row still `running` at startup belonged to a daemon that died; it is
//! marked `interrupted` and the resource is applied again (applies are idempotent).

use super::{AuditRecord, Inner, ResourceRecord, Store, StoreError, codec, postgres, sqlite};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
// Every dynamic statement here is composed from constants (the column list), never
// from input: input is always bound.
use sqlx::{AssertSqlSafe, Row};

/// One apply or destroy (a row of `apply_runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyRunRecord {
    pub id: String,
    pub resource: String,
    pub revision: String,
    /// The executor's name (`docker-compose`, `terraform`, …).
    pub executor: String,
    /// `apply` or `destroy`.
    pub operation: String,
    /// Every command run, as argument vectors (a JSON array of arrays).
    pub argv: serde_json::Value,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub state: String,
    pub exit_code: Option<i32>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub stdout_tail: Option<String>,
    pub stderr_tail: Option<String>,
    /// One line: why it failed or was interrupted.
    pub error: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyRunEnd {
    /// `succeeded` or `failed`.
    pub state: String,
    pub argv: serde_json::Value,
    pub exit_code: Option<i32>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub stdout_tail: String,
    pub stderr_tail: String,
    pub error: Option<String>,
}

/// What else changes when a run ends, in the same transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApplyRunEffects {
    /// The resource's new state (applied / failed).
    pub resource: Option<ResourceRecord>,
    /// A resource destroyed by prune: its row (and with it its runs) is removed; the
    /// audit log keeps the account.
    pub forget: Option<String>,
    pub audit: Vec<AuditRecord>,
    /// Events for the notification outbox (apply failed / recovered).
    pub notifications: Vec<super::NotificationRecord>,
}

pub(super) const COLUMNS: &str =
    "id, resource, revision, executor, operation, argv, state, exit_code,
     started_at, finished_at, duration_ms, stdout_tail, stderr_tail, error";

impl Store {
    /// Records that an apply of `resource` at `revision` starts now; returns the run id.
    /// The resource and revision must be recorded already.
    pub async fn start_apply_run(
        &self,
        resource: &str,
        revision: &str,
        executor: &str,
        operation: &str,
        audit: &AuditRecord,
    ) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4();
        let now = codec::now();
        let sql = "INSERT INTO apply_runs (id, resource, revision, executor, operation, state,
                                           started_at)
                   VALUES ($1, $2, $3, $4, $5, 'running', $6)";
        match &self.inner {
            Inner::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(resource)
                    .bind(revision)
                    .bind(executor)
                    .bind(operation)
                    .bind(codec::to_text(now))
                    .execute(&mut *tx)
                    .await?;
                sqlite::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
            }
            Inner::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(sql)
                    .bind(id)
                    .bind(resource)
                    .bind(revision)
                    .bind(executor)
                    .bind(operation)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                postgres::insert_audit(&mut tx, audit).await?;
                tx.commit().await?;
            }
        }
        Ok(id.to_string())
    }

    /// Finishes run `id` and writes its effects, all in one transaction.
    pub async fn finish_apply_run(
        &self,
        id: &str,
        end: &ApplyRunEnd,
        effects: &ApplyRunEffects,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE apply_runs SET state = $2, argv = $3, exit_code = $4,
                       finished_at = $5, duration_ms = $6, stdout_tail = $7,
                       stderr_tail = $8, error = $9
                   WHERE id = $1";
        let stdout = codec::strip_nul(&end.stdout_tail);
        let stderr = codec::strip_nul(&end.stderr_tail);
        match &self.inner {
            Inner::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(sql)
                    .bind(id)
                    .bind(&end.state)
                    .bind(end.argv.to_string())
                    .bind(end.exit_code)
                    .bind(codec::to_text(codec::micros(end.finished_at)))
                    .bind(end.duration_ms)
                    .bind(stdout.as_ref())
                    .bind(stderr.as_ref())
                    .bind(&end.error)
                    .execute(&mut *tx)
                    .await?;
                if let Some(r) = &effects.resource {
                    sqlite::upsert_resource(&mut tx, r).await?;
                }
                if let Some(name) = &effects.forget {
                    sqlx::query("DELETE FROM deployment_instances WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &effects.audit {
                    sqlite::insert_audit(&mut tx, a).await?;
                }
                super::outbox::insert_sqlite(&mut tx, &effects.notifications).await?;
                tx.commit().await?;
            }
            Inner::Postgres(pool) => {
                let uuid = parse_id(id)?;
                let mut tx = pool.begin().await?;
                sqlx::query(sql)
                    .bind(uuid)
                    .bind(&end.state)
                    .bind(&end.argv)
                    .bind(end.exit_code)
                    .bind(codec::micros(end.finished_at))
                    .bind(end.duration_ms)
                    .bind(stdout.as_ref())
                    .bind(stderr.as_ref())
                    .bind(&end.error)
                    .execute(&mut *tx)
                    .await?;
                if let Some(r) = &effects.resource {
                    postgres::upsert_resource(&mut tx, r).await?;
                }
                if let Some(name) = &effects.forget {
                    sqlx::query("DELETE FROM deployment_instances WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &effects.audit {
                    postgres::insert_audit(&mut tx, a).await?;
                }
                super::outbox::insert_postgres(&mut tx, &effects.notifications).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Marks every `running` run as `interrupted` (its daemon died mid-apply) and returns
    /// them. Called once at startup, before any new apply.
    pub async fn interrupt_running_applies(&self) -> Result<Vec<ApplyRunRecord>, StoreError> {
        let now = codec::now();
        let sql = format!(
            "UPDATE apply_runs SET state = 'interrupted', finished_at = $1,
                 error = 'the daemon stopped while this ran; applied again after restart'
             WHERE state = 'running' RETURNING {COLUMNS}"
        );
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(codec::to_text(now))
                .fetch_all(pool)
                .await?
                .iter()
                .map(run_from_sqlite)
                .collect(),
            Inner::Postgres(pool) => sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(now)
                .fetch_all(pool)
                .await?
                .iter()
                .map(run_from_postgres)
                .collect(),
        }
    }

    /// At most `limit` runs, newest first; of one resource or of all.
    pub async fn apply_runs(
        &self,
        resource: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApplyRunRecord>, StoreError> {
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM apply_runs WHERE $1 IS NULL OR resource = $1
                 ORDER BY started_at DESC LIMIT $2"
            )))
            .bind(resource)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?
            .iter()
            .map(run_from_sqlite)
            .collect(),
            Inner::Postgres(pool) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM apply_runs WHERE $1::text IS NULL OR resource = $1
                 ORDER BY started_at DESC LIMIT $2"
            )))
            .bind(resource)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await?
            .iter()
            .map(run_from_postgres)
            .collect(),
        }
    }
}

fn parse_id(id: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(format!("run id {id:?}: {e}")))
}

fn run_from_sqlite(row: &sqlx::sqlite::SqliteRow) -> Result<ApplyRunRecord, StoreError> {
    let finished: Option<String> = row.try_get("finished_at")?;
    let argv: String = row.try_get("argv")?;
    Ok(ApplyRunRecord {
        id: row.try_get("id")?,
        resource: row.try_get("resource")?,
        revision: row.try_get("revision")?,
        executor: row.try_get("executor")?,
        operation: row.try_get("operation")?,
        argv: codec::json_from_text("argv", &argv)?,
        state: row.try_get("state")?,
        exit_code: row.try_get("exit_code")?,
        started_at: codec::from_text("started_at", row.try_get("started_at")?)?,
        finished_at: finished
            .map(|t| codec::from_text("finished_at", &t))
            .transpose()?,
        duration_ms: row.try_get("duration_ms")?,
        stdout_tail: row.try_get("stdout_tail")?,
        stderr_tail: row.try_get("stderr_tail")?,
        error: row.try_get("error")?,
    })
}

pub(super) fn run_from_postgres(row: &sqlx::postgres::PgRow) -> Result<ApplyRunRecord, StoreError> {
    let id: uuid::Uuid = row.try_get("id")?;
    Ok(ApplyRunRecord {
        id: id.to_string(),
        resource: row.try_get("resource")?,
        revision: row.try_get("revision")?,
        executor: row.try_get("executor")?,
        operation: row.try_get("operation")?,
        argv: row.try_get("argv")?,
        state: row.try_get("state")?,
        exit_code: row.try_get("exit_code")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        duration_ms: row.try_get("duration_ms")?,
        stdout_tail: row.try_get("stdout_tail")?,
        stderr_tail: row.try_get("stderr_tail")?,
        error: row.try_get("error")?,
    })
}

impl Store {
    /// Is request `id` still queued (not yet taken by a daemon)?
    pub async fn request_pending(&self, id: i64) -> Result<bool, StoreError> {
        let sql = "SELECT count(*) AS n FROM reconcile_requests WHERE id = $1";
        let n: i64 = match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(sql)
                .bind(id)
                .fetch_one(pool)
                .await?
                .try_get("n")?,
            Inner::Postgres(pool) => sqlx::query(sql)
                .bind(id)
                .fetch_one(pool)
                .await?
                .try_get("n")?,
        };
        Ok(n > 0)
    }
}
