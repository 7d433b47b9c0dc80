//! Why a webhook request was refused, and the HTTP answer for each reason.

use crate::signing::SignatureError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused webhook request. `Display` is the text returned to the sender and logged; it
/// never contains the secret or the signature.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No webhook secret is configured, so the receivers are off.
    #[error("webhooks disabled: no webhook secret configured")]
    Disabled,
    /// The body is over the 1 MiB limit.
    #[error("body too large (limit {limit} bytes)")]
    TooLarge { limit: usize },
    /// The body could not be read.
    #[error("unreadable body")]
    BadBody,
    /// A required signature or timestamp header is absent: the request is unsigned.
    #[error("unsigned request: missing {0} header")]
    Unsigned(&'static str),
    /// The signature header is malformed or does not match.
    #[error("invalid signature: {0}")]
    Signature(#[from] SignatureError),
    /// The timestamp header is not a Unix time in seconds.
    #[error("malformed timestamp")]
    BadTimestamp,
    /// The timestamp is more than the allowed skew away from now.
    #[error("stale timestamp ({skew} s from now, at most {max} s allowed)")]
    Stale { skew: i64, max: i64 },
    /// A required, non-signature header is missing or unusable.
    #[error("missing or invalid {0} header")]
    Header(&'static str),
    /// This delivery id was already received.
    #[error("replayed delivery")]
    Replay,
    /// The daemon's loop is gone (shutting down).
    #[error("daemon is shutting down")]
    ShuttingDown,
    /// The loop's trigger queue is full and this event cannot be merged into a pending
    /// one (a pull-request preview): the sender should redeliver later.
    #[error("daemon busy: trigger queue full, redeliver later")]
    Busy,
}

impl WebhookError {
    /// The HTTP status answered for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadBody | Self::Header(_) => StatusCode::BAD_REQUEST,
            Self::Unsigned(_) | Self::Signature(_) | Self::BadTimestamp | Self::Stale { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Self::Replay => StatusCode::CONFLICT,
            Self::ShuttingDown | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let body = json!({ "status": "rejected", "error": self.to_string() });
        (self.status(), Json(body)).into_response()
    }
}
