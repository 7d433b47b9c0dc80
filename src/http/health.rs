//! `/healthz`, `/readyz` and `/metrics`.

use super::{Peer, Shared};
use crate::control::status::StatusSnapshot;
use crate::mcp::auth::{Refusal, too_many_requests, unauthorized};
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
/// The body is JSON either way. Without a token it says only which components are not
/// ready (no error text: a git or database error can name hosts, paths and users); with a
/// valid MCP token (any scope) in `Authorization: Bearer` it carries the reasons, errors,
/// revision and verification state that `homelabd status` shows.
pub(super) async fn readyz(
    State(shared): State<Arc<Shared>>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let s = shared.http.status.snapshot();
    let ready = s.ready && s.db_ok;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let Some(authorization) = authorization else {
        return (code, Json(generic(&s))).into_response();
    };
    let Some(guard) = &shared.http.guard else {
        return (code, Json(generic(&s))).into_response();
    };
    match guard.authenticate(peer.0, Some(authorization)) {
        Ok(_) => (code, Json(detailed(&s))).into_response(),
        Err(Refusal::Throttled(wait)) => {
            too_many_requests(wait, "too many failed authentications from this address")
        }
        Err(Refusal::Auth(e)) => {
            tracing::info!(reason = %e, client = %peer, "/readyz details refused");
            unauthorized(&e)
        }
    }
}

/// What anyone may see: ready or not, and the state of each component in one word.
fn generic(s: &StatusSnapshot) -> serde_json::Value {
    let word = |ok: bool, bad: &str| if ok { "ok" } else { bad }.to_owned();
    json!({
        "ready": s.ready && s.db_ok,
        "components": {
            "initial_load": word(s.ready, "pending"),
            "git": word(s.git_ok, "failing"),
            "database": word(s.db_ok, "unavailable"),
        },
    })
}

/// What a token holder sees: the reasons with their error text.
fn detailed(s: &StatusSnapshot) -> serde_json::Value {
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
    let mut body = generic(s);
    let extra = json!({
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
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
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
