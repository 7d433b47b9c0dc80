//! A Kubernetes context's inventory: its nodes with capacity and allocatable CPU and
//! memory (`kubectl get nodes -o json`). Tested with the real kubectl against
//! tests/support/kube_sim.rs, a simulator of the API endpoints it reads (no cluster is
//! reachable from the build machines).

use super::{Item, ScanError};
use crate::apply::{Cmd, Runner};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The inventory source name of a context.
pub fn source(context: &str) -> String {
    format!("kubernetes:{context}")
}

/// Items of `kubectl get nodes -o json` (a `v1/List` of `Node`s).
pub fn items(list: &Value) -> Vec<Item> {
    let mut out = Vec::new();
    for n in list
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = n.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let q = |p: &str| n.pointer(p).and_then(Value::as_str);
        let ready = n
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            .and_then(|c| c.get("status").and_then(Value::as_str))
            == Some("True");
        out.push(Item {
            key: format!("node/{name}"),
            kind: "node".into(),
            name: Some(name.to_owned()),
            node: Some(name.to_owned()),
            managed_by: None,
            details: json!({
                "status": if ready { "ready" } else { "not-ready" },
                "cpus": q("/status/capacity/cpu").and_then(cpu),
                "memory_total_bytes": q("/status/capacity/memory").and_then(bytes),
                "allocatable_cpus": q("/status/allocatable/cpu").and_then(cpu),
                "allocatable_memory_bytes": q("/status/allocatable/memory").and_then(bytes),
                "kubelet_version": q("/status/nodeInfo/kubeletVersion"),
            }),
        });
    }
    out
}

/// A CPU quantity (`4`, `3500m`) in CPUs.
fn cpu(q: &str) -> Option<f64> {
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse().ok(),
    }
}

/// A memory quantity (`16Gi`, `16333500Ki`, `1G`, `1048576`) in bytes.
fn bytes(q: &str) -> Option<u64> {
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (number, unit) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * factor) as u64)
}

/// Scans `context` with `kubectl` (a path), optionally with a kubeconfig file.
pub async fn scan(
    kubectl: &Path,
    context: &str,
    kubeconfig: Option<&str>,
) -> Result<Vec<Item>, ScanError> {
    let runner = Runner::new(Duration::from_secs(60), CancellationToken::new());
    let cwd = std::env::temp_dir();
    let mut cmd = Cmd::new(
        [
            kubectl.display().to_string().as_str(),
            "--context",
            context,
            "get",
            "nodes",
            "-o",
            "json",
        ],
        &cwd,
    )
    .keep_output(16 << 20);
    if let Some(path) = kubeconfig {
        cmd = cmd.env("KUBECONFIG", path.to_owned());
    }
    let out = runner.run(&cmd).await;
    if !out.success() {
        return Err(ScanError::Tool(out.failure_summary()));
    }
    let list: Value =
        serde_json::from_str(&out.stdout_tail).map_err(|source| ScanError::Output {
            what: "kubectl get nodes",
            source,
        })?;
    Ok(items(&list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_capacity_and_allocatable_in_documented_quantities() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [{
            "metadata": {"name": "k3s-01"},
            "status": {
                "capacity": {"cpu": "4", "memory": "16331700Ki"},
                "allocatable": {"cpu": "3500m", "memory": "15Gi"},
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.31.0+k3s1"}
            }
        }]});
        let items = items(&list);
        assert_eq!(items.len(), 1);
        let d = &items[0].details;
        assert_eq!(d["status"], "ready");
        assert_eq!(d["allocatable_cpus"], 3.5);
        assert_eq!(d["allocatable_memory_bytes"], 15u64 << 30);
        assert_eq!(d["memory_total_bytes"], 16_331_700u64 * 1024);
        assert_eq!(cpu("250m"), Some(0.25));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("lots"), None);
    }
}
