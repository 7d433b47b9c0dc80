//! Sync windows in the loop: given a resource's windows (its own `policy.windows`, else
//! the configured default) and "now" in the daemon's time zone, may it be applied, and
//! if not, why and when does the next window open? Pure: the caller passes the clock.
//!
//! A window opens at every time of its cron schedule and stays open for its duration.
//! With allow windows set, applies run only inside one; inside a deny window nothing
//! runs (deny wins over allow). No windows: always allowed.

use super::ResourceRecord;
use crate::model::window::{
    SyncWindow, WindowKind, format_duration, parse_duration, parse_schedule,
};
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;

/// The key under which the stored policy keeps a resource's own windows.
const STORED_KEY: &str = "windows";

/// How many occurrences of each window the search for the next opening looks at.
const LOOKAHEAD: usize = 64;

/// A parsed window.
#[derive(Debug, Clone)]
pub struct Window {
    spec: SyncWindow,
    schedule: cron::Schedule,
    duration: chrono::Duration,
}

impl Window {
    /// Parses a window as written (validation has reported any error already).
    pub fn parse(spec: &SyncWindow) -> Result<Window, crate::model::window::WindowError> {
        let schedule = parse_schedule(&spec.schedule)?;
        let duration = parse_duration(&spec.duration)?;
        Ok(Window {
            spec: spec.clone(),
            schedule,
            duration: chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX),
        })
    }

    /// Parses every window; the first error wins.
    pub fn parse_all(
        specs: &[SyncWindow],
    ) -> Result<Vec<Window>, crate::model::window::WindowError> {
        specs.iter().map(Window::parse).collect()
    }

    /// The start of the occurrence open at `at`, if one is: the first start after
    /// `at - duration` that is not after `at`.
    fn open_since<Tz: TimeZone>(&self, at: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let from = at.clone() - self.duration;
        let start = self.schedule.after(&from).next()?;
        (start <= *at).then_some(start)
    }

    /// `0 2 * * * for 2h`.
    fn describe(&self) -> String {
        let d = self.duration.to_std().unwrap_or(Duration::ZERO);
        format!("{} for {}", self.spec.schedule, format_duration(d))
    }
}

/// May the resource be applied now?
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Open,
    /// Not now: the reason shown in status, and when the next window opens (none found
    /// within the next occurrences of every window).
    Closed {
        reason: String,
        opens: Option<DateTime<Utc>>,
    },
}

/// Is `at` inside the windows' permission (no deny open, and an allow open if any)?
fn allowed_at<Tz: TimeZone>(windows: &[Window], at: &DateTime<Tz>) -> bool {
    let open = |kind| {
        windows
            .iter()
            .filter(move |w| w.spec.kind == kind)
            .any(|w| w.open_since(at).is_some())
    };
    let any_allow = windows.iter().any(|w| w.spec.kind == WindowKind::Allow);
    !open(WindowKind::Deny) && (!any_allow || open(WindowKind::Allow))
}

/// The first time after `now` at which applies are allowed: the state only changes when
/// an allow window opens or a deny window closes, so those are the candidates.
fn next_opening<Tz: TimeZone>(windows: &[Window], now: &DateTime<Tz>) -> Option<DateTime<Tz>> {
    let mut candidates: Vec<DateTime<Tz>> = Vec::new();
    for w in windows {
        let from = now.clone() - w.duration;
        for start in w.schedule.after(&from).take(LOOKAHEAD) {
            let at = match w.spec.kind {
                WindowKind::Allow => start,
                WindowKind::Deny => start + w.duration,
            };
            if at > *now {
                candidates.push(at);
            }
        }
    }
    candidates.sort();
    candidates.dedup();
    candidates.into_iter().find(|t| allowed_at(windows, t))
}

/// Decides for `windows` at `now`; `now`'s time zone is the one the schedules are read
/// in and the one the next opening is shown in.
pub fn evaluate<Tz: TimeZone>(windows: &[Window], now: &DateTime<Tz>) -> Verdict
where
    Tz::Offset: std::fmt::Display,
{
    if allowed_at(windows, now) {
        return Verdict::Open;
    }
    let deny = windows
        .iter()
        .filter(|w| w.spec.kind == WindowKind::Deny)
        .find(|w| w.open_since(now).is_some());
    let why = match deny {
        Some(w) => format!("inside deny window ({})", w.describe()),
        None => "outside sync window".to_owned(),
    };
    let opens = next_opening(windows, now);
    let reason = match &opens {
        Some(t) => format!(
            "{why}; next window opens {}",
            t.format("%Y-%m-%d %H:%M %:z")
        ),
        None => format!("{why}; no window opens in the next {LOOKAHEAD} occurrences"),
    };
    Verdict::Closed {
        reason,
        opens: opens.map(|t| t.with_timezone(&Utc)),
    }
}

/// The windows that apply to a stored resource: its own (kept in the stored policy),
/// else `defaults`. Own windows that no longer parse count as none (validation refused
/// the definition that had them, so they are never stored).
pub fn resource_windows(record: &ResourceRecord, defaults: &[Window]) -> Vec<Window> {
    match own_windows(record) {
        Some(specs) => specs.iter().filter_map(|s| Window::parse(s).ok()).collect(),
        None => defaults.to_vec(),
    }
}

/// What decides a stored resource's windows: its own as stored, or `None` for the
/// default (resources with the same key get the same verdict at the same moment).
pub fn windows_key(record: &ResourceRecord) -> Option<String> {
    record
        .policy
        .as_ref()?
        .get(STORED_KEY)
        .map(|v| v.to_string())
}

/// A stored resource's own windows (`None`: it sets none and takes the default).
fn own_windows(record: &ResourceRecord) -> Option<Vec<SyncWindow>> {
    let value = record.policy.as_ref()?.get(STORED_KEY)?;
    serde_json::from_value(value.clone()).ok()
}

/// `policy` (a stored effective policy) with the resource's own windows when it sets any.
pub fn with_windows(
    mut policy: serde_json::Value,
    windows: Option<&Vec<SyncWindow>>,
) -> serde_json::Value {
    if let (Some(map), Some(windows)) = (policy.as_object_mut(), windows) {
        map.insert(STORED_KEY.to_owned(), serde_json::json!(windows));
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn w(schedule: &str, duration: &str, kind: WindowKind) -> Window {
        Window::parse(&SyncWindow {
            schedule: schedule.into(),
            duration: duration.into(),
            kind,
        })
        .expect("window")
    }

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).expect("time")
    }

    fn opens(v: &Verdict) -> Option<DateTime<Utc>> {
        match v {
            Verdict::Closed { opens, .. } => *opens,
            Verdict::Open => None,
        }
    }

    #[test]
    fn no_windows_always_allow() {
        assert_eq!(
            evaluate(&[], &at("2026-12-07T12:00:00+01:00")),
            Verdict::Open
        );
    }

    #[test]
    fn an_allow_window_opens_at_its_schedule_for_its_duration() {
        let nightly = [w("0 2 * * *", "2h", WindowKind::Allow)];
        assert_eq!(
            evaluate(&nightly, &at("2026-12-08T02:00:00+01:00")),
            Verdict::Open
        );
        assert_eq!(
            evaluate(&nightly, &at("2026-12-08T03:59:59+01:00")),
            Verdict::Open
        );
        let after = evaluate(&nightly, &at("2026-12-08T04:00:00+01:00"));
        assert_eq!(
            after,
            Verdict::Closed {
                reason: "outside sync window; next window opens 2026-12-09 02:00 +01:00".into(),
                opens: Some(at("2026-12-09T01:00:00Z").with_timezone(&Utc)),
            }
        );
        let before = evaluate(&nightly, &at("2026-12-07T16:00:00+01:00"));
        assert_eq!(
            opens(&before),
            Some(at("2026-12-08T01:00:00Z").with_timezone(&Utc))
        );
    }

    #[test]
    fn a_window_spanning_midnight_is_open_on_both_sides() {
        let late = [w("0 23 * * *", "3h", WindowKind::Allow)];
        assert_eq!(
            evaluate(&late, &at("2026-12-07T23:30:00+00:00")),
            Verdict::Open
        );
        assert_eq!(
            evaluate(&late, &at("2026-12-08T01:59:00+00:00")),
            Verdict::Open
        );
        assert!(matches!(
            evaluate(&late, &at("2026-12-08T02:00:00+00:00")),
            Verdict::Closed { .. }
        ));
        // Read in the daemon's zone: 23:00 at +05:00 is 18:00 UTC.
        assert_eq!(
            evaluate(&late, &at("2026-12-08T00:30:00+05:00")),
            Verdict::Open
        );
        assert!(matches!(
            evaluate(&late, &at("2026-12-08T00:30:00+00:00")),
            Verdict::Open
        ));
    }

    #[test]
    fn deny_wins_over_an_overlapping_allow_and_the_next_opening_is_after_it() {
        let windows = [
            w("0 0 * * *", "1d", WindowKind::Allow),
            w("0 9 * * MON-FRI", "8h", WindowKind::Deny),
        ];
        // Monday 2026-12-07, 10:00: inside the deny window, inside the allow window.
        let v = evaluate(&windows, &at("2026-12-07T10:00:00+00:00"));
        assert_eq!(
            v,
            Verdict::Closed {
                reason: "inside deny window (0 9 * * MON-FRI for 8h); next window opens 2026-12-07 17:00 +00:00"
                    .into(),
                opens: Some(at("2026-12-07T17:00:00Z").with_timezone(&Utc)),
            }
        );
        assert_eq!(
            evaluate(&windows, &at("2026-12-07T17:00:00+00:00")),
            Verdict::Open
        );
        // Saturday: no deny.
        assert_eq!(
            evaluate(&windows, &at("2026-12-12T10:00:00+00:00")),
            Verdict::Open
        );
    }

    #[test]
    fn a_deny_window_alone_blocks_only_while_open() {
        let freeze = [w("0 18 * * FRI", "2d", WindowKind::Deny)];
        // Friday 2026-12-11 20:00 → Sunday 18:00.
        let v = evaluate(&freeze, &at("2026-12-11T20:00:00+00:00"));
        assert_eq!(
            opens(&v),
            Some(at("2026-12-13T18:00:00Z").with_timezone(&Utc))
        );
        assert_eq!(
            evaluate(&freeze, &at("2026-12-10T20:00:00+00:00")),
            Verdict::Open
        );
    }

    #[test]
    fn an_allow_window_inside_a_deny_window_is_skipped_for_the_next_one() {
        let windows = [
            w("0 2 * * *", "1h", WindowKind::Allow),
            w("0 0 8 12 *", "1d", WindowKind::Deny),
        ];
        // 2026-12-07 12:00: tonight's 02:00 allow falls inside the 8 December freeze.
        let v = evaluate(&windows, &at("2026-12-07T12:00:00+00:00"));
        assert_eq!(
            opens(&v),
            Some(at("2026-12-09T02:00:00Z").with_timezone(&Utc))
        );
    }

    #[test]
    fn a_window_that_never_opens_says_so() {
        let windows = [
            w("0 2 * * *", "1h", WindowKind::Allow),
            w("* * * * *", "1h", WindowKind::Deny),
        ];
        let v = evaluate(&windows, &at("2026-12-07T12:00:00+00:00"));
        assert!(
            matches!(&v, Verdict::Closed { reason, opens: None } if reason.contains("no window opens")),
            "{v:?}"
        );
    }

    #[test]
    fn own_windows_win_over_the_default_and_an_empty_list_means_always() {
        let defaults = [w("0 2 * * *", "1h", WindowKind::Allow)];
        let mut record = ResourceRecord::new_for_tests("web");
        record.policy = Some(serde_json::json!({"apply": "auto"}));
        assert_eq!(resource_windows(&record, &defaults).len(), 1);
        record.policy = Some(with_windows(
            serde_json::json!({"apply": "auto"}),
            Some(&Vec::new()),
        ));
        assert!(resource_windows(&record, &defaults).is_empty());
    }
}
