//! Apply runs: one row per apply, destroy or rollback, written before the tool starts (`running`)
//! and finished afterwards together with the resource's new state and audit rows, in one
//! transaction. A row still `running` at startup belonged to a daemon that died; it is
//! marked `interrupted` and the resource is applied again (applies are idempotent).

use super::dialect::{Arg, Row, json, text, time};
use super::records::{insert_audit, set_endpoints, upsert_resource};
use super::{AuditRecord, ResourceRecord, Store, StoreError, codec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
// Every dynamic statement here is composed from constants (the column list), never
// from input: input is always bound.
use sqlx::AssertSqlSafe;

/// Where an apply or destroy run is (`apply_runs.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Recorded before the tool started; the tool runs (or its daemon died).
    Running,
    Succeeded,
    /// The tool failed, or the executor could not apply.
    Failed,
    /// Stopped by a shutdown, or its daemon died while it ran.
    Interrupted,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 4] = [
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Interrupted,
    ];

    /// The stored name (also the `outcome` label of `homelabd_apply_runs_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Interrupted => "interrupted",
        }
    }

    /// The state stored as `name`, if homelabd writes it.
    pub fn parse(name: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a run does (`apply_runs.operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOperation {
    /// The rendered output of the desired revision put in place.
    Apply,
    /// A resource whose definition was removed taken down (prune).
    Destroy,
    /// A kept healthy output of an earlier revision put in place again: automatically
    /// after a failed or unhealthy revision, or by `homelabd rollback`.
    Rollback,
}

impl RunOperation {
    /// Every operation.
    pub const ALL: [RunOperation; 3] = [
        RunOperation::Apply,
        RunOperation::Destroy,
        RunOperation::Rollback,
    ];

    /// The stored name (also the `operation` label of `homelabd_apply_runs_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOperation::Apply => "apply",
            RunOperation::Destroy => "destroy",
            RunOperation::Rollback => "rollback",
        }
    }

    /// The operation stored as `name`, if homelabd writes it.
    pub fn parse(name: &str) -> Option<RunOperation> {
        RunOperation::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the run puts a configuration in place (an apply or a rollback).
    pub fn puts_in_place(self) -> bool {
        matches!(self, RunOperation::Apply | RunOperation::Rollback)
    }
}

impl std::fmt::Display for RunOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One apply or destroy (a row of `apply_runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyRunRecord {
    pub id: String,
    pub resource: String,
    pub revision: String,
    /// The executor's name (`docker-compose`, `terraform`, …).
    pub executor: String,
    pub operation: RunOperation,
    /// Every command run, as argument vectors (a JSON array of arrays).
    pub argv: serde_json::Value,
    pub state: RunState,
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
    /// Succeeded, failed or interrupted.
    pub state: RunState,
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
    /// A resource destroyed by prune: its row is marked destroyed (never deleted), its
    /// open deviations resolved; its runs, renders and audit rows stay.
    pub destroyed: Option<Destroyed>,
    pub audit: Vec<AuditRecord>,
    /// Events for the notification outbox (apply failed / recovered).
    pub notifications: Vec<super::NotificationRecord>,
    /// Where the resource can be reached, when the tool said (written after `resource`).
    pub endpoints: Option<(String, Vec<crate::reconcile::endpoint::Endpoint>)>,
}

/// A resource destroyed by prune, for [`ApplyRunEffects::destroyed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Destroyed {
    pub name: String,
    /// The revision that no longer defines it.
    pub revision: String,
    pub at: DateTime<Utc>,
    /// What `reason` says from now on.
    pub reason: String,
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
        operation: RunOperation,
        audit: &AuditRecord,
    ) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO apply_runs (id, resource, revision, executor, operation, state,
                                     started_at)
             VALUES ($1, $2, $3, $4, $5, 'running', $6)",
            &[
                Arg::Id(id),
                text(resource),
                text(revision),
                text(executor),
                text(operation.as_str()),
                time(codec::now()),
            ],
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id.to_string())
    }

    /// Finishes run `id` and writes its effects, all in one transaction.
    pub async fn finish_apply_run(
        &self,
        id: &str,
        end: &ApplyRunEnd,
        effects: &ApplyRunEffects,
    ) -> Result<(), StoreError> {
        let stdout = codec::strip_nul(&end.stdout_tail);
        let stderr = codec::strip_nul(&end.stderr_tail);
        let mut tx = self.begin_write().await?;
        tx.execute(
            "UPDATE apply_runs SET state = $2, argv = $3, exit_code = $4,
                 finished_at = $5, duration_ms = $6, stdout_tail = $7,
                 stderr_tail = $8, error = $9
             WHERE id = $1",
            &[
                Arg::Id(parse_id(id)?),
                text(end.state.as_str()),
                json(&end.argv),
                Arg::Int4(end.exit_code),
                time(end.finished_at),
                Arg::Int(Some(end.duration_ms)),
                text(&stdout),
                text(&stderr),
                Arg::Text(end.error.as_deref()),
            ],
        )
        .await?;
        if let Some(r) = &effects.resource {
            upsert_resource(&mut tx, r).await?;
        }
        if let Some((name, endpoints)) = &effects.endpoints {
            set_endpoints(&mut tx, name, endpoints).await?;
        }
        if let Some(d) = &effects.destroyed {
            // Nothing is applied any more: `applied_hash` goes (a re-added resource is
            // applied again); `applied_revision` stays as the last one it ran at.
            tx.execute(
                "UPDATE deployment_instances SET destroyed_at = $2, destroyed_revision = $3,
                     reason = $4, applied_hash = NULL, updated_at = $2,
                     last_error = NULL, last_error_at = NULL, deviation_detected = $5,
                     endpoints = '[]', address = NULL
                 WHERE name = $1",
                &[
                    text(&d.name),
                    time(d.at),
                    text(&d.revision),
                    text(&d.reason),
                    Arg::Bool(false),
                ],
            )
            .await?;
            tx.execute(
                "UPDATE state_deviations SET resolved_at = $2, resolved_by = 'prune'
                 WHERE resource = $1 AND resolved_at IS NULL",
                &[text(&d.name), time(d.at)],
            )
            .await?;
        }
        for a in &effects.audit {
            insert_audit(&mut tx, a).await?;
        }
        super::outbox::insert(&mut tx, &effects.notifications).await?;
        tx.commit().await
    }

    /// Marks every `running` run as `interrupted` (its daemon died mid-apply) and returns
    /// them. Called once at startup, before any new apply.
    pub async fn interrupt_running_applies(&self) -> Result<Vec<ApplyRunRecord>, StoreError> {
        let sql = format!(
            "UPDATE apply_runs SET state = 'interrupted', finished_at = $1,
                 error = 'the daemon stopped while this ran; applied again after restart'
             WHERE state = 'running' RETURNING {COLUMNS}"
        );
        self.fetch_all(AssertSqlSafe(sql), &[time(codec::now())])
            .await?
            .iter()
            .map(run_from)
            .collect()
    }

    /// At most `limit` runs, newest first; of one resource or of all.
    pub async fn apply_runs(
        &self,
        resource: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApplyRunRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM apply_runs WHERE CAST($1 AS TEXT) IS NULL OR resource = $1
             ORDER BY started_at DESC LIMIT $2"
        );
        self.fetch_all(
            AssertSqlSafe(sql),
            &[Arg::Text(resource), Arg::Int(Some(limit.max(0)))],
        )
        .await?
        .iter()
        .map(run_from)
        .collect()
    }
}

pub(super) fn parse_id(id: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(format!("run id {id:?}: {e}")))
}

/// One `apply_runs` row selected with [`COLUMNS`].
pub(super) fn run_from(row: &Row) -> Result<ApplyRunRecord, StoreError> {
    Ok(ApplyRunRecord {
        id: row.id("id")?.to_string(),
        resource: row.get("resource")?,
        revision: row.get("revision")?,
        executor: row.get("executor")?,
        operation: {
            let operation: String = row.get("operation")?;
            RunOperation::parse(&operation)
                .ok_or_else(|| StoreError::Corrupt(format!("apply run operation {operation:?}")))?
        },
        argv: row.json("argv")?,
        state: {
            let state: String = row.get("state")?;
            RunState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("apply run state {state:?}")))?
        },
        exit_code: row.get("exit_code")?,
        started_at: row.time("started_at")?,
        finished_at: row.opt_time("finished_at")?,
        duration_ms: row.get("duration_ms")?,
        stdout_tail: row.get("stdout_tail")?,
        stderr_tail: row.get("stderr_tail")?,
        error: row.get("error")?,
    })
}

impl Store {
    /// Is request `id` still queued (not yet taken by a daemon)?
    pub async fn request_pending(&self, id: i64) -> Result<bool, StoreError> {
        let n: i64 = self
            .fetch_one(
                "SELECT count(*) AS n FROM reconcile_requests WHERE id = $1",
                &[Arg::Int(Some(id))],
            )
            .await?
            .get("n")?;
        Ok(n > 0)
    }
}
