//! What a rendered compose file expects of each service (pure): image, environment,
//! limits and published ports, read from the YAML homelabd rendered.

use serde_json::Value;
use std::collections::BTreeMap;

/// What the compose file says one service should look like.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ExpectedService {
    pub service: String,
    pub image: String,
    pub env: BTreeMap<String, String>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    /// `container_port/proto` → host port (published ports only).
    pub ports: BTreeMap<String, String>,
}

/// Why the rendered compose file of a resource says nothing to compare with; the text
/// goes to the report's `failed` map.
#[derive(Debug, thiserror::Error)]
pub enum ComposeFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] serde_yaml::Error),
    #[error("no `services` in the compose file")]
    NoServices,
}

/// Reads the expected services of a rendered compose file.
pub fn expected_services(compose_yaml: &str) -> Result<Vec<ExpectedService>, ComposeFileError> {
    let doc: Value = serde_yaml::from_str(compose_yaml)?;
    let services = doc
        .get("services")
        .and_then(Value::as_object)
        .ok_or(ComposeFileError::NoServices)?;
    let mut out = Vec::new();
    for (name, svc) in services {
        let limits = svc.pointer("/deploy/resources/limits");
        // A variable without a value (`KEY: null`, or `- KEY`) takes its value from the
        // environment of `docker compose` at apply time: a secret. It is never compared,
        // so its value can never land in a deviation.
        let env = match svc.get("environment") {
            Some(Value::Object(map)) => map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), scalar(v)))
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            _ => BTreeMap::new(),
        };
        let ports = svc
            .get("ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| p.as_str().and_then(published_port))
                    .collect()
            })
            .unwrap_or_default();
        out.push(ExpectedService {
            service: name.clone(),
            image: svc.get("image").map(scalar).unwrap_or_default(),
            env,
            memory_bytes: limits
                .and_then(|l| l.get("memory"))
                .and_then(|m| parse_bytes(&scalar(m))),
            nano_cpus: limits
                .and_then(|l| l.get("cpus"))
                .and_then(|c| scalar(c).parse::<f64>().ok())
                .map(|c| (c * 1e9).round() as i64),
            ports,
        });
    }
    Ok(out)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `[ip:]host:container[/proto]` → (`container/proto`, host); exposed-only ports → None.
fn published_port(spec: &str) -> Option<(String, String)> {
    let (ports, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = ports.split(':').collect();
    let (host, container) = match parts.as_slice() {
        [host, container] => (*host, *container),
        [_ip, host, container] => (*host, *container),
        _ => return None,
    };
    Some((format!("{container}/{proto}"), host.to_owned()))
}

/// Docker's memory notation (`512M`, `1g`, `1048576`) in bytes (binary units).
pub fn parse_bytes(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let factor: i64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    let n: f64 = number.trim().parse().ok()?;
    Some((n * factor as f64) as i64)
}
