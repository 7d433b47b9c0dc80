//! What has been handed out so far, per node and per elastic pool.

use super::pools::ResolvedPool;
use crate::model::{Gpu, Node};
use std::collections::{BTreeSet, HashMap};

/// Capacity used on one node or elastic pool.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub cpu: u32,
    pub memory_gb: f64,
    pub storage_gb: u32,
    pub gpus: BTreeSet<String>,
    pub elastic_gpus: u32,
}

/// Running allocation ledger; placement books each decision into it in a fixed order so
/// the result does not depend on anything but the inputs.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// pool path → node name → usage; looked up by `&str` without allocating, since
    /// placement asks about every node for every resource.
    nodes: HashMap<String, HashMap<String, Usage>>,
    pools: HashMap<String, Usage>,
    /// pool path → node name → what the live load booked there, in words.
    outside: HashMap<String, HashMap<String, String>>,
}

/// One node's room after a hypothetical placement.
#[derive(Debug, Clone)]
pub struct Room {
    pub cpu_free: f64,
    pub cpu_total: f64,
    pub memory_free: f64,
    pub memory_total: f64,
    pub storage_free: i64,
    pub gpu: Option<Gpu>,
}

impl Ledger {
    /// What is booked on `node` of `pool` (`None`: nothing yet).
    pub fn node_usage(&self, pool: &str, node: &str) -> Option<&Usage> {
        self.nodes.get(pool).and_then(|n| n.get(node))
    }

    /// What live load outside git was booked on `node` of `pool`, in words.
    pub fn outside_note(&self, pool: &str, node: &str) -> Option<&str> {
        self.outside
            .get(pool)
            .and_then(|n| n.get(node))
            .map(String::as_str)
    }

    /// Records the words for the live load booked on `node` of `pool`.
    pub fn note_outside(&mut self, pool: &str, node: &str, note: String) {
        self.outside
            .entry(pool.to_owned())
            .or_default()
            .insert(node.to_owned(), note);
    }

    /// What is booked in the elastic pool `pool` (`None`: nothing yet).
    pub fn pool_usage(&self, pool: &str) -> Option<&Usage> {
        self.pools.get(pool)
    }

    /// Would `cpu/memory/storage/gpu` fit on `node`? `Ok(room after)` or `Err(why not)`.
    // The error of a fit is the reason a person reads in the placement's alternatives and
    // diagnostics ("node pve-01 has 2 CPU free, needs 4"); it is never matched on.
    // String error: a placement reason ("why not") shown to people in the decision, not a failure to handle.
    pub fn fit_node(
        &self,
        pool: &ResolvedPool,
        node: &Node,
        cpu: u32,
        memory_gb: f64,
        storage_gb: u32,
        gpu: bool,
    ) -> Result<Room, String> {
        let empty = Usage::default();
        let used = self.node_usage(&pool.path, &node.name).unwrap_or(&empty);
        let cpu_total = f64::from(node.cpu) * pool.cpu_overcommit();
        let cpu_free = cpu_total - f64::from(used.cpu);
        let memory_free = node.memory_gb - used.memory_gb;
        let storage_free = i64::from(node.storage_gb) - i64::from(used.storage_gb);
        let mut short = Vec::new();
        if f64::from(cpu) > cpu_free {
            short.push(format!("{cpu} CPU wanted, {cpu_free} free"));
        }
        if memory_gb > memory_free + 1e-9 {
            short.push(format!(
                "{memory_gb} GB memory wanted, {memory_free} GB free"
            ));
        }
        if i64::from(storage_gb) > storage_free {
            short.push(format!(
                "{storage_gb} GB disk wanted, {storage_free} GB free"
            ));
        }
        let free_gpu = node
            .gpus
            .iter()
            .find(|g| !used.gpus.contains(&g.pci_address.to_ascii_lowercase()))
            .cloned();
        if gpu && free_gpu.is_none() {
            short.push(if node.gpus.is_empty() {
                "no GPU".to_owned()
            } else {
                "every GPU already assigned".to_owned()
            });
        }
        if !short.is_empty() {
            return Err(short.join("; "));
        }
        Ok(Room {
            cpu_free: cpu_free - f64::from(cpu),
            cpu_total,
            memory_free: memory_free - memory_gb,
            memory_total: node.memory_gb,
            storage_free: storage_free - i64::from(storage_gb),
            gpu: if gpu { free_gpu } else { None },
        })
    }

    /// Would the request fit in the elastic pool's quota (if it has one)?
    // String error: a placement reason ("why not") shown to people in the decision, not a failure to handle.
    pub fn fit_elastic(
        &self,
        pool: &ResolvedPool,
        cpu: u32,
        memory_gb: f64,
        storage_gb: u32,
        gpus: u32,
    ) -> Result<(), String> {
        let Some(cap) = &pool.capacity else {
            return Ok(());
        };
        let empty = Usage::default();
        let used = self.pool_usage(&pool.path).unwrap_or(&empty);
        let mut short = Vec::new();
        if used.cpu + cpu > cap.cpu {
            short.push(format!(
                "quota {} CPU, {} used, {cpu} wanted",
                cap.cpu, used.cpu
            ));
        }
        if used.memory_gb + memory_gb > cap.memory_gb + 1e-9 {
            short.push(format!(
                "quota {} GB memory, {} used, {memory_gb} wanted",
                cap.memory_gb, used.memory_gb
            ));
        }
        if used.storage_gb + storage_gb > cap.storage_gb && cap.storage_gb > 0 {
            short.push(format!(
                "quota {} GB disk, {} used, {storage_gb} wanted",
                cap.storage_gb, used.storage_gb
            ));
        }
        if used.elastic_gpus + gpus > cap.gpus && gpus > 0 {
            short.push(format!(
                "quota {} GPUs, {} used",
                cap.gpus, used.elastic_gpus
            ));
        }
        if short.is_empty() {
            Ok(())
        } else {
            Err(short.join("; "))
        }
    }

    pub fn book_node(
        &mut self,
        pool: &str,
        node: &str,
        cpu: u32,
        memory_gb: f64,
        storage_gb: u32,
        gpu: Option<&str>,
    ) {
        let u = self
            .nodes
            .entry(pool.to_owned())
            .or_default()
            .entry(node.to_owned())
            .or_default();
        u.cpu += cpu;
        u.memory_gb += memory_gb;
        u.storage_gb += storage_gb;
        if let Some(pci) = gpu {
            u.gpus.insert(pci.to_ascii_lowercase());
        }
    }

    pub fn book_elastic(
        &mut self,
        pool: &str,
        cpu: u32,
        memory_gb: f64,
        storage_gb: u32,
        gpus: u32,
    ) {
        let u = self.pools.entry(pool.to_owned()).or_default();
        u.cpu += cpu;
        u.memory_gb += memory_gb;
        u.storage_gb += storage_gb;
        u.elastic_gpus += gpus;
    }
}
