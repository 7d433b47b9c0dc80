//! Proposals (the `proposals` table): a branch, a commit and maybe a pull request made
//! for an AI agent or a person, written together with its audit row in one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{AuditRecord, Inner, Store, StoreError, codec};

/// One proposal as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalRecord {
    pub id: uuid::Uuid,
    /// The tool that made it, e.g. `deploy-with-intelligence`.
    pub tool: String,
    /// Who asked: `mcp:<token name>`, `stdio`, …
    pub client: String,
    pub branch: String,
    pub commit: Option<String>,
    pub pr_url: Option<String>,
    /// `local`, `pushed` or `pull-request`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Files, resources, validation result, compare link, any error.
    pub details: serde_json::Value,
}

impl Store {
    /// Writes `proposal`, `audit` and a "proposal opened" notification in one
    /// transaction: all or nothing.
    pub async fn record_proposal(
        &self,
        proposal: &ProposalRecord,
        audit: &AuditRecord,
    ) -> Result<(), StoreError> {
        // Text columns cannot hold NUL in PostgreSQL; clean both backends alike.
        let details = without_nul(proposal.details.clone());
        let audit_details = without_nul(audit.details.clone());
        let opened = [crate::notify_out::event::proposal_opened(proposal)];
        match &self.inner {
            Inner::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query(
                    r#"INSERT INTO proposals (id, tool, client, branch, "commit", pr_url, status,
                                              created_at, details)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
                )
                .bind(proposal.id.to_string())
                .bind(&proposal.tool)
                .bind(&proposal.client)
                .bind(&proposal.branch)
                .bind(&proposal.commit)
                .bind(&proposal.pr_url)
                .bind(&proposal.status)
                .bind(codec::to_text(codec::micros(proposal.created_at)))
                .bind(details.to_string())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, subject, details)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(codec::to_text(codec::micros(audit.at)))
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.subject)
                .bind(audit_details.to_string())
                .execute(&mut *tx)
                .await?;
                super::outbox::insert_sqlite(&mut tx, &opened).await?;
                tx.commit().await?;
            }
            Inner::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    r#"INSERT INTO proposals (id, tool, client, branch, "commit", pr_url, status,
                                              created_at, details)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
                )
                .bind(proposal.id)
                .bind(&proposal.tool)
                .bind(&proposal.client)
                .bind(&proposal.branch)
                .bind(&proposal.commit)
                .bind(&proposal.pr_url)
                .bind(&proposal.status)
                .bind(codec::micros(proposal.created_at))
                .bind(&details)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, subject, details)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(codec::micros(audit.at))
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.subject)
                .bind(&audit_details)
                .execute(&mut *tx)
                .await?;
                super::outbox::insert_postgres(&mut tx, &opened).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// At most `limit` proposals, newest first.
    pub async fn proposals(&self, limit: i64) -> Result<Vec<ProposalRecord>, StoreError> {
        const SQL: &str = r#"SELECT id, tool, client, branch, "commit", pr_url, status,
                                    created_at, details
                             FROM proposals ORDER BY created_at DESC, id DESC LIMIT $1"#;
        let limit = limit.max(0);
        match &self.inner {
            Inner::Sqlite(pool) => sqlx::query(SQL)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let id: String = row.try_get("id")?;
                    Ok(ProposalRecord {
                        id: uuid::Uuid::parse_str(&id).map_err(|e| {
                            StoreError::Corrupt(format!("proposals.id: {id:?}: {e}"))
                        })?,
                        tool: row.try_get("tool")?,
                        client: row.try_get("client")?,
                        branch: row.try_get("branch")?,
                        commit: row.try_get("commit")?,
                        pr_url: row.try_get("pr_url")?,
                        status: row.try_get("status")?,
                        created_at: codec::from_text("created_at", row.try_get("created_at")?)?,
                        details: codec::json_from_text("details", row.try_get("details")?)?,
                    })
                })
                .collect(),
            Inner::Postgres(pool) => sqlx::query(SQL)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    Ok(ProposalRecord {
                        id: row.try_get("id")?,
                        tool: row.try_get("tool")?,
                        client: row.try_get("client")?,
                        branch: row.try_get("branch")?,
                        commit: row.try_get("commit")?,
                        pr_url: row.try_get("pr_url")?,
                        status: row.try_get("status")?,
                        created_at: row.try_get("created_at")?,
                        details: row.try_get("details")?,
                    })
                })
                .collect(),
        }
    }
}

/// `value` with every NUL in its strings (and keys) replaced by U+FFFD.
fn without_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as V;
    let clean = |s: String| {
        if s.contains('\0') {
            s.replace('\0', "\u{fffd}")
        } else {
            s
        }
    };
    match value {
        V::String(s) => V::String(clean(s)),
        V::Array(items) => V::Array(items.into_iter().map(without_nul).collect()),
        V::Object(map) => V::Object(
            map.into_iter()
                .map(|(k, v)| (clean(k), without_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_everywhere() {
        let v = serde_json::json!({"a\u{0}": ["x\u{0}y", 1, {"k": "\u{0}"}]});
        assert_eq!(
            without_nul(v),
            serde_json::json!({"a\u{fffd}": ["x\u{fffd}y", 1, {"k": "\u{fffd}"}]})
        );
    }
}
