//! The web dashboard under `/ui/` on the daemon's listener: what an operator checks on
//! a phone — does the homelab match git — plus the two actions the daemon takes on
//! request (apply now, reconcile now). Everything else changes through git.
//!
//! | method, path | answers |
//! |---|---|
//! | `GET /`, `GET /ui` | redirect to `/ui/` |
//! | `GET /ui/login`, `POST /ui/login`, `POST /ui/logout` | login with an MCP token, logout |
//! | `GET /ui/` | overview: revision and commit message, health, counts, deviations, failing and waiting resources, last passes |
//! | `GET /ui/resources` | resources filtered by provider, pool, state and text (the text through [`search`], in memory), paged |
//! | `GET /ui/resources/{name}` | one resource: source, placement and reasons, rendered files with the diff from what was applied, runs, deviations, endpoints, policy |
//! | `GET /ui/pools` | the pool tree: per node capacity (with `cpu_overcommit`), bookings, GPUs and live load; a big pool's busiest nodes, all of them with `?path=` (paged) |
//! | `GET /ui/proposals`, `/ui/audit`, `/ui/notifications` | proposals and pull-request previews, the audit log, notification sinks |
//! | `GET /ui/events` | server-sent events: `change` whenever the daemon's status or the store changes |
//! | `POST /ui/reconcile`, `POST /ui/resources/{name}/apply` and `/reconcile` | queue a request (propose scope) |
//!
//! Layout: [`session`] (what a login is, CSRF tokens, cookies), [`views`] (records to
//! view models), [`pools`] (the pool tree with bookings and live load), [`search`] (the
//! text filter's in-memory view of the resources), [`files`]
//! (rendered against applied files) and [`templates`] are the pure core; [`handlers`] is
//! the axum shell (logins kept in the store, so they survive restarts and are shared by
//! a cluster) and [`live`] polls the store's change counter for the event streams. Data
//! comes from the store (paging and filters in SQL) and the daemon's live
//! [`DaemonStatus`]; actions go through the store's request queue, as `homelabd apply` /
//! `homelabd reconcile` do, with an audit row `ui:<token>`.

pub mod files;
mod handlers;
pub mod live;
pub mod pools;
pub mod search;
pub mod session;
pub mod templates;
pub mod views;

pub use crate::config::ui::UiSettings;
pub use handlers::{Ui, router};

use crate::config::Settings;
use crate::control::status::DaemonStatus;
use crate::source::TrackedRepo;
use std::sync::Arc;

/// The daemon's dashboard router (with its own store connection), or `None` when
/// `[ui] enabled = false`.
pub async fn daemon_router(
    settings: &Settings,
    repo: &TrackedRepo,
    status: Arc<DaemonStatus>,
    guard: Arc<crate::mcp::auth::Guard>,
    stop: tokio_util::sync::CancellationToken,
) -> Option<axum::Router> {
    if !settings.ui.enabled {
        return None;
    }
    let store = match crate::store::Store::connect(&settings.database_url).await {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: store unavailable; pages show the daemon's status only");
            None
        }
    };
    let ui = match Ui::new(settings, Some(repo.clone()), store, status, guard, stop) {
        Ok(ui) => ui,
        Err(e) => {
            tracing::error!(error = %e, "dashboard disabled");
            return None;
        }
    };
    Some(router(Arc::new(ui)))
}
