//! Pull-request previews as the daemon made them (the `pull_request_previews` table): one
//! row per pull request and head, the latest outcome of that head, written together with
//! its audit row. The report itself lives on the pull request (status and comment); the
//! row says what it concluded, so the dashboard can list previews next to proposals.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dialect::{Arg, text, time};
use super::records::insert_audit;
use super::{AuditRecord, Store, StoreError};

/// What a preview concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewStatus {
    /// The head validates; `summary` counts what it would change.
    Valid,
    /// The head has validation errors; `summary` names the first ones.
    Invalid,
    /// No report could be made (GitHub unreachable, a timeout, a limit); `summary` says why.
    Failed,
}

impl PreviewStatus {
    /// Every status.
    pub const ALL: [PreviewStatus; 3] = [
        PreviewStatus::Valid,
        PreviewStatus::Invalid,
        PreviewStatus::Failed,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            PreviewStatus::Valid => "valid",
            PreviewStatus::Invalid => "invalid",
            PreviewStatus::Failed => "failed",
        }
    }

    /// The status stored as `name`, if homelabd writes it.
    pub fn parse(name: &str) -> Option<PreviewStatus> {
        PreviewStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One preview of one head of a pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewRecord {
    pub pull: i64,
    /// The head commit previewed.
    pub head: String,
    /// The tracked branch's commit it was compared with (`None` when it failed first).
    pub base: Option<String>,
    pub status: PreviewStatus,
    /// One line: the commit status description, or why it failed.
    pub summary: String,
    pub created: i64,
    pub changed: i64,
    pub removed: i64,
    pub errors: i64,
    /// The pull request on GitHub, when `[propose.github]` is set.
    pub pr_url: Option<String>,
    /// Reported on the pull request (`false`: the log only).
    pub reported: bool,
    pub previewed_at: DateTime<Utc>,
}

/// Longest summary kept (the commit status allows 140 characters; errors run longer).
const MAX_SUMMARY: usize = 500;

impl Store {
    /// Records `preview` (replacing an earlier outcome of the same pull request and head)
    /// and `audit` in one transaction.
    pub async fn record_preview(
        &self,
        preview: &PreviewRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        let summary: String = preview
            .summary
            .chars()
            .filter(|c| *c != '\0')
            .take(MAX_SUMMARY)
            .collect();
        let mut tx = self.begin_write().await?;
        tx.execute(
            "INSERT INTO pull_request_previews (pull_number, head_commit, base_commit, status,
                 summary, created, changed, removed, errors, pr_url, reported, previewed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (pull_number, head_commit) DO UPDATE SET
                 base_commit = excluded.base_commit, status = excluded.status,
                 summary = excluded.summary, created = excluded.created,
                 changed = excluded.changed, removed = excluded.removed,
                 errors = excluded.errors, pr_url = excluded.pr_url,
                 reported = excluded.reported, previewed_at = excluded.previewed_at",
            &[
                Arg::Int(Some(preview.pull)),
                text(&preview.head),
                Arg::Text(preview.base.as_deref()),
                text(preview.status.as_str()),
                text(&summary),
                Arg::Int(Some(preview.created)),
                Arg::Int(Some(preview.changed)),
                Arg::Int(Some(preview.removed)),
                Arg::Int(Some(preview.errors)),
                Arg::Text(preview.pr_url.as_deref()),
                Arg::Bool(preview.reported),
                time(preview.previewed_at),
            ],
        )
        .await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await
    }

    /// At most `limit` previews, newest first.
    pub async fn previews(&self, limit: i64) -> Result<Vec<PreviewRecord>, StoreError> {
        const SQL: &str = "SELECT pull_number, head_commit, base_commit, status, summary,
                                  created, changed, removed, errors, pr_url, reported,
                                  previewed_at
                           FROM pull_request_previews
                           ORDER BY previewed_at DESC, pull_number DESC LIMIT $1";
        self.fetch_all(SQL, &[Arg::Int(Some(limit.max(0)))])
            .await?
            .iter()
            .map(|row| {
                let status: String = row.get("status")?;
                Ok(PreviewRecord {
                    pull: row.get("pull_number")?,
                    head: row.get("head_commit")?,
                    base: row.get("base_commit")?,
                    status: PreviewStatus::parse(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("preview status {status:?}")))?,
                    summary: row.get("summary")?,
                    created: row.get("created")?,
                    changed: row.get("changed")?,
                    removed: row.get("removed")?,
                    errors: row.get("errors")?,
                    pr_url: row.get("pr_url")?,
                    reported: row.get("reported")?,
                    previewed_at: row.time("previewed_at")?,
                })
            })
            .collect()
    }
}
