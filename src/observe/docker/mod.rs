//! The Docker observer: real containers via `docker ps` / `docker inspect`, compared with
//! the rendered compose file of each applied resource. Finds missing containers, stopped
//! ones, changed image / environment / limits / ports, and containers under homelabd's
//! labels that no resource accounts for.
//!
//! The pure parts live beside the observer: [`expected`] reads the rendered compose file,
//! [`inspected`] is what `docker inspect` answers, [`compare`] finds the deviations and
//! endpoints. This file is the IO shell that runs the `docker` CLI.

mod compare;
mod expected;
mod inspected;
#[cfg(test)]
mod tests;

use compare::unmanaged;
pub use compare::{compare, endpoints};
pub use expected::{ComposeFileError, ExpectedService, expected_services, parse_bytes};
use inspected::PROJECT_LABEL;
pub use inspected::{
    HostBinding, Inspected, InspectedConfig, InspectedHealth, InspectedHost, InspectedNetwork,
    InspectedState, PortBinding, SERVICE_LABEL, container_health,
};

use super::{BoxFuture, Observation, ObserveError, Observer, Report, Target};
use crate::apply::docker::{COMPOSE_FILE, engine_env, project_name};
use crate::apply::{Cmd, Runner};
use crate::target::Target as Engine;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The label every rendered container carries.
const MANAGED_LABEL: &str = "homelab.ai/managed-by=homelabd";
/// `docker inspect` prints ~10 KiB per container: room for thousands.
const INSPECT_BYTES: usize = 64 << 20;

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
        let adopted = crate::apply::docker_adopt::adopted(&target.work_dir)
            .map_err(|e| unreachable(e.to_string()))?;
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
                Err(source) => Err(ComposeFileError::Read { path, source }),
            };
            let expected = match expected {
                Ok(e) => e,
                Err(e) => {
                    report.failed.insert(target.resource.clone(), e.to_string());
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
