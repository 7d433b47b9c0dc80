//! What the audit log keeps of `/mcp` and stdio use (pure): which calls are recorded —
//! every proposal, every refusal (scope, rate limit, argument limits, an invalid request,
//! a timeout) and every read of sensitive state (status with run logs, drift, anomalies,
//! the live inventory, the audit log itself) —, the row each becomes (the token's *name*
//! as actor, never the token; argument names, never values), and [`Throttle`], which
//! keeps refusals of unauthenticated or rate-limited requests to one row per minute per
//! client and reason, however many arrive.

use crate::store::AuditRecord;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Tools whose answers carry state an operator wants to know was read: apply logs and
/// errors, drift, anomalies, what runs where outside git, and the audit log.
const SENSITIVE_READS: &[&str] = &[
    "get-deployment-status",
    "compare-expected-vs-actual-state",
    "detect-infrastructure-anomalies",
    "discover-proxmox-resources",
    "query-audit-log",
];

/// Argument names that carry the resource a call is about, in the order they are tried.
const RESOURCE_ARGUMENTS: &[&str] = &[
    "resource",
    "name",
    "instance_name",
    "instance_id",
    "resource_name",
    "service_name",
];

/// How a tool call ended, as the audit log tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused, with the reason the caller was given (one line, bounded).
    Refused(String),
}

/// Is a call to `tool` with `arguments` a read of sensitive state? The overview counts
/// only when it asks for the live Proxmox inventory.
pub fn is_sensitive_read(tool: &str, arguments: Option<&serde_json::Map<String, Value>>) -> bool {
    SENSITIVE_READS.contains(&tool)
        || (tool == "discover-infrastructure-context"
            && arguments.and_then(|a| a.get("proxmox")) == Some(&Value::Bool(true)))
}

/// The row of one tool call, or `None` when the call is not one the log keeps (a
/// successful read of nothing sensitive).
pub fn call_row(
    at: DateTime<Utc>,
    actor: &str,
    tool: &str,
    proposal: bool,
    arguments: Option<&serde_json::Map<String, Value>>,
    outcome: &Outcome,
) -> Option<AuditRecord> {
    let action = match outcome {
        Outcome::Refused(_) => "mcp.refused",
        Outcome::Ok if proposal => "mcp.proposed",
        Outcome::Ok if is_sensitive_read(tool, arguments) => "mcp.read",
        Outcome::Ok => return None,
    };
    let mut details = json!({
        "tool": one_line(tool, MAX_SUBJECT),
        "arguments": argument_names(arguments),
    });
    if let Outcome::Refused(reason) = outcome {
        details["reason"] = json!(one_line(reason, 300));
    }
    Some(AuditRecord {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject_of(tool, arguments),
        details,
    })
}

/// The row of a request refused before any tool saw it (no valid token, rate limit).
/// `repeated` counts the refusals of the same kind the throttle held back since the
/// last row.
pub fn request_refusal_row(
    at: DateTime<Utc>,
    token: Option<&str>,
    status: u16,
    reason: &str,
    repeated: u64,
) -> AuditRecord {
    AuditRecord {
        at,
        actor: match token {
            Some(name) => format!("mcp:{name}"),
            None => "mcp:anonymous".to_owned(),
        },
        action: "mcp.refused".to_owned(),
        subject: "/mcp".to_owned(),
        details: json!({
            "status": status,
            "reason": one_line(reason, 300),
            "repeated": repeated,
        }),
    }
}

/// The resource a call is about (its first resource-naming argument, if it is a plain
/// name), else the tool: `homelabd audit --resource web` finds the agents that read web.
/// The tool is the caller's text (a call to an unknown tool is refused and recorded), so
/// it is cut to one line of [`MAX_SUBJECT`] characters.
fn subject_of(tool: &str, arguments: Option<&serde_json::Map<String, Value>>) -> String {
    RESOURCE_ARGUMENTS
        .iter()
        .filter_map(|k| arguments?.get(*k)?.as_str())
        .find(|v| crate::propose::request::check_label("resource", v).is_ok())
        .map_or_else(|| one_line(tool, MAX_SUBJECT), str::to_owned)
}

/// The longest tool name kept as a subject (homelabd's own tool names are under 40).
const MAX_SUBJECT: usize = 100;

/// The names of the arguments (sorted, at most 32, each one line of at most 64
/// characters): what was asked, never the values, which can be whole definitions.
fn argument_names(arguments: Option<&serde_json::Map<String, Value>>) -> Vec<String> {
    let mut names: Vec<String> = arguments
        .map(|a| a.keys().take(32).map(|k| one_line(k, 64)).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// `text` on one line without control characters (NUL included: PostgreSQL refuses it),
/// at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// At most one row per key (client, token, reason) per window; the held-back count goes
/// into the next row. Bounded: at most [`Throttle::MAX_KEYS`] keys (expired ones are
/// dropped first, then everything — a flood of new addresses then writes at most one row
/// per address per window, the same as before).
#[derive(Debug)]
pub struct Throttle {
    window: Duration,
    keys: HashMap<String, (Instant, u64)>,
}

impl Throttle {
    /// Keys remembered at most.
    pub const MAX_KEYS: usize = 10_000;

    pub fn new(window: Duration) -> Throttle {
        Throttle {
            window,
            keys: HashMap::new(),
        }
    }

    /// `Some(held back since the last row)` when a row for `key` is due now, else `None`
    /// (and this one is counted).
    pub fn admit(&mut self, key: String, now: Instant) -> Option<u64> {
        let window = self.window;
        if let Some((last, held)) = self.keys.get_mut(&key) {
            if now.saturating_duration_since(*last) < window {
                *held = held.saturating_add(1);
                return None;
            }
            let repeated = *held;
            *last = now;
            *held = 0;
            return Some(repeated);
        }
        if self.keys.len() >= Self::MAX_KEYS {
            self.keys
                .retain(|_, (last, _)| now.saturating_duration_since(*last) < window);
            if self.keys.len() >= Self::MAX_KEYS {
                self.keys.clear();
            }
        }
        self.keys.insert(key, (now, 0));
        Some(0)
    }
}

/// The throttle key of a refused request.
pub fn refusal_key(client: Option<IpAddr>, token: Option<&str>, status: u16) -> String {
    format!(
        "{}|{}|{status}",
        client.map(|c| c.to_string()).unwrap_or_default(),
        token.unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn at() -> DateTime<Utc> {
        "2026-05-10T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn proposals_refusals_and_sensitive_reads_are_kept_and_plain_reads_are_not() {
        let a = args(json!({"resource": "web", "include_logs": true}));
        let read = call_row(
            at(),
            "mcp:ci",
            "get-deployment-status",
            false,
            Some(&a),
            &Outcome::Ok,
        )
        .unwrap();
        assert_eq!(read.action, "mcp.read");
        assert_eq!(read.actor, "mcp:ci");
        assert_eq!(read.subject, "web");
        assert_eq!(
            read.details["arguments"],
            json!(["include_logs", "resource"])
        );

        assert!(
            call_row(
                at(),
                "mcp:ci",
                "list-deployment-templates",
                false,
                None,
                &Outcome::Ok
            )
            .is_none()
        );

        let proposed = call_row(
            at(),
            "mcp:bot",
            "deploy-with-intelligence",
            true,
            None,
            &Outcome::Ok,
        )
        .unwrap();
        assert_eq!(proposed.action, "mcp.proposed");
        assert_eq!(proposed.subject, "deploy-with-intelligence");

        let refused = call_row(
            at(),
            "mcp:ci",
            "list-deployment-templates",
            false,
            None,
            &Outcome::Refused("rate limited,\nretry after 3 s".into()),
        )
        .unwrap();
        assert_eq!(refused.action, "mcp.refused");
        assert_eq!(refused.details["reason"], "rate limited, retry after 3 s");
    }

    #[test]
    fn the_overview_is_sensitive_only_with_the_live_inventory() {
        let live = args(json!({"proxmox": true}));
        assert!(is_sensitive_read(
            "discover-infrastructure-context",
            Some(&live)
        ));
        assert!(!is_sensitive_read("discover-infrastructure-context", None));
    }

    #[test]
    fn values_never_reach_the_row_and_hostile_names_are_bounded() {
        let mut a = serde_json::Map::new();
        a.insert("definition".into(), json!("password: hunter2"));
        a.insert("x\u{0}y".repeat(40), json!(1));
        a.insert("name".into(), json!("not a name; DROP TABLE"));
        let row = call_row(
            at(),
            "mcp:bot",
            "validate-universal-definition",
            false,
            Some(&a),
            &Outcome::Refused("invalid".into()),
        )
        .unwrap();
        let text = row.details.to_string();
        assert!(!text.contains("hunter2"));
        assert!(!text.contains('\u{0}'));
        assert_eq!(
            row.subject, "validate-universal-definition",
            "only a plain name is a subject"
        );
        assert!(
            row.details["arguments"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n.as_str().unwrap().chars().count() <= 65)
        );
    }

    #[test]
    fn an_unknown_tool_name_is_kept_as_a_bounded_subject() {
        let tool = format!("{}\n{}", "x".repeat(10_000), "y".repeat(10));
        let row = call_row(
            at(),
            "mcp:bot",
            &tool,
            false,
            None,
            &Outcome::Refused("unknown tool".into()),
        )
        .unwrap();
        assert_eq!(row.subject.chars().count(), MAX_SUBJECT + 1, "cut, with …");
        assert!(row.subject.ends_with('…'));
        assert!(!row.subject.contains('\n'));
        let short = call_row(
            at(),
            "mcp:bot",
            "no-such-tool",
            false,
            None,
            &Outcome::Refused("unknown tool".into()),
        )
        .unwrap();
        assert_eq!(short.subject, "no-such-tool", "a short name is kept whole");
    }

    #[test]
    fn the_throttle_writes_one_row_per_key_and_window_and_counts_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let key = refusal_key(Some([10, 0, 0, 9].into()), None, 401);
        assert_eq!(t.admit(key.clone(), t0), Some(0));
        for i in 1..=5 {
            assert_eq!(t.admit(key.clone(), t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(
            t.admit(refusal_key(Some([10, 0, 0, 8].into()), None, 401), t0),
            Some(0),
            "another client has its own row"
        );
        assert_eq!(t.admit(key, t0 + Duration::from_secs(61)), Some(5));
    }

    #[test]
    fn the_throttle_remembers_a_bounded_number_of_keys() {
        let mut t = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..(Throttle::MAX_KEYS as u32 + 10) {
            t.admit(
                refusal_key(Some(IpAddr::from(i.to_be_bytes())), None, 401),
                t0,
            );
        }
        assert!(t.keys.len() <= Throttle::MAX_KEYS);
    }

    #[test]
    fn refusal_rows_name_the_token_or_say_there_was_none() {
        let row = request_refusal_row(at(), None, 401, "unknown token", 3);
        assert_eq!(row.actor, "mcp:anonymous");
        assert_eq!(row.details["repeated"], 3);
        let row = request_refusal_row(at(), Some("ci"), 429, "rate limited", 0);
        assert_eq!(row.actor, "mcp:ci");
    }
}
