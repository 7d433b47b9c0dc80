//! The dialect layer: one SQL text and one bind order for both backends.
//!
//! A statement is written once, with `$n` placeholders (both backends accept them) and
//! its arguments as typed [`Arg`]s; only the encoding of a value differs per backend and
//! lives here: timestamps are fixed-width RFC 3339 text in SQLite and `TIMESTAMPTZ` in
//! PostgreSQL, JSON is text or `JSONB`, ids are text or `UUID`. Rows come back as [`Row`]
//! with the same typed getters on both. Every write transaction begins through
//! [`Store::begin_write`], which on SQLite is `BEGIN IMMEDIATE` (the write lock taken up
//! front, waiting for the busy timeout, instead of `SQLITE_BUSY` when a deferred
//! transaction that has read tries to write after another writer committed).

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Postgres, Row as _, SqlStr, Sqlite, Transaction, Type};

use super::{Inner, Store, StoreError, codec};

/// One bound value, encoded per backend.
#[derive(Debug, Clone)]
pub(super) enum Arg<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    /// A 64-bit integer, or NULL.
    Int(Option<i64>),
    /// A 32-bit integer, or NULL.
    Int4(Option<i32>),
    Bool(bool),
    /// A double.
    Float(f64),
    /// A timestamp (stored at microsecond precision), or NULL.
    Time(Option<DateTime<Utc>>),
    /// A JSON document, or NULL.
    Json(Option<&'a serde_json::Value>),
    /// A row id: `UUID` in PostgreSQL, its hyphenated text in SQLite.
    Id(uuid::Uuid),
    /// A list of text values, for `IN` filters written with [`Store::text_list`].
    TextList(&'a [String]),
}

/// `Arg::Text(Some(s))`.
pub(super) fn text(s: &str) -> Arg<'_> {
    Arg::Text(Some(s))
}

/// `Arg::Time(Some(t))`.
pub(super) fn time<'a>(t: DateTime<Utc>) -> Arg<'a> {
    Arg::Time(Some(t))
}

/// `Arg::Json(Some(v))`.
pub(super) fn json(v: &serde_json::Value) -> Arg<'_> {
    Arg::Json(Some(v))
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn sqlite_query<'q>(sql: SqlStr, args: &[Arg<'_>]) -> SqliteQuery<'q> {
    let mut q = sqlx::query(sql);
    for arg in args {
        q = match arg {
            Arg::Text(v) => q.bind(v.map(str::to_owned)),
            Arg::Int(v) => q.bind(*v),
            Arg::Int4(v) => q.bind(*v),
            Arg::Bool(v) => q.bind(*v),
            Arg::Float(v) => q.bind(*v),
            Arg::Time(v) => q.bind(v.map(|t| codec::to_text(codec::micros(t)))),
            Arg::Json(v) => q.bind(v.map(ToString::to_string)),
            Arg::Id(v) => q.bind(v.to_string()),
            Arg::TextList(v) => q.bind(serde_json::json!(v).to_string()),
        };
    }
    q
}

fn pg_query<'q>(sql: SqlStr, args: &[Arg<'_>]) -> PgQuery<'q> {
    let mut q = sqlx::query(sql);
    for arg in args {
        q = match arg {
            Arg::Text(v) => q.bind(v.map(str::to_owned)),
            Arg::Int(v) => q.bind(*v),
            Arg::Int4(v) => q.bind(*v),
            Arg::Bool(v) => q.bind(*v),
            Arg::Float(v) => q.bind(*v),
            Arg::Time(v) => q.bind(v.map(codec::micros)),
            Arg::Json(v) => q.bind(v.cloned()),
            Arg::Id(v) => q.bind(*v),
            Arg::TextList(v) => q.bind(v.to_vec()),
        };
    }
    q
}

/// An open write transaction on either backend.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// Which backend the transaction runs on.
    pub(super) fn backend(&self) -> super::Backend {
        match self {
            Tx::Sqlite(_) => super::Backend::Sqlite,
            Tx::Postgres(_) => super::Backend::Postgres,
        }
    }

    /// Runs `sql`; returns the rows affected.
    pub(super) async fn execute(
        &mut self,
        sql: impl sqlx::SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<u64, StoreError> {
        let sql = sql.into_sql_str();
        Ok(match self {
            Tx::Sqlite(tx) => sqlite_query(sql, args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => pg_query(sql, args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs `sql` and returns every row.
    pub(super) async fn fetch_all(
        &mut self,
        sql: impl sqlx::SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into_sql_str();
        Ok(match self {
            Tx::Sqlite(tx) => sqlite_query(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Tx::Postgres(tx) => pg_query(sql, args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    /// Runs `sql` and returns its one row.
    pub(super) async fn fetch_one(
        &mut self,
        sql: impl sqlx::SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<Row, StoreError> {
        let sql = sql.into_sql_str();
        Ok(match self {
            Tx::Sqlite(tx) => Row::Sqlite(sqlite_query(sql, args).fetch_one(&mut **tx).await?),
            Tx::Postgres(tx) => Row::Postgres(pg_query(sql, args).fetch_one(&mut **tx).await?),
        })
    }

    /// Serialises the replacement of one catalog (pools or templates) across daemons
    /// sharing a PostgreSQL database: delete-then-insert of the same dimension keys by two
    /// transactions at once would otherwise violate a unique index. A transaction-scoped
    /// advisory lock, released at commit or rollback. SQLite needs none: its write
    /// transaction already holds the database's one write lock.
    pub(super) async fn lock_catalog(&mut self, kind: super::Kind) -> Result<(), StoreError> {
        // "homelab" in ASCII, then a number.
        let key: i64 = match kind {
            super::Kind::Pool => 0x686f_6d65_6c61_6201,
            super::Kind::Template => 0x686f_6d65_6c61_6202,
        };
        if let Tx::Postgres(_) = self {
            self.execute("SELECT pg_advisory_xact_lock($1)", &[Arg::Int(Some(key))])
                .await?;
        }
        Ok(())
    }

    /// Commits.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

impl Store {
    /// Begins a write transaction: the only way a write transaction starts. SQLite:
    /// `BEGIN IMMEDIATE`; PostgreSQL: `BEGIN` (row locks are taken as rows are written).
    pub(super) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match &self.inner {
            Inner::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Inner::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Runs one statement outside a transaction (it is its own); returns the rows affected.
    pub(super) async fn execute(
        &self,
        sql: impl sqlx::SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<u64, StoreError> {
        let sql = sql.into_sql_str();
        Ok(match &self.inner {
            Inner::Sqlite(pool) => sqlite_query(sql, args).execute(pool).await?.rows_affected(),
            Inner::Postgres(pool) => pg_query(sql, args).execute(pool).await?.rows_affected(),
        })
    }

    /// Runs one query and returns every row.
    pub(super) async fn fetch_all(
        &self,
        sql: impl sqlx::SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<Vec<Row>, StoreError> {
        let sql = sql.into_sql_str();
        Ok(match &self.inner {
            Inner::Sqlite(pool) => sqlite_query(sql, args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
            Inner::Postgres(pool) => pg_query(sql, args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
        })
    }

    /// Runs one query and returns its one row.
    pub(super) async fn fetch_one(
        &self,
        sql: impl sqlx::SqlSafeStr,
        args: &[Arg<'_>],
    ) -> Result<Row, StoreError> {
        let sql = sql.into_sql_str();
        Ok(match &self.inner {
            Inner::Sqlite(pool) => Row::Sqlite(sqlite_query(sql, args).fetch_one(pool).await?),
            Inner::Postgres(pool) => Row::Postgres(pg_query(sql, args).fetch_one(pool).await?),
        })
    }

    /// The SQL condition "`column` is one of the texts bound at `$n`" (an
    /// [`Arg::TextList`]): `json_each` over a JSON array in SQLite, `= ANY` of an array in
    /// PostgreSQL.
    pub(super) fn text_list(&self, column: &str, n: usize) -> String {
        match &self.inner {
            Inner::Sqlite(_) => format!("{column} IN (SELECT value FROM json_each(${n}))"),
            Inner::Postgres(_) => format!("{column} = ANY(${n})"),
        }
    }
}

/// One result row of either backend, with the same typed getters on both.
pub(super) enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    /// A value stored the same way on both backends (text, integers, booleans).
    pub(super) fn get<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: for<'r> Decode<'r, Sqlite>
            + Type<Sqlite>
            + for<'r> Decode<'r, Postgres>
            + Type<Postgres>,
    {
        Ok(match self {
            Row::Sqlite(row) => row.try_get(column)?,
            Row::Postgres(row) => row.try_get(column)?,
        })
    }

    /// A timestamp, or NULL.
    pub(super) fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            Row::Sqlite(row) => {
                let text: Option<String> = row.try_get(column)?;
                text.map(|t| codec::from_text(column, &t)).transpose()
            }
            Row::Postgres(row) => Ok(row.try_get(column)?),
        }
    }

    /// A timestamp.
    pub(super) fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column}: NULL where a time belongs")))
    }

    /// A JSON document, or NULL.
    pub(super) fn opt_json(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
        match self {
            Row::Sqlite(row) => {
                let text: Option<String> = row.try_get(column)?;
                text.map(|t| codec::json_from_text(column, &t)).transpose()
            }
            Row::Postgres(row) => Ok(row.try_get(column)?),
        }
    }

    /// A JSON document.
    pub(super) fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        self.opt_json(column)?
            .ok_or_else(|| StoreError::Corrupt(format!("{column}: NULL where JSON belongs")))
    }

    /// A row id (see [`Arg::Id`]).
    pub(super) fn id(&self, column: &str) -> Result<uuid::Uuid, StoreError> {
        match self {
            Row::Sqlite(row) => {
                let text: String = row.try_get(column)?;
                uuid::Uuid::parse_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("{column}: {text:?}: {e}")))
            }
            Row::Postgres(row) => Ok(row.try_get(column)?),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Regression: `applies.rs`, `drift.rs` and `outbox.rs` began their SQLite writes with
    /// a deferred `BEGIN` while the rest used `BEGIN IMMEDIATE`, so a write path that read
    /// first could fail with `SQLITE_BUSY` under a concurrent writer. Every transaction
    /// now begins in [`super::Store::begin_write`]; `cluster.rs` is PostgreSQL-only.
    #[test]
    fn write_transactions_begin_only_in_the_dialect() {
        let files = [
            ("applies.rs", include_str!("applies.rs")),
            ("drift.rs", include_str!("drift.rs")),
            ("outbox.rs", include_str!("outbox.rs")),
            ("proposals.rs", include_str!("proposals.rs")),
            ("records.rs", include_str!("records.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("sqlite.rs", include_str!("sqlite.rs")),
            ("postgres.rs", include_str!("postgres.rs")),
        ];
        for (name, text) in files {
            for needle in [".begin()", ".begin_with(", "sqlx::query("] {
                assert!(
                    !text.contains(needle),
                    "store/{name} uses {needle}: go through the dialect layer"
                );
            }
        }
    }
}
