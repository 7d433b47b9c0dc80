//! Who may use `/mcp`: bearer tokens compared in constant time, a scope per token, and a
//! token bucket per token. The pure parts ([`Authenticator`], [`Bucket`]) are unit-tested;
//! [`guard`] is the axum middleware in front of rmcp's service.

use super::settings::{McpSettings, Scope, Token};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The authenticated caller of one request; handlers read it from the request extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name, as shown in the audit log (`mcp:<name>`).
    pub name: String,
    pub scope: Scope,
}

/// Why a request was refused before it reached the MCP server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no MCP token is configured on this daemon")]
    NoTokens,
    #[error("missing Authorization: Bearer token")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("unknown token")]
    Unknown,
}

/// The configured tokens, kept as SHA-256 digests so every comparison has the same length.
pub struct Authenticator {
    tokens: Vec<([u8; 32], Caller)>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|(_, c)| c.name.as_str()).collect();
        f.debug_struct("Authenticator")
            .field("tokens", &names)
            .finish()
    }
}

impl Authenticator {
    pub fn new(tokens: &[Token]) -> Authenticator {
        Authenticator {
            tokens: tokens
                .iter()
                .map(|t| {
                    (
                        digest(t.secret.expose()),
                        Caller {
                            name: t.name.clone(),
                            scope: t.scope,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Are there any tokens at all?
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Checks an `Authorization` header value. Every configured token is compared (no early
    /// exit), in constant time, so timing reveals neither which token nor how much matched.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<Caller, AuthError> {
        if self.tokens.is_empty() {
            return Err(AuthError::NoTokens);
        }
        let value = authorization.ok_or(AuthError::Missing)?;
        let value = std::str::from_utf8(value).map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Malformed);
        }
        let presented = digest(token.trim());
        let mut found = None;
        for (known, caller) in &self.tokens {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(caller);
            }
        }
        found.cloned().ok_or(AuthError::Unknown)
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A token bucket: `burst` requests at once, refilled at `per_minute` a minute.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Takes one request's worth, or says how long until one is available.
    pub fn take(&mut self, now: Instant, per_minute: u32, burst: u32) -> Result<(), Duration> {
        let per_second = f64::from(per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(f64::from(burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        }
    }
}

/// Everything the middleware needs: the tokens, the buckets and the limits.
#[derive(Debug)]
pub struct Guard {
    auth: Authenticator,
    buckets: Mutex<HashMap<String, Bucket>>,
    per_minute: u32,
    burst: u32,
    warned: AtomicBool,
}

impl Guard {
    pub fn new(settings: &McpSettings) -> Guard {
        Guard {
            auth: Authenticator::new(&settings.tokens),
            buckets: Mutex::new(HashMap::new()),
            per_minute: settings.rate_per_minute,
            burst: settings.burst,
            warned: AtomicBool::new(false),
        }
    }

    /// Charges one request to `caller`'s bucket.
    fn charge(&self, caller: &Caller, now: Instant) -> Result<(), Duration> {
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        buckets
            .entry(caller.name.clone())
            .or_insert_with(|| Bucket::full(self.burst, now))
            .take(now, self.per_minute, self.burst)
    }
}

/// axum middleware: 401 without a valid token, 429 over the rate limit, otherwise the
/// request goes on with its [`Caller`] in the extensions.
pub async fn guard(
    State(guard): State<std::sync::Arc<Guard>>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let caller = match guard.auth.check(header.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            if e == AuthError::NoTokens {
                if !guard.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "/mcp refused: no MCP token configured. Add [[mcp.tokens]] with a systemd credential mcp-token-<name>, or set HOMELABD_MCP_TOKEN (propose) / HOMELABD_MCP_READ_TOKEN (read)"
                    );
                }
            } else {
                tracing::info!(reason = %e, "/mcp request refused");
            }
            return unauthorized(&e);
        }
    };
    if let Err(wait) = guard.charge(&caller, Instant::now()) {
        tracing::info!(token = %caller.name, "/mcp rate limit reached");
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit reached for token {}; retry in {secs} s\n",
                caller.name
            ),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn unauthorized(e: &AuthError) -> Response {
    let challenge = match e {
        AuthError::Unknown | AuthError::Malformed => {
            "Bearer realm=\"homelabd\", error=\"invalid_token\""
        }
        _ => "Bearer realm=\"homelabd\"",
    };
    let mut response = (StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn tokens() -> Vec<Token> {
        vec![
            Token {
                name: "agent".into(),
                scope: Scope::Propose,
                secret: Secret::new("s3cret-propose"),
            },
            Token {
                name: "viewer".into(),
                scope: Scope::Read,
                secret: Secret::new("s3cret-read"),
            },
        ]
    }

    #[test]
    fn a_known_bearer_token_names_its_caller_and_scope() {
        let auth = Authenticator::new(&tokens());
        assert_eq!(
            auth.check(Some(b"Bearer s3cret-read")),
            Ok(Caller {
                name: "viewer".into(),
                scope: Scope::Read
            })
        );
        assert_eq!(
            auth.check(Some(b"bearer s3cret-propose")).map(|c| c.scope),
            Ok(Scope::Propose)
        );
    }

    #[test]
    fn missing_malformed_and_wrong_tokens_are_refused() {
        let auth = Authenticator::new(&tokens());
        assert_eq!(auth.check(None), Err(AuthError::Missing));
        assert_eq!(auth.check(Some(b"Basic abc")), Err(AuthError::Malformed));
        assert_eq!(auth.check(Some(b"Bearer ")), Err(AuthError::Malformed));
        assert_eq!(auth.check(Some(b"Bearer s3cret")), Err(AuthError::Unknown));
        assert_eq!(
            Authenticator::new(&[]).check(Some(b"Bearer x")),
            Err(AuthError::NoTokens)
        );
    }

    #[test]
    fn the_bucket_allows_a_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::full(3, t0);
        for _ in 0..3 {
            assert!(b.take(t0, 60, 3).is_ok());
        }
        let wait = b.take(t0, 60, 3).unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(b.take(t0 + Duration::from_millis(1100), 60, 3).is_ok());
        assert!(b.take(t0 + Duration::from_millis(1100), 60, 3).is_err());
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(b.take(later, 60, 3).is_ok());
        }
        assert!(b.take(later, 60, 3).is_err());
    }
}
