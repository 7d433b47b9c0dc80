//! `audit`: the audit log, filtered and paged, as a table or JSON.

use super::args::{AuditArgs, OutputFormat};
use super::daemon_cmds::{open_existing, runtime};
use super::{Exit, UsageError};
use crate::store::{AuditEntry, AuditQuery, parse_since};
use anyhow::Context as _;
use serde_json::json;

/// Prints one page of the audit log, newest first, and how to get the next.
pub fn audit(args: AuditArgs) -> anyhow::Result<Exit> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, chrono::Utc::now()))
        .transpose()
        .map_err(|e| UsageError(e.to_string()))?;
    let query = AuditQuery {
        resource: args.resource.clone(),
        actor: args.actor.clone(),
        action: args.action.clone(),
        since,
        before: args.before,
    };
    runtime()?.block_on(async {
        let store = open_existing(&args.store).await?;
        let page = store
            .audit_entries(&query, args.limit)
            .await
            .context("cannot read the audit log")?;
        match args.output {
            OutputFormat::Json => super::output::print_json(&json!({
                "entries": page.entries,
                "next_before": page.next_before,
            }))?,
            OutputFormat::Text => {
                if page.entries.is_empty() {
                    outln!("no audit rows match");
                } else {
                    outln!(
                        "{:<19} {:<18} {:<22} {:<24} {:<15} DETAILS",
                        "AT (UTC)",
                        "ACTOR",
                        "ACTION",
                        "SUBJECT",
                        "CLIENT"
                    );
                }
                for e in &page.entries {
                    outln!(
                        "{:<19} {:<18} {:<22} {:<24} {:<15} {}",
                        e.record.at.format("%Y-%m-%d %H:%M:%S"),
                        cell(&e.record.actor, 18),
                        cell(&e.record.action, 22),
                        cell(&e.record.subject, 24),
                        e.client_addr
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        summary(e),
                    );
                }
                if let Some(before) = page.next_before {
                    outln!("older rows: --before {before}");
                }
            }
        }
        Ok(Exit::Ok)
    })
}

/// `text` in at most `width` characters (cut with `…`), control characters shown as `?`.
fn cell(text: &str, width: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() <= width {
        clean
    } else {
        let mut cut: String = clean.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The details worth a glance: the tool, the reason or error, the status; else the
/// details' JSON, cut to fit a line.
fn summary(e: &AuditEntry) -> String {
    let d = &e.record.details;
    let mut parts = Vec::new();
    for key in ["tool", "status", "reason", "error", "outcome", "repeated"] {
        match d.get(key) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => parts.push(format!("{key}={s}")),
            Some(v @ serde_json::Value::Number(_)) if v.as_u64() != Some(0) => {
                parts.push(format!("{key}={v}"))
            }
            _ => {}
        }
    }
    let text = if parts.is_empty() {
        match d {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            other => other.to_string(),
        }
    } else {
        parts.join(" ")
    };
    cell(&text, 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditRecord;

    fn entry(details: serde_json::Value) -> AuditEntry {
        AuditEntry {
            seq: 1,
            record: AuditRecord {
                at: chrono::Utc::now(),
                actor: "mcp:ci".into(),
                action: "mcp.refused".into(),
                subject: "/mcp".into(),
                details,
            },
            client_addr: None,
        }
    }

    #[test]
    fn details_show_the_telling_fields_first() {
        let e = entry(
            json!({"tool": "get-deployment-status", "reason": "rate limited", "arguments": ["x"], "repeated": 0}),
        );
        assert_eq!(
            summary(&e),
            "tool=get-deployment-status reason=rate limited"
        );
        let e = entry(json!({"commit": "abc"}));
        assert_eq!(summary(&e), "{\"commit\":\"abc\"}");
        assert_eq!(summary(&entry(json!({}))), "");
    }

    #[test]
    fn cells_are_cut_and_cleaned() {
        assert_eq!(cell("a\nb", 10), "a?b");
        assert_eq!(cell("abcdefgh", 5), "abcd…");
    }
}
