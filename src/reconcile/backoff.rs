//! Per-resource retry policy: a failing resource waits longer each time, a healthy one is
//! never held up by it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The pure error policy: how long to wait after `failures` consecutive failures.
pub fn delay(failures: u32, base: Duration, max: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1).min(20))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

/// Failures and next allowed attempt, per resource.
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, (u32, Instant)>,
    base: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            entries: HashMap::new(),
            base,
            max,
        }
    }

    /// The base and the cap of the delay.
    pub fn limits(&self) -> (Duration, Duration) {
        (self.base, self.max)
    }

    /// Changes base and cap for future failures (after a configuration reload).
    pub fn set_limits(&mut self, base: Duration, max: Duration) {
        self.base = base;
        self.max = max;
    }

    /// Records a failure and returns the delay until the next attempt.
    pub fn failed(&mut self, resource: &str, now: Instant) -> Duration {
        let failures = self.entries.get(resource).map_or(0, |e| e.0) + 1;
        let wait = delay(failures, self.base, self.max);
        self.entries
            .insert(resource.to_owned(), (failures, now + wait));
        wait
    }

    /// Forgets a resource's failures.
    pub fn succeeded(&mut self, resource: &str) {
        self.entries.remove(resource);
    }

    /// Is the resource waiting out a backoff at `now`?
    pub fn waiting(&self, resource: &str, now: Instant) -> bool {
        self.entries
            .get(resource)
            .is_some_and(|(_, until)| *until > now)
    }

    /// When `resource` may be retried (`None`: not backing off).
    pub fn retry_at(&self, resource: &str) -> Option<Instant> {
        self.entries.get(resource).map(|(_, until)| *until)
    }

    /// The earliest time any waiting resource may be retried.
    pub fn next_retry(&self) -> Option<Instant> {
        self.entries.values().map(|(_, until)| *until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(delay(1, s(5), s(600)), s(5));
        assert_eq!(delay(2, s(5), s(600)), s(10));
        assert_eq!(delay(4, s(5), s(600)), s(40));
        assert_eq!(delay(30, s(5), s(600)), s(600));
    }

    #[test]
    fn one_failing_resource_does_not_hold_up_another() {
        let now = Instant::now();
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(60));
        b.failed("bad", now);
        assert!(b.waiting("bad", now));
        assert!(!b.waiting("good", now));
        assert!(!b.waiting("bad", now + Duration::from_secs(6)));
        b.succeeded("bad");
        assert!(!b.waiting("bad", now));
    }
}
