//! Live load in placement: guests and containers that no definition accounts for, and
//! memory a node measures in use beyond its bookings, count against the node's capacity
//! for new and moved resources — never for resources kept where they run — and the
//! reasons say so. Runs the real pipeline on a copy of the example homelab.

mod support;

use homelabd::pipeline::{Engine, Outcome};
use homelabd::place::{LiveLoad, Mode, NodeLoad, Prior, Priors};
use homelabd::source::load_dir;
use std::path::Path;

fn run(dir: &Path, priors: &Priors, live: &LiveLoad) -> Outcome {
    let snapshot = load_dir(dir, None).unwrap();
    Engine::new()
        .unwrap()
        .run_live(&snapshot, priors, live, Mode::Sticky, &|_, _| None)
}

fn node_of(outcome: &Outcome, name: &str) -> String {
    outcome.decisions[name].nodes[0].name.clone()
}

const BIG: &str = "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata: { name: big-build }
spec:
  resource_type: compute
  workload_type: ci-cd
  requirements: { cpu: 4, memory_gb: 40, storage_gb: 50 }
  placement: { pool: /homelab/compute/general }
";

fn unmanaged(memory_gb: f64, names: &[&str]) -> NodeLoad {
    NodeLoad {
        cpu: 4,
        memory_gb,
        unmanaged: names.iter().map(|n| n.to_string()).collect(),
        seen_at: Some("2026-01-01T10:00:00Z".into()),
        ..NodeLoad::default()
    }
}

#[test]
fn unmanaged_guests_push_new_resources_elsewhere_and_the_reasons_name_them() {
    let repo = support::example_copy();
    support::write(repo.path(), "definitions/ci/big-build.yaml", BIG);
    let blind = run(repo.path(), &Priors::new(), &LiveLoad::new());
    assert!(!blind.has_errors(), "{:#?}", blind.diagnostics);
    let first_choice = node_of(&blind, "big-build");

    let live = LiveLoad::from([(
        first_choice.clone(),
        unmanaged(40.0, &["legacy-nas", "pihole"]),
    )]);
    let seen = run(repo.path(), &Priors::new(), &live);
    assert!(!seen.has_errors(), "{:#?}", seen.diagnostics);
    let d = &seen.decisions["big-build"];
    assert_ne!(d.nodes[0].name, first_choice, "{:#?}", d.reasons);
    let refused = d
        .reasons
        .iter()
        .find(|r| r.starts_with("nodes without room"))
        .unwrap_or_else(|| panic!("{:#?}", d.reasons));
    assert!(
        refused.contains(&format!("{first_choice}: "))
            && refused.contains("40 GB, 4 CPU used by 2 guest(s) not in git: legacy-nas, pihole"),
        "{refused}"
    );
}

#[test]
fn a_kept_resource_stays_on_a_node_that_live_load_fills_and_measured_use_counts_beyond_bookings() {
    let repo = support::example_copy();
    support::write(repo.path(), "definitions/ci/big-build.yaml", BIG);
    let before = run(repo.path(), &Priors::new(), &LiveLoad::new());
    let priors: Priors = before
        .decisions
        .iter()
        .map(|(n, d)| (n.clone(), Prior::of(d)))
        .collect();
    let home = node_of(&before, "big-build");
    // Everything on its node is measured in use, far beyond what is booked there.
    let live = LiveLoad::from([(
        home.clone(),
        NodeLoad {
            measured_memory_gb: Some(64.0),
            ..NodeLoad::default()
        },
    )]);
    let after = run(repo.path(), &priors, &live);
    assert!(!after.has_errors(), "{:#?}", after.diagnostics);
    for name in before.decisions.keys() {
        assert_eq!(
            after.decisions[name].nodes, before.decisions[name].nodes,
            "{name} moved because of live load"
        );
    }
    // A new resource is placed around the measured use.
    support::write(
        repo.path(),
        "definitions/ci/second-build.yaml",
        &BIG.replace("big-build", "second-build")
            .replace("memory_gb: 40", "memory_gb: 8"),
    );
    let more = run(repo.path(), &priors, &live);
    let d = &more.decisions["second-build"];
    assert_ne!(d.nodes[0].name, home, "{:#?}", d.reasons);
    assert!(
        d.reasons.iter().any(|r| r.contains(&format!("{home}: "))
            && r.contains("GB measured in use beyond what is booked")),
        "{:#?}",
        d.reasons
    );
}
