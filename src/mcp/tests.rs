//! Unit tests of the pure answers over the in-memory fixture homelab ([`super::fixture`]):
//! no repository, store, network or process.

use super::fixture::{self, HEAD, engine, view, view_with_broken};
use super::params::{
    AffinityRule, DefinitionInput, PlacementQuery, PoolQuery, ProviderName, ResourceTypeName,
    TierName, WorkloadSpec,
};
use super::reply::{Refusal, Summary};
use super::{checks, guidance, health, inventory, migration, placement, pools, sizing, sop};
use crate::reconcile::ResourceState;
use crate::store::{ApplyRunRecord, DeviationRecord, ResourceRecord, RunState};
use chrono::{TimeZone, Utc};

#[test]
fn the_fixture_places_as_the_pipeline_does() {
    let v = view();
    assert!(!v.outcome.has_errors(), "{:#?}", v.outcome.diagnostics);
    let d = &v.outcome.decisions;
    assert_eq!(d["llm"].nodes[0].name, "gpu-1", "the only node with a GPU");
    assert_eq!(d["site"].pool, "/lab/docker");
    assert_eq!(d["burst"].pool, "/cloud/aws");
}

#[test]
fn pools_show_occupancy_gpu_holders_and_inherited_dimensions() {
    let v = view();
    let a = pools::query_pools(
        &v,
        &PoolQuery {
            include_groups: true,
            ..PoolQuery::default()
        },
    );
    let paths: Vec<&str> = a.pools.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/cloud", "/cloud/aws", "/lab", "/lab/docker", "/lab/gpu"]
    );
    let gpu = a.pools.iter().find(|p| p.path == "/lab/gpu").unwrap();
    assert_eq!(gpu.dimensions["site"], "home", "inherited from /lab");
    assert_eq!(gpu.nodes[0].gpus[0].assigned_to.as_deref(), Some("llm"));
    assert_eq!(gpu.nodes[0].resources, ["llm"]);
    assert_eq!(gpu.nodes[0].memory_gb_used, 8.0);
    assert_eq!(gpu.nodes[0].cpu_used, 2, "cpu 2 from template gpu-vm");
    let aws = a.pools.iter().find(|p| p.path == "/cloud/aws").unwrap();
    let quota = aws.quota.as_ref().unwrap();
    assert_eq!((quota.cpu_used, quota.memory_gb_used), (4, 8.0));
    assert!(aws.elastic);
    assert_eq!(gpu.parent.as_deref(), Some("/lab"));
}

#[test]
fn pool_filters_select_by_type_provider_dimension_and_room() {
    let v = view();
    let q = |f: &dyn Fn(&mut PoolQuery)| {
        let mut q = PoolQuery {
            include_groups: true,
            ..PoolQuery::default()
        };
        f(&mut q);
        pools::query_pools(&v, &q)
            .pools
            .into_iter()
            .map(|p| p.path)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(&|q| q.provider = Some(ProviderName::Docker)),
        ["/lab/docker"]
    );
    assert_eq!(
        q(&|q| q.path_pattern = Some("/lab/*".into())),
        ["/lab/docker", "/lab/gpu"]
    );
    assert_eq!(
        q(&|q| {
            q.dimensions.insert("site".into(), "home".into());
            q.include_groups = false;
        }),
        ["/lab/docker", "/lab/gpu"]
    );
    // The one GPU is taken by llm.
    assert!(q(&|q| q.free_gpu = true).is_empty());
    // docker-1 has 8 GB, site holds 7.
    assert_eq!(
        q(&|q| q.min_free_memory_gb = Some(20.0)),
        ["/cloud/aws", "/lab/gpu"]
    );
    assert_eq!(q(&|q| q.min_free_memory_gb = Some(30.0)), ["/lab/gpu"]);
}

#[test]
fn a_valid_proposal_is_placed_against_what_is_already_booked() {
    let v = view();
    let one = |memory: &str| {
        let doc = fixture::SITE
            .split("---")
            .next()
            .unwrap()
            .replace("name: site", "name: site-2")
            .replace("memory_gb: 7", memory);
        placement::trial(engine(), &v, &doc, true)
    };
    // docker-1 has 8 GB and site holds 7: one more GB fits, two do not.
    let t = one("memory_gb: 1");
    assert!(t.is_valid(), "{:#?}", t.diagnostics);
    assert_eq!(t.decision.as_ref().unwrap().nodes[0].name, "docker-1");
    let compose = &t.rendered.as_ref().unwrap().files["compose.yaml"];
    assert!(String::from_utf8_lossy(compose).contains("nginx:1.27"));
    let answer = checks::validation(&v, &t, false);
    assert!(answer.valid && answer.replaces.is_none());
    let t = one("memory_gb: 2");
    assert!(!t.is_valid());
    assert!(
        placement::trial_failure(&t).contains("docker-1"),
        "{}",
        placement::trial_failure(&t)
    );
}

#[test]
fn a_second_gpu_workload_is_refused_for_want_of_a_free_gpu() {
    let v = view();
    let doc = fixture::LLM.replace("name: llm", "name: llm-2");
    let t = placement::trial(engine(), &v, &doc, false);
    assert!(!t.is_valid());
    let why = placement::trial_failure(&t);
    assert!(
        why.contains("every GPU already assigned") || why.contains("no GPU"),
        "{why}"
    );
}

#[test]
fn replacing_an_existing_resource_frees_its_own_booking_first() {
    let v = view();
    let t = placement::trial(engine(), &v, fixture::LLM, true);
    assert!(t.is_valid(), "{:#?}", t.diagnostics);
    assert_eq!(t.existing.as_deref(), Some("definitions/llm.yaml:2"));
    assert_eq!(
        t.decision.as_ref().unwrap().gpus[0].pci_address,
        "0000:01:00.0"
    );
    let a = checks::translation(&v, &t, false, 100).unwrap();
    assert!(
        a.files
            .iter()
            .any(|f| f.path == "main.tf" && !f.vendored && f.content.is_some())
    );
    assert!(
        a.files
            .iter()
            .filter(|f| f.vendored)
            .all(|f| f.content.is_none())
    );
    assert!(
        a.files.iter().any(|f| f.truncated),
        "100-byte cut applies to main.tf"
    );
    assert_eq!(a.directory, "rendered-configs/proxmox/llm/");
}

#[test]
fn invalid_proposals_are_refused_with_their_problems() {
    let v = view();
    let t = placement::trial(engine(), &v, fixture::BROKEN, true);
    assert!(!t.is_valid());
    let a = checks::validation(&v, &t, false);
    assert!(
        a.problems
            .iter()
            .any(|p| p.pointer == "/spec/requirements/cpu"),
        "{:#?}",
        a.problems
    );
    let Err(Refusal::Fixable { problems, .. }) = checks::translation(&v, &t, false, 100) else {
        panic!("expected a refusal");
    };
    assert!(!problems.is_empty());
    let t = placement::trial(engine(), &v, "kind: ResourcePool\n", false);
    assert_eq!(t.diagnostics[0].code, "not-a-resource");
    // A template rule fails for a GPU-less definition using gpu-vm.
    let t = placement::trial(
        engine(),
        &v,
        &fixture::LLM
            .replace("gpu: true", "gpu: false")
            .replace("name: llm", "name: x"),
        false,
    );
    assert!(
        t.diagnostics
            .iter()
            .any(|d| d.message.contains("needs a GPU")),
        "{:#?}",
        t.diagnostics
    );
}

#[test]
fn workloads_described_by_their_needs_become_documents_that_place() {
    let v = view();
    let w = WorkloadSpec {
        workload_type: "web".into(),
        high_availability: true,
        ..WorkloadSpec::default()
    };
    let text = placement::workload_document(&v, "x", &w);
    assert!(
        text.contains("resource_type: container"),
        "the workload type's first: {text}"
    );
    let w = WorkloadSpec {
        resource_type: Some(super::params::ResourceTypeName::Service),
        ..w
    };
    let t = placement::trial(
        engine(),
        &v,
        &placement::workload_document(&v, "x", &w),
        false,
    );
    // Two replicas on distinct nodes: docker cannot (no HA in its chart), proxmox can.
    let d = t.decision.expect("placed");
    assert_eq!((d.pool.as_str(), d.nodes.len()), ("/lab/gpu", 2));
    let best = placement::best_provider(engine(), &v, &w);
    let docker = best
        .providers
        .iter()
        .find(|p| p.provider == crate::model::Provider::Docker)
        .unwrap();
    assert!(!docker.fits);
    assert!(
        docker
            .reason
            .as_deref()
            .unwrap()
            .contains("docker-compose lacks high_availability"),
        "{:?}",
        docker.reason
    );
    assert!(best.summary().contains("docker: does not fit"));
}

#[test]
fn sizing_recommends_a_tier_and_justifies_it() {
    let v = view();
    let a = sizing::analyze(
        engine(),
        &v,
        &WorkloadSpec {
            workload_type: "inference".into(),
            memory_gb: Some(6.0),
            ..WorkloadSpec::default()
        },
    )
    .unwrap();
    assert_eq!(a.recommended_tier, "standard");
    assert_eq!((a.size.cpu, a.size.memory_gb, a.size.gpu), (4, 6.0, true));
    assert_eq!(a.peers.names, ["llm"]);
    assert!(a.placement.is_none(), "the one GPU is taken");
    assert!(
        a.justification
            .iter()
            .any(|j| j.starts_with("does not fit now")),
        "{:?}",
        a.justification
    );
    let err = sizing::analyze(
        engine(),
        &v,
        &WorkloadSpec {
            workload_type: "nope".into(),
            ..WorkloadSpec::default()
        },
    );
    assert!(matches!(err, Err(Refusal::Fixable { .. })));
}

fn record(name: &str, state: ResourceState) -> ResourceRecord {
    ResourceRecord {
        name: name.into(),
        state,
        reason: None,
        provider: None,
        pool: None,
        chart: None,
        resource_type: None,
        placement: None,
        dimensions: None,
        desired_revision: Some(HEAD.into()),
        input_hash: Some("sha256:old".into()),
        output_hash: None,
        source: None,
        last_error: Some("terraform apply failed\ndetails".into()),
        last_error_at: None,
        updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        applied_hash: None,
        applied_revision: None,
        policy: None,
        destroyed_at: None,
        destroyed_revision: None,
        address: None,
        endpoints: Vec::new(),
    }
}

fn run(resource: &str, state: RunState, hour: u32) -> ApplyRunRecord {
    ApplyRunRecord {
        id: format!("{resource}-{hour}"),
        resource: resource.into(),
        revision: HEAD.into(),
        executor: "terraform".into(),
        operation: crate::store::RunOperation::Apply,
        argv: serde_json::json!([["terraform", "apply"]]),
        state,
        exit_code: Some(1),
        started_at: Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap(),
        finished_at: None,
        duration_ms: Some(1200),
        stdout_tail: Some("Plan: 1 to add".into()),
        stderr_tail: Some("Error: 401".into()),
        error: Some("exit 1".into()),
    }
}

#[test]
fn status_joins_the_revision_the_store_and_the_runs() {
    let v = view_with_broken();
    let names = health::status_names(&v, &[record("gone", ResourceState::Orphaned)]);
    assert_eq!(names, ["broken", "burst", "gone", "llm", "site"]);
    let s = health::status_of(
        &v,
        "llm",
        Some(&record("llm", ResourceState::ApplyFailed)),
        &[run("llm", RunState::Failed, 3)],
    );
    assert!(s.valid && s.defined);
    assert_eq!(
        s.up_to_date,
        Some(false),
        "the stored input hash is not the revision's"
    );
    assert_eq!(s.runs[0].stderr_tail.as_deref(), Some("Error: 401"));
    let b = health::status_of(&v, "broken", None, &[]);
    assert!(b.defined && !b.valid);
    assert!(
        b.problems
            .iter()
            .any(|p| p.pointer == "/spec/requirements/cpu")
    );
    let g = health::status_of(
        &v,
        "gone",
        Some(&record("gone", ResourceState::Orphaned)),
        &[],
    );
    assert!(!g.defined);
}

#[test]
fn anomalies_come_from_runs_states_definitions_and_capacity() {
    let v = view_with_broken();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    let deviation = DeviationRecord {
        id: "d1".into(),
        resource: "site".into(),
        key: "container/state".into(),
        deviation_type: "missing".into(),
        severity: "critical".into(),
        auto_correctable: true,
        corrective_action: Some("re-apply".into()),
        expected: Some(serde_json::json!("running")),
        actual: None,
        message: Some("container site is not running".into()),
        detected_at: now,
        resolved_at: None,
        resolved_by: None,
    };
    let events = health::StoreEvents {
        deviations: vec![deviation.clone()],
        runs: vec![
            run("llm", RunState::Failed, 11),
            run("llm", RunState::Failed, 1),
        ],
        records: vec![record("llm", ResourceState::ApplyFailed)],
    };
    let a = health::anomalies(&v, Some(&events), now, 6, 85);
    let kinds: Vec<&str> = a.anomalies.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(
        a.counts["failed-apply"], 1,
        "the run at 01:00 is outside the 6 h window"
    );
    assert!(kinds.contains(&"deviation") && kinds.contains(&"failed-resource"));
    assert!(kinds.contains(&"invalid-definition"));
    // site books 7 of docker-1's 8 GB (87 %); the one GPU of /lab/gpu is assigned.
    assert!(
        a.anomalies
            .iter()
            .any(|x| x.kind == "capacity" && x.node.as_deref() == Some("docker-1"))
    );
    assert!(kinds.contains(&"gpu-exhausted"));
    assert_eq!(a.anomalies[0].severity, "critical", "most severe first");
    let d = health::drift(&v, &[deviation], None, 10);
    assert_eq!((d.open, d.by_resource["site"]), (1, 1));
    assert_eq!(d.without_deviation, 2, "llm and burst have none");
}

#[test]
fn sops_come_from_the_workload_type_or_are_derived_and_say_so() {
    let v = view();
    let web = sop::sop(&v, None, Some("site")).unwrap();
    assert_eq!(
        (web.origin.as_str(), web.workload_type.as_str()),
        ("workload-type", "web")
    );
    assert!(web.sop.contains("Restart the container"));
    assert_eq!(web.resource.unwrap().nodes, ["docker-1"]);
    let inf = sop::sop(&v, Some("inference"), None).unwrap();
    assert_eq!(inf.origin, "derived");
    assert!(
        inf.sop
            .contains("`standard`: 4 CPU, 8 GB memory, 50 GB disk, GPU — a few models"),
        "{}",
        inf.sop
    );
    assert!(inf.sop.contains("providers: proxmox"), "{}", inf.sop);
    assert!(sop::sop(&v, None, None).is_err());
    assert!(sop::sop(&v, None, Some("nope")).is_err());
}

#[test]
fn guidelines_and_strategy_are_computed_from_usage_and_preferences() {
    let v = view();
    let g = guidance::guidelines(&v, None, None).unwrap();
    let docker = g.pools.iter().find(|p| p.path == "/lab/docker").unwrap();
    assert!(
        (docker.utilisation_percent - 87.5).abs() < 0.01,
        "{}",
        docker.utilisation_percent
    );
    assert!(
        g.guidelines
            .iter()
            .any(|l| l.starts_with("/lab/docker is 88% booked")),
        "{:?}",
        g.guidelines
    );
    assert!(
        g.guidelines.iter().any(|l| l.starts_with("no GPU is free")),
        "{:?}",
        g.guidelines
    );
    let s = guidance::strategy(&v, Some("web")).unwrap();
    assert_eq!(s.workload_types[0].strategy, "pack");
    assert_eq!(s.workload_types[0].ranked_pools[0], "/lab/docker");
    assert!(guidance::strategy(&v, Some("nope")).is_err());
}

#[test]
fn overview_counts_and_charts_match_the_revision() {
    let v = view_with_broken();
    let d = inventory::discover(&v, "repo".into(), "main".into(), None, None);
    assert_eq!(d.counts.resources_valid, 3);
    assert_eq!(d.counts.resources_invalid, 1);
    assert_eq!(d.invalid_resources[0].name, "broken");
    assert_eq!(d.counts.nodes, 3);
    let charts = inventory::list_charts(&v, &super::params::ChartQuery::default());
    let proxmox = charts
        .charts
        .iter()
        .find(|c| c.name == "proxmox-compute")
        .unwrap();
    assert_eq!(proxmox.used_by, 1);
    let inference = charts
        .compatibility
        .iter()
        .find(|m| m.workload_type == "inference")
        .unwrap();
    assert!(inference.charts.contains(&"proxmox-compute".to_owned()));
    assert!(
        !inference.charts.contains(&"kubernetes-workload".to_owned()),
        "compute only"
    );
}

#[test]
fn a_snapshot_of_a_view_diffs_against_a_later_one() {
    let before = view();
    let after = fixture::view_of(&[
        ("pools.yaml", fixture::POOLS),
        ("types.yaml", fixture::TYPES),
        ("templates.yaml", fixture::TEMPLATES),
        (
            "definitions/llm.yaml",
            &fixture::LLM.replace("memory_gb: 8", "memory_gb: 12"),
        ),
        (
            "definitions/site.yaml",
            &fixture::SITE.replace(
                "placement: { provider: aws }",
                "placement: { provider: proxmox }",
            ),
        ),
    ]);
    let from = migration::state_of(&before, "s1".into());
    let text = migration::snapshot_text(&from, "t", "mcp:test");
    let back = migration::parse_snapshot("s1", &text).unwrap();
    let (steps, unchanged) = migration::plan(&back, &migration::state_of(&after, HEAD.into()));
    let got: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s.action.as_str(), s.resource.as_str()))
        .collect();
    assert_eq!(got, [("move-provider", "burst"), ("resize", "llm")]);
    assert_eq!(unchanged, 1);
}

#[test]
fn design_parameter_names_decode_as_aliases_and_definitions_may_be_objects() {
    let def = serde_json::json!({
        "universal_definition": { "apiVersion": "homelab.ai/v1", "kind": "UniversalResource",
            "metadata": { "name": "x" }, "spec": {} },
        "strict_validation": true,
    });
    let d: DefinitionInput = serde_json::from_value(def).expect("object definition");
    assert!(
        d.definition.contains("\"UniversalResource\""),
        "{}",
        d.definition
    );
    assert!(d.strict_validation);
    let text: DefinitionInput =
        serde_json::from_value(serde_json::json!({ "universal_definition": "kind: X" }))
            .expect("text definition");
    assert_eq!(text.definition, "kind: X");
    let e = serde_json::from_value::<DefinitionInput>(serde_json::json!({ "definition": [1] }))
        .expect_err("an array is neither");
    assert!(e.to_string().contains("not an array"), "{e}");
    let e = serde_json::from_value::<DefinitionInput>(
        serde_json::json!({ "definition": "x", "made_up": 1 }),
    )
    .expect_err("unknown names stay refused");
    assert!(e.to_string().contains("unknown field"), "{e}");

    let q: PoolQuery = serde_json::from_value(serde_json::json!({
        "provider_filter": "docker", "dimension_filters": { "site": "home" }
    }))
    .expect("pool aliases");
    assert_eq!(q.provider, Some(ProviderName::Docker));
    assert_eq!(q.dimensions.get("site").map(String::as_str), Some("home"));
    assert_eq!(q.include_capacity, None, "capacity by default");
    let w: WorkloadSpec = serde_json::from_value(serde_json::json!({
        "workload_type": "ai-inference", "performance_tier": "minimal", "consider_gpu": true
    }))
    .expect("workload aliases");
    assert_eq!(w.tier, Some(TierName::Minimal));
    assert_eq!(w.gpu, Some(true));
    let p: PlacementQuery = serde_json::from_value(serde_json::json!({
        "workload": { "workload_type": "ci-cd" },
        "affinity_rules": [{ "type": "same_node_as", "value": "jenkins" }]
    }))
    .expect("affinity");
    assert_eq!(
        p.affinity_rules,
        vec![AffinityRule::SameNodeAs {
            value: "jenkins".into()
        }]
    );
}

#[test]
fn affinity_rules_pin_or_avoid_the_nodes_of_another_resource() {
    let v = view();
    let e = engine();
    let llm = &v.outcome.decisions["llm"];
    let doc = placement::workload_document(
        &v,
        "candidate",
        &WorkloadSpec {
            workload_type: "web".into(),
            resource_type: Some(ResourceTypeName::Compute),
            provider: Some(ProviderName::Proxmox),
            ..WorkloadSpec::default()
        },
    );
    let same = placement::with_affinity(
        e,
        &v,
        &doc,
        &[AffinityRule::SameNodeAs {
            value: "llm".into(),
        }],
    )
    .expect("placed");
    let d = same.decision.expect("decision");
    assert_eq!(d.nodes[0].name, llm.nodes[0].name);
    assert!(
        d.reasons.iter().any(|r| r.contains("affinity")),
        "{:?}",
        d.reasons
    );
    let apart = placement::with_affinity(
        e,
        &v,
        &doc,
        &[AffinityRule::DifferentNodeFrom {
            value: "llm".into(),
        }],
    )
    .expect("placed");
    let d = apart.decision.expect("decision");
    assert!(d.nodes.iter().all(|n| n.name != llm.nodes[0].name));
    let unknown = placement::with_affinity(
        e,
        &v,
        &doc,
        &[AffinityRule::SameNodeAs {
            value: "nope".into(),
        }],
    );
    assert!(unknown.is_err());
}
