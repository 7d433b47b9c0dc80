//! `/mcp` on the daemon's listener: rmcp's streamable HTTP service behind the bearer
//! token guard (401 without a valid token, 429 over the rate limit). rmcp keeps its own
//! Host allow-list (loopback names by default, `[mcp] allowed_hosts` to change it).

use super::audit::{Throttle, refusal_key, request_refusal_row};
use super::auth::{Guard, RequestRefused, guard, peer_of};
use super::server::HomelabMcp;
use super::settings::McpSettings;
use axum::Router;
use axum::response::IntoResponse;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// The path MCP is served at.
pub const PATH: &str = "/mcp";

/// A router serving `server` at [`PATH`] behind `guard_state` (shared with `/readyz`). Cancelling `stop` ends open event streams, so
/// the listener's graceful shutdown does not wait for them.
pub fn router(
    server: HomelabMcp,
    settings: &McpSettings,
    guard_state: Arc<Guard>,
    stop: CancellationToken,
) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.allowed_hosts.clone())
        .with_max_request_body_bytes(crate::limits::MAX_REQUEST_BODY_BYTES)
        .with_cancellation_token(stop);
    let server_for_sessions = server.clone();
    let service = StreamableHttpService::new(
        move || Ok(server_for_sessions.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    if settings.tokens.is_empty() {
        tracing::warn!(
            "{PATH} answers 401 to everyone: no MCP token is configured ([[mcp.tokens]] with credential mcp-token-<name>, or HOMELABD_MCP_TOKEN / HOMELABD_MCP_READ_TOKEN)"
        );
    }
    for name in &settings.missing {
        tracing::warn!(token = %name, "MCP token has no secret: no credential mcp-token-{name} and no environment variable; it is not usable");
    }
    let trail = Arc::new(Trail {
        store: server.ctx.store.clone(),
        throttle: Mutex::new(Throttle::new(REFUSAL_ROW_EVERY)),
    });
    Router::new()
        .route_service(PATH, service)
        .layer(axum::middleware::from_fn(session_end_is_no_content))
        .layer(axum::middleware::from_fn_with_state(guard_state, guard))
        .layer(axum::middleware::from_fn_with_state(trail, record_refusals))
        .layer(axum::middleware::from_fn(on_mcp_runtime))
}

/// The runtime every `/mcp` request is handled on, apart from the daemon's own.
///
/// An agent's requests can be large (arguments up to the body limit) and arrive in
/// bursts; reading, parsing and size-checking them is CPU work that would otherwise sit
/// on the daemon runtime's worker threads, in front of `/healthz`, webhooks and the
/// reconcile loop. On their own threads they compete with those only through the OS
/// scheduler, which keeps the daemon's answers prompt under a flood. rmcp's session
/// tasks and the tools' blocking work are spawned from here, so they live here too.
/// The runtime is created on first use and lives as long as the process (a runtime may
/// not be dropped from async code).
fn mcp_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("homelabd-mcp")
                .enable_all()
                .build()
                .map_err(|e| tracing::warn!(error = %e, "cannot start the MCP runtime; MCP requests share the daemon's"))
                .ok()
        })
        .as_ref()
}

/// Moves the rest of the request's handling onto [`mcp_runtime`].
async fn on_mcp_runtime(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(runtime) = mcp_runtime() else {
        return next.run(request).await;
    };
    match runtime.spawn(next.run(request)).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "MCP request handler failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// rmcp answers the end of a session (`DELETE /mcp` with its session id) with 202
/// Accepted, which MCP clients read as a failure (the Python SDK logs "Session termination
/// failed: 202"; it expects 200 or 204). The session is gone when rmcp answers, so the
/// truthful answer is 204 No Content.
async fn session_end_is_no_content(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let delete = request.method() == axum::http::Method::DELETE;
    let response = next.run(request).await;
    if delete && response.status() == axum::http::StatusCode::ACCEPTED {
        let (mut parts, _) = response.into_parts();
        parts.status = axum::http::StatusCode::NO_CONTENT;
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        parts.headers.remove(axum::http::header::CONTENT_TYPE);
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    }
    response
}

/// Refused requests (no valid token, rate limited) are recorded at most once a minute
/// per client, token and status; the row counts the ones held back in between, so a
/// flood of refusals costs the database one row a minute per client.
const REFUSAL_ROW_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Where refusals are recorded.
struct Trail {
    store: Option<Arc<crate::store::Store>>,
    throttle: Mutex<Throttle>,
}

/// Records the requests [`guard`] refused in the audit log (see [`REFUSAL_ROW_EVERY`]).
async fn record_refusals(
    axum::extract::State(trail): axum::extract::State<Arc<Trail>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let client = peer_of(&request).map(|p| p.ip());
    let response = next.run(request).await;
    let (Some(store), Some(refused)) =
        (&trail.store, response.extensions().get::<RequestRefused>())
    else {
        return response;
    };
    let status = response.status().as_u16();
    let token = refused.token.as_deref();
    let due = {
        let mut throttle = match trail.throttle.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        throttle.admit(
            refusal_key(client, token, status),
            std::time::Instant::now(),
        )
    };
    if let Some(repeated) = due {
        let row = request_refusal_row(chrono::Utc::now(), token, status, &refused.reason, repeated);
        if let Err(e) = store.record_audit(&row, client).await {
            tracing::error!(error = %e, "could not record a refused /mcp request in the audit log");
        }
    }
    response
}
