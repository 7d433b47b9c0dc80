//! What wakes the dashboard's event streams besides this daemon's own status: changes
//! written to the store by anyone — the leader of a cluster (a follower runs no passes,
//! so its status never moves), `homelabd` commands, other dashboards. Every change the
//! store records comes with an audit row, so the newest audit row's sequence number is
//! the store's change counter; it is read once a second, and only while a page listens.

use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the store is asked while a page listens.
pub const POLL: Duration = Duration::from_secs(1);

/// Starts the poller; its receivers see the newest audit sequence number change. Ends at
/// `stop`.
pub fn spawn(store: Arc<Store>, stop: CancellationToken) -> watch::Sender<i64> {
    let (tx, _) = watch::channel(0);
    let poller = tx.clone();
    tokio::spawn(async move {
        // `None` while nobody listens: the first reading after that is the baseline,
        // not a change.
        let mut last: Option<i64> = None;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.cancelled() => return,
            }
            if poller.receiver_count() == 0 {
                last = None;
                continue;
            }
            match store.last_audit_seq().await {
                Ok(seq) => {
                    if last.is_some_and(|l| l != seq) {
                        poller.send_replace(seq);
                    }
                    last = Some(seq);
                }
                Err(e) => tracing::debug!(error = %e, "dashboard: store changes not read"),
            }
        }
    });
    tx
}
