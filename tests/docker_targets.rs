//! Per-pool and per-node targets on two real Docker engines on one machine: this
//! machine's engine, and a second `dockerd` the test starts as root with its own socket,
//! data root, exec root and pid file, no bridge and no iptables, an empty config file
//! (the machine's default one sets `data-root`, which would conflict), and a network
//! namespace of its own (so it leaves the machine's `docker0` alone). The test
//! image is copied across with `docker save | docker load`.
//!
//! A pool names the second engine (`docker_host`), one of its nodes overrides it with
//! the first: each resource runs on its own engine only, `homelabd plan` and `homelabd
//! status` show the target, and drift and self-heal work on both engines. Skipped loudly
//! (failed under HOMELABD_TEST_STRICT=1) without root, dockerd or a Docker engine.

mod support;

use homelabd::reconcile::ResourceState;
use homelabd::store::{DeviationRecord, ResourceRecord, Store};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::daemon::{DaemonCommand, wait_for_store};
use support::docker::{RemoveProjects, TEST_IMAGE, docker_ready, unique_suffix};
use support::{git_commit_all, repo_with, write};

/// A second Docker engine, stopped (with its containers) when dropped.
struct SecondEngine {
    child: Child,
    dir: tempfile::TempDir,
}

impl SecondEngine {
    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// `docker` against this engine.
    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host());
        c
    }

    fn start(test: &str) -> Option<SecondEngine> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            support::skip(test, "a second dockerd needs root");
            return None;
        }
        let Some(dockerd) = support::tool("dockerd") else {
            support::skip(test, "dockerd is not installed");
            return None;
        };
        // A short path: a unix socket path has at most 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("hld-engine")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let Some(unshare) = support::tool("unshare") else {
            support::skip(test, "unshare (util-linux) is not installed");
            return None;
        };
        let ns = format!("homelabd-test-{}", unique_suffix());
        // In a network namespace of its own: a dockerd started with `--bridge none`
        // deletes the `docker0` interface it finds, which the machine's engine needs.
        let child = Command::new(unshare)
            .args(["--net", "--"])
            .arg(dockerd)
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            // Its own containerd namespaces: the machine's engine may share containerd.
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let engine = SecondEngine { child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = engine
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if up {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the second dockerd did not answer within 60 s:\n{}",
                std::fs::read_to_string(engine.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // Nothing can be pulled here: the test image is copied from the first engine.
        let mut save = Command::new("docker")
            .args(["save", TEST_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let load = engine
            .docker()
            .arg("load")
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save failed");
        assert!(
            load.status.success(),
            "{}",
            String::from_utf8_lossy(&load.stderr)
        );
        Some(engine)
    }

    /// Container ids of a resource's compose project on this engine.
    fn containers(&self, resource: &str) -> Vec<String> {
        ids(self.docker(), resource)
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if let Ok(out) = self.docker().args(["ps", "-aq"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.docker().args(["rm", "-f", id]).output();
            }
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Container ids of `resource`'s compose project on the engine `docker` talks to.
fn ids(mut docker: Command, resource: &str) -> Vec<String> {
    let out = docker
        .args(["ps", "-aq", "--no-trunc", "--filter"])
        .arg(format!(
            "label=com.docker.compose.project=homelabd-{resource}"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn first_engine_containers(resource: &str) -> Vec<String> {
    ids(Command::new("docker"), resource)
}

/// The machine's own engine, as the docker CLI reaches it by default.
fn first_engine() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// Two nodes on two engines: the pool's engine (the second one) and a node overriding it.
fn pool(second: &str, first: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: ResourcePool\nmetadata:\n  name: two-engines\nspec:\n  \
         path: /homelab/two-engines\n  pool_type: docker\n  provider: docker\n  \
         properties:\n    docker_host: \"{second}\"\n  nodes:\n    \
         - name: engine-a\n      cpu: 8\n      memory_gb: 16\n      storage_gb: 500\n      \
         properties:\n        docker_host: \"{first}\"\n    \
         - name: engine-b\n      cpu: 8\n      memory_gb: 16\n      storage_gb: 500\n"
    )
}

fn definition(name: &str, node: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/two-engines, node: {node}}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{TEST_IMAGE}\"\n  \
         policy: {{apply: auto, self_heal: true, prune: false}}\n"
    )
}

struct Seen {
    resources: Vec<ResourceRecord>,
    deviations: Vec<DeviationRecord>,
}

async fn seen(store: &Store) -> Option<Seen> {
    Some(Seen {
        resources: store.resources().await.ok()?,
        deviations: store.deviations(false, 1000).await.ok()?,
    })
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for r in &self.resources {
            writeln!(f, "{} {} {:?}", r.name, r.state, r.reason)?;
        }
        for d in &self.deviations {
            writeln!(f, "{} {} {:?}", d.resource, d.key, d.resolved_by)?;
        }
        Ok(())
    }
}

/// Removes the container `id` behind homelabd's back and waits until self-heal has
/// brought a new one back on the same engine.
async fn remove_and_heal(
    url: &str,
    daemon: &support::daemon::Daemon,
    name: &str,
    mut docker: Command,
    id: &str,
) {
    let rm = docker.args(["rm", "-f", id]).output().unwrap();
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    wait_for_store(
        url,
        daemon,
        90,
        &format!("{name} healed"),
        seen,
        |s: &Seen| {
            s.deviations.iter().any(|d| {
                d.resource == name
                    && (d.deviation_type == "missing" || d.key.ends_with("/state"))
                    && d.resolved_by.as_deref() == Some("self-heal")
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_resource_runs_on_the_engine_its_pool_or_node_names_and_heals_there() {
    let test = "each_resource_runs_on_the_engine_its_pool_or_node_names_and_heals_there";
    if !docker_ready(test) {
        return;
    }
    let Some(engine) = SecondEngine::start(test) else {
        return;
    };
    let id = unique_suffix();
    let (on_a, on_b) = (format!("on-a-{id}"), format!("on-b-{id}"));
    let _cleanup = RemoveProjects(vec![on_a.clone(), on_b.clone()]);
    let repo = repo_with(&[
        (&on_a, definition(&on_a, "engine-a")),
        (&on_b, definition(&on_b, "engine-b")),
    ]);
    write(
        repo.path(),
        "pools/two-engines.yaml",
        &pool(&engine.host(), &first_engine()),
    );
    git_commit_all(repo.path(), "two engines");

    // The plan names each resource's engine: the node's own, or the pool's.
    let plan = support::homelabd(&["plan", repo.path().to_str().unwrap()]);
    let text = support::stdout(&plan);
    assert!(plan.status.success(), "{text}\n{}", support::stderr(&plan));
    let target_of = |name: &str| -> String {
        let mut lines = text.lines().skip_while(|l| !l.contains(name));
        lines
            .find(|l| l.trim_start().starts_with("target:"))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(target_of(&on_b).contains(&engine.host()), "{text}");
    assert!(target_of(&on_a).contains(&first_engine()), "{text}");

    let state = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let daemon = DaemonCommand::new(state.path())
        .repo(repo.path())
        .database(&url)
        .config(
            "[reconcile]\nobserve_schedule = \"*/2 * * * * *\"\nbackoff_base_seconds = 1\n\
             backoff_max_seconds = 4\n",
        )
        .spawn();
    wait_for_store(&url, &daemon, 120, "both applied", seen, |s: &Seen| {
        [&on_a, &on_b].iter().all(|n| {
            s.resources
                .iter()
                .any(|r| &r.name == *n && r.state == ResourceState::Applied)
        })
    })
    .await;
    // Each runs on its own engine, and only there.
    assert_eq!(
        engine.containers(&on_b).len(),
        1,
        "on-b runs on the second engine"
    );
    assert!(
        first_engine_containers(&on_b).is_empty(),
        "and not on the first"
    );
    assert_eq!(
        first_engine_containers(&on_a).len(),
        1,
        "on-a runs on the first engine"
    );
    assert!(engine.containers(&on_a).is_empty(), "and not on the second");

    // Status shows where each one goes.
    let status = support::stdout(&support::homelabd(&["status", "--database-url", &url]));
    let line = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line(&on_b).contains(&engine.host()), "{status}");
    assert!(line(&on_a).contains(&first_engine()), "{status}");

    // Drift and self-heal on both engines: removed by hand, found missing, brought back
    // on the engine it belongs to.
    let b = engine.containers(&on_b)[0].clone();
    remove_and_heal(&url, &daemon, &on_b, engine.docker(), &b).await;
    let back = engine.containers(&on_b);
    assert!(
        back.len() == 1 && back[0] != b,
        "a new container on the second engine: {back:?}"
    );
    assert!(first_engine_containers(&on_b).is_empty());
    let a = first_engine_containers(&on_a)[0].clone();
    remove_and_heal(&url, &daemon, &on_a, Command::new("docker"), &a).await;
    let back = first_engine_containers(&on_a);
    assert!(
        back.len() == 1 && back[0] != a,
        "a new container on the first engine: {back:?}"
    );

    // Moving a resource to the other engine: it starts there and stops on the old one.
    write(
        repo.path(),
        &format!("definitions/{on_a}.yaml"),
        &definition(&on_a, "engine-b"),
    );
    git_commit_all(repo.path(), "move on-a to the second engine");
    support::daemon::wait_until(&daemon, 90, "on-a moved", || {
        engine.containers(&on_a).len() == 1 && first_engine_containers(&on_a).is_empty()
    })
    .await;
}
