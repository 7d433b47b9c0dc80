//! Discovery: what a Proxmox VE cluster has — nodes with their capacity and load,
//! storage, VMs and containers, PCI devices (GPUs) — assembled from the API answers.
//! Pure: the observer fetches ([`super::ProxmoxObserver::discover`]), [`assemble`] joins.

use super::api::{ClusterResource, GuestEntry, NodeEntry, PciDevice, StorageEntry, split_tags};
use serde::Serialize;
use std::collections::BTreeMap;

/// The cluster as discovered; serialisable for the MCP tools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    pub nodes: Vec<NodeInfo>,
    pub storage: Vec<StorageInfo>,
    /// VMs and containers, by VMID.
    pub guests: Vec<GuestInfo>,
    /// What could not be read (a node offline, a missing permission); the rest is still
    /// reported.
    pub warnings: Vec<String>,
}

impl Inventory {
    /// Every GPU in the cluster with its node.
    pub fn gpus(&self) -> impl Iterator<Item = (&str, &PciDevice)> {
        self.nodes
            .iter()
            .flat_map(|n| n.gpus().map(move |d| (n.name.as_str(), d)))
    }
}

/// One cluster node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeInfo {
    pub name: String,
    /// `online`, `offline` or `unknown`.
    pub status: String,
    /// CPU load as a fraction of `maxcpu` (0.0–1.0).
    pub cpu: Option<f64>,
    /// Logical CPUs.
    pub maxcpu: Option<u64>,
    /// Memory in use and installed, in bytes.
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
    pub uptime: Option<u64>,
    pub pci_devices: Vec<NodePci>,
}

impl NodeInfo {
    /// The node's display controllers (PCI class 0x03).
    pub fn gpus(&self) -> impl Iterator<Item = &PciDevice> {
        self.pci_devices.iter().filter(|d| d.gpu).map(|d| &d.device)
    }
}

/// A PCI device of a node, marked when it is a GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodePci {
    #[serde(flatten)]
    pub device: PciDevice,
    pub gpu: bool,
}

/// A storage definition with its capacity on each node that has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageInfo {
    pub storage: String,
    /// The plugin type (`lvmthin`, `zfspool`, `nfs`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub enabled: bool,
    pub nodes: Vec<StorageOnNode>,
}

/// A storage's state on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageOnNode {
    pub node: String,
    pub status: Option<String>,
    pub used_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// A VM (`qemu`) or container (`lxc`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuestInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub vmid: u64,
    pub name: Option<String>,
    pub node: String,
    pub status: String,
    pub tags: Vec<String>,
    pub template: bool,
    pub cpus: Option<f64>,
    /// Configured memory in bytes.
    pub maxmem: Option<u64>,
}

/// What the per-node requests returned (the error where one failed: it becomes a
/// warning of the inventory).
#[derive(Debug, Default)]
pub struct NodeAnswers {
    pub qemu: Option<Result<Vec<GuestEntry>, super::ProxmoxError>>,
    pub lxc: Option<Result<Vec<GuestEntry>, super::ProxmoxError>>,
    pub pci: Option<Result<Vec<PciDevice>, super::ProxmoxError>>,
}

/// Everything fetched for one discovery.
#[derive(Debug, Default)]
pub struct Answers {
    pub nodes: Vec<NodeEntry>,
    pub storage: Vec<StorageEntry>,
    /// `/cluster/resources?type=storage`.
    pub storage_resources: Vec<ClusterResource>,
    /// `/cluster/resources?type=vm`: the fallback for guests of nodes that could not
    /// be asked directly.
    pub vm_resources: Vec<ClusterResource>,
    pub per_node: BTreeMap<String, NodeAnswers>,
}

/// The nodes whose own endpoints are worth asking (the others would answer 595).
pub fn reachable_nodes(nodes: &[NodeEntry]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.status == "online")
        .map(|n| n.node.clone())
        .collect()
}

/// Joins the answers into an inventory.
pub fn assemble(answers: &Answers) -> Inventory {
    let mut warnings = Vec::new();
    let mut guests = Vec::new();
    let mut nodes = Vec::new();
    let mut sorted_nodes = answers.nodes.clone();
    sorted_nodes.sort_by(|a, b| a.node.cmp(&b.node));
    for n in &sorted_nodes {
        let asked = answers.per_node.get(&n.node);
        if n.status != "online" {
            warnings.push(format!(
                "node {} is {}: its guests are listed as the cluster last saw them",
                n.node, n.status
            ));
        }
        for kind in ["qemu", "lxc"] {
            let answer = asked.and_then(|a| {
                if kind == "qemu" {
                    a.qemu.as_ref()
                } else {
                    a.lxc.as_ref()
                }
            });
            match answer {
                Some(Ok(list)) => guests.extend(list.iter().map(|g| from_entry(kind, &n.node, g))),
                other => {
                    if let Some(Err(e)) = other {
                        warnings.push(format!("node {}: cannot list {kind} guests: {e}", n.node));
                    }
                    guests.extend(
                        answers
                            .vm_resources
                            .iter()
                            .filter(|r| {
                                r.kind == kind && r.node.as_deref() == Some(n.node.as_str())
                            })
                            .filter_map(from_resource),
                    );
                }
            }
        }
        let pci_devices = match asked.and_then(|a| a.pci.as_ref()) {
            Some(Ok(devices)) => devices
                .iter()
                .map(|d| NodePci {
                    gpu: d.is_gpu(),
                    device: d.clone(),
                })
                .collect(),
            Some(Err(e)) => {
                warnings.push(format!("node {}: cannot list PCI devices: {e}", n.node));
                Vec::new()
            }
            None => Vec::new(),
        };
        nodes.push(NodeInfo {
            name: n.node.clone(),
            status: n.status.clone(),
            cpu: n.cpu,
            maxcpu: n.maxcpu.map(|c| c.round() as u64),
            mem: n.mem,
            maxmem: n.maxmem,
            uptime: n.uptime,
            pci_devices,
        });
    }
    guests.sort_by_key(|g| g.vmid);
    guests.dedup_by_key(|g| g.vmid);
    Inventory {
        nodes,
        storage: storage(answers),
        guests,
        warnings,
    }
}

fn from_entry(kind: &str, node: &str, g: &GuestEntry) -> GuestInfo {
    GuestInfo {
        kind: kind.to_owned(),
        vmid: g.vmid,
        name: g.name.clone(),
        node: node.to_owned(),
        status: g.status.clone(),
        tags: split_tags(g.tags.as_deref().unwrap_or("")),
        template: g.template.unwrap_or(false),
        cpus: g.cpus,
        maxmem: g.maxmem,
    }
}

fn from_resource(r: &ClusterResource) -> Option<GuestInfo> {
    Some(GuestInfo {
        kind: r.kind.clone(),
        vmid: r.vmid?,
        name: r.name.clone(),
        node: r.node.clone()?,
        status: r.status.clone().unwrap_or_else(|| "unknown".into()),
        tags: split_tags(r.tags.as_deref().unwrap_or("")),
        template: r.template.unwrap_or(false),
        cpus: r.maxcpu,
        maxmem: r.maxmem,
    })
}

fn storage(answers: &Answers) -> Vec<StorageInfo> {
    let mut list: Vec<StorageInfo> = answers
        .storage
        .iter()
        .map(|s| {
            let per_node: Vec<&ClusterResource> = answers
                .storage_resources
                .iter()
                .filter(|r| r.kind == "storage" && r.storage.as_deref() == Some(s.storage.as_str()))
                .collect();
            // Network storage (nfs, cephfs, …) is shared without saying so in its
            // configuration; the per-node status does say it.
            let shared =
                s.shared.unwrap_or(false) || per_node.iter().any(|r| r.shared == Some(true));
            let mut nodes: Vec<StorageOnNode> = per_node
                .iter()
                .filter_map(|r| {
                    Some(StorageOnNode {
                        node: r.node.clone()?,
                        status: r.status.clone(),
                        used_bytes: r.disk,
                        total_bytes: r.maxdisk,
                    })
                })
                .collect();
            nodes.sort_by(|a, b| a.node.cmp(&b.node));
            StorageInfo {
                storage: s.storage.clone(),
                kind: s.kind.clone(),
                content: s
                    .content
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                shared,
                enabled: !s.disable.unwrap_or(false),
                nodes,
            }
        })
        .collect();
    list.sort_by(|a, b| a.storage.cmp(&b.storage));
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v<T: serde::de::DeserializeOwned>(j: serde_json::Value) -> T {
        serde_json::from_value(j).unwrap()
    }

    fn answers() -> Answers {
        Answers {
            nodes: v(json!([
                {"node": "pve-02", "status": "offline"},
                {"node": "pve-01", "status": "online", "cpu": 0.12, "maxcpu": 12, "mem": 8_000_000_000u64, "maxmem": 68_719_476_736u64, "uptime": 3600},
            ])),
            storage: v(json!([
                {"storage": "local-lvm", "type": "lvmthin", "content": "images,rootdir"},
                {"storage": "nas", "type": "nfs", "content": "backup", "shared": 1, "disable": 1},
                {"storage": "pbs", "type": "pbs", "content": "backup"},
            ])),
            storage_resources: v(json!([
                {"id": "storage/pve-01/local-lvm", "type": "storage", "node": "pve-01", "storage": "local-lvm", "status": "available", "disk": 100, "maxdisk": 1000, "shared": 0},
                {"id": "storage/pve-01/pbs", "type": "storage", "node": "pve-01", "storage": "pbs", "status": "available", "shared": 1},
            ])),
            vm_resources: v(json!([
                {"id": "qemu/200", "type": "qemu", "vmid": 200, "node": "pve-02", "name": "db", "status": "unknown", "tags": "b;a"},
                {"id": "lxc/201", "type": "lxc", "vmid": 201, "node": "pve-02", "name": "dns", "status": "unknown"},
                {"id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve-01", "name": "web", "status": "running"},
            ])),
            per_node: BTreeMap::from([(
                "pve-01".to_owned(),
                NodeAnswers {
                    qemu: Some(Ok(v(
                        json!([{"vmid": 100, "name": "web", "status": "running", "cpus": 2, "maxmem": 2_147_483_648u64, "tags": "homelabd"}]),
                    ))),
                    lxc: Some(Err(super::super::ProxmoxError::Api {
                        path: "/nodes/pve-01/lxc".into(),
                        status: 403,
                        message: "permission denied".into(),
                    })),
                    pci: Some(Ok(v(json!([
                        {"id": "0000:01:00.0", "class": "0x030000", "vendor": "0x10de", "device": "0x2204", "iommugroup": 14},
                        {"id": "0000:01:00.1", "class": "0x040300", "vendor": "0x10de", "device": "0x1aef", "iommugroup": 14},
                    ])))),
                },
            )]),
        }
    }

    #[test]
    fn nodes_carry_capacity_and_gpus() {
        let inv = assemble(&answers());
        let names: Vec<&str> = inv.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["pve-01", "pve-02"]);
        let pve1 = &inv.nodes[0];
        assert_eq!((pve1.maxcpu, pve1.maxmem), (Some(12), Some(68_719_476_736)));
        assert_eq!(pve1.pci_devices.len(), 2);
        let gpus: Vec<(&str, &str)> = inv.gpus().map(|(n, d)| (n, d.id.as_str())).collect();
        assert_eq!(gpus, [("pve-01", "0000:01:00.0")]);
    }

    #[test]
    fn guests_of_an_offline_node_come_from_the_cluster_view_with_a_warning() {
        let inv = assemble(&answers());
        let ids: Vec<(u64, &str, &str)> = inv
            .guests
            .iter()
            .map(|g| (g.vmid, g.kind.as_str(), g.status.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                (100, "qemu", "running"),
                (200, "qemu", "unknown"),
                (201, "lxc", "unknown")
            ]
        );
        assert_eq!(inv.guests[1].tags, ["a", "b"]);
        assert!(
            inv.warnings.iter().any(|w| w.contains("pve-02 is offline")),
            "{:?}",
            inv.warnings
        );
        assert!(
            inv.warnings
                .iter()
                .any(|w| w.contains("cannot list lxc guests: /nodes/pve-01/lxc: 403 permission")),
            "{:?}",
            inv.warnings
        );
    }

    #[test]
    fn storage_joins_configuration_and_capacity() {
        let inv = assemble(&answers());
        assert_eq!(inv.storage[0].storage, "local-lvm");
        assert_eq!(inv.storage[0].content, ["images", "rootdir"]);
        assert_eq!(inv.storage[0].nodes[0].total_bytes, Some(1000));
        assert!(!inv.storage[0].shared);
        assert!(inv.storage[1].shared && !inv.storage[1].enabled);
        assert!(
            inv.storage[2].shared,
            "shared according to the per-node status"
        );
    }

    #[test]
    fn only_online_nodes_are_asked_directly() {
        assert_eq!(reachable_nodes(&answers().nodes), ["pve-01"]);
    }

    #[test]
    fn the_inventory_serialises_with_api_field_names() {
        let v = serde_json::to_value(assemble(&answers())).unwrap();
        assert_eq!(v["nodes"][0]["pci_devices"][0]["class"], "0x030000");
        assert_eq!(v["nodes"][0]["pci_devices"][0]["gpu"], true);
        assert_eq!(v["storage"][0]["type"], "lvmthin");
        assert_eq!(v["guests"][0]["type"], "qemu");
    }
}
