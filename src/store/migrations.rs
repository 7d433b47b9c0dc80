//! The schema: SQL migrations embedded from `migrations/postgres` and `migrations/sqlite`,
//! and the code that applies them.
//!
//! Both directories hold the same versions with the same tables and columns; PostgreSQL
//! uses native types (UUID, JSONB, TIMESTAMPTZ, INET) and SQLite their text and integer
//! equivalents (see the header of `migrations/sqlite/0001_wtt_schema.sql`). Applied
//! versions are tracked in sqlx's `_sqlx_migrations` table, so an edited migration that
//! has already been applied is reported as a checksum mismatch instead of being ignored.

use std::borrow::Cow;
use std::collections::BTreeSet;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migrate, Migration, MigrationType, Migrator};

use super::StoreError;

/// Where sqlx records applied migrations.
const TABLE: &str = "_sqlx_migrations";

/// One embedded migration file.
struct Source {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

const POSTGRES: &[Source] = &[
    Source {
        version: 1,
        description: "wtt schema",
        sql: include_str!("../../migrations/postgres/0001_wtt_schema.sql"),
    },
    Source {
        version: 2,
        description: "reconcile loop",
        sql: include_str!("../../migrations/postgres/0002_reconcile_loop.sql"),
    },
    Source {
        version: 3,
        description: "apply and drift",
        sql: include_str!("../../migrations/postgres/0003_apply_and_drift.sql"),
    },
    Source {
        version: 4,
        description: "notifications",
        sql: include_str!("../../migrations/postgres/0004_notifications.sql"),
    },
    Source {
        version: 5,
        description: "cluster",
        sql: include_str!("../../migrations/postgres/0005_cluster.sql"),
    },
    Source {
        version: 6,
        description: "history",
        sql: include_str!("../../migrations/postgres/0006_history.sql"),
    },
    Source {
        version: 7,
        description: "endpoints",
        sql: include_str!("../../migrations/postgres/0007_endpoints.sql"),
    },
    Source {
        version: 8,
        description: "failure step",
        sql: include_str!("../../migrations/postgres/0008_failure_step.sql"),
    },
    Source {
        version: 9,
        description: "inventory",
        sql: include_str!("../../migrations/postgres/0009_inventory.sql"),
    },
    Source {
        version: 10,
        description: "rollout limits",
        sql: include_str!("../../migrations/postgres/0010_rollout_limits.sql"),
    },
    Source {
        version: 11,
        description: "health",
        sql: include_str!("../../migrations/postgres/0011_health.sql"),
    },
    Source {
        version: 12,
        description: "dashboard",
        sql: include_str!("../../migrations/postgres/0012_dashboard.sql"),
    },
    Source {
        version: 13,
        description: "rollback runs",
        sql: include_str!("../../migrations/postgres/0013_rollback_runs.sql"),
    },
    Source {
        version: 14,
        description: "audit subjects",
        sql: include_str!("../../migrations/postgres/0014_audit_subjects.sql"),
    },
];

const SQLITE: &[Source] = &[
    Source {
        version: 1,
        description: "wtt schema",
        sql: include_str!("../../migrations/sqlite/0001_wtt_schema.sql"),
    },
    Source {
        version: 2,
        description: "reconcile loop",
        sql: include_str!("../../migrations/sqlite/0002_reconcile_loop.sql"),
    },
    Source {
        version: 3,
        description: "apply and drift",
        sql: include_str!("../../migrations/sqlite/0003_apply_and_drift.sql"),
    },
    Source {
        version: 4,
        description: "notifications",
        sql: include_str!("../../migrations/sqlite/0004_notifications.sql"),
    },
    Source {
        version: 5,
        description: "cluster",
        sql: include_str!("../../migrations/sqlite/0005_cluster.sql"),
    },
    Source {
        version: 6,
        description: "history",
        sql: include_str!("../../migrations/sqlite/0006_history.sql"),
    },
    Source {
        version: 7,
        description: "endpoints",
        sql: include_str!("../../migrations/sqlite/0007_endpoints.sql"),
    },
    Source {
        version: 8,
        description: "failure step",
        sql: include_str!("../../migrations/sqlite/0008_failure_step.sql"),
    },
    Source {
        version: 9,
        description: "inventory",
        sql: include_str!("../../migrations/sqlite/0009_inventory.sql"),
    },
    Source {
        version: 10,
        description: "rollout limits",
        sql: include_str!("../../migrations/sqlite/0010_rollout_limits.sql"),
    },
    Source {
        version: 11,
        description: "health",
        sql: include_str!("../../migrations/sqlite/0011_health.sql"),
    },
    Source {
        version: 12,
        description: "dashboard",
        sql: include_str!("../../migrations/sqlite/0012_dashboard.sql"),
    },
    Source {
        version: 13,
        description: "rollback runs",
        sql: include_str!("../../migrations/sqlite/0013_rollback_runs.sql"),
    },
    Source {
        version: 14,
        description: "audit subjects",
        sql: include_str!("../../migrations/sqlite/0014_audit_subjects.sql"),
    },
];

/// The PostgreSQL migrations.
pub(super) fn postgres() -> Migrator {
    build(POSTGRES)
}

/// The SQLite migrations.
pub(super) fn sqlite() -> Migrator {
    build(SQLITE)
}

fn build(sources: &[Source]) -> Migrator {
    let migrations = sources
        .iter()
        .map(|s| {
            Migration::new(
                s.version,
                Cow::Borrowed(s.description),
                MigrationType::Simple,
                s.sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    // `apply` takes the lock itself, around listing *and* running, so that the versions
    // it reports are exactly the ones this call applied.
    migrator.set_locking(false);
    migrator
}

/// Applies the pending migrations on `conn` under the database's migration lock (a
/// PostgreSQL advisory lock; SQLite has none, its writers are serialised by the file
/// lock) and returns the versions applied by this call, in order.
pub(super) async fn apply<C>(migrator: &Migrator, conn: &mut C) -> Result<Vec<i64>, StoreError>
where
    C: Migrate,
{
    conn.lock().await?;
    let outcome = apply_locked(migrator, conn).await;
    let unlocked = conn.unlock().await;
    let applied = outcome?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked<C>(migrator: &Migrator, conn: &mut C) -> Result<Vec<i64>, StoreError>
where
    C: Migrate,
{
    conn.ensure_migrations_table(TABLE).await?;
    let before: BTreeSet<i64> = conn
        .list_applied_migrations(TABLE)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    migrator.run_direct(None, conn, false).await?;
    Ok(migrator
        .iter()
        .map(|m| m.version)
        .filter(|v| !before.contains(v))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables that exist after `sql` ran on a schema holding `tables`: created ones
    /// added, dropped ones removed, renamed ones renamed (SQLite rebuilds a table to
    /// change a constraint, PostgreSQL alters it in place: both end with the same set).
    fn after(mut tables: BTreeSet<String>, sql: &str) -> BTreeSet<String> {
        let words: Vec<&str> = sql.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let next = |k: usize| words.get(i + k).copied().unwrap_or_default().to_owned();
            match (*w, next(1).as_str()) {
                ("CREATE", "TABLE") => {
                    tables.insert(next(2));
                }
                ("DROP", "TABLE") => {
                    tables.remove(&next(2));
                }
                ("ALTER", "TABLE") if next(3) == "RENAME" && next(4) == "TO" => {
                    tables.remove(&next(2));
                    tables.insert(next(5).trim_end_matches(';').to_owned());
                }
                _ => {}
            }
        }
        tables
    }

    #[test]
    fn both_backends_have_the_same_versions_and_tables() {
        assert_eq!(POSTGRES.len(), SQLITE.len());
        let (mut pg_tables, mut lite_tables) = (BTreeSet::new(), BTreeSet::new());
        for (pg, lite) in POSTGRES.iter().zip(SQLITE) {
            assert_eq!(pg.version, lite.version);
            assert_eq!(pg.description, lite.description);
            pg_tables = after(pg_tables, pg.sql);
            lite_tables = after(lite_tables, lite.sql);
            assert_eq!(pg_tables, lite_tables, "after version {}", pg.version);
        }
        let versions: Vec<i64> = POSTGRES.iter().map(|s| s.version).collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(versions, sorted, "versions are unique and ascending");
    }

    #[test]
    fn the_schema_has_every_table() {
        let all = POSTGRES
            .iter()
            .fold(BTreeSet::new(), |tables, s| after(tables, s.sql));
        for table in [
            "resource_pools",
            "deployment_templates",
            "resource_dimensions",
            "deployment_instances",
            "infrastructure_snapshots",
            "state_deviations",
            "generated_templates",
            "audit_log",
            "revisions",
            "render_results",
            "apply_runs",
            "proposals",
            "reconcile_requests",
            "notification_outbox",
            "notification_deliveries",
            "cluster_members",
            "cluster_lease",
            "inventory_items",
            "pull_request_previews",
            "ui_sessions",
            "audit_subjects",
        ] {
            assert!(all.contains(table), "{table}");
        }
    }
}
