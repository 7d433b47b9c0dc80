//! systemd readiness and watchdog notifications (`sd_notify(3)`), over the `sd-notify` crate.
//!
//! Every function is a no-op when `NOTIFY_SOCKET` is unset (not started by systemd with
//! `Type=notify`). Sending failures are logged and otherwise ignored: a lost notification
//! must never stop the daemon, and systemd's own timeouts cover a daemon that cannot reach it.

use sd_notify::NotifyState;
use std::time::Duration;

/// The environment variable systemd sets to the notification socket's path.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The longest `STATUS=` text sent; systemd shows it in `systemctl status`.
const MAX_STATUS_LEN: usize = 200;

/// Tells systemd the daemon is ready (`READY=1`).
pub fn ready() {
    send(&[NotifyState::Ready], "READY");
}

/// Sets the one-line status shown by `systemctl status` (`STATUS=…`). Newlines and other
/// control characters are replaced by spaces and the text is cut at 200 characters.
pub fn status(text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_STATUS_LEN)
        .collect();
    send(&[NotifyState::Status(&clean)], "STATUS");
}

/// Pings the service watchdog (`WATCHDOG=1`).
pub fn watchdog() {
    send(&[NotifyState::Watchdog], "WATCHDOG");
}

/// Tells systemd the daemon is shutting down (`STOPPING=1`).
pub fn stopping() {
    send(&[NotifyState::Stopping], "STOPPING");
}

/// Tells systemd the daemon is reloading its configuration (`RELOADING=1` with the
/// `MONOTONIC_USEC=` that systemd 253+ expects). Send [`ready`] when the reload is done.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now], "RELOADING"),
        Err(_) => send(&[NotifyState::Reloading], "RELOADING"),
    }
}

/// How often to call [`watchdog`]: half of `WATCHDOG_USEC`, or `None` when the watchdog is
/// off, `WATCHDOG_PID` names another process, or `NOTIFY_SOCKET` is unset.
pub fn watchdog_interval() -> Option<Duration> {
    std::env::var_os(NOTIFY_SOCKET)?;
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

fn send(states: &[NotifyState<'_>], what: &str) {
    if std::env::var_os(NOTIFY_SOCKET).is_none() {
        return;
    }
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(%err, notification = what, "sd_notify failed");
    }
}
