//! The systemd watchdog, pinged only on evidence of progress.
//!
//! A ping from a task on the async runtime would prove only that one task still gets
//! scheduled: a loop stuck in a pass, or a worker blocked by CPU work, would go on being
//! reported alive. Instead a thread of its own ([`spawn`]) pings `WATCHDOG=1` every
//! period, and only while both hold ([`judge`]):
//!
//! - the runtime runs tasks: a small task beats [`Progress::runtime_beat`] every period;
//! - the reconcile loop progresses: idle and waking every period to say so
//!   ([`Progress::idle`]), or inside a pass that has run for less than its bound
//!   ([`max_pass`]: twice the executor timeout, at least 10 minutes).
//!
//! When either stops, the pings stop and systemd restarts the daemon after
//! `WatchdogSec=`. The reason is logged once when pings stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the loop and the runtime last showed, in milliseconds since [`Progress::new`].
#[derive(Debug)]
pub struct Progress {
    origin: Instant,
    runtime: AtomicU64,
    idle: AtomicU64,
    /// 0 while idle, else the start of the running pass plus 1.
    busy_since: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            origin: Instant::now(),
            runtime: AtomicU64::new(0),
            idle: AtomicU64::new(0),
            busy_since: AtomicU64::new(0),
        }
    }
}

/// The evidence at one moment (pure input of [`judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub now: Duration,
    pub runtime: Duration,
    pub idle: Duration,
    pub busy_since: Option<Duration>,
}

impl Progress {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// The runtime ran the beating task.
    pub fn runtime_beat(&self) {
        self.runtime.store(self.now(), Ordering::Relaxed);
    }

    /// The loop is waiting for work, and awake.
    pub fn idle(&self) {
        let now = self.now();
        self.busy_since.store(0, Ordering::Relaxed);
        self.idle.store(now, Ordering::Relaxed);
    }

    /// The loop started working on a pass (or a drift check).
    pub fn pass_started(&self) {
        self.busy_since.store(self.now() + 1, Ordering::Relaxed);
    }

    /// What the thread judges by.
    pub fn evidence(&self) -> Evidence {
        let ms = Duration::from_millis;
        let busy = self.busy_since.load(Ordering::Relaxed);
        Evidence {
            now: ms(self.now()),
            runtime: ms(self.runtime.load(Ordering::Relaxed)),
            idle: ms(self.idle.load(Ordering::Relaxed)),
            busy_since: (busy > 0).then(|| ms(busy - 1)),
        }
    }
}

/// Why the watchdog is not pinged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// The runtime has not run the beating task within `stale`.
    Runtime { silent: Duration },
    /// The loop is idle but has not woken within `stale`.
    Loop { silent: Duration },
    /// A pass has run past its bound.
    Pass { running: Duration },
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stall::Runtime { silent } => write!(
                f,
                "the async runtime has run no task for {} ms",
                silent.as_millis()
            ),
            Stall::Loop { silent } => write!(
                f,
                "the reconcile loop has not woken for {} ms",
                silent.as_millis()
            ),
            Stall::Pass { running } => {
                write!(f, "a pass has been running for {} s", running.as_secs())
            }
        }
    }
}

/// Ping or not: evidence older than `stale` (the watchdog period) counts as none.
pub fn judge(e: &Evidence, stale: Duration, max_pass: Duration) -> Result<(), Stall> {
    let silent = e.now.saturating_sub(e.runtime);
    if silent > stale {
        return Err(Stall::Runtime { silent });
    }
    match e.busy_since {
        Some(since) => {
            let running = e.now.saturating_sub(since);
            if running > max_pass {
                return Err(Stall::Pass { running });
            }
        }
        None => {
            let silent = e.now.saturating_sub(e.idle);
            if silent > stale {
                return Err(Stall::Loop { silent });
            }
        }
    }
    Ok(())
}

/// The longest a pass may run before the watchdog gives up on it: twice the executor
/// timeout (an apply phase waits for its tools), at least 10 minutes.
pub fn max_pass(executor_timeout: Duration) -> Duration {
    (executor_timeout * 2).max(Duration::from_secs(600))
}

/// Starts the pinging thread: every `period` it judges `progress` (evidence older than
/// twice `period` is stale) and sends `WATCHDOG=1` when all is well. Ends when `stop` is
/// set.
pub fn spawn(
    progress: Arc<Progress>,
    period: Duration,
    max_pass: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let mut stalled = false;
            while !stop.load(Ordering::Relaxed) {
                match judge(&progress.evidence(), period * 2, max_pass) {
                    Ok(()) => {
                        if stalled {
                            tracing::info!("progress again: watchdog pings resume");
                        }
                        stalled = false;
                        super::notify::watchdog();
                    }
                    Err(stall) => {
                        if !stalled {
                            tracing::error!(reason = %stall, "no progress: the systemd watchdog is no longer pinged, so systemd restarts the daemon");
                        }
                        stalled = true;
                    }
                }
                std::thread::sleep(period);
            }
        })
}

/// A hook for the watchdog's integration test, compiled into debug builds only (the
/// release binary has no such variable): `HOMELABD_DEBUG_STALL_LOOP=AFTER,FOR` blocks the
/// reconcile loop's worker thread for FOR seconds, AFTER seconds after the loop started,
/// as a loop stuck in blocking work would.
#[cfg(debug_assertions)]
pub mod debug_stall {
    use std::time::{Duration, Instant};

    /// When and how long to stall, once.
    #[derive(Debug)]
    pub struct Stall {
        at: Option<(Instant, Duration)>,
    }

    impl Stall {
        /// Reads `HOMELABD_DEBUG_STALL_LOOP`.
        pub fn from_env() -> Stall {
            let at = std::env::var("HOMELABD_DEBUG_STALL_LOOP")
                .ok()
                .and_then(|v| {
                    let (after, length) = v.split_once(',')?;
                    Some((
                        Instant::now() + Duration::from_secs(after.trim().parse().ok()?),
                        Duration::from_secs(length.trim().parse().ok()?),
                    ))
                });
            Stall { at }
        }

        /// Blocks the calling thread once, when the time has come.
        pub fn maybe(&mut self) {
            if let Some((when, length)) = self.at
                && Instant::now() >= when
            {
                self.at = None;
                tracing::warn!(seconds = length.as_secs(), "debug hook: stalling the loop");
                std::thread::sleep(length);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn at(now: u64, runtime: u64, idle: u64, busy: Option<u64>) -> Evidence {
        Evidence {
            now: S * now as u32,
            runtime: S * runtime as u32,
            idle: S * idle as u32,
            busy_since: busy.map(|b| S * b as u32),
        }
    }

    #[test]
    fn an_idle_loop_that_wakes_and_a_running_runtime_are_pinged() {
        assert_eq!(judge(&at(10, 9, 9, None), 2 * S, 600 * S), Ok(()));
    }

    #[test]
    fn a_silent_runtime_or_loop_is_not() {
        assert_eq!(
            judge(&at(10, 5, 9, None), 2 * S, 600 * S),
            Err(Stall::Runtime { silent: 5 * S })
        );
        assert_eq!(
            judge(&at(10, 9, 5, None), 2 * S, 600 * S),
            Err(Stall::Loop { silent: 5 * S })
        );
    }

    #[test]
    fn a_pass_is_pinged_until_its_bound() {
        assert_eq!(judge(&at(700, 699, 0, Some(200)), 2 * S, 600 * S), Ok(()));
        assert_eq!(
            judge(&at(900, 899, 0, Some(200)), 2 * S, 600 * S),
            Err(Stall::Pass { running: 700 * S })
        );
        assert_eq!(max_pass(1800 * S), 3600 * S);
        assert_eq!(max_pass(S), 600 * S);
    }

    #[test]
    fn progress_records_what_the_loop_says() {
        let p = Progress::default();
        p.runtime_beat();
        p.pass_started();
        assert!(p.evidence().busy_since.is_some());
        p.idle();
        let e = p.evidence();
        assert_eq!(e.busy_since, None);
        assert_eq!(judge(&e, S, S), Ok(()));
    }
}
