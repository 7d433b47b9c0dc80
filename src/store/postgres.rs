//! The PostgreSQL backend: the production store, shared by several daemons.
//!
//! Native types throughout: `TIMESTAMPTZ` (microseconds), `JSONB`, `UUID` keys generated
//! by the database, `BOOLEAN`, `INET` (the encoding lives in [`super::dialect`]). What is
//! left here is truly PostgreSQL's: connecting the pool.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{StoreError, migrations};

/// Connects a pool to the server named by `url`.
pub(super) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url)?.application_name("homelabd");
    Ok(PgPoolOptions::new()
        .max_connections(8)
        // Fail fast when the server is gone, so the daemon reports not-ready within
        // seconds and queues its results instead of hanging on the pool.
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect_with(options)
        .await?)
}

pub(super) async fn migrate(pool: &PgPool) -> Result<Vec<i64>, StoreError> {
    let mut conn = pool.acquire().await?;
    migrations::apply(&migrations::postgres(), &mut *conn).await
}
