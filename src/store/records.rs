//! Passes, revisions, resources, renders, the audit log, the catalog and queued requests:
//! one SQL text per statement for both backends (see [`super::dialect`]).

use std::collections::BTreeMap;

use super::codec::{self, PoolColumns};
use super::dialect::{Arg, Row, Tx, json, text, time};
use super::{
    ALL_RESOURCES, AuditRecord, CatalogRecord, Kind, PassRecord, ReconcileRequest, RenderRecord,
    RequestAction, ResourceRecord, RevisionRecord, Store, StoreError,
};
use crate::model::Provider;
use crate::reconcile::ResourceState;

/// Writes a whole pass in one transaction.
pub(super) async fn record_pass(store: &Store, pass: &PassRecord) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
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
    tx.commit().await
}

async fn upsert_revision(tx: &mut Tx, r: &RevisionRecord) -> Result<(), StoreError> {
    tx.execute(
        r#"INSERT INTO revisions ("commit", seen_at, valid, resources_valid, resources_invalid,
                                  errors, warnings, diagnostics)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT ("commit") DO UPDATE SET
               seen_at = excluded.seen_at, valid = excluded.valid,
               resources_valid = excluded.resources_valid,
               resources_invalid = excluded.resources_invalid,
               errors = excluded.errors, warnings = excluded.warnings,
               diagnostics = excluded.diagnostics"#,
        &[
            text(&r.commit),
            time(r.seen_at),
            Arg::Bool(r.valid),
            Arg::Int(Some(r.resources_valid)),
            Arg::Int(Some(r.resources_invalid)),
            Arg::Int(Some(r.errors)),
            Arg::Int(Some(r.warnings)),
            json(&r.diagnostics),
        ],
    )
    .await?;
    Ok(())
}

/// Upserts one resource by name (`None` placement, dimensions and policy keep the stored
/// ones). A destroyed row that is written again comes back to life with its history.
pub(super) async fn upsert_resource(tx: &mut Tx, r: &ResourceRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO deployment_instances (name, state, reason, provider, pool, chart,
             resource_type, placement, dimensions, desired_revision, input_hash, output_hash,
             source, last_error, last_error_at, updated_at, applied_hash, applied_revision,
             policy, destroyed_at, destroyed_revision, failure)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22)
         ON CONFLICT (name) DO UPDATE SET
             state = excluded.state, failure = excluded.failure,
             reason = excluded.reason, provider = excluded.provider,
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
             policy = COALESCE(excluded.policy, deployment_instances.policy),
             destroyed_at = excluded.destroyed_at,
             destroyed_revision = excluded.destroyed_revision",
        &[
            text(&r.name),
            text(r.state.as_str()),
            Arg::Text(r.reason.as_deref()),
            Arg::Text(r.provider.map(Provider::as_str)),
            Arg::Text(r.pool.as_deref()),
            Arg::Text(r.chart.as_deref()),
            Arg::Text(r.resource_type.as_deref()),
            Arg::Json(r.placement.as_ref()),
            Arg::Json(r.dimensions.as_ref()),
            Arg::Text(r.desired_revision.as_deref()),
            Arg::Text(r.input_hash.as_deref()),
            Arg::Text(r.output_hash.as_deref()),
            Arg::Text(r.source.as_deref()),
            Arg::Text(r.last_error.as_deref()),
            Arg::Time(r.last_error_at),
            time(r.updated_at),
            Arg::Text(r.applied_hash.as_deref()),
            Arg::Text(r.applied_revision.as_deref()),
            Arg::Json(r.policy.as_ref()),
            Arg::Time(r.destroyed_at),
            Arg::Text(r.destroyed_revision.as_deref()),
            Arg::Text(r.state.failure()),
        ],
    )
    .await?;
    Ok(())
}

async fn insert_render(tx: &mut Tx, r: &RenderRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO render_results (resource, revision, input_hash, output_hash, outcome,
                                     rendered_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            text(&r.resource),
            text(&r.revision),
            text(&r.input_hash),
            text(&r.output_hash),
            text(&r.outcome),
            time(r.rendered_at),
        ],
    )
    .await?;
    Ok(())
}

/// Records where `name` can be reached (its endpoints, the first one's address).
pub(super) async fn set_endpoints(
    tx: &mut Tx,
    name: &str,
    endpoints: &[crate::reconcile::endpoint::Endpoint],
) -> Result<(), StoreError> {
    let list = serde_json::to_value(endpoints)
        .map_err(|e| StoreError::Corrupt(format!("endpoints: {e}")))?;
    let address = crate::reconcile::endpoint::primary(endpoints);
    tx.execute(
        "UPDATE deployment_instances SET endpoints = $2, address = $3
         WHERE name = $1 AND destroyed_at IS NULL",
        &[text(name), json(&list), Arg::Text(address.as_deref())],
    )
    .await?;
    Ok(())
}

/// Inserts one audit row.
pub(super) async fn insert_audit(tx: &mut Tx, a: &AuditRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, subject, details)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            time(a.at),
            text(&a.actor),
            text(&a.action),
            text(&a.subject),
            json(&a.details),
        ],
    )
    .await?;
    Ok(())
}

async fn replace_pools(tx: &mut Tx, pools: &[CatalogRecord]) -> Result<(), StoreError> {
    let listed: Vec<PoolColumns> = pools.iter().map(PoolColumns::of).collect();
    tx.lock_catalog(Kind::Pool).await?;
    let existing: Vec<(String, String)> = tx
        .fetch_all("SELECT name, path FROM resource_pools", &[])
        .await?
        .iter()
        .map(|row| Ok((row.get("name")?, row.get("path")?)))
        .collect::<Result<_, StoreError>>()?;
    for name in codec::pools_to_delete(&existing, &listed) {
        tx.execute("DELETE FROM resource_pools WHERE name = $1", &[text(&name)])
            .await?;
    }
    let now = codec::now();
    for p in &listed {
        tx.execute(
            "INSERT INTO resource_pools (name, path, parent_path, pool_type, provider,
                                         properties, spec, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (name) DO UPDATE SET
                 path = excluded.path, parent_path = excluded.parent_path,
                 pool_type = excluded.pool_type, provider = excluded.provider,
                 properties = excluded.properties, spec = excluded.spec,
                 updated_at = excluded.updated_at",
            &[
                text(p.name),
                Arg::Text(p.path),
                Arg::Text(p.parent_path),
                Arg::Text(p.pool_type),
                Arg::Text(p.provider),
                json(&p.properties),
                json(p.spec),
                time(now),
            ],
        )
        .await?;
    }
    replace_dimensions(tx, Kind::Pool, pools).await
}

async fn replace_templates(tx: &mut Tx, templates: &[CatalogRecord]) -> Result<(), StoreError> {
    tx.lock_catalog(Kind::Template).await?;
    let existing: Vec<String> = tx
        .fetch_all("SELECT name FROM deployment_templates", &[])
        .await?
        .iter()
        .map(|row| row.get("name"))
        .collect::<Result<_, _>>()?;
    for name in existing
        .iter()
        .filter(|n| !templates.iter().any(|t| &t.name == *n))
    {
        tx.execute(
            "DELETE FROM deployment_templates WHERE name = $1",
            &[text(name)],
        )
        .await?;
    }
    let now = codec::now();
    for t in templates {
        tx.execute(
            "INSERT INTO deployment_templates (name, spec, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET
                 spec = excluded.spec, updated_at = excluded.updated_at",
            &[text(&t.name), json(&t.spec), time(now)],
        )
        .await?;
    }
    replace_dimensions(tx, Kind::Template, templates).await
}

async fn replace_dimensions(
    tx: &mut Tx,
    kind: Kind,
    records: &[CatalogRecord],
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM resource_dimensions WHERE entity_kind = $1",
        &[text(kind.entity_kind())],
    )
    .await?;
    for record in records {
        for (key, value) in &record.dimensions {
            tx.execute(
                "INSERT INTO resource_dimensions (entity_kind, entity_name, key, value)
                 VALUES ($1, $2, $3, $4)",
                &[
                    text(kind.entity_kind()),
                    text(&record.name),
                    text(key),
                    text(value),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

const REVISION_COLUMNS: &str = r#"SELECT "commit", seen_at, valid, resources_valid,
    resources_invalid, errors, warnings, diagnostics FROM revisions"#;

fn revision_from(row: &Row) -> Result<RevisionRecord, StoreError> {
    Ok(RevisionRecord {
        commit: row.get("commit")?,
        seen_at: row.time("seen_at")?,
        valid: row.get("valid")?,
        resources_valid: row.get("resources_valid")?,
        resources_invalid: row.get("resources_invalid")?,
        errors: row.get("errors")?,
        warnings: row.get("warnings")?,
        diagnostics: row.json("diagnostics")?,
    })
}

pub(super) async fn revision(
    store: &Store,
    commit: &str,
) -> Result<Option<RevisionRecord>, StoreError> {
    let sql = format!(r#"{REVISION_COLUMNS} WHERE "commit" = $1"#);
    store
        .fetch_all(sqlx::AssertSqlSafe(sql), &[text(commit)])
        .await?
        .first()
        .map(revision_from)
        .transpose()
}

pub(super) async fn revisions(
    store: &Store,
    limit: i64,
) -> Result<Vec<RevisionRecord>, StoreError> {
    let sql = format!(r#"{REVISION_COLUMNS} ORDER BY seen_at DESC, "commit" DESC LIMIT $1"#);
    store
        .fetch_all(sqlx::AssertSqlSafe(sql), &[Arg::Int(Some(limit))])
        .await?
        .iter()
        .map(revision_from)
        .collect()
}

pub(super) fn resource_from(row: &Row) -> Result<ResourceRecord, StoreError> {
    Ok(ResourceRecord {
        name: row.get("name")?,
        state: {
            let state: String = row.get("state")?;
            let failure: Option<String> = row.get("failure")?;
            ResourceState::from_stored(&state, failure.as_deref())
                .ok_or_else(|| StoreError::Corrupt(format!("resource state {state:?}")))?
        },
        reason: row.get("reason")?,
        provider: {
            let provider: Option<String> = row.get("provider")?;
            provider
                .map(|p| {
                    Provider::parse(&p)
                        .ok_or_else(|| StoreError::Corrupt(format!("resource provider {p:?}")))
                })
                .transpose()?
        },
        pool: row.get("pool")?,
        chart: row.get("chart")?,
        resource_type: row.get("resource_type")?,
        placement: row.opt_json("placement")?,
        dimensions: row.opt_json("dimensions")?,
        desired_revision: row.get("desired_revision")?,
        input_hash: row.get("input_hash")?,
        output_hash: row.get("output_hash")?,
        source: row.get("source")?,
        last_error: row.get("last_error")?,
        last_error_at: row.opt_time("last_error_at")?,
        updated_at: row.time("updated_at")?,
        applied_hash: row.get("applied_hash")?,
        applied_revision: row.get("applied_revision")?,
        policy: row.opt_json("policy")?,
        destroyed_at: row.opt_time("destroyed_at")?,
        destroyed_revision: row.get("destroyed_revision")?,
        address: row.get("address")?,
        endpoints: serde_json::from_value(row.json("endpoints")?)
            .map_err(|e| StoreError::Corrupt(format!("endpoints: {e}")))?,
    })
}

/// Every resource ordered by name, or just the one called `name`; destroyed ones only
/// when `with_destroyed`.
pub(super) async fn resources(
    store: &Store,
    name: Option<&str>,
    with_documents: bool,
    with_destroyed: bool,
) -> Result<Vec<ResourceRecord>, StoreError> {
    store
        .fetch_all(
            "SELECT name, state, failure, reason, provider, pool, chart, resource_type,
                    CASE WHEN $2 THEN placement END AS placement,
                    CASE WHEN $2 THEN dimensions END AS dimensions,
                    desired_revision, input_hash, output_hash, source, last_error,
                    last_error_at, updated_at, applied_hash, applied_revision, policy,
                    destroyed_at, destroyed_revision, address, endpoints
             FROM deployment_instances
             WHERE (CAST($1 AS TEXT) IS NULL OR name = $1) AND (destroyed_at IS NULL OR $3)
             ORDER BY name",
            &[
                Arg::Text(name),
                Arg::Bool(with_documents),
                Arg::Bool(with_destroyed),
            ],
        )
        .await?
        .iter()
        .map(resource_from)
        .collect()
}

pub(super) async fn render_results(
    store: &Store,
    resource: &str,
    limit: i64,
) -> Result<Vec<RenderRecord>, StoreError> {
    store
        .fetch_all(
            "SELECT resource, revision, input_hash, output_hash, outcome, rendered_at
             FROM render_results WHERE resource = $1
             ORDER BY rendered_at DESC, seq DESC LIMIT $2",
            &[text(resource), Arg::Int(Some(limit))],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(RenderRecord {
                resource: row.get("resource")?,
                revision: row.get("revision")?,
                input_hash: row.get("input_hash")?,
                output_hash: row.get("output_hash")?,
                outcome: row.get("outcome")?,
                rendered_at: row.time("rendered_at")?,
            })
        })
        .collect()
}

pub(super) async fn audit_log(store: &Store, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
    store
        .fetch_all(
            "SELECT at, actor, action, subject, details FROM audit_log
             ORDER BY at DESC, seq DESC LIMIT $1",
            &[Arg::Int(Some(limit))],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(AuditRecord {
                at: row.time("at")?,
                actor: row.get("actor")?,
                action: row.get("action")?,
                subject: row.get("subject")?,
                details: row.json("details")?,
            })
        })
        .collect()
}

/// The stored pools or templates, ordered by name, with their dimensions.
pub(super) async fn catalog(store: &Store, kind: Kind) -> Result<Vec<CatalogRecord>, StoreError> {
    let sql = match kind {
        Kind::Pool => "SELECT name, path, spec FROM resource_pools ORDER BY name",
        Kind::Template => {
            "SELECT name, CAST(NULL AS TEXT) AS path, spec FROM deployment_templates
             ORDER BY name"
        }
    };
    let mut by_entity: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let rows = store
        .fetch_all(
            "SELECT entity_name, key, value FROM resource_dimensions WHERE entity_kind = $1",
            &[text(kind.entity_kind())],
        )
        .await?;
    for row in &rows {
        by_entity
            .entry(row.get("entity_name")?)
            .or_default()
            .insert(row.get("key")?, row.get("value")?);
    }
    store
        .fetch_all(sql, &[])
        .await?
        .iter()
        .map(|row| {
            let name: String = row.get("name")?;
            Ok(CatalogRecord {
                path: row.get("path")?,
                spec: row.json("spec")?,
                dimensions: by_entity.remove(&name).unwrap_or_default(),
                name,
            })
        })
        .collect()
}

/// Queues a request with its audit row, in one transaction; returns its id.
pub(super) async fn request(
    store: &Store,
    resource: Option<&str>,
    by: &str,
    action: RequestAction,
    ignore_windows: bool,
    revision: Option<&str>,
) -> Result<i64, StoreError> {
    let action = action.as_str();
    let now = codec::now();
    let mut tx = store.begin_write().await?;
    let id: i64 = tx
        .fetch_one(
            "INSERT INTO reconcile_requests (resource, requested_by, requested_at, action,
                                             ignore_windows, revision)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                Arg::Text(resource),
                text(by),
                time(now),
                text(action),
                Arg::Bool(ignore_windows),
                Arg::Text(revision),
            ],
        )
        .await?
        .get("id")?;
    let audit = AuditRecord {
        at: now,
        actor: by.to_owned(),
        action: format!("{action}.requested"),
        subject: resource.unwrap_or(ALL_RESOURCES).to_owned(),
        details: {
            let mut details = serde_json::json!({ "request": id, "resource": resource });
            if ignore_windows {
                details["ignore_windows"] = serde_json::json!(true);
            }
            if let Some(revision) = revision {
                details["revision"] = serde_json::json!(revision);
            }
            details
        },
    };
    insert_audit(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok(id)
}

/// Takes every queued request, oldest first.
pub(super) async fn take_requests(store: &Store) -> Result<Vec<ReconcileRequest>, StoreError> {
    // One statement: SQLite takes the write lock before reading, and in PostgreSQL a
    // concurrent taker blocks on the rows this one deletes and then skips them, so each
    // row is returned by exactly one taker.
    let mut taken = store
        .fetch_all(
            "DELETE FROM reconcile_requests
             RETURNING id, resource, requested_by, requested_at, action, ignore_windows,
                       revision",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ReconcileRequest {
                id: row.get("id")?,
                resource: row.get("resource")?,
                requested_by: row.get("requested_by")?,
                action: {
                    let action: String = row.get("action")?;
                    RequestAction::parse(&action).ok_or_else(|| {
                        StoreError::Corrupt(format!("reconcile request action {action:?}"))
                    })?
                },
                requested_at: row.time("requested_at")?,
                ignore_windows: row.get("ignore_windows")?,
                revision: row.get("revision")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    taken.sort_by_key(|r| r.id);
    Ok(taken)
}
