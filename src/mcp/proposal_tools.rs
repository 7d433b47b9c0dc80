//! The proposal tools: each builds its change (a YAML document to write, or one to
//! remove) from the tracked revision and hands it to the [`Proposer`], which validates
//! and renders it as the daemon would, refuses an invalid change with its diagnostics,
//! and otherwise writes a branch and one commit (and a pull request where configured).
//! They never write files themselves and never act on infrastructure.
//!
//! [`Proposer`]: crate::propose::Proposer

use super::migration;
use super::placement::{self, PlacementOut};
use super::proposals;
use super::reply::{Json, Refusal};
use super::server::{HomelabMcp, caller_of};
use super::sizing;
use crate::propose::deploy;
use crate::propose::{FileChange, ProposalOutcome, ProposalRequest};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::Extensions;
use rmcp::{tool, tool_router};
use std::collections::BTreeMap;

pub(super) use super::proposal_params::label;
pub use super::proposal_params::{
    DecommissionRequest, DeployRequest, DimensionsRequest, EnvironmentName, ProposalAnswer,
    RebalanceRequest, SnapshotRequest, TemplateRequest,
};

impl HomelabMcp {
    /// Stores what every resource looks like now (the store's records, open deviations,
    /// unmanaged guests from the recorded inventory) as snapshot `name`; says what.
    async fn store_observed(
        &self,
        store: &crate::store::Store,
        name: &str,
        head: &str,
        taken_by: &str,
    ) -> Result<String, crate::store::StoreError> {
        let resources = store.resources().await?;
        let inventory = store.inventory(None, false).await?;
        let deviations = store.deviations(true, 10_000).await?;
        let content = super::observed::observed(head, &resources, &inventory, &deviations);
        let count = |key: &str| content[key].as_array().map_or(0, Vec::len);
        let (n, unmanaged) = (count("resources"), count("unmanaged"));
        let id = store
            .record_snapshot(name, chrono::Utc::now(), taken_by, &content)
            .await?;
        Ok(format!(
            "observed state stored as snapshot {id}: {n} recorded resources, {unmanaged} guests or containers not in git"
        ))
    }

    pub(super) fn client(extensions: &Extensions) -> String {
        let caller = caller_of(extensions);
        if caller.name == "stdio" {
            "stdio".to_owned()
        } else {
            format!("mcp:{}", caller.name)
        }
    }

    pub(super) async fn submit(&self, req: ProposalRequest) -> Result<ProposalOutcome, Refusal> {
        let proposer = self.ctx.proposer.as_ref().ok_or_else(|| {
            Refusal::Unavailable("proposals are not available on this server".into())
        })?;
        Ok(proposer.propose(req).await?)
    }

    /// The text of `file` at `head`, as UTF-8.
    async fn file_text(&self, head: &str, file: &str) -> Result<String, Refusal> {
        let bytes = self.ctx.read_file(head, file).await?.ok_or_else(|| {
            Refusal::Unavailable(format!("{file} vanished from the tracked revision"))
        })?;
        String::from_utf8(bytes)
            .map_err(|_| Refusal::fixable(format!("{file} is not UTF-8"), vec![]))
    }
}

/// A proposal tool's name as its router declares it: the name recorded with the
/// proposal and used in its branch is the one agents call, never a second spelling.
fn tool_name(tool: rmcp::model::Tool) -> String {
    tool.name.into_owned()
}

#[tool_router(router = proposal_router, vis = "pub(super)")]
impl HomelabMcp {
    /// Proposes a new resource as a pull request: from its needs (homelabd picks the tier,
    /// sizes it, places it, validates and renders it) or from a full definition. Refused
    /// with the reasons when invalid; nothing is written then. Never touches
    /// infrastructure: merging the pull request is what deploys it.
    #[tool(
        name = "deploy-with-intelligence",
        annotations(
            title = "Propose a deployment",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn deploy_with_intelligence(
        &self,
        Parameters(r): Parameters<DeployRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        let name = match (&r.name, &r.definition) {
            (Some(n), _) => n.clone(),
            (None, Some(d)) => proposals::name_of(d).ok_or_else(|| {
                Refusal::fixable(
                    "give name, or a definition with metadata.name",
                    vec!["the definition has no readable metadata.name".into()],
                )
            })?,
            (None, None) => {
                return Err(Refusal::fixable(
                    "give name and workload (the needs), or definition (a full document)",
                    vec![],
                ));
            }
        };
        label("name", &name)?;
        let view = self.view().await?;
        let mut notes = Vec::new();
        let text = match (&r.definition, &r.workload) {
            (Some(d), _) => d.clone(),
            (None, Some(w)) => {
                let c = &view.outcome.catalog;
                let Some(wt) = c.workload_types.get(&w.workload_type) else {
                    return Err(Refusal::unknown(
                        "workload type",
                        &w.workload_type,
                        c.workload_types.keys(),
                    ));
                };
                let (tier, why) = sizing::recommend(&wt.object.spec.tiers, w);
                notes.push(format!("tier {}: {why}", crate::model::tier_label(tier)));
                let mut sized = w.clone();
                sized.tier = Some(match tier {
                    crate::model::Tier::Minimal => super::params::TierName::Minimal,
                    crate::model::Tier::Standard => super::params::TierName::Standard,
                    crate::model::Tier::HighPerformance => super::params::TierName::HighPerformance,
                });
                let base = placement::workload_document(&view, &name, &sized);
                let base: serde_json::Value = serde_yaml::from_str(&base).map_err(|e| {
                    Refusal::fixable(format!("cannot build the definition: {e}"), vec![])
                })?;
                let doc = deploy::definition(
                    &base,
                    &deploy::DeployOptions {
                        labels: &r.labels,
                        environment: r.environment.map(EnvironmentName::as_str),
                        backup_required: r.backup_required,
                        backup_schedule: r.backup_schedule.as_deref(),
                        chart: r.chart.as_deref(),
                        chart_values: &r.chart_values,
                        dimensions: &r.dimensions,
                    },
                );
                serde_yaml::to_string(&doc).unwrap_or_default()
            }
            (None, None) => {
                return Err(Refusal::fixable(
                    "give either workload (the needs) or definition (a full document)",
                    vec![],
                ));
            }
        };
        let engine = self.ctx.engine.clone();
        let trial_view = view.clone();
        let t = tokio::task::spawn_blocking(move || {
            placement::trial(&engine, &trial_view, &text, true)
        })
        .await
        .map_err(|e| Refusal::Unavailable(format!("worker failed: {e}")))?;
        if t.name.as_deref() != Some(name.as_str()) {
            return Err(Refusal::fixable(
                format!(
                    "the definition's metadata.name is {:?}, not {:?}; nothing was written",
                    t.name, name
                ),
                vec![],
            ));
        }
        if let Some(at) = &t.existing {
            return Err(Refusal::fixable(
                format!("resource {} already exists ({at}); nothing was written", name),
                vec!["pick another name, or change the existing resource with update-resource-dimensions or decommission-resource".into()],
            ));
        }
        let Some(decision) = t.decision.as_ref().filter(|_| t.is_valid()) else {
            return Err(Refusal::invalid(
                format!("{} is invalid; nothing was written", name),
                &t.diagnostics,
            ));
        };
        let placed = PlacementOut::from(decision);
        notes.push(format!("placement: {}", placed.line()));
        notes.extend(placed.reasons.iter().cloned());
        let doc_value = t
            .catalog
            .resources
            .get(&name)
            .map(|e| e.doc.value().clone())
            .unwrap_or_default();
        let client = Self::client(&extensions);
        let header = vec![
            format!(
                "Proposed by homelabd {} for {client}.",
                tool_name(Self::deploy_with_intelligence_tool_attr())
            ),
            format!("Placement at proposal time: {}", placed.line()),
        ];
        let document = proposals::yaml_document(&header, &doc_value);
        let file = r
            .path
            .clone()
            .unwrap_or_else(|| format!("definitions/{}.yaml", name));
        // An existing file keeps every document it holds; the new one is appended.
        let existing = match self.ctx.read_file(&view.head, &file).await? {
            Some(_) => Some(self.file_text(&view.head, &file).await?),
            None => None,
        };
        let (content, into) = deploy::file_with(existing.as_deref(), &document);
        if into == deploy::Placed::Appended {
            notes.push(format!(
                "{file} exists: the definition is appended to it as a new document; the {} document(s) it holds are kept",
                proposals::document_count(existing.as_deref().unwrap_or_default())
            ));
        }
        let mut body = r
            .reason
            .clone()
            .map(|x| format!("{x}\n\n"))
            .unwrap_or_default();
        for n in &notes {
            body.push_str(&format!("- {n}\n"));
        }
        let proposal = self
            .submit(ProposalRequest {
                tool: tool_name(Self::deploy_with_intelligence_tool_attr()),
                client,
                subject: name.clone(),
                changes: vec![FileChange::Write {
                    path: file.clone(),
                    content: content.clone(),
                }],
                title: format!(
                    "Deploy {} ({} on {} {}){}",
                    name,
                    placed.size.tier,
                    placed.provider,
                    placed.pool,
                    if existing.is_some() {
                        format!(", appended to {file}")
                    } else {
                        String::new()
                    }
                ),
                body,
                dry_run: r.dry_run,
            })
            .await?;
        Ok(Json(ProposalAnswer {
            proposal,
            file,
            change: "write".into(),
            content: Some(content),
            placement: Some(placed),
            notes,
        }))
    }

    /// Proposes changing a resource's dimensions (tags): keys to set and keys to remove.
    /// The other documents of its file keep their text.
    #[tool(
        name = "update-resource-dimensions",
        annotations(
            title = "Propose new dimensions",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn update_resource_dimensions(
        &self,
        Parameters(r): Parameters<DimensionsRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        label("resource", &r.resource)?;
        if r.set.is_empty() && r.remove.is_empty() {
            return Err(Refusal::fixable(
                "nothing to change: give set and/or remove",
                vec![],
            ));
        }
        let view = self.view().await?;
        let c = &view.outcome.catalog;
        let Some(entry) = c.resources.get(&r.resource) else {
            return Err(Refusal::unknown(
                "resource",
                &r.resource,
                c.resources.keys(),
            ));
        };
        let new = proposals::with_dimensions(entry.doc.value(), &r.set, &r.remove)
            .map_err(|reasons| Refusal::fixable("cannot change the dimensions", reasons))?;
        let file = entry.doc.file.clone();
        let text = self.file_text(&view.head, &file).await?;
        let content = proposals::replace_document(&text, entry.doc.index, &r.resource, Some(&new))
            .ok_or_else(|| {
                Refusal::Unavailable(format!(
                    "{file} no longer holds document {}",
                    entry.doc.index
                ))
            })?;
        let mut changes = Vec::new();
        for (k, v) in &r.set {
            changes.push(format!("{k}={v}"));
        }
        for k in &r.remove {
            changes.push(format!("-{k}"));
        }
        let client = Self::client(&extensions);
        let proposal = self
            .submit(ProposalRequest {
                tool: tool_name(Self::update_resource_dimensions_tool_attr()),
                client,
                subject: r.resource.clone(),
                changes: vec![FileChange::Write {
                    path: file.clone(),
                    content: content.clone(),
                }],
                title: format!("Dimensions of {}: {}", r.resource, changes.join(", ")),
                body: r.reason.clone().unwrap_or_default(),
                dry_run: r.dry_run,
            })
            .await?;
        Ok(Json(ProposalAnswer {
            placement: view
                .outcome
                .decisions
                .get(&r.resource)
                .map(PlacementOut::from),
            proposal,
            file,
            change: "write".into(),
            content: Some(content),
            notes: vec![format!("dimensions: {}", changes.join(", "))],
        }))
    }

    /// Proposes the moves a fresh placement of every resource would make (what `homelabd
    /// plan --rebalance` shows) as one pull request: each moved resource is pinned to its
    /// new node (and pool, when that changes) in `spec.placement`, so the daemon moves it
    /// once merged. Moving a Proxmox or vSphere VM recreates it; the body says which.
    #[tool(
        name = "rebalance-placement",
        annotations(
            title = "Propose a rebalance",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn rebalance_placement(
        &self,
        Parameters(r): Parameters<RebalanceRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        let view = self.view().await?;
        let outcome = &view.outcome;
        let metas = outcome.charts.metas();
        let (fresh, _) = crate::place::place_all_with(
            &outcome.catalog,
            &metas,
            &outcome.priors(),
            crate::place::Mode::Rebalance,
        );
        let mut moves = Vec::new();
        let mut left_out = Vec::new();
        let mut by_file: BTreeMap<String, Vec<(&str, usize, serde_json::Value)>> = BTreeMap::new();
        for d in fresh.values() {
            let (Some(m), Some(entry), Some(now)) = (
                &d.moved,
                outcome.catalog.resources.get(&d.resource),
                outcome.decisions.get(&d.resource),
            ) else {
                continue;
            };
            let line = format!("`{}` {}", d.resource, m.describe());
            if d.nodes.len() > 1 {
                left_out.push(format!(
                    "{line} — left out: replicas on several nodes cannot be pinned"
                ));
                continue;
            }
            let pool = (now.pool != d.pool || d.nodes.is_empty()).then_some(d.pool.as_str());
            let node = d.nodes.first().map(|n| n.name.as_str());
            let Some(pinned) = proposals::with_placement(entry.doc.value(), pool, node) else {
                left_out.push(format!("{line} — left out: the document has no spec"));
                continue;
            };
            moves.push(line);
            by_file.entry(entry.doc.file.clone()).or_default().push((
                entry.name(),
                entry.doc.index,
                pinned,
            ));
        }
        if moves.is_empty() {
            return Err(Refusal::fixable(
                "nothing to rebalance: a fresh placement keeps every resource where it is",
                left_out,
            ));
        }
        let mut changes = Vec::new();
        let mut files = Vec::new();
        for (file, docs) in by_file {
            let mut text = self.file_text(&view.head, &file).await?;
            for (name, index, value) in docs {
                text = proposals::replace_document(&text, index, name, Some(&value)).ok_or_else(
                    || Refusal::Unavailable(format!("{file} no longer holds document {index}")),
                )?;
            }
            files.push(file.clone());
            changes.push(FileChange::Write {
                path: file,
                content: text,
            });
        }
        let mut body = r.reason.clone().map(|r| r + "\n\n").unwrap_or_default();
        body.push_str(
            "A fresh placement of every resource moves these; each is pinned to its new place \
             in spec.placement:\n\n",
        );
        for line in moves.iter().chain(&left_out) {
            body.push_str(&format!("- {line}\n"));
        }
        let client = Self::client(&extensions);
        let proposal = self
            .submit(ProposalRequest {
                tool: tool_name(Self::rebalance_placement_tool_attr()),
                client,
                subject: "rebalance".into(),
                changes,
                title: format!("Rebalance: {} resource(s) move", moves.len()),
                body,
                dry_run: r.dry_run,
            })
            .await?;
        Ok(Json(ProposalAnswer {
            proposal,
            file: files.join(", "),
            change: "write".into(),
            content: None,
            placement: None,
            notes: moves.into_iter().chain(left_out).collect(),
        }))
    }

    /// Proposes a new DeploymentTemplate copied from a placed resource: its resolved size
    /// as defaults, its provider, chart and chart values, the roles and variables of the
    /// template it used, its dimensions, and rules for its GPU and minimum memory.
    #[tool(
        name = "generate-template-from-instance",
        annotations(
            title = "Propose a template from an instance",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn generate_template_from_instance(
        &self,
        Parameters(r): Parameters<TemplateRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        label("resource", &r.resource)?;
        label("template", &r.template)?;
        let view = self.view().await?;
        let c = &view.outcome.catalog;
        let (Some(entry), Some(decision)) = (
            c.resources.get(&r.resource),
            view.outcome.decisions.get(&r.resource),
        ) else {
            return Err(Refusal::unknown(
                "resource",
                &r.resource,
                view.outcome.decisions.keys(),
            ));
        };
        if let Some(t) = c.templates.get(&r.template) {
            return Err(Refusal::fixable(
                format!(
                    "template {} already exists ({}); nothing was written",
                    r.template, t.doc.file
                ),
                vec![],
            ));
        }
        let used = entry
            .object
            .spec
            .template
            .as_ref()
            .and_then(|t| c.templates.get(t));
        let minimal = c
            .workload_types
            .get(&entry.object.spec.workload_type)
            .map_or(decision.size.memory_gb, |w| {
                w.object.spec.tiers.minimal.memory_gb
            });
        let value = proposals::template_from_instance(
            &r.template,
            r.description.as_deref(),
            entry,
            decision,
            used,
            minimal.min(decision.size.memory_gb),
            &view.head,
        );
        let client = Self::client(&extensions);
        let content = proposals::yaml_document(
            &[format!(
                "Generated by homelabd generate-template-from-instance from {} for {client}.",
                r.resource
            )],
            &value,
        );
        let file = format!("templates/{}.yaml", r.template);
        let proposal = self
            .submit(ProposalRequest {
                tool: tool_name(Self::generate_template_from_instance_tool_attr()),
                client,
                subject: r.template.clone(),
                changes: vec![FileChange::Write {
                    path: file.clone(),
                    content: content.clone(),
                }],
                title: format!("Template {} from {}", r.template, r.resource),
                body: format!("Copied from {} as placed at {}.", r.resource, view.head),
                dry_run: r.dry_run,
            })
            .await?;
        let mut notes = vec![format!(
            "defaults {} from {}",
            crate::place::describe_size(&decision.size),
            r.resource
        )];
        // Recorded once proposed, so list-deployment-templates can tell how the
        // resources made from it fare after the merge.
        if !r.dry_run
            && let Some(store) = &self.ctx.store
        {
            match store
                .record_generated_template(&r.template, &r.resource, &value)
                .await
            {
                Ok(()) => notes.push(format!(
                    "recorded as generated from {}: list-deployment-templates shows its usage and the success rate of its apply runs",
                    r.resource
                )),
                Err(e) => notes.push(format!("could not record the generated template: {e}")),
            }
        }
        Ok(Json(ProposalAnswer {
            proposal,
            file,
            change: "write".into(),
            content: Some(content),
            placement: Some(PlacementOut::from(decision)),
            notes,
        }))
    }

    /// Proposes committing a snapshot of where every resource is placed now
    /// (snapshots/<name>.yaml, comments only, so it never changes the desired state).
    /// plan-migration-from-snapshot compares it with later revisions.
    #[tool(
        name = "create-infrastructure-snapshot",
        annotations(
            title = "Propose an infrastructure snapshot",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn create_infrastructure_snapshot(
        &self,
        Parameters(r): Parameters<SnapshotRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        label("snapshot name", &r.name)?;
        let view = self.view().await?;
        let file = migration::snapshot_path(&r.name);
        if self.ctx.read_file(&view.head, &file).await?.is_some() {
            return Err(Refusal::fixable(
                format!(
                    "snapshot {} already exists ({file}); nothing was written",
                    r.name
                ),
                vec![],
            ));
        }
        let client = Self::client(&extensions);
        let taken_by = client.clone();
        let state = migration::state_of(&view, r.name.clone());
        let taken_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let content = migration::snapshot_text(&state, &taken_at, &client);
        let proposal = self
            .submit(ProposalRequest {
                tool: tool_name(Self::create_infrastructure_snapshot_tool_attr()),
                client,
                subject: r.name.clone(),
                changes: vec![FileChange::Write {
                    path: file.clone(),
                    content: content.clone(),
                }],
                title: format!(
                    "Snapshot {} of {} resources at {}",
                    r.name,
                    state.resources.len(),
                    super::inventory::short(&view.head)
                ),
                body: r.reason.clone().unwrap_or_default(),
                dry_run: r.dry_run,
            })
            .await?;
        let mut notes = vec![format!(
            "{} resources recorded at {}",
            state.resources.len(),
            view.head
        )];
        if !r.dry_run
            && let Some(store) = &self.ctx.store
        {
            notes.push(
                match self
                    .store_observed(store, &r.name, &view.head, &taken_by)
                    .await
                {
                    Ok(line) => line,
                    Err(e) => format!("the observed state could not be stored: {e}"),
                },
            );
        }
        Ok(Json(ProposalAnswer {
            proposal,
            file,
            change: "write".into(),
            content: Some(content),
            placement: None,
            notes,
        }))
    }

    /// Proposes removing a resource's definition (the file, or its document in a
    /// multi-document file). After the merge the daemon destroys the resource only where
    /// its policy allows pruning; otherwise it is reported as orphaned.
    #[tool(
        name = "decommission-resource",
        annotations(
            title = "Propose decommissioning a resource",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn decommission_resource(
        &self,
        Parameters(r): Parameters<DecommissionRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        label("resource", &r.resource)?;
        let view = self.view().await?;
        let c = &view.outcome.catalog;
        let (file, index) = match c.resources.get(&r.resource) {
            Some(e) => (e.doc.file.clone(), e.doc.index),
            None => {
                return Err(Refusal::unknown(
                    "resource",
                    &r.resource,
                    c.resources.keys(),
                ));
            }
        };
        let text = self.file_text(&view.head, &file).await?;
        let (change, content) = if proposals::document_count(&text) <= 1 {
            (FileChange::Delete { path: file.clone() }, None)
        } else {
            let rest =
                proposals::replace_document(&text, index, &r.resource, None).ok_or_else(|| {
                    Refusal::Unavailable(format!("{file} no longer holds document {index}"))
                })?;
            (
                FileChange::Write {
                    path: file.clone(),
                    content: rest.clone(),
                },
                Some(rest),
            )
        };
        let prune = c
            .resources
            .get(&r.resource)
            .and_then(|e| e.object.spec.policy.prune)
            .unwrap_or(self.ctx.settings.default_prune);
        let note = if prune {
            format!(
                "policy.prune is on: after the merge the daemon destroys {}",
                r.resource
            )
        } else {
            format!(
                "policy.prune is off: after the merge {} is reported as orphaned and left running until destroyed by hand",
                r.resource
            )
        };
        let client = Self::client(&extensions);
        let proposal = self
            .submit(ProposalRequest {
                tool: tool_name(Self::decommission_resource_tool_attr()),
                client,
                subject: r.resource.clone(),
                changes: vec![change],
                title: format!("Decommission {}", r.resource),
                body: format!("{}\n\n{note}", r.reason.clone().unwrap_or_default())
                    .trim()
                    .to_owned(),
                dry_run: r.dry_run,
            })
            .await?;
        Ok(Json(ProposalAnswer {
            placement: view
                .outcome
                .decisions
                .get(&r.resource)
                .map(PlacementOut::from),
            proposal,
            change: if content.is_some() { "write" } else { "delete" }.into(),
            file,
            content,
            notes: vec![note],
        }))
    }
}
