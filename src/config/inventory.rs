//! `[inventory]`: how often the daemon's leader scans the live inventory (Proxmox VE,
//! Docker engines, Kubernetes contexts) into the store, where placement reads it.

use super::ConfigError;
use serde::Deserialize;
use std::time::Duration;

/// Scans every 15 minutes unless set: placement counts an inventory up to a day old.
const DEFAULT_SCAN_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// `[inventory]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    /// `"15m"`, `"1h30m"`, `"90s"`; `"0"` or `"off"` turns the scheduled scan off.
    pub scan_interval: Option<String>,
}

impl RawInventory {
    /// The interval of the scheduled scan; `None`: off.
    pub fn scan_interval(&self) -> Result<Option<Duration>, ConfigError> {
        let Some(text) = self.scan_interval.as_deref().map(str::trim) else {
            return Ok(Some(DEFAULT_SCAN_INTERVAL));
        };
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let every = crate::model::window::parse_span(text).map_err(|e| ConfigError::Invalid {
            key: "inventory.scan_interval",
            message: format!("{e}; expected a duration like \"15m\", or \"off\""),
        })?;
        Ok((!every.is_zero()).then_some(every))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(text: Option<&str>) -> Result<Option<Duration>, ConfigError> {
        RawInventory {
            scan_interval: text.map(str::to_owned),
        }
        .scan_interval()
    }

    #[test]
    fn the_scan_interval_defaults_to_15_minutes_and_turns_off() {
        assert_eq!(interval(None).unwrap(), Some(Duration::from_secs(900)));
        assert_eq!(interval(Some("2s")).unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(
            interval(Some("1h30m")).unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(interval(Some("off")).unwrap(), None);
        assert_eq!(interval(Some("0")).unwrap(), None);
        let err = interval(Some("often")).unwrap_err().to_string();
        assert!(err.contains("inventory.scan_interval"), "{err}");
    }
}
