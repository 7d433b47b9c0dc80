//! The leader's scheduled inventory scan (`[inventory] scan_interval`): every interval it
//! scans the Proxmox VE API, the Docker engines and the Kubernetes contexts of the last
//! revision and records them in the store exactly as `discover-proxmox-resources` with
//! `sync_to_database` does, so placement counts live load that is at most one interval
//! old. The loop publishes what to scan after each pass ([`ScanInputs`]); the scan runs
//! in its own task, never holding up a pass. Followers do not scan.

use crate::config::Settings;
use crate::observe::inventory::scan::Scanner;
use crate::observe::inventory::sync::{self, Plan};
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// Who the scheduled scan records as in the audit log.
const ACTOR: &str = "homelabd (scheduled inventory scan)";

/// What the scan needs from the loop: the store and the last revision's plan.
pub struct ScanInputs {
    pub store: Arc<Store>,
    pub plan: Plan,
}

/// The loop's side: the latest inputs (`None` until a pass ran with the store).
pub type Publisher = watch::Sender<Option<Arc<ScanInputs>>>;

/// Scans at every interval until shutdown, on the leader only; follows the interval of a
/// reloaded configuration. The first scan runs as soon as the first inputs arrive.
pub async fn run(
    mut settings: watch::Receiver<Arc<Settings>>,
    mut inputs: watch::Receiver<Option<Arc<ScanInputs>>>,
    gate: crate::cluster::Gate,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: Option<Instant> = None;
    loop {
        let current = inputs.borrow().clone();
        let now_settings = settings.borrow().clone();
        let every = now_settings.inventory_scan;
        let due = match (every, &current) {
            (Some(every), Some(current)) => {
                let due = last.map_or_else(Instant::now, |t| t + every);
                if due <= Instant::now() {
                    // A follower skips this round but keeps the rhythm.
                    if gate.may_reconcile() {
                        scan_once(&now_settings, current).await;
                    }
                    last = Some(Instant::now());
                    Some(Instant::now() + every)
                } else {
                    Some(due)
                }
            }
            _ => None,
        };
        let wait = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait => {}
            changed = inputs.changed() => if changed.is_err() { return },
            changed = settings.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// One scan of every configured source, recorded; a source that cannot be read keeps
/// its rows as last seen, and a store that cannot record keeps the old rows too.
async fn scan_once(settings: &Settings, inputs: &ScanInputs) {
    let scanner = Scanner::from_settings(
        settings.proxmox.as_ref(),
        settings.proxmox_token.as_ref(),
        &settings.inventory_tools(),
    );
    match sync::scan_and_record(&scanner, &inputs.plan, &inputs.store, ACTOR).await {
        Ok(scans) => {
            for (scan, counts) in scans {
                match (&scan.result, counts) {
                    (Ok(items), Some(c)) => info!(
                        source = %scan.source,
                        items = items.len(),
                        new = c.new,
                        gone = c.gone,
                        "inventory scanned"
                    ),
                    (Err(e), _) => warn!(
                        source = %scan.source,
                        error = %e,
                        "inventory scan failed; keeping the last scan"
                    ),
                    (Ok(_), None) => {}
                }
            }
        }
        Err(e) => warn!(error = %e, "cannot record the inventory scan; keeping the last scan"),
    }
}
