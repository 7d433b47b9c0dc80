//! Sync windows and flapping limits end to end on this machine's real Docker engine,
//! with the real `homelabd daemon` on its embedded SQLite store.
//!
//! - A resource inside a deny window is not applied: it waits with the reason in status,
//!   and `homelabd apply NAME --ignore-windows` applies it anyway.
//! - An apply held outside its allow window runs by itself when the window opens.
//! - A resource whose apply always fails (its image is on a registry that refuses
//!   connections) is tried the flapping limit's number of times, then left `degraded`
//!   with a `resource.degraded` notification, and no further run starts.
//! - A container removed by hand again and again is self-healed up to the limit, then
//!   left `degraded` until `homelabd apply NAME`.
//!
//! No image can be pulled here: tests/support/build-test-image.sh imports a tiny busybox
//! image first.

mod support;

use homelabd::reconcile::ResourceState;
use homelabd::store::{RunState, Store};
use std::process::Command;
use support::daemon::{DaemonCommand, wait_for_store};
use support::docker::{RemoveProjects, docker_ready, project_containers, unique_suffix};
use support::seen::read as seen;
use support::{homelabd, repo_with};

const IMAGE: &str = support::docker::TEST_IMAGE;

/// A container resource running `image`, applied automatically, with `policy` added
/// (YAML flow mapping entries, e.g. `windows: [...]`).
fn definition(name: &str, image: &str, policy: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{image}\"\n  \
         policy: {{apply: auto, self_heal: false, prune: false, {policy}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deny_window_defers_an_apply_until_ignore_windows_overrides_it() {
    let test = "a_deny_window_defers_an_apply_until_ignore_windows_overrides_it";
    if !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let frozen = format!("frozen-{id}");
    let free = format!("free-{id}");
    let _cleanup = RemoveProjects(vec![frozen.clone(), free.clone()]);
    // A deny window every midnight for a whole day: always inside one. `free` opts out
    // of the configured default with an empty list.
    let repo = repo_with(&[
        (
            &frozen,
            definition(
                &frozen,
                IMAGE,
                "windows: [{schedule: \"0 0 * * *\", duration: 1d, kind: deny}]",
            ),
        ),
        (&free, definition(&free, IMAGE, "windows: []")),
    ]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    // The default allows only a window that does not open for months.
    let config =
        "[policy]\nwindows = [{ schedule = \"0 3 1 1 *\", duration = \"1h\", kind = \"allow\" }]\n";
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .config(config)
        .env("TZ", "UTC")
        .spawn();

    let reason = "rendered, not applied: inside deny window (0 0 * * * for 1d)";
    let s = wait_for_store(&url, &daemon, 120, "frozen held, free applied", seen, |s| {
        s.resource(&frozen)
            .and_then(|r| r.reason.as_deref())
            .is_some_and(|r| r.starts_with(reason))
            && s.resource(&free)
                .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    assert_eq!(s.runs_of(&frozen), 0, "nothing ran for it: {:?}", s.runs);
    assert!(project_containers(&frozen).is_empty());
    assert_eq!(project_containers(&free).len(), 1);
    let status = homelabd(&["status", "--database-url", &url]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(reason), "status shows the wait:\n{text}");

    // A plain `homelabd apply` respects the window and says why nothing ran.
    let held = homelabd(&["apply", &frozen, "--timeout", "60", "--database-url", &url]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&held.stdout),
        String::from_utf8_lossy(&held.stderr)
    );
    assert!(!held.status.success(), "not applied: {out}");
    assert!(out.contains("inside deny window"), "{out}");
    assert!(project_containers(&frozen).is_empty());

    // --ignore-windows applies it now.
    let apply = homelabd(&[
        "apply",
        &frozen,
        "--ignore-windows",
        "--timeout",
        "120",
        "--database-url",
        &url,
    ]);
    assert!(
        apply.status.success(),
        "{}{}",
        String::from_utf8_lossy(&apply.stdout),
        String::from_utf8_lossy(&apply.stderr)
    );
    let s = wait_for_store(&url, &daemon, 60, "frozen applied", seen, |s| {
        s.resource(&frozen)
            .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    assert_eq!(s.runs_of(&frozen), 1);
    assert_eq!(project_containers(&frozen).len(), 1);
    let audit = s
        .resource(&frozen)
        .and_then(|r| r.reason.clone())
        .unwrap_or_default();
    assert!(audit.contains("requested by `homelabd apply`"), "{audit}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_that_keeps_failing_is_degraded_after_the_flapping_limit() {
    let test = "a_resource_that_keeps_failing_is_degraded_after_the_flapping_limit";
    if !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let broken = format!("broken-{id}");
    let _cleanup = RemoveProjects(vec![broken.clone()]);
    // A registry that refuses connections: every `docker compose up` fails at once.
    let repo = repo_with(&[(
        &broken,
        definition(
            &broken,
            "127.0.0.1:9/homelabd/nosuch:1",
            "flapping: {max_attempts: 3}",
        ),
    )]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    // A resync every 2 s: scheduled passes must not undo the limit.
    let config = "[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n\
                  resync_schedule = \"*/2 * * * * *\"\n";
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .config(config)
        .spawn();

    let s = wait_for_store(&url, &daemon, 180, "broken degraded", seen, |s| {
        s.resource(&broken)
            .is_some_and(|r| r.state == ResourceState::Degraded)
    })
    .await;
    assert_eq!(s.runs_of(&broken), 3, "three attempts: {:?}", s.runs);
    let reason = s
        .resource(&broken)
        .and_then(|r| r.reason.clone())
        .unwrap_or_default();
    assert!(
        reason.starts_with("degraded: 3 automatic applies within 10m failed;")
            && reason.contains(&format!("homelabd apply {broken}")),
        "{reason}"
    );
    let store = Store::connect(&url).await.unwrap();
    let notes = store.notifications(100).await.unwrap();
    let degraded = notes
        .iter()
        .find(|n| n.event_type == "resource.degraded" && n.subject == broken)
        .expect("a resource.degraded notification");
    assert_eq!(degraded.details["max_attempts"], 3);

    // Well past the backoff, through several resyncs: no further run starts, and status
    // shows `degraded`.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let s = seen(&store).await.unwrap();
    assert_eq!(s.runs_of(&broken), 3, "no run after degraded: {:?}", s.runs);
    let status = homelabd(&["status", "--database-url", &url]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("degraded"), "{text}");

    // An operator's `homelabd reconcile NAME` tries again (and it fails again).
    let again = homelabd(&["reconcile", &broken, "--database-url", &url]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    wait_for_store(&url, &daemon, 120, "tried again", seen, |s| {
        s.runs_of(&broken) > 3
    })
    .await;
}

/// A window's schedule and duration, and the flapping window, are checked by
/// `homelabd validate` with the file and line of the value.
#[test]
fn bad_windows_are_validation_errors_with_file_and_line() {
    let repo = repo_with(&[
        (
            "nightly",
            definition(
                "nightly",
                IMAGE,
                "windows: [{schedule: \"0 25 * * *\", duration: 30s, kind: allow}], \
                 flapping: {window: 40d}",
            ),
        ),
        (
            "ok",
            definition(
                "ok",
                IMAGE,
                "windows: [{schedule: \"0 2 * * SAT\", duration: 1h30m, kind: allow}]",
            ),
        ),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["validate", "--output", "json"])
        .arg(repo.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "invalid: exit 1");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags: Vec<&serde_json::Value> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    let find = |pointer: &str| {
        diags
            .iter()
            .find(|d| d["pointer"] == pointer)
            .unwrap_or_else(|| panic!("{pointer} in {diags:?}"))
    };
    let schedule = find("/spec/policy/windows/0/schedule");
    assert_eq!(schedule["code"], "sync-window");
    assert_eq!(schedule["file"], "definitions/nightly.yaml");
    assert!(schedule["line"].as_u64().unwrap() > 1, "{schedule}");
    assert_eq!(schedule["found"], "0 25 * * *");
    let duration = find("/spec/policy/windows/0/duration");
    assert!(
        duration["message"]
            .as_str()
            .unwrap()
            .contains("from 1m to 31d"),
        "{duration}"
    );
    assert_eq!(find("/spec/policy/flapping/window")["code"], "flapping");
    assert!(
        diags.iter().all(|d| d["name"] == "nightly"),
        "only nightly is invalid: {diags:?}"
    );
}

/// Removes the resource's containers by hand (drift the observer sees as `missing`).
fn remove_containers(resource: &str) {
    for id in project_containers(resource) {
        let out = Command::new("docker")
            .args(["rm", "-f", &id])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn self_heal_stops_at_the_flapping_limit_when_drift_keeps_coming_back() {
    let test = "self_heal_stops_at_the_flapping_limit_when_drift_keeps_coming_back";
    if !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let name = format!("heal-{id}");
    let _cleanup = RemoveProjects(vec![name.clone()]);
    let def = definition(&name, IMAGE, "flapping: {max_attempts: 2, window: 10m}")
        .replace("self_heal: false", "self_heal: true");
    let repo = repo_with(&[(&name, def)]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    let config = "[reconcile]\nobserve_schedule = \"*/2 * * * * *\"\n";
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .config(config)
        .spawn();

    // 1. The first apply (one attempt).
    wait_for_store(&url, &daemon, 120, "applied", seen, |s| {
        s.resource(&name)
            .is_some_and(|r| r.state == ResourceState::Applied)
            && s.runs_of(&name) == 1
    })
    .await;
    assert_eq!(project_containers(&name).len(), 1);

    // 2. Removed by hand: self-heal puts it back (the second attempt).
    remove_containers(&name);
    wait_for_store(&url, &daemon, 120, "healed once", seen, |s| {
        s.runs_of(&name) == 2
            && s.runs.iter().all(|r| r.state == RunState::Succeeded)
            && s.resource(&name)
                .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    assert_eq!(project_containers(&name).len(), 1);

    // 3. Removed again: the limit is reached, so it stays removed and is degraded.
    remove_containers(&name);
    let s = wait_for_store(&url, &daemon, 120, "degraded", seen, |s| {
        s.resource(&name)
            .is_some_and(|r| r.state == ResourceState::Degraded)
    })
    .await;
    let reason = s
        .resource(&name)
        .and_then(|r| r.reason.clone())
        .unwrap_or_default();
    assert!(
        reason.starts_with(
            "degraded: 2 automatic applies within 10m corrected drift that came back;"
        ),
        "{reason}"
    );
    let store = Store::connect(&url).await.unwrap();
    assert!(
        store
            .notifications(100)
            .await
            .unwrap()
            .iter()
            .any(|n| n.event_type == "resource.degraded" && n.subject == name),
        "a resource.degraded notification"
    );
    // Several more observations: the drift stays, nothing more runs.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let s = seen(&store).await.unwrap();
    assert_eq!(s.runs_of(&name), 2, "no heal after degraded: {:?}", s.runs);
    assert!(project_containers(&name).is_empty());

    // 4. `homelabd apply NAME` puts it back and starts the count afresh.
    let apply = homelabd(&["apply", &name, "--timeout", "120", "--database-url", &url]);
    assert!(
        apply.status.success(),
        "{}{}",
        String::from_utf8_lossy(&apply.stdout),
        String::from_utf8_lossy(&apply.stderr)
    );
    wait_for_store(&url, &daemon, 60, "applied again", seen, |s| {
        s.resource(&name)
            .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    assert_eq!(project_containers(&name).len(), 1);
}

/// An apply held outside its allow window runs by itself once the window opens: no push,
/// no request, the daemon wakes at the opening it showed in status.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_apply_runs_when_its_window_opens() {
    use chrono::{DurationRound, Timelike};
    let test = "a_held_apply_runs_when_its_window_opens";
    if !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let name = format!("nightly-{id}");
    let _cleanup = RemoveProjects(vec![name.clone()]);
    // The window opens at the start of a minute 30 to 90 s from now, read in UTC.
    let opens = (chrono::Utc::now() + chrono::Duration::seconds(90))
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let schedule = format!("{} {} * * *", opens.minute(), opens.hour());
    let policy = format!("windows: [{{schedule: \"{schedule}\", duration: 1h, kind: allow}}]");
    let repo = repo_with(&[(&name, definition(&name, IMAGE, &policy))]);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo.path())
        .env("TZ", "UTC")
        .spawn();

    let reason = format!(
        "rendered, not applied: outside sync window; next window opens {}",
        opens.format("%Y-%m-%d %H:%M +00:00")
    );
    let s = wait_for_store(&url, &daemon, 60, "held until the window", seen, |s| {
        s.resource(&name)
            .is_some_and(|r| r.reason.as_deref() == Some(reason.as_str()))
    })
    .await;
    assert_eq!(s.runs_of(&name), 0);
    let s = wait_for_store(&url, &daemon, 180, "applied in the window", seen, |s| {
        s.resource(&name)
            .is_some_and(|r| r.state == ResourceState::Applied)
    })
    .await;
    let run = s.runs.iter().find(|r| r.resource == name).unwrap();
    assert!(run.started_at >= opens, "{} before {opens}", run.started_at);
    assert_eq!(project_containers(&name).len(), 1);
}
