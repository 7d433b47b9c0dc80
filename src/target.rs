//! Targets: which Docker engine, Kubernetes cluster, cloud account or API endpoint a
//! resource is applied to and observed on (pure).
//!
//! A target is read from the pool tree: a pool's `properties` (inherited by descendant
//! pools) with the placed node's own `properties` on top. Only the keys of the
//! resource's provider count:
//!
//! | provider | keys |
//! |---|---|
//! | docker | `docker_host` (`unix://`, `tcp://`, `ssh://`), `docker_cert_path`, `docker_tls_verify` (tcp only) |
//! | kubernetes | `context`, `kubeconfig` |
//! | aws | `region`, `profile` |
//! | azure | `subscription`, `resource_group` |
//! | proxmox | `endpoint` |
//! | vmware | `vsphere_server` |
//!
//! The render writes the target next to the tool's files ([`FILE`]), so the executor and
//! the observer of a resource use the same one, and a changed target is a changed render.

use crate::model::Provider;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The rendered file that holds a resource's target (absent: the daemon's defaults).
pub const FILE: &str = "homelabd.target.json";

/// Where one resource goes. Unset fields fall back to the daemon's configuration
/// (`[executors.*]`) and the tools' own defaults (`DOCKER_HOST`, the current context…).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The Docker engine: `unix:///path`, `tcp://host:port`, `ssh://[user@]host[:port]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_host: Option<String>,
    /// A directory holding `ca.pem`, `cert.pem` and `key.pem` for a `tcp://` engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_cert_path: Option<String>,
    /// Verify the `tcp://` engine's certificate (default: when a cert path is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_tls_verify: Option<bool>,
    /// The kubeconfig context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The kubeconfig file (an absolute path on the daemon's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// The AWS region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS CLI profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The Azure subscription id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The Azure resource group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// The Proxmox VE API endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The vCenter / ESXi server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vsphere_server: Option<String>,
}

/// A property that cannot be used as a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TargetError {
    /// The property's key (`docker_host`).
    pub key: &'static str,
    /// What is wrong and what would be right.
    pub message: String,
}

/// The property keys that make up `provider`'s target.
pub fn keys(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Docker => &["docker_host", "docker_cert_path", "docker_tls_verify"],
        Provider::Kubernetes => &["context", "kubeconfig"],
        Provider::Aws => &["region", "profile"],
        Provider::Azure => &["subscription", "resource_group"],
        Provider::Proxmox => &["endpoint"],
        Provider::Vmware => &["vsphere_server"],
    }
}

impl Target {
    /// Nothing set: the daemon's defaults apply.
    pub fn is_default(&self) -> bool {
        *self == Target::default()
    }

    /// One line for plan and status: `unix:///run/docker.sock`, `context homelab`, …;
    /// `default` when nothing is set.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut add = |label: &str, v: &Option<String>| {
            if let Some(v) = v {
                parts.push(if label.is_empty() {
                    v.clone()
                } else {
                    format!("{label} {v}")
                });
            }
        };
        add("", &self.docker_host);
        add("certs", &self.docker_cert_path);
        add("context", &self.context);
        add("kubeconfig", &self.kubeconfig);
        add("region", &self.region);
        add("profile", &self.profile);
        add("subscription", &self.subscription);
        add("resource group", &self.resource_group);
        add("", &self.endpoint);
        add("", &self.vsphere_server);
        if self.docker_tls_verify == Some(false) {
            parts.push("TLS unverified".to_owned());
        }
        if parts.is_empty() {
            "default".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// The host a Docker engine's published ports are reached at: the `tcp://` or
    /// `ssh://` host, `None` for a local socket (or no engine set).
    pub fn docker_engine_host(&self) -> Option<String> {
        let host = self.docker_host.as_deref()?;
        let rest = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("ssh://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        Some(strip_port(authority).to_owned())
    }
}

/// `host[:port]` or `[v6]:port` → the host.
fn strip_port(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// The target of a resource of `provider` placed in a pool with (inherited)
/// `pool_properties` on the nodes with `node_properties` (in placement order): each key
/// from the first node that sets it — every node must agree, one deployment has one
/// target — else from the pool.
pub fn resolve(
    provider: Provider,
    pool_properties: &Map<String, Value>,
    node_properties: &[(&str, &Map<String, Value>)],
) -> Result<Target, Vec<TargetError>> {
    let mut merged = Map::new();
    let mut errors = Vec::new();
    for key in keys(provider) {
        let mut from_nodes = node_properties
            .iter()
            .filter_map(|(node, props)| props.get(*key).map(|v| (*node, v)));
        let value = match from_nodes.next() {
            Some((first_node, v)) => {
                if let Some((other, _)) = from_nodes.find(|(_, w)| *w != v) {
                    errors.push(TargetError {
                        key,
                        message: format!(
                            "nodes {first_node} and {other} name different targets, but one deployment has one target: place it on nodes that agree"
                        ),
                    });
                }
                Some(v)
            }
            None => pool_properties.get(*key),
        };
        if let Some(v) = value {
            merged.insert((*key).to_owned(), v.clone());
        }
    }
    errors.extend(check(provider, &merged));
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| {
        vec![TargetError {
            key: "properties",
            message: e.to_string(),
        }]
    })
}

/// What is wrong with the target keys of `provider` in `properties` (other keys are not
/// looked at).
pub fn check(provider: Provider, properties: &Map<String, Value>) -> Vec<TargetError> {
    let mut errors = Vec::new();
    let mut fail = |key: &'static str, message: String| errors.push(TargetError { key, message });
    for key in keys(provider) {
        let Some(value) = properties.get(*key) else {
            continue;
        };
        if *key == "docker_tls_verify" {
            if !value.is_boolean() {
                fail(key, format!("expected true or false, found {value}"));
            }
            continue;
        }
        let Some(text) = value.as_str() else {
            fail(key, format!("expected a string, found {value}"));
            continue;
        };
        if let Err(message) = check_value(key, text) {
            fail(key, message);
        }
    }
    if provider == Provider::Docker {
        let host = properties.get("docker_host").and_then(Value::as_str);
        let tls = ["docker_cert_path", "docker_tls_verify"]
            .into_iter()
            .find(|k| properties.contains_key(*k));
        if let Some(tls_key) = tls
            && !host.is_some_and(|h| h.starts_with("tcp://"))
        {
            let key = if tls_key == "docker_cert_path" {
                "docker_cert_path"
            } else {
                "docker_tls_verify"
            };
            fail(
                key,
                "TLS settings apply to a tcp:// docker_host only".to_owned(),
            );
        }
    }
    errors
}

/// Why `text` is no value for `key`: the message of a `target` diagnostic (text for the
/// person who wrote the definition, so a `String`).
// String error: the text of a diagnostic or settings error that names the file and key.
fn check_value(key: &str, text: &str) -> Result<(), String> {
    let shown = || format!("{text:?}");
    if text.trim().is_empty() || text.trim() != text {
        return Err(format!("{} is empty or has surrounding spaces", shown()));
    }
    match key {
        "docker_host" => docker_host(text).map_err(|why| format!("{}: {why}", shown())),
        "docker_cert_path" | "kubeconfig" if !text.starts_with('/') => Err(format!(
            "{} must be an absolute path on the daemon's host",
            shown()
        )),
        "region" if !aws_region(text) => {
            Err(format!("{} is not an AWS region (like eu-west-1)", shown()))
        }
        "subscription" if uuid::Uuid::parse_str(text).is_err() => Err(format!(
            "{} is not an Azure subscription id (a UUID)",
            shown()
        )),
        "resource_group"
            if text.len() > 90
                || text.ends_with('.')
                || !text
                    .chars()
                    .all(|c| c.is_alphanumeric() || "._-()".contains(c)) =>
        {
            Err(format!(
                "{} is not an Azure resource group name (up to 90 letters, digits, '.', '_', '-', '(', ')', not ending in '.')",
                shown()
            ))
        }
        "endpoint" if !(text.starts_with("https://") || text.starts_with("http://")) => Err(
            format!("{} is not an https:// URL of the Proxmox VE API", shown()),
        ),
        "vsphere_server" | "context" | "profile" if text.contains(char::is_whitespace) => {
            Err(format!("{} contains spaces", shown()))
        }
        "vsphere_server" if text.contains("://") => {
            Err(format!("{} is a URL; give the server's host name", shown()))
        }
        _ => Ok(()),
    }
}

/// Is `text` a Docker engine address homelabd can use?
fn docker_host(text: &str) -> Result<(), &'static str> {
    if let Some(path) = text.strip_prefix("unix://") {
        return if path.starts_with('/') {
            Ok(())
        } else {
            Err("a unix:// socket needs an absolute path (unix:///run/docker.sock)")
        };
    }
    let (rest, port_required) = match (text.strip_prefix("tcp://"), text.strip_prefix("ssh://")) {
        (Some(rest), _) => (rest, true),
        (_, Some(rest)) => (rest, false),
        _ => return Err("unsupported engine address: use unix://, tcp:// or ssh://"),
    };
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        return Err("an engine address has no path");
    }
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = strip_port(host_port);
    if host.is_empty() {
        return Err("no host");
    }
    let port = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map_or("", |(_, p)| p),
        None => host_port.rsplit_once(':').map_or("", |(_, p)| p),
    };
    if port_required && port.is_empty() {
        return Err("a tcp:// engine needs a port (2376 with TLS)");
    }
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return Err("the port is not a number from 1 to 65535");
    }
    Ok(())
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-2`: letters in parts, a number last.
fn aws_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// A target file that could not be read, parsed or kept.
#[derive(Debug, thiserror::Error)]
pub enum TargetFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads the target of the render in `rendered` and keeps a copy in the work directory
/// `work` (removed when the render has none), so a destroy after the definition is gone
/// still reaches the target the resource was applied to ([`read`] of `work`).
pub fn keep(rendered: &std::path::Path, work: &std::path::Path) -> Result<Target, TargetFileError> {
    let target = read(rendered)?;
    let kept = work.join(FILE);
    let written = if target.is_default() {
        match std::fs::remove_file(&kept) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    } else {
        std::fs::write(&kept, format!("{:#}\n", serde_json::json!(target)))
    };
    written.map_err(|source| TargetFileError::Io { path: kept, source })?;
    Ok(target)
}

/// Reads the target a render wrote into `dir` (none: the defaults).
pub fn read(dir: &std::path::Path) -> Result<Target, TargetFileError> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| TargetFileError::Json { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::default()),
        Err(source) => Err(TargetFileError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_node_overrides_its_pool_and_other_providers_keys_are_ignored() {
        let pool = props(
            json!({"docker_host": "unix:///var/run/docker.sock", "region": "eu-west-1", "datastore": "x"}),
        );
        let node = props(json!({"docker_host": "ssh://deploy@docker-02.home.arpa"}));
        let t = resolve(Provider::Docker, &pool, &[("docker-02", &node)]).unwrap();
        assert_eq!(
            t.docker_host.as_deref(),
            Some("ssh://deploy@docker-02.home.arpa")
        );
        assert_eq!(t.region, None, "a Docker target has no region");
        assert_eq!(
            t.docker_engine_host().as_deref(),
            Some("docker-02.home.arpa")
        );
        let t = resolve(Provider::Docker, &pool, &[]).unwrap();
        assert_eq!(t.describe(), "unix:///var/run/docker.sock");
        assert_eq!(t.docker_engine_host(), None, "a local socket");
        let aws = resolve(Provider::Aws, &pool, &[]).unwrap();
        assert_eq!(aws.describe(), "region eu-west-1");
        assert!(
            resolve(Provider::Kubernetes, &pool, &[])
                .unwrap()
                .is_default()
        );
    }

    #[test]
    fn replicas_on_nodes_with_different_engines_are_refused() {
        let a = props(json!({"docker_host": "tcp://a:2376"}));
        let b = props(json!({"docker_host": "tcp://b:2376"}));
        let errors = resolve(Provider::Docker, &Map::new(), &[("a", &a), ("b", &b)]).unwrap_err();
        assert_eq!(errors[0].key, "docker_host");
        assert!(errors[0].message.contains("nodes a and b"), "{}", errors[0]);
        assert!(resolve(Provider::Docker, &Map::new(), &[("a", &a), ("c", &a)]).is_ok());
    }

    #[test]
    fn unusable_targets_say_what_would_work() {
        let bad = |provider, v: Value| -> Vec<String> {
            check(provider, &props(v))
                .iter()
                .map(|e| e.to_string())
                .collect()
        };
        assert!(
            bad(Provider::Docker, json!({"docker_host": "http://nas:2375"}))[0]
                .contains("unix://, tcp:// or ssh://")
        );
        assert!(
            bad(
                Provider::Docker,
                json!({"docker_host": "unix://run/docker.sock"})
            )[0]
            .contains("absolute path")
        );
        assert!(
            bad(Provider::Docker, json!({"docker_host": "tcp://nas"}))[0].contains("needs a port")
        );
        assert!(
            bad(Provider::Docker, json!({"docker_host": "tcp://nas:99999"}))[0].contains("port")
        );
        assert!(bad(Provider::Docker, json!({"docker_host": 5}))[0].contains("expected a string"));
        assert!(
            bad(
                Provider::Docker,
                json!({"docker_host": "unix:///run/d.sock", "docker_cert_path": "/etc/certs"})
            )[0]
            .contains("tcp:// docker_host only")
        );
        assert!(bad(Provider::Docker, json!({"docker_host": "tcp://nas:2376", "docker_cert_path": "/etc/homelabd/nas", "docker_tls_verify": true})).is_empty());
        assert!(
            bad(
                Provider::Docker,
                json!({"docker_host": "ssh://deploy@nas:2222"})
            )
            .is_empty()
        );
        assert!(
            bad(
                Provider::Docker,
                json!({"docker_host": "tcp://[fd00::5]:2376"})
            )
            .is_empty()
        );
        assert!(bad(Provider::Aws, json!({"region": "Europe"}))[0].contains("AWS region"));
        assert!(
            bad(
                Provider::Aws,
                json!({"region": "us-gov-west-1", "profile": "lab"})
            )
            .is_empty()
        );
        assert!(bad(Provider::Azure, json!({"subscription": "mine"}))[0].contains("UUID"));
        assert!(
            bad(Provider::Azure, json!({"resource_group": "rg homelab"}))[0]
                .contains("resource group")
        );
        assert!(
            bad(Provider::Proxmox, json!({"endpoint": "pve.home.arpa:8006"}))[0]
                .contains("https://")
        );
        assert!(
            bad(Provider::Vmware, json!({"vsphere_server": "https://vc"}))[0].contains("host name")
        );
        assert!(
            bad(Provider::Kubernetes, json!({"kubeconfig": "kube/config"}))[0]
                .contains("absolute path")
        );
    }
}
