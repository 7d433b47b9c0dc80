//! The Docker observer: real containers via `docker ps` / `docker inspect`, compared with
//! the rendered compose file of each applied resource. Finds missing containers, stopped
//! ones, changed image / environment / limits / ports, and containers under homelabd's
//! labels that no resource accounts for.

use super::endpoint::{self, Endpoint};
use super::{
    BoxFuture, Deviation, DeviationKind, Observation, ObserveError, Observer, Report, Severity,
    Target,
};
use crate::apply::docker::{COMPOSE_FILE, engine_env, project_name};
use crate::apply::{Cmd, Runner};
use crate::target::Target as Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The label every rendered container carries.
const MANAGED_LABEL: &str = "homelab.ai/managed-by=homelabd";
const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The compose service a container belongs to.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// `docker inspect` prints ~10 KiB per container: room for thousands.
const INSPECT_BYTES: usize = 64 << 20;

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

/// The parts of `docker inspect` output compared here.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Inspected {
    /// The full container id.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub state: InspectedState,
    #[serde(default)]
    pub config: InspectedConfig,
    #[serde(default)]
    pub host_config: InspectedHost,
    #[serde(default)]
    pub network_settings: InspectedNetwork,
}

/// Where the engine really published the container's ports.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedNetwork {
    /// `container_port/proto` → the host bindings (`null` for a port only exposed).
    #[serde(default)]
    pub ports: Option<BTreeMap<String, Option<Vec<HostBinding>>>>,
}

/// One host address and port a container port is published on.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HostBinding {
    #[serde(default)]
    pub host_ip: String,
    #[serde(default)]
    pub host_port: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedState {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub restarting: bool,
    /// The image's or compose file's HEALTHCHECK, when there is one.
    #[serde(default)]
    pub health: Option<InspectedHealth>,
}

/// `State.Health` of `docker inspect`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedHealth {
    /// `starting`, `healthy` or `unhealthy`.
    #[serde(default)]
    pub status: String,
}

/// Docker's own health signal for one resource's containers: every one running (not
/// restarting) and, where it has a HEALTHCHECK, `healthy`.
pub fn container_health(containers: &[&Inspected]) -> crate::reconcile::health::Attempt {
    use crate::reconcile::health::Attempt;
    if containers.is_empty() {
        return Attempt {
            passed: false,
            detail: "no container".to_owned(),
        };
    }
    let mut problems = Vec::new();
    for c in containers {
        let name = c.display_name();
        let st = &c.state;
        if st.restarting || !st.running {
            problems.push(format!(
                "{name} is {} (exit code {})",
                st.status, st.exit_code
            ));
        } else if let Some(h) = &st.health
            && h.status != "healthy"
        {
            problems.push(format!("{name}: HEALTHCHECK says {}", h.status));
        }
    }
    if problems.is_empty() {
        Attempt {
            passed: true,
            detail: format!("{} container(s) running", containers.len()),
        }
    } else {
        Attempt {
            passed: false,
            detail: problems.join("; "),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedConfig {
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedHost {
    #[serde(default)]
    pub memory: i64,
    #[serde(default)]
    pub nano_cpus: i64,
    #[serde(default)]
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(default)]
    pub host_port: String,
}

impl Inspected {
    fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(key).map(String::as_str)
    }

    fn display_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}

/// Reads the expected services of a rendered compose file.
// String error: why the target was not observed, kept as text in the report's `failed` map (shown and stored).
pub fn expected_services(compose_yaml: &str) -> Result<Vec<ExpectedService>, String> {
    let doc: Value = serde_yaml::from_str(compose_yaml).map_err(|e| e.to_string())?;
    let services = doc
        .get("services")
        .and_then(Value::as_object)
        .ok_or("no `services` in the compose file")?;
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

fn unmanaged(c: &Inspected, why: &str) -> Deviation {
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

/// Observes docker resources with the `docker` CLI.
#[derive(Debug, Clone)]
pub struct DockerObserver {
    docker: String,
    timeout: Duration,
    /// The address of ports the local engine publishes on all addresses.
    engine_host: String,
}

impl DockerObserver {
    /// An observer using `docker` (a name in `PATH` or a path).
    pub fn new(docker: &str) -> DockerObserver {
        DockerObserver {
            docker: docker.to_owned(),
            timeout: Duration::from_secs(60),
            engine_host: local_host_name(),
        }
    }

    /// The container `target` adopted while it runs outside compose (`Ok(None)`: none
    /// adopted, or it is gone), as the container of `service`.
    async fn adopted_container(
        &self,
        engine: &Engine,
        target: &Target,
        service: &str,
    ) -> Result<Option<Inspected>, ObserveError> {
        let adopted = crate::apply::docker_adopt::adopted(&target.work_dir).map_err(unreachable)?;
        let Some(adopted) = adopted else {
            return Ok(None);
        };
        let found = self.inspect_ids(engine, &[adopted.id.as_str()]).await?;
        Ok(super::docker_adopt::find(&adopted, found, service))
    }

    async fn inspect_managed(&self, engine: &Engine) -> Result<Vec<Inspected>, ObserveError> {
        let runner = Runner::new(self.timeout, CancellationToken::new());
        let cwd = std::env::temp_dir();
        let ps = runner
            .run(
                &engine_env(
                    Cmd::new(
                        [
                            self.docker.as_str(),
                            "ps",
                            "--all",
                            "--quiet",
                            "--no-trunc",
                            "--filter",
                            &format!("label={MANAGED_LABEL}"),
                        ],
                        &cwd,
                    ),
                    engine,
                )
                .keep_output(INSPECT_BYTES),
            )
            .await;
        if !ps.success() {
            return Err(unreachable(ps.failure_summary()));
        }
        let ids: Vec<&str> = ps.stdout_tail.split_whitespace().collect();
        self.inspect_ids(engine, &ids).await
    }

    /// `docker inspect` of `ids` (those that no longer exist are left out).
    async fn inspect_ids(
        &self,
        engine: &Engine,
        ids: &[&str],
    ) -> Result<Vec<Inspected>, ObserveError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let runner = Runner::new(self.timeout, CancellationToken::new());
        let cwd = std::env::temp_dir();
        let mut argv = vec![self.docker.as_str(), "inspect", "--type", "container"];
        argv.extend(ids.iter().copied());
        let inspect = runner
            .run(&engine_env(Cmd::new(argv, &cwd), engine).keep_output(INSPECT_BYTES))
            .await;
        // A container removed between ps and inspect makes inspect exit 1 but still
        // print the others.
        serde_json::from_str(&inspect.stdout_tail).map_err(|e| {
            if inspect.success() {
                unreachable(format!("cannot read docker inspect output: {e}"))
            } else {
                unreachable(inspect.failure_summary())
            }
        })
    }
}

fn unreachable(message: String) -> ObserveError {
    ObserveError::Unreachable {
        provider: "docker".to_owned(),
        message,
    }
}

impl Observer for DockerObserver {
    fn name(&self) -> &str {
        "docker"
    }

    fn health<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Option<crate::reconcile::health::Attempt>> {
        Box::pin(async move {
            let engine = crate::target::read(&target.rendered_dir)
                .map(|t| engine_of(&t))
                .unwrap_or_default();
            let project = project_name(&target.resource);
            let found = match self.inspect_managed(&engine).await {
                Ok(all) => self
                    .adopted_container(&engine, target, &target.resource)
                    .await
                    .map(|adopted| (all, adopted)),
                Err(e) => Err(e),
            };
            Some(match found {
                Ok((all, adopted)) => container_health(
                    &all.iter()
                        .filter(|c| c.label(PROJECT_LABEL) == Some(project.as_str()))
                        .chain(adopted.as_ref())
                        .collect::<Vec<_>>(),
                ),
                Err(e) => crate::reconcile::health::Attempt {
                    passed: false,
                    detail: e.to_string(),
                },
            })
        })
    }

    fn observe<'a>(&'a self, targets: &'a [Target]) -> BoxFuture<'a, Result<Report, ObserveError>> {
        Box::pin(async move {
            let mut report = Report::default();
            // Each resource on the engine its render names; the default engine is
            // looked at when no resource is (for containers nobody accounts for).
            let mut by_engine: BTreeMap<Engine, Vec<&Target>> = BTreeMap::new();
            for target in targets {
                match crate::target::read(&target.rendered_dir) {
                    Ok(t) => by_engine.entry(engine_of(&t)).or_default().push(target),
                    Err(e) => {
                        report.failed.insert(target.resource.clone(), e.to_string());
                    }
                }
            }
            if by_engine.is_empty() {
                by_engine.insert(Engine::default(), Vec::new());
            }
            let several = by_engine.len() > 1;
            for (engine, targets) in &by_engine {
                let containers = match self.inspect_managed(engine).await {
                    Ok(c) => c,
                    // One engine down: its resources are not observed, the others are.
                    Err(e) if several => {
                        for t in targets {
                            report.failed.insert(t.resource.clone(), e.to_string());
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let host = engine
                    .docker_engine_host()
                    .unwrap_or_else(|| self.engine_host.clone());
                self.observe_engine(engine, targets, &containers, &host, &mut report)
                    .await;
            }
            Ok(report)
        })
    }
}

/// The engine part of a resource's target (what groups resources for one `docker ps`).
fn engine_of(t: &crate::target::Target) -> Engine {
    Engine {
        docker_host: t.docker_host.clone(),
        docker_cert_path: t.docker_cert_path.clone(),
        docker_tls_verify: t.docker_tls_verify,
        ..Engine::default()
    }
}

impl DockerObserver {
    /// Compares the resources on one engine with its containers; the rest of that
    /// engine's managed containers are unmanaged.
    async fn observe_engine(
        &self,
        engine: &Engine,
        targets: &[&Target],
        containers: &[Inspected],
        engine_host: &str,
        report: &mut Report,
    ) {
        let projects: BTreeSet<String> =
            targets.iter().map(|t| project_name(&t.resource)).collect();
        for target in targets {
            let path = target.rendered_dir.join(COMPOSE_FILE);
            let expected = match tokio::fs::read_to_string(&path).await {
                Ok(text) => expected_services(&text),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            };
            let expected = match expected {
                Ok(e) => e,
                Err(e) => {
                    report.failed.insert(target.resource.clone(), e);
                    continue;
                }
            };
            let project = project_name(&target.resource);
            let service = match expected.as_slice() {
                [one] => one.service.as_str(),
                _ => target.resource.as_str(),
            };
            let adopted = match self.adopted_container(engine, target, service).await {
                Ok(a) => a,
                Err(e) => {
                    report.failed.insert(target.resource.clone(), e.to_string());
                    continue;
                }
            };
            let mine: Vec<&Inspected> = containers
                .iter()
                .filter(|c| c.label(PROJECT_LABEL) == Some(project.as_str()))
                .chain(adopted.as_ref())
                .collect();
            let deviations = compare(&target.resource, &expected, &mine);
            let reachable = endpoints(&mine, engine_host);
            report.observations.push(Observation {
                resource: target.resource.clone(),
                expected: json!({"services": expected}),
                actual: json!({"containers": mine.iter().map(|c| json!({
                    "name": c.display_name(),
                    "image": c.config.image,
                    "status": c.state.status,
                    "memory": c.host_config.memory,
                    "nano_cpus": c.host_config.nano_cpus,
                })).collect::<Vec<_>>()}),
                deviations,
                endpoints: Some(reachable),
            });
        }
        for c in containers {
            let in_target = c.label(PROJECT_LABEL).is_some_and(|p| projects.contains(p));
            if !in_target {
                report
                    .unmanaged
                    .push(unmanaged(c, "not part of any applied resource"));
            }
        }
    }
}

/// The name of the machine this runs on (the address of a port published by the local
/// Docker engine on all its addresses), `localhost` when it cannot be read.
pub fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = r#"
services:
  "web":
    image: "nginx:1"
    environment:
      "TZ": "UTC"
    ports:
      - "8080:80/tcp"
      - "9000/tcp"
    deploy:
      resources:
        limits:
          cpus: "0.5"
          memory: "512M"
"#;

    fn container(service: &str) -> Inspected {
        serde_json::from_value(json!({
            "Name": "/homelabd-web-web-1",
            "State": {"Status": "running", "Running": true, "ExitCode": 0},
            "Config": {"Image": "nginx:1", "Env": ["TZ=UTC", "PATH=/bin"],
                       "Labels": {SERVICE_LABEL: service, PROJECT_LABEL: "homelabd-web"}},
            "HostConfig": {"Memory": 536870912, "NanoCpus": 500000000,
                           "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}
        }))
        .unwrap()
    }

    #[test]
    fn docker_health_needs_every_container_running_and_its_healthcheck_healthy() {
        let running = container("web");
        assert!(container_health(&[&running]).passed);
        assert!(!container_health(&[]).passed);
        let mut restarting = container("web");
        restarting.state.status = "restarting".into();
        restarting.state.restarting = true;
        restarting.state.exit_code = 1;
        let a = container_health(&[&running, &restarting]);
        assert!(!a.passed);
        assert_eq!(a.detail, "homelabd-web-web-1 is restarting (exit code 1)");
        let mut starting = container("web");
        starting.state.health = Some(InspectedHealth {
            status: "starting".into(),
        });
        assert_eq!(
            container_health(&[&starting]).detail,
            "homelabd-web-web-1: HEALTHCHECK says starting"
        );
        starting.state.health = Some(InspectedHealth {
            status: "healthy".into(),
        });
        assert!(container_health(&[&starting]).passed);
    }

    #[test]
    fn reads_the_rendered_compose_file() {
        let e = expected_services(COMPOSE).unwrap();
        assert_eq!(e[0].memory_bytes, Some(512 << 20));
        assert_eq!(e[0].nano_cpus, Some(500_000_000));
        assert_eq!(
            e[0].ports,
            BTreeMap::from([("80/tcp".into(), "8080".into())])
        );
    }

    #[test]
    fn a_container_as_rendered_has_no_deviations() {
        let e = expected_services(COMPOSE).unwrap();
        assert_eq!(compare("web", &e, &[&container("web")]), vec![]);
    }

    #[test]
    fn missing_stopped_and_changed_containers_are_told_apart() {
        let e = expected_services(COMPOSE).unwrap();
        let missing = compare("web", &e, &[]);
        assert_eq!(missing[0].kind, DeviationKind::Missing);
        assert_eq!(missing[0].key, "container/web");

        let mut c = container("web");
        c.state.running = false;
        c.state.status = "exited".into();
        c.host_config.memory = 1 << 30;
        c.config.env = Some(vec!["TZ=Europe/Amsterdam".into()]);
        let kinds: Vec<(DeviationKind, String)> = compare("web", &e, &[&c])
            .into_iter()
            .map(|d| (d.kind, d.key))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (DeviationKind::ConfigDrift, "container/web/env/TZ".into()),
                (DeviationKind::ConfigDrift, "container/web/memory".into()),
                (DeviationKind::ResourceChange, "container/web/state".into()),
            ]
        );
    }

    #[test]
    fn a_secret_passed_through_from_the_environment_is_never_compared() {
        let compose = COMPOSE.replace(
            "\"TZ\": \"UTC\"",
            "\"TZ\": \"UTC\"\n      \"DB_PASSWORD\": null",
        );
        let e = expected_services(&compose).unwrap();
        assert!(!e[0].env.contains_key("DB_PASSWORD"));
        let mut c = container("web");
        c.config.env = Some(vec!["TZ=UTC".into(), "DB_PASSWORD=hunter2".into()]);
        let found = compare("web", &e, &[&c]);
        assert_eq!(found, vec![]);
    }

    #[test]
    fn an_extra_service_under_the_project_is_unmanaged_and_never_auto_removed() {
        let e = expected_services(COMPOSE).unwrap();
        let found = compare("web", &e, &[&container("web"), &container("sidecar")]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, DeviationKind::Unmanaged);
        assert!(!found[0].auto_correctable);
    }

    #[test]
    fn published_ports_are_endpoints_at_the_engine_host_once_per_address() {
        let mut c = container("web");
        c.network_settings = serde_json::from_value(json!({"Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "9000/tcp": null,
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
        }}))
        .unwrap();
        let found = endpoints(&[&c], "nas");
        assert_eq!(
            found
                .iter()
                .map(|e| (e.name.as_str(), e.address.as_str()))
                .collect::<Vec<_>>(),
            vec![("web 53/udp", "127.0.0.1:5353"), ("web 80/tcp", "nas:8080")]
        );
        assert!(endpoints(&[&container("web")], "nas").is_empty());
    }

    #[test]
    fn memory_notation() {
        assert_eq!(parse_bytes("512M"), Some(536_870_912));
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("2048"), Some(2048));
        assert_eq!(parse_bytes("1.5G"), Some(1_610_612_736));
        assert_eq!(parse_bytes("lots"), None);
    }
}
