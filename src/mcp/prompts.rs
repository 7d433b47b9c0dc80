//! Prompts for the example workflows: deploy a GPU service, deploy a highly available web
//! app, review costs. Each prompt states the task and the facts of the tracked revision
//! that matter for it (free GPUs, pools with enough nodes, what every provider carries),
//! then the tool calls that carry it out — ending in a proposal, never an action.

use super::context::View;
use super::inventory::short;
use super::server::HomelabMcp;
use crate::model::{Capability, PoolType, Provider};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CacheScope, ListPromptsResult, PaginatedRequestParams, PromptMessage, ProtocolVersion,
    ResultType, Role,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;
use std::fmt::Write as _;

/// Arguments of `deploy-gpu-service`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GpuServiceArgs {
    /// Name of the new resource (a DNS-1123 label).
    pub name: String,
    /// What it runs, e.g. "Ollama with llama3.1:8b for two users".
    #[serde(default)]
    pub purpose: Option<String>,
}

/// Arguments of `deploy-ha-web-app`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WebAppArgs {
    /// Name of the new resource (a DNS-1123 label).
    pub name: String,
    /// Container image, e.g. ghcr.io/example/web:1.4.2.
    #[serde(default)]
    pub image: Option<String>,
    /// Replicas on distinct nodes (default 3).
    #[serde(default)]
    pub replicas: Option<String>,
}

/// Arguments of `cost-review`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CostArgs {
    /// Only this provider (e.g. aws).
    #[serde(default)]
    pub provider: Option<String>,
}

fn user(text: String) -> Vec<PromptMessage> {
    vec![PromptMessage::new_text(Role::User, text)]
}

fn unavailable(e: super::reply::Refusal) -> ErrorData {
    ErrorData::internal_error(e.text(), None)
}

/// Free GPUs per placeable pool: (path, provider, free, total).
fn free_gpus(view: &View) -> Vec<(String, String, usize, usize)> {
    view.pools
        .values()
        .filter(|p| p.is_target())
        .filter_map(|p| {
            let total: usize = p.nodes.iter().map(|n| n.gpus.len()).sum();
            let held: usize = p
                .nodes
                .iter()
                .filter_map(|n| view.ledger.node_usage(&p.path, &n.name))
                .map(|u| u.gpus.len())
                .sum();
            (total > 0).then(|| {
                (
                    p.path.clone(),
                    p.provider.map_or("-", |x| x.as_str()).to_owned(),
                    total - held,
                    total,
                )
            })
        })
        .collect()
}

#[prompt_router(vis = "pub(super)")]
impl HomelabMcp {
    /// Deploy a service that needs a GPU (e.g. LLM inference): the GPU workload types,
    /// free GPUs and GPU-capable charts of this homelab, and the steps to a reviewed
    /// pull request.
    #[prompt(name = "deploy-gpu-service")]
    async fn deploy_gpu_service(
        &self,
        Parameters(a): Parameters<GpuServiceArgs>,
    ) -> Result<Vec<PromptMessage>, ErrorData> {
        let view = self.view().await.map_err(unavailable)?;
        let c = &view.outcome.catalog;
        let mut t = format!(
            "Deploy a GPU service named `{}`{} in the homelab (revision {}).\n\nFacts:\n",
            a.name,
            a.purpose
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            short(&view.head)
        );
        let gpu_types: Vec<&str> = c
            .workload_types
            .values()
            .filter(|w| {
                let tiers = &w.object.spec.tiers;
                tiers.minimal.gpu || tiers.standard.gpu || tiers.high_performance.gpu
            })
            .map(|w| w.name())
            .collect();
        let _ = writeln!(
            t,
            "- workload types with GPU tiers: {}",
            if gpu_types.is_empty() {
                "none (set requirements.gpu: true yourself)".to_owned()
            } else {
                gpu_types.join(", ")
            }
        );
        for (path, provider, free, total) in free_gpus(&view) {
            let _ = writeln!(t, "- {path} ({provider}): {free} of {total} GPU(s) free");
        }
        let charts: Vec<&str> = view
            .outcome
            .charts
            .charts
            .values()
            .filter(|ch| ch.meta.capabilities.contains(&Capability::Gpu))
            .map(|ch| ch.meta.name.as_str())
            .collect();
        let _ = writeln!(t, "- charts that render GPUs: {}", charts.join(", "));
        let templates: Vec<&str> = c
            .templates
            .values()
            .filter(|x| {
                x.object
                    .spec
                    .validation
                    .rules
                    .iter()
                    .any(|r| r.field == "/requirements/gpu")
            })
            .map(|x| x.name())
            .collect();
        if !templates.is_empty() {
            let _ = writeln!(t, "- templates made for GPU work: {}", templates.join(", "));
        }
        let _ = write!(
            t,
            "\nSteps:\n1. `analyze-resource-requirements` with the workload type and `gpu: true` to pick a tier.\n2. `find-best-provider-for-workload` and `find-optimal-placement` to see where it fits and why.\n3. `get-deployment-sop` for the workload type: check the prerequisites (IOMMU, vfio-pci).\n4. `deploy-with-intelligence` with `name: {}`, the workload and `dry_run: true`; read the diagnostics and the rendered diff.\n5. The same call with `dry_run: false` opens the pull request. Report its URL (or branch) and the placement reasons. Do not change anything else.\n",
            a.name
        );
        Ok(user(t))
    }

    /// Deploy a web app with replicas on distinct nodes: pools and charts that can carry
    /// it, the web workload types and templates, and the steps to a pull request.
    #[prompt(name = "deploy-ha-web-app")]
    async fn deploy_ha_web_app(
        &self,
        Parameters(a): Parameters<WebAppArgs>,
    ) -> Result<Vec<PromptMessage>, ErrorData> {
        let view = self.view().await.map_err(unavailable)?;
        let c = &view.outcome.catalog;
        let replicas: usize = a
            .replicas
            .as_deref()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3);
        let mut t = format!(
            "Deploy a highly available web app named `{}`{} with {replicas} replicas on distinct nodes (revision {}).\n\nFacts:\n",
            a.name,
            a.image
                .as_deref()
                .map(|i| format!(" from image {i}"))
                .unwrap_or_default(),
            short(&view.head)
        );
        let ha_charts: Vec<&crate::model::ChartMeta> = view
            .outcome
            .charts
            .charts
            .values()
            .map(|ch| &ch.meta)
            .filter(|m| m.capabilities.contains(&Capability::HighAvailability))
            .collect();
        for p in view.pools.values().filter(|p| p.nodes.len() >= replicas) {
            let charts: Vec<&str> = ha_charts
                .iter()
                .filter(|m| Some(m.provider) == p.provider)
                .map(|m| m.name.as_str())
                .collect();
            if !charts.is_empty() {
                let _ = writeln!(
                    t,
                    "- {} ({}, {} nodes) can hold {replicas} replicas with {}",
                    p.path,
                    p.provider.map_or("-", |x| x.as_str()),
                    p.nodes.len(),
                    charts.join(", ")
                );
            }
        }
        let web: Vec<&str> = c
            .workload_types
            .values()
            .filter(|w| {
                w.object.spec.resource_types.iter().any(|r| {
                    matches!(
                        r,
                        crate::model::ResourceType::Container | crate::model::ResourceType::Service
                    )
                })
            })
            .map(|w| w.name())
            .collect();
        let _ = writeln!(
            t,
            "- workload types for containers and services: {}",
            web.join(", ")
        );
        let k8s: Vec<&str> = c
            .templates
            .values()
            .filter(|x| x.object.spec.infrastructure.provider == Some(Provider::Kubernetes))
            .map(|x| x.name())
            .collect();
        if !k8s.is_empty() {
            let _ = writeln!(t, "- Kubernetes templates: {}", k8s.join(", "));
        }
        let _ = write!(
            t,
            "\nSteps:\n1. `list-deployment-templates` and `list-available-helm-charts` (capability high_availability) to choose the template and chart.\n2. `deploy-with-intelligence` with `name: {}`, `workload` (`high_availability: true`, `replicas: {replicas}`), `chart_values` for the image and ports, and `dry_run: true`; check that every replica has its own node.\n3. Repeat with `dry_run: false` to open the pull request, and report it.\n",
            a.name
        );
        Ok(user(t))
    }

    /// Review what every provider and pool carries (CPU, memory, disk booked, elastic
    /// cloud resources and their sizes) and propose savings as pull requests.
    #[prompt(name = "cost-review")]
    async fn cost_review(
        &self,
        Parameters(a): Parameters<CostArgs>,
    ) -> Result<Vec<PromptMessage>, ErrorData> {
        let view = self.view().await.map_err(unavailable)?;
        let mut t = format!(
            "Review the cost of the homelab at revision {}.\n\nWhat each pool carries:\n",
            short(&view.head)
        );
        let costs = crate::cost::estimate_all(view.outcome.decisions.values(), &view.pools);
        for p in view.pools.values().filter(|p| p.is_target()) {
            let provider = p.provider.map_or("-", |x| x.as_str());
            if a.provider.as_deref().is_some_and(|x| x != provider) {
                continue;
            }
            let placed: Vec<&crate::place::Decision> = view
                .outcome
                .decisions
                .values()
                .filter(|d| d.pool == p.path)
                .collect();
            let cpu: u32 = placed.iter().map(|d| d.size.cpu * d.size.replicas).sum();
            let mem: f64 = placed
                .iter()
                .map(|d| d.size.memory_gb * f64::from(d.size.replicas))
                .sum();
            let disk: u32 = placed
                .iter()
                .map(|d| d.size.storage_gb * d.size.replicas)
                .sum();
            let kind = if p.pool_type == PoolType::Cloud {
                "cloud, billed per use"
            } else {
                "owned hardware"
            };
            let _ = writeln!(
                t,
                "- {} ({provider}, {kind}): {} resource(s), {cpu} vCPU, {mem} GB memory, {disk} GB disk booked",
                p.path,
                placed.len()
            );
            if let Some(pc) = costs.pools.iter().find(|c| c.pool == p.path) {
                let _ = writeln!(
                    t,
                    "    estimated {} a month: {} for its resources at the pool's rates, {} electricity ({})",
                    crate::cost::money(pc.monthly, &pc.currency),
                    crate::cost::money(pc.resources, &pc.currency),
                    crate::cost::money(pc.electricity, &pc.currency),
                    pc.assumptions.join("; ")
                );
            }
            for d in placed {
                let priced = costs.resources.iter().find(|c| c.resource == d.resource);
                if p.pool_type != PoolType::Cloud && priced.is_none() {
                    continue;
                }
                let _ = writeln!(
                    t,
                    "    - {}: {}{}",
                    d.resource,
                    crate::place::describe_size(&d.size),
                    priced
                        .map(|c| format!(
                            ", about {} a month ({})",
                            crate::cost::money(c.monthly, &c.currency),
                            c.lines
                                .iter()
                                .map(|l| l.item.as_str())
                                .collect::<Vec<_>>()
                                .join(" + ")
                        ))
                        .unwrap_or_default()
                );
            }
        }
        match crate::cost::total(&costs.resources) {
            Some(total) => {
                let _ = writeln!(
                    t,
                    "\nEstimated total of the priced resources: {total} a month ({} hours a month, every replica; owned machines by their share of the node's electricity). Not priced (their pools have no properties.pricing): {}.",
                    crate::cost::HOURS_PER_MONTH,
                    if costs.unpriced.is_empty() { "none".to_owned() } else { costs.unpriced.join(", ") }
                );
            }
            None => t.push_str(
                "\nNo pool has prices (properties.pricing), so there are no money estimates; add them to compare in money.\n",
            ),
        }
        for problem in &costs.problems {
            let _ = writeln!(t, "Prices not used: {problem}");
        }
        t.push_str("\nSteps:\n1. `get-resource-allocation-guidelines` for utilisation per pool, and `get-deployment-status` for what is applied.\n2. For each cloud resource, ask whether it could run on owned hardware: `find-best-provider-for-workload` with its needs and `include_costs: true` (or a budget in `cost_constraints`).\n3. `analyze-resource-requirements` for resources that look oversized against their workload type's tiers.\n4. Summarise the savings; propose each change only as a pull request (`deploy-with-intelligence`, `decommission-resource`, `update-resource-dimensions` for cost_center tags), with `dry_run: true` first.\n");
        Ok(user(t))
    }
}

/// `prompts/list`.
pub fn list(
    server: &HomelabMcp,
    _request: Option<PaginatedRequestParams>,
    context: RequestContext<RoleServer>,
) -> Result<ListPromptsResult, ErrorData> {
    let modern = context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    Ok(ListPromptsResult {
        result_type: Some(ResultType::COMPLETE),
        prompts: server.prompts.list_all(),
        meta: None,
        next_cursor: None,
        ttl_ms: modern.then_some(0),
        cache_scope: modern.then_some(CacheScope::Public),
    })
}
