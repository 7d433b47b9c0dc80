//! Backend-independent pieces: microsecond timestamps, SQLite's timestamp text, the
//! columns of `resource_pools` derived from a pool's spec, and URL redaction.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

use super::{CatalogRecord, StoreError};

/// `t` truncated to the microsecond: what both backends store, so what reads return.
pub(super) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The current time at the store's precision.
pub(super) fn now() -> DateTime<Utc> {
    micros(Utc::now())
}

/// SQLite's timestamp text: RFC 3339 in UTC with exactly six fractional digits, e.g.
/// `2024-05-01T12:34:56.123456Z`. Fixed width, so text order is time order.
pub(super) fn to_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses [`to_text`]'s format (any RFC 3339 time is accepted).
pub(super) fn from_text(column: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{column}: {text:?} is not a timestamp: {e}")))
}

/// `pass` with every NUL character replaced by U+FFFD, or `None` when it has none (the
/// common case costs one serialisation and no copy).
pub(super) fn without_nul(
    pass: &super::PassRecord,
) -> Result<Option<super::PassRecord>, StoreError> {
    let value = serde_json::to_value(pass).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if !has_nul(&value) {
        return Ok(None);
    }
    let cleaned = replace_nul(value);
    let mut cleaned: super::PassRecord =
        serde_json::from_value(cleaned).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // JSON shows both failures as `failed`; the states themselves hold no text to clean.
    for (clean, original) in cleaned.resources.iter_mut().zip(&pass.resources) {
        clean.state = original.state;
    }
    Ok(Some(cleaned))
}

fn has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match v {
        V::String(s) => s.contains('\0'),
        V::Array(items) => items.iter().any(has_nul),
        V::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn replace_nul(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as V;
    match v {
        V::String(s) => V::String(s.replace('\0', "\u{fffd}")),
        V::Array(items) => V::Array(items.into_iter().map(replace_nul).collect()),
        V::Object(map) => V::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('\0', "\u{fffd}"), replace_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Parses stored JSON text (SQLite).
pub(super) fn json_from_text(column: &str, text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{column}: invalid JSON: {e}")))
}

/// The `resource_pools` columns of one pool.
pub(super) struct PoolColumns<'a> {
    pub name: &'a str,
    /// The record's path, else `spec.path`; None makes the insert fail (NOT NULL).
    pub path: Option<&'a str>,
    /// The path without its last segment; None for a top-level pool.
    pub parent_path: Option<&'a str>,
    pub pool_type: Option<&'a str>,
    pub provider: Option<&'a str>,
    /// `spec.properties`, or `{}`.
    pub properties: serde_json::Value,
    pub spec: &'a serde_json::Value,
}

impl<'a> PoolColumns<'a> {
    pub(super) fn of(pool: &'a CatalogRecord) -> Self {
        let field = |key: &str| pool.spec.get(key).and_then(serde_json::Value::as_str);
        let path = pool.path.as_deref().or_else(|| field("path"));
        PoolColumns {
            name: &pool.name,
            path,
            parent_path: path.and_then(parent_path),
            pool_type: field("pool_type"),
            provider: field("provider"),
            properties: pool
                .spec
                .get("properties")
                .cloned()
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            spec: &pool.spec,
        }
    }
}

/// `/a/b/c` → `/a/b`; `/a` → None.
fn parent_path(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) | None => None,
        Some(i) => Some(&trimmed[..i]),
    }
}

/// Which pools must go before the listed ones are upserted by name: those not listed and
/// those whose path changed (so that two pools swapping paths never collide on the unique
/// path index).
pub(super) fn pools_to_delete(
    existing: &[(String, String)],
    listed: &[PoolColumns],
) -> Vec<String> {
    existing
        .iter()
        .filter(|(name, path)| {
            !listed
                .iter()
                .any(|p| p.name == name && p.path == Some(path.as_str()))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `text` with NUL characters replaced (PostgreSQL text cannot hold them; a tool's output
/// can contain anything).
pub(super) fn strip_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_six_fractional_digits() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 34, 56).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(to_text(micros(t)), "2024-05-01T12:34:56.123456Z");
        assert_eq!(
            to_text(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()),
            "2024-05-01T00:00:00.000000Z"
        );
        assert_eq!(from_text("t", &to_text(micros(t))).unwrap(), micros(t));
        assert!(from_text("t", "yesterday").is_err());
    }

    #[test]
    fn parent_paths() {
        assert_eq!(
            parent_path("/homelab/compute/gpu"),
            Some("/homelab/compute")
        );
        assert_eq!(parent_path("/homelab/compute/"), Some("/homelab"));
        assert_eq!(parent_path("/homelab"), None);
        assert_eq!(parent_path("/"), None);
    }
}
