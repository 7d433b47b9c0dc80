//! The leader's scheduled inventory scan (`[inventory] scan_interval`): every interval it
//! scans the Proxmox VE API, the Docker engines and the Kubernetes contexts of the last
//! revision and records them in the store exactly as `discover-proxmox-resources` with
//! `sync_to_database` does, so placement counts live load that is at most one interval
//! old. The loop publishes the last revision's outcome after each pass ([`ScanInputs`]);
//! what to scan (the sources and claims) is prepared from it only when a scan is due,
//! once per revision, in this task — never on the loop's pass. Followers do not scan.
//!
//! Each scan is published in the daemon's status (the MCP views placed around the old
//! inventory are dropped when they see it). A source that cannot be read is logged at
//! WARN and recorded in the audit log (`inventory.scan_failed`, which `homelabd status`
//! shows) once per error; while the same error repeats it is logged at debug only.

use crate::config::Settings;
use crate::control::DaemonStatus;
use crate::control::status::{InventoryScanStatus, ScanSourceStatus};
use crate::observe::inventory::scan::{Scanner, SourceScan};
use crate::observe::inventory::sync::{self, Plan};
use crate::pipeline::Outcome;
use crate::store::{AuditRecord, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Who the scheduled scan records as in the audit log.
const ACTOR: &str = "homelabd (scheduled inventory scan)";

/// What the scan needs from the loop: the store and the last revision's outcome.
pub struct ScanInputs {
    pub store: Arc<Store>,
    pub outcome: Arc<Outcome>,
    /// `[executors.kubernetes] context`.
    pub default_context: Option<String>,
}

impl ScanInputs {
    /// The sources and claims of this revision.
    fn plan(&self) -> Plan {
        let pools = crate::place::resolve_pools(&self.outcome.catalog);
        Plan::of(
            &pools,
            self.default_context.as_deref(),
            self.outcome.decisions.values(),
            self.outcome
                .catalog
                .resources
                .iter()
                // Only an `adopt` value is read: other documents may be lean.
                .filter(|(_, e)| e.object.spec.chart.values.contains_key("adopt"))
                .map(|(name, e)| (name, e.doc.value())),
        )
    }
}

/// The loop's side: the latest inputs (`None` until a pass ran with the store).
pub type Publisher = watch::Sender<Option<Arc<ScanInputs>>>;

/// What to say about one source after a scan, given its last error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    /// Read, as before.
    Quiet,
    /// Read again after failing.
    Recovered,
    /// Failed for the first time, or with another error than last time.
    Failed,
    /// Failed with the same error as last time.
    Repeated,
}

/// Decides the notice (pure): WARN once per error, not at every interval.
fn notice(last_error: Option<&str>, error: Option<&str>) -> Notice {
    match (last_error, error) {
        (None, None) => Notice::Quiet,
        (Some(_), None) => Notice::Recovered,
        (Some(before), Some(now)) if before == now => Notice::Repeated,
        (_, Some(_)) => Notice::Failed,
    }
}

/// What the task keeps between scans.
#[derive(Default)]
struct ScanState {
    /// The plan of the inputs it was made from.
    plan: Option<(Arc<ScanInputs>, Arc<Plan>)>,
    /// Each failing source's last error.
    failing: BTreeMap<String, String>,
}

impl ScanState {
    /// The plan of `inputs`, made once per published revision.
    fn plan_for(&mut self, inputs: &Arc<ScanInputs>) -> Arc<Plan> {
        if let Some((of, plan)) = &self.plan
            && Arc::ptr_eq(of, inputs)
        {
            return plan.clone();
        }
        let plan = Arc::new(inputs.plan());
        self.plan = Some((inputs.clone(), plan.clone()));
        plan
    }
}

/// Scans at every interval until shutdown, on the leader only; follows the interval of a
/// reloaded configuration. The first scan runs as soon as the first inputs arrive.
pub async fn run(
    mut settings: watch::Receiver<Arc<Settings>>,
    mut inputs: watch::Receiver<Option<Arc<ScanInputs>>>,
    gate: crate::cluster::Gate,
    status: Arc<DaemonStatus>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last: Option<Instant> = None;
    let mut state = ScanState::default();
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
                        scan_once(&now_settings, current, &mut state, &status).await;
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
async fn scan_once(
    settings: &Settings,
    inputs: &Arc<ScanInputs>,
    state: &mut ScanState,
    status: &DaemonStatus,
) {
    let plan = state.plan_for(inputs);
    let scanner = Scanner::from_settings(
        settings.proxmox.as_ref(),
        settings.proxmox_token.as_ref(),
        &settings.inventory_tools(),
    );
    let at = chrono::Utc::now();
    let scans = match sync::scan_and_record(&scanner, &plan, &inputs.store, ACTOR).await {
        Ok(scans) => scans,
        Err(e) => {
            warn!(error = %e, "cannot record the inventory scan; keeping the last scan");
            return;
        }
    };
    let mut sources = Vec::new();
    for (scan, counts) in &scans {
        let error = scan.result.as_ref().err().map(ToString::to_string);
        let error = error.as_deref();
        if let (Ok(items), Some(c)) = (&scan.result, counts) {
            info!(source = %scan.source, items = items.len(), new = c.new, gone = c.gone, "inventory scanned");
        }
        let last_error = state.failing.get(&scan.source).map(String::as_str);
        match notice(last_error, error) {
            Notice::Quiet => {}
            Notice::Recovered => {
                info!(source = %scan.source, "inventory source readable again");
                state.failing.remove(&scan.source);
            }
            Notice::Repeated => {
                debug!(source = %scan.source, error = error.unwrap_or_default(), "inventory scan failed again with the same error; keeping the last scan");
            }
            Notice::Failed => {
                let error = error.unwrap_or_default().to_owned();
                warn!(source = %scan.source, error = %error, "inventory scan failed; keeping the last scan (logged again only when the error changes; see homelabd status)");
                record_failure(&inputs.store, scan, &error).await;
                state.failing.insert(scan.source.clone(), error);
            }
        }
        sources.push(ScanSourceStatus {
            source: scan.source.clone(),
            items: scan.result.as_ref().ok().map(Vec::len),
            error: error.map(str::to_owned),
        });
    }
    status.update(|s| s.inventory_scan = Some(InventoryScanStatus { at, sources }));
}

/// The audit row `homelabd status` shows for a source that cannot be read.
async fn record_failure(store: &Store, scan: &SourceScan, error: &str) {
    let row = AuditRecord {
        at: scan.seen_at,
        actor: ACTOR.to_owned(),
        action: crate::store::SCAN_FAILED.to_owned(),
        subject: scan.source.clone(),
        details: serde_json::json!({ "error": error }),
    };
    if let Err(e) = store.record_audit(&row, None).await {
        warn!(error = %e, "cannot record the inventory scan failure");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_source_is_told_once_per_error_and_when_it_recovers() {
        let missing = "context \"homelab\" does not exist";
        assert_eq!(notice(None, None), Notice::Quiet);
        assert_eq!(notice(None, Some(missing)), Notice::Failed);
        assert_eq!(notice(Some(missing), Some(missing)), Notice::Repeated);
        assert_eq!(notice(Some(missing), Some("timeout")), Notice::Failed);
        assert_eq!(notice(Some(missing), None), Notice::Recovered);
    }
}
