//! `homelabd mcp`: the MCP server over stdin/stdout for a local agent. It reads the same
//! repository, store and charts as the daemon (the store only if it already exists: this
//! command never creates a database). Stdout carries the protocol; logs go to stderr.

use super::args::McpArgs;
use super::{Exit, UsageError};
use crate::config::{Overrides, RawConfig, Settings};
use crate::mcp::{HeadSource, McpContext};
use crate::pipeline::Engine;
use crate::propose::Proposer;
use crate::setting::redact_url;
use crate::store::Store;
use anyhow::Context as _;
use std::sync::Arc;

pub fn mcp(args: McpArgs) -> anyhow::Result<Exit> {
    let raw = match args.store.config.as_deref() {
        Some(p) => RawConfig::load(p).map_err(|e| UsageError(e.to_string()))?,
        None => RawConfig::default(),
    };
    let overrides = Overrides {
        repo: args.repo.clone(),
        branch: args.branch.clone(),
        path: args.path.clone(),
        state_dir: args.store.state_dir.clone(),
        database_url: args.store.database_url.clone(),
        ..Overrides::default()
    };
    let settings = Settings::resolve(raw, &overrides).map_err(|e| UsageError(e.to_string()))?;
    let repo = crate::daemon::tracked_repo(&settings).map_err(|e| UsageError(e.to_string()))?;
    if matches!(repo.origin, crate::source::Origin::Remote { .. }) {
        std::fs::create_dir_all(&settings.state_dir)
            .with_context(|| format!("cannot create {}", settings.state_dir.display()))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let engine =
            Arc::new(Engine::with_limits(settings.limits.clone()).context("built-in schemas")?);
        let store = open_store(&settings.database_url).await;
        let read_only = args.read_only || settings.mcp.read_only;
        let proposer = (!read_only).then(|| {
            Arc::new(Proposer::new(
                settings.propose.clone(),
                repo.clone(),
                engine.clone(),
                store.clone(),
            ))
        });
        tracing::info!(
            repo = %repo.describe(),
            branch = %repo.branch,
            store = store.is_some(),
            read_only,
            "MCP server on stdio"
        );
        let ctx = McpContext::new(
            settings.mcp_server(),
            repo,
            engine,
            store,
            proposer,
            read_only,
            HeadSource::Repository,
        );
        crate::mcp::serve_stdio(Arc::new(ctx)).await?;
        Ok(Exit::Ok)
    })
}

/// The daemon's store when it exists; `None` (with a note on stderr) otherwise.
async fn open_store(url: &str) -> Option<Arc<Store>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        && !std::path::Path::new(path).exists()
    {
        tracing::warn!(
            database = %redact_url(url),
            "no store yet (the daemon has not run with this state directory): status, drift and anomaly tools answer from the repository only"
        );
        return None;
    }
    match Store::connect(url).await {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            tracing::warn!(database = %redact_url(url), error = %e, "store unavailable; tools answer from the repository only");
            None
        }
    }
}
