//! Proposals (the `proposals` table): a branch, a commit and maybe a pull request made
//! for an AI agent or a person, written together with its audit row in one transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dialect::{Arg, json, text, time};
use super::records::insert_audit;
use super::{AuditRecord, NotificationRecord, Store, StoreError};

/// How far a proposal got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalStatus {
    /// Nothing was written: what the proposal would do (never recorded).
    DryRun,
    /// A branch in the local repository only.
    Local,
    /// The branch was pushed to the remote.
    Pushed,
    /// A pull request was opened for the pushed branch.
    PullRequest,
}

impl ProposalStatus {
    /// Every status.
    pub const ALL: [ProposalStatus; 4] = [
        ProposalStatus::DryRun,
        ProposalStatus::Local,
        ProposalStatus::Pushed,
        ProposalStatus::PullRequest,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::DryRun => "dry-run",
            ProposalStatus::Local => "local",
            ProposalStatus::Pushed => "pushed",
            ProposalStatus::PullRequest => "pull-request",
        }
    }

    /// The status stored as `name`, if homelabd writes it.
    pub fn parse(name: &str) -> Option<ProposalStatus> {
        ProposalStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for ProposalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

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
    /// Local, pushed or pull request.
    pub status: ProposalStatus,
    pub created_at: DateTime<Utc>,
    /// Files, resources, validation result, compare link, any error.
    pub details: serde_json::Value,
}

impl Store {
    /// Writes `proposal`, `audit` and the notifications it causes (`notify_out` builds
    /// them: "proposal opened") in one transaction: all or nothing.
    pub async fn record_proposal(
        &self,
        proposal: &ProposalRecord,
        audit: &AuditRecord,
        notifications: &[NotificationRecord],
    ) -> Result<(), StoreError> {
        // Text columns cannot hold NUL in PostgreSQL; clean both backends alike.
        let details = without_nul(proposal.details.clone());
        let audit_details = without_nul(audit.details.clone());
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
                text(proposal.status.as_str()),
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
        super::outbox::insert(&mut tx, notifications).await?;
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
            .map(proposal_from)
            .collect()
    }

    /// The newest proposal made on `branch`, if any (a revert is proposed once per
    /// branch).
    pub async fn proposal_on_branch(
        &self,
        branch: &str,
    ) -> Result<Option<ProposalRecord>, StoreError> {
        const SQL: &str = r#"SELECT id, tool, client, branch, "commit", pr_url, status,
                                    created_at, details
                             FROM proposals WHERE branch = $1
                             ORDER BY created_at DESC, id DESC LIMIT 1"#;
        self.fetch_all(SQL, &[text(branch)])
            .await?
            .first()
            .map(proposal_from)
            .transpose()
    }
}

/// One `proposals` row.
fn proposal_from(row: &super::dialect::Row) -> Result<ProposalRecord, StoreError> {
    Ok(ProposalRecord {
        id: row.id("id")?,
        tool: row.get("tool")?,
        client: row.get("client")?,
        branch: row.get("branch")?,
        commit: row.get("commit")?,
        pr_url: row.get("pr_url")?,
        status: {
            let status: String = row.get("status")?;
            ProposalStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("proposal status {status:?}")))?
        },
        created_at: row.time("created_at")?,
        details: row.json("details")?,
    })
}

pub(super) fn without_nul(value: serde_json::Value) -> serde_json::Value {
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
