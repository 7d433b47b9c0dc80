//! The SQLite backend: the embedded default, one file next to the daemon's state.
//!
//! Timestamps are RFC 3339 text in UTC with six fractional digits (see [`codec::to_text`]),
//! JSON is text checked by `json_valid`, booleans are 0 / 1. Writes begin with
//! `BEGIN IMMEDIATE`, so a writer waits for the file lock (busy timeout) up front instead
//! of failing when it upgrades a read transaction.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row, Sqlite, Transaction};

use super::codec::{self, PoolColumns};
use super::{
    ALL_RESOURCES, AuditRecord, CatalogRecord, Kind, PassRecord, ReconcileRequest, RenderRecord,
    ResourceRecord, RevisionRecord, StoreError, migrations,
};

type Tx = Transaction<'static, Sqlite>;

/// Opens (creating if missing) the database file named by `url`.
pub(super) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let name = rest.split('?').next().unwrap_or_default();
    if name.is_empty() {
        return Err(StoreError::BadUrl(url.to_owned()));
    }
    let in_memory = name == ":memory:" || rest.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    let pool = if in_memory {
        // One connection that never closes: the database lives only as long as it does.
        SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(4)
    };
    Ok(pool.connect_with(options).await?)
}

pub(super) async fn migrate(pool: &SqlitePool) -> Result<Vec<i64>, StoreError> {
    let mut conn = pool.acquire().await?;
    migrations::apply(&migrations::sqlite(), &mut *conn).await
}

pub(super) async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

async fn begin(pool: &SqlitePool) -> Result<Tx, StoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

pub(super) async fn record_pass(pool: &SqlitePool, pass: &PassRecord) -> Result<(), StoreError> {
    let mut tx = begin(pool).await?;
    if let Some(revision) = &pass.revision {
        upsert_revision(&mut tx, revision).await?;
    }
    for resource in &pass.resources {
        upsert_resource(&mut tx, resource).await?;
    }
    for render in &pass.renders {
        insert_render(&mut tx, render).await?;
    }
    if let Some(pools) = &pass.pools {
        replace_pools(&mut tx, pools).await?;
    }
    if let Some(templates) = &pass.templates {
        replace_templates(&mut tx, templates).await?;
    }
    for audit in &pass.audit {
        insert_audit(&mut tx, audit).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn upsert_revision(tx: &mut Tx, r: &RevisionRecord) -> Result<(), StoreError> {
    sqlx::query(
        r#"INSERT INTO revisions ("commit", seen_at, valid, resources_valid, resources_invalid,
                                  errors, warnings, diagnostics)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT ("commit") DO UPDATE SET
               seen_at = excluded.seen_at, valid = excluded.valid,
               resources_valid = excluded.resources_valid,
               resources_invalid = excluded.resources_invalid,
               errors = excluded.errors, warnings = excluded.warnings,
               diagnostics = excluded.diagnostics"#,
    )
    .bind(&r.commit)
    .bind(codec::to_text(codec::micros(r.seen_at)))
    .bind(r.valid)
    .bind(r.resources_valid)
    .bind(r.resources_invalid)
    .bind(r.errors)
    .bind(r.warnings)
    .bind(r.diagnostics.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn upsert_resource(tx: &mut Tx, r: &ResourceRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deployment_instances (name, state, reason, provider, pool, chart,
             resource_type, placement, dimensions, desired_revision, input_hash, output_hash,
             source, last_error, last_error_at, updated_at, applied_hash, applied_revision,
             policy)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19)
         ON CONFLICT (name) DO UPDATE SET
             state = excluded.state, reason = excluded.reason, provider = excluded.provider,
             pool = excluded.pool, chart = excluded.chart,
             resource_type = excluded.resource_type,
             placement = COALESCE(excluded.placement, deployment_instances.placement),
             dimensions = COALESCE(excluded.dimensions, deployment_instances.dimensions),
             desired_revision = excluded.desired_revision,
             input_hash = excluded.input_hash, output_hash = excluded.output_hash,
             source = excluded.source, last_error = excluded.last_error,
             last_error_at = excluded.last_error_at, updated_at = excluded.updated_at,
             applied_hash = excluded.applied_hash,
             applied_revision = excluded.applied_revision,
             policy = COALESCE(excluded.policy, deployment_instances.policy)",
    )
    .bind(&r.name)
    .bind(&r.state)
    .bind(&r.reason)
    .bind(&r.provider)
    .bind(&r.pool)
    .bind(&r.chart)
    .bind(&r.resource_type)
    .bind(r.placement.as_ref().map(ToString::to_string))
    .bind(r.dimensions.as_ref().map(ToString::to_string))
    .bind(&r.desired_revision)
    .bind(&r.input_hash)
    .bind(&r.output_hash)
    .bind(&r.source)
    .bind(&r.last_error)
    .bind(r.last_error_at.map(|t| codec::to_text(codec::micros(t))))
    .bind(codec::to_text(codec::micros(r.updated_at)))
    .bind(&r.applied_hash)
    .bind(&r.applied_revision)
    .bind(r.policy.as_ref().map(ToString::to_string))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_render(tx: &mut Tx, r: &RenderRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO render_results (resource, revision, input_hash, output_hash, outcome,
                                     rendered_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&r.resource)
    .bind(&r.revision)
    .bind(&r.input_hash)
    .bind(&r.output_hash)
    .bind(&r.outcome)
    .bind(codec::to_text(codec::micros(r.rendered_at)))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_audit(tx: &mut Tx, a: &AuditRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, subject, details)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(codec::to_text(codec::micros(a.at)))
    .bind(&a.actor)
    .bind(&a.action)
    .bind(&a.subject)
    .bind(a.details.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn replace_pools(tx: &mut Tx, pools: &[CatalogRecord]) -> Result<(), StoreError> {
    let listed: Vec<PoolColumns> = pools.iter().map(PoolColumns::of).collect();
    let existing: Vec<(String, String)> = sqlx::query("SELECT name, path FROM resource_pools")
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("path")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    for name in codec::pools_to_delete(&existing, &listed) {
        sqlx::query("DELETE FROM resource_pools WHERE name = $1")
            .bind(name)
            .execute(&mut **tx)
            .await?;
    }
    let now = codec::to_text(codec::now());
    for p in &listed {
        sqlx::query(
            "INSERT INTO resource_pools (name, path, parent_path, pool_type, provider,
                                         properties, spec, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (name) DO UPDATE SET
                 path = excluded.path, parent_path = excluded.parent_path,
                 pool_type = excluded.pool_type, provider = excluded.provider,
                 properties = excluded.properties, spec = excluded.spec,
                 updated_at = excluded.updated_at",
        )
        .bind(p.name)
        .bind(p.path)
        .bind(p.parent_path)
        .bind(p.pool_type)
        .bind(p.provider)
        .bind(p.properties.to_string())
        .bind(p.spec.to_string())
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    replace_dimensions(tx, Kind::Pool, pools).await
}

async fn replace_templates(tx: &mut Tx, templates: &[CatalogRecord]) -> Result<(), StoreError> {
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    let existing: Vec<String> = sqlx::query("SELECT name FROM deployment_templates")
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| row.try_get("name"))
        .collect::<Result<_, _>>()?;
    for name in existing.iter().filter(|n| !names.contains(&n.as_str())) {
        sqlx::query("DELETE FROM deployment_templates WHERE name = $1")
            .bind(name)
            .execute(&mut **tx)
            .await?;
    }
    let now = codec::to_text(codec::now());
    for t in templates {
        sqlx::query(
            "INSERT INTO deployment_templates (name, spec, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET
                 spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(&t.name)
        .bind(t.spec.to_string())
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    replace_dimensions(tx, Kind::Template, templates).await
}

async fn replace_dimensions(
    tx: &mut Tx,
    kind: Kind,
    records: &[CatalogRecord],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM resource_dimensions WHERE entity_kind = $1")
        .bind(kind.entity_kind())
        .execute(&mut **tx)
        .await?;
    for record in records {
        for (key, value) in &record.dimensions {
            sqlx::query(
                "INSERT INTO resource_dimensions (entity_kind, entity_name, key, value)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(kind.entity_kind())
            .bind(&record.name)
            .bind(key)
            .bind(value)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

const REVISION_COLUMNS: &str = r#"SELECT "commit", seen_at, valid, resources_valid,
    resources_invalid, errors, warnings, diagnostics FROM revisions"#;

fn revision_from(row: &SqliteRow) -> Result<RevisionRecord, StoreError> {
    Ok(RevisionRecord {
        commit: row.try_get("commit")?,
        seen_at: codec::from_text("seen_at", row.try_get("seen_at")?)?,
        valid: row.try_get("valid")?,
        resources_valid: row.try_get("resources_valid")?,
        resources_invalid: row.try_get("resources_invalid")?,
        errors: row.try_get("errors")?,
        warnings: row.try_get("warnings")?,
        diagnostics: codec::json_from_text("diagnostics", row.try_get("diagnostics")?)?,
    })
}

pub(super) async fn revision(
    pool: &SqlitePool,
    commit: &str,
) -> Result<Option<RevisionRecord>, StoreError> {
    let sql = format!(r#"{REVISION_COLUMNS} WHERE "commit" = $1"#);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(commit)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(revision_from)
        .transpose()
}

pub(super) async fn revisions(
    pool: &SqlitePool,
    limit: i64,
) -> Result<Vec<RevisionRecord>, StoreError> {
    let sql = format!(r#"{REVISION_COLUMNS} ORDER BY seen_at DESC, "commit" DESC LIMIT $1"#);
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(revision_from)
        .collect()
}

fn optional_json(row: &SqliteRow, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| codec::json_from_text(column, &t)).transpose()
}

fn resource_from(row: &SqliteRow) -> Result<ResourceRecord, StoreError> {
    let last_error_at: Option<String> = row.try_get("last_error_at")?;
    Ok(ResourceRecord {
        name: row.try_get("name")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        provider: row.try_get("provider")?,
        pool: row.try_get("pool")?,
        chart: row.try_get("chart")?,
        resource_type: row.try_get("resource_type")?,
        placement: optional_json(row, "placement")?,
        dimensions: optional_json(row, "dimensions")?,
        desired_revision: row.try_get("desired_revision")?,
        input_hash: row.try_get("input_hash")?,
        output_hash: row.try_get("output_hash")?,
        source: row.try_get("source")?,
        last_error: row.try_get("last_error")?,
        last_error_at: last_error_at
            .map(|t| codec::from_text("last_error_at", &t))
            .transpose()?,
        updated_at: codec::from_text("updated_at", row.try_get("updated_at")?)?,
        applied_hash: row.try_get("applied_hash")?,
        applied_revision: row.try_get("applied_revision")?,
        policy: optional_json(row, "policy")?,
    })
}

/// Every resource ordered by name, or just the one called `name`.
pub(super) async fn resources(
    pool: &SqlitePool,
    name: Option<&str>,
    with_documents: bool,
) -> Result<Vec<ResourceRecord>, StoreError> {
    sqlx::query(
        "SELECT name, state, reason, provider, pool, chart, resource_type,
                CASE WHEN $2 THEN placement END AS placement,
                CASE WHEN $2 THEN dimensions END AS dimensions,
                desired_revision, input_hash, output_hash, source, last_error,
                last_error_at, updated_at, applied_hash, applied_revision, policy
         FROM deployment_instances
         WHERE $1 IS NULL OR name = $1
         ORDER BY name",
    )
    .bind(name)
    .bind(with_documents)
    .fetch_all(pool)
    .await?
    .iter()
    .map(resource_from)
    .collect()
}

pub(super) async fn render_results(
    pool: &SqlitePool,
    resource: &str,
    limit: i64,
) -> Result<Vec<RenderRecord>, StoreError> {
    sqlx::query(
        "SELECT resource, revision, input_hash, output_hash, outcome, rendered_at
         FROM render_results WHERE resource = $1
         ORDER BY rendered_at DESC, seq DESC LIMIT $2",
    )
    .bind(resource)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(RenderRecord {
            resource: row.try_get("resource")?,
            revision: row.try_get("revision")?,
            input_hash: row.try_get("input_hash")?,
            output_hash: row.try_get("output_hash")?,
            outcome: row.try_get("outcome")?,
            rendered_at: codec::from_text("rendered_at", row.try_get("rendered_at")?)?,
        })
    })
    .collect()
}

pub(super) async fn audit_log(
    pool: &SqlitePool,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    sqlx::query(
        "SELECT at, actor, action, subject, details FROM audit_log
         ORDER BY at DESC, seq DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(AuditRecord {
            at: codec::from_text("at", row.try_get("at")?)?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            subject: row.try_get("subject")?,
            details: codec::json_from_text("details", row.try_get("details")?)?,
        })
    })
    .collect()
}

/// The stored pools or templates, ordered by name, with their dimensions.
pub(super) async fn catalog(
    pool: &SqlitePool,
    kind: Kind,
) -> Result<Vec<CatalogRecord>, StoreError> {
    let sql = match kind {
        Kind::Pool => "SELECT name, path, spec FROM resource_pools ORDER BY name",
        Kind::Template => "SELECT name, NULL AS path, spec FROM deployment_templates ORDER BY name",
    };
    let mut dimensions = dimensions(pool, kind).await?;
    sqlx::query(sql)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let name: String = row.try_get("name")?;
            Ok(CatalogRecord {
                path: row.try_get("path")?,
                spec: codec::json_from_text("spec", row.try_get("spec")?)?,
                dimensions: dimensions.remove(&name).unwrap_or_default(),
                name,
            })
        })
        .collect()
}

async fn dimensions(
    pool: &SqlitePool,
    kind: Kind,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, StoreError> {
    let mut by_entity: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let rows = sqlx::query(
        "SELECT entity_name, key, value FROM resource_dimensions WHERE entity_kind = $1",
    )
    .bind(kind.entity_kind())
    .fetch_all(pool)
    .await?;
    for row in &rows {
        by_entity
            .entry(row.try_get("entity_name")?)
            .or_default()
            .insert(row.try_get("key")?, row.try_get("value")?);
    }
    Ok(by_entity)
}

pub(super) async fn request_reconcile(
    pool: &SqlitePool,
    resource: Option<&str>,
    by: &str,
    action: &str,
) -> Result<i64, StoreError> {
    let now = codec::now();
    let mut tx = begin(pool).await?;
    let id: i64 = sqlx::query(
        "INSERT INTO reconcile_requests (resource, requested_by, requested_at, action)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(resource)
    .bind(by)
    .bind(codec::to_text(now))
    .bind(action)
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    let audit = AuditRecord {
        at: now,
        actor: by.to_owned(),
        action: format!("{action}.requested"),
        subject: resource.unwrap_or(ALL_RESOURCES).to_owned(),
        details: serde_json::json!({ "request": id, "resource": resource }),
    };
    insert_audit(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok(id)
}

pub(super) async fn take_reconcile_requests(
    pool: &SqlitePool,
) -> Result<Vec<ReconcileRequest>, StoreError> {
    // One statement: SQLite takes the write lock before reading, so concurrent takers
    // are serialised and each row is returned by exactly one of them.
    let mut taken = sqlx::query(
        "DELETE FROM reconcile_requests
         RETURNING id, resource, requested_by, requested_at, action",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(ReconcileRequest {
            id: row.try_get("id")?,
            resource: row.try_get("resource")?,
            requested_by: row.try_get("requested_by")?,
            action: row.try_get("action")?,
            requested_at: codec::from_text("requested_at", row.try_get("requested_at")?)?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    taken.sort_by_key(|r| r.id);
    Ok(taken)
}
