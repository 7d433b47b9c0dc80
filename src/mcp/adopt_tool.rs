//! `adopt-unmanaged-resource` (and `homelabd adopt`, which calls [`HomelabMcp::adopt`]):
//! a container started outside homelabd becomes a definition that describes it as it
//! runs, proposed as a branch and pull request. The container is found on the engines
//! the docker pools name (`docker inspect`, through `observe`), turned into a document
//! by `propose::adopt` (secrets withheld, what the chart cannot carry named) and handed
//! to the proposer, which validates and renders it like any change. After the merge the
//! executor takes the container over instead of creating another (`apply::docker_adopt`).

use super::context::View;
use super::proposal_tools::ProposalAnswer;
use super::proposals;
use super::reply::{Json, Refusal};
use super::server::HomelabMcp;
use crate::model::Provider;
use crate::propose::adopt::{self, AdoptOptions};
use crate::propose::{FileChange, ProposalRequest};
use crate::validate::Catalog;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::Extensions;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// `adopt-unmanaged-resource`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdoptRequest {
    /// The container to adopt (its name or id, as `docker ps` shows it) or the Proxmox VM
    /// (its name or VMID). Also `container_name`, `instance_name`, `resource_id`.
    #[serde(
        alias = "container_name",
        alias = "instance_name",
        alias = "resource_id"
    )]
    pub container: String,
    /// Name of the new resource (DNS-1123 label; default: the container's name made
    /// one). Also `resource_name`.
    #[serde(default, alias = "resource_name")]
    pub name: Option<String>,
    /// The docker pool whose engine runs the container, or the proxmox pool with the
    /// VM's node (default: every docker pool's engines, then the `[proxmox]` cluster).
    #[serde(default)]
    pub pool: Option<String>,
    /// The WorkloadType of the new resource (default: the only one, else
    /// `web-application` when the repository has it).
    #[serde(default)]
    pub workload_type: Option<String>,
    /// Why: goes into the commit and the pull request.
    #[serde(default)]
    pub reason: Option<String>,
    /// Inspect, validate, place, render and diff only: no branch, commit or pull request.
    #[serde(default)]
    pub dry_run: bool,
}

/// A docker pool node and the engine it is.
#[derive(Clone)]
struct EngineAt {
    pool: String,
    node: Option<String>,
    engine: crate::target::Target,
}

impl HomelabMcp {
    /// Adopts a container for `client` (`mcp:<token>`, `stdio` or `cli`); see the module
    /// docs.
    pub async fn adopt(&self, r: AdoptRequest, client: String) -> Result<ProposalAnswer, Refusal> {
        let view = self.view().await?;
        let pool_provider = match r.pool.as_deref() {
            Some(p) => match view.pools.get(p).and_then(|p| p.provider) {
                Some(provider @ (Provider::Docker | Provider::Proxmox)) => Some(provider),
                _ => {
                    let known = view
                        .pools
                        .iter()
                        .filter(|(_, p)| {
                            matches!(p.provider, Some(Provider::Docker | Provider::Proxmox))
                        })
                        .map(|(path, _)| path);
                    return Err(Refusal::unknown("docker or proxmox pool", p, known));
                }
            },
            None => None,
        };
        let has_docker = view
            .pools
            .values()
            .any(|p| p.provider == Some(Provider::Docker) && !p.nodes.is_empty());
        let proxmox = self.ctx.settings.proxmox.is_some();
        let mut searched = Vec::new();
        if pool_provider != Some(Provider::Proxmox) && (has_docker || !proxmox) {
            match self.find_container(&view, &r).await {
                Ok(Found::Container(found)) => {
                    return self.adopt_container(&view, &r, *found, client).await;
                }
                Ok(Found::Nothing(place)) => searched.push(place),
                // An engine that cannot be asked does not stop the search of the cluster.
                Err(Refusal::Unavailable(e)) if proxmox && pool_provider.is_none() => {
                    searched.push(format!("the Docker engines (unreadable: {e})"));
                }
                Err(refusal) => return Err(refusal),
            }
        }
        if pool_provider != Some(Provider::Docker) && proxmox {
            match self.find_vm(&r).await? {
                Some(vm) => return self.adopt_vm(&view, &r, vm, client).await,
                None => searched.push(self.proxmox_searched()),
            }
        }
        Err(Refusal::fixable(
            format!(
                "no container or VM {:?} on {}; nothing was written",
                r.container,
                searched.join(" or ")
            ),
            vec!["give the name or id `docker ps --all` shows, or a Proxmox VM's name or VMID, and the pool that runs it".into()],
        ))
    }

    /// The container `r` names on the docker pools' engines.
    async fn find_container(&self, view: &View, r: &AdoptRequest) -> Result<Found, Refusal> {
        let engines = docker_engines(&view.pools, r.pool.as_deref())?;
        let docker = self
            .ctx
            .settings
            .inventory_tools
            .docker
            .clone()
            .unwrap_or_else(|| "docker".to_owned());
        let mut found = None;
        let mut searched = Vec::new();
        for at in &engines {
            if searched.contains(&&at.engine) {
                continue;
            }
            searched.push(&at.engine);
            let inspected = crate::observe::inventory::docker::inspect_container(
                &docker,
                &at.engine,
                &r.container,
            )
            .await
            .map_err(|e| {
                Refusal::Unavailable(format!(
                    "cannot inspect containers on the engine of {}: {e}",
                    at.pool
                ))
            })?;
            if let Some(i) = inspected {
                found = Some((at, i));
                break;
            }
        }
        let Some((at, inspected)) = found else {
            return Ok(Found::Nothing(format!(
                "the Docker engines of {}",
                engines
                    .iter()
                    .map(|e| e.pool.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        Ok(Found::Container(Box::new((at.clone(), inspected))))
    }

    /// Proposes the definition of a found container.
    async fn adopt_container(
        &self,
        view: &View,
        r: &AdoptRequest,
        (at, (container, image)): (EngineAt, Inspected),
        client: String,
    ) -> Result<ProposalAnswer, Refusal> {
        let catalog = &view.outcome.catalog;
        if let Some(project) = container
            .pointer("/Config/Labels/com.docker.compose.project")
            .and_then(|v| v.as_str())
            && let Some(owner) = project.strip_prefix("homelabd-")
        {
            return Err(Refusal::fixable(
                format!(
                    "container {} is already managed by homelabd (resource {owner}); nothing was written",
                    r.container
                ),
                vec![],
            ));
        }
        let id = container.get("Id").and_then(|v| v.as_str()).unwrap_or("");
        let cname = container
            .get("Name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .trim_start_matches('/');
        for (name, e) in &catalog.resources {
            let adopts = e.doc.value().pointer("/spec/chart/values/adopt/container");
            if let Some(c) = adopts.and_then(|v| v.as_str())
                && (c == cname || (!c.is_empty() && id.starts_with(c)))
            {
                return Err(Refusal::fixable(
                    format!(
                        "container {cname} is already adopted by resource {name} ({}); nothing was written",
                        e.doc.file
                    ),
                    vec![],
                ));
            }
        }
        let name = new_resource_name(catalog, r, cname, "container")?;
        let workload_type = workload_type_for(catalog, r)?;
        let adoption = adopt::definition(
            &container,
            image.as_ref(),
            &AdoptOptions {
                name: &name,
                pool: &at.pool,
                node: at.node.as_deref(),
                workload_type: &workload_type,
            },
        )
        .map_err(|e| Refusal::Unavailable(format!("cannot read the container: {e}")))?;
        let tool = "adopt-unmanaged-resource";
        let mut header = vec![
            format!(
                "Adopted by homelabd {tool} for {client} from docker container {} ({}).",
                adoption.container,
                adopt::short(&adoption.container_id)
            ),
            "homelabd takes the container over as it runs (same id); a later change of this".into(),
            "definition recreates it under docker compose (volumes and bind mounts are kept)."
                .into(),
        ];
        let mut withheld = Vec::new();
        for k in &adoption.withheld_env {
            // A variable's name may hold any character but `=`: one line, so it can never
            // end the comment it is quoted in.
            let k = &crate::propose::request::one_line(k, 200);
            let key = k.to_ascii_lowercase();
            header.push(format!(
                "env {k} withheld (looks like a secret): `homelabd secret set {name} {key}`, then env {k}: {{secret: {name}, key: {key}}}"
            ));
            withheld.push(format!(
                "`{k}`: set on the container but not copied into git. Before the definition changes, run `homelabd secret set {name} {key}` and add `{k}: {{secret: {name}, key: {key}}}` under `spec.chart.values.env`; until then homelabd refuses to recreate the container"
            ));
        }
        let content = proposals::yaml_document(&header, &adoption.document);
        let mut notes = vec![format!(
            "adopts container {} ({}) on the engine of {}{}",
            adoption.container,
            adopt::short(&adoption.container_id),
            at.pool,
            at.node
                .as_deref()
                .map(|n| format!(" node {n}"))
                .unwrap_or_default()
        )];
        notes.extend(adoption.notes.iter().cloned());
        let mut body = r.reason.clone().map(|x| x + "\n\n").unwrap_or_default();
        body.push_str(&format!(
            "Adopts the running container `{}` (`{}`) as resource `{name}`: the definition describes it as it runs, and the first apply after the merge takes it over without recreating it. A later change of the definition recreates it under docker compose.\n\n",
            adoption.container,
            adopt::short(&adoption.container_id),
        ));
        if !withheld.is_empty() {
            body.push_str("Secrets withheld (placeholders, see the file's header):\n\n");
            for w in &withheld {
                body.push_str(&format!("- {w}\n"));
            }
            body.push('\n');
        }
        for n in &notes {
            body.push_str(&format!("- {n}\n"));
        }
        notes.extend(withheld);
        let title = format!("Adopt container {} as {name}", adoption.container);
        let new = NewDefinition {
            name,
            content,
            title,
            body,
            notes,
        };
        self.propose_definition(view, client, new, r.dry_run).await
    }

    /// Proposes `definitions/NAME.yaml` as written by an adoption; refused, with nothing
    /// written, when the file exists at the view's head.
    pub(super) async fn propose_definition(
        &self,
        view: &View,
        client: String,
        new: NewDefinition,
        dry_run: bool,
    ) -> Result<ProposalAnswer, Refusal> {
        let file = format!("definitions/{}.yaml", new.name);
        if self.ctx.read_file(&view.head, &file).await?.is_some() {
            return Err(Refusal::fixable(
                format!("{file} already exists; nothing was written"),
                vec!["give another name".into()],
            ));
        }
        let proposal = self
            .submit(ProposalRequest {
                tool: "adopt-unmanaged-resource".to_owned(),
                client,
                subject: new.name,
                changes: vec![FileChange::Write {
                    path: file.clone(),
                    content: new.content.clone(),
                }],
                title: new.title,
                body: new.body,
                dry_run,
            })
            .await?;
        Ok(ProposalAnswer {
            proposal,
            file,
            change: "write".into(),
            content: Some(new.content),
            placement: None,
            notes: new.notes,
        })
    }
}

/// A definition an adoption proposes: its resource name, the file's text, and the pull
/// request's title and body; `notes` go into the answer.
pub(super) struct NewDefinition {
    pub name: String,
    pub content: String,
    pub title: String,
    pub body: String,
    pub notes: Vec<String>,
}

/// What the search of the docker engines found.
enum Found {
    Container(Box<(EngineAt, Inspected)>),
    /// Where it looked.
    Nothing(String),
}

/// `docker inspect` of a container and of its image.
type Inspected = (serde_json::Value, Option<serde_json::Value>);

/// The name of the new resource: `r.name`, else `default_from` (a container's or VM's
/// name) made a DNS-1123 label; refused when taken.
pub(super) fn new_resource_name(
    catalog: &Catalog,
    r: &AdoptRequest,
    default_from: &str,
    what: &str,
) -> Result<String, Refusal> {
    let name = match &r.name {
        Some(n) => n.clone(),
        None => adopt::resource_name(default_from).ok_or_else(|| {
            Refusal::fixable(
                format!("{what} name {default_from:?} makes no resource name: give name"),
                vec![],
            )
        })?,
    };
    super::proposal_tools::label("name", &name)?;
    if let Some(e) = catalog.resources.get(&name) {
        return Err(Refusal::fixable(
            format!(
                "resource {name} already exists ({}); nothing was written",
                e.doc.file
            ),
            vec!["give another name".into()],
        ));
    }
    Ok(name)
}

/// The WorkloadType of the new resource: `r.workload_type`, else the only one, else
/// `web-application`.
pub(super) fn workload_type_for(catalog: &Catalog, r: &AdoptRequest) -> Result<String, Refusal> {
    let workload_type = match &r.workload_type {
        Some(w) if catalog.workload_types.contains_key(w) => w.clone(),
        Some(w) => {
            return Err(Refusal::unknown(
                "workload type",
                w,
                catalog.workload_types.keys(),
            ));
        }
        None => {
            let mut keys = catalog.workload_types.keys();
            match (keys.next(), keys.next()) {
                (Some(only), None) => only.clone(),
                _ if catalog.workload_types.contains_key("web-application") => {
                    "web-application".to_owned()
                }
                _ => {
                    return Err(Refusal::fixable(
                        "give workload_type: the repository has several and no web-application",
                        catalog.workload_types.keys().cloned().collect(),
                    ));
                }
            }
        }
    };
    Ok(workload_type)
}

/// The docker pools' nodes and their engines (only `pool` when given), by pool path.
fn docker_engines(
    pools: &std::collections::BTreeMap<String, crate::place::ResolvedPool>,
    pool: Option<&str>,
) -> Result<Vec<EngineAt>, Refusal> {
    let mut out = Vec::new();
    let docker_pools: Vec<&String> = pools
        .iter()
        .filter(|(_, p)| p.provider == Some(Provider::Docker) && !p.nodes.is_empty())
        .map(|(path, _)| path)
        .collect();
    if let Some(want) = pool
        && !docker_pools.iter().any(|p| p.as_str() == want)
    {
        return Err(Refusal::unknown(
            "docker pool",
            want,
            docker_pools.into_iter(),
        ));
    }
    for (path, p) in pools {
        if p.provider != Some(Provider::Docker) || pool.is_some_and(|w| w != path) {
            continue;
        }
        for node in &p.nodes {
            let Ok(engine) = crate::target::resolve(
                Provider::Docker,
                &p.properties,
                &[(node.name.as_str(), &node.properties)],
            ) else {
                continue;
            };
            out.push(EngineAt {
                pool: path.clone(),
                node: (p.nodes.len() > 1).then(|| node.name.clone()),
                engine,
            });
        }
    }
    if out.is_empty() {
        return Err(Refusal::fixable(
            "the repository has no docker pool with a node: an adopted container needs one (a ResourcePool with provider: docker)",
            vec![],
        ));
    }
    Ok(out)
}

#[tool_router(router = adopt_router, vis = "pub(super)")]
impl HomelabMcp {
    /// Proposes adopting a container started outside homelabd (`docker run`) or a
    /// Proxmox VM created by hand, as the inventory reports it: a definition that matches
    /// its live configuration, written to a new branch and pull request. A container:
    /// image, command, environment, ports, volumes, labels, restart policy; environment
    /// values that look like secrets are not copied (named in the answer, with how to add
    /// them as secrets); after the merge homelabd takes the running container over
    /// without recreating it. A VM: node, cores, memory, boot disk, network, CPU type,
    /// tags; the rendered Terraform imports it by VMID instead of creating another.
    #[tool(
        name = "adopt-unmanaged-resource",
        annotations(
            title = "Propose adopting an unmanaged container or VM",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn adopt_unmanaged_resource(
        &self,
        Parameters(r): Parameters<AdoptRequest>,
        extensions: Extensions,
    ) -> Result<Json<ProposalAnswer>, Refusal> {
        self.adopt(r, Self::client(&extensions)).await.map(Json)
    }
}
