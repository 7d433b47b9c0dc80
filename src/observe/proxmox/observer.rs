//! The IO shell: fetches what [`drift`] and [`discovery`] need, with bounded concurrency.

use super::ProxmoxError;
use super::api::VmConfig;
use super::client::ProxmoxClient;
use super::discovery::{self, Answers, Inventory, NodeAnswers};
use super::drift::{self, ClusterVm};
use super::expected;
use crate::apply::BoxFuture;
use crate::model::Provider;
use crate::observe::{Observation, ObserveError, Observer, Report, Target};
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Terraform's local state in a resource's work directory: there after its first apply.
const TERRAFORM_STATE: &str = "terraform.tfstate";

/// Observes one Proxmox VE cluster: drift of the rendered resources, and discovery.
#[derive(Debug, Clone)]
pub struct ProxmoxObserver {
    client: ProxmoxClient,
    concurrency: usize,
}

impl ProxmoxObserver {
    /// An observer over `client` with at most `concurrency` requests in flight.
    pub fn new(client: ProxmoxClient, concurrency: usize) -> ProxmoxObserver {
        ProxmoxObserver {
            client,
            concurrency: concurrency.max(1),
        }
    }

    /// The underlying API client.
    pub fn client(&self) -> &ProxmoxClient {
        &self.client
    }

    /// One drift pass over `targets`. Fails as a whole only when the cluster's VM list
    /// cannot be read; a target whose expected state or VM configuration cannot be read
    /// is reported in `failed` and the others are still observed.
    pub async fn observe_targets(&self, targets: &[Target]) -> Result<Report, ProxmoxError> {
        let mut report = Report::default();
        let mut wanted = Vec::new();
        let mut unreadable = Vec::new();
        for t in targets {
            if t.provider != Provider::Proxmox {
                report.failed.insert(
                    t.resource.clone(),
                    format!(
                        "a {} resource was given to the proxmox observer",
                        t.provider
                    ),
                );
                continue;
            }
            match expected::load(&t.rendered_dir) {
                Ok(state) => wanted.push((t.resource.clone(), state)),
                Err(reason) => {
                    report.failed.insert(t.resource.clone(), reason.to_string());
                    unreadable.push(t.resource.clone());
                }
            }
        }
        let cluster = ClusterVm::from_resources(&self.client.cluster_resources("vm").await?);
        let matching = drift::match_vms(&wanted, &unreadable, &cluster);

        let mut jobs: Vec<(String, u64)> = matching
            .targets
            .iter()
            .flat_map(|t| t.vms.iter().filter_map(|(_, vm)| vm.as_ref()))
            .map(|vm| (vm.node.clone(), vm.vmid))
            .collect();
        jobs.sort();
        jobs.dedup();
        let client = self.client.clone();
        let configs: BTreeMap<u64, Result<VmConfig, ProxmoxError>> =
            bounded(jobs, self.concurrency, move |(node, vmid)| {
                let client = client.clone();
                async move { client.qemu_config(&node, vmid).await }
            })
            .await
            .into_iter()
            .map(|((_, vmid), result)| (vmid, result))
            .collect();

        let states: BTreeMap<&str, &expected::ExpectedState> =
            wanted.iter().map(|(r, s)| (r.as_str(), s)).collect();
        // The Proxmox endpoint each resource was applied to (its pool's, kept with the
        // terraform work directory).
        let applied_to: BTreeMap<&str, Option<String>> = targets
            .iter()
            .map(|t| {
                let endpoint = crate::target::read(&t.work_dir)
                    .ok()
                    .and_then(|kept| kept.endpoint);
                (t.resource.as_str(), endpoint)
            })
            .collect();
        // Adopted VMs not applied yet: terraform has no state for them (see `before_import`).
        let not_applied: Vec<&str> = targets
            .iter()
            .filter(|t| !t.work_dir.join(TERRAFORM_STATE).is_file())
            .map(|t| t.resource.as_str())
            .collect();
        for target in &matching.targets {
            let pending = not_applied.contains(&target.resource.as_str());
            let none_here = target.vms.iter().all(|(_, vm)| vm.is_none());
            if none_here
                && let Some(why) = drift::applied_elsewhere(
                    self.client.base(),
                    applied_to
                        .get(target.resource.as_str())
                        .and_then(|e| e.as_deref()),
                )
            {
                report.failed.insert(target.resource.clone(), why);
                continue;
            }
            let mut deviations = Vec::new();
            let mut actual = Vec::new();
            let mut failure = None;
            for (exp, vm) in &target.vms {
                let Some(vm) = vm else {
                    deviations.push(drift::missing(&target.resource, exp));
                    actual.push(drift::actual_json(exp, None, None));
                    continue;
                };
                match configs.get(&vm.vmid) {
                    Some(Ok(config)) => {
                        let found = if exp.adopted && pending {
                            let (e, c) = drift::before_import(exp, config);
                            drift::compare(&target.resource, &e, vm, &c)
                        } else {
                            drift::compare(&target.resource, exp, vm, config)
                        };
                        deviations.extend(found);
                        actual.push(drift::actual_json(exp, Some(vm), Some(config)));
                    }
                    Some(Err(e)) => failure = Some(format!("VM {} ({}): {e}", vm.vmid, exp.name)),
                    None => {
                        failure = Some(format!(
                            "VM {} ({}): its configuration request did not complete",
                            vm.vmid, exp.name
                        ))
                    }
                }
            }
            if let Some(reason) = failure {
                report.failed.insert(target.resource.clone(), reason);
                continue;
            }
            report.observations.push(Observation {
                resource: target.resource.clone(),
                expected: states
                    .get(target.resource.as_str())
                    .and_then(|s| serde_json::to_value(s).ok())
                    .unwrap_or_default(),
                actual: json!({ "vms": actual }),
                deviations,
                endpoints: None,
            });
        }
        report.unmanaged = matching.unmanaged.iter().map(drift::unmanaged).collect();
        Ok(report)
    }

    /// Discovers the cluster: nodes, storage, guests and PCI devices. Fails only when
    /// the node list itself cannot be read; per-node failures become warnings.
    pub async fn discover(&self) -> Result<Inventory, ProxmoxError> {
        let nodes = self.client.nodes().await?;
        let storage = self.client.storage().await?;
        let storage_resources = self.client.cluster_resources("storage").await?;
        let vm_resources = self.client.cluster_resources("vm").await?;
        let jobs: Vec<(String, &'static str)> = discovery::reachable_nodes(&nodes)
            .into_iter()
            .flat_map(|n| [(n.clone(), "qemu"), (n.clone(), "lxc"), (n, "pci")])
            .collect();
        let client = self.client.clone();
        let results = bounded(jobs, self.concurrency, move |(node, what)| {
            let client = client.clone();
            async move { NodeAnswer::fetch(&client, &node, what).await }
        })
        .await;
        let mut per_node: BTreeMap<String, NodeAnswers> = BTreeMap::new();
        for ((node, _), answer) in results {
            let entry = per_node.entry(node).or_default();
            match answer {
                NodeAnswer::Qemu(r) => entry.qemu = Some(r),
                NodeAnswer::Lxc(r) => entry.lxc = Some(r),
                NodeAnswer::Pci(r) => entry.pci = Some(r),
            }
        }
        Ok(discovery::assemble(&Answers {
            nodes,
            storage,
            storage_resources,
            vm_resources,
            per_node,
        }))
    }
}

/// One per-node answer of discovery.
enum NodeAnswer {
    Qemu(Result<Vec<super::api::GuestEntry>, ProxmoxError>),
    Lxc(Result<Vec<super::api::GuestEntry>, ProxmoxError>),
    Pci(Result<Vec<super::api::PciDevice>, ProxmoxError>),
}

impl NodeAnswer {
    async fn fetch(client: &ProxmoxClient, node: &str, what: &str) -> NodeAnswer {
        match what {
            "qemu" => NodeAnswer::Qemu(client.qemu(node).await),
            "lxc" => NodeAnswer::Lxc(client.lxc(node).await),
            _ => NodeAnswer::Pci(client.pci(node).await),
        }
    }
}

impl Observer for ProxmoxObserver {
    fn name(&self) -> &str {
        "proxmox"
    }

    fn observe<'a>(&'a self, targets: &'a [Target]) -> BoxFuture<'a, Result<Report, ObserveError>> {
        Box::pin(async move {
            self.observe_targets(targets)
                .await
                .map_err(|e| ObserveError::Unreachable {
                    provider: "proxmox".into(),
                    message: e.to_string(),
                })
        })
    }
}

/// Runs `job` for every item with at most `limit` running at once; results come back
/// with their item, in completion order. A job that panicked is left out (callers treat
/// an absent result as a failure).
async fn bounded<K, R, F, Fut>(items: Vec<K>, limit: usize, job: F) -> Vec<(K, R)>
where
    K: Clone + Send + 'static,
    R: Send + 'static,
    F: Fn(K) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for item in items {
        let permits = Arc::clone(&permits);
        let work = job(item.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.ok();
            (item, work.await)
        });
    }
    let mut out = Vec::with_capacity(set.len());
    while let Some(done) = set.join_next().await {
        if let Ok(pair) = done {
            out.push(pair);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn bounded_never_exceeds_its_limit_and_returns_every_result() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
        let results = bounded((0..40u32).collect(), 3, move |i| {
            let (running, peak) = (Arc::clone(&r), Arc::clone(&p));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i * 2
            }
        })
        .await;
        assert_eq!(results.len(), 40);
        assert!(results.iter().all(|(i, r)| *r == i * 2));
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=3).contains(&peak), "peak {peak}");
    }
}
