//! The audit trail for people and agents who ask what happened: rows filtered by
//! resource, actor, action and time, newest first, a bounded page at a time with a
//! cursor (the `seq` of the last row shown), and single rows written with the client's
//! address (`/mcp` calls and refusals).

use super::dialect::{Arg, Row, Tx, json, text, time};
use super::{AuditRecord, Backend, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
// The statement is composed from constants only (the address column per backend);
// every value is bound.
use sqlx::AssertSqlSafe;

/// The most rows one page may hold.
pub const MAX_PAGE: i64 = 500;

/// Which audit rows to read. `None` (or an empty string) means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Rows about this resource: the row's subject, or the `subject` / `resource` its
    /// details name (proposals are filed under their branch, about a resource).
    pub resource: Option<String>,
    /// Exact actor (`daemon`, `cli:alice`, `mcp:claude`, `ui:ops`, `stdio`).
    pub actor: Option<String>,
    /// Action prefix (`mcp.` matches `mcp.called` and `mcp.refused`).
    pub action: Option<String>,
    /// Rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Rows older than the one with this `seq` (the cursor of the previous page).
    pub before: Option<i64>,
}

/// One audit row as read back: the record, where it sits (`seq`, the paging cursor) and
/// the client address it came from, if one was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Insertion order; pass the last one shown as `before` for the next page.
    pub seq: i64,
    #[serde(flatten)]
    pub record: AuditRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<IpAddr>,
}

/// One page of audit rows, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// A `--since` value: RFC 3339 (`2026-05-01T12:00:00Z`), a date (`2026-05-01`, midnight
/// UTC) or an age before `now` (`90m`, `12h`, `7d`, `2w`).
pub fn parse_since(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, InvalidSince> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: i64 = digits.parse().map_err(|_| invalid_since(value))?;
    let age = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        "w" => chrono::Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(|| invalid_since(value))?;
    now.checked_sub_signed(age)
        .ok_or_else(|| invalid_since(value))
}

/// A `--since` value that is no time (shown cut to 40 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "since {0:?} is not a time: use RFC 3339 (2026-05-01T12:00:00Z), a date (2026-05-01) or an age (90m, 12h, 7d, 2w)"
)]
pub struct InvalidSince(String);

fn invalid_since(value: &str) -> InvalidSince {
    InvalidSince(value.chars().take(40).collect())
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `prefix%` for `LIKE … ESCAPE '\'`, with the wildcards in `prefix` escaped.
fn prefix_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The address column as text: PostgreSQL's `INET` through `host()` (no `/32`), SQLite's
/// text as it is.
pub(super) fn address_column(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "client_addr",
        Backend::Postgres => "host(client_addr)",
    }
}

/// The address placeholder: `INET` is cast from text in PostgreSQL; SQLite keeps text
/// (a cast there would give the value numeric affinity).
fn address_param(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("${n}"),
        Backend::Postgres => format!("CAST(${n} AS INET)"),
    }
}

/// The statement that writes one audit row with its client address (`$6`).
fn insert_with_address(backend: Backend) -> String {
    format!(
        "INSERT INTO audit_log (at, actor, action, subject, details, client_addr)
         VALUES ($1, $2, $3, $4, $5, {})",
        address_param(backend, 6)
    )
}

/// Writes `row` with the client address it came from inside `tx` (a dashboard login or
/// logout, written with its session).
pub(super) async fn insert_audit_from(
    tx: &mut Tx,
    row: &AuditRecord,
    client_addr: Option<IpAddr>,
) -> Result<(), StoreError> {
    let address = client_addr.map(|a| a.to_string());
    let sql = insert_with_address(tx.backend());
    tx.execute(
        AssertSqlSafe(sql),
        &[
            time(row.at),
            text(&row.actor),
            text(&row.action),
            text(&row.subject),
            json(&row.details),
            Arg::Text(address.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Writes one audit row with the client address it came from (a single statement).
    pub async fn record_audit(
        &self,
        row: &AuditRecord,
        client_addr: Option<IpAddr>,
    ) -> Result<(), StoreError> {
        let address = client_addr.map(|a| a.to_string());
        self.execute(
            AssertSqlSafe(insert_with_address(self.backend())),
            &[
                time(row.at),
                text(&row.actor),
                text(&row.action),
                text(&row.subject),
                json(&row.details),
                Arg::Text(address.as_deref()),
            ],
        )
        .await?;
        Ok(())
    }

    /// At most `limit` (1..=[`MAX_PAGE`]) audit rows matching `query`, newest first.
    pub async fn audit_entries(
        &self,
        query: &AuditQuery,
        limit: i64,
    ) -> Result<AuditPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let action = given(&query.action).map(prefix_pattern);
        let sql = format!(
            "SELECT seq, at, actor, action, subject, details, {} AS client_addr
             FROM audit_log
             WHERE (CAST($1 AS TEXT) IS NULL OR subject = $1
                    OR details ->> 'subject' = $1 OR details ->> 'resource' = $1)
               AND (CAST($2 AS TEXT) IS NULL OR actor = $2)
               AND (CAST($3 AS TEXT) IS NULL OR action LIKE $3 ESCAPE '\\')
               AND ($4 IS NULL OR at >= $4)
               AND ($5 IS NULL OR seq < $5)
             ORDER BY seq DESC LIMIT $6",
            address_column(self.backend())
        );
        let rows = self
            .fetch_all(
                AssertSqlSafe(sql),
                &[
                    Arg::Text(given(&query.resource)),
                    Arg::Text(given(&query.actor)),
                    Arg::Text(action.as_deref()),
                    Arg::Time(query.since),
                    Arg::Int(query.before),
                    Arg::Int(Some(limit + 1)),
                ],
            )
            .await?;
        let mut entries = rows.iter().map(entry_from).collect::<Result<Vec<_>, _>>()?;
        let next_before = if entries.len() as i64 > limit {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage {
            entries,
            next_before,
        })
    }
}

pub(super) fn entry_from(row: &Row) -> Result<AuditEntry, StoreError> {
    let address: Option<String> = row.get("client_addr")?;
    let client_addr = address
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|e| StoreError::Corrupt(format!("client_addr {a:?}: {e}")))
        })
        .transpose()?;
    Ok(AuditEntry {
        seq: row.get("seq")?,
        record: AuditRecord {
            at: row.time("at")?,
            actor: row.get("actor")?,
            action: row.get("action")?,
            subject: row.get("subject")?,
            details: row.json("details")?,
        },
        client_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-05-10T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn since_takes_times_dates_and_ages() {
        assert_eq!(
            parse_since("2026-05-01T08:30:00+02:00", now()).unwrap(),
            "2026-05-01T06:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_since("2026-05-01", now()).unwrap(),
            "2026-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_since("12h", now()).unwrap(),
            "2026-05-10T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_since("2w", now()).unwrap(),
            "2026-04-26T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn since_refuses_what_is_not_a_time_and_says_what_is() {
        for bad in ["yesterday", "12y", "h", "", "99999999999999999999d"] {
            let e = parse_since(bad, now()).unwrap_err();
            assert!(e.to_string().contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn action_prefixes_escape_wildcards() {
        assert_eq!(prefix_pattern("mcp."), "mcp.%");
        assert_eq!(prefix_pattern("a_b%"), "a\\_b\\%%");
    }
}
