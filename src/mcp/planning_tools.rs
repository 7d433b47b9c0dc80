//! The planning tools: sizing a workload, where the placement engine puts it and which
//! provider suits it, migration plans from a snapshot, and the guidance derived from
//! the repository (SOPs, allocation guidelines, the placement strategy). Read-only, thin
//! handlers over the pure modules, like the rest of `server`.

use super::context::ViewError;
use super::page::paginate;
use super::params::*;
use super::placement::{self, PlacementAnswer, PlacementOut};
use super::reply::{Json, Refusal};
use super::server::HomelabMcp;
use super::{guidance, migration, sizing, sop};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};

#[tool_router(router = planning_router, vis = "pub(super)")]
impl HomelabMcp {
    /// Sizing for a workload type: its tiers, the smallest tier covering the stated needs
    /// (standard when none are stated), the effective size with where each value comes
    /// from (definition, template, tier), whether it fits anywhere now, and what existing
    /// resources of the same type use.
    #[tool(
        name = "analyze-resource-requirements",
        annotations(
            title = "Analyze resource requirements",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn analyze_resource_requirements(
        &self,
        Parameters(w): Parameters<WorkloadSpec>,
    ) -> Result<Json<sizing::SizingAnswer>, Refusal> {
        let view = self.view().await?;
        let engine = self.ctx.engine.clone();
        Self::cpu(move || sizing::analyze(&engine, &view, &w).map(Json)).await?
    }

    /// The placement engine's answer: for an existing resource its current placement, for
    /// a definition or a described workload where it would go now (everything else stays
    /// where it is). With provider, pool, chart, nodes, GPUs, size, the reasons and the
    /// alternatives that were rejected or ranked lower.
    #[tool(
        name = "find-optimal-placement",
        annotations(
            title = "Find the optimal placement",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn find_optimal_placement(
        &self,
        Parameters(q): Parameters<PlacementQuery>,
    ) -> Result<Json<PlacementAnswer>, Refusal> {
        let given = [
            q.resource.is_some(),
            q.definition.is_some(),
            q.workload.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Refusal::fixable(
                "give exactly one of resource, definition or workload",
                vec![format!(
                    "given: {}",
                    ["resource", "definition", "workload"]
                        .iter()
                        .zip(given)
                        .filter(|(_, g)| *g)
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )],
            ));
        }
        let view = self.view().await?;
        if let Some(name) = &q.resource {
            let o = &view.outcome;
            return match o.decisions.get(name) {
                Some(d) => Ok(Json(PlacementAnswer {
                    revision: view.head.clone(),
                    mode: "existing".into(),
                    placement: PlacementOut::from(d),
                })),
                None if o.catalog.invalid_resources.contains_key(name) => Err(Refusal::invalid(
                    format!("{name} is invalid in the tracked revision and has no placement"),
                    &o.diagnostics
                        .iter()
                        .filter(|d| d.name.as_deref() == Some(name.as_str()))
                        .cloned()
                        .collect::<Vec<_>>(),
                )),
                None => Err(Refusal::unknown(
                    "resource",
                    name,
                    o.catalog.resources.keys(),
                )),
            };
        }
        if !q.affinity_rules.is_empty() && q.resource.is_some() {
            return Err(Refusal::fixable(
                "affinity_rules apply to a definition or workload placed hypothetically, not to an existing resource",
                vec!["give definition or workload with the rules, or leave the rules out".into()],
            ));
        }
        let engine = self.ctx.engine.clone();
        Self::cpu(move || {
            let text = match (&q.definition, &q.workload) {
                (Some(d), _) => d.clone(),
                (None, Some(w)) => {
                    if !view
                        .outcome
                        .catalog
                        .workload_types
                        .contains_key(&w.workload_type)
                    {
                        return Err(Refusal::unknown(
                            "workload type",
                            &w.workload_type,
                            view.outcome.catalog.workload_types.keys(),
                        ));
                    }
                    placement::workload_document(&view, &placement::candidate_name(&view), w)
                }
                (None, None) => String::new(),
            };
            let t = placement::with_affinity(&engine, &view, &text, &q.affinity_rules)?;
            match (&t.decision, t.is_valid()) {
                (Some(d), true) => Ok(Json(PlacementAnswer {
                    revision: view.head.clone(),
                    mode: "hypothetical".into(),
                    placement: PlacementOut::from(d),
                })),
                _ => Err(Refusal::invalid(
                    "no placement: fix these problems",
                    &t.diagnostics,
                )),
            }
        })
        .await?
    }

    /// Which provider suits a workload: the placement engine's choice with no provider
    /// forced, and for every provider with a pool whether the workload fits there, where,
    /// and if not why.
    #[tool(
        name = "find-best-provider-for-workload",
        annotations(
            title = "Find the best provider for a workload",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn find_best_provider_for_workload(
        &self,
        Parameters(w): Parameters<WorkloadSpec>,
    ) -> Result<Json<placement::BestProviderAnswer>, Refusal> {
        let view = self.view().await?;
        if !view
            .outcome
            .catalog
            .workload_types
            .contains_key(&w.workload_type)
        {
            return Err(Refusal::unknown(
                "workload type",
                &w.workload_type,
                view.outcome.catalog.workload_types.keys(),
            ));
        }
        let engine = self.ctx.engine.clone();
        Self::cpu(move || Json(placement::best_provider(&engine, &view, &w))).await
    }

    /// Migration plan from a snapshot (committed by create-infrastructure-snapshot) or any
    /// earlier revision to the newest commit (or `to`): creations, provider moves, node
    /// moves, resizes, updates and removals, in execution order, with notes; paged. With
    /// `target_node` / `target_resource_pool`: a move of the snapshot's resources there,
    /// placed as the daemon would place them, each destructive or not with its downtime;
    /// refused with the reasons when they do not fit.
    #[tool(
        name = "plan-migration-from-snapshot",
        annotations(
            title = "Plan a migration from a snapshot",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn plan_migration_from_snapshot(
        &self,
        Parameters(q): Parameters<MigrationQuery>,
    ) -> Result<Json<migration::MigrationAnswer>, Refusal> {
        let to_view = match &q.to {
            Some(rev) => self.ctx.view_at(rev).await?,
            None => self.view().await?,
        };
        let from = if crate::model::is_dns1123_label(&q.from)
            && let Some(text) = self
                .ctx
                .read_file(&to_view.head, &migration::snapshot_path(&q.from))
                .await?
        {
            let text = String::from_utf8_lossy(&text).into_owned();
            migration::parse_snapshot(&q.from, &text).map_err(|e| {
                Refusal::fixable(
                    format!("snapshot {} is unreadable", q.from),
                    vec![e.to_string()],
                )
            })?
        } else {
            let view = self.ctx.view_at(&q.from).await.map_err(|e| match e {
                ViewError::UnknownRevision(_) => Refusal::fixable(
                    format!(
                        "{:?} is neither a snapshot nor a revision of the tracked repository",
                        q.from
                    ),
                    vec![format!(
                        "snapshots are {} files committed by create-infrastructure-snapshot",
                        migration::snapshot_path("<name>")
                    )],
                ),
                other => other.into(),
            })?;
            migration::state_of(&view, q.from.clone())
        };
        let to = migration::state_of(&to_view, to_view.head.clone());
        let target = super::migration_target::MoveTarget {
            pool: q.target_resource_pool.as_deref(),
            node: q.target_node.as_deref(),
        };
        let (steps, unchanged, left_out) = if target.pool.is_some() || target.node.is_some() {
            self.steps_to_target(&target, &from, &to, &to_view).await?
        } else {
            let (steps, unchanged) = migration::plan(&from, &to);
            (steps, unchanged, Vec::new())
        };
        let mut counts = std::collections::BTreeMap::new();
        for s in &steps {
            *counts.entry(s.action.clone()).or_insert(0) += 1;
        }
        let keyed: Vec<(String, migration::Step)> = steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("{i:08}"), s))
            .collect();
        let (page_items, page) = paginate(keyed, |(k, _)| k.as_str(), q.limit, q.cursor.as_deref());
        Ok(Json(migration::MigrationAnswer {
            from: from.label,
            from_revision: from.revision,
            to_revision: to.revision,
            target: (target.pool.is_some() || target.node.is_some()).then(|| target.describe()),
            left_out,
            counts,
            unchanged,
            steps: page_items.into_iter().map(|(_, s)| s).collect(),
            page,
        }))
    }

    /// The standard operating procedure (Markdown) of a workload type, or of a resource's
    /// workload type together with the facts of its placement (nodes, GPUs, chart,
    /// backups). From the WorkloadType's `sop`, or derived from its data when it has none.
    #[tool(
        name = "get-deployment-sop",
        annotations(
            title = "Get a deployment SOP",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_deployment_sop(
        &self,
        Parameters(q): Parameters<SopQuery>,
    ) -> Result<Json<sop::SopAnswer>, Refusal> {
        let view = self.view().await?;
        sop::sop(&view, q.workload_type.as_deref(), q.resource.as_deref()).map(Json)
    }

    /// Allocation guidelines from real usage: booked and total CPU (with overcommit),
    /// memory, disk and GPUs per placeable pool, each workload type's tiers and
    /// preferences, and guidelines derived from them.
    #[tool(
        name = "get-resource-allocation-guidelines",
        annotations(
            title = "Get resource allocation guidelines",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_resource_allocation_guidelines(
        &self,
        Parameters(q): Parameters<GuidelineQuery>,
    ) -> Result<Json<guidance::GuidelinesAnswer>, Refusal> {
        let view = self.view().await?;
        guidance::guidelines(&view, q.pool.as_deref(), q.workload_type.as_deref()).map(Json)
    }

    /// How placement decides (ordering, candidate filters, ranking, room, anti-affinity)
    /// and each workload type's provider and pool preferences, spread or pack strategy,
    /// the pools in the order they rank, and where its resources went.
    #[tool(
        name = "get-placement-strategy",
        annotations(
            title = "Get the placement strategy",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_placement_strategy(
        &self,
        Parameters(q): Parameters<StrategyQuery>,
    ) -> Result<Json<guidance::StrategyAnswer>, Refusal> {
        let view = self.view().await?;
        guidance::strategy(&view, q.workload_type.as_deref()).map(Json)
    }
}
