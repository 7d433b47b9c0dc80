//! Dashboard logins (the `ui_sessions` table), so they outlive a restart of the daemon
//! and are shared by the members of a cluster. The store holds no secret: a session is
//! found by the SHA-256 of its cookie value, and its `binding` (computed by the
//! dashboard from the token) only says whether the token it was made with still exists.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audit::insert_audit_from;
use super::dialect::{Arg, text, time};
use super::{AuditRecord, Store, StoreError};
use std::net::IpAddr;

/// One login as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiSessionRecord {
    /// SHA-256 of the cookie value, hex.
    pub id_digest: String,
    /// The token's name and scope (`read`, `propose`) at login.
    pub token_name: String,
    pub scope: String,
    /// Proof of the token the session was made with (hex).
    pub binding: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute expiry.
    pub expires_at: DateTime<Utc>,
}

const COLUMNS: &str = "id_digest, token_name, scope, binding, created_at, last_seen_at, expires_at";

impl Store {
    /// Records a new login with its audit row (and the address the login came from), in
    /// one transaction: sessions past their absolute expiry are deleted first, and beyond
    /// `max` sessions the least recently used ones.
    pub async fn create_ui_session(
        &self,
        session: &UiSessionRecord,
        max: i64,
        audit: &AuditRecord,
        client_addr: Option<IpAddr>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM ui_sessions WHERE expires_at <= $1",
            &[time(session.created_at)],
        )
        .await?;
        tx.execute(
            "DELETE FROM ui_sessions WHERE last_seen_at <
                 (SELECT last_seen_at FROM ui_sessions ORDER BY last_seen_at DESC
                  LIMIT 1 OFFSET $1)",
            &[Arg::Int(Some((max - 2).max(0)))],
        )
        .await?;
        let sql =
            format!("INSERT INTO ui_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        tx.execute(
            sqlx::AssertSqlSafe(sql),
            &[
                text(&session.id_digest),
                text(&session.token_name),
                text(&session.scope),
                text(&session.binding),
                time(session.created_at),
                time(session.last_seen_at),
                time(session.expires_at),
            ],
        )
        .await?;
        insert_audit_from(&mut tx, audit, client_addr).await?;
        tx.commit().await
    }

    /// The session whose cookie hashes to `id_digest`, expired or not.
    pub async fn ui_session(&self, id_digest: &str) -> Result<Option<UiSessionRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM ui_sessions WHERE id_digest = $1");
        let rows = self
            .fetch_all(sqlx::AssertSqlSafe(sql), &[text(id_digest)])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(UiSessionRecord {
            id_digest: row.get("id_digest")?,
            token_name: row.get("token_name")?,
            scope: row.get("scope")?,
            binding: row.get("binding")?,
            created_at: row.time("created_at")?,
            last_seen_at: row.time("last_seen_at")?,
            expires_at: row.time("expires_at")?,
        }))
    }

    /// Restarts the session's idle clock at `at`.
    pub async fn touch_ui_session(
        &self,
        id_digest: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE ui_sessions SET last_seen_at = $2 WHERE id_digest = $1",
            &[text(id_digest), time(at)],
        )
        .await?;
        Ok(())
    }

    /// Ends the session (logout, or found expired), with an audit row when given (and the
    /// address the logout came from).
    pub async fn end_ui_session(
        &self,
        id_digest: &str,
        audit: Option<&AuditRecord>,
        client_addr: Option<IpAddr>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        tx.execute(
            "DELETE FROM ui_sessions WHERE id_digest = $1",
            &[text(id_digest)],
        )
        .await?;
        if let Some(audit) = audit {
            insert_audit_from(&mut tx, audit, client_addr).await?;
        }
        tx.commit().await
    }
}
