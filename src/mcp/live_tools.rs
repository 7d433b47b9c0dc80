//! The live-inventory tool's handler: scans the configured sources (IO), answers through
//! [`super::live`] and, with `sync_to_database`, records the scans in the store.

use super::live::{self, LiveAnswer, LiveQuery};
use super::reply::{Json, Refusal};
use super::server::{HomelabMcp, caller_of};
use super::settings::Scope;
use crate::model::Provider;
use crate::observe::inventory::scan::Scanner;
use crate::observe::inventory::sync::{self, Plan};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::Extensions;
use rmcp::{tool, tool_router};

#[tool_router(router = live_router, vis = "pub(super)")]
impl HomelabMcp {
    /// Live inventory, asked now: the Proxmox VE cluster of `[proxmox]` (nodes with CPU
    /// and memory load, storage, VMs and containers, GPUs and other PCI devices), every
    /// Docker engine the pools name (engine, containers running or not, measured memory)
    /// and every Kubernetes context (nodes, allocatable CPU and memory). Each guest and
    /// container says which resource in git accounts for it; the others are listed as
    /// not in git, with the load they put on each node. `sync_to_database` records it in
    /// the store's inventory (propose scope).
    #[tool(
        name = "discover-proxmox-resources",
        annotations(
            title = "Discover live resources",
            read_only_hint = true,
            open_world_hint = true
        )
    )]
    async fn discover_proxmox_resources(
        &self,
        Parameters(q): Parameters<LiveQuery>,
        extensions: Extensions,
    ) -> Result<Json<LiveAnswer>, Refusal> {
        let caller = caller_of(&extensions);
        if q.sync_to_database && (caller.scope != Scope::Propose || self.ctx.read_only) {
            return Err(Refusal::fixable(
                format!(
                    "sync_to_database records in the store and needs the propose scope; token {} has the {} scope{}",
                    caller.name,
                    caller.scope.as_str(),
                    if self.ctx.read_only {
                        " and this server is read-only"
                    } else {
                        ""
                    }
                ),
                vec!["call again without sync_to_database to only read".into()],
            ));
        }
        let store = if q.sync_to_database {
            Some(self.store()?.clone())
        } else {
            None
        };
        let view = self.view().await?;
        let plan = Plan::of(
            &view.pools,
            self.ctx.settings.inventory_tools.kube_context.as_deref(),
            view.outcome.decisions.values(),
            view.outcome
                .catalog
                .resources
                .iter()
                .map(|(name, e)| (name, e.doc.value())),
        );
        let wanted: Vec<Provider> = q.providers.iter().map(|p| Provider::from(*p)).collect();
        let settings = &self.ctx.settings;
        let scanner = Scanner::from_settings(
            settings.proxmox.as_ref(),
            settings.proxmox_token.as_ref(),
            &settings.inventory_tools,
        );
        let scans = scanner.scan(&plan.sources, &plan.claims, &wanted).await;
        let mut answer = live::answer(&scans, &q);
        let asked: Vec<Provider> = if wanted.is_empty() {
            vec![Provider::Proxmox, Provider::Docker, Provider::Kubernetes]
        } else {
            wanted
        };
        for p in asked {
            if !scans.iter().any(|s| s.provider == p) {
                answer.not_configured.push(live::not_configured(p));
            }
        }
        if let Some(store) = store {
            let actor = Self::client(&extensions);
            let counts = sync::record(&store, &scans, &actor)
                .await
                .map_err(|e| Refusal::Unavailable(format!("store: {e}")))?;
            for (counts, out) in counts.into_iter().zip(answer.sources.iter_mut()) {
                out.synced = counts;
            }
            answer.synced = true;
            // Placement answers are made around the inventory just recorded.
            self.ctx.forget_views().await;
        }
        Ok(Json(answer))
    }
}
