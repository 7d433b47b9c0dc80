//! Several daemons on one PostgreSQL: member heartbeats, the leader lease, the member
//! that started each apply run, and per-resource advisory locks.
//!
//! Every time comparison uses the database's clock (`now()`), so members on machines
//! whose clocks disagree still agree on who leads. SQLite is single-daemon (a lock file
//! refuses a second one): there the membership calls are not made, the member list is
//! empty and resource locks are free.

use super::{ApplyRunRecord, Inner, Store, StoreError, codec};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AssertSqlSafe, Connection, Row};

/// The one lease row's name.
const LEADER: &str = "leader";

/// Members silent for this long are forgotten (a kill -9 leaves its row behind).
const FORGET_AFTER_SECS: f64 = 600.0;

/// Who this daemon is, as written into `cluster_members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    /// Unique per process start (a UUID).
    pub id: String,
    pub host: String,
    pub pid: u32,
}

/// The leader lease as one heartbeat left it.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseView {
    /// The member holding the lease.
    pub holder: String,
    /// Bumped on every change of holder (a fencing token).
    pub epoch: i64,
    /// Milliseconds until the lease expires, by the database's clock (negative: expired).
    pub expires_in_ms: i64,
}

/// One member as `homelabd status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRecord {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Holds an unexpired leader lease.
    pub leader: bool,
    /// Heard from within the lease TTL.
    pub alive: bool,
    /// Resources with a `running` apply run started by this member.
    pub applying: Vec<String>,
}

/// A held per-resource lock: a dedicated PostgreSQL connection holding
/// `pg_advisory_lock(hashtext('homelabd:' || resource))`. Dropping it closes that
/// connection, which releases the lock on the server even if [`ResourceLock::release`]
/// is never reached; if this process dies, the server releases it with the connection.
#[derive(Debug)]
pub struct ResourceLock {
    conn: Option<sqlx::PgConnection>,
    resource: String,
}

impl ResourceLock {
    /// Unlocks and closes the dedicated connection.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('homelabd:' || $1))")
                .bind(&self.resource)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

impl Store {
    /// One heartbeat, in one transaction (so the member row and the lease carry the same
    /// `now()`): records `me` as alive, forgets members silent for ten minutes, and takes
    /// or renews the leader lease for `ttl_secs` if it is free, expired or already ours.
    /// Returns the lease as it stands afterwards. PostgreSQL only (`None` on SQLite).
    pub async fn cluster_heartbeat(
        &self,
        me: &MemberIdentity,
        ttl_secs: f64,
        want_lease: bool,
    ) -> Result<Option<LeaseView>, StoreError> {
        let Inner::Postgres(pool) = &self.inner else {
            return Ok(None);
        };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO cluster_members (id, host, pid, started_at, heartbeat_at)
             VALUES ($1, $2, $3, now(), now())
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
        )
        .bind(&me.id)
        .bind(&me.host)
        .bind(i64::from(me.pid))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM cluster_members WHERE heartbeat_at < now() - make_interval(secs => $1)",
        )
        .bind(FORGET_AFTER_SECS)
        .execute(&mut *tx)
        .await?;
        if want_lease {
            // Taken when free or expired (a new holder bumps the epoch), renewed when
            // ours; a live lease of another member is left alone (no row returned).
            sqlx::query(
                "INSERT INTO cluster_lease (name, holder, epoch, acquired_at, renewed_at, expires_at)
                 VALUES ($1, $2, 1, now(), now(), now() + make_interval(secs => $3))
                 ON CONFLICT (name) DO UPDATE SET
                     epoch = CASE WHEN cluster_lease.holder = EXCLUDED.holder
                                  THEN cluster_lease.epoch ELSE cluster_lease.epoch + 1 END,
                     acquired_at = CASE WHEN cluster_lease.holder = EXCLUDED.holder
                                  THEN cluster_lease.acquired_at ELSE now() END,
                     holder = EXCLUDED.holder,
                     renewed_at = now(),
                     expires_at = EXCLUDED.expires_at
                 WHERE cluster_lease.holder = EXCLUDED.holder
                    OR cluster_lease.expires_at < now()",
            )
            .bind(LEADER)
            .bind(&me.id)
            .bind(ttl_secs)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(
            "SELECT holder, epoch,
                    (EXTRACT(EPOCH FROM (expires_at - now())) * 1000)::BIGINT AS expires_in_ms
             FROM cluster_lease WHERE name = $1",
        )
        .bind(LEADER)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| {
            Ok(LeaseView {
                holder: r.try_get("holder")?,
                epoch: r.try_get("epoch")?,
                expires_in_ms: r.try_get("expires_in_ms")?,
            })
        })
        .transpose()
    }

    /// Is the lease still `me`'s, at `epoch`, and unexpired by the database's clock?
    /// The last check before an apply starts (fencing). Always true on SQLite.
    pub async fn cluster_lease_held(&self, member: &str, epoch: i64) -> Result<bool, StoreError> {
        let Inner::Postgres(pool) = &self.inner else {
            return Ok(true);
        };
        let n: i64 = sqlx::query(
            "SELECT count(*) AS n FROM cluster_lease
             WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()",
        )
        .bind(LEADER)
        .bind(member)
        .bind(epoch)
        .fetch_one(pool)
        .await?
        .try_get("n")?;
        Ok(n > 0)
    }

    /// Gives the lease up (if held) and removes `member`'s row: a clean stop hands over
    /// at the next heartbeat of another member instead of after the TTL.
    pub async fn cluster_leave(&self, member: &str) -> Result<(), StoreError> {
        let Inner::Postgres(pool) = &self.inner else {
            return Ok(());
        };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE cluster_lease SET expires_at = now() - interval '1 millisecond'
             WHERE name = $1 AND holder = $2",
        )
        .bind(LEADER)
        .bind(member)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM cluster_members WHERE id = $1")
            .bind(member)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The members, oldest first, with who leads and what each is applying. `ttl_secs`
    /// decides `alive`. Empty on SQLite.
    pub async fn cluster_members(&self, ttl_secs: f64) -> Result<Vec<MemberRecord>, StoreError> {
        let Inner::Postgres(pool) = &self.inner else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT m.id, m.host, m.pid, m.started_at, m.heartbeat_at,
                    (l.holder IS NOT NULL) AS leader,
                    (m.heartbeat_at > now() - make_interval(secs => $2)) AS alive,
                    COALESCE((SELECT array_agg(r.resource ORDER BY r.resource) FROM apply_runs r
                              WHERE r.state = 'running' AND r.member = m.id),
                             ARRAY[]::TEXT[]) AS applying
             FROM cluster_members m
             LEFT JOIN cluster_lease l
                    ON l.name = $1 AND l.holder = m.id AND l.expires_at > now()
             ORDER BY m.started_at, m.id",
        )
        .bind(LEADER)
        .bind(ttl_secs)
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRecord {
                    id: r.try_get("id")?,
                    host: r.try_get("host")?,
                    pid: r.try_get("pid")?,
                    started_at: r.try_get("started_at")?,
                    heartbeat_at: r.try_get("heartbeat_at")?,
                    leader: r.try_get("leader")?,
                    alive: r.try_get("alive")?,
                    applying: r.try_get("applying")?,
                })
            })
            .collect()
    }

    /// Takes the per-resource lock without waiting: `Some` when this daemon may run the
    /// resource's tool now, `None` when another connection (another daemon) holds it.
    /// On SQLite (single daemon) always `Some`, holding nothing.
    pub async fn try_lock_resource(
        &self,
        resource: &str,
    ) -> Result<Option<ResourceLock>, StoreError> {
        let Inner::Postgres(pool) = &self.inner else {
            return Ok(Some(ResourceLock {
                conn: None,
                resource: resource.to_owned(),
            }));
        };
        // A connection of its own, never returned to the pool: a lock must not outlive
        // the apply on a pooled connection that some other query then reuses.
        let mut conn = pool.acquire().await?.detach();
        let got: bool =
            sqlx::query("SELECT pg_try_advisory_lock(hashtext('homelabd:' || $1)) AS got")
                .bind(resource)
                .fetch_one(&mut conn)
                .await?
                .try_get("got")?;
        if got {
            Ok(Some(ResourceLock {
                conn: Some(conn),
                resource: resource.to_owned(),
            }))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }

    /// Records which member started run `id` (shown by `homelabd status`, and used to
    /// tell a dead member's runs from a live one's).
    pub async fn set_apply_run_member(&self, id: &str, member: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE apply_runs SET member = $2 WHERE id = $1",
            &[
                super::dialect::Arg::Id(super::applies::parse_id(id)?),
                super::dialect::text(member),
            ],
        )
        .await?;
        Ok(())
    }

    /// Marks `running` runs whose member is dead as `interrupted` and returns them: on
    /// PostgreSQL only runs with no member, or whose member has not been heard from for
    /// `ttl_secs` (a live member's run is still going — perhaps on another machine); on
    /// SQLite (one daemon) every `running` run.
    pub async fn interrupt_orphaned_applies(
        &self,
        ttl_secs: f64,
    ) -> Result<Vec<ApplyRunRecord>, StoreError> {
        let Inner::Postgres(_) = &self.inner else {
            return self.interrupt_running_applies().await;
        };
        let sql = format!(
            "UPDATE apply_runs SET state = 'interrupted', finished_at = $1,
                 error = 'the daemon running this stopped (its heartbeat expired); applied again'
             WHERE state = 'running'
               AND (member IS NULL OR member NOT IN (
                     SELECT id FROM cluster_members
                     WHERE heartbeat_at > now() - make_interval(secs => $2)))
             RETURNING {}",
            super::applies::COLUMNS
        );
        use super::dialect::{Arg, time};
        self.fetch_all(
            AssertSqlSafe(sql),
            &[time(codec::now()), Arg::Float(ttl_secs)],
        )
        .await?
        .iter()
        .map(super::applies::run_from)
        .collect()
    }
}
