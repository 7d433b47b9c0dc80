//! Apply and drift end to end on this machine's real Docker engine, with the real
//! `homelabd daemon` and PostgreSQL (a throwaway cluster, or DATABASE_URL).
//!
//! Commit a docker definition → the container runs with the rendered limits; `docker rm
//! -f` it → a `missing` deviation is recorded and, with self_heal, the container comes
//! back and the deviation is resolved; change the definition → the container is
//! recreated; remove definitions → pruned where policy allows, orphaned and still running
//! where it does not; a hanging tool is killed at its timeout, recorded and backed off;
//! kill -9 of the daemon mid-apply → the run is marked interrupted and redone on restart.
//!
//! No image can be pulled here: tests/support/build-test-image.sh imports a tiny busybox
//! image first.

mod support;

use homelabd::reconcile::ResourceState;
use homelabd::store::{ApplyRunRecord, RunState, Store};
use std::path::Path;
use std::process::Command;
use support::daemon::{Daemon, DaemonCommand};
use support::docker::{RemoveProjects, docker_ready, project_containers, unique_suffix};
use support::github_sim::GithubSim;
use support::seen::wait_for_seen as wait_for;
use support::{git_commit_all, repo_with, write};

const IMAGE: &str = support::docker::TEST_IMAGE;

fn definition(name: &str, memory_gb: f64, env_tz: &str, prune: bool) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: {memory_gb}}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{IMAGE}\"\n      \
         env: {{TZ: \"{env_tz}\"}}\n  \
         policy: {{apply: auto, self_heal: true, prune: {prune}}}\n"
    )
}

/// A daemon on `repo` and the database `db`, with `config` (see [`config`]).
fn start_daemon(repo: &Path, state: &Path, db: &str, config: &str) -> Daemon {
    DaemonCommand::new(state)
        .repo(repo)
        .database(db)
        .config(config)
        .spawn()
}

/// The config every test daemon runs with: fast observation and backoff.
fn config(extra: &str) -> String {
    format!(
        "[reconcile]\nobserve_schedule = \"*/2 * * * * *\"\nbackoff_base_seconds = 1\n\
         backoff_max_seconds = 4\nmax_prune_fraction = 0.5\n{extra}"
    )
}

/// The containers of a resource's compose project: (id, running, memory limit, env).
fn containers(resource: &str) -> Vec<(String, bool, i64, Vec<String>)> {
    let ids = project_containers(resource);
    if ids.is_empty() {
        return Vec::new();
    }
    let out = Command::new("docker")
        .arg("inspect")
        .args(&ids)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["Id"].as_str().unwrap_or("").to_owned(),
                c["State"]["Running"].as_bool().unwrap_or(false),
                c["HostConfig"]["Memory"].as_i64().unwrap_or(0),
                c["Config"]["Env"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_apply_drift_self_heal_update_and_prune() {
    let test = "docker_apply_drift_self_heal_update_and_prune";
    if !docker_ready(test) {
        return;
    }
    let Some((_pg, url)) = support::store::postgres(test).await else {
        return;
    };
    let id = unique_suffix();
    let web = format!("web-{id}");
    let keep = format!("keep-{id}");
    let gone = format!("gone-{id}");
    let _cleanup = RemoveProjects(vec![web.clone(), keep.clone(), gone.clone()]);
    let repo = repo_with(&[
        (&web, definition(&web, 0.25, "UTC", true)),
        (&keep, definition(&keep, 0.25, "UTC", false)),
        (&gone, definition(&gone, 0.25, "UTC", true)),
    ]);
    let state = tempfile::tempdir().unwrap();
    let daemon = start_daemon(repo.path(), &state.path().join("s"), &url, &config(""));

    // 1. Applied by the daemon: the containers run with the rendered memory limit.
    wait_for(&url, &daemon, 120, "three resources applied", |s| {
        [&web, &keep, &gone].iter().all(|n| {
            s.resource(n)
                .is_some_and(|r| r.state == ResourceState::Applied)
        })
    })
    .await;
    let c = containers(&web);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].1, "container running");
    assert_eq!(c[0].2, 256 << 20, "memory limit as rendered");
    let first_id = c[0].0.clone();

    // 2. Removed by hand → a `missing` deviation in the store (or, when the drift
    //    check catches Docker mid-removal, the container in state "removing"); self-heal
    //    brings it back and resolves the deviation.
    let rm = Command::new("docker")
        .args(["rm", "-f", &first_id])
        .output()
        .unwrap();
    assert!(rm.status.success());
    let s = wait_for(
        &url,
        &daemon,
        60,
        "missing deviation resolved by self-heal",
        |s| {
            s.deviations.iter().any(|d| {
                d.resource == web
                    && (d.deviation_type == "missing" || d.key.ends_with("/state"))
                    && d.resolved_by.as_deref() == Some("self-heal")
            })
        },
    )
    .await;
    let d = s
        .deviations
        .iter()
        .find(|d| d.resource == web && d.resolved_by.is_some())
        .unwrap();
    assert_eq!(d.severity, "critical");
    assert!(d.auto_correctable);
    assert!(d.resolved_at.unwrap() >= d.detected_at);
    let c = containers(&web);
    assert_eq!(c.len(), 1);
    assert!(c[0].1 && c[0].0 != first_id, "a new container runs: {c:?}");
    assert!(
        s.runs_in(&web, RunState::Succeeded) >= 2,
        "self-heal is a recorded apply"
    );

    // 3. A changed definition recreates the container with the new settings.
    write(
        repo.path(),
        &format!("definitions/{web}.yaml"),
        &definition(&web, 0.5, "Europe/Amsterdam", true),
    );
    git_commit_all(repo.path(), "more memory");
    wait_for(
        &url,
        &daemon,
        90,
        "container recreated with 512 MiB",
        |_| {
            containers(&web).first().is_some_and(|c| {
                c.1 && c.2 == 512 << 20 && c.3.contains(&"TZ=Europe/Amsterdam".to_owned())
            })
        },
    )
    .await;

    // 4. Removing definitions: prune destroys where policy allows; the other stays
    //    orphaned and keeps running.
    std::fs::remove_file(repo.path().join(format!("definitions/{gone}.yaml"))).unwrap();
    std::fs::remove_file(repo.path().join(format!("definitions/{keep}.yaml"))).unwrap();
    git_commit_all(repo.path(), "remove two");
    let s = wait_for(&url, &daemon, 90, "prune and orphan", |s| {
        s.resource(&gone).is_none()
            && s.resource(&keep)
                .is_some_and(|r| r.state == ResourceState::Orphaned)
    })
    .await;
    assert!(
        containers(&gone).is_empty(),
        "pruned resource's container is gone"
    );
    let kept = containers(&keep);
    assert!(
        kept.len() == 1 && kept[0].1,
        "orphaned one still runs: {kept:?}"
    );
    assert_eq!(s.resource(&web).unwrap().state, ResourceState::Applied);
    // No deviation was raised for the orphan's container.
    assert!(
        !s.deviations
            .iter()
            .any(|d| d.resource == keep || d.resource.contains(&keep))
    );
    let store = Store::connect(&url).await.unwrap();
    let audit = store.audit_log(1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "resource.pruned" && a.subject == gone)
    );
    // History is kept: the pruned resource is recorded destroyed, with its runs.
    let destroyed = store.resource(&gone).await.unwrap().expect("row kept");
    assert_eq!(destroyed.shown_state(), "destroyed");
    assert!(destroyed.destroyed_revision.is_some());
    let history = store.apply_runs(Some(&gone), 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|r| (r.operation.as_str(), r.state.as_str()))
            .collect::<Vec<_>>(),
        vec![("destroy", "succeeded"), ("apply", "succeeded")],
        "the apply and the destroy are both kept"
    );
    let plain = support::homelabd(&["status", "--database-url", &url]);
    assert!(
        !support::stdout(&plain).contains(&gone),
        "plain status lists what exists:\n{}",
        support::stdout(&plain)
    );
    let all = support::homelabd(&["status", "--all", "--database-url", &url]);
    let line = support::stdout(&all)
        .lines()
        .find(|l| l.starts_with(&gone))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("status --all lists {gone}:\n{}", support::stdout(&all)));
    assert!(
        line.contains("destroyed") && line.contains("last run: destroy succeeded"),
        "{line}"
    );

    // 5. Defined again: applied again, and its history continues on the same record.
    write(
        repo.path(),
        &format!("definitions/{gone}.yaml"),
        &definition(&gone, 0.25, "UTC", true),
    );
    git_commit_all(repo.path(), "bring one back");
    let s = wait_for(&url, &daemon, 90, "re-added resource applied", |s| {
        s.resource(&gone)
            .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    assert_eq!(
        s.runs_in(&gone, RunState::Succeeded),
        3,
        "apply, destroy, apply"
    );
    assert_eq!(s.resource(&gone).unwrap().destroyed_at, None);
    assert_eq!(containers(&gone).len(), 1, "running again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_tool_is_killed_recorded_and_backed_off() {
    let test = "a_hanging_tool_is_killed_recorded_and_backed_off";
    if !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let name = format!("hang-{id}");
    let repo = repo_with(&[(&name, definition(&name, 0.25, "UTC", false))]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    // A "compose tool" that never finishes.
    let daemon = start_daemon(
        repo.path(),
        &state_dir,
        &url,
        &config(
            "[executors]\ntimeout_seconds = 2\n[executors.docker]\ncompose_command = [\"sh\", \"-c\", \"sleep 600\", \"compose\"]\n",
        ),
    );
    let s = wait_for(&url, &daemon, 60, "two timed-out runs", |s| {
        s.runs_in(&name, RunState::Failed) >= 2
    })
    .await;
    let runs: Vec<&ApplyRunRecord> = s.runs.iter().filter(|r| r.resource == name).collect();
    let last = runs[0];
    assert!(
        last.error.as_deref().unwrap_or("").contains("timed out"),
        "{last:?}"
    );
    assert!(last.duration_ms.unwrap() < 10_000);
    assert_eq!(last.argv[0][0], "sh");
    // Backed off: the second attempt did not start right after the first ended.
    let (newer, older) = (runs[0], runs[1]);
    let gap = newer.started_at - older.finished_at.unwrap();
    assert!(gap >= chrono::Duration::milliseconds(900), "gap {gap}");
    let r = s.resource(&name).unwrap();
    assert_eq!(r.state, ResourceState::ApplyFailed);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .starts_with("apply failed: sh timed out"),
        "{r:?}"
    );
    // Status shows it too.
    let status = support::homelabd(&["status", "--database-url", &url]);
    assert!(
        support::stdout(&status).contains("timed out"),
        "{}",
        support::stdout(&status)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_an_apply_is_marked_interrupted_and_redone() {
    let test = "kill_9_during_an_apply_is_marked_interrupted_and_redone";
    if !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let name = format!("crash-{id}");
    let _cleanup = RemoveProjects(vec![name.clone()]);
    let repo = repo_with(&[(&name, definition(&name, 0.25, "UTC", false))]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    let compose = support::tool("docker-compose")
        .map(|p| format!("[\"{}\"]", p.display()))
        .unwrap_or_else(|| "[\"docker\", \"compose\"]".to_owned());
    let slow = format!(
        "[executors.docker]\ncompose_command = [\"sh\", \"-c\", \"sleep 4; exec \\\"$0\\\" \\\"$@\\\"\", {}]\n",
        compose.trim_start_matches('[').trim_end_matches(']')
    );
    let mut daemon = start_daemon(repo.path(), &state_dir, &url, &config(&slow));
    wait_for(&url, &daemon, 60, "an apply running", |s| {
        s.runs_in(&name, RunState::Running) == 1
    })
    .await;
    daemon.kill9();
    drop(daemon);

    let daemon = start_daemon(repo.path(), &state_dir, &url, &config(""));
    let s = wait_for(&url, &daemon, 90, "interrupted then applied", |s| {
        s.runs_in(&name, RunState::Interrupted) == 1
            && s.runs_in(&name, RunState::Succeeded) >= 1
            && s.resource(&name)
                .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    assert_eq!(s.runs_in(&name, RunState::Running), 0);
    let c = containers(&name);
    assert_eq!(c.len(), 1, "one container, not two: {c:?}");
}

/// A free TCP port on this machine (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn published(name: &str, host_port: u16) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{IMAGE}\"\n      \
         ports: [{{name: http, container_port: 8080, host_port: {host_port}}}]\n  \
         policy: {{apply: auto, self_heal: true, prune: true}}\n"
    )
}

/// Where a published port answers is recorded after the apply (and each observation),
/// shown by `homelabd status`, notified, follows a changed port, and is named by the
/// preview of a pull request that removes the container.
#[tokio::test(flavor = "multi_thread")]
async fn a_published_port_is_recorded_as_the_endpoint_and_answers_there() {
    let test = "a_published_port_is_recorded_as_the_endpoint_and_answers_there";
    if !docker_ready(test) {
        return;
    }
    let Some((_pg, url)) = support::store::postgres(test).await else {
        return;
    };
    let name = format!("ports-{}", unique_suffix());
    let _cleanup = RemoveProjects(vec![name.clone()]);
    let port = free_port();
    let repo = repo_with(&[(&name, published(&name, port))]);
    let state = tempfile::tempdir().unwrap();
    // Pull requests are previewed (through the GitHub simulator) to show a removal's
    // effect on the address.
    let sim = GithubSim::start("example", "homelab", "ghp-daemon-token", None).await;
    let github = format!(
        "[propose.github]\nowner = \"example\"\nrepo = \"homelab\"\napi_url = \"{}\"\n",
        sim.url
    );
    let secret = "webhook-secret-0123456789";
    let daemon = DaemonCommand::new(&state.path().join("s"))
        .repo(repo.path())
        .database(&url)
        .config(&config(&github))
        .env("HOMELABD_WEBHOOK_SECRET", secret)
        .env("HOMELABD_GITHUB_TOKEN", "ghp-daemon-token")
        .spawn();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let expected = format!("{host}:{port}");
    let s = wait_for(&url, &daemon, 120, "endpoint recorded", |s| {
        s.resource(&name)
            .is_some_and(|r| r.address.as_deref() == Some(expected.as_str()))
    })
    .await;
    let r = s.resource(&name).unwrap();
    assert_eq!(r.endpoints.len(), 1, "{:?}", r.endpoints);
    assert_eq!(r.endpoints[0].kind, "docker/port");
    assert!(
        r.endpoints[0].name.ends_with(" 8080/tcp"),
        "{:?}",
        r.endpoints
    );
    // The recorded port is where the container really answers.
    let body = support::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("homelabd test image"), "{body}");
    let status = support::stdout(&support::homelabd(&["status", "--database-url", &url]));
    let line = status
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_default();
    assert!(
        line.contains(&expected),
        "status shows the address:\n{status}"
    );
    let store = Store::connect(&url).await.unwrap();
    let note = store
        .latest_notification("endpoints.changed")
        .await
        .unwrap()
        .expect("an endpoints.changed notification");
    assert_eq!(note.subject, name);
    assert!(note.summary.contains(&expected), "{}", note.summary);

    // A new port: the container moves, and so does the recorded endpoint.
    let moved = free_port();
    write(
        repo.path(),
        &format!("definitions/{name}.yaml"),
        &published(&name, moved),
    );
    git_commit_all(repo.path(), "another port");
    let expected = format!("{host}:{moved}");
    wait_for(&url, &daemon, 90, "endpoint moved", |s| {
        s.resource(&name)
            .is_some_and(|r| r.address.as_deref() == Some(expected.as_str()))
    })
    .await;
    let body = support::get(format!("http://127.0.0.1:{moved}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("homelabd test image"), "{body}");

    // A pull request that removes the definition: its preview says where the container
    // answers now and that the address stops answering once merged.
    let feature = tempfile::tempdir().unwrap();
    let checkout = feature.path().join("feature");
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(
        repo.path(),
        &[
            "worktree",
            "add",
            "-b",
            "feature",
            checkout.to_str().unwrap(),
        ],
    );
    git(
        &checkout,
        &["rm", "-q", &format!("definitions/{name}.yaml")],
    );
    git(&checkout, &["commit", "-q", "-m", "retire the container"]);
    let head = git(&checkout, &["rev-parse", "HEAD"]);
    let tracked = git(repo.path(), &["rev-parse", "--abbrev-ref", "HEAD"]);
    sim.open_pull(3, "feature", &head);
    let body = serde_json::json!({
        "action": "opened",
        "number": 3,
        "pull_request": {"number": 3, "head": {"sha": head, "ref": "feature"}, "base": {"ref": tracked}},
    })
    .to_string();
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let sent = support::http_client()
        .post(format!("http://127.0.0.1:{}/hooks/github", daemon.port))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "retire-1")
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), reqwest::StatusCode::ACCEPTED);
    support::daemon::wait_until(&daemon, 90, "the preview comment", || {
        !sim.comments().is_empty()
    })
    .await;
    let comment = sim.comments().pop().unwrap().body;
    assert!(comment.contains("### Addresses that change"), "{comment}");
    assert!(
        comment.contains(&format!(
            "`{name}` ({name} 8080/tcp at {expected}): it is destroyed, so these addresses stop answering"
        )),
        "{comment}"
    );
}
