//! Trigger sources: inotify on a local repository's refs, a poll timer with backoff, the
//! cron resync schedule, and requests left in the store by `homelabd reconcile`.

use super::trigger::Trigger;
use crate::config::Settings;
use crate::store::{RequestAction, Store};
use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Watches `git_dir` (refs, packed-refs, HEAD) and sends a fetch trigger on any change.
/// The returned watcher must be kept alive.
pub fn watch_refs(
    git_dir: &Path,
    tx: mpsc::Sender<Trigger>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let relevant = event.paths.iter().any(|p| {
                let s = p.to_string_lossy();
                s.contains("/refs/") || s.ends_with("packed-refs") || s.ends_with("HEAD")
            });
            if relevant && !event.kind.is_access() {
                // A full channel means a fetch is already pending: level-triggered, fine.
                let _ = tx.try_send(Trigger::Fetch {
                    reason: "refs changed".to_owned(),
                });
            }
        }
    })?;
    watcher.watch(&git_dir.join("refs"), RecursiveMode::Recursive)?;
    watcher.watch(git_dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// How long the loop waits for the triggers after the first to stop arriving, and at
/// most in all: a `git commit` or `git push` changes several refs and logs within a few
/// milliseconds, each an inotify event, and they make one pass. A fixed 50 ms wait was
/// a sixth of a one-change commit's latency at 10,000 definitions; a trigger that comes
/// after the pause only makes another pass on the same head, which ends at once.
const QUIET: Duration = Duration::from_millis(10);
const SETTLE_AT_MOST: Duration = Duration::from_millis(50);

/// Returns once no trigger arrived on `rx` for [`QUIET`], or [`SETTLE_AT_MOST`] after
/// the call; the triggers stay queued for the caller to gather.
pub(super) async fn settle<T>(rx: &mpsc::Receiver<T>) {
    let deadline = tokio::time::Instant::now() + SETTLE_AT_MOST;
    let mut queued = rx.len();
    loop {
        tokio::time::sleep(
            QUIET.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
        )
        .await;
        let now = rx.len();
        if now == queued || tokio::time::Instant::now() >= deadline {
            return;
        }
        queued = now;
    }
}

/// Sends a fetch trigger every poll interval until shutdown; follows interval changes
/// from a reloaded configuration. `local` repositories (watched by inotify) are polled at
/// most every 30 s, as a safety net for missed events.
pub async fn poll(
    mut settings: watch::Receiver<Arc<Settings>>,
    local: bool,
    tx: mpsc::Sender<Trigger>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let every = settings.borrow().poll_interval;
        let every = if local {
            every.max(Duration::from_secs(30))
        } else {
            every
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {
                let _ = tx.try_send(Trigger::Fetch { reason: "poll".to_owned() });
            }
            changed = settings.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends a full reconcile trigger at every time of the resync schedule until shutdown;
/// follows schedule changes from a reloaded configuration.
pub async fn resync(
    settings: watch::Receiver<Arc<Settings>>,
    tx: mpsc::Sender<Trigger>,
    shutdown: watch::Receiver<bool>,
) {
    on_schedule(
        settings,
        |s| &s.resync,
        tx,
        shutdown,
        || Trigger::Reconcile {
            resource: None,
            reason: "scheduled resync".to_owned(),
        },
    )
    .await
}

/// Sends an observe trigger at every time of the drift schedule until shutdown.
pub async fn observe(
    settings: watch::Receiver<Arc<Settings>>,
    tx: mpsc::Sender<Trigger>,
    shutdown: watch::Receiver<bool>,
) {
    on_schedule(
        settings,
        |s| &s.observe,
        tx,
        shutdown,
        || Trigger::Observe {
            reason: "scheduled drift check".to_owned(),
        },
    )
    .await
}

/// Sends `make()` at every time of the schedule `pick` selects, following reloads.
async fn on_schedule(
    mut settings: watch::Receiver<Arc<Settings>>,
    pick: fn(&Settings) -> &cron::Schedule,
    tx: mpsc::Sender<Trigger>,
    mut shutdown: watch::Receiver<bool>,
    make: fn() -> Trigger,
) {
    loop {
        let next = pick(&settings.borrow()).upcoming(chrono::Utc).next();
        let Some(next) = next else { return };
        let wait = (next - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::from_secs(1));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                let _ = tx.try_send(make());
            }
            changed = settings.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

/// Turns reconcile requests queued in the store into triggers.
pub async fn store_requests(
    store: Arc<Store>,
    tx: mpsc::Sender<Trigger>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(requests) = store.take_reconcile_requests().await {
                    for r in requests {
                        let reason = format!("{} requested by {}", r.action.as_str(), r.requested_by);
                        let trigger = match r.action {
                            RequestAction::Apply | RequestAction::Prune => Trigger::Apply {
                                resource: r.resource,
                                prune: r.action == RequestAction::Prune,
                                ignore_windows: r.ignore_windows,
                                reason,
                            },
                            RequestAction::Observe => Trigger::Observe { reason },
                            RequestAction::Rollback => match r.resource {
                                Some(resource) => Trigger::Rollback {
                                    resource,
                                    revision: r.revision,
                                    by: r.requested_by,
                                    reason,
                                },
                                // `homelabd rollback` always names one; nothing to roll back.
                                None => continue,
                            },
                            RequestAction::Reconcile => {
                                Trigger::Reconcile { resource: r.resource, reason }
                            }
                        };
                        let _ = tx.send(trigger).await;
                    }
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}
