//! What SIGHUP does with a re-read configuration: every setting is either live (applied
//! at once) or read only at start (kept as it is, and reported as needing a restart).
//!
//! [`Settings::reload`] destructures the new settings field by field, with no `..`: a
//! field added to [`Settings`] does not compile until it is classified here, so no key
//! can be silently ignored by a reload again.

use serde::Serialize;

use super::Settings;

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reload {
    /// Keys (as written in `config.toml`, or the credential's name) that changed and are
    /// in effect now.
    pub applied: Vec<&'static str>,
    /// Keys that changed but are read only at start: the running value is kept until
    /// the daemon restarts.
    pub needs_restart: Vec<&'static str>,
}

impl Settings {
    /// The settings to run with after SIGHUP re-read `new`: live keys taken from `new`,
    /// start-only keys kept from `self`; and which keys changed, by kind.
    pub fn reload(&self, new: Settings) -> (Settings, Reload) {
        let Settings {
            repo,
            branch,
            sub_path,
            poll_interval,
            ssh_key,
            git_token,
            state_dir,
            database_url,
            listen,
            resync,
            parallelism,
            backoff_base,
            backoff_max,
            shutdown_deadline,
            default_apply,
            default_self_heal,
            default_prune,
            default_windows,
            default_flapping,
            webhook_secret,
            propose,
            executors,
            observe,
            inventory_scan,
            max_prune_fraction,
            proxmox,
            proxmox_token,
            mcp,
            notify,
            limits,
            verify,
            secrets_identity_file,
            ui,
        } = new;
        let mut running = self.clone();
        let mut report = Reload::default();
        // Live: read by the loop and the timer tasks on every use.
        macro_rules! live {
            ($field:ident, $key:literal) => {
                if running.$field != $field {
                    running.$field = $field;
                    report.applied.push($key);
                }
            };
        }
        // Start-only: built into long-lived parts (the tracked repository, the store, the
        // listener, executors, observers, the MCP server, the notification task).
        macro_rules! restart {
            ($field:ident, $key:literal) => {
                if self.$field != $field {
                    report.needs_restart.push($key);
                }
            };
        }
        restart!(repo, "source.repo");
        restart!(branch, "source.branch");
        restart!(sub_path, "source.path");
        live!(poll_interval, "source.poll_interval_seconds");
        restart!(ssh_key, "source.ssh_key");
        // Read by the loop before every pass.
        live!(verify, "source.verify");
        restart!(git_token, "credential git-token");
        restart!(state_dir, "state.dir");
        restart!(database_url, "state.database_url");
        restart!(listen, "http.listen");
        live!(resync, "reconcile.resync_schedule");
        live!(parallelism, "reconcile.parallelism");
        live!(backoff_base, "reconcile.backoff_base_seconds");
        live!(backoff_max, "reconcile.backoff_max_seconds");
        live!(shutdown_deadline, "reconcile.shutdown_deadline_seconds");
        live!(observe, "reconcile.observe_schedule");
        // Read by the scan task before every wait.
        live!(inventory_scan, "inventory.scan_interval");
        live!(max_prune_fraction, "reconcile.max_prune_fraction");
        live!(default_apply, "policy.apply");
        live!(default_self_heal, "policy.self_heal");
        live!(default_prune, "policy.prune");
        live!(default_windows, "policy.windows");
        live!(default_flapping, "policy.flapping");
        restart!(webhook_secret, "credential webhook-secret");
        restart!(propose, "propose");
        restart!(executors, "executors");
        restart!(proxmox, "proxmox");
        restart!(proxmox_token, "credential proxmox-token");
        restart!(mcp, "mcp");
        restart!(notify, "notify");
        // The engine (and its bounds) is built once at start.
        restart!(limits, "limits");
        // The identity is loaded into the keyring once at start.
        restart!(secrets_identity_file, "secrets.identity_file");
        // The dashboard's router and its sessions are built once at start.
        restart!(ui, "ui");
        (running, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, RawConfig};

    fn settings(text: &str) -> Settings {
        let dir = std::env::temp_dir();
        let raw = RawConfig::parse(
            &format!("[source]\nrepo = {:?}\n{text}", dir.display()),
            "test",
        )
        .unwrap();
        Settings::resolve(raw, &Overrides::default()).unwrap()
    }

    #[test]
    fn live_keys_are_applied_and_start_only_keys_kept_and_reported() {
        let old = settings("[reconcile]\nparallelism = 2\n");
        let new = settings(
            "[reconcile]\nparallelism = 8\nbackoff_max_seconds = 60\n\
             [executors]\ntimeout_seconds = 7\n[mcp]\nread_only = true\n",
        );
        let (running, report) = old.reload(new);
        assert_eq!(
            report.applied,
            ["reconcile.parallelism", "reconcile.backoff_max_seconds"]
        );
        assert_eq!(report.needs_restart, ["executors", "mcp"]);
        assert_eq!(running.parallelism, 8);
        assert_eq!(running.backoff_max.as_secs(), 60);
        assert_eq!(running.executors, old.executors, "kept until a restart");
        assert_eq!(running.mcp, old.mcp);
    }

    #[test]
    fn an_unchanged_file_reports_nothing() {
        let old = settings("");
        let (_, report) = old.reload(settings(""));
        assert_eq!(report, Reload::default());
    }
}
