//! Drift observation cost with real containers: starts N containers (default 50) of the
//! local test image as N compose projects, then times full Docker observation passes
//! (`docker ps` + one `docker inspect` + the comparison) over them.
//!
//! Each project uses Docker's default bridge: fifty per-project networks would exhaust
//! Docker's default address pools (about 30 networks), which is a limit of the engine's
//! configuration, not of observation.
//!
//! Needs the Docker engine and the image from `tests/support/build-test-image.sh`.
//! Run: `cargo bench --bench docker_observe` (HOMELABD_BENCH_CONTAINERS=N to change N).

use homelabd::apply::docker::{COMPOSE_FILE, project_name};
use homelabd::model::Provider;
use homelabd::observe::docker::DockerObserver;
use homelabd::observe::{Observer, Target};
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGE: &str = "homelabd-test/busybox:1";

fn compose(name: &str) -> String {
    format!(
        "services:\n  \"{name}\":\n    image: \"{IMAGE}\"\n    network_mode: bridge\n    environment:\n      \"TZ\": \"UTC\"\n    \
         deploy:\n      resources:\n        limits:\n          cpus: \"0.1\"\n          memory: \"16M\"\n    \
         labels:\n      homelab.ai/resource: \"{name}\"\n      homelab.ai/managed-by: homelabd\n"
    )
}

fn main() {
    let n: usize = std::env::var("HOMELABD_BENCH_CONTAINERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let built = Command::new("bash")
        .arg("tests/support/build-test-image.sh")
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        eprintln!("docker_observe: no Docker engine or test image; nothing measured");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let names: Vec<String> = (0..n).map(|i| format!("bench-{i:03}")).collect();
    let started = Instant::now();
    let mut targets = Vec::new();
    for name in &names {
        let rendered = dir.path().join(name);
        std::fs::create_dir_all(&rendered).expect("dir");
        std::fs::write(rendered.join(COMPOSE_FILE), compose(name)).expect("write");
        let up = Command::new("docker-compose")
            .args(["--project-name", &project_name(name), "--file"])
            .arg(rendered.join(COMPOSE_FILE))
            .args(["up", "-d"])
            .output()
            .expect("docker-compose");
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        targets.push(Target {
            resource: name.clone(),
            provider: Provider::Docker,
            rendered_dir: rendered.clone(),
            work_dir: rendered,
            secrets: Default::default(),
        });
    }
    println!("started {n} containers in {:.1?}", started.elapsed());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let observer = DockerObserver::new("docker");
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let report = runtime
            .block_on(observer.observe(&targets))
            .expect("observe");
        times.push(t.elapsed());
        let drift: usize = report.observations.iter().map(|o| o.deviations.len()).sum();
        assert_eq!(report.observations.len(), n);
        assert_eq!(drift, 0, "containers as rendered");
    }
    times.sort();
    println!(
        "docker observation pass over {n} containers: min {:.0?}  median {:.0?}  max {:.0?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    for name in &names {
        let _ = Command::new("docker-compose")
            .args(["--project-name", &project_name(name), "--file"])
            .arg(dir.path().join(name).join(COMPOSE_FILE))
            .args(["down"])
            .output();
    }
}
