//! `query-audit-log` (read scope): the audit trail filtered by resource, actor, action
//! and time, newest first, a bounded page at a time; and the recording of tool calls
//! (which ones: [`super::audit`]).

use super::audit::{self, Outcome};
use super::reply::{Json, Refusal, Summary};
use super::server::HomelabMcp;
use crate::store::{AuditEntry, AuditQuery};
use rmcp::ErrorData;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, ContentBlock, Extensions};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Rows per page when the caller does not say, and at most.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// Which audit rows `query-audit-log` returns.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditLogQuery {
    /// Rows about one resource (also `instance_name`, `resource_name`, `service_name`).
    #[serde(
        default,
        alias = "instance_name",
        alias = "resource_name",
        alias = "service_name"
    )]
    pub resource: Option<String>,
    /// Exactly this actor: `daemon`, `mcp:<token name>`, `cli:<user>`, `ui:<token name>`,
    /// `stdio`.
    #[serde(default)]
    pub actor: Option<String>,
    /// Actions starting with this, e.g. `mcp.` (agent calls and refusals), `proposal.`,
    /// `apply.`, `resource.`.
    #[serde(default)]
    pub action: Option<String>,
    /// Rows at or after this time: RFC 3339, a date, or an age such as `90m`, `24h`, `7d`.
    #[serde(default)]
    pub since: Option<String>,
    /// Page size (1-200, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (older rows).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One audit row.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditRow {
    pub at: String,
    /// Who: `daemon`, `mcp:<token name>`, `cli:<user>`, `ui:<token name>`, `stdio`.
    pub actor: String,
    pub action: String,
    /// Usually the resource; a branch for proposals, a tool or `/mcp` for agent calls.
    pub subject: String,
    /// The client address of an agent call or refusal over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    pub details: serde_json::Value,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AuditLogAnswer {
    pub entries: Vec<AuditRow>,
    /// Pass as `cursor` for older rows; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Summary for AuditLogAnswer {
    fn summary(&self) -> String {
        let mut out = format!("{} audit rows, newest first", self.entries.len());
        if self.next_cursor.is_some() {
            out.push_str(" (more: pass next_cursor)");
        }
        for e in self.entries.iter().take(20) {
            out.push_str(&format!(
                "\n{} {} {} {}",
                e.at, e.actor, e.action, e.subject
            ));
        }
        out
    }
}

impl From<AuditEntry> for AuditRow {
    fn from(e: AuditEntry) -> AuditRow {
        AuditRow {
            at: e
                .record
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            actor: e.record.actor,
            action: e.record.action,
            subject: e.record.subject,
            client_addr: e.client_addr.map(|a| a.to_string()),
            details: e.record.details,
        }
    }
}

/// The store query of `q`, or why it cannot be asked.
fn query_of(q: &AuditLogQuery) -> Result<AuditQuery, Refusal> {
    let since = q
        .since
        .as_deref()
        .map(|s| crate::store::parse_since(s, chrono::Utc::now()))
        .transpose()
        .map_err(|e| Refusal::fixable(e.to_string(), Vec::new()))?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                Refusal::fixable(
                    "cursor is not one this tool returned",
                    vec!["pass next_cursor of the previous page unchanged".into()],
                )
            })
        })
        .transpose()?;
    let bounded = |v: &Option<String>| v.as_deref().map(|s| audit::one_line(s, 200));
    Ok(AuditQuery {
        resource: bounded(&q.resource),
        actor: bounded(&q.actor),
        action: bounded(&q.action),
        since,
        before,
    })
}

#[tool_router(router = audit_router, vis = "pub(super)")]
impl HomelabMcp {
    /// The audit trail: what the daemon did (renders, applies, prunes, drift), what people
    /// asked for (`homelabd apply`, the dashboard), which proposals agents opened, and
    /// agents' refused calls and reads of sensitive state — each with who (a token's name,
    /// never the token) and, over HTTP, the client address. Filter by resource, actor,
    /// action prefix and time; newest first, paged.
    #[tool(
        name = "query-audit-log",
        annotations(
            title = "Query the audit log",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn query_audit_log(
        &self,
        Parameters(q): Parameters<AuditLogQuery>,
    ) -> Result<Json<AuditLogAnswer>, Refusal> {
        let query = query_of(&q)?;
        let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let page = self
            .store()?
            .audit_entries(&query, i64::from(limit))
            .await
            .map_err(|e| Refusal::Unavailable(format!("store: {e}")))?;
        Ok(Json(AuditLogAnswer {
            entries: page.entries.into_iter().map(AuditRow::from).collect(),
            next_cursor: page.next_before.map(|s| s.to_string()),
        }))
    }
}

/// The client address of an HTTP call (none over stdio).
pub(super) fn client_addr(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::http::request::Parts>()?
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// How a call ended, from what the caller was given.
pub(super) fn outcome_of(result: &Result<CallToolResponse, ErrorData>) -> Outcome {
    match result {
        Err(e) => Outcome::Refused(e.message.to_string()),
        Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => {
            let text = r
                .content
                .iter()
                .find_map(|c| match c {
                    ContentBlock::Text(t) => Some(t.text.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "refused".to_owned());
            Outcome::Refused(text)
        }
        Ok(_) => Outcome::Ok,
    }
}

impl HomelabMcp {
    /// Records one tool call in the audit log when it is one the log keeps. A store
    /// failure is logged: the call's answer is what the caller must get.
    pub(super) async fn record_call(
        &self,
        actor: &str,
        client: Option<IpAddr>,
        tool: &str,
        arguments: Option<&serde_json::Map<String, serde_json::Value>>,
        outcome: &Outcome,
    ) {
        let Some(store) = &self.ctx.store else {
            return;
        };
        let proposal = self.is_proposal_tool(tool);
        let Some(row) = audit::call_row(
            chrono::Utc::now(),
            actor,
            tool,
            proposal,
            arguments,
            outcome,
        ) else {
            return;
        };
        if let Err(e) = store.record_audit(&row, client).await {
            tracing::error!(tool, actor, error = %e, "could not record an MCP call in the audit log");
        }
    }
}
