//! Proposals (the `proposals` table): a branch, a commit and maybe a pull request made
//! for an AI agent or a person, written together with its audit row in one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dialect::{Arg, json, text, time};
use super::records::insert_audit;
use super::{AuditRecord, Store, StoreError};

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
        let mut tx = self.begin_write().await?;
        tx.execute(
            r#"INSERT INTO proposals (id, tool, client, branch, "commit", pr_url, status,
                                      created_at, details)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
            &[
                Arg::Id(proposal.id),
                text(&proposal.tool),
                text(&proposal.client),
                text(&proposal.branch),
                Arg::Text(proposal.commit.as_deref()),
                Arg::Text(proposal.pr_url.as_deref()),
                text(&proposal.status),
                time(proposal.created_at),
                json(&details),
            ],
        )
        .await?;
        insert_audit(
            &mut tx,
            &AuditRecord {
                details: audit_details,
                ..audit.clone()
            },
        )
        .await?;
        super::outbox::insert(&mut tx, &opened).await?;
        tx.commit().await
    }

    /// At most `limit` proposals, newest first.
    pub async fn proposals(&self, limit: i64) -> Result<Vec<ProposalRecord>, StoreError> {
        const SQL: &str = r#"SELECT id, tool, client, branch, "commit", pr_url, status,
                                    created_at, details
                             FROM proposals ORDER BY created_at DESC, id DESC LIMIT $1"#;
        self.fetch_all(SQL, &[Arg::Int(Some(limit.max(0)))])
            .await?
            .iter()
            .map(|row| {
                Ok(ProposalRecord {
                    id: row.id("id")?,
                    tool: row.get("tool")?,
                    client: row.get("client")?,
                    branch: row.get("branch")?,
                    commit: row.get("commit")?,
                    pr_url: row.get("pr_url")?,
                    status: row.get("status")?,
                    created_at: row.time("created_at")?,
                    details: row.json("details")?,
                })
            })
            .collect()
    }
}

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
