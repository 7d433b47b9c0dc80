//! `discover-proxmox-resources`: the live inventory of the Proxmox VE cluster, the Docker
//! engines and the Kubernetes contexts, asked now, optionally recorded in the store
//! (`inventory_items`, needs the propose scope). The answer is computed here (pure) from
//! the scans; the tool handler only scans and records.

use super::params::ProviderName;
use super::reply::Summary;
use crate::observe::inventory::scan::SourceScan;
use crate::observe::inventory::{Item, NodeLoad, loads};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Options of `discover-proxmox-resources`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// Record what was found in the store's inventory (`inventory_items`, with the time
    /// it was seen), where placement counts unmanaged guests against capacity. Needs a
    /// token with the propose scope.
    #[serde(default)]
    pub sync_to_database: bool,
    /// Only items on this node (nodes, guests, GPUs); storage and engines are kept.
    #[serde(default)]
    pub node_filter: Option<String>,
    /// Only these kinds: `node`, `vm`, `ct`, `storage`, `gpu`, `engine`, `container`.
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// Which providers to ask (default: every one configured here: proxmox, docker,
    /// kubernetes).
    #[serde(default)]
    pub providers: Vec<ProviderName>,
    /// Include VM templates (default true).
    #[serde(default = "yes")]
    pub include_templates: bool,
}

fn yes() -> bool {
    true
}

/// One source in the answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SourceAnswer {
    /// `proxmox`, `docker`, `docker:<host>`, `kubernetes:<context>`.
    pub source: String,
    #[schemars(with = "String")]
    pub provider: crate::model::Provider,
    /// When it was asked (RFC 3339).
    pub seen_at: String,
    /// Why it could not be read (its items are then absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Items by kind, before the filters.
    pub counts: BTreeMap<String, usize>,
    /// Guests and containers no definition accounts for, by name.
    pub unmanaged: Vec<String>,
    /// The items after the filters.
    #[schemars(with = "Vec<serde_json::Value>")]
    pub items: Vec<Item>,
    /// What recording changed (with `sync_to_database`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub synced: Option<crate::store::InventoryCounts>,
}

/// The answer of `discover-proxmox-resources`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LiveAnswer {
    pub sources: Vec<SourceAnswer>,
    /// Per node, what runs there outside git and what it measures, as placement counts it.
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub load: BTreeMap<String, NodeLoad>,
    /// Providers asked for that are not configured here, and how to configure them.
    pub not_configured: Vec<String>,
    /// Whether the inventory was recorded.
    pub synced: bool,
}

/// The answer from the scans (pure); `synced` is filled in by the caller.
pub fn answer(scans: &[SourceScan], q: &LiveQuery) -> LiveAnswer {
    let mut sources = Vec::new();
    for s in scans {
        let seen_at = s.seen_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (items, error) = match &s.result {
            Ok(items) => (items.as_slice(), None),
            Err(e) => (&[][..], Some(e.to_string())),
        };
        let mut counts = BTreeMap::new();
        for i in items {
            *counts.entry(i.kind.clone()).or_insert(0) += 1;
        }
        let mut unmanaged: Vec<String> = items
            .iter()
            .filter(|i| i.is_unmanaged())
            .map(|i| i.name.clone().unwrap_or_else(|| i.key.clone()))
            .collect();
        unmanaged.sort();
        let kept = items
            .iter()
            .filter(|i| q.resource_types.is_empty() || q.resource_types.contains(&i.kind))
            .filter(|i| match (&q.node_filter, &i.node) {
                (Some(want), Some(node))
                    if matches!(i.kind.as_str(), "node" | "vm" | "ct" | "gpu") =>
                {
                    want == node
                }
                _ => true,
            })
            .filter(|i| {
                q.include_templates
                    || i.details.get("template").and_then(|t| t.as_bool()) != Some(true)
            })
            .cloned()
            .collect();
        sources.push(SourceAnswer {
            source: s.source.clone(),
            provider: s.provider,
            seen_at,
            error,
            counts,
            unmanaged,
            items: kept,
            synced: None,
        });
    }
    let load = loads(scans.iter().flat_map(|s| {
        let seen = s.seen_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        s.result
            .as_ref()
            .map(|items| items.as_slice())
            .unwrap_or_default()
            .iter()
            .map(move |i| (i, seen.clone()))
    }));
    LiveAnswer {
        sources,
        load,
        not_configured: Vec::new(),
        synced: false,
    }
}

/// What to tell an agent about a provider that is not configured here.
pub fn not_configured(provider: crate::model::Provider) -> String {
    match provider {
        crate::model::Provider::Proxmox => {
            "proxmox: not configured; add [proxmox] and the proxmox-token credential".into()
        }
        crate::model::Provider::Docker => {
            "docker: the docker CLI is not installed ([executors.docker] docker_binary)".into()
        }
        crate::model::Provider::Kubernetes => {
            "kubernetes: kubectl is not installed or no pool or [executors.kubernetes] names a context".into()
        }
        other => format!("{other}: has no live inventory"),
    }
}

impl Summary for LiveAnswer {
    fn summary(&self) -> String {
        let mut out = String::new();
        for s in &self.sources {
            let counts: Vec<String> = s.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
            match &s.error {
                Some(e) => out.push_str(&format!(
                    "{} (seen {}): cannot be read: {e}\n",
                    s.source, s.seen_at
                )),
                None => out.push_str(&format!(
                    "{} (seen {}): {}{}\n",
                    s.source,
                    s.seen_at,
                    if counts.is_empty() {
                        "nothing".to_owned()
                    } else {
                        counts.join(", ")
                    },
                    if s.unmanaged.is_empty() {
                        String::new()
                    } else {
                        format!("; not in git: {}", s.unmanaged.join(", "))
                    }
                )),
            }
        }
        for (node, l) in &self.load {
            if let Some(line) = load_line(node, l) {
                out.push_str(&format!("- {line}\n"));
            }
        }
        for n in &self.not_configured {
            out.push_str(&format!("- {n}\n"));
        }
        if self.synced {
            out.push_str("recorded in the store's inventory\n");
        }
        out.trim_end().to_owned()
    }
}

/// "pve-02: 12 GB used by 2 guests not in git (legacy, pihole)", or nothing when no
/// unmanaged guest runs there.
pub fn load_line(node: &str, l: &NodeLoad) -> Option<String> {
    (!l.unmanaged.is_empty()).then(|| {
        format!(
            "{node}: {} GB, {} CPU used by {} guest(s) not in git ({})",
            l.memory_gb,
            l.cpu,
            l.unmanaged.len(),
            l.unmanaged.join(", ")
        )
    })
}
