//! Live load: what runs on the nodes besides what git booked there — guests and
//! containers no definition accounts for, memory a node measures in use beyond its
//! bookings, capacity a Kubernetes node keeps for itself — as the inventory last saw it.
//! An input (the daemon and the MCP tools read it from the store's inventory), booked
//! after the placements that are kept, so it never pushes a running resource off its
//! node; new and moved resources are placed around it, and the reasons say so.

use super::{Ledger, ResolvedPool};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One node's load outside git.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeLoad {
    /// CPUs, memory (GB) and disk (GB) configured for the node's running unmanaged
    /// guests and containers.
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    /// Their names, sorted.
    pub unmanaged: Vec<String>,
    /// Memory the node reports in use (everything on it), when it reports it.
    pub measured_memory_gb: Option<f64>,
    /// Allocatable memory and CPUs where the provider keeps some for itself
    /// (Kubernetes), below the node's capacity.
    pub allocatable_memory_gb: Option<f64>,
    pub allocatable_cpu: Option<f64>,
    /// When the inventory was taken (RFC 3339), to say how old the figures are.
    pub seen_at: Option<String>,
}

/// Live load by node name.
pub type LiveLoad = BTreeMap<String, NodeLoad>;

/// Books `live` into `ledger` on every node of `pools` it names, and records each node's
/// note for the reasons. Measured memory counts only where it exceeds what is booked
/// there already (the kept resources and the unmanaged guests).
pub fn book_live(ledger: &mut Ledger, pools: &BTreeMap<String, ResolvedPool>, live: &LiveLoad) {
    if live.is_empty() {
        return;
    }
    for pool in pools.values() {
        for node in &pool.nodes {
            let Some(l) = live.get(&node.name) else {
                continue;
            };
            let booked = ledger
                .node_usage(&pool.path, &node.name)
                .map_or(0.0, |u| u.memory_gb);
            let mut cpu = l.cpu;
            let mut memory = l.memory_gb;
            let mut notes = Vec::new();
            if !l.unmanaged.is_empty() {
                notes.push(format!(
                    "{} GB, {} CPU used by {} guest(s) not in git: {}",
                    round(l.memory_gb),
                    l.cpu,
                    l.unmanaged.len(),
                    l.unmanaged.join(", ")
                ));
            }
            if let Some(measured) = l.measured_memory_gb {
                let beyond = measured - booked - memory;
                if beyond > 0.05 {
                    memory += beyond;
                    notes.push(format!(
                        "{} GB measured in use beyond what is booked",
                        round(beyond)
                    ));
                }
            }
            if let Some(alloc) = l.allocatable_memory_gb
                && alloc < node.memory_gb
            {
                memory += node.memory_gb - alloc;
                notes.push(format!(
                    "{} GB kept by the node (allocatable {} GB)",
                    round(node.memory_gb - alloc),
                    round(alloc)
                ));
            }
            if let Some(alloc) = l.allocatable_cpu
                && alloc < f64::from(node.cpu)
            {
                let kept = (f64::from(node.cpu) - alloc).ceil() as u32;
                cpu += kept;
                notes.push(format!("{kept} CPU kept by the node (allocatable {alloc})"));
            }
            if notes.is_empty() {
                continue;
            }
            if let Some(seen) = &l.seen_at {
                notes.push(format!("inventory of {seen}"));
            }
            ledger.book_node(&pool.path, &node.name, cpu, memory, l.storage_gb, None);
            ledger.note_outside(&pool.path, &node.name, notes.join("; "));
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
