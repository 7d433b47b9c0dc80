//! The real `homelabd daemon` on real git repositories and a real SQLite store: placement
//! is sticky across commits and restarts (taken from the store), and one changed
//! definition is one `resource.updated` audit row, however many neighbours share its
//! nodes.

mod support;

use homelabd::store::{AuditRecord, ResourceRecord, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::daemon::{Daemon, DaemonCommand, wait_for_store};
use support::{git_commit_all, write};

fn start(repo: &Path, state: &Path) -> Daemon {
    let config = state.with_extension("toml");
    // Nothing is applied: every resource waits for `homelabd apply`.
    std::fs::write(&config, "[policy]\napply = \"manual\"\n").unwrap();
    DaemonCommand::new(state)
        .repo(repo)
        .log_file(&state.with_extension("log"))
        .env("HOMELABD_CONFIG", &config)
        .spawn()
}

#[derive(Debug)]
struct View {
    revision: Option<String>,
    resources: BTreeMap<String, ResourceRecord>,
    audit: Vec<AuditRecord>,
}

async fn view(store: &Store) -> Option<View> {
    Some(View {
        revision: store.latest_revision().await.ok()?.map(|r| r.commit),
        resources: store
            .resources()
            .await
            .ok()?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect(),
        audit: store.audit_log(100_000).await.ok()?,
    })
}

/// Waits until `commit` is recorded and `name` was rendered from it.
async fn wait_rendered(url: &str, daemon: &Daemon, commit: &str, name: &str) -> View {
    wait_for_store(url, daemon, 60, name, view, |v| {
        v.revision.as_deref() == Some(commit)
            && v.resources
                .get(name)
                .is_some_and(|r| r.desired_revision.as_deref() == Some(commit))
    })
    .await
}

fn nodes(v: &View, name: &str) -> Vec<String> {
    v.resources[name]
        .placement
        .as_ref()
        .and_then(|p| p["nodes"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::to_owned))
        .collect()
}

fn updated(v: &View) -> Vec<&str> {
    v.audit
        .iter()
        .filter(|a| a.action == "resource.updated")
        .map(|a| a.subject.as_str())
        .collect()
}

const AAA_FIRST: &str = "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: aaa-first }
spec:
  resource_type: compute
  workload_type: ci-cd
  requirements: { cpu: 22, memory_gb: 60, storage_gb: 100 }
  placement: { pool: /homelab/compute/general }
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_vm_that_sorts_first_moves_nothing_even_after_a_restart() {
    let repo = support::example_copy();
    let state = tempfile::tempdir().unwrap();
    let state_dir: PathBuf = state.path().join("state");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    let first = git_commit_all(repo.path(), "example homelab");
    let mut daemon = start(repo.path(), &state_dir);
    let before = wait_rendered(&url, &daemon, &first, "jenkins").await;
    let placed: BTreeMap<&str, Vec<String>> = before
        .resources
        .keys()
        .map(|n| (n.as_str(), nodes(&before, n)))
        .collect();

    write(repo.path(), "definitions/ci/aaa-first.yaml", AAA_FIRST);
    let second = git_commit_all(repo.path(), "add aaa-first");
    let after = wait_rendered(&url, &daemon, &second, "aaa-first").await;
    for (name, was) in &placed {
        assert_eq!(&nodes(&after, name), was, "{name} moved");
        assert_eq!(
            after.resources[*name].desired_revision.as_deref(),
            Some(first.as_str()),
            "{name} was re-rendered"
        );
    }
    assert_eq!(updated(&after), Vec::<&str>::new());
    assert_eq!(
        after.resources["aaa-first"].pool.as_deref(),
        Some("/homelab/compute/general")
    );

    // A restarted daemon takes the placements from the store.
    daemon.kill9();
    drop(daemon);
    let daemon = start(repo.path(), &state_dir);
    write(
        repo.path(),
        "definitions/ci/aaa-second.yaml",
        &AAA_FIRST
            .replace("aaa-first", "aaa-second")
            .replace("cpu: 22, memory_gb: 60", "cpu: 4, memory_gb: 4"),
    );
    let third = git_commit_all(repo.path(), "add aaa-second");
    let last = wait_rendered(&url, &daemon, &third, "aaa-second").await;
    for (name, was) in &placed {
        assert_eq!(&nodes(&last, name), was, "{name} moved after the restart");
    }
    assert_eq!(nodes(&last, "aaa-first"), nodes(&after, "aaa-first"));
    assert_eq!(updated(&last), Vec::<&str>::new());
}

/// `n` VMs of 2 CPU / 4 GB in one pool of two nodes (so every node has many tenants).
fn crowded_repo(dir: &Path, n: usize) {
    write(
        dir,
        "pools/lab.yaml",
        "apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: lab }
spec: { path: /lab, pool_type: group }
---
apiVersion: homelab.ai/v1
kind: ResourcePool
metadata: { name: vms }
spec:
  path: /lab/vms
  pool_type: compute
  provider: proxmox
  properties: { endpoint: \"https://pve.example:8006/\", datastore: local-lvm, bridge: vmbr0, os_template: 9000 }
  nodes:
    - { name: pve-a, cpu: 128, memory_gb: 512, storage_gb: 10000 }
    - { name: pve-b, cpu: 128, memory_gb: 512, storage_gb: 10000 }
",
    );
    write(
        dir,
        "workload-types/web.yaml",
        "apiVersion: homelab.ai/v1
kind: WorkloadType
metadata: { name: web }
spec:
  tiers:
    minimal: { cpu: 1, memory_gb: 1 }
    standard: { cpu: 2, memory_gb: 4 }
    high-performance: { cpu: 8, memory_gb: 16 }
",
    );
    for i in 0..n {
        write(dir, &format!("definitions/vm-{i:02}.yaml"), &vm(i, 4));
    }
}

fn vm(i: usize, memory: u32) -> String {
    format!(
        "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: {{ name: vm-{i:02} }}
spec:
  resource_type: compute
  workload_type: web
  requirements: {{ cpu: 2, memory_gb: {memory}, storage_gb: 20 }}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_changed_definition_among_fifty_is_one_updated_row() {
    let repo = tempfile::tempdir().unwrap();
    crowded_repo(repo.path(), 50);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("state");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    let first = git_commit_all(repo.path(), "fifty vms");
    let daemon = start(repo.path(), &state_dir);
    let before = wait_for_store(&url, &daemon, 60, "fifty rendered", view, |v| {
        v.revision.as_deref() == Some(first.as_str())
            && v.resources.len() == 50
            && v.resources
                .values()
                .all(|r| r.desired_revision.as_deref() == Some(first.as_str()))
    })
    .await;
    let created = before
        .audit
        .iter()
        .filter(|a| a.action == "resource.created")
        .count();
    assert_eq!(created, 50);

    // vm-07 shares its node with two dozen others; only vm-07's output changes.
    write(repo.path(), "definitions/vm-07.yaml", &vm(7, 6));
    let second = git_commit_all(repo.path(), "more memory for vm-07");
    let after = wait_rendered(&url, &daemon, &second, "vm-07").await;
    assert_eq!(updated(&after), vec!["vm-07"]);
    let rerendered: Vec<&str> = after
        .resources
        .values()
        .filter(|r| r.desired_revision.as_deref() == Some(second.as_str()))
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(rerendered, vec!["vm-07"]);
    assert_eq!(nodes(&after, "vm-07"), nodes(&before, "vm-07"));
}
