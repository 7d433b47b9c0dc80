//! Which sources to scan (pure, from the pools and the settings) and the scan itself:
//! the Proxmox VE API, every Docker engine a pool names (or the default one), every
//! Kubernetes context a pool names (or `[executors.kubernetes] context`).

use super::{Claims, Item};
use crate::model::Provider;
use crate::place::{Decision, ResolvedPool};
use crate::target::Target;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The Docker engines and Kubernetes contexts the pools name, each with the pool nodes
/// that are it (a Docker engine is one machine; a context is a cluster).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources {
    /// Engine → its node names in the pools.
    pub docker: BTreeMap<Target, Vec<String>>,
    /// Context → (kubeconfig, node names).
    pub kubernetes: BTreeMap<String, (Option<String>, Vec<String>)>,
}

/// The sources named by `pools`; `default_context` is `[executors.kubernetes] context`.
pub fn sources(pools: &BTreeMap<String, ResolvedPool>, default_context: Option<&str>) -> Sources {
    let mut out = Sources::default();
    for pool in pools.values() {
        for node in &pool.nodes {
            match pool.provider {
                Some(Provider::Docker) => {
                    let Ok(t) = crate::target::resolve(
                        Provider::Docker,
                        &pool.properties,
                        &[(node.name.as_str(), &node.properties)],
                    ) else {
                        continue;
                    };
                    out.docker.entry(t).or_default().push(node.name.clone());
                }
                Some(Provider::Kubernetes) => {
                    let Ok(t) = crate::target::resolve(
                        Provider::Kubernetes,
                        &pool.properties,
                        &[(node.name.as_str(), &node.properties)],
                    ) else {
                        continue;
                    };
                    let Some(context) = t.context.clone().or(default_context.map(str::to_owned))
                    else {
                        continue;
                    };
                    let entry = out
                        .kubernetes
                        .entry(context)
                        .or_insert((t.kubeconfig.clone(), Vec::new()));
                    entry.1.push(node.name.clone());
                }
                _ => {}
            }
        }
    }
    if out.docker.is_empty() {
        out.docker.insert(Target::default(), Vec::new());
    }
    out
}

/// The containers definitions adopt (the docker-compose chart's `adopt.container`),
/// from each resource's name and document: container → resource.
pub fn adopted<'a>(
    resources: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
) -> BTreeMap<String, String> {
    resources
        .into_iter()
        .filter_map(|(name, doc)| {
            let c = doc
                .pointer("/spec/chart/values/adopt/container")?
                .as_str()?;
            Some((c.to_owned(), name.clone()))
        })
        .collect()
}

/// Which resources account for guests and containers, from the placements.
pub fn claims<'a>(decisions: impl IntoIterator<Item = &'a Decision>) -> Claims {
    let mut c = Claims::default();
    for d in decisions {
        match d.provider {
            Provider::Proxmox => {
                c.proxmox.insert(d.resource.clone(), d.size.replicas.max(1));
            }
            Provider::Docker => {
                c.docker.insert(d.resource.clone());
            }
            _ => {}
        }
    }
    c
}

/// One source's scan.
#[derive(Debug, Serialize)]
pub struct SourceScan {
    /// `proxmox`, `docker`, `docker:<host>`, `kubernetes:<context>`.
    pub source: String,
    pub provider: Provider,
    pub seen_at: DateTime<Utc>,
    /// The items, or why the source could not be read.
    #[serde(skip)]
    pub result: Result<Vec<Item>, super::ScanError>,
}

/// The CLIs to scan with, as configured (`None`: the one in `PATH`), and the default
/// Kubernetes context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tools {
    pub docker: Option<String>,
    pub kubectl: Option<String>,
    pub kube_context: Option<String>,
}

/// The tools to scan with; a `None` source is not configured here.
#[derive(Debug, Clone, Default)]
pub struct Scanner {
    pub proxmox: Option<crate::observe::proxmox::ProxmoxObserver>,
    /// The `docker` binary, when it is installed.
    pub docker: Option<String>,
    /// The `kubectl` binary, when it is installed.
    pub kubectl: Option<PathBuf>,
}

impl Scanner {
    /// From the settings: the Proxmox API when `[proxmox]` and its token are set, the
    /// docker and kubectl binaries of `[executors]` when found.
    pub fn from_settings(
        proxmox: Option<&crate::observe::proxmox::ProxmoxSettings>,
        token: Option<&crate::setting::Secret>,
        tools: &Tools,
    ) -> Scanner {
        let proxmox = match (proxmox, token) {
            (Some(p), Some(t)) => crate::observe::proxmox::observer(p, t).ok(),
            _ => None,
        };
        let docker = tools.docker.clone().unwrap_or_else(|| "docker".to_owned());
        Scanner {
            proxmox,
            docker: crate::apply::find_program(&docker).map(|_| docker),
            kubectl: crate::apply::find_program(tools.kubectl.as_deref().unwrap_or("kubectl")),
        }
    }

    /// Scans every source of `wanted` providers (all when empty) that is configured.
    pub async fn scan(
        &self,
        sources: &Sources,
        claims: &Claims,
        wanted: &[Provider],
    ) -> Vec<SourceScan> {
        let wants = |p: Provider| wanted.is_empty() || wanted.contains(&p);
        let mut out = Vec::new();
        if wants(Provider::Proxmox)
            && let Some(observer) = &self.proxmox
        {
            let result = observer
                .discover()
                .await
                .map(|inv| {
                    let mut items = super::from_proxmox(&inv, claims);
                    items.extend(inv.warnings.iter().enumerate().map(|(i, w)| Item {
                        key: format!("warning/{i}"),
                        kind: "warning".into(),
                        name: None,
                        node: None,
                        managed_by: None,
                        details: serde_json::json!({ "message": w }),
                    }));
                    items
                })
                .map_err(super::ScanError::from);
            out.push(SourceScan {
                source: "proxmox".into(),
                provider: Provider::Proxmox,
                seen_at: Utc::now(),
                result,
            });
        }
        if wants(Provider::Docker)
            && let Some(docker) = &self.docker
        {
            for (engine, nodes) in &sources.docker {
                let node = nodes.first().map(String::as_str);
                let result = super::docker::scan(docker, engine, claims, node).await;
                out.push(SourceScan {
                    source: super::docker::source(engine),
                    provider: Provider::Docker,
                    seen_at: Utc::now(),
                    result,
                });
            }
        }
        if wants(Provider::Kubernetes)
            && let Some(kubectl) = &self.kubectl
        {
            for (context, (kubeconfig, _)) in &sources.kubernetes {
                let result = super::kubernetes::scan(kubectl, context, kubeconfig.as_deref()).await;
                out.push(SourceScan {
                    source: super::kubernetes::source(context),
                    provider: Provider::Kubernetes,
                    seen_at: Utc::now(),
                    result,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, PoolType};
    use serde_json::json;

    fn pool(
        provider: Provider,
        props: serde_json::Value,
        nodes: &[(&str, serde_json::Value)],
    ) -> ResolvedPool {
        ResolvedPool {
            name: "p".into(),
            path: "/p".into(),
            pool_type: PoolType::Compute,
            provider: Some(provider),
            properties: props.as_object().cloned().unwrap_or_default(),
            dimensions: Default::default(),
            nodes: nodes
                .iter()
                .map(|(n, p)| Node {
                    name: (*n).into(),
                    address: None,
                    cpu: 4,
                    memory_gb: 16.0,
                    storage_gb: 100,
                    gpus: vec![],
                    labels: Default::default(),
                    properties: p.as_object().cloned().unwrap_or_default(),
                })
                .collect(),
            capacity: None,
            description: None,
        }
    }

    #[test]
    fn each_docker_engine_and_context_is_scanned_once_with_its_nodes() {
        let pools = BTreeMap::from([
            (
                "/d".to_owned(),
                pool(
                    Provider::Docker,
                    json!({}),
                    &[
                        ("nas", json!({})),
                        ("pi", json!({"docker_host": "ssh://pi"})),
                    ],
                ),
            ),
            (
                "/k".to_owned(),
                pool(
                    Provider::Kubernetes,
                    json!({"context": "k3s"}),
                    &[("k1", json!({})), ("k2", json!({}))],
                ),
            ),
        ]);
        let s = sources(&pools, None);
        assert_eq!(s.docker.len(), 2);
        assert_eq!(s.docker[&Target::default()], ["nas"]);
        assert_eq!(s.kubernetes["k3s"].1, ["k1", "k2"]);
        let none = sources(&BTreeMap::new(), Some("ctx"));
        assert_eq!(none.docker.len(), 1, "the default engine");
        assert!(none.kubernetes.is_empty());
    }
}
