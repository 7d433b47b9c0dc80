//! Dashboard logins (pure): what a session is, how its cookie value maps to what the
//! store keeps (the SHA-256 of the value, never the value), the CSRF token derived from
//! it, the binding that ties it to the token it was made with, its expiry; and the
//! cookie headers. The handlers keep sessions in the store, so they survive a restart
//! and every member of a cluster knows them.

use crate::mcp::Scope;
use crate::mcp::auth::Caller;
use crate::store::UiSessionRecord;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "homelabd_session";
/// The login form's double-submit cookie (CSRF protection of the login itself).
pub const LOGIN_COOKIE: &str = "homelabd_login";
/// Sessions kept at most; past it the least recently used ones are ended.
pub const MAX_SESSIONS: i64 = 10_000;
/// How stale `last_seen_at` may get before a request writes it again: the idle expiry
/// is this much coarser than its setting, and a page view costs no write.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// One logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who logged in: the token's name and scope.
    pub caller: Caller,
    /// The value every POST must carry in its `csrf` field.
    pub csrf: String,
}

/// What the store keys a session by: the SHA-256 of the cookie value, hex.
pub fn digest(id: &str) -> String {
    hex(&Sha256::digest(id.as_bytes()))
}

/// The session's CSRF token: derived from the cookie value (which scripts of other
/// sites cannot read), so it needs no storage and changes with every login.
pub fn csrf(id: &str) -> String {
    hex(&Sha256::digest(
        format!("homelabd-ui-csrf\0{id}").as_bytes(),
    ))
}

/// The SHA-256 of a token, as the MCP authenticator keeps it.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Ties the session `id` to the token (by its digest) it was made with: an HMAC of the
/// id keyed by the token's digest. Without the id (only its digest is stored) it says
/// nothing about the token; with it, it stops matching once the token changes.
pub fn binding(token_digest: &[u8; 32], id: &str) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(token_digest) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A new session for `caller`, logged in with `token` at `now`; its cookie value is `id`.
pub fn record(
    id: &str,
    caller: &Caller,
    token: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> UiSessionRecord {
    UiSessionRecord {
        id_digest: digest(id),
        token_name: caller.name.clone(),
        scope: caller.scope.as_str().to_owned(),
        binding: binding(&token_digest(token), id),
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
    }
}

/// Is the stored session still alive at `now` (before its absolute expiry, used within
/// the idle time)? Its token is checked apart ([`binding`]).
pub fn alive(r: &UiSessionRecord, now: DateTime<Utc>, idle: Duration) -> bool {
    let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
    now < r.expires_at && now.signed_duration_since(r.last_seen_at) < idle
}

/// Should this request write the session's last use (see [`TOUCH_EVERY`])?
pub fn needs_touch(r: &UiSessionRecord, now: DateTime<Utc>) -> bool {
    now.signed_duration_since(r.last_seen_at)
        .to_std()
        .unwrap_or_default()
        >= TOUCH_EVERY
}

/// The caller a stored session names, if its scope is one homelabd writes.
pub fn caller(r: &UiSessionRecord) -> Option<Caller> {
    let scope = match r.scope.as_str() {
        "read" => Scope::Read,
        "propose" => Scope::Propose,
        _ => return None,
    };
    Some(Caller {
        name: r.token_name.clone(),
        scope,
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// 244 random bits from the operating system's generator, as 64 hex digits.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Do two secrets match? In constant time for equal lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, `Secure` when `secure`; `max_age`
/// zero deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, secure: bool, max_age: Duration) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Scope;

    fn caller() -> Caller {
        Caller {
            name: "ops".into(),
            scope: Scope::Read,
        }
    }

    #[test]
    fn a_session_lives_until_its_idle_or_absolute_expiry() {
        let t0 = Utc::now();
        let min = Duration::from_secs(60);
        let m = |n: i64| chrono::Duration::minutes(n);
        let id = random_token();
        let mut r = record(&id, &caller(), "the-token", t0, 10 * min);
        assert_eq!(id.len(), 64);
        assert_ne!(r.id_digest, id, "the store never sees the cookie value");
        assert_eq!(r.id_digest, digest(&id));
        assert!(alive(&r, t0 + m(2), 3 * min));
        assert!(!alive(&r, t0 + m(4), 3 * min), "idle for 4 minutes");
        r.last_seen_at = t0 + m(8);
        assert!(alive(&r, t0 + m(9), 3 * min), "use restarts the idle clock");
        assert!(!alive(&r, t0 + m(10), 3 * min), "absolute expiry");
        assert!(!needs_touch(&r, t0 + m(8)) && needs_touch(&r, t0 + m(9)));
        assert_eq!(super::caller(&r), Some(caller()));
        r.scope = "admin".into();
        assert_eq!(super::caller(&r), None);
    }

    #[test]
    fn the_binding_and_csrf_token_follow_the_id_and_the_token() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        let key = token_digest("the-token");
        assert_eq!(binding(&key, &a), binding(&key, &a));
        assert_ne!(binding(&key, &a), binding(&key, &b));
        assert_ne!(binding(&key, &a), binding(&token_digest("rotated"), &a));
        assert_eq!(binding(&key, &a).len(), 64);
        assert_eq!(csrf(&a).len(), 64);
        assert_ne!(csrf(&a), csrf(&b));
        assert_ne!(csrf(&a), digest(&a), "the CSRF token is not the stored key");
    }

    #[test]
    fn cookies_are_parsed_and_written_with_their_flags() {
        let h = "a=1; homelabd_session=abc ; b=2";
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie(h, "c"), None);
        let c = set_cookie(COOKIE, "x", "/ui", true, Duration::from_secs(5));
        assert_eq!(
            c,
            "homelabd_session=x; Path=/ui; Max-Age=5; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie(COOKIE, "x", "/ui", false, Duration::ZERO).contains("Secure"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
