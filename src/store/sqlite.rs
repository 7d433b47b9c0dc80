//! The SQLite backend: the embedded default, one file next to the daemon's state.
//!
//! Timestamps are RFC 3339 text in UTC with six fractional digits (see [`codec::to_text`]),
//! JSON is text checked by `json_valid`, booleans are 0 / 1 (the encoding lives in
//! [`super::dialect`], which also begins every write with `BEGIN IMMEDIATE`, so a writer
//! waits for the file lock (busy timeout) up front instead of failing when it upgrades a
//! read transaction). What is left here is truly SQLite's: opening the file.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{StoreError, migrations};

/// How long a migration waits for another process's migration of the same file.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(120);

/// Opens (creating if missing) the database file named by `url`; returns it with the
/// path of its migration lock file (`None` for an in-memory database).
pub(super) async fn connect(url: &str) -> Result<(SqlitePool, Option<PathBuf>), StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let name = rest.split('?').next().unwrap_or_default();
    if name.is_empty() {
        return Err(StoreError::BadUrl(url.to_owned()));
    }
    let in_memory = name == ":memory:" || rest.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url)?;
    let lock = (!in_memory).then(|| migration_lock_path(options.get_filename()));
    let options = options
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
    Ok((pool.connect_with(options).await?, lock))
}

/// `<file>.migrate-lock`, beside the database file (never the database file itself:
/// closing any descriptor of it would drop SQLite's own locks of this process).
fn migration_lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".migrate-lock");
    PathBuf::from(name)
}

/// Applies the pending migrations, holding the file's migration lock (when it has one)
/// throughout. sqlx's SQLite migrator takes no lock of its own and runs each migration
/// in a deferred transaction, so two processes migrating a fresh file at once would
/// collide ("database is locked") or apply a version twice; with the lock the second
/// waits, then finds the versions applied and applies only what is left.
pub(super) async fn migrate(
    pool: &SqlitePool,
    lock: Option<&Path>,
) -> Result<Vec<i64>, StoreError> {
    let _held = match lock {
        Some(path) => Some(lock_migrations(path, MIGRATION_LOCK_WAIT).await?),
        None => None,
    };
    let mut conn = pool.acquire().await?;
    migrations::apply(&migrations::sqlite(), &mut *conn).await
}

/// Takes the exclusive lock of `path` (created if missing), waiting with backoff while
/// another process holds it, at most `wait`. The lock lasts as long as the file is open.
async fn lock_migrations(path: &Path, wait: Duration) -> Result<File, StoreError> {
    let failed = |source| StoreError::MigrationLock {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(failed)?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::Error(e)) => return Err(failed(e)),
            Err(TryLockError::WouldBlock) if started.elapsed() >= wait => {
                return Err(StoreError::MigrationBusy {
                    path: path.to_owned(),
                    waited: started.elapsed(),
                });
            }
            Err(TryLockError::WouldBlock) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_migration_lock_makes_the_next_migrator_wait_and_then_give_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = migration_lock_path(&dir.path().join("state.db"));
        assert!(
            path.ends_with("state.db.migrate-lock"),
            "{}",
            path.display()
        );
        let held = lock_migrations(&path, Duration::ZERO).await.unwrap();
        let refused = lock_migrations(&path, Duration::from_millis(50)).await;
        assert!(
            matches!(refused, Err(StoreError::MigrationBusy { .. })),
            "{refused:?}"
        );
        assert!(refused.unwrap_err().is_transient());
        drop(held);
        assert!(lock_migrations(&path, Duration::ZERO).await.is_ok());
    }
}
