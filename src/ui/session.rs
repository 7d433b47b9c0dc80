//! Dashboard logins (pure): server-side sessions keyed by the SHA-256 of a random id
//! (the id itself lives only in the browser's cookie), each with the token's name and
//! scope, a CSRF token, an absolute and an idle expiry; and the cookie headers.

use crate::mcp::auth::Caller;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "homelabd_session";
/// The login form's double-submit cookie (CSRF protection of the login itself).
pub const LOGIN_COOKIE: &str = "homelabd_login";

/// One logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who logged in: the token's name and scope.
    pub caller: Caller,
    /// The value every POST must carry in its `csrf` field.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Every live session, bounded.
#[derive(Debug)]
pub struct Sessions {
    by_digest: HashMap<[u8; 32], Session>,
    ttl: Duration,
    idle: Duration,
}

impl Sessions {
    /// Sessions remembered at most; past it the least recently used one is dropped.
    pub const MAX: usize = 10_000;

    pub fn new(ttl: Duration, idle: Duration) -> Sessions {
        Sessions {
            by_digest: HashMap::new(),
            ttl,
            idle,
        }
    }

    /// Starts a session for `caller`; returns the id to put in the cookie.
    pub fn create(&mut self, caller: Caller, now: Instant) -> String {
        self.by_digest
            .retain(|_, s| alive(s, now, self.ttl, self.idle));
        if self.by_digest.len() >= Self::MAX
            && let Some(oldest) = self
                .by_digest
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
        {
            self.by_digest.remove(&oldest);
        }
        let id = random_token();
        let session = Session {
            caller,
            csrf: random_token(),
            created: now,
            last_seen: now,
        };
        self.by_digest.insert(digest(&id), session);
        id
    }

    /// The live session with cookie value `id` (its idle clock restarted), or `None`
    /// (an expired one is forgotten).
    pub fn get(&mut self, id: &str, now: Instant) -> Option<Session> {
        let key = digest(id);
        let session = self.by_digest.get_mut(&key)?;
        if !alive(session, now, self.ttl, self.idle) {
            self.by_digest.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Is the session with cookie value `id` alive? Does not count as use (an open event
    /// stream does not keep an idle login alive).
    pub fn peek(&self, id: &str, now: Instant) -> Option<()> {
        let session = self.by_digest.get(&digest(id))?;
        alive(session, now, self.ttl, self.idle).then_some(())
    }

    /// Ends the session with cookie value `id` (logout).
    pub fn remove(&mut self, id: &str) {
        self.by_digest.remove(&digest(id));
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// No session at all?
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

fn alive(s: &Session, now: Instant, ttl: Duration, idle: Duration) -> bool {
    now.saturating_duration_since(s.created) < ttl
        && now.saturating_duration_since(s.last_seen) < idle
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
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
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        let mut s = Sessions::new(10 * min, 3 * min);
        let id = s.create(caller(), t0);
        assert_eq!(id.len(), 64);
        let got = s.get(&id, t0 + 2 * min).expect("alive");
        assert_eq!(got.caller, caller());
        assert_eq!(got.csrf.len(), 64);
        assert!(
            s.get(&id, t0 + 4 * min).is_some(),
            "use restarts the idle clock"
        );
        assert!(s.get(&id, t0 + 8 * min).is_none(), "idle for 4 minutes");
        let id = s.create(caller(), t0);
        for m in [2, 4, 6, 8] {
            assert!(s.get(&id, t0 + m * min).is_some());
        }
        assert!(s.get(&id, t0 + 10 * min).is_none(), "absolute expiry");
        assert!(s.get("not-a-session", t0).is_none());
    }

    #[test]
    fn logout_forgets_the_session_and_ids_differ() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Duration::from_secs(600), Duration::from_secs(600));
        let a = s.create(caller(), t0);
        let b = s.create(caller(), t0);
        assert_ne!(a, b);
        s.remove(&a);
        assert!(s.get(&a, t0).is_none());
        assert!(s.get(&b, t0).is_some());
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
