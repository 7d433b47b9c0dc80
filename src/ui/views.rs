//! View models (pure): store records and the daemon's status turned into what the
//! templates show — formatted times, short commit ids, state classes, pagers (the pool
//! tree is [`super::pools`]). No IO; unit-tested.

use crate::control::status::StatusSnapshot;
use crate::model::Provider;
use crate::store::{
    ApplyRunRecord, AuditEntry, DeviationRecord, PreviewRecord, PreviewStatus, ProposalRecord,
    RenderRecord, ResourceRecord, RevisionRecord,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A time as shown: `2026-05-01 12:34:56 UTC`.
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The first 12 characters of a commit id (or the whole of a shorter text).
pub fn short(commit: &str) -> String {
    commit.chars().take(12).collect()
}

/// The CSS class of a state badge: `ok`, `warn`, `bad` or `idle`.
pub fn state_class(state: &str) -> &'static str {
    match state {
        "applied" | "succeeded" | "valid" => "ok",
        "failed" | "invalid" | "critical" | "degraded" => "bad",
        "rendered" | "running" | "orphaned" | "warning" | "interrupted" => "warn",
        _ => "idle",
    }
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string (`?a=1&b=2`) of the non-empty `pairs`; empty when none is.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Where a paged list is, and links to its neighbours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pager {
    /// 1-based number of the first row shown (0 when none).
    pub from: i64,
    /// Number of the last row shown.
    pub to: i64,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// The pager of a list at `offset` with `limit` rows a page and `total` rows, linking to
/// `path` with `filters` kept.
pub fn pager(path: &str, filters: &[(&str, &str)], offset: i64, limit: i64, total: i64) -> Pager {
    let link = |at: i64| {
        let at = at.to_string();
        let mut pairs: Vec<(&str, &str)> = filters.to_vec();
        if at != "0" {
            pairs.push(("offset", &at));
        }
        format!("{path}{}", query(&pairs))
    };
    let to = (offset + limit).min(total);
    Pager {
        from: if to > offset { offset + 1 } else { 0 },
        to,
        total,
        prev: (offset > 0).then(|| link((offset - limit).max(0))),
        next: (offset + limit < total).then(|| link(offset + limit)),
    }
}

/// One resource in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceRow {
    pub name: String,
    pub href: String,
    pub state: String,
    pub class: &'static str,
    pub provider: Option<Provider>,
    pub pool: String,
    pub address: String,
    /// Why it is in its state, or the first line of its last error.
    pub reason: String,
    pub source: String,
}

impl From<&ResourceRecord> for ResourceRow {
    fn from(r: &ResourceRecord) -> ResourceRow {
        let state = r.shown_state().to_owned();
        let reason = match (&r.reason, &r.last_error) {
            (Some(reason), _) => reason.clone(),
            (None, Some(e)) => e.lines().next().unwrap_or("").to_owned(),
            (None, None) => String::new(),
        };
        ResourceRow {
            href: format!("/ui/resources/{}", encode(&r.name)),
            name: r.name.clone(),
            class: state_class(&state),
            state,
            provider: r.provider,
            pool: r.pool.clone().unwrap_or_default(),
            address: r.address.clone().unwrap_or_default(),
            reason,
            source: r.source.clone().unwrap_or_default(),
        }
    }
}

/// One deviation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviationRow {
    pub resource: String,
    pub href: String,
    pub kind: String,
    pub severity: String,
    pub class: &'static str,
    pub message: String,
    pub detected: String,
    /// `open`, or who resolved it and when.
    pub status: String,
    pub expected: String,
    pub actual: String,
}

impl From<&DeviationRecord> for DeviationRow {
    fn from(d: &DeviationRecord) -> DeviationRow {
        let pretty = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                .unwrap_or_default()
        };
        DeviationRow {
            href: format!("/ui/resources/{}", encode(&d.resource)),
            resource: d.resource.clone(),
            kind: d.deviation_type.clone(),
            class: state_class(&d.severity),
            severity: d.severity.clone(),
            message: d.message.clone().unwrap_or_else(|| d.key.clone()),
            detected: when(&d.detected_at),
            status: match (&d.resolved_at, &d.resolved_by) {
                (None, _) => "open".to_owned(),
                (Some(at), by) => format!(
                    "resolved {} by {}",
                    when(at),
                    by.as_deref().unwrap_or("observer")
                ),
            },
            expected: pretty(&d.expected),
            actual: pretty(&d.actual),
        }
    }
}

/// One apply, destroy or rollback run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub operation: String,
    pub state: String,
    pub class: &'static str,
    pub executor: String,
    pub revision: String,
    pub started: String,
    pub duration: String,
    pub exit_code: String,
    pub error: String,
    pub commands: Vec<String>,
    pub stdout: String,
    pub stderr: String,
}

impl From<&ApplyRunRecord> for RunRow {
    fn from(r: &ApplyRunRecord) -> RunRow {
        let commands = r
            .argv
            .as_array()
            .map(|cmds| {
                cmds.iter()
                    .map(|argv| match argv.as_array() {
                        Some(words) => words
                            .iter()
                            .map(|w| w.as_str().unwrap_or("?"))
                            .collect::<Vec<_>>()
                            .join(" "),
                        None => argv.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        RunRow {
            operation: r.operation.as_str().to_owned(),
            class: state_class(r.state.as_str()),
            state: r.state.as_str().to_owned(),
            executor: r.executor.clone(),
            revision: short(&r.revision),
            started: when(&r.started_at),
            duration: r
                .duration_ms
                .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                .unwrap_or_default(),
            exit_code: r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            error: r.error.clone().unwrap_or_default(),
            commands,
            stdout: r.stdout_tail.clone().unwrap_or_default(),
            stderr: r.stderr_tail.clone().unwrap_or_default(),
        }
    }
}

/// One recorded revision (a pass over a commit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassRow {
    pub commit: String,
    pub short: String,
    pub seen: String,
    pub valid: bool,
    pub errors: i64,
    pub warnings: i64,
    pub resources_valid: i64,
    pub resources_invalid: i64,
}

impl From<&RevisionRecord> for PassRow {
    fn from(r: &RevisionRecord) -> PassRow {
        PassRow {
            short: short(&r.commit),
            commit: r.commit.clone(),
            seen: when(&r.seen_at),
            valid: r.valid,
            errors: r.errors,
            warnings: r.warnings,
            resources_valid: r.resources_valid,
            resources_invalid: r.resources_invalid,
        }
    }
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
    /// The client address the row came from (`/mcp` calls and refusals), else empty.
    pub client: String,
}

impl From<&AuditEntry> for AuditRow {
    fn from(entry: &AuditEntry) -> AuditRow {
        let a = &entry.record;
        let details = if a.details.is_null() {
            String::new()
        } else {
            let mut text = a.details.to_string();
            if text.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push('…');
            }
            text
        };
        AuditRow {
            at: when(&a.at),
            actor: a.actor.clone(),
            action: a.action.clone(),
            subject: a.subject.clone(),
            details,
            client: entry
                .client_addr
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
        }
    }
}

/// One proposal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalRow {
    pub created: String,
    pub tool: String,
    pub client: String,
    pub branch: String,
    pub commit: String,
    /// Only `http(s)://` links are kept.
    pub pr_url: String,
    pub status: String,
    pub summary: String,
}

impl From<&ProposalRecord> for ProposalRow {
    fn from(p: &ProposalRecord) -> ProposalRow {
        let summary = ["summary", "title", "error"]
            .iter()
            .find_map(|k| p.details.get(*k).and_then(|v| v.as_str()))
            .unwrap_or("")
            .to_owned();
        ProposalRow {
            created: when(&p.created_at),
            tool: p.tool.clone(),
            client: p.client.clone(),
            branch: p.branch.clone(),
            commit: p.commit.as_deref().map(short).unwrap_or_default(),
            pr_url: p
                .pr_url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .unwrap_or_default(),
            status: p.status.as_str().to_owned(),
            summary,
        }
    }
}

/// One pull-request preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewRow {
    pub pull: i64,
    pub head: String,
    pub base: String,
    /// `valid`, `invalid` or `failed`, and its state class.
    pub status: String,
    pub class: &'static str,
    pub summary: String,
    pub created: i64,
    pub changed: i64,
    pub removed: i64,
    /// Only `http(s)://` links are kept.
    pub pr_url: String,
    /// Where the report is: `pull request` or `log only`.
    pub reported: &'static str,
    pub at: String,
}

impl From<&PreviewRecord> for PreviewRow {
    fn from(p: &PreviewRecord) -> PreviewRow {
        PreviewRow {
            pull: p.pull,
            head: short(&p.head),
            base: p.base.as_deref().map(short).unwrap_or_default(),
            status: p.status.as_str().to_owned(),
            class: match p.status {
                PreviewStatus::Valid => "ok",
                PreviewStatus::Invalid | PreviewStatus::Failed => "bad",
            },
            summary: p.summary.clone(),
            created: p.created,
            changed: p.changed,
            removed: p.removed,
            pr_url: p
                .pr_url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .unwrap_or_default(),
            reported: if p.reported {
                "pull request"
            } else {
                "log only"
            },
            at: when(&p.previewed_at),
        }
    }
}

/// One render of a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderRow {
    pub revision: String,
    pub outcome: String,
    pub output_hash: String,
    pub at: String,
}

impl From<&RenderRecord> for RenderRow {
    fn from(r: &RenderRecord) -> RenderRow {
        RenderRow {
            revision: short(&r.revision),
            outcome: r.outcome.clone(),
            output_hash: short(&r.output_hash),
            at: when(&r.rendered_at),
        }
    }
}

/// The overview's health lines from the daemon's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub ready: bool,
    pub git_ok: bool,
    pub git: String,
    pub db_ok: bool,
    pub db: String,
    /// Per provider: (provider, available, executor name or why not).
    pub executors: Vec<(String, bool, String)>,
    pub last_sync: String,
    pub verification: String,
    pub restart_required: Vec<String>,
}

impl From<&StatusSnapshot> for Health {
    fn from(s: &StatusSnapshot) -> Health {
        Health {
            ready: s.ready,
            git_ok: s.git_ok,
            git: s.git_error.clone().unwrap_or_else(|| "reachable".into()),
            db_ok: s.db_ok,
            db: s.db_error.clone().unwrap_or_else(|| "reachable".into()),
            executors: s
                .executors
                .iter()
                .map(|(p, r)| match r {
                    Ok(name) => (p.clone(), true, name.clone()),
                    Err(why) => (p.clone(), false, why.clone()),
                })
                .collect(),
            last_sync: s.last_sync.as_ref().map(when).unwrap_or_default(),
            verification: match &s.verification {
                None => String::new(),
                Some(v) => match (&v.signer, &v.refused) {
                    (_, Some(r)) => {
                        format!("{} mode: newest commit refused: {}", v.mode, r.describe())
                    }
                    (Some(signer), None) => format!("{} mode: signed by {signer}", v.mode),
                    (None, None) => format!("{} mode", v.mode),
                },
            },
            restart_required: s.restart_required.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pagers_link_to_neighbours_and_keep_filters() {
        let p = pager(
            "/ui/resources",
            &[("state", "failed"), ("q", "")],
            50,
            50,
            120,
        );
        assert_eq!((p.from, p.to, p.total), (51, 100, 120));
        assert_eq!(p.prev.as_deref(), Some("/ui/resources?state=failed"));
        assert_eq!(
            p.next.as_deref(),
            Some("/ui/resources?state=failed&offset=100")
        );
        let empty = pager("/ui/audit", &[], 0, 50, 0);
        assert_eq!((empty.from, empty.to), (0, 0));
        assert!(empty.prev.is_none() && empty.next.is_none());
        assert_eq!(query(&[("q", "a b&<x>")]), "?q=a%20b%26%3Cx%3E");
    }

    #[test]
    fn a_resource_row_shows_the_reason_or_the_first_error_line() {
        let mut r: ResourceRecord = serde_json::from_value(json!({
            "name": "web a", "state": "failed", "reason": null, "provider": "docker",
            "pool": "/home", "chart": null, "resource_type": null, "placement": null,
            "dimensions": null, "desired_revision": null, "input_hash": null,
            "output_hash": null, "source": "definitions/web.yaml:3",
            "last_error": "boom\nmore", "last_error_at": null,
            "updated_at": "2026-01-01T00:00:00Z", "applied_hash": null,
            "applied_revision": null, "policy": null
        }))
        .unwrap();
        let row = ResourceRow::from(&r);
        assert_eq!(row.reason, "boom");
        assert_eq!(row.class, "bad");
        assert_eq!(row.href, "/ui/resources/web%20a");
        r.reason = Some("waiting".into());
        assert_eq!(ResourceRow::from(&r).reason, "waiting");
    }
}
