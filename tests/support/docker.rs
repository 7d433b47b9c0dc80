//! This machine's real Docker engine for the integration tests: the local busybox test
//! image (nothing can be pulled here) and the containers of a resource's compose project.

use std::process::Command;

/// The image tests/support/build-test-image.sh imports; test definitions run it.
pub const TEST_IMAGE: &str = "homelabd-test/busybox:1";

/// Does a Docker engine answer here?
pub fn engine_ready() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds [`TEST_IMAGE`]; false (after a loud skip of `test`, a failure in strict mode)
/// when there is no engine or the image cannot be built.
pub fn docker_ready(test: &str) -> bool {
    if !engine_ready() {
        super::skip(test, "no Docker engine");
        return false;
    }
    let built = Command::new("bash")
        .arg(super::root().join("tests/support/build-test-image.sh"))
        .arg(TEST_IMAGE)
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        super::skip(test, "cannot build the local busybox test image");
    }
    built
}

/// The container ids of a resource's compose project (`homelabd-RESOURCE`), running or
/// not.
pub fn project_containers(resource: &str) -> Vec<String> {
    let ps = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!(
            "label=com.docker.compose.project=homelabd-{resource}"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Removes a resource's containers and then its compose networks: the engine has room for
/// only a few dozen networks, so leftovers from earlier runs would fail later applies.
pub fn remove_project(resource: &str) {
    for id in project_containers(resource) {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
    let networks = Command::new("docker")
        .args(["network", "ls", "-q", "--filter"])
        .arg(format!(
            "label=com.docker.compose.project=homelabd-{resource}"
        ))
        .output();
    if let Ok(networks) = networks {
        for id in String::from_utf8_lossy(&networks.stdout).split_whitespace() {
            let _ = Command::new("docker").args(["network", "rm", id]).output();
        }
    }
}

/// Removes a resource's containers and networks when dropped (test cleanup, also on
/// panic).
pub struct RemoveContainers(pub String);

impl Drop for RemoveContainers {
    fn drop(&mut self) {
        remove_project(&self.0);
    }
}

/// A suffix from the clock, so concurrent runs on one engine never share containers.
pub fn unique_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 0xffffff
    )
}

/// A definition of the container `name` running `image` through the docker-compose chart
/// on `/homelab/docker` (1 CPU, 0.25 GB), applied automatically and never pruned.
pub fn container_definition(name: &str, image: &str, self_heal: bool) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{image}\"\n  \
         policy: {{apply: auto, self_heal: {self_heal}, prune: false}}\n"
    )
}

/// Removes the compose projects (containers and networks) of the given resources when
/// dropped, so a test cleans up after itself on panic too.
pub struct RemoveProjects(pub Vec<String>);

impl Drop for RemoveProjects {
    fn drop(&mut self) {
        for r in &self.0 {
            remove_project(r);
        }
    }
}
