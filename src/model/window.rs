//! Rollout limits a definition (`spec.policy`) or the daemon's `[policy]` section sets:
//! sync windows (when applies may run) and flapping limits (how many automatic attempts
//! before a resource is left alone). The spellings users write, and their parsing: a
//! crontab schedule and a duration such as `2h` or `1h30m`. Pure.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Whether a window permits applies or forbids them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// Applies run only inside some allow window (when any is set).
    Allow,
    /// No apply runs inside a deny window; deny wins over allow.
    Deny,
}

impl WindowKind {
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Allow => "allow",
            WindowKind::Deny => "deny",
        }
    }
}

/// A window as written: it opens at every time of `schedule` and stays open `duration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncWindow {
    /// Crontab schedule, five fields (minute hour day month weekday), e.g. `0 2 * * *`.
    pub schedule: String,
    /// How long the window stays open, e.g. `2h`, `90m`, `1h30m`.
    pub duration: String,
    pub kind: WindowKind,
}

/// The flapping limit as written: at most `max_attempts` automatic applies (first
/// apply, retries, self-heal) of one render within `window`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// The longest window or flapping period accepted (31 days): longer ones are mistakes.
pub const MAX_DURATION: Duration = Duration::from_secs(31 * 24 * 3600);

/// What is wrong with a window or limit as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("{text:?} is not a cron schedule: {message}")]
    Schedule { text: String, message: String },
    #[error(
        "{text:?} is not a duration: expected a number with a unit (s, m, h, d), e.g. \"2h\" or \"1h30m\""
    )]
    Duration { text: String },
    #[error("{text:?} is out of range: expected from 1m to 31d")]
    DurationRange { text: String },
    #[error("{text:?} never comes (no such date): the window would never open")]
    Never { text: String },
}

/// Parses a crontab schedule: five fields, or six with seconds first.
pub fn parse_schedule(text: &str) -> Result<cron::Schedule, WindowError> {
    let full = if text.split_whitespace().count() == 5 {
        format!("0 {text}")
    } else {
        text.to_owned()
    };
    let schedule = full
        .parse::<cron::Schedule>()
        .map_err(|e| WindowError::Schedule {
            text: text.to_owned(),
            message: e.to_string(),
        })?;
    // From a fixed moment, so the answer never depends on the clock: a date that does not
    // exist (31 February) has no time at all.
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    if schedule.after(&epoch).next().is_none() {
        return Err(WindowError::Never {
            text: text.to_owned(),
        });
    }
    Ok(schedule)
}

/// Parses a duration such as `45s`, `90m`, `2h`, `1h30m` or `1d`, from 1 minute to
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, WindowError> {
    let d = parse_span(text)?;
    if d < Duration::from_secs(60) || d > MAX_DURATION {
        return Err(WindowError::DurationRange {
            text: text.to_owned(),
        });
    }
    Ok(d)
}

/// Parses a duration such as `15s`, `90m` or `1h30m` with no bounds (any span).
pub fn parse_span(text: &str) -> Result<Duration, WindowError> {
    let bad = || WindowError::Duration {
        text: text.to_owned(),
    };
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut parts = 0;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        // At most 9 digits per part: no overflow, and nothing sensible is longer.
        if number.is_empty() || number.len() > 9 {
            return Err(bad());
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
        parts += 1;
    }
    if !number.is_empty() || parts == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// A duration as people read it: `2h`, `1h30m`, `10m`, `1d`.
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    if out.is_empty() { "0s".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written_and_nonsense_is_refused() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "2", "h", "2x", "-1h", "1.5h", "9999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_duration("30s"),
            Err(WindowError::DurationRange { .. })
        ));
        assert!(matches!(
            parse_duration("32d"),
            Err(WindowError::DurationRange { .. })
        ));
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
    }

    #[test]
    fn schedules_take_five_fields() {
        assert!(parse_schedule("0 2 * * *").is_ok());
        assert!(parse_schedule("0 2 * * 1-5").is_ok());
        assert!(parse_schedule("0 25 * * *").is_err());
        assert!(parse_schedule("at night").is_err());
        assert!(matches!(
            parse_schedule("0 0 31 2 *"),
            Err(WindowError::Never { .. })
        ));
        assert!(parse_schedule("0 0 29 2 *").is_ok());
    }
}
