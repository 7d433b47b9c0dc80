//! The membership task: a heartbeat every [`HEARTBEAT`] that keeps this daemon's row in
//! `cluster_members` and takes or renews the leader lease, publishing the result to the
//! loop's [`Gate`], `/metrics` and the daemon status.

use super::role::{Gate, Leadership, assess};
use super::{HEARTBEAT, LEASE_TTL};
use crate::control::notify;
use crate::control::status::DaemonStatus;
use crate::metrics::Metrics;
use crate::store::{MemberIdentity, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The running membership task of a clustered daemon.
pub struct Membership {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Membership {
    /// Stops heartbeating, gives the lease up and removes this member's row, so another
    /// member leads at its next heartbeat instead of after the lease TTL.
    pub async fn leave(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Where a daemon notes its member id, so that its next start can retire it.
const MEMBER_FILE: &str = "cluster-member";

/// Starts membership for a daemon on `database_url`. SQLite (single daemon): a gate that
/// always allows and no task. PostgreSQL: a follower gate until the first heartbeat
/// says otherwise, and the heartbeat task.
///
/// The member id of the previous daemon on `state_dir` is retired at the first heartbeat
/// (its lease given up, its row removed): the caller holds the state directory's lock, so
/// that daemon is gone, and a restart after a crash need not wait for the lease TTL.
pub fn start(
    database_url: &str,
    state_dir: &Path,
    metrics: Arc<Metrics>,
    status: Arc<DaemonStatus>,
) -> (Gate, Option<Membership>) {
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        metrics.set_cluster(true, 1);
        return (Gate::single(), None);
    }
    let me = MemberIdentity {
        id: uuid::Uuid::new_v4().to_string(),
        host: hostname(),
        pid: std::process::id(),
    };
    info!(member = %me.id, host = %me.host, "joining the cluster on PostgreSQL");
    let file = state_dir.join(MEMBER_FILE);
    let previous = std::fs::read_to_string(&file)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if let Err(e) = std::fs::write(&file, &me.id) {
        warn!(file = %file.display(), error = %e, "cannot note the member id; a restart waits for the lease to expire");
    }
    let (tx, rx) = watch::channel(Leadership::Follower { leader: None });
    metrics.set_cluster(false, 0);
    let gate = Gate::new(me.id.clone(), rx);
    let stop = CancellationToken::new();
    let task = tokio::spawn(heartbeats(
        database_url.to_owned(),
        me,
        previous,
        tx,
        metrics,
        status,
        stop.clone(),
    ));
    (gate, Some(Membership { stop, task }))
}

async fn heartbeats(
    url: String,
    me: MemberIdentity,
    mut previous: Option<String>,
    tx: watch::Sender<Leadership>,
    metrics: Arc<Metrics>,
    status: Arc<DaemonStatus>,
    stop: CancellationToken,
) {
    let mut store: Option<Store> = None;
    let mut failing = false;
    let mut announced = false;
    loop {
        let asked_at = Instant::now();
        if store.is_none() {
            // The loop migrates too; the migration lock makes concurrent runs safe.
            match connect(&url).await {
                Ok(s) => store = Some(s),
                Err(e) => {
                    if !failing {
                        warn!(error = %e, "cluster heartbeat: database unavailable");
                    }
                    failing = true;
                }
            }
        }
        if let (Some(s), Some(old)) = (&store, &previous) {
            match s.cluster_leave(old).await {
                Ok(()) => {
                    info!(previous = %old, "retired this state directory's previous member");
                    previous = None;
                }
                Err(e) => warn!(error = %e, "cannot retire the previous member yet"),
            }
        }
        let beat = match &store {
            Some(s) => s
                .cluster_heartbeat(&me, LEASE_TTL.as_secs_f64(), true)
                .await
                .map_err(|e| e.to_string()),
            None => Err("not connected".to_owned()),
        };
        let next = match beat {
            Ok(lease) => {
                if failing {
                    info!("cluster heartbeat: database reachable again");
                }
                failing = false;
                Some(assess(&me.id, lease.as_ref(), asked_at))
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "cluster heartbeat failed; leading only until the lease would expire");
                }
                failing = true;
                // Keep what we had: a leader's `until` runs out by itself.
                let current = tx.borrow().clone();
                match current {
                    Leadership::Leader { until, .. } if until > Instant::now() => None,
                    _ => Some(Leadership::Follower { leader: None }),
                }
            }
        };
        if let Some(next) = next {
            publish(&tx, next, &me.id);
        }
        let leading = tx.borrow().may_act(Instant::now());
        let members = match &store {
            Some(s) => s
                .cluster_members(LEASE_TTL.as_secs_f64())
                .await
                .map(|m| m.iter().filter(|m| m.alive).count() as i64)
                .unwrap_or(0),
            None => 0,
        };
        metrics.set_cluster(leading, members);
        if !leading && !failing {
            // A follower is ready to serve reads from the store and to take over; systemd
            // (Type=notify) hears it too, or it would never finish starting.
            if !announced {
                notify::ready();
                announced = true;
            }
            if let Leadership::Follower { leader } = &*tx.borrow() {
                notify::status(&format!(
                    "follower; leader: {}",
                    leader.as_deref().unwrap_or("none yet")
                ));
            }
            status.update(|s| {
                s.ready = true;
                s.db_ok = true;
                s.db_error = None;
            });
            metrics.set_ready(true);
            metrics.set_database_up(true);
        } else if !leading {
            // The loop of a follower never touches the database: say it here.
            status.update(|s| {
                s.db_ok = false;
                s.db_error = Some("the cluster heartbeat cannot reach the database".to_owned());
            });
            metrics.set_database_up(false);
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Some(s) = &store {
        match s.cluster_leave(&me.id).await {
            Ok(()) => info!(member = %me.id, "left the cluster"),
            Err(e) => {
                warn!(error = %e, "cannot leave the cluster cleanly; the lease expires by itself")
            }
        }
    }
}

/// Stores the new leadership; wakes the loop only when the role changed.
fn publish(tx: &watch::Sender<Leadership>, next: Leadership, me: &str) {
    tx.send_if_modified(|current| {
        let changed = current.role_changed(&next);
        if changed {
            match &next {
                Leadership::Leader { epoch, .. } => {
                    info!(member = %me, epoch, "this daemon is the leader now")
                }
                Leadership::Follower { leader: Some(l) } => {
                    info!(leader = %l, "following another daemon")
                }
                Leadership::Follower { leader: None } => info!("no leader at the moment"),
                Leadership::Single => {}
            }
        }
        *current = next;
        changed
    });
}

async fn connect(url: &str) -> Result<Store, crate::store::StoreError> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    Ok(store)
}

/// This machine's name, for `homelabd status`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
