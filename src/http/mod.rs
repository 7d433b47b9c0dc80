//! The daemon's HTTP listener: health, readiness, Prometheus metrics and the signed
//! webhook receivers.
//!
//! | method, path | answers |
//! |---|---|
//! | `GET /healthz` | 200 `ok` while the process serves requests |
//! | `GET /readyz` | 200 JSON when ready and the database is up, else 503 JSON naming the component; reasons and errors only with an MCP token |
//! | `GET /metrics` | Prometheus text (OpenMetrics when the scraper asks for it) |
//! | `POST /hooks/github` | GitHub `X-Hub-Signature-256` webhooks (see [`webhook`]) |
//! | `POST /hooks/generic` | timestamped HMAC webhooks for anything else (see [`webhook`]) |
//! | `POST/GET/DELETE /mcp` | MCP over streamable HTTP with a bearer token (see [`crate::mcp::http`]) |
//! | `GET /`, `/ui/…` | the web dashboard, logged in with an MCP token (see [`crate::ui`]) |
//!
//! Webhooks only wake the loop (a [`Trigger::Fetch`]); the loop is level-triggered and
//! re-reads the newest commit itself, so no request data reaches the pipeline. A
//! `pull_request` event carries just a number and a commit id into a preview
//! ([`crate::preview`]).

mod error;
mod health;
mod replay;
pub mod webhook;

/// The webhook key type: the config's secret (`Debug` and `Display` print `***`).
pub use crate::setting::Secret;
pub use error::WebhookError;

use crate::control::status::DaemonStatus;
use crate::control::trigger::Trigger;
use crate::metrics::Metrics;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::{get, post};
use replay::ReplayCache;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The largest request body accepted; larger bodies get 413.
pub const BODY_LIMIT: usize = crate::limits::MAX_REQUEST_BODY_BYTES;

/// How many webhook delivery ids are remembered to refuse replays.
pub const REPLAY_MEMORY: usize = 1000;

/// What the HTTP handlers share with the daemon.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The daemon's live status (read by `/readyz`).
    pub status: Arc<DaemonStatus>,
    /// The metrics registry (encoded by `/metrics`, webhook rejections counted).
    pub metrics: Arc<Metrics>,
    /// Where webhooks send their triggers.
    pub triggers: mpsc::Sender<Trigger>,
    /// The webhook HMAC key; `None` (or empty) turns the webhook receivers off.
    pub webhook_secret: Option<Secret>,
    /// The MCP token guard: a valid token gets `/readyz`'s details, and failed
    /// attempts there count against the same per-address limit as `/mcp`. `None`: the
    /// details are never shown.
    pub guard: Option<Arc<crate::mcp::auth::Guard>>,
}

/// Handler state: the daemon's parts plus the receivers' own memory.
#[derive(Debug)]
struct Shared {
    http: HttpState,
    deliveries: Mutex<ReplayCache>,
}

/// The router with every endpoint and the 1 MiB body limit.
pub fn router(state: HttpState) -> Router {
    router_with(state, None)
}

/// [`router`] plus `/mcp` when `mcp` is given (see [`crate::mcp::http`]; it brings its
/// own token guard and body limit).
pub fn router_with(state: HttpState, mcp: Option<Router>) -> Router {
    let shared = Arc::new(Shared {
        http: state,
        deliveries: Mutex::new(ReplayCache::new(REPLAY_MEMORY)),
    });
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/hooks/github", post(webhook::github))
        .route("/hooks/generic", post(webhook::generic))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared);
    match mcp {
        Some(mcp) => app.merge(mcp),
        None => app,
    }
}

/// Serves [`router`] on `listener` until `shutdown` completes, then stops accepting and
/// waits for in-flight requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`] with `/mcp` from [`crate::mcp::http::router`] when `mcp` is given.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: HttpState,
    mcp: Option<Router>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP listener started");
    }
    let app = router_with(state, mcp).into_make_service_with_connect_info::<SocketAddr>();
    // Small writes (MCP event-stream frames) go out at once instead of waiting for the
    // peer's delayed ACK (Nagle), which cost 40 ms on some responses.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("HTTP listener stopped");
    Ok(())
}

/// The client's address when served through [`serve`] (absent under a bare [`router`]).
#[derive(Debug, Clone, Copy)]
struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Self(addr))
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("unknown"),
        }
    }
}
