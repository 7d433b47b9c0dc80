//! Live inventory: what each provider reports exists — Proxmox nodes, guests, storage
//! and GPUs, Docker engines and containers, Kubernetes nodes — as flat [`Item`]s the
//! store keeps (`inventory_items`) and placement counts against capacity ([`loads`]).
//!
//! Pure: the conversions from each provider's answers ([`from_proxmox`],
//! [`docker::items`], [`kubernetes::items`]) and the load per node. The IO lives in the
//! Proxmox observer (`discover`) and in [`docker::scan`] / [`kubernetes::scan`], which
//! run the CLIs through `apply`'s runner.

pub mod docker;
pub mod kubernetes;
pub mod scan;
pub mod sync;

use super::proxmox::Inventory;
pub use crate::place::NodeLoad;
use serde_json::json;
use std::collections::BTreeMap;

pub use crate::store::InventoryItem as Item;

/// Why a source could not be scanned; the scan keeps its last stored items and the
/// text is shown by `query_live_infrastructure` and logged.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The CLI (`docker`, `kubectl`) failed: its failure summary (program, exit, the
    /// last line it wrote), which is all a failed run leaves.
    #[error("{0}")]
    Tool(String),
    /// The CLI succeeded but printed something that is not the JSON it documents.
    #[error("cannot read {what} output: {source}")]
    Output {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The Proxmox API could not be read.
    #[error(transparent)]
    Proxmox(#[from] super::proxmox::ProxmoxError),
}

/// Which resource in git a guest or container belongs to, by the names the charts give
/// them: a Proxmox VM is named after its resource (`web`, then `web-2`, `web-3` for more
/// replicas); a Docker container carries the compose project `homelabd-<resource>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// Resource name → replicas, for every resource placed on Proxmox.
    pub proxmox: BTreeMap<String, u32>,
    /// Every resource placed on Docker.
    pub docker: std::collections::BTreeSet<String>,
    /// Containers started outside homelabd that a definition adopts (its docker-compose
    /// `adopt.container`: a name or id) → that resource.
    pub adopted: BTreeMap<String, String>,
}

impl Claims {
    /// The resource a Proxmox guest called `name` belongs to.
    pub fn proxmox_owner(&self, name: &str) -> Option<String> {
        if self.proxmox.contains_key(name) {
            return Some(name.to_owned());
        }
        let (base, n) = name.rsplit_once('-')?;
        let n: u32 = n.parse().ok()?;
        let replicas = *self.proxmox.get(base)?;
        (2..=replicas).contains(&n).then(|| base.to_owned())
    }

    /// The resource that adopts the container called `name` with id `id`.
    pub fn adopted_owner(&self, name: &str, id: &str) -> Option<String> {
        self.adopted
            .iter()
            .find(|(c, _)| c.as_str() == name || (c.len() >= 12 && id.starts_with(c.as_str())))
            .map(|(_, r)| r.clone())
    }

    /// The resource of a container in compose project `project`.
    pub fn docker_owner(&self, project: &str) -> Option<String> {
        let name = project.strip_prefix("homelabd-")?;
        self.docker.contains(name).then(|| name.to_owned())
    }
}

const GIB: f64 = (1u64 << 30) as f64;

/// Bytes as GB (GiB, as pools count memory), rounded to a tenth.
pub fn gib(bytes: u64) -> f64 {
    ((bytes as f64 / GIB) * 10.0).round() / 10.0
}

/// The items of a Proxmox discovery.
pub fn from_proxmox(inv: &Inventory, claims: &Claims) -> Vec<Item> {
    let mut out = Vec::new();
    for n in &inv.nodes {
        out.push(Item {
            key: format!("node/{}", n.name),
            kind: "node".into(),
            name: Some(n.name.clone()),
            node: Some(n.name.clone()),
            managed_by: None,
            details: json!({
                "status": n.status,
                "cpu_load": n.cpu,
                "cpus": n.maxcpu,
                "memory_used_bytes": n.mem,
                "memory_total_bytes": n.maxmem,
                "uptime_seconds": n.uptime,
            }),
        });
        for d in n.pci_devices.iter().filter(|d| d.gpu) {
            out.push(Item {
                key: format!("pci/{}/{}", n.name, d.device.id),
                kind: "gpu".into(),
                name: d.device.device_name.clone(),
                node: Some(n.name.clone()),
                managed_by: None,
                details: serde_json::to_value(&d.device).unwrap_or_default(),
            });
        }
    }
    for s in &inv.storage {
        out.push(Item {
            key: format!("storage/{}", s.storage),
            kind: "storage".into(),
            name: Some(s.storage.clone()),
            node: None,
            managed_by: None,
            details: serde_json::to_value(s).unwrap_or_default(),
        });
    }
    for g in &inv.guests {
        let name = g.name.clone();
        out.push(Item {
            key: format!("{}/{}", g.kind, g.vmid),
            kind: if g.kind == "lxc" { "ct" } else { "vm" }.into(),
            managed_by: name.as_deref().and_then(|n| claims.proxmox_owner(n)),
            name,
            node: Some(g.node.clone()),
            details: json!({
                "vmid": g.vmid,
                "status": g.status,
                "tags": g.tags,
                "template": g.template,
                "cpus": g.cpus,
                "memory_bytes": g.maxmem,
            }),
        });
    }
    out
}

/// The load per node name from stored items (present ones), `seen_at` per source.
/// Unmanaged running guests count with their configured size; templates and stopped
/// guests do not (they hold disk only, which the pools' storage figures do not track).
pub fn loads<'a>(
    items: impl IntoIterator<Item = (&'a Item, String)>,
) -> BTreeMap<String, NodeLoad> {
    let mut out: BTreeMap<String, NodeLoad> = BTreeMap::new();
    for (item, seen_at) in items {
        let Some(node) = &item.node else { continue };
        let load = out.entry(node.clone()).or_default();
        if load.seen_at.as_deref().is_none_or(|s| s < seen_at.as_str()) {
            load.seen_at = Some(seen_at.clone());
        }
        match item.kind.as_str() {
            "node" | "engine" => {
                if let Some(b) = item.number("memory_used_bytes") {
                    load.measured_memory_gb = Some(gib(b as u64));
                }
                if let Some(b) = item.number("allocatable_memory_bytes") {
                    load.allocatable_memory_gb = Some(gib(b as u64));
                }
                if let Some(c) = item.number("allocatable_cpus") {
                    load.allocatable_cpu = Some(c);
                }
            }
            _ if item.is_unmanaged() && item.is_running() => {
                load.cpu += item.number("cpus").map_or(0, |c| c.ceil() as u32);
                load.memory_gb += item.number("memory_bytes").map_or(0.0, |b| gib(b as u64));
                load.storage_gb += item
                    .number("disk_bytes")
                    .map_or(0, |b| gib(b as u64).ceil() as u32);
                load.unmanaged
                    .push(item.name.clone().unwrap_or_else(|| item.key.clone()));
            }
            _ => {}
        }
    }
    for l in out.values_mut() {
        l.unmanaged.sort();
        l.memory_gb = (l.memory_gb * 10.0).round() / 10.0;
    }
    out
}

/// How old an inventory may be and still count against capacity: a scan that has not
/// been repeated for this long says too little about what runs now.
pub const MAX_AGE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The live load from the store's inventory as of `now`: present items of scans no
/// older than [`MAX_AGE`].
pub fn stored_loads(
    records: &[crate::store::InventoryRecord],
    now: chrono::DateTime<chrono::Utc>,
) -> crate::place::LiveLoad {
    loads(
        records
            .iter()
            .filter(|r| r.gone_at.is_none() && now - r.seen_at <= MAX_AGE)
            .map(|r| {
                (
                    &r.item,
                    r.seen_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(kind: &str, name: &str, node: &str, status: &str, mem_gib: u64) -> Item {
        Item {
            key: format!("{kind}/{name}"),
            kind: kind.into(),
            name: Some(name.into()),
            node: Some(node.into()),
            managed_by: None,
            details: json!({"status": status, "cpus": 2.0, "memory_bytes": mem_gib << 30}),
        }
    }

    #[test]
    fn guests_are_claimed_by_the_names_the_chart_gives_replicas() {
        let claims = Claims {
            proxmox: BTreeMap::from([("web".into(), 3), ("db".into(), 1)]),
            docker: ["cache".to_owned()].into(),
            ..Claims::default()
        };
        assert_eq!(claims.proxmox_owner("web").as_deref(), Some("web"));
        assert_eq!(claims.proxmox_owner("web-3").as_deref(), Some("web"));
        assert_eq!(claims.proxmox_owner("web-4"), None, "only as many replicas");
        assert_eq!(claims.proxmox_owner("db-2"), None);
        assert_eq!(claims.proxmox_owner("legacy-nas"), None);
        assert_eq!(
            claims.docker_owner("homelabd-cache").as_deref(),
            Some("cache")
        );
        assert_eq!(claims.docker_owner("homelabd-gone"), None);
        assert_eq!(claims.docker_owner("cache"), None);
    }

    #[test]
    fn only_running_unmanaged_guests_load_a_node() {
        let mut managed = guest("vm", "web", "pve-02", "running", 8);
        managed.managed_by = Some("web".into());
        let mut template = guest("vm", "tpl", "pve-02", "stopped", 4);
        template.details["template"] = json!(true);
        let node = Item {
            key: "node/pve-02".into(),
            kind: "node".into(),
            name: Some("pve-02".into()),
            node: Some("pve-02".into()),
            managed_by: None,
            details: json!({"memory_used_bytes": 20u64 << 30}),
        };
        let items = [
            guest("vm", "legacy", "pve-02", "running", 8),
            guest("ct", "pihole", "pve-02", "running", 4),
            guest("vm", "old", "pve-02", "stopped", 16),
            managed,
            template,
            node,
        ];
        let loads = loads(items.iter().map(|i| (i, "2026-01-01T00:00:00Z".to_owned())));
        let l = &loads["pve-02"];
        assert_eq!(l.memory_gb, 12.0);
        assert_eq!(l.cpu, 4);
        assert_eq!(l.unmanaged, ["legacy", "pihole"]);
        assert_eq!(l.measured_memory_gb, Some(20.0));
    }
}
