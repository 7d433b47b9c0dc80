//! Adoption (pure): a container started outside homelabd, as `docker inspect` reports it,
//! turned into a UniversalResource for the docker-compose chart that describes it as it
//! runs — image, entrypoint and command, environment, published ports, volumes and bind
//! mounts, labels, restart policy, network, limits — and names it in `adopt`, so the
//! executor takes it over instead of creating another (see `apply::docker_adopt`).
//!
//! What the image itself sets (its environment, labels, entrypoint and command) is left
//! out: the container gets it from the image either way. Environment variables that look
//! like secrets are never copied: they are listed in `withheld_env` (a placeholder the
//! executor checks before it ever recreates the container) and in the notes. What the
//! chart cannot express is named in the notes too, never silently dropped.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Where and how the adopted resource is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoptOptions<'a> {
    /// The resource name (a DNS-1123 label).
    pub name: &'a str,
    /// The docker pool whose engine runs the container.
    pub pool: &'a str,
    /// The pool node that is that engine (pinned), when the pool has several.
    pub node: Option<&'a str>,
    /// An existing WorkloadType.
    pub workload_type: &'a str,
}

/// The definition and what a reviewer must know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Adoption {
    /// The UniversalResource document.
    pub document: Value,
    /// The container's full id.
    pub container_id: String,
    /// The container's name.
    pub container: String,
    /// Environment variables left out of git (they look like secrets).
    pub withheld_env: Vec<String>,
    /// What the definition could not carry over, or chose for the container.
    pub notes: Vec<String>,
}

/// Key words of environment variable names that hold secrets.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "SECRET",
    "TOKEN",
    "APIKEY",
    "API_KEY",
    "ACCESS_KEY",
    "PRIVATE",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "KEY",
    "SALT",
    "DSN",
];

/// Does this variable look like it holds a secret? By the words of its name
/// (`DB_PASSWORD`, `API_TOKEN`, `SECRET_KEY`, …), or a URL with a password in it.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(['_', '-', '.']).collect();
    let by_name = SECRET_WORDS.iter().any(|w| {
        if w.contains('_') {
            upper.contains(w)
        } else {
            words.contains(w)
        }
    });
    let url_password = value
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    by_name || url_password
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// What `docker inspect` left out that an adoption cannot do without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InspectGap {
    /// No `Id`.
    #[error("docker inspect gave no container id")]
    NoId,
    /// No `Config.Image`.
    #[error("docker inspect gave no image")]
    NoImage,
}

/// The definition of `container` (one element of `docker inspect`), with `image` (one
/// element of `docker image inspect` of its image, when available) telling what the
/// container inherits rather than sets.
pub fn definition(
    container: &Value,
    image: Option<&Value>,
    opts: &AdoptOptions<'_>,
) -> Result<Adoption, InspectGap> {
    let at = |p: &str| container.pointer(p);
    let id = at("/Id")
        .and_then(Value::as_str)
        .ok_or(InspectGap::NoId)?
        .to_owned();
    let cname = at("/Name")
        .and_then(Value::as_str)
        .unwrap_or(&id)
        .trim_start_matches('/')
        .to_owned();
    let image_ref = at("/Config/Image")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(InspectGap::NoImage)?
        .to_owned();
    let from_image = |p: &str| image.and_then(|i| i.pointer(p));
    let mut notes = Vec::new();
    let mut values = Map::new();
    values.insert("image".into(), json!(image_ref));

    // Entrypoint and command, only where they differ from the image's.
    let (entry, cmd) = (at("/Config/Entrypoint"), at("/Config/Cmd"));
    let (image_entry, image_cmd) = (from_image("/Config/Entrypoint"), from_image("/Config/Cmd"));
    let known = image.is_some();
    let entry_set =
        !strings(entry).is_empty() && (!known || strings(entry) != strings(image_entry));
    if entry_set {
        values.insert("command".into(), json!(strings(entry)));
        // Compose drops the image's command when the entrypoint is set.
        if !strings(cmd).is_empty() {
            values.insert("args".into(), json!(strings(cmd)));
        }
    } else if !strings(cmd).is_empty() && (!known || strings(cmd) != strings(image_cmd)) {
        values.insert("args".into(), json!(strings(cmd)));
    }

    // Environment: what the image does not set already; secrets withheld.
    let inherited: BTreeSet<String> = strings(from_image("/Config/Env")).into_iter().collect();
    let mut env = Map::new();
    let mut withheld = Vec::new();
    for kv in strings(at("/Config/Env")) {
        if inherited.contains(&kv) {
            continue;
        }
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if looks_secret(k, v) {
            withheld.push(k.to_owned());
        } else {
            env.insert(k.to_owned(), json!(v));
        }
    }
    if !env.is_empty() {
        values.insert("env".into(), Value::Object(env));
    }

    // Published ports.
    let mut ports = Vec::new();
    let mut addresses = BTreeSet::new();
    let bindings = at("/HostConfig/PortBindings").and_then(Value::as_object);
    for (spec, binds) in bindings.into_iter().flatten() {
        let (port, proto) = spec.split_once('/').unwrap_or((spec.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else {
            notes.push(format!("port {spec} is not a single port and is left out"));
            continue;
        };
        let binds = binds.as_array().cloned().unwrap_or_default();
        for (i, b) in binds.iter().enumerate() {
            let host = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
            let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
            if i > 0 {
                notes.push(format!(
                    "port {spec} is also published on {ip}:{host}; the chart publishes each port once, so only the first binding is kept"
                ));
                continue;
            }
            let mut p = Map::new();
            p.insert("container_port".into(), json!(container_port));
            match host.parse::<u16>() {
                Ok(h) => {
                    p.insert("host_port".into(), json!(h));
                }
                Err(_) if host.is_empty() => {
                    notes.push(format!(
                        "port {spec} is published on a random host port; the definition publishes it without one (exposed only) — set host_port to keep it reachable"
                    ));
                }
                Err(_) => notes.push(format!("port {spec} has the host port {host:?}, left out")),
            }
            if proto != "tcp" {
                p.insert("protocol".into(), json!(proto));
            }
            if !ip.is_empty() && ip != "0.0.0.0" && ip != "::" {
                addresses.insert(ip.to_owned());
            }
            ports.push(Value::Object(p));
        }
    }
    if !ports.is_empty() {
        values.insert("ports".into(), Value::Array(ports));
    }
    match addresses.len() {
        0 => {}
        1 => {
            values.insert("bind_address".into(), json!(addresses.first()));
        }
        _ => notes.push(format!(
            "ports are published on several addresses ({}); the chart has one bind_address, so it is left open (all addresses)",
            addresses.into_iter().collect::<Vec<_>>().join(", ")
        )),
    }

    // Volumes (used under their own names) and bind mounts.
    let mut volumes = Vec::new();
    for m in at("/Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = m.get("Type").and_then(Value::as_str).unwrap_or("");
        let dest = m.get("Destination").and_then(Value::as_str).unwrap_or("");
        let read_only = m.get("RW").and_then(Value::as_bool) == Some(false);
        let mut v = Map::new();
        match kind {
            "volume" => {
                let name = m.get("Name").and_then(Value::as_str).unwrap_or("");
                v.insert("name".into(), json!(name));
                v.insert("external".into(), json!(true));
            }
            "bind" => {
                let source = m.get("Source").and_then(Value::as_str).unwrap_or("");
                v.insert("host_path".into(), json!(source));
            }
            other => {
                notes.push(format!(
                    "the {other} mount at {dest} cannot be expressed by the docker-compose chart and is left out"
                ));
                continue;
            }
        }
        v.insert("mount_path".into(), json!(dest));
        if read_only {
            v.insert("read_only".into(), json!(true));
        }
        volumes.push(Value::Object(v));
    }
    if !volumes.is_empty() {
        values.insert("volumes".into(), Value::Array(volumes));
    }

    // Labels the container was given (not the image's, not compose's).
    let image_labels = string_map(from_image("/Config/Labels"));
    let labels: BTreeMap<String, String> = string_map(at("/Config/Labels"))
        .into_iter()
        .filter(|(k, v)| !k.starts_with("com.docker.compose.") && image_labels.get(k) != Some(v))
        .collect();
    let (kept, chart_owned): (BTreeMap<_, _>, BTreeMap<_, _>) = labels
        .into_iter()
        .partition(|(k, _)| !k.starts_with("homelab.ai/") && !k.starts_with("prometheus.io/"));
    if !chart_owned.is_empty() {
        notes.push(format!(
            "labels {} are the chart's own and are left out",
            chart_owned.into_keys().collect::<Vec<_>>().join(", ")
        ));
    }
    if !kept.is_empty() {
        values.insert("labels".into(), json!(kept));
    }

    // Restart policy.
    let restart = at("/HostConfig/RestartPolicy/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let retries = at("/HostConfig/RestartPolicy/MaximumRetryCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let restart = match restart {
        "" | "no" => "no".to_owned(),
        "on-failure" if retries > 0 => format!("on-failure:{retries}"),
        other => other.to_owned(),
    };
    values.insert("restart".into(), json!(restart));

    // Limits: kept when the chart can state them exactly, else none (and booked only).
    let memory = at("/HostConfig/Memory")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let nano = at("/HostConfig/NanoCpus")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    const MIB: u64 = 1 << 20;
    let exact = memory > 0 && memory % MIB == 0 && nano > 0 && nano % 1_000_000_000 == 0;
    let mut requirements = Map::new();
    if exact {
        requirements.insert("cpu".into(), json!(nano / 1_000_000_000));
        requirements.insert(
            "memory_gb".into(),
            json!(memory as f64 / (1u64 << 30) as f64),
        );
    } else {
        let cpu = if nano > 0 {
            nano.div_ceil(1_000_000_000)
        } else {
            1
        };
        let gb = if memory > 0 {
            (memory as f64 / (1u64 << 30) as f64 * 100.0).ceil() / 100.0
        } else {
            0.5
        };
        requirements.insert("cpu".into(), json!(cpu));
        requirements.insert("memory_gb".into(), json!(gb));
        values.insert("resource_limits".into(), json!(false));
        notes.push(if memory == 0 && nano == 0 {
            format!(
                "the container runs without CPU or memory limits, so the definition sets none (resource_limits: false) and books {cpu} CPU and {gb} GB for placement; adjust requirements to what it needs"
            )
        } else {
            format!(
                "the container's limits ({} CPUs, {memory} bytes) cannot be stated exactly by the chart (whole CPUs and both limits), so the definition sets none (resource_limits: false) and books {cpu} CPU and {gb} GB",
                nano as f64 / 1e9
            )
        });
    }

    // Network.
    let network = at("/HostConfig/NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("default");
    match network {
        "default" | "bridge" | "" => {}
        "host" | "none" => notes.push(format!(
            "network mode {network} cannot be expressed by the chart; after a recreation the container is on its project's network"
        )),
        n if n.starts_with("container:") => notes.push(format!(
            "network mode {n} cannot be expressed by the chart; after a recreation the container is on its project's network"
        )),
        n => {
            requirements.insert("network".into(), json!(n));
        }
    }

    let mut adopt = Map::new();
    adopt.insert("container".into(), json!(cname));
    if !withheld.is_empty() {
        adopt.insert("withheld_env".into(), json!(withheld));
    }
    values.insert("adopt".into(), Value::Object(adopt));

    let mut placement = Map::new();
    placement.insert("provider".into(), json!("docker"));
    placement.insert("pool".into(), json!(opts.pool));
    if let Some(node) = opts.node {
        placement.insert("node".into(), json!(node));
    }
    let document = json!({
        "apiVersion": "homelab.ai/v1",
        "kind": "UniversalResource",
        "metadata": {
            "name": opts.name,
            "annotations": {"homelab.ai/adopted-from": format!("docker container {cname} ({})", short(&id))},
        },
        "spec": {
            "resource_type": "container",
            "workload_type": opts.workload_type,
            "requirements": requirements,
            "placement": placement,
            "chart": {"name": "docker-compose", "values": values},
            // Deleting the file of an adopted container never removes it by accident.
            "policy": {"prune": false},
        },
    });
    Ok(Adoption {
        document,
        container_id: id,
        container: cname,
        withheld_env: withheld,
        notes,
    })
}

/// The first 12 characters of a container id, as `docker ps` shows it.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A resource name from a container name: lowercase, `_` and `.` as `-`, other
/// characters dropped, at most 63 characters (`None` when nothing usable is left).
pub fn resource_name(container: &str) -> Option<String> {
    let mapped: String = container
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '_' | '.' => Some('-'),
            _ => None,
        })
        .collect();
    let cut: String = mapped.chars().take(63).collect();
    let name = cut.trim_matches('-').to_owned();
    crate::model::is_dns1123_label(&name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspected() -> Value {
        json!({
            "Id": "0123456789abcdef0123",
            "Name": "/Legacy_Web",
            "Config": {
                "Image": "nginx:1.27",
                "Env": ["PATH=/usr/bin", "TZ=UTC", "DB_PASSWORD=hunter2",
                        "DATABASE_URL=postgres://app:s3cret@db/app", "MODE=prod"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Labels": {"maintainer": "nginx", "traefik.enable": "true",
                           "homelab.ai/resource": "x"}
            },
            "HostConfig": {
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                 "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]},
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
                "Memory": 0, "NanoCpus": 0, "NetworkMode": "bridge"
            },
            "Mounts": [
                {"Type": "volume", "Name": "webdata", "Destination": "/data", "RW": true},
                {"Type": "bind", "Source": "/srv/conf", "Destination": "/etc/nginx/conf.d", "RW": false},
                {"Type": "tmpfs", "Destination": "/run"}
            ]
        })
    }

    fn image() -> Value {
        json!({"Config": {"Env": ["PATH=/usr/bin"], "Cmd": ["nginx", "-g", "daemon off;"],
                          "Entrypoint": ["/docker-entrypoint.sh"], "Labels": {"maintainer": "nginx"}}})
    }

    fn opts() -> AdoptOptions<'static> {
        AdoptOptions {
            name: "legacy-web",
            pool: "/homelab/docker",
            node: None,
            workload_type: "web-application",
        }
    }

    #[test]
    fn the_definition_describes_the_container_as_it_runs_without_its_secrets() {
        let a = definition(&inspected(), Some(&image()), &opts()).unwrap();
        let values = &a.document["spec"]["chart"]["values"];
        assert_eq!(values["image"], "nginx:1.27");
        assert_eq!(values["env"], json!({"TZ": "UTC", "MODE": "prod"}));
        assert_eq!(a.withheld_env, ["DB_PASSWORD", "DATABASE_URL"]);
        assert_eq!(
            values["adopt"],
            json!({"container": "Legacy_Web", "withheld_env": ["DB_PASSWORD", "DATABASE_URL"]})
        );
        let text = a.document.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(values.get("command").is_none() && values.get("args").is_none());
        assert_eq!(
            values["ports"],
            json!([{"container_port": 53, "host_port": 5353, "protocol": "udp"},
                   {"container_port": 80, "host_port": 8080}])
        );
        assert_eq!(values["bind_address"], "127.0.0.1");
        assert_eq!(
            values["volumes"],
            json!([{"name": "webdata", "external": true, "mount_path": "/data"},
                   {"host_path": "/srv/conf", "mount_path": "/etc/nginx/conf.d", "read_only": true}])
        );
        assert_eq!(values["labels"], json!({"traefik.enable": "true"}));
        assert_eq!(values["restart"], "unless-stopped");
        assert_eq!(values["resource_limits"], false);
        assert_eq!(a.document["spec"]["policy"]["prune"], false);
        assert!(
            a.notes.iter().any(|n| n.contains("tmpfs mount at /run")),
            "{:?}",
            a.notes
        );
        assert!(a.notes.iter().any(|n| n.contains("homelab.ai/resource")));
    }

    #[test]
    fn exact_limits_are_kept_and_an_overridden_command_is_written() {
        let mut c = inspected();
        c["HostConfig"]["Memory"] = json!(256u64 << 20);
        c["HostConfig"]["NanoCpus"] = json!(2_000_000_000u64);
        c["Config"]["Cmd"] = json!(["sleep", "3600"]);
        let a = definition(&c, Some(&image()), &opts()).unwrap();
        assert_eq!(
            a.document["spec"]["requirements"],
            json!({"cpu": 2, "memory_gb": 0.25})
        );
        let values = &a.document["spec"]["chart"]["values"];
        assert!(values.get("resource_limits").is_none());
        assert_eq!(values["args"], json!(["sleep", "3600"]));
        assert!(values.get("command").is_none());
        // Without the image, both are written: nothing is known to be inherited.
        let a = definition(&c, None, &opts()).unwrap();
        let values = &a.document["spec"]["chart"]["values"];
        assert_eq!(values["command"], json!(["/docker-entrypoint.sh"]));
        assert_eq!(values["env"]["PATH"], "/usr/bin");
    }

    #[test]
    fn secrets_are_told_by_name_or_by_a_password_in_a_url() {
        for k in [
            "DB_PASSWORD",
            "POSTGRES_PASS",
            "api-token",
            "SECRET_KEY",
            "AWS_ACCESS_KEY_ID",
            "KEY",
        ] {
            assert!(looks_secret(k, "x"), "{k}");
        }
        for k in ["TZ", "KEYBOARD", "PASSTHROUGH_MODE", "MONKEY", "PATH"] {
            assert!(!looks_secret(k, "x"), "{k}");
        }
        assert!(looks_secret("UPSTREAM", "https://u:p@example.org/x"));
        assert!(!looks_secret("UPSTREAM", "https://example.org/a@b"));
    }

    #[test]
    fn names_from_container_names() {
        assert_eq!(
            resource_name("Legacy_Web.1").as_deref(),
            Some("legacy-web-1")
        );
        assert_eq!(resource_name("/?").as_deref(), None);
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
    }
}
