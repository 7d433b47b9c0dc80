//! The signed webhook receivers. They only ever send a [`Trigger::Fetch`] (the loop then
//! fetches and reconciles the newest commit, so nothing from the request reaches it) or,
//! for a pull request, a [`Trigger::Preview`] carrying just its number and head commit id.
//!
//! **`POST /hooks/github`** (GitHub, Gitea and Forgejo send the same headers):
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, `X-GitHub-Delivery`
//! (a unique id; the last [`REPLAY_MEMORY`](super::REPLAY_MEMORY) are remembered) and
//! `X-GitHub-Event`. `ping` → 200, `push` → fetch + 202, `pull_request` (opened,
//! synchronize, reopened) → a [`Trigger::Preview`] of its head + 202 (see
//! [`crate::preview`]), other events → 202 ignored.
//!
//! **`POST /hooks/generic`**: `X-Homelabd-Timestamp: <unix seconds>` and
//! `X-Homelabd-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the
//! timestamp exactly as sent in its header; at most [`MAX_SKEW_SECS`] from the server's
//! clock. Success → fetch + 202. A replay inside the window only causes one more fetch,
//! which the level-triggered loop absorbs.
//!
//! Refusals (see [`WebhookError`]): 404 no secret configured, 413 body over 1 MiB,
//! 401 unsigned / bad signature / bad or stale timestamp, 400 missing delivery or event
//! header (or an unreadable `pull_request` payload), 409 replayed delivery, 503 the loop is
//! shutting down. Each is logged (never with the secret or the signature) and counted in
//! `homelabd_errors_total{kind="webhook"}`. A full trigger channel still answers 202 for a
//! push (a fetch is already pending) but 503 for a pull request (its preview would be
//! lost; the delivery may be sent again).

use super::{BODY_LIMIT, Peer, Shared, WebhookError};
use crate::control::trigger::Trigger;
use crate::signing::verify;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::mpsc::error::TrySendError;

/// GitHub's signature header.
pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
/// GitHub's delivery id header.
pub const GITHUB_DELIVERY: &str = "x-github-delivery";
/// GitHub's event name header.
pub const GITHUB_EVENT: &str = "x-github-event";
/// The generic receiver's timestamp header.
pub const GENERIC_TIMESTAMP: &str = "x-homelabd-timestamp";
/// The generic receiver's signature header.
pub const GENERIC_SIGNATURE: &str = "x-homelabd-signature";
/// The largest allowed distance between a generic webhook's timestamp and now, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Longest delivery id or event name accepted (bounds the replay memory).
const MAX_HEADER_TOKEN: usize = 128;
/// Longest git ref copied into a trigger's reason.
const MAX_REF_LEN: usize = 200;

/// `POST /hooks/github`.
pub(super) async fn github(
    State(shared): State<Arc<Shared>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle_github(&shared, &headers, body) {
        Ok(response) => response,
        Err(err) => reject(&shared, "github", peer, err),
    }
}

/// `POST /hooks/generic`.
pub(super) async fn generic(
    State(shared): State<Arc<Shared>>,
    peer: Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle_generic(&shared, &headers, body) {
        Ok(()) => {
            tracing::info!(%peer, "generic webhook accepted");
            accepted("fetch")
        }
        Err(err) => reject(&shared, "generic", peer, err),
    }
}

fn handle_github(
    shared: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, WebhookError> {
    let secret = secret(shared)?;
    let body = body_bytes(body)?;
    let signature =
        header(headers, GITHUB_SIGNATURE).ok_or(WebhookError::Unsigned("X-Hub-Signature-256"))?;
    verify(secret, &[&body], signature)?;
    let delivery =
        token(headers, GITHUB_DELIVERY).ok_or(WebhookError::Header("X-GitHub-Delivery"))?;
    let event = token(headers, GITHUB_EVENT).ok_or(WebhookError::Header("X-GitHub-Event"))?;
    if !lock_deliveries(shared).insert(delivery) {
        return Err(WebhookError::Replay);
    }
    match event {
        "ping" => {
            tracing::info!(delivery, "github ping");
            Ok((StatusCode::OK, Json(json!({ "status": "pong" }))).into_response())
        }
        "push" => {
            let reason = push_reason(&body);
            tracing::info!(delivery, %reason, "github push accepted");
            if let Err(err) = send_fetch(shared, reason) {
                // Not handled: let a redelivery through once the daemon is back.
                lock_deliveries(shared).remove(delivery);
                return Err(err);
            }
            Ok(accepted("fetch"))
        }
        "pull_request" => pull_request(shared, delivery, &body),
        other => {
            tracing::debug!(delivery, event = other, "github event ignored");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "status": "ignored", "event": other })),
            )
                .into_response())
        }
    }
}

fn handle_generic(
    shared: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), WebhookError> {
    let secret = secret(shared)?;
    let body = body_bytes(body)?;
    let timestamp =
        header(headers, GENERIC_TIMESTAMP).ok_or(WebhookError::Unsigned("X-Homelabd-Timestamp"))?;
    let signature =
        header(headers, GENERIC_SIGNATURE).ok_or(WebhookError::Unsigned("X-Homelabd-Signature"))?;
    let ts: i64 = timestamp.parse().map_err(|_| WebhookError::BadTimestamp)?;
    let skew = chrono::Utc::now()
        .timestamp()
        .saturating_sub(ts)
        .saturating_abs();
    if skew > MAX_SKEW_SECS {
        return Err(WebhookError::Stale {
            skew,
            max: MAX_SKEW_SECS,
        });
    }
    verify(secret, &[timestamp.as_bytes(), b".", &body], signature)?;
    send_fetch(shared, "generic webhook".to_owned())
}

/// The configured secret's bytes, or `Disabled`.
fn secret(shared: &Shared) -> Result<&[u8], WebhookError> {
    match &shared.http.webhook_secret {
        Some(s) if !s.expose().is_empty() => Ok(s.expose().as_bytes()),
        _ => Err(WebhookError::Disabled),
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, WebhookError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            WebhookError::TooLarge { limit: BODY_LIMIT }
        } else {
            WebhookError::BadBody
        }
    })
}

/// A header's value as text, if present and visible ASCII.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok()
}

/// A short single-token header (delivery id, event name).
fn token<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    header(headers, name)
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= MAX_HEADER_TOKEN && !v.contains(' '))
}

/// `github push <ref> <short sha>` from a push payload, or `github push` when the payload
/// is not JSON (a form-encoded webhook) or lacks the fields: the reason is only for logs.
fn push_reason(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        git_ref: Option<String>,
        after: Option<String>,
    }
    let Ok(push) = serde_json::from_slice::<Push>(body) else {
        return "github push".to_owned();
    };
    let git_ref: String = push
        .git_ref
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_REF_LEN)
        .collect();
    let short: String = push
        .after
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("github push {git_ref} {short}")
        .trim_end()
        .to_owned()
}

/// `pull_request` opened / synchronize / reopened → a preview of its head (202); other
/// actions → 202 ignored. The payload gives only the number and head commit id.
fn pull_request(shared: &Shared, delivery: &str, body: &[u8]) -> Result<Response, WebhookError> {
    use crate::preview::event::{Parsed, parse};
    let event = match parse(body) {
        Parsed::Preview(event) => event,
        Parsed::Ignored(action) => {
            tracing::debug!(delivery, %action, "github pull_request action ignored");
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "status": "ignored", "event": "pull_request", "action": action })),
            )
                .into_response());
        }
        Parsed::Malformed => {
            lock_deliveries(shared).remove(delivery);
            return Err(WebhookError::BadBody);
        }
    };
    let trigger = Trigger::Preview {
        number: event.number,
        head_sha: event.head_sha,
        base: event.base,
        reason: format!("github pull_request {} #{}", event.action, event.number),
    };
    tracing::info!(
        delivery,
        pull = event.number,
        "github pull_request accepted"
    );
    match shared.http.triggers.try_send(trigger) {
        Ok(()) => Ok(accepted("preview")),
        Err(TrySendError::Full(_)) => {
            // Dropping it would lose the preview: let GitHub redeliver.
            lock_deliveries(shared).remove(delivery);
            Err(WebhookError::Busy)
        }
        Err(TrySendError::Closed(_)) => Err(WebhookError::ShuttingDown),
    }
}

/// Wakes the loop. A full channel means a fetch is already pending, which is enough.
fn send_fetch(shared: &Shared, reason: String) -> Result<(), WebhookError> {
    match shared.http.triggers.try_send(Trigger::Fetch { reason }) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => {
            tracing::debug!("trigger channel full; a fetch is already pending");
            Ok(())
        }
        Err(TrySendError::Closed(_)) => Err(WebhookError::ShuttingDown),
    }
}

fn accepted(trigger: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "trigger": trigger })),
    )
        .into_response()
}

/// Logs and counts a refusal, and answers it.
fn reject(shared: &Shared, endpoint: &'static str, peer: Peer, err: WebhookError) -> Response {
    shared
        .http
        .metrics
        .inc_error(crate::metrics::ErrorKind::Webhook);
    tracing::warn!(
        endpoint,
        %peer,
        status = err.status().as_u16(),
        reason = %err,
        "webhook rejected"
    );
    err.into_response()
}

fn lock_deliveries(shared: &Shared) -> std::sync::MutexGuard<'_, super::ReplayCache> {
    shared
        .deliveries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::push_reason;

    #[test]
    fn push_reasons() {
        let body = br#"{"ref":"refs/heads/main","after":"0123456789abcdef0123","x":1}"#;
        assert_eq!(
            push_reason(body),
            "github push refs/heads/main 0123456789ab"
        );
        assert_eq!(push_reason(b"payload=%7B%7D"), "github push");
        assert_eq!(push_reason(br#"{"ref":"r\nx"}"#), "github push rx");
    }
}
