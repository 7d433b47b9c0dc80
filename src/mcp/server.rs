//! The MCP server: the read-only tools (declared with rmcp's macros; thin handlers over
//! the pure modules), the scope check in front of every call, and the server info.
//! Resources, prompts, the sizing, placement and migration tools (`planning_tools`) and
//! the proposal tools live in their own files.

use super::auth::Caller;
use super::context::{McpContext, View, ViewError};
use super::inventory::{self, StoreFacts};
use super::page::paginate;
use super::params::*;
use super::placement;
use super::reply::{Json, Refusal};
use super::settings::Scope;
use super::{checks, health, pools};
use axum::http::request::Parts;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, Extensions, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ResultType, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_router};
use std::collections::BTreeSet;
use std::sync::Arc;

/// One MCP server over a shared [`McpContext`]; cheap to clone (one per HTTP session).
#[derive(Clone)]
pub struct HomelabMcp {
    pub(super) ctx: Arc<McpContext>,
    tools: Arc<ToolRouter<HomelabMcp>>,
    /// The tools that write proposals (branches, commits, pull requests), as declared
    /// by the proposal router: left out of the list, and refused, for read-only servers
    /// and read-scope tokens.
    proposal_tools: Arc<BTreeSet<String>>,
    /// Tool calls worked on at once (`[mcp] max_concurrent_calls`), across sessions.
    calls: Arc<tokio::sync::Semaphore>,
    /// Proposal calls per token over HTTP, across sessions.
    proposal_budget: Arc<super::auth::ProposalBudget>,
    pub(super) prompts: Arc<PromptRouter<HomelabMcp>>,
}

impl std::fmt::Debug for HomelabMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomelabMcp")
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

/// Who is calling: the HTTP token (from the request parts rmcp passes on), or the local
/// user of stdio, who may propose unless the server is read-only. An HTTP request that
/// somehow carries no authenticated caller gets the read scope, never more.
pub fn caller_of(extensions: &Extensions) -> Caller {
    match extensions.get::<Parts>() {
        Some(parts) => parts.extensions.get::<Caller>().cloned().unwrap_or(Caller {
            name: "unauthenticated".to_owned(),
            scope: Scope::Read,
        }),
        None => Caller {
            name: "stdio".to_owned(),
            scope: Scope::Propose,
        },
    }
}

impl From<ViewError> for Refusal {
    fn from(e: ViewError) -> Refusal {
        match e {
            ViewError::UnknownRevision(rev) => Refusal::fixable(
                format!("revision {rev:?} is not in the tracked repository"),
                vec![
                    "use a commit id, branch or tag of the tracked repository, or a snapshot name"
                        .into(),
                ],
            ),
            e @ ViewError::NotOnTrackedBranch { .. } => Refusal::fixable(
                e.to_string(),
                vec![
                    "use the tracked branch, a commit on it, or a snapshot name; unmerged branches and pull requests are previewed, not queried"
                        .into(),
                ],
            ),
            other => Refusal::Unavailable(other.to_string()),
        }
    }
}

impl HomelabMcp {
    /// A server over `ctx`; without proposal tools when `ctx.read_only`.
    pub fn new(ctx: Arc<McpContext>) -> HomelabMcp {
        let proposal_tools = Self::proposal_tool_names();
        let mut tools = Self::tool_router()
            + Self::proposal_router()
            + Self::planning_router()
            + Self::live_router()
            + Self::audit_router()
            + Self::adopt_router();
        if ctx.read_only {
            for name in &proposal_tools {
                tools.remove_route(name);
            }
        }
        let calls = tokio::sync::Semaphore::new(ctx.settings.mcp.limits.max_concurrent);
        let proposal_budget = super::auth::ProposalBudget::new(&ctx.settings.mcp);
        HomelabMcp {
            ctx,
            tools: Arc::new(tools),
            proposal_tools: Arc::new(proposal_tools),
            calls: Arc::new(calls),
            proposal_budget: Arc::new(proposal_budget),
            prompts: Arc::new(Self::prompt_router()),
        }
    }

    /// The names of the proposal tools, from the router that declares them (so a renamed
    /// or added proposal tool can never slip past the read-only filter).
    pub fn proposal_tool_names() -> BTreeSet<String> {
        (Self::proposal_router() + Self::adopt_router())
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    /// Does `tool` write proposals?
    pub(super) fn is_proposal_tool(&self, tool: &str) -> bool {
        self.proposal_tools.contains(tool)
    }

    /// The tools `caller` may see.
    fn visible_tools(&self, caller: &Caller) -> Vec<Tool> {
        self.tools
            .list_all()
            .into_iter()
            .filter(|t| {
                caller.scope == Scope::Propose || !self.proposal_tools.contains(t.name.as_ref())
            })
            .collect()
    }

    pub(super) async fn view(&self) -> Result<Arc<View>, Refusal> {
        Ok(self.ctx.view().await?)
    }

    pub(super) fn store(&self) -> Result<&crate::store::Store, Refusal> {
        self.ctx.store.as_deref().ok_or_else(|| {
            Refusal::fixable(
                "no store: this server has no database to read deviations and runs from",
                vec![
                    "the daemon records them: run `homelabd daemon` with this --state-dir or --database-url".into(),
                ],
            )
        })
    }

    /// The live inventory of the Proxmox VE cluster of `[proxmox]`, as JSON.
    async fn proxmox_inventory(&self) -> Result<serde_json::Value, InventoryError> {
        let settings = &self.ctx.settings;
        let (Some(proxmox), Some(token)) = (&settings.proxmox, &settings.proxmox_token) else {
            return Err(InventoryError::NotConfigured);
        };
        let observer = crate::observe::proxmox::observer(proxmox, token)?;
        let inventory = observer.discover().await?;
        Ok(serde_json::to_value(&inventory)?)
    }

    /// Fills in when each secret a status lists last changed: a bounded walk of the
    /// tracked history that compares the files' object ids, never their content.
    async fn date_secret_changes(
        &self,
        head: &str,
        resources: &mut [health::ResourceStatus],
    ) -> Result<(), Refusal> {
        let file = |secret: &str| format!("{}{secret}.age", crate::secrets::DIR);
        let paths: std::collections::BTreeSet<String> = resources
            .iter()
            .flat_map(|r| r.secrets.iter().map(|u| file(&u.secret)))
            .collect();
        if paths.is_empty() {
            return Ok(());
        }
        let found = self
            .ctx
            .last_changes(head, paths.into_iter().collect())
            .await?;
        for used in resources.iter_mut().flat_map(|r| r.secrets.iter_mut()) {
            if let Some(change) = found.get(&file(&used.secret)) {
                used.changed_in = Some(change.commit.clone());
                used.changed_at = Some(health::time(&change.at));
            }
        }
        Ok(())
    }

    /// Runs `f` on the blocking pool: placement and rendering are CPU work.
    pub(super) async fn cpu<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Refusal::Unavailable(format!("worker failed: {e}")))
    }
}

impl HomelabMcp {
    /// Runs one tool call on the blocking pool (its CPU work never holds a runtime
    /// worker, so `/healthz` and the reconcile loop keep answering), at most
    /// `max_concurrent` at once, within `timeout` of wall-clock time counted from the
    /// call's arrival. Past the deadline the caller gets an error naming the setting and
    /// the call is cancelled at its next await point.
    async fn call_bounded(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        limits: super::settings::CallLimits,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let cancel = tokio_util::sync::CancellationToken::new();
        // Also cancels when the client goes away and this future is dropped.
        let _cancel_on_drop = cancel.clone().drop_guard();
        let work = async {
            let permit = self.calls.clone().acquire_owned().await.ok();
            let server = self.clone();
            let stop = cancel.clone();
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                runtime.block_on(async {
                    tokio::select! {
                        result = server.tools.call(ToolCallContext::new(&server, request, context)) => Some(result),
                        () = stop.cancelled() => None,
                    }
                })
            })
            .await
        };
        match tokio::time::timeout(limits.timeout, work).await {
            Ok(Ok(Some(result))) => result,
            Ok(Ok(None)) => Err(ErrorData::internal_error(
                format!("tool {name} was cancelled"),
                None,
            )),
            Ok(Err(e)) => {
                tracing::error!(tool = %name, error = %e, "MCP tool call failed");
                Err(ErrorData::internal_error(
                    format!("tool {name} failed unexpectedly; the daemon log has the details"),
                    None,
                ))
            }
            Err(_) => {
                let secs = limits.timeout.as_secs();
                Refusal::fixable(
                    format!(
                        "tool {name} did not finish within {secs} s ([mcp] call_timeout_seconds); it was stopped"
                    ),
                    vec![
                        "narrow the request (a filter, a smaller definition), or ask the operator to raise [mcp] call_timeout_seconds".into(),
                    ],
                )
                .into_call_tool_result()
            }
        }
    }
}

impl HomelabMcp {
    /// The checks in front of a tool (read-only server, scope, proposal budget, argument
    /// limits), then the call within its limits, with the design parameters that were
    /// not applied named in the answer.
    async fn checked_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller_of(&context.extensions);
        let name = request.name.to_string();
        if self.proposal_tools.contains(&name) {
            if self.ctx.read_only {
                return Err(ErrorData::invalid_params(
                    format!("tool {name} is not available: this server is read-only"),
                    None,
                ));
            }
            if caller.scope != Scope::Propose {
                return Err(ErrorData::invalid_params(
                    format!(
                        "tool {name} needs a token with the propose scope; token {} has the {} scope",
                        caller.name,
                        caller.scope.as_str()
                    ),
                    None,
                ));
            }
            // Over HTTP only: the local stdio user is not rationed.
            let over_http = context.extensions.get::<Parts>().is_some();
            if over_http
                && let Err(wait) = self
                    .proposal_budget
                    .charge(&caller.name, std::time::Instant::now())
            {
                let (secs, message) = super::auth::rate_limited_message(
                    wait,
                    &format!(
                        "token {} may make {}",
                        caller.name,
                        self.proposal_budget.describe()
                    ),
                );
                tracing::info!(tool = %name, client = %caller.name, "MCP proposal rate limit reached");
                return Err(ErrorData::new(
                    rmcp::model::ErrorCode(super::auth::RATE_LIMITED),
                    message,
                    Some(serde_json::json!({ "retry_after_seconds": secs })),
                ));
            }
        }
        let limits = self.ctx.settings.mcp.limits;
        if let Some(arguments) = &request.arguments
            && let Err(e) = super::limits::check_arguments(
                arguments,
                limits.max_argument_bytes,
                limits.max_argument_depth,
            )
        {
            tracing::info!(tool = %name, client = %caller.name, error = %e, "MCP tool call refused");
            return Err(ErrorData::invalid_params(format!("tool {name}: {e}"), None));
        }
        let not_applied = super::compat::notes(&name, request.arguments.as_ref());
        let started = std::time::Instant::now();
        let mut result = self.call_bounded(request, context, limits).await;
        if let Ok(response) = &mut result {
            super::compat::annotate(response, &not_applied);
        }
        let outcome = match &result {
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => "refused",
            Ok(_) => "ok",
            Err(_) => "protocol error",
        };
        tracing::info!(tool = %name, client = %caller.name, outcome, ms = started.elapsed().as_millis() as u64, "MCP tool call");
        result
    }
}

fn store_error(e: crate::store::StoreError) -> Refusal {
    Refusal::Unavailable(format!("store: {e}"))
}

#[tool_router]
impl HomelabMcp {
    /// Overview of the homelab at the tracked branch's newest commit: repository, counts,
    /// providers, the pool tree, workload types, templates, charts, invalid resources and
    /// problems, what the store last recorded, and on request the live Proxmox VE
    /// inventory. Start here.
    #[tool(
        name = "discover-infrastructure-context",
        annotations(
            title = "Discover infrastructure context",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn discover_infrastructure_context(
        &self,
        Parameters(q): Parameters<DiscoverQuery>,
    ) -> Result<Json<inventory::DiscoverAnswer>, Refusal> {
        let view = self.view().await?;
        let store = match &self.ctx.store {
            Some(store) => {
                let last = store.latest_revision().await.map_err(store_error)?;
                let by_state = match self.ctx.state_counts() {
                    Some(counts) => counts,
                    None => {
                        let mut by_state = std::collections::BTreeMap::new();
                        for r in store.resource_states().await.map_err(store_error)? {
                            *by_state.entry(r.state.as_str().to_owned()).or_insert(0) += 1;
                        }
                        by_state
                    }
                };
                Some(StoreFacts {
                    backend: match store.backend() {
                        crate::store::Backend::Sqlite => "sqlite",
                        crate::store::Backend::Postgres => "postgres",
                    }
                    .to_owned(),
                    last_revision: last.as_ref().map(|r| r.commit.clone()),
                    last_seen_at: last.map(|r| r.seen_at.to_rfc3339()),
                    resources_by_state: by_state,
                    inventory_scans: store.scan_statuses().await.map_err(store_error)?,
                    last_scheduled_scan: self.ctx.last_scan(),
                })
            }
            None => None,
        };
        let repo = &self.ctx.repo;
        let mut answer = inventory::discover(
            &view,
            repo.describe(),
            repo.branch.clone(),
            repo.sub_path.clone(),
            store,
        );
        inventory::apply_options(&view, &mut answer, &q);
        if q.proxmox {
            match self.proxmox_inventory().await {
                Ok(inventory) => answer.proxmox = Some(inventory),
                Err(e) => answer.proxmox_error = Some(e.to_string()),
            }
        }
        Ok(Json(answer))
    }

    /// Resource pools after inheritance, with each node's capacity, what is booked on it
    /// and by which resources, GPUs and who holds them. Filter by path pattern, pool type,
    /// provider, dimensions and free capacity; paged.
    #[tool(
        name = "query-resource-pools",
        annotations(
            title = "Query resource pools",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn query_resource_pools(
        &self,
        Parameters(q): Parameters<PoolQuery>,
    ) -> Result<Json<pools::PoolsAnswer>, Refusal> {
        let view = self.view().await?;
        Ok(Json(pools::query_pools(&view, &q)))
    }

    /// Deployment templates: provider, chart, requirement defaults, chart and Ansible
    /// variables, roles, validation rules, and which resources use each; paged.
    #[tool(
        name = "list-deployment-templates",
        annotations(
            title = "List deployment templates",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_deployment_templates(
        &self,
        Parameters(q): Parameters<ListTemplates>,
    ) -> Result<Json<inventory::TemplatesAnswer>, Refusal> {
        let view = self.view().await?;
        let mut answer = inventory::list_templates(&view, &q);
        if let Some(store) = &self.ctx.store {
            let generated = store.generated_templates().await.map_err(store_error)?;
            for t in &mut answer.templates {
                // Newest first: the latest record of a name is the one in git.
                let Some(g) = generated.iter().find(|g| g.name == t.name) else {
                    continue;
                };
                let runs = store.run_tally(&t.used_by).await.map_err(store_error)?;
                t.generated = Some(inventory::GeneratedOut {
                    from: g.source_instance.clone(),
                    created_at: health::time(&g.created_at),
                    apply_runs: runs.finished,
                    succeeded: runs.succeeded,
                    success_rate: (runs.finished > 0)
                        .then(|| runs.succeeded as f64 / runs.finished as f64),
                });
            }
        }
        Ok(Json(answer))
    }

    /// Charts available to the repository (built-in and the repository's own): provider,
    /// resource and workload types, capabilities, and the compatibility matrix of workload
    /// types to charts.
    #[tool(
        name = "list-available-helm-charts",
        annotations(
            title = "List available charts",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_available_helm_charts(
        &self,
        Parameters(q): Parameters<ChartQuery>,
    ) -> Result<Json<inventory::ChartsAnswer>, Refusal> {
        let view = self.view().await?;
        Ok(Json(inventory::list_charts(&view, &q)))
    }

    /// Status of one resource or all (paged): whether its definition is valid, where it is
    /// placed, the state the daemon recorded, whether it reflects the newest commit, and
    /// the last apply runs with their log tails. Destroyed resources (pruned; their history
    /// is kept) with `include_destroyed`, or by name.
    #[tool(
        name = "get-deployment-status",
        annotations(
            title = "Get deployment status",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_deployment_status(
        &self,
        Parameters(q): Parameters<StatusQuery>,
    ) -> Result<Json<health::StatusAnswer>, Refusal> {
        let view = self.view().await?;
        // One resource reads one row; a listing reads every state (without placement JSON).
        let records = match (&self.ctx.store, &q.resource) {
            (Some(s), Some(name)) => s
                .resource(name)
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            (Some(s), None) if q.include_destroyed => s
                .resource_states_with_destroyed()
                .await
                .map_err(store_error)?,
            (Some(s), None) => s.resource_states().await.map_err(store_error)?,
            (None, _) => Vec::new(),
        };
        let (names, page) = match &q.resource {
            Some(name) => {
                let c = &view.outcome.catalog;
                let known = c.resources.contains_key(name)
                    || c.invalid_resources.contains_key(name)
                    || !records.is_empty();
                if !known {
                    let all = health::status_names(&view, &records);
                    return Err(Refusal::unknown("resource", name, all.iter()));
                }
                let one = crate::mcp::page::PageInfo {
                    total: 1,
                    next_cursor: None,
                };
                (vec![name.clone()], one)
            }
            None => {
                let all = health::status_names(&view, &records);
                paginate(all, |s| s.as_str(), q.limit, q.cursor.as_deref())
            }
        };
        let runs = i64::from(q.runs.min(20));
        let checks = match &self.ctx.store {
            Some(s) => s.health_records().await.map_err(store_error)?,
            None => Vec::new(),
        };
        let mut resources = Vec::with_capacity(names.len());
        for name in &names {
            let record = records.iter().find(|r| &r.name == name);
            let history = match (&self.ctx.store, runs) {
                (Some(s), 1..) => s.apply_runs(Some(name), runs).await.map_err(store_error)?,
                _ => Vec::new(),
            };
            let mut status = health::status_of(&view, name, record, &history);
            status.health = checks
                .iter()
                .find(|h| &h.resource == name)
                .map(|h| health::HealthOut::of(h, record));
            if !q.include_logs {
                for run in &mut status.runs {
                    run.stdout_tail = None;
                    run.stderr_tail = None;
                }
            }
            resources.push(status);
        }
        self.date_secret_changes(&view.head, &mut resources).await?;
        Ok(Json(health::StatusAnswer {
            revision: view.head.clone(),
            store: self.ctx.store.is_some(),
            resources,
            page,
        }))
    }

    /// Deviations between what should run and what the observers found (missing, config
    /// drift, resource change, unmanaged), open ones by default, with severity, whether
    /// they are auto-correctable, and the corrective action.
    #[tool(
        name = "compare-expected-vs-actual-state",
        annotations(
            title = "Compare expected and actual state",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn compare_expected_vs_actual_state(
        &self,
        Parameters(q): Parameters<DriftQuery>,
    ) -> Result<Json<health::DriftAnswer>, Refusal> {
        let view = self.view().await?;
        let store = self.store()?;
        if let Some(r) = &q.resource {
            let c = &view.outcome.catalog;
            let known = c.resources.contains_key(r) || c.invalid_resources.contains_key(r);
            if !known && store.resource(r).await.map_err(store_error)?.is_none() {
                return Err(Refusal::unknown("resource", r, c.resources.keys()));
            }
        }
        let limit = q
            .limit
            .unwrap_or(crate::mcp::page::DEFAULT_LIMIT)
            .clamp(1, crate::mcp::page::MAX_LIMIT) as usize;
        let read = if q.resource.is_some() {
            10_000
        } else {
            limit as i64
        };
        let open_only = q.include_resolved.map_or(q.open_only, |r| !r);
        let deviations = store
            .deviations(open_only, read)
            .await
            .map_err(store_error)?;
        Ok(Json(health::drift(
            &view,
            &deviations,
            q.resource.as_deref(),
            limit,
        )))
    }

    /// Anomalies over a time window: open deviations, failed or interrupted applies,
    /// failed resources, invalid definitions, nodes and quotas booked above a threshold,
    /// pools whose GPUs are all taken.
    #[tool(
        name = "detect-infrastructure-anomalies",
        annotations(
            title = "Detect infrastructure anomalies",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn detect_infrastructure_anomalies(
        &self,
        Parameters(q): Parameters<AnomalyQuery>,
    ) -> Result<Json<health::AnomalyAnswer>, Refusal> {
        if !(1..=720).contains(&q.window_hours)
            || !(1..=100).contains(&q.capacity_threshold_percent)
        {
            return Err(Refusal::fixable(
                "window_hours must be 1-720 and capacity_threshold_percent 1-100",
                vec![format!(
                    "got window_hours {} and capacity_threshold_percent {}",
                    q.window_hours, q.capacity_threshold_percent
                )],
            ));
        }
        let view = self.view().await?;
        let events = match &self.ctx.store {
            Some(s) => Some(health::StoreEvents {
                deviations: s.deviations(true, 1000).await.map_err(store_error)?,
                runs: s.apply_runs(None, 1000).await.map_err(store_error)?,
                // Inside the daemon its live counts say whether any resource failed;
                // only then are the states read.
                records: match self.ctx.state_counts() {
                    Some(c) if c.get("failed").copied().unwrap_or(0) == 0 => Vec::new(),
                    _ => s.resource_states().await.map_err(store_error)?,
                },
            }),
            None => None,
        };
        Ok(Json(health::anomalies(
            &view,
            events.as_ref(),
            chrono::Utc::now(),
            q.window_hours,
            q.capacity_threshold_percent,
        )))
    }

    /// Full validation of a proposed UniversalResource document against the tracked
    /// revision, exactly as the daemon checks it: schema, references (workload type,
    /// template, chart, pool, node), template rules, placement (room on a node) and
    /// rendering. Answers `valid` with every problem; nothing is written.
    #[tool(
        name = "validate-universal-definition",
        annotations(
            title = "Validate a definition",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn validate_universal_definition(
        &self,
        Parameters(q): Parameters<DefinitionInput>,
    ) -> Result<Json<checks::ValidationAnswer>, Refusal> {
        let view = self.view().await?;
        let engine = self.ctx.engine.clone();
        Self::cpu(move || {
            let t = placement::trial(&engine, &view, &q.definition, true);
            Json(checks::validation(&view, &t, q.strict_validation))
        })
        .await
    }

    /// Dry render of a proposed UniversalResource: the placement and every file the daemon
    /// would write under rendered-configs/<provider>/<name>/ (Terraform, Ansible,
    /// Kubernetes manifests, compose files, CloudFormation, ARM), with hashes. Nothing is
    /// written. An invalid document is refused with its problems.
    #[tool(
        name = "translate-universal-to-provider",
        annotations(
            title = "Translate to provider configs (dry render)",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn translate_universal_to_provider(
        &self,
        Parameters(q): Parameters<TranslateInput>,
    ) -> Result<Json<checks::TranslationAnswer>, Refusal> {
        let view = self.view().await?;
        let engine = self.ctx.engine.clone();
        Self::cpu(move || {
            let t = placement::trial(&engine, &view, &q.definition, true);
            let max = q.max_bytes_per_file as usize;
            let mut answer = checks::translation(&view, &t, q.include_vendored, max)?;
            for provider in &q.target_providers {
                let text = placement::with_provider(&view, &q.definition, (*provider).into());
                let t = placement::trial(&engine, &view, &text, true);
                answer.by_provider.push(checks::per_provider(
                    &view,
                    &t,
                    (*provider).into(),
                    q.include_vendored,
                    max,
                ));
            }
            Ok(Json(answer))
        })
        .await?
    }
}

impl ServerHandler for HomelabMcp {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("homelabd", env!("CARGO_PKG_VERSION")))
            .with_instructions(if self.ctx.read_only {
                "homelabd: GitOps for a homelab. Ask anything about pools, resources, templates, charts, status, drift and placement; start with discover-infrastructure-context. This server is read-only: it offers no proposal tools."
            } else {
                "homelabd: GitOps for a homelab. Ask anything about pools, resources, templates, charts, status, drift and placement; start with discover-infrastructure-context. Changes are only ever proposed: proposal tools write a branch and a commit (and open a pull request where configured) for a human to review; they never touch infrastructure."
            })
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller_of(&context.extensions);
        let modern = context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools: self.visible_tools(&caller),
            meta: None,
            next_cursor: None,
            ttl_ms: modern.then_some(0),
            // The list depends on the token's scope.
            cache_scope: modern.then_some(CacheScope::Private),
        })
    }

    /// Every call goes through [`HomelabMcp::checked_call`]; proposals, refusals and
    /// reads of sensitive state are then recorded in the audit log.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let actor = Self::client(&context.extensions);
        let client = super::audit_tool::client_addr(&context.extensions);
        let name = request.name.to_string();
        let arguments = request.arguments.clone();
        let result = self.checked_call(request, context).await;
        let outcome = super::audit_tool::outcome_of(&result);
        self.record_call(&actor, client, &name, arguments.as_ref(), &outcome)
            .await;
        result
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.get(name).cloned()
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, ErrorData> {
        super::prompts::list(self, request, context)
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, ErrorData> {
        let ctx = rmcp::handler::server::prompt::PromptContext::new(
            self,
            request.name,
            request.arguments,
            context,
        );
        self.prompts.get_prompt(ctx).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, ErrorData> {
        super::resources::list(self, request).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, ErrorData> {
        Ok(super::resources::templates())
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, ErrorData> {
        super::resources::read(self, &request.uri)
            .await
            .map(Into::into)
    }
}

/// Why the live Proxmox inventory is missing from an answer (said in `proxmox_error`).
#[derive(Debug, thiserror::Error)]
enum InventoryError {
    #[error("not configured: add [proxmox] and the proxmox-token credential")]
    NotConfigured,
    #[error(transparent)]
    Proxmox(#[from] crate::observe::proxmox::ProxmoxError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(caller: Option<Caller>) -> Parts {
        let (mut parts, ()) = axum::http::Request::builder()
            .body(())
            .unwrap_or_default()
            .into_parts();
        if let Some(c) = caller {
            parts.extensions.insert(c);
        }
        parts
    }

    #[test]
    fn every_design_parameter_not_applied_is_declared_by_its_tool() {
        let tools = HomelabMcp::tool_router()
            + HomelabMcp::planning_router()
            + HomelabMcp::proposal_router();
        for n in super::super::compat::NOT_APPLIED {
            let Some(tool) = tools.get(n.tool) else {
                panic!("{} is not a tool", n.tool);
            };
            let declared = tool
                .input_schema
                .get("properties")
                .and_then(|p| p.get(n.parameter))
                .is_some();
            assert!(declared, "{} does not declare {}", n.tool, n.parameter);
        }
    }

    #[test]
    fn the_caller_is_the_token_over_http_and_the_local_user_over_stdio() {
        assert_eq!(caller_of(&Extensions::default()).scope, Scope::Propose);
        let mut http = Extensions::default();
        http.insert(parts(Some(Caller {
            name: "agent".into(),
            scope: Scope::Read,
        })));
        assert_eq!(caller_of(&http).name, "agent");
        let mut unguarded = Extensions::default();
        unguarded.insert(parts(None));
        assert_eq!(
            caller_of(&unguarded).scope,
            Scope::Read,
            "never more than read"
        );
    }
}
