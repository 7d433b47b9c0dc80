//! Sticky placement: a resource stays where it was placed as long as it fits there and
//! its definition does not ask for elsewhere; new resources go around it; every move says
//! where from, where to and why. Runs the real pipeline on real repositories in temp
//! directories (the example homelab, and small ones written here).

mod support;

use homelabd::pipeline::{Engine, Outcome};
use homelabd::place::{Mode, Prior, Priors};
use homelabd::source::load_dir;
use std::path::Path;

fn run(dir: &Path, priors: &Priors, mode: Mode) -> Outcome {
    let snapshot = load_dir(dir, None).unwrap();
    Engine::new()
        .unwrap()
        .run_placed(&snapshot, priors, mode, &|_, _| None)
}

fn priors_of(outcome: &Outcome) -> Priors {
    outcome
        .decisions
        .iter()
        .map(|(name, d)| (name.clone(), Prior::of(d)))
        .collect()
}

fn nodes(outcome: &Outcome, name: &str) -> Vec<String> {
    outcome.decisions[name]
        .nodes
        .iter()
        .map(|n| n.name.clone())
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

#[test]
fn a_new_resource_that_sorts_first_moves_nothing_that_was_placed() {
    let repo = support::example_copy();
    let before = run(repo.path(), &Priors::new(), Mode::Sticky);
    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    let priors = priors_of(&before);
    support::write(repo.path(), "definitions/ci/aaa-first.yaml", AAA_FIRST);

    let after = run(repo.path(), &priors, Mode::Sticky);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    for name in before.decisions.keys() {
        assert_eq!(
            nodes(&after, name),
            nodes(&before, name),
            "{name} moved: {:?}",
            after.decisions[name].reasons
        );
        assert_eq!(after.decisions[name].moved, None, "{name}");
        // Kept resources render exactly as before: nothing to re-apply.
        assert_eq!(
            after.rendered[name].manifest.output_hash, before.rendered[name].manifest.output_hash,
            "{name}"
        );
    }
    let new = &after.decisions["aaa-first"];
    assert_eq!(new.pool, "/homelab/compute/general");
    assert_eq!(new.moved, None);
    let kept = after.decisions["jenkins"]
        .reasons
        .iter()
        .any(|r| r.contains("kept from the last placement"));
    assert!(kept, "{:?}", after.decisions["jenkins"].reasons);

    // What the daemon did before placement was sticky, and what a rebalance shows.
    let fresh = run(repo.path(), &priors, Mode::Rebalance);
    let moved: Vec<&str> = fresh
        .decisions
        .values()
        .filter(|d| d.moved.is_some())
        .map(|d| d.resource.as_str())
        .collect();
    assert!(moved.contains(&"jenkins"), "{moved:?}");
    assert!(moved.contains(&"nextcloud"), "{moved:?}");
    let jenkins = fresh.decisions["jenkins"].moved.as_ref().unwrap();
    assert!(jenkins.destructive, "a Proxmox VM is recreated elsewhere");
    assert_eq!(jenkins.from, nodes(&before, "jenkins").join(", "));
    assert!(
        fresh.decisions["jenkins"].reasons[0].starts_with(&format!(
            "moves from {} to {} because a fresh placement",
            jenkins.from, jenkins.to
        )),
        "{:?}",
        fresh.decisions["jenkins"].reasons
    );
}

/// A small homelab: one pool of `nodes` (name, cpu, memory), one workload type.
fn lab(dir: &Path, nodes: &[(&str, u32, u32, &[&str])]) {
    let mut pool = String::from(
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
",
    );
    for (name, cpu, mem, gpus) in nodes {
        pool.push_str(&format!(
            "    - name: {name}\n      cpu: {cpu}\n      memory_gb: {mem}\n      storage_gb: 1000\n"
        ));
        if !gpus.is_empty() {
            pool.push_str("      gpus:\n");
            for pci in *gpus {
                pool.push_str(&format!(
                    "        - {{ model: NVIDIA RTX 3090, pci_address: \"{pci}\", memory_gb: 24 }}\n"
                ));
            }
        }
    }
    support::write(dir, "pools/vms.yaml", &pool);
    support::write(
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
}

/// A VM definition; `extra` lines go under `spec:` (two-space indented).
fn vm(dir: &Path, name: &str, cpu: u32, memory: u32, extra: &str) {
    support::write(
        dir,
        &format!("definitions/{name}.yaml"),
        &format!(
            "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: {{ name: {name} }}
spec:
  resource_type: compute
  workload_type: web
  requirements: {{ cpu: {cpu}, memory_gb: {memory}, storage_gb: 10 }}
{extra}"
        ),
    );
}

#[test]
fn gpu_holders_keep_their_gpu_when_a_new_gpu_workload_sorts_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab(
        d,
        &[
            ("gpu-a", 32, 128, &["0000:01:00.0"]),
            ("gpu-b", 32, 128, &["0000:02:00.0", "0000:03:00.0"]),
        ],
    );
    let gpu_vm = |name: &str| {
        support::write(
            d,
            &format!("definitions/{name}.yaml"),
            &format!(
                "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: {{ name: {name} }}
spec:
  resource_type: compute
  workload_type: web
  requirements: {{ cpu: 4, memory_gb: 8, storage_gb: 10, gpu: true }}
"
            ),
        )
    };
    gpu_vm("zz-infer");
    gpu_vm("zz-train");
    let before = run(d, &Priors::new(), Mode::Sticky);
    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    let priors = priors_of(&before);
    gpu_vm("aa-new");
    let after = run(d, &priors, Mode::Sticky);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    for name in ["zz-infer", "zz-train"] {
        assert_eq!(
            after.decisions[name].gpus, before.decisions[name].gpus,
            "{name}"
        );
        assert_eq!(after.decisions[name].moved, None);
    }
    // The newcomer gets the one GPU left, not one somebody holds.
    let held: Vec<String> = ["zz-infer", "zz-train"]
        .iter()
        .map(|n| before.decisions[*n].gpus[0].pci_address.clone())
        .collect();
    let got = &after.decisions["aa-new"].gpus[0].pci_address;
    assert!(!held.contains(got), "{got} was already held: {held:?}");
}

#[test]
fn ha_replicas_keep_their_nodes_and_only_the_replica_on_a_lost_node_moves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let four: &[(&str, u32, u32, &[&str])] = &[
        ("n1", 16, 64, &[]),
        ("n2", 16, 64, &[]),
        ("n3", 16, 64, &[]),
        ("n4", 16, 64, &[]),
    ];
    lab(d, four);
    support::write(
        d,
        "definitions/web.yaml",
        "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: web }
spec:
  resource_type: compute
  workload_type: web
  requirements: { cpu: 4, memory_gb: 8, storage_gb: 10, high_availability: true, replicas: 3 }
",
    );
    let before = run(d, &Priors::new(), Mode::Sticky);
    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    let was = nodes(&before, "web");
    assert_eq!(was.len(), 3);
    // A big newcomer that would be placed first by name does not displace a replica.
    vm(d, "aaa", 10, 40, "");
    let after = run(d, &priors_of(&before), Mode::Sticky);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    assert_eq!(nodes(&after, "web"), was);
    assert_eq!(after.decisions["web"].moved, None);

    // One node leaves the pool: only the replica that ran there moves (to the node none
    // of its replicas used), the other two stay, and the move names the node.
    let gone = was[1].clone();
    let remaining: Vec<(&str, u32, u32, &[&str])> =
        four.iter().filter(|n| n.0 != gone).copied().collect();
    lab(d, &remaining);
    let priors = priors_of(&after);
    let moved = run(d, &priors, Mode::Sticky);
    assert!(!moved.has_errors(), "{:#?}", moved.diagnostics);
    let now = nodes(&moved, "web");
    let spare = ["n1", "n2", "n3", "n4"]
        .into_iter()
        .find(|n| !was.iter().any(|w| w == n))
        .unwrap();
    assert_eq!(now, [was[0].as_str(), spare, was[2].as_str()]);
    let web = &moved.decisions["web"];
    let m = web.moved.as_ref().expect("a move");
    assert_eq!(
        m.because,
        format!("node {gone} is no longer in pool /lab/vms")
    );
    assert!(m.destructive);
    assert_eq!(m.from, was.join(", "));
    assert!(
        web.reasons
            .iter()
            .any(|r| r.contains(&format!("replaces the replica on {gone}"))),
        "{:#?}",
        web.reasons
    );
    assert_eq!(moved.decisions["aaa"].moved, None, "aaa stays where it was");

    // With no node to spare, the lost replica cannot be replaced: the whole resource
    // is placed afresh, and fails to place with the reason.
    let three: Vec<(&str, u32, u32, &[&str])> =
        remaining.iter().filter(|n| n.0 != spare).copied().collect();
    lab(d, &three);
    let stuck = run(d, &priors_of(&moved), Mode::Sticky);
    assert!(stuck.has_errors());
    let text = format!("{:?}", stuck.diagnostics);
    assert!(
        text.contains(&format!("node {spare} is no longer in pool /lab/vms")),
        "{text}"
    );
}

#[test]
fn capacity_shrinking_under_a_pinned_resource_moves_its_neighbour_not_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab(d, &[("big", 16, 64, &[]), ("small", 16, 64, &[])]);
    vm(d, "pinned", 4, 24, "  placement: { node: big }\n");
    vm(d, "tenant", 4, 24, "  placement: { node: big }\n");
    let before = run(d, &Priors::new(), Mode::Sticky);
    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    assert_eq!(nodes(&before, "tenant"), ["big"]);
    // The tenant is no longer pinned; it stays on `big` while it fits.
    vm(d, "tenant", 4, 24, "");
    let still = run(d, &priors_of(&before), Mode::Sticky);
    assert_eq!(nodes(&still, "tenant"), ["big"]);

    // `big` loses memory: the pinned resource stays, the tenant moves and says why.
    lab(d, &[("big", 16, 32, &[]), ("small", 16, 64, &[])]);
    let after = run(d, &priors_of(&still), Mode::Sticky);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    assert_eq!(nodes(&after, "pinned"), ["big"]);
    assert_eq!(after.decisions["pinned"].moved, None);
    assert_eq!(nodes(&after, "tenant"), ["small"]);
    let m = after.decisions["tenant"].moved.as_ref().expect("a move");
    assert_eq!((m.from.as_str(), m.to.as_str()), ("big", "small"));
    assert!(
        m.because
            .starts_with("node big no longer has room for it (24 GB memory wanted, 8 GB free"),
        "{}",
        m.because
    );
    assert!(
        after.decisions["tenant"].reasons[0]
            .starts_with("moves from big to small because node big"),
        "{:?}",
        after.decisions["tenant"].reasons
    );

    // Shrunk below the pinned resource itself: it cannot move, so it is an error that
    // says it cannot stay.
    lab(d, &[("big", 16, 16, &[]), ("small", 16, 64, &[])]);
    let broken = run(d, &priors_of(&after), Mode::Sticky);
    let diag = broken
        .diagnostics
        .iter()
        .find(|x| x.name.as_deref() == Some("pinned"))
        .expect("pinned cannot be placed");
    assert!(
        diag.message
            .contains("it cannot stay where it was: node big no longer has room"),
        "{diag}"
    );
    assert_eq!(nodes(&broken, "tenant"), ["small"]);
}

#[test]
fn a_resource_that_grows_moves_itself_not_its_unchanged_neighbour() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab(d, &[("n1", 16, 32, &[]), ("n2", 16, 32, &[])]);
    vm(d, "a-grows", 2, 12, "  placement: { node: n1 }\n");
    vm(d, "b-stays", 2, 12, "  placement: { node: n1 }\n");
    let before = run(d, &Priors::new(), Mode::Sticky);
    assert!(!before.has_errors(), "{:#?}", before.diagnostics);
    vm(d, "a-grows", 2, 24, "");
    vm(d, "b-stays", 2, 12, "");
    let after = run(d, &priors_of(&before), Mode::Sticky);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    assert_eq!(nodes(&after, "b-stays"), ["n1"]);
    assert_eq!(after.decisions["b-stays"].moved, None);
    assert_eq!(nodes(&after, "a-grows"), ["n2"]);
    assert!(after.decisions["a-grows"].moved.is_some());
}

#[test]
fn an_invalid_definition_keeps_its_room() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    lab(d, &[("n1", 16, 32, &[]), ("n2", 16, 32, &[])]);
    vm(d, "zz-old", 2, 24, "  placement: { node: n1 }\n");
    let before = run(d, &Priors::new(), Mode::Sticky);
    let priors = priors_of(&before);
    // A typo makes zz-old invalid; it still runs on n1, so the newcomer must not go there.
    vm(d, "zz-old", 2, 24, "  placement: { nod: n1 }\n");
    vm(d, "aa-new", 2, 24, "");
    let after = run(d, &priors, Mode::Sticky);
    assert!(after.catalog.invalid_resources.contains_key("zz-old"));
    assert_eq!(nodes(&after, "aa-new"), ["n2"]);
}

#[test]
fn plan_against_a_render_keeps_its_placements_and_rebalance_shows_the_moves() {
    let repo = support::example_copy();
    let out = tempfile::tempdir().unwrap();
    let (repo_s, out_s) = (repo.path().to_str().unwrap(), out.path().to_str().unwrap());
    let o = support::homelabd(&["render", repo_s, "--out", out_s]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    support::write(repo.path(), "definitions/ci/aaa-first.yaml", AAA_FIRST);

    let o = support::homelabd(&["plan", repo_s, "--against", out_s, "--output", "json"]);
    assert!(o.status.success(), "{}", support::stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let entry = |name: &str| {
        plan["plan"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["resource"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry("aaa-first")["action"], "create");
    for name in ["jenkins", "nextcloud", "postgresql", "ollama-server"] {
        assert_eq!(entry(name)["action"], "unchanged", "{}", entry(name));
        assert!(entry(name)["moved"].is_null());
    }
    assert_eq!(plan["totals"]["moved"], 0);

    let o = support::homelabd(&["plan", repo_s, "--against", out_s, "--rebalance"]);
    let text = support::stdout(&o);
    assert!(o.status.success(), "{text}{}", support::stderr(&o));
    let jenkins_move = text
        .lines()
        .find(|l| l.contains("moves from") && text_block_of(&text, l) == "jenkins")
        .unwrap_or_else(|| panic!("no move shown for jenkins:\n{text}"));
    assert!(
        jenkins_move.contains("because a fresh placement of every resource puts it there")
            && jenkins_move.contains("destructive"),
        "{jenkins_move}"
    );
    assert!(text.contains("moved to other nodes"), "{text}");

    let o = support::homelabd(&["plan", repo_s, "--rebalance"]);
    assert_eq!(o.status.code(), Some(2), "--rebalance needs --against");
}

/// The resource whose plan block `line` is in (blocks start with "action name  →").
fn text_block_of<'a>(text: &'a str, line: &str) -> &'a str {
    let mut current = "";
    for l in text.lines() {
        if !l.starts_with(' ') {
            current = l.split_whitespace().nth(1).unwrap_or("");
        }
        if l == line {
            return current;
        }
    }
    ""
}

#[test]
fn a_preview_places_the_head_around_the_base_and_explains_each_move() {
    let repo = support::example_copy();
    let dir = repo.path();
    let git = git2::Repository::init(dir).unwrap();
    git.set_head("refs/heads/main").unwrap();
    support::git_commit_all(dir, "base");
    let base = git.head().unwrap().peel_to_commit().unwrap();
    git.branch("feature", &base, false).unwrap();
    git.set_head("refs/heads/feature").unwrap();
    support::write(dir, "definitions/ci/aaa-first.yaml", AAA_FIRST);
    support::git_commit_all(dir, "add aaa-first");
    let preview = |format: &str| {
        let out = support::homelabd(&[
            "preview",
            "--base",
            "main",
            "--head",
            "feature",
            "--output",
            format,
            dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", support::stderr(&out));
        support::stdout(&out)
    };
    let report: serde_json::Value = serde_json::from_str(&preview("json")).unwrap();
    let changed: Vec<&str> = report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["change"] != "unchanged")
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(changed, ["aaa-first"], "{report:#}");

    // pve-01 shrinks under jenkins: the preview says it moves, from where, why, and
    // that the VM is recreated.
    let pool = std::fs::read_to_string(dir.join("pools/general.yaml")).unwrap();
    let shrunk = pool.replacen("memory_gb: 64", "memory_gb: 4", 1);
    assert_ne!(pool, shrunk);
    support::write(dir, "pools/general.yaml", &shrunk);
    support::git_commit_all(dir, "pve-01 loses memory");
    let md = preview("markdown");
    let line = md
        .lines()
        .find(|l| l.contains("moves from pve-01 to"))
        .unwrap_or_else(|| panic!("no move in:\n{md}"));
    assert!(
        line.contains(
            "because node pve-01 no longer has room for it (8 GB memory wanted, 4 GB free"
        ) && line.contains("destructive"),
        "{line}"
    );
}
