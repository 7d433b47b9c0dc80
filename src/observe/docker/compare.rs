//! Expected services against real containers (pure): the deviations of one resource,
//! its containers' endpoints, and the containers under homelabd's labels that no
//! resource accounts for.

use super::expected::ExpectedService;
use super::inspected::{Inspected, PROJECT_LABEL, SERVICE_LABEL};
use crate::observe::endpoint::{self, Endpoint};
use crate::observe::{Deviation, DeviationKind, Severity};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Compares the expected services of `resource` with the containers of its project.
pub fn compare(
    resource: &str,
    expected: &[ExpectedService],
    containers: &[&Inspected],
) -> Vec<Deviation> {
    let mut out = Vec::new();
    let by_service: BTreeMap<&str, &Inspected> = containers
        .iter()
        .filter_map(|c| Some((c.label(SERVICE_LABEL)?, *c)))
        .collect();
    let reapply = "re-apply: docker compose up -d";
    for svc in expected {
        let key = |what: &str| format!("container/{}/{what}", svc.service);
        let Some(c) = by_service.get(svc.service.as_str()) else {
            out.push(Deviation {
                resource: resource.to_owned(),
                key: format!("container/{}", svc.service),
                kind: DeviationKind::Missing,
                severity: Severity::Critical,
                auto_correctable: true,
                corrective_action: reapply.to_owned(),
                expected: json!({"service": svc.service, "image": svc.image}),
                actual: Value::Null,
                message: format!("container for service {} is missing", svc.service),
            });
            continue;
        };
        let mut drift = |what: &str, expected: Value, actual: Value, message: String| {
            out.push(Deviation {
                resource: resource.to_owned(),
                key: key(what),
                kind: DeviationKind::ConfigDrift,
                severity: Severity::Warning,
                auto_correctable: true,
                corrective_action: reapply.to_owned(),
                expected,
                actual,
                message,
            });
        };
        if c.config.image != svc.image {
            drift(
                "image",
                json!(svc.image),
                json!(c.config.image),
                format!("image is {}, expected {}", c.config.image, svc.image),
            );
        }
        let env: BTreeMap<&str, &str> = c
            .config
            .env
            .iter()
            .flatten()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        for (k, v) in &svc.env {
            let actual = env.get(k.as_str()).copied();
            if actual != Some(v.as_str()) {
                drift(
                    &format!("env/{k}"),
                    json!(v),
                    json!(actual),
                    format!("environment {k} is {actual:?}, expected {v:?}"),
                );
            }
        }
        if let Some(mem) = svc.memory_bytes
            && c.host_config.memory != mem
        {
            drift(
                "memory",
                json!(mem),
                json!(c.host_config.memory),
                format!(
                    "memory limit is {} bytes, expected {mem}",
                    c.host_config.memory
                ),
            );
        }
        if let Some(cpus) = svc.nano_cpus
            && c.host_config.nano_cpus != cpus
        {
            drift(
                "cpus",
                json!(cpus as f64 / 1e9),
                json!(c.host_config.nano_cpus as f64 / 1e9),
                format!(
                    "cpu limit is {}, expected {}",
                    c.host_config.nano_cpus as f64 / 1e9,
                    cpus as f64 / 1e9
                ),
            );
        }
        let actual_ports: BTreeMap<String, String> = c
            .host_config
            .port_bindings
            .iter()
            .flatten()
            .filter_map(|(port, b)| Some((port.clone(), b.as_ref()?.first()?.host_port.clone())))
            .collect();
        if actual_ports != svc.ports {
            drift(
                "ports",
                json!(svc.ports),
                json!(actual_ports),
                format!(
                    "published ports are {actual_ports:?}, expected {:?}",
                    svc.ports
                ),
            );
        }
        if !c.state.running {
            out.push(Deviation {
                resource: resource.to_owned(),
                key: key("state"),
                kind: DeviationKind::ResourceChange,
                severity: Severity::Critical,
                auto_correctable: true,
                corrective_action: reapply.to_owned(),
                expected: json!("running"),
                actual: json!({"status": c.state.status, "exit_code": c.state.exit_code}),
                message: format!(
                    "container {} is {} (exit code {}), expected running",
                    c.display_name(),
                    c.state.status,
                    c.state.exit_code
                ),
            });
        }
    }
    for c in containers {
        let service = c.label(SERVICE_LABEL).unwrap_or("");
        if !expected.iter().any(|s| s.service == service) {
            out.push(unmanaged(c, "a service its compose file does not define"));
        }
    }
    out
}

/// Where the containers of one resource can be reached: every published port, by
/// service and container port, at `engine_host` when published on all addresses.
pub fn endpoints(containers: &[&Inspected], engine_host: &str) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for c in containers {
        let service = c.label(SERVICE_LABEL).unwrap_or(c.display_name());
        for (port, bindings) in c.network_settings.ports.iter().flatten() {
            for b in bindings.iter().flatten() {
                if b.host_port.is_empty() {
                    continue;
                }
                let e = endpoint::docker_port(service, port, &b.host_ip, &b.host_port, engine_host);
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
    }
    out.sort();
    out
}

/// A container under homelabd's labels that no resource accounts for, as a deviation.
pub(super) fn unmanaged(c: &Inspected, why: &str) -> Deviation {
    Deviation {
        resource: format!("docker:container/{}", c.display_name()),
        key: "container".to_owned(),
        kind: DeviationKind::Unmanaged,
        severity: Severity::Info,
        auto_correctable: false,
        corrective_action: format!(
            "add it to git, or remove it by hand (docker rm -f {})",
            c.display_name()
        ),
        expected: Value::Null,
        actual: json!({
            "name": c.display_name(),
            "image": c.config.image,
            "status": c.state.status,
            "project": c.label(PROJECT_LABEL),
        }),
        message: format!(
            "container {} carries homelabd's labels but is {why}",
            c.display_name()
        ),
    }
}
