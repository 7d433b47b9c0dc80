//! Store: everything homelabd remembers, in SQLite (the embedded default) or PostgreSQL.
//!
//! Only this module touches sqlx. Both backends run the same operations with the same
//! meaning; `tests/store_contract.rs` runs one suite against both. Every write that
//! changes state happens in one transaction together with its audit-log rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which database is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite, the embedded default (`sqlite:<path>`).
    Sqlite,
    /// PostgreSQL, the production store (`postgres://…`).
    Postgres,
}

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database (any password in it is redacted).
    #[error("database URL {0:?} is neither sqlite:… nor postgres://…")]
    BadUrl(String),
    /// The database refused or failed (connection, constraint violation, …).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration could not be applied, or an applied one was edited afterwards.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored timestamp or JSON document does not parse (SQLite text columns).
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// The lock file that lets one migrator at a time at a SQLite database could not be
    /// opened or locked.
    #[error("migration lock {}: {source}", path.display())]
    MigrationLock {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process held the migration lock of a SQLite database for too long.
    #[error(
        "migration lock {}: another process has been migrating the database for {} s; \
         try again once it is done",
        path.display(),
        waited.as_secs()
    )]
    MigrationBusy {
        path: std::path::PathBuf,
        waited: std::time::Duration,
    },
}

impl StoreError {
    /// Might the same operation succeed later (the database is down, restarting, busy),
    /// as opposed to being refused for what it contains?
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // PostgreSQL SQLSTATE classes: 08 connection, 53 resources,
                    // 57 operator intervention (shutdown), 40 rollback (serialisation,
                    // deadlock). SQLite: 5 busy, 6 locked.
                    ["08", "53", "57", "40"].iter().any(|c| code.starts_with(c))
                        || code == "5"
                        || code == "6"
                }
                _ => true, // io, pool timeouts, protocol, TLS: the connection, not the data
            },
            // Another migrator may be done by the next attempt.
            StoreError::MigrationBusy { .. } => true,
            StoreError::Migrate(_)
            | StoreError::BadUrl(_)
            | StoreError::Corrupt(_)
            | StoreError::MigrationLock { .. } => false,
        }
    }
}

/// One commit the daemon looked at, and what validation said about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionRecord {
    /// Commit id (40 hex characters).
    pub commit: String,
    pub seen_at: DateTime<Utc>,
    /// No errors at all.
    pub valid: bool,
    pub resources_valid: i64,
    pub resources_invalid: i64,
    pub errors: i64,
    pub warnings: i64,
    /// The diagnostics as JSON (an array of `diag::Diagnostic`).
    pub diagnostics: serde_json::Value,
}

// The loop's record of a resource is the reconcile core's type; the store keeps it as a
// row of `deployment_instances`.
pub use crate::reconcile::record::ResourceRecord;

/// One render of one resource (a row of `render_results`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderRecord {
    pub resource: String,
    pub revision: String,
    pub input_hash: String,
    pub output_hash: String,
    /// `written` or `unchanged`.
    pub outcome: String,
    pub rendered_at: DateTime<Utc>,
}

/// Who did something (the `actor` of an audit row): `daemon`, `cli:<user>`, `mcp:<client>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// e.g. `revision.recorded`, `resource.rendered`, `resource.invalid`, `reconcile.requested`.
    pub action: String,
    /// e.g. the resource name or commit.
    pub subject: String,
    pub details: serde_json::Value,
}

/// A ResourcePool or DeploymentTemplate as of a revision (synced to `resource_pools` /
/// `deployment_templates` and their dimensions to `resource_dimensions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogRecord {
    pub name: String,
    /// Pool path, or None for templates.
    pub path: Option<String>,
    pub spec: serde_json::Value,
    pub dimensions: std::collections::BTreeMap<String, String>,
}

/// Everything one reconcile pass learned, written in ONE transaction: a crash leaves
/// either all of it or none of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PassRecord {
    pub revision: Option<RevisionRecord>,
    /// Upserted by name.
    pub resources: Vec<ResourceRecord>,
    pub renders: Vec<RenderRecord>,
    /// When `Some`, replaces the stored pools (by name).
    pub pools: Option<Vec<CatalogRecord>>,
    /// When `Some`, replaces the stored templates (by name).
    pub templates: Option<Vec<CatalogRecord>>,
    pub audit: Vec<AuditRecord>,
}

/// A request for an immediate reconcile left by `homelabd reconcile` for a running daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileRequest {
    pub id: i64,
    /// A resource name, or None for everything.
    pub resource: Option<String>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub action: RequestAction,
    /// Apply outside the sync windows (`homelabd apply --ignore-windows`).
    #[serde(default)]
    pub ignore_windows: bool,
    /// The revision a rollback asks for (`homelabd rollback NAME --to REVISION`: a
    /// commit id or a prefix of one); `None`: the newest kept.
    #[serde(default)]
    pub revision: Option<String>,
}

/// What a queued request asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestAction {
    /// A reconcile pass (`homelabd reconcile`).
    Reconcile,
    /// Apply now, whatever the apply policy (`homelabd apply`).
    Apply,
    /// Apply, and prune orphans past the mass-deletion guard (`homelabd apply --prune --force`).
    Prune,
    /// An observation (drift) pass now.
    Observe,
    /// Put a kept healthy output in place again (`homelabd rollback`).
    Rollback,
}

impl RequestAction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestAction::Reconcile => "reconcile",
            RequestAction::Apply => "apply",
            RequestAction::Prune => "prune",
            RequestAction::Observe => "observe",
            RequestAction::Rollback => "rollback",
        }
    }

    /// The action stored as `name`, if homelabd writes it.
    pub fn parse(name: &str) -> Option<RequestAction> {
        [
            RequestAction::Reconcile,
            RequestAction::Apply,
            RequestAction::Prune,
            RequestAction::Observe,
            RequestAction::Rollback,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
    }
}

mod applies;
mod audit;
pub use audit::{AuditEntry, AuditPage, AuditQuery, InvalidSince, parse_since};
mod browse;
pub use browse::{AuditFilter, Changes, Facets, Page, ResourceFilter};
mod cluster;
pub use cluster::{LeaseView, MemberIdentity, MemberRecord, ResourceLock};
mod codec;
mod dialect;
mod drift;
mod health;
pub use health::{HealthRecord, HealthStatus};
mod inventory;
pub use inventory::{
    InventoryCounts, InventoryItem, InventoryRecord, SCAN_FAILED, ScanStatus, scan_statuses,
};

pub use applies::{
    ApplyRunEffects, ApplyRunEnd, ApplyRunRecord, Destroyed, RunOperation, RunState,
};
pub use drift::{DeviationRecord, ObservationWrite};
mod migrations;
mod outbox;
pub use outbox::{DeliveryRecord, DueDelivery, NotificationRecord};
mod postgres;
mod previews;
pub use previews::{PreviewRecord, PreviewStatus};
mod proposals;
pub use proposals::{ProposalRecord, ProposalStatus};
mod records;
mod search;
pub use search::SearchRow;
mod sessions;
pub use sessions::UiSessionRecord;
mod snapshots;
pub use snapshots::{GeneratedTemplateRecord, RunTally, SnapshotRecord};
mod sqlite;

/// A pool of connections to the store's database, SQLite or PostgreSQL. Cheap to clone.
///
/// Timestamps are kept at microsecond precision (finer parts are truncated on write):
/// PostgreSQL stores them as `TIMESTAMPTZ`, SQLite as RFC 3339 text in UTC with exactly
/// six fractional digits (`2024-05-01T12:34:56.123456Z`), which sorts as time does. JSON
/// is `JSONB` in PostgreSQL and validated text in SQLite.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Inner,
    /// A SQLite file database's migration lock file (`None`: PostgreSQL, which has an
    /// advisory lock, or an in-memory database, which no other process can open).
    migration_lock: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
enum Inner {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Store {
    /// Connects to `sqlite:<path>` / `sqlite://<path>` (the file is created if missing;
    /// WAL journal, 5 s busy timeout, foreign keys on) or `postgres://…` /
    /// `postgresql://…`. Anything else is [`StoreError::BadUrl`]. Does not migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let (inner, migration_lock) = if url.starts_with("sqlite:") {
            let (pool, lock) = sqlite::connect(url).await?;
            (Inner::Sqlite(pool), lock)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Inner::Postgres(postgres::connect(url).await?), None)
        } else {
            return Err(StoreError::BadUrl(crate::setting::redact_url(url)));
        };
        Ok(Store {
            inner,
            migration_lock,
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations; returns the versions applied now (empty if the schema
    /// was up to date). Safe against other processes migrating the same database at the
    /// same time: one migrates, the others wait and then apply what is left (nothing).
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        match &self.inner {
            Inner::Sqlite(pool) => sqlite::migrate(pool, self.migration_lock.as_deref()).await,
            Inner::Postgres(pool) => postgres::migrate(pool).await,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Writes everything in `pass` in one transaction: the revision (upserted by commit),
    /// resources (upserted by name; a `None` placement or dimensions keeps the stored one,
    /// so an invalid or orphaned update never erases the last good placement), render rows, pools and templates when `Some` (those
    /// not listed are deleted; their dimensions are replaced in `resource_dimensions`),
    /// and the audit rows. On any error nothing is written.
    ///
    /// Renders must name a resource that exists (in this pass or before) and a revision
    /// that has been recorded (foreign keys).
    pub async fn record_pass(&self, pass: &PassRecord) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(_) => records::record_pass(self, pass).await,
            Inner::Postgres(_) => {
                // PostgreSQL text and JSONB cannot hold NUL; hostile YAML can put one in a
                // diagnostic. Replace it rather than fail the whole pass forever.
                let cleaned = codec::without_nul(pass)?;
                records::record_pass(self, cleaned.as_ref().unwrap_or(pass)).await
            }
        }
    }

    /// The revision with the newest `seen_at`.
    pub async fn latest_revision(&self) -> Result<Option<RevisionRecord>, StoreError> {
        Ok(self.revisions(1).await?.into_iter().next())
    }

    /// One revision by commit id.
    pub async fn revision(&self, commit: &str) -> Result<Option<RevisionRecord>, StoreError> {
        records::revision(self, commit).await
    }

    /// At most `limit` revisions, newest `seen_at` first.
    pub async fn revisions(&self, limit: i64) -> Result<Vec<RevisionRecord>, StoreError> {
        records::revisions(self, limit.max(0)).await
    }

    /// Every resource that exists (not destroyed), ordered by name.
    pub async fn resources(&self) -> Result<Vec<ResourceRecord>, StoreError> {
        records::resources(self, None, true, false).await
    }

    /// Every resource ever recorded, destroyed ones included, ordered by name.
    pub async fn resources_with_destroyed(&self) -> Result<Vec<ResourceRecord>, StoreError> {
        records::resources(self, None, true, true).await
    }

    /// Every resource that exists by name, without the placement and dimensions documents
    /// (they come back `None`): what the daemon's loop keeps in memory.
    pub async fn resource_states(&self) -> Result<Vec<ResourceRecord>, StoreError> {
        records::resources(self, None, false, false).await
    }

    /// Like [`Store::resource_states`], destroyed resources included.
    pub async fn resource_states_with_destroyed(&self) -> Result<Vec<ResourceRecord>, StoreError> {
        records::resources(self, None, false, true).await
    }

    /// One resource by name, destroyed or not (see [`ResourceRecord::destroyed_at`]).
    pub async fn resource(&self, name: &str) -> Result<Option<ResourceRecord>, StoreError> {
        let found = records::resources(self, Some(name), true, true).await?;
        Ok(found.into_iter().next())
    }

    /// At most `limit` renders of `resource`, newest first.
    pub async fn render_results(
        &self,
        resource: &str,
        limit: i64,
    ) -> Result<Vec<RenderRecord>, StoreError> {
        records::render_results(self, resource, limit.max(0)).await
    }

    /// At most `limit` audit rows, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        records::audit_log(self, limit.max(0)).await
    }

    /// The stored pools, ordered by name, with their dimensions.
    pub async fn pools(&self) -> Result<Vec<CatalogRecord>, StoreError> {
        records::catalog(self, Kind::Pool).await
    }

    /// The stored templates, ordered by name, with their dimensions.
    pub async fn templates(&self) -> Result<Vec<CatalogRecord>, StoreError> {
        records::catalog(self, Kind::Template).await
    }

    /// Queues a reconcile request for `resource` (None: everything) together with an
    /// audit row `reconcile.requested` by `by`, in one transaction. Returns the request id.
    pub async fn request_reconcile(
        &self,
        resource: Option<&str>,
        by: &str,
    ) -> Result<i64, StoreError> {
        self.request(resource, by, RequestAction::Reconcile).await
    }

    /// Queues a request of any kind (see [`RequestAction`]) with its audit row
    /// `<action>.requested`, in one transaction. Returns the request id.
    pub async fn request(
        &self,
        resource: Option<&str>,
        by: &str,
        action: RequestAction,
    ) -> Result<i64, StoreError> {
        records::request(self, resource, by, action, false, None).await
    }

    /// Queues an apply (or prune) that ignores the sync windows
    /// (`homelabd apply --ignore-windows`), with its audit row.
    pub async fn request_ignoring_windows(
        &self,
        resource: Option<&str>,
        by: &str,
        action: RequestAction,
    ) -> Result<i64, StoreError> {
        records::request(self, resource, by, action, true, None).await
    }

    /// Queues a rollback of `resource` to the kept healthy output of `revision` (a
    /// commit id or a prefix; `None`: the newest kept), with its audit row
    /// `rollback.requested`; returns the request id.
    pub async fn request_rollback(
        &self,
        resource: &str,
        by: &str,
        revision: Option<&str>,
    ) -> Result<i64, StoreError> {
        records::request(
            self,
            Some(resource),
            by,
            RequestAction::Rollback,
            false,
            revision,
        )
        .await
    }

    /// Atomically takes (deletes and returns, oldest first) every queued request: two
    /// concurrent callers never both get the same request.
    pub async fn take_reconcile_requests(&self) -> Result<Vec<ReconcileRequest>, StoreError> {
        records::take_requests(self).await
    }
}

/// Pools or templates: which catalog table, and their `entity_kind` in
/// `resource_dimensions`.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Pool,
    Template,
}

impl Kind {
    fn entity_kind(self) -> &'static str {
        match self {
            Kind::Pool => "pool",
            Kind::Template => "template",
        }
    }
}

/// The audit subject of a reconcile request for everything.
const ALL_RESOURCES: &str = "*";
