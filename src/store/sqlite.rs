//! The SQLite backend: the embedded default, one file next to the daemon's state.
//!
//! Timestamps are RFC 3339 text in UTC with six fractional digits (see [`codec::to_text`]),
//! JSON is text checked by `json_valid`, booleans are 0 / 1 (the encoding lives in
//! [`super::dialect`], which also begins every write with `BEGIN IMMEDIATE`, so a writer
//! waits for the file lock (busy timeout) up front instead of failing when it upgrades a
//! read transaction). What is left here is truly SQLite's: opening the file.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{StoreError, migrations};

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
