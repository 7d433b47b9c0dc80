//! Migration plans to a target (pure): `plan-migration-from-snapshot` with `target_node`
//! and/or `target_resource_pool` plans moving every resource a snapshot records (of the
//! target pool's provider, and still defined by the tracked revision) there. Each is placed again by the placement engine
//! with the target pinned in its `spec.placement`, around everything else as booked, so
//! the answer is what the daemon would do after such a change: per resource from → to,
//! what else changed since the snapshot, whether the move is destructive (a Proxmox or
//! vSphere VM is recreated on the new host; its disks do not come along) and the
//! downtime its strategy implies. A target that cannot take them all is refused with
//! every reason placement gives (capacity, GPUs, provider or chart).
//!
//! Pure, except [`HomelabMcp::steps_to_target`], which reads the live load outside git
//! from the store's inventory (as every placement answer does) and runs the above.

use super::context::View;
use super::migration::{Placed, State, Step};
use super::reply::Refusal;
use super::server::HomelabMcp;
use crate::diag::Diagnostic;
use crate::model::Provider;
use crate::place::{Decision, ResolvedPool, describe_size};
use crate::validate::Catalog;
use std::collections::BTreeMap;

/// Where to move to: a pool, a node, or a node of a pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoveTarget<'a> {
    pub pool: Option<&'a str>,
    pub node: Option<&'a str>,
}

impl MoveTarget<'_> {
    /// "pool /homelab/x node pve-02"
    pub fn describe(&self) -> String {
        match (self.pool, self.node) {
            (Some(p), Some(n)) => format!("pool {p} node {n}"),
            (Some(p), None) => format!("pool {p}"),
            (None, Some(n)) => format!("node {n}"),
            (None, None) => "nowhere".to_owned(),
        }
    }
}

/// Why a move target names no pool and node; shown to the agent as a fixable refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoSuchTarget {
    #[error("there is no pool {0}")]
    Pool(String),
    #[error("pool {pool} has no node {node}")]
    NodeNotInPool { pool: String, node: String },
    #[error("no pool has a node {0}")]
    Node(String),
    #[error("node {node} is in several pools ({}): give target_resource_pool too", pools.join(", "))]
    Ambiguous { node: String, pools: Vec<String> },
}

/// The pool path and node name the target resolves to, or why it names nothing.
pub fn resolve(
    target: &MoveTarget<'_>,
    pools: &BTreeMap<String, ResolvedPool>,
) -> Result<(String, Option<String>), NoSuchTarget> {
    if let Some(p) = target.pool
        && !pools.contains_key(p)
    {
        return Err(NoSuchTarget::Pool(p.to_owned()));
    }
    let Some(node) = target.node else {
        return Ok((target.pool.unwrap_or_default().to_owned(), None));
    };
    let holding: Vec<&String> = pools
        .iter()
        .filter(|(path, p)| {
            p.nodes.iter().any(|n| n.name == node) && target.pool.is_none_or(|want| want == *path)
        })
        .map(|(path, _)| path)
        .collect();
    match holding.as_slice() {
        [one] => Ok(((*one).clone(), Some(node.to_owned()))),
        [] => Err(match target.pool {
            Some(p) => NoSuchTarget::NodeNotInPool {
                pool: p.to_owned(),
                node: node.to_owned(),
            },
            None => NoSuchTarget::Node(node.to_owned()),
        }),
        several => Err(NoSuchTarget::Ambiguous {
            node: node.to_owned(),
            pools: several.iter().map(|s| (*s).clone()).collect(),
        }),
    }
}

/// The resources of `from` that the target pool's provider serves (all of them when it
/// names none), and a line for each other one.
pub fn candidates<'a>(
    from: &'a State,
    pool: Option<&ResolvedPool>,
) -> (Vec<&'a String>, Vec<String>) {
    let provider = pool.and_then(|p| p.provider);
    let mut names = Vec::new();
    let mut left_out = Vec::new();
    for (name, p) in &from.resources {
        match provider {
            Some(want) if want != p.provider => left_out.push(format!(
                "{name}: on {}, and the target is a {} pool",
                p.provider,
                want.as_str()
            )),
            _ => names.push(name),
        }
    }
    (names, left_out)
}

/// `catalog` with every resource of `names` pinned to `pool` (and `node`); the names it
/// defines, in order.
pub fn pinned(
    catalog: &Catalog,
    names: &[&String],
    pool: &str,
    node: Option<&str>,
) -> (Catalog, Vec<String>) {
    let mut out = catalog.clone();
    let mut moved = Vec::new();
    for name in names {
        if let Some(e) = out.resources.get_mut(*name) {
            e.object.spec.placement.pool = Some(pool.to_owned());
            e.object.spec.placement.node = node.map(str::to_owned);
            moved.push((*name).clone());
        }
    }
    (out, moved)
}

/// Why `failed` resources could not go to the target: one line per diagnostic.
pub fn refusals(
    moved: &[String],
    decisions: &BTreeMap<String, Decision>,
    diags: &[Diagnostic],
) -> Vec<String> {
    let mut out = Vec::new();
    for name in moved.iter().filter(|n| !decisions.contains_key(*n)) {
        let mine: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error() && d.name.as_deref() == Some(name.as_str()))
            .map(|d| match &d.found {
                // The pools tried, each with its verdict (room, GPUs, provider, chart).
                Some(tried) => format!("{} — {tried}", d.message),
                None => d.message.clone(),
            })
            .collect();
        if mine.is_empty() {
            out.push(format!("{name}: cannot be placed there"));
        }
        for m in mine {
            out.push(format!("{name}: {m}"));
        }
    }
    out
}

/// How long a move of `d` keeps the service away, by how it moves.
pub fn downtime(d: &Decision, destructive: bool) -> String {
    let replicas = d.size.replicas.max(1);
    match d.provider {
        Provider::Kubernetes if replicas > 1 => {
            "rolling: the scheduler replaces one pod at a time; no downtime".into()
        }
        Provider::Kubernetes => {
            "recreate: one pod, so it is away while the new one starts (seconds to minutes)".into()
        }
        Provider::Docker => "recreate: stopped on the old engine, then started on the new one (seconds); named volumes stay on the old engine — copy them first".into(),
        Provider::Aws | Provider::Azure => {
            "replace: the new instance is created before the old one is deleted; clients must follow the new address".into()
        }
        _ if destructive && replicas > 1 => format!(
            "rolling by replica: {replicas} VMs recreated one at a time; no downtime if the service survives one replica down, each replica's disks are rebuilt"
        ),
        _ if destructive => "recreate: the VM is rebuilt on the new host; down until it is provisioned and its data restored from backup (minutes to hours)".into(),
        _ => "in place: no recreation".into(),
    }
}

fn placed_of(d: &Decision, input_hash: &str) -> Placed {
    Placed {
        resource: d.resource.clone(),
        provider: d.provider,
        pool: d.pool.clone(),
        nodes: d.nodes.iter().map(|n| n.name.clone()).collect(),
        chart: d.chart.clone(),
        size: describe_size(&d.size),
        input_hash: input_hash.to_owned(),
    }
}

/// The steps that move `moved` from where `from` (the snapshot) had them to where the
/// pinned placement `decisions` puts them; `now` is the tracked revision's state (what
/// else changed since the snapshot). Returns the steps and how many stay where they are.
pub fn plan(
    from: &State,
    now: &State,
    moved: &[String],
    decisions: &BTreeMap<String, Decision>,
) -> (Vec<Step>, usize) {
    let mut steps = Vec::new();
    let mut unchanged = 0;
    for name in moved {
        let Some(d) = decisions.get(name) else {
            continue;
        };
        let hash = now
            .resources
            .get(name)
            .map(|p| p.input_hash.as_str())
            .unwrap_or_default();
        let to = placed_of(d, hash);
        let Some(f) = from.resources.get(name) else {
            continue;
        };
        let provider_changes = f.provider != to.provider;
        let moves = f.pool != to.pool || f.nodes != to.nodes;
        if !provider_changes && !moves {
            unchanged += 1;
            continue;
        }
        let vm = matches!(d.provider, Provider::Proxmox | Provider::Vmware);
        let destructive = provider_changes || (vm && f.nodes != to.nodes);
        let mut notes = vec![format!(
            "{} {} ({}) → {} {} ({})",
            f.provider,
            f.pool,
            f.nodes.join(","),
            to.provider,
            to.pool,
            to.nodes.join(",")
        )];
        if provider_changes {
            notes.push(format!(
                "provider {} → {}: a new resource is created on {}; migrate its data, then decommission the old one",
                f.provider, to.provider, to.provider
            ));
        } else if destructive {
            notes.push(
                "destructive: the VM is recreated on the new host; its disks do not move along (back it up first)".into(),
            );
        }
        if f.size != to.size {
            notes.push(format!("size since the snapshot: {} → {}", f.size, to.size));
        }
        if f.chart != to.chart {
            notes.push(format!(
                "chart since the snapshot: {} → {}",
                f.chart, to.chart
            ));
        } else if !f.input_hash.is_empty() && f.input_hash != to.input_hash {
            notes.push("its configuration changed since the snapshot too".into());
        }
        notes.extend(d.reasons.iter().take(3).cloned());
        steps.push(Step {
            resource: name.clone(),
            action: if provider_changes {
                "move-provider"
            } else {
                "move"
            }
            .into(),
            from: Some(f.clone()),
            to: Some(to),
            notes,
            destructive,
            downtime: Some(downtime(d, destructive)),
        });
    }
    (steps, unchanged)
}

impl HomelabMcp {
    /// The steps moving the resources of `from` to `target`, placed against `view` (the
    /// tracked revision, whose state is `now`), or the refusal with every reason.
    pub(super) async fn steps_to_target(
        &self,
        target: &MoveTarget<'_>,
        from: &State,
        now: &State,
        view: &View,
    ) -> Result<(Vec<Step>, usize, Vec<String>), Refusal> {
        let (pool, node) = resolve(target, &view.pools).map_err(|e| {
            Refusal::fixable(
                format!("cannot plan a move to {}: {e}", target.describe()),
                vec![],
            )
        })?;
        let (names, left_out) = candidates(from, view.pools.get(&pool));
        let (catalog, moved) = pinned(&view.outcome.catalog, &names, &pool, node.as_deref());
        if moved.is_empty() {
            return Err(Refusal::fixable(
                format!(
                    "none of the {} resources of {} is defined in the tracked revision: nothing to move",
                    from.resources.len(),
                    from.label
                ),
                vec![],
            ));
        }
        let live = match &self.ctx.store {
            Some(store) => store
                .inventory(None, false)
                .await
                .map(|r| crate::observe::inventory::stored_loads(&r, chrono::Utc::now()))
                .unwrap_or_default(),
            None => crate::place::LiveLoad::new(),
        };
        let metas = view.outcome.charts.metas();
        let (decisions, diags) = crate::place::place_all_live(
            &catalog,
            &metas,
            &view.outcome.priors(),
            &live,
            crate::place::Mode::Sticky,
        );
        let refused = refusals(&moved, &decisions, &diags);
        if !refused.is_empty() {
            return Err(Refusal::fixable(
                format!(
                    "{} cannot take the {} resource(s) of {}: {} of them do not fit; nothing is planned",
                    target.describe(),
                    moved.len(),
                    from.label,
                    moved.iter().filter(|m| !decisions.contains_key(*m)).count()
                ),
                refused,
            ));
        }
        let (steps, unchanged) = plan(from, now, &moved, &decisions);
        Ok((steps, unchanged, left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::load_dir;

    fn example() -> (crate::pipeline::Outcome, BTreeMap<String, ResolvedPool>) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo");
        let engine = crate::pipeline::Engine::new().unwrap();
        let snapshot = load_dir(&root, None).unwrap();
        let outcome = engine.run(&snapshot);
        let pools = crate::place::resolve_pools(&outcome.catalog);
        (outcome, pools)
    }

    fn decision(
        name: &str,
        provider: Provider,
        pool: &str,
        nodes: &[&str],
        replicas: u32,
    ) -> Decision {
        Decision {
            resource: name.into(),
            provider,
            pool: pool.into(),
            chart: "c".into(),
            nodes: nodes
                .iter()
                .map(|n| crate::place::NodeAssignment {
                    name: (*n).into(),
                    address: None,
                    labels: Default::default(),
                })
                .collect(),
            gpus: vec![],
            size: crate::model::Sized {
                cpu: 1,
                memory_gb: 1.0,
                storage_gb: 0,
                gpu: false,
                replicas,
                tier: crate::model::Tier::Standard,
                sources: vec![],
            },
            reasons: vec![],
            alternatives: vec![],
            moved: None,
        }
    }

    #[test]
    fn moves_say_whether_they_recreate_and_how_long_the_service_is_away() {
        let was = [
            decision("vm", Provider::Proxmox, "/a", &["n1"], 1),
            decision("app", Provider::Docker, "/a", &["n1"], 1),
            decision("web", Provider::Kubernetes, "/a", &["n1", "n2"], 2),
            decision("db", Provider::Proxmox, "/a", &["n1"], 1),
            decision("hop", Provider::Docker, "/a", &["n1"], 1),
        ];
        let state = |ds: &[Decision]| State {
            label: "s".into(),
            revision: "r".into(),
            resources: ds
                .iter()
                .map(|d| (d.resource.clone(), placed_of(d, "h")))
                .collect(),
        };
        let from = state(&was);
        let to: BTreeMap<String, Decision> = [
            decision("vm", Provider::Proxmox, "/b", &["n3"], 1),
            decision("app", Provider::Docker, "/b", &["n3"], 1),
            decision("web", Provider::Kubernetes, "/b", &["n3", "n4"], 2),
            decision("db", Provider::Proxmox, "/a", &["n1"], 1),
            decision("hop", Provider::Kubernetes, "/b", &["n3"], 1),
        ]
        .into_iter()
        .map(|d| (d.resource.clone(), d))
        .collect();
        let moved: Vec<String> = to.keys().cloned().collect();
        let (steps, unchanged) = plan(&from, &from, &moved, &to);
        assert_eq!(unchanged, 1, "db stays");
        let got: BTreeMap<&str, (&str, bool, &str)> = steps
            .iter()
            .map(|s| {
                let downtime = s.downtime.as_deref().unwrap_or_default();
                (
                    s.resource.as_str(),
                    (
                        s.action.as_str(),
                        s.destructive,
                        downtime.split(':').next().unwrap_or_default(),
                    ),
                )
            })
            .collect();
        assert_eq!(got["vm"], ("move", true, "recreate"));
        assert_eq!(got["app"], ("move", false, "recreate"));
        assert_eq!(got["web"], ("move", false, "rolling"));
        assert_eq!(got["hop"], ("move-provider", true, "recreate"));
    }

    #[test]
    fn a_target_pool_takes_only_the_resources_of_its_provider() {
        let (outcome, pools) = example();
        let from = super::super::migration::State {
            label: "s".into(),
            revision: "r".into(),
            resources: outcome
                .decisions
                .values()
                .map(|d| (d.resource.clone(), placed_of(d, "h")))
                .collect(),
        };
        let (names, left_out) = candidates(&from, pools.get("/homelab/docker"));
        assert_eq!(names, ["uptime-kuma"]);
        assert!(
            left_out
                .iter()
                .any(|l| l == "jenkins: on proxmox, and the target is a docker pool"),
            "{left_out:?}"
        );
    }

    #[test]
    fn a_node_resolves_to_its_pool_and_unknown_targets_are_named() {
        let (_, pools) = example();
        let (path, node) = pools
            .iter()
            .find_map(|(path, p)| Some((path.clone(), p.nodes.first()?.name.clone())))
            .unwrap();
        let t = MoveTarget {
            pool: None,
            node: Some(&node),
        };
        assert_eq!(resolve(&t, &pools).unwrap(), (path, Some(node.clone())));
        let nowhere = MoveTarget {
            pool: Some("/nowhere"),
            node: None,
        };
        assert_eq!(
            resolve(&nowhere, &pools).unwrap_err().to_string(),
            "there is no pool /nowhere"
        );
        let ghost = MoveTarget {
            pool: None,
            node: Some("ghost"),
        };
        assert_eq!(
            resolve(&ghost, &pools).unwrap_err().to_string(),
            "no pool has a node ghost"
        );
    }
}
