//! The Docker executor: `docker compose` (or the standalone `docker-compose` where only
//! that exists) `up -d --remove-orphans` on the rendered project, under a stable project
//! name per resource (`homelabd-<resource>`); `down` on prune. Named volumes are never
//! removed: prune stops and removes containers, the data stays.
//!
//! The engine is the resource's target (`docker_host` of its pool or node, rendered as
//! `homelabd.target.json` and kept in the work directory with the compose file), given
//! to the compose tool as `DOCKER_HOST` (with `DOCKER_CERT_PATH` / `DOCKER_TLS_VERIFY`
//! for a TLS `tcp://` engine); without one, the daemon's own environment decides.

use super::docker_adopt as adopt;
use super::{
    ApplyReport, ApplyRequest, Cmd, Runner, ToolExecutor, find_program, settings::DockerSettings,
};
use crate::target::{self, Target};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The compose file every docker-compose chart renders.
pub const COMPOSE_FILE: &str = "compose.yaml";

/// The compose project of a resource: stable, so `up` updates in place and `down` finds it.
pub fn project_name(resource: &str) -> String {
    format!("homelabd-{resource}")
}

/// Applies docker resources with the compose tool.
#[derive(Debug, Clone)]
pub struct DockerExecutor {
    /// The `docker` CLI (adoption looks containers up and removes them with it).
    docker: String,
    compose: Vec<String>,
    unavailable: Option<String>,
}

impl DockerExecutor {
    /// Detects the compose tool (the configured one, else `docker compose`, else
    /// `docker-compose`) and checks that the engine answers.
    pub fn detect(settings: &DockerSettings) -> DockerExecutor {
        let docker = settings.docker_binary.as_deref().unwrap_or("docker");
        let compose = match &settings.compose_command {
            Some(argv) if !argv.is_empty() => Some(argv.clone()),
            _ => detect_compose(docker),
        };
        let unavailable = match &compose {
            None => Some(
                "docker: neither `docker compose` nor `docker-compose` is installed".to_owned(),
            ),
            Some(_) if find_program(docker).is_none() => {
                Some(format!("docker: `{docker}` is not installed"))
            }
            Some(_) => engine_unreachable(docker),
        };
        DockerExecutor {
            docker: docker.to_owned(),
            compose: compose.unwrap_or_default(),
            unavailable,
        }
    }

    /// The commands of an apply on the engine of `target`.
    pub fn apply_commands(&self, req: &ApplyRequest, target: &Target) -> Vec<Cmd> {
        vec![self.compose_cmd(req, &["up", "-d", "--remove-orphans"], target)]
    }

    /// The commands of a destroy on the engine of `target`.
    pub fn destroy_commands(&self, req: &ApplyRequest, target: &Target) -> Vec<Cmd> {
        vec![self.compose_cmd(req, &["down", "--remove-orphans"], target)]
    }

    fn compose_cmd(&self, req: &ApplyRequest, action: &[&str], target: &Target) -> Cmd {
        let file = req.work_dir.join(COMPOSE_FILE);
        let mut argv: Vec<String> = self.compose.clone();
        argv.extend([
            "--project-name".to_owned(),
            project_name(&req.resource),
            "--file".to_owned(),
            file.display().to_string(),
        ]);
        argv.extend(action.iter().map(|s| (*s).to_owned()));
        // Secret env entries render as `KEY: null`; compose takes their values from its
        // own environment (also on `down`, which validates the file).
        engine_env(Cmd::new(argv, &req.work_dir).secrets(&req.secrets), target)
    }
}

/// `cmd` aimed at the engine of `target` (unchanged for the default engine).
pub fn engine_env(mut cmd: Cmd, target: &Target) -> Cmd {
    if let Some(host) = &target.docker_host {
        cmd = cmd.env("DOCKER_HOST", host.clone());
    }
    if let Some(path) = &target.docker_cert_path {
        cmd = cmd.env("DOCKER_CERT_PATH", path.clone());
    }
    if target
        .docker_tls_verify
        .unwrap_or(target.docker_cert_path.is_some())
    {
        cmd = cmd.env("DOCKER_TLS_VERIFY", "1");
    }
    cmd
}

impl ToolExecutor for DockerExecutor {
    fn executor_name(&self) -> &str {
        match self.compose.as_slice() {
            [one] if one.ends_with("docker-compose") => "docker-compose",
            _ => "docker compose",
        }
    }

    fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    async fn apply_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        // The work dir keeps the applied compose file, so `down` still works after the
        // definition (and its rendered directory) is gone.
        let previous = target::read(&req.work_dir).unwrap_or_default();
        let target = match target::read(&req.rendered_dir) {
            Ok(t) => t,
            Err(e) => return ApplyReport::failed(e.to_string()),
        };
        let mut runs = Vec::new();
        match self.adoption(req, runner, &previous, &target).await {
            Adoption::Done(report) => return report,
            Adoption::Compose(mut before) => runs.append(&mut before),
        }
        if previous != target && req.work_dir.join(COMPOSE_FILE).is_file() {
            // Moved to another engine: the old one's containers go first (volumes stay
            // there), so the resource never runs twice.
            let down = ApplyReport::run_all(runner, &self.destroy_commands(req, &previous)).await;
            if let super::ApplyOutcome::Failed { error } = &down.outcome {
                return ApplyReport::failed_after(
                    format!("cannot stop it on its previous engine: {error}"),
                    down.runs,
                );
            }
            runs = down.runs;
        }
        if let Err(e) = keep_applied(req).await {
            return ApplyReport::failed_after(e.to_string(), runs);
        }
        let mut report = ApplyReport::run_all(runner, &self.apply_commands(req, &target)).await;
        runs.append(&mut report.runs);
        report.runs = runs;
        report
    }

    async fn destroy_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        match adopt::adopted(&req.work_dir) {
            Err(e) => return ApplyReport::failed(e.to_string()),
            Ok(Some(adopted)) => {
                let target = target::read(&req.work_dir).unwrap_or_default();
                let report =
                    adopt::remove(&self.docker, &adopted, &target, &req.work_dir, runner).await;
                if matches!(report.outcome, super::ApplyOutcome::Applied)
                    && let Err(e) = adopt::forget(&req.work_dir)
                {
                    return ApplyReport::failed_after(e.to_string(), report.runs);
                }
                return report;
            }
            Ok(None) => {}
        }
        if !req.work_dir.join(COMPOSE_FILE).is_file() {
            return ApplyReport::failed(format!(
                "nothing to destroy: {} has no applied compose file",
                req.work_dir.display()
            ));
        }
        // The engine it was applied to, kept with the applied compose file.
        let target = match target::read(&req.work_dir) {
            Ok(t) => t,
            Err(e) => return ApplyReport::failed(e.to_string()),
        };
        ApplyReport::run_all(runner, &self.destroy_commands(req, &target)).await
    }
}

/// What adoption leaves to do in an apply.
enum Adoption {
    /// The apply is over (a container taken over, or a failure).
    Done(ApplyReport),
    /// Go on under compose, after these runs (an adopted container removed, or none).
    Compose(Vec<super::CmdRun>),
}

impl DockerExecutor {
    /// Takes over the container the render adopts (first apply), or removes the one
    /// taken over earlier so compose recreates it (any later apply); see
    /// [`adopt`](super::docker_adopt).
    async fn adoption(
        &self,
        req: &ApplyRequest,
        runner: &Runner,
        previous: &Target,
        target: &Target,
    ) -> Adoption {
        let failed = |e: String| Adoption::Done(ApplyReport::failed(e));
        match adopt::adopted(&req.work_dir) {
            Err(e) => return failed(e.to_string()),
            Ok(Some(adopted)) => {
                let compose = match std::fs::read_to_string(req.rendered_dir.join(COMPOSE_FILE)) {
                    Ok(text) => text,
                    Err(e) => return failed(format!("cannot read the rendered compose file: {e}")),
                };
                match adopt::missing_withheld(&compose, &adopted.withheld_env) {
                    Err(e) => return failed(format!("cannot read the rendered compose file: {e}")),
                    Ok(missing) if !missing.is_empty() => {
                        return failed(format!(
                            "not recreating the adopted container {} under compose: {} was left out of git at adoption and is not set in env; add it (as a secret reference) first",
                            adopted.container,
                            missing.join(", ")
                        ));
                    }
                    Ok(_) => {}
                }
                let removed =
                    adopt::remove(&self.docker, &adopted, previous, &req.work_dir, runner).await;
                if !matches!(removed.outcome, super::ApplyOutcome::Applied) {
                    return Adoption::Done(removed);
                }
                // From here on the resource is a compose project like any other.
                for file in [adopt::ADOPTED_FILE, COMPOSE_FILE] {
                    if let Err(e) = remove_if_present(&req.work_dir.join(file)).await {
                        return Adoption::Done(ApplyReport::failed_after(
                            e.to_string(),
                            removed.runs,
                        ));
                    }
                }
                return Adoption::Compose(removed.runs);
            }
            Ok(None) => {}
        }
        if req.work_dir.join(COMPOSE_FILE).is_file() {
            return Adoption::Compose(Vec::new());
        }
        let wanted = match adopt::requested(&req.rendered_dir) {
            Ok(Some(w)) => w,
            Ok(None) => return Adoption::Compose(Vec::new()),
            Err(e) => return failed(e.to_string()),
        };
        let run = runner
            .run(&adopt::inspect_id_cmd(
                &self.docker,
                &wanted.container,
                target,
                &req.work_dir,
            ))
            .await;
        if adopt::no_such_container(&run) {
            tracing::info!(
                resource = %req.resource, container = %wanted.container,
                "the container to adopt does not exist; creating the resource under compose"
            );
            return Adoption::Compose(vec![run]);
        }
        if !run.success() {
            let error = run.failure_summary();
            return Adoption::Done(ApplyReport::failed_after(
                format!("cannot look up the container to adopt: {error}"),
                vec![run],
            ));
        }
        let id = run.stdout_tail.trim().to_owned();
        let adopted = adopt::Adopted {
            container: wanted.container,
            id,
            withheld_env: wanted.withheld_env,
        };
        let kept = match keep_applied(req).await {
            Ok(()) => adopt::record(&req.work_dir, &adopted).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = kept {
            return Adoption::Done(ApplyReport::failed_after(e, vec![run]));
        }
        tracing::info!(
            resource = %req.resource, container = %adopted.container, id = %adopted.id,
            "adopted the running container as it is"
        );
        let mut report = ApplyReport::nothing_to_do();
        report.runs = vec![run];
        Adoption::Done(report)
    }
}

/// Keeps the applied compose file and target in the work directory, so `down` (or the
/// observer) still finds them after the definition and its render are gone.
async fn keep_applied(req: &ApplyRequest) -> Result<(), KeepError> {
    for file in [COMPOSE_FILE, target::FILE] {
        let (from, to) = (req.rendered_dir.join(file), req.work_dir.join(file));
        let copied = if from.is_file() || file == COMPOSE_FILE {
            copy_file(&from, &to).await
        } else {
            remove_if_present(&to).await
        };
        copied.map_err(|source| KeepError { from, to, source })?;
    }
    Ok(())
}

/// The applied compose file or target could not be kept in the work directory.
#[derive(Debug, thiserror::Error)]
#[error("cannot copy {} to {}: {source}", from.display(), to.display())]
struct KeepError {
    from: std::path::PathBuf,
    to: std::path::PathBuf,
    #[source]
    source: std::io::Error,
}

async fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    let tmp = to.with_extension("yaml.tmp");
    tokio::fs::copy(from, &tmp).await?;
    tokio::fs::rename(&tmp, to).await
}

/// `docker compose` when the plugin answers, else `docker-compose` when installed.
fn detect_compose(docker: &str) -> Option<Vec<String>> {
    if find_program(docker).is_some() && quick_status(docker, &["compose", "version"]) == Some(true)
    {
        return Some(vec![docker.to_owned(), "compose".to_owned()]);
    }
    find_program("docker-compose").map(|p| vec![p.display().to_string()])
}

/// Why the engine cannot be used, or `None` when `docker version` reaches it.
fn engine_unreachable(docker: &str) -> Option<String> {
    match quick_status(docker, &["version", "--format", "{{.Server.Version}}"]) {
        Some(true) => None,
        Some(false) => {
            Some("docker: the engine does not answer (`docker version` failed)".to_owned())
        }
        None => Some("docker: the engine did not answer within 10 s".to_owned()),
    }
}

/// Runs a short probe at startup: `Some(success)`, or `None` if it did not finish in
/// 10 s (then it is killed).
fn quick_status(program: &str, args: &[&str]) -> Option<bool> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.success()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ProviderExecutor;
    use crate::model::Provider;

    #[test]
    fn commands_use_a_stable_project_and_the_applied_file() {
        let exec = DockerExecutor {
            docker: "docker".into(),
            compose: vec!["docker-compose".into()],
            unavailable: None,
        };
        let req = ApplyRequest {
            resource: "web".into(),
            provider: Provider::Docker,
            rendered_dir: "/r/docker/web".into(),
            work_dir: "/s/work/docker/web".into(),
            revision: "abc".into(),
            secrets: Default::default(),
        };
        let default = Target::default();
        assert_eq!(
            exec.apply_commands(&req, &default)[0].argv,
            [
                "docker-compose",
                "--project-name",
                "homelabd-web",
                "--file",
                "/s/work/docker/web/compose.yaml",
                "up",
                "-d",
                "--remove-orphans"
            ]
        );
        assert_eq!(
            exec.destroy_commands(&req, &default)[0].argv[5..],
            ["down", "--remove-orphans"]
        );
        assert!(exec.apply_commands(&req, &default)[0].env.is_empty());
        let tls = Target {
            docker_host: Some("tcp://nas:2376".into()),
            docker_cert_path: Some("/etc/homelabd/nas".into()),
            ..Target::default()
        };
        let env = &exec.apply_commands(&req, &tls)[0].env;
        assert_eq!(
            env.get("DOCKER_HOST").map(String::as_str),
            Some("tcp://nas:2376")
        );
        assert_eq!(
            env.get("DOCKER_CERT_PATH").map(String::as_str),
            Some("/etc/homelabd/nas")
        );
        assert_eq!(env.get("DOCKER_TLS_VERIFY").map(String::as_str), Some("1"));
        assert_eq!(exec.name(), "docker-compose");
    }
}
