//! Who may use `/mcp`: bearer tokens compared in constant time, a scope per token, a
//! token bucket per token, and a cap on failed authentications per client address (a
//! client over it gets 429 before any token is compared). The pure parts
//! ([`Authenticator`], [`Bucket`], [`Failures`]) are unit-tested; [`guard`] is the axum
//! middleware in front of rmcp's service, and [`Guard::authenticate`] is shared with
//! `/readyz`, whose details need a token too.

use super::settings::{McpSettings, Scope, Token};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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

    /// Is a token with `caller`'s name and scope still configured, and does `proof`
    /// accept its SHA-256 digest? (A dashboard session checks that the token it was made
    /// with was neither changed nor removed.)
    pub fn still_holds(&self, caller: &Caller, proof: impl Fn(&[u8; 32]) -> bool) -> bool {
        self.tokens
            .iter()
            .filter(|(_, c)| c == caller)
            .any(|(digest, _)| proof(digest))
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

/// Failed authentications per client address within a fixed window. Past `limit`, the
/// address is refused until its window ends, without comparing tokens, so guessing a token
/// costs a window per `limit` guesses. Bounded: at most [`Failures::MAX_CLIENTS`]
/// addresses are remembered (expired ones are dropped first, then the oldest).
#[derive(Debug, Default)]
pub struct Failures {
    clients: HashMap<Option<IpAddr>, (Instant, u32)>,
}

impl Failures {
    /// Addresses remembered at most.
    pub const MAX_CLIENTS: usize = 10_000;

    /// `Err(wait)` while `client` is over `limit` failures in its current window.
    pub fn check(
        &self,
        client: Option<IpAddr>,
        now: Instant,
        limit: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        match self.clients.get(&client) {
            Some((start, count)) if *count >= limit => {
                let end = *start + window;
                if end > now { Err(end - now) } else { Ok(()) }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication for `client`.
    pub fn record(&mut self, client: Option<IpAddr>, now: Instant, window: Duration) {
        if !self.clients.contains_key(&client) && self.clients.len() >= Self::MAX_CLIENTS {
            self.clients
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if self.clients.len() >= Self::MAX_CLIENTS
                && let Some(oldest) = self
                    .clients
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| *k)
            {
                self.clients.remove(&oldest);
            }
        }
        let entry = self.clients.entry(client).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// Why [`Guard::authenticate`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No valid token (401).
    Auth(AuthError),
    /// Too many failed authentications from this address; retry after the duration (429).
    Throttled(Duration),
}

/// Everything the middleware needs: the tokens, the buckets and the limits.
#[derive(Debug)]
pub struct Guard {
    auth: Authenticator,
    buckets: Mutex<HashMap<String, Bucket>>,
    failures: Mutex<Failures>,
    per_minute: u32,
    burst: u32,
    failure_limit: u32,
    failure_window: Duration,
    warned: AtomicBool,
}

impl Guard {
    pub fn new(settings: &McpSettings) -> Guard {
        Guard {
            auth: Authenticator::new(&settings.tokens),
            buckets: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
            per_minute: settings.rate_per_minute,
            burst: settings.burst,
            failure_limit: settings.auth_failure_limit,
            failure_window: settings.auth_failure_window,
            warned: AtomicBool::new(false),
        }
    }

    /// Checks the `Authorization` header of a request from `peer`: refused at once while
    /// the address is over its failure limit, else the token is checked and an unknown
    /// one counted against the address.
    pub fn authenticate(
        &self,
        peer: Option<SocketAddr>,
        authorization: Option<&[u8]>,
    ) -> Result<Caller, Refusal> {
        let client = peer.map(|p| p.ip());
        let now = Instant::now();
        let mut failures = match self.failures.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        failures
            .check(client, now, self.failure_limit, self.failure_window)
            .map_err(Refusal::Throttled)?;
        match self.auth.check(authorization) {
            Ok(caller) => Ok(caller),
            Err(e) => {
                // Only a token that was compared and did not match is a guess; a missing
                // header or an unconfigured daemon teaches nothing.
                if e == AuthError::Unknown {
                    failures.record(client, now, self.failure_window);
                }
                Err(Refusal::Auth(e))
            }
        }
    }

    /// See [`Authenticator::still_holds`].
    pub fn still_holds(&self, caller: &Caller, proof: impl Fn(&[u8; 32]) -> bool) -> bool {
        self.auth.still_holds(caller, proof)
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

/// 429 with `Retry-After` (whole seconds, at least 1) and `message`.
pub fn too_many_requests(wait: Duration, message: &str) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        format!("{message}; retry in {secs} s\n"),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The text of a rate-limit refusal: "rate limited, retry after N s (…)", with N the
/// whole seconds to wait (at least 1).
pub fn rate_limited_message(wait: Duration, detail: &str) -> (u64, String) {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    (
        secs,
        format!("rate limited, retry after {secs} s ({detail})"),
    )
}

/// 429 with `Retry-After` and, as the body, a JSON-RPC error carrying the same text:
/// MCP clients surface a JSON error body as the failed call's error, so the agent reads
/// how long to wait instead of a bare "error response".
pub fn rate_limited(wait: Duration, detail: &str) -> Response {
    let (secs, message) = rate_limited_message(wait, detail);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": RATE_LIMITED,
            "message": message,
            "data": { "retry_after_seconds": secs },
        },
    });
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The JSON-RPC error code of a rate-limit refusal (implementation-defined server error).
pub const RATE_LIMITED: i32 = -32029;

/// Proposal tool calls per token: a bucket each, charged by the MCP server (which knows
/// the tool) on top of the request bucket of [`Guard`].
#[derive(Debug)]
pub struct ProposalBudget {
    buckets: Mutex<HashMap<String, Bucket>>,
    per_minute: u32,
    burst: u32,
}

impl ProposalBudget {
    pub fn new(settings: &McpSettings) -> ProposalBudget {
        ProposalBudget {
            buckets: Mutex::new(HashMap::new()),
            per_minute: settings.proposal_rate_per_minute,
            burst: settings.proposal_burst,
        }
    }

    /// Charges one proposal to `token`, or says how long until one is allowed.
    pub fn charge(&self, token: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        buckets
            .entry(token.to_owned())
            .or_insert_with(|| Bucket::full(self.burst, now))
            .take(now, self.per_minute, self.burst)
    }

    /// "N proposals at once, M a minute", for refusals.
    pub fn describe(&self) -> String {
        format!(
            "{} proposals at once, {} a minute: [mcp] proposal_rate_limit_burst, proposal_rate_limit_per_minute",
            self.burst, self.per_minute
        )
    }
}

/// The client's address, when the listener was served with connect info.
pub fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Put on the response of a request [`guard`] refused, for the audit log: the token's
/// name when it was valid (a rate limit), and the reason given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefused {
    pub token: Option<String>,
    pub reason: String,
}

fn refused(mut response: Response, token: Option<&str>, reason: String) -> Response {
    response.extensions_mut().insert(RequestRefused {
        token: token.map(str::to_owned),
        reason,
    });
    response
}

/// axum middleware: 401 without a valid token, 429 over the rate limit, otherwise the
/// request goes on with its [`Caller`] in the extensions. A refusal carries a
/// [`RequestRefused`] in the response extensions.
pub async fn guard(
    State(guard): State<std::sync::Arc<Guard>>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    let peer = peer_of(&req);
    let caller = match guard.authenticate(peer, header.as_deref()) {
        Ok(c) => c,
        Err(Refusal::Throttled(wait)) => {
            tracing::warn!(client = ?peer.map(|p| p.ip()), "/mcp refused: too many failed authentications from this address");
            let reason = "too many failed authentications from this address";
            return refused(too_many_requests(wait, reason), None, reason.to_owned());
        }
        Err(Refusal::Auth(e)) => {
            if e == AuthError::NoTokens {
                if !guard.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "/mcp refused: no MCP token configured. Add [[mcp.tokens]] with a systemd credential mcp-token-<name>, or set HOMELABD_MCP_TOKEN (propose) / HOMELABD_MCP_READ_TOKEN (read)"
                    );
                }
            } else {
                tracing::info!(reason = %e, client = ?peer.map(|p| p.ip()), "/mcp request refused");
            }
            return refused(unauthorized(&e), None, e.to_string());
        }
    };
    if let Err(wait) = guard.charge(&caller, Instant::now()) {
        tracing::info!(token = %caller.name, "/mcp rate limit reached");
        let detail = format!(
            "token {} may make {} requests at once, {} a minute: [mcp] rate_limit_burst, rate_limit_per_minute",
            caller.name, guard.burst, guard.per_minute
        );
        let reason = rate_limited_message(wait, &detail).1;
        return refused(rate_limited(wait, &detail), Some(&caller.name), reason);
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// 401 with a `WWW-Authenticate` challenge naming what was wrong.
pub fn unauthorized(e: &AuthError) -> Response {
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
    use crate::setting::Secret;

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

    #[test]
    fn a_rate_limit_refusal_says_how_long_to_wait_in_whole_seconds() {
        let (secs, text) = rate_limited_message(Duration::from_millis(2300), "token a");
        assert_eq!(secs, 3);
        assert_eq!(text, "rate limited, retry after 3 s (token a)");
        assert_eq!(rate_limited_message(Duration::ZERO, "x").0, 1);
    }

    #[test]
    fn proposals_have_a_budget_of_their_own_per_token() {
        let settings = McpSettings {
            proposal_rate_per_minute: 6,
            proposal_burst: 2,
            ..McpSettings::default()
        };
        let budget = ProposalBudget::new(&settings);
        let t0 = Instant::now();
        assert!(budget.charge("a", t0).is_ok());
        assert!(budget.charge("a", t0).is_ok());
        let wait = budget.charge("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(10), "{wait:?}");
        assert!(budget.charge("b", t0).is_ok(), "another token is not held");
    }

    #[test]
    fn an_address_over_its_failure_limit_waits_out_its_window_and_others_are_not_held() {
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        let a: Option<IpAddr> = Some([10, 0, 0, 1].into());
        let b: Option<IpAddr> = Some([10, 0, 0, 2].into());
        let mut f = Failures::default();
        for _ in 0..3 {
            assert!(f.check(a, t0, 3, window).is_ok());
            f.record(a, t0, window);
        }
        let wait = f
            .check(a, t0 + Duration::from_secs(20), 3, window)
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(
            f.check(b, t0, 3, window).is_ok(),
            "another address is not held"
        );
        assert!(
            f.check(a, t0 + window, 3, window).is_ok(),
            "the window ends"
        );
        f.record(a, t0 + window, window);
        assert!(
            f.check(a, t0 + window, 3, window).is_ok(),
            "a new window counts anew"
        );
    }

    #[test]
    fn failures_remember_a_bounded_number_of_addresses() {
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        let mut f = Failures::default();
        for i in 0..(Failures::MAX_CLIENTS as u32 + 50) {
            f.record(Some(IpAddr::from(i.to_be_bytes())), t0, window);
        }
        assert!(f.clients.len() <= Failures::MAX_CLIENTS);
    }
}
