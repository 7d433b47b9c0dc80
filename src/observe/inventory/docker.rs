//! A Docker engine's inventory: the engine (`docker info`) and every container, running
//! or not (`docker ps --all`, `docker inspect`), with measured memory (`docker stats`).
//! Environment values are never kept: they may hold secrets.

use super::{Claims, Item, ScanError};
use crate::apply::docker::engine_env;
use crate::apply::{Cmd, Runner};
use crate::target::Target as Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `docker inspect` prints ~10 KiB per container: room for thousands.
const OUTPUT_BYTES: usize = 64 << 20;

/// The inventory source name of an engine: `docker` for the default one.
pub fn source(engine: &Engine) -> String {
    match &engine.docker_host {
        Some(host) => format!("docker:{host}"),
        None => "docker".to_owned(),
    }
}

/// Items of one engine from its answers: `info` (`docker info --format '{{json .}}'`),
/// `inspected` (`docker inspect` of every container) and `stats` (`docker stats
/// --no-stream --format '{{json .}}'` lines; may be empty). `node` is the pool node the
/// engine is (absent: none names it).
pub fn items(
    info: &Value,
    inspected: &[Value],
    stats: &[Value],
    claims: &Claims,
    node: Option<&str>,
) -> Vec<Item> {
    let measured: BTreeMap<String, u64> = stats
        .iter()
        .filter_map(|s| {
            let id = s.get("ID")?.as_str()?.to_owned();
            let used = s.get("MemUsage")?.as_str()?.split('/').next()?.trim();
            Some((id, parse_size(used)?))
        })
        .collect();
    let used_by = |id: &str| {
        measured
            .iter()
            .find(|(short, _)| !short.is_empty() && id.starts_with(short.as_str()))
            .map(|(_, b)| *b)
    };
    let node = node
        .map(str::to_owned)
        .or_else(|| info.get("Name").and_then(Value::as_str).map(str::to_owned));
    let mut out = vec![Item {
        key: "engine".into(),
        kind: "engine".into(),
        name: info.get("Name").and_then(Value::as_str).map(str::to_owned),
        node: node.clone(),
        managed_by: None,
        details: json!({
            "server_version": info.get("ServerVersion"),
            "operating_system": info.get("OperatingSystem"),
            "architecture": info.get("Architecture"),
            "cpus": info.get("NCPU"),
            "memory_total_bytes": info.get("MemTotal"),
            "containers": info.get("Containers"),
            "containers_running": info.get("ContainersRunning"),
            "memory_used_bytes": (!measured.is_empty()).then(|| measured.values().sum::<u64>()),
        }),
    }];
    for c in inspected {
        let str_at = |p: &str| c.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let id = str_at("/Id");
        if id.is_empty() {
            continue;
        }
        let labels = c.pointer("/Config/Labels").cloned().unwrap_or(Value::Null);
        let project = labels
            .get("com.docker.compose.project")
            .and_then(Value::as_str);
        let limit = c
            .pointer("/HostConfig/Memory")
            .and_then(Value::as_u64)
            .filter(|m| *m > 0);
        let nano = c
            .pointer("/HostConfig/NanoCpus")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0);
        let status = str_at("/State/Status");
        let name = str_at("/Name").trim_start_matches('/');
        out.push(Item {
            key: format!("container/{id}"),
            kind: "container".into(),
            name: Some(name.to_owned()),
            node: node.clone(),
            managed_by: project
                .and_then(|p| claims.docker_owner(p))
                .or_else(|| claims.adopted_owner(name, id)),
            details: json!({
                "id": id,
                "image": str_at("/Config/Image"),
                "status": status,
                "created": str_at("/Created"),
                "compose_project": project,
                "labels": labels,
                "memory_limit_bytes": limit,
                // What it holds against capacity: its limit, else what it uses now.
                "memory_bytes": limit.or_else(|| used_by(id)),
                "memory_used_bytes": used_by(id),
                "cpus": nano.map(|n| n as f64 / 1e9),
                "ports": c.pointer("/HostConfig/PortBindings"),
                "restart_policy": c.pointer("/HostConfig/RestartPolicy/Name"),
                "mounts": c.get("Mounts").and_then(Value::as_array).map(|m| m.iter().map(|m| json!({
                    "type": m.get("Type"), "source": m.get("Name").or(m.get("Source")),
                    "destination": m.get("Destination"),
                })).collect::<Vec<_>>()),
                "env_keys": c.pointer("/Config/Env").and_then(Value::as_array).map(|e| e.iter()
                    .filter_map(|kv| kv.as_str()?.split_once('=').map(|(k, _)| k.to_owned()))
                    .collect::<Vec<_>>()),
            }),
        });
    }
    out
}

/// `12.5MiB`, `1.2GiB`, `512kB`, `3B` → bytes.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = t.split_at(split);
    let n: f64 = number.trim().parse().ok()?;
    let factor: f64 = match unit {
        "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * factor) as u64)
}

/// Scans one engine with the `docker` CLI (through `apply`'s runner: no shell, a
/// timeout, a bounded output). Fails when `docker info` or `docker ps` does.
pub async fn scan(
    docker: &str,
    engine: &Engine,
    claims: &Claims,
    node: Option<&str>,
) -> Result<Vec<Item>, ScanError> {
    let runner = Runner::new(Duration::from_secs(60), CancellationToken::new());
    let cwd = std::env::temp_dir();
    let run = |args: Vec<&str>| {
        let mut argv = vec![docker];
        argv.extend(args);
        engine_env(Cmd::new(argv, &cwd), engine).keep_output(OUTPUT_BYTES)
    };
    let info = runner
        .run(&run(vec!["info", "--format", "{{json .}}"]))
        .await;
    if !info.success() {
        return Err(ScanError::Tool(info.failure_summary()));
    }
    let info: Value =
        serde_json::from_str(info.stdout_tail.trim()).map_err(|source| ScanError::Output {
            what: "docker info",
            source,
        })?;
    let ps = runner
        .run(&run(vec!["ps", "--all", "--quiet", "--no-trunc"]))
        .await;
    if !ps.success() {
        return Err(ScanError::Tool(ps.failure_summary()));
    }
    let ids: Vec<&str> = ps.stdout_tail.split_whitespace().collect();
    let inspected: Vec<Value> = if ids.is_empty() {
        Vec::new()
    } else {
        let mut args = vec!["inspect"];
        args.extend(ids.iter().copied());
        let out = runner.run(&run(args)).await;
        // A container removed between ps and inspect makes inspect exit 1 but still
        // print the others.
        serde_json::from_str(&out.stdout_tail).map_err(|source| {
            if out.success() {
                ScanError::Output {
                    what: "docker inspect",
                    source,
                }
            } else {
                ScanError::Tool(out.failure_summary())
            }
        })?
    };
    let stats = runner
        .run(&run(vec!["stats", "--no-stream", "--format", "{{json .}}"]))
        .await;
    // Measured use is a bonus: an engine that cannot give stats still has an inventory.
    let stats: Vec<Value> = stats
        .stdout_tail
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ok(items(&info, &inspected, &stats, claims, node))
}

/// One container and its image, for adoption: `docker inspect` of `container` (a name
/// or id) on `engine` — `Ok(None)` when there is no such container — and `docker image
/// inspect` of the image it runs (`None` when that cannot be read: then nothing counts
/// as inherited from the image). The answer holds environment values: it is for
/// `propose::adopt`, which withholds secrets, and is never stored.
pub async fn inspect_container(
    docker: &str,
    engine: &Engine,
    container: &str,
) -> Result<Option<(Value, Option<Value>)>, ScanError> {
    let runner = Runner::new(Duration::from_secs(60), CancellationToken::new());
    let cwd = std::env::temp_dir();
    let run = |args: &[&str]| {
        let mut argv = vec![docker];
        argv.extend(args);
        engine_env(Cmd::new(argv, &cwd), engine).keep_output(1 << 20)
    };
    let out = runner
        .run(&run(&["inspect", "--type", "container", container]))
        .await;
    if !out.success() {
        if out.stderr_tail.to_ascii_lowercase().contains("no such") {
            return Ok(None);
        }
        return Err(ScanError::Tool(out.failure_summary()));
    }
    let found: Vec<Value> =
        serde_json::from_str(&out.stdout_tail).map_err(|source| ScanError::Output {
            what: "docker inspect",
            source,
        })?;
    let Some(found) = found.into_iter().next() else {
        return Ok(None);
    };
    // By the image id the container runs, not its (possibly re-tagged) reference.
    let image_id = found
        .get("Image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let image = if image_id.is_empty() {
        None
    } else {
        let out = runner.run(&run(&["image", "inspect", &image_id])).await;
        serde_json::from_str::<Vec<Value>>(&out.stdout_tail)
            .ok()
            .and_then(|v| v.into_iter().next())
            .filter(|_| out.success())
    };
    Ok(Some((found, image)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_claimed_by_compose_project_and_never_keep_env_values() {
        let info =
            json!({"Name": "nas", "NCPU": 4, "MemTotal": 8u64 << 30, "ServerVersion": "27.0"});
        let inspected = vec![
            json!({"Id": "aaa111", "Name": "/homelabd-web-web-1", "Created": "2026-01-01T00:00:00Z",
                   "State": {"Status": "running"},
                   "Config": {"Image": "nginx:1", "Env": ["DB_PASSWORD=hunter2"],
                              "Labels": {"com.docker.compose.project": "homelabd-web"}},
                   "HostConfig": {"Memory": 536870912, "NanoCpus": 500000000}}),
            json!({"Id": "bbb222", "Name": "/legacy", "State": {"Status": "running"},
                   "Config": {"Image": "busybox", "Labels": {}}, "HostConfig": {"Memory": 0}}),
            json!({"Id": "ccc333", "Name": "/adopted", "State": {"Status": "running"},
                   "Config": {"Image": "busybox"}, "HostConfig": {"Memory": 0}}),
        ];
        let stats = vec![json!({"ID": "bbb2", "MemUsage": "1.5GiB / 7.6GiB"})];
        let claims = Claims {
            docker: ["web".to_owned()].into(),
            adopted: [("adopted".to_owned(), "old-web".to_owned())].into(),
            ..Claims::default()
        };
        let items = items(&info, &inspected, &stats, &claims, Some("docker-01"));
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[3].managed_by.as_deref(),
            Some("old-web"),
            "a container a definition adopts is that resource's"
        );
        assert_eq!(items[0].kind, "engine");
        assert_eq!(items[1].managed_by.as_deref(), Some("web"));
        assert_eq!(items[2].managed_by, None);
        assert!(items[2].is_unmanaged());
        assert_eq!(
            items[2].details["memory_bytes"],
            json!(1_610_612_736u64),
            "no limit: its measured use"
        );
        assert_eq!(items[2].node.as_deref(), Some("docker-01"));
        let text = serde_json::to_string(&items).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("DB_PASSWORD"), "keys are kept");
    }

    #[test]
    fn sizes_in_docker_stats_notation() {
        assert_eq!(parse_size("12.5MiB"), Some(13_107_200));
        assert_eq!(parse_size("512kB"), Some(512_000));
        assert_eq!(parse_size("3B"), Some(3));
        assert_eq!(parse_size("lots"), None);
    }
}
