//! `/healthz`, `/readyz` and `/metrics`.

use super::Shared;
use crate::metrics::{CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// Liveness: the process is up and serving requests.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 when the first load is done and the database is reachable, else 503.
/// The body is JSON either way, with the reasons when not ready.
pub(super) async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.http.status.snapshot();
    let mut reasons = Vec::new();
    if !s.ready {
        reasons.push("initial load not complete".to_owned());
        if let Some(refused) = s.verification.as_ref().and_then(|v| v.refused.as_ref()) {
            reasons.push(format!("no verified revision yet: {}", refused.describe()));
        }
    }
    if !s.db_ok {
        reasons.push(match &s.db_error {
            Some(e) => format!("database unavailable: {e}"),
            None => "database unavailable".to_owned(),
        });
    }
    let ready = reasons.is_empty();
    let body = json!({
        "ready": ready,
        "reasons": reasons,
        "revision": s.revision,
        "last_sync": s.last_sync,
        "git_ok": s.git_ok,
        "git_error": s.git_error,
        "db_ok": s.db_ok,
        "resources": s.resources,
        "verification": s.verification,
        "restart_required": s.restart_required,
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// The metrics in the Prometheus text format, or OpenMetrics when the `Accept` header asks
/// for `application/openmetrics-text`.
pub(super) async fn metrics(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let m = &shared.http.metrics;
    if wants_openmetrics {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            m.encode_openmetrics(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], m.encode()).into_response()
    }
}
