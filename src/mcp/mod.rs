//! MCP for AI agents: read-only tools over the real repository, store, pools and charts,
//! and proposal tools that only ever open a branch and a pull request.
//!
//! Served by rmcp over stdio (`homelabd mcp`) and over streamable HTTP at `/mcp` on the
//! daemon's listener ([`http`], bearer tokens with a scope and a rate limit, [`auth`]).
//!
//! Layout: [`context`] is the IO shell (the tracked head's snapshot run through the
//! pipeline and cached per commit, the store, the proposer); [`server`] holds the tool
//! handlers, kept thin; the answers are computed by pure modules over a [`View`]:
//! [`inventory`] (overview, templates, charts), [`pools`], [`health`] (status, drift,
//! anomalies), [`placement`] and [`sizing`] (hypothetical resources: validate, size,
//! place, render), [`checks`], [`sop`], [`guidance`] (allocation, strategy) and
//! [`migration`] (snapshots and migration plans). [`proposals`] builds the changes the
//! proposal tools hand to [`crate::propose::Proposer`]; [`resources`] and [`prompts`] are
//! the MCP resources and prompts. [`params`] accepts the design's parameter names too
//! (aliases, implemented parameters); [`compat`] names the few that cannot apply in the
//! answer. [`audit`] decides which calls the audit log keeps (proposals, refusals,
//! reads of sensitive state); `query-audit-log` reads it back.

mod adopt_tool;
mod adopt_vm;
pub mod audit;
mod audit_tool;
pub mod auth;
pub mod checks;
pub mod compat;
pub mod context;
#[cfg(test)]
mod fixture;
pub mod guidance;
pub mod health;
pub mod http;
pub mod inventory;
pub mod limits;
pub mod live;
mod live_tools;
pub mod migration;
mod migration_target;
pub mod observed;
pub mod page;
pub mod params;
pub mod placement;
mod planning_tools;
pub mod pools;
pub mod prompts;
mod proposal_params;
mod proposal_tools;
pub mod proposals;
#[cfg(test)]
mod props;
pub mod reply;
pub mod resources;
pub mod server;
pub mod settings;
pub mod sizing;
pub mod sop;
#[cfg(test)]
mod tests;

pub use adopt_tool::AdoptRequest;
pub use context::{HeadSource, McpContext, View};
pub use proposal_tools::ProposalAnswer;
pub use server::HomelabMcp;
pub use settings::{CallLimits, McpSettings, Scope, ServerSettings};

use crate::control::status::DaemonStatus;
use crate::pipeline::Engine;
use crate::source::TrackedRepo;
use rmcp::ServiceExt;
use std::sync::Arc;

/// Why the MCP server stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("MCP session could not start: {0}")]
    Start(String),
    #[error("MCP session ended abnormally: {0}")]
    Ended(String),
}

/// The daemon's `/mcp` router. It answers at the revision the daemon last reconciled,
/// reads the daemon's store through its own connection, and proposes through its own
/// [`crate::propose::Proposer`] (none when `[mcp] read_only`).
pub async fn daemon_router(
    settings: &ServerSettings,
    repo: &TrackedRepo,
    engine: Arc<Engine>,
    status: Arc<DaemonStatus>,
    guard: Arc<auth::Guard>,
    stop: tokio_util::sync::CancellationToken,
) -> axum::Router {
    let store = match crate::store::Store::connect(&settings.database_url).await {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            tracing::warn!(error = %e, "MCP: store unavailable; status and drift tools answer from the repository only");
            None
        }
    };
    let read_only = settings.mcp.read_only;
    let proposer = (!read_only).then(|| {
        Arc::new(crate::propose::Proposer::new(
            settings.propose.clone(),
            repo.clone(),
            engine.clone(),
            store.clone(),
        ))
    });
    let ctx = McpContext::new(
        settings.clone(),
        repo.clone(),
        engine,
        store,
        proposer,
        read_only,
        HeadSource::Daemon(status),
    );
    http::router(HomelabMcp::new(Arc::new(ctx)), &settings.mcp, guard, stop)
}

/// Serves `ctx` over stdin/stdout until the client closes its end.
pub async fn serve_stdio(ctx: Arc<McpContext>) -> Result<(), McpError> {
    let server = HomelabMcp::new(ctx);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Start(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Ended(e.to_string()))?;
    Ok(())
}
