//! `homelabd mcp`: the MCP server over stdin/stdout for a local agent. It reads the same
//! repository, store and charts as the daemon (the store only if it already exists: this
//! command never creates a database). Stdout carries the protocol; logs go to stderr.

use super::args::{McpArgs, StoreArgs};
use super::{Exit, UsageError};
use crate::config::{Overrides, RawConfig, Settings};
use crate::mcp::{HeadSource, McpContext};
use crate::pipeline::Engine;
use crate::propose::Proposer;
use crate::setting::redact_url;
use crate::source::TrackedRepo;
use crate::store::Store;
use anyhow::Context as _;
use std::sync::Arc;

pub fn mcp(args: McpArgs) -> anyhow::Result<Exit> {
    let (settings, repo) = resolve(&args.store, &args.repo, &args.branch, &args.path)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let read_only = args.read_only || settings.mcp.read_only;
        let ctx = context(&settings, repo, read_only).await?;
        tracing::info!(
            repo = %ctx.repo.describe(),
            branch = %ctx.repo.branch,
            store = ctx.store.is_some(),
            read_only,
            "MCP server on stdio"
        );
        crate::mcp::serve_stdio(Arc::new(ctx)).await?;
        Ok(Exit::Ok)
    })
}

/// The settings (config file, then the flags) and the tracked repository of a command
/// that reads the repository as the daemon does (`mcp`, `adopt`).
pub(super) fn resolve(
    store: &StoreArgs,
    repo: &Option<String>,
    branch: &Option<String>,
    path: &Option<String>,
) -> anyhow::Result<(Settings, TrackedRepo)> {
    let raw = match store.config.as_deref() {
        Some(p) => RawConfig::load(p).map_err(|e| UsageError(e.to_string()))?,
        None => RawConfig::default(),
    };
    let overrides = Overrides {
        repo: repo.clone(),
        branch: branch.clone(),
        path: path.clone(),
        state_dir: store.state_dir.clone(),
        database_url: store.database_url.clone(),
        ..Overrides::default()
    };
    let settings = Settings::resolve(raw, &overrides).map_err(|e| UsageError(e.to_string()))?;
    let repo = crate::daemon::tracked_repo(&settings).map_err(|e| UsageError(e.to_string()))?;
    if matches!(repo.origin, crate::source::Origin::Remote { .. }) {
        std::fs::create_dir_all(&settings.state_dir)
            .with_context(|| format!("cannot create {}", settings.state_dir.display()))?;
    }
    Ok((settings, repo))
}

/// A multi-threaded runtime for one command.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The tools' context over `repo`: the built-in engine, the store if it exists, and a
/// proposer unless `read_only`.
pub(super) async fn context(
    settings: &Settings,
    repo: TrackedRepo,
    read_only: bool,
) -> anyhow::Result<McpContext> {
    let engine =
        Arc::new(Engine::with_limits(settings.limits.clone()).context("built-in schemas")?);
    let store = open_store(&settings.database_url).await;
    let proposer = (!read_only).then(|| {
        Arc::new(Proposer::new(
            settings.propose.clone(),
            repo.clone(),
            engine.clone(),
            store.clone(),
        ))
    });
    Ok(McpContext::new(
        settings.mcp_server(),
        repo,
        engine,
        store,
        proposer,
        read_only,
        HeadSource::Repository,
    ))
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
