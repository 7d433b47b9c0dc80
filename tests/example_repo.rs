//! The shipped example homelab: every document valid against both the JSON Schemas and
//! the Rust types, placed as its comments promise, rendered deterministically.

mod support;

use homelabd::model::{Kind, Provider};
use homelabd::pipeline::{Engine, Outcome};
use homelabd::source::load_dir;
use std::collections::BTreeSet;

fn run() -> Outcome {
    let snapshot = load_dir(&support::example_repo(), None).unwrap();
    Engine::new().unwrap().run(&snapshot)
}

#[test]
fn every_example_document_passes_the_schemas_and_decodes_into_the_rust_types() {
    let outcome = run();
    assert!(outcome.diagnostics.is_empty(), "{:#?}", outcome.diagnostics);
    let c = &outcome.catalog;
    // Every document that passed its schema also decoded: nothing was lost between them.
    assert_eq!(
        c.documents,
        c.pools.len() + c.workload_types.len() + c.templates.len() + c.resources.len()
    );
    assert!(
        c.pools.len() >= 10 && c.resources.len() >= 7,
        "a realistic homelab"
    );
}

#[test]
fn every_example_file_names_its_schema_for_editors() {
    let snapshot = load_dir(&support::example_repo(), None).unwrap();
    for file in snapshot.documents() {
        let text = String::from_utf8(file.content.clone()).unwrap();
        let first = text.lines().next().unwrap_or_default();
        let schema = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{} lacks a yaml-language-server comment", file.path));
        let target = support::example_repo()
            .join(&file.path)
            .parent()
            .unwrap()
            .join(schema);
        assert!(target.exists(), "{}: {schema} does not exist", file.path);
        let kind_schemas: BTreeSet<&str> = Kind::ALL.iter().map(|k| k.schema_file()).collect();
        assert!(
            kind_schemas.iter().any(|s| schema.ends_with(s)),
            "{}",
            file.path
        );
    }
}

#[test]
fn the_example_covers_every_provider() {
    let outcome = run();
    let providers: BTreeSet<Provider> = outcome.decisions.values().map(|d| d.provider).collect();
    assert_eq!(providers, Provider::ALL.into_iter().collect());
}

#[test]
fn gpu_and_high_availability_requests_are_placed_as_asked() {
    let outcome = run();
    let ollama = &outcome.decisions["ollama-server"];
    assert_eq!(ollama.pool, "/homelab/compute/gpu-nodes");
    assert_eq!(ollama.gpus.len(), 1, "one GPU assigned");
    assert_eq!(
        ollama.gpus[0].node, ollama.nodes[0].name,
        "the GPU is on the chosen node"
    );
    assert!(
        ollama
            .reasons
            .iter()
            .any(|r| r.contains(&ollama.gpus[0].pci_address))
    );

    let web = &outcome.decisions["ha-web-app"];
    assert_eq!(web.provider, Provider::Kubernetes);
    let nodes: BTreeSet<&str> = web.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        nodes.len(),
        web.size.replicas as usize,
        "replicas on distinct nodes"
    );
    assert!(web.size.replicas >= 2);

    for cloud in ["cloud-burst", "azure-runner"] {
        assert!(
            outcome.decisions[cloud].nodes.is_empty(),
            "{cloud} is elastic"
        );
    }
}

#[test]
fn a_resource_without_provider_or_pool_is_placed_by_preference_with_reasons() {
    let outcome = run();
    let jenkins = &outcome.decisions["jenkins"];
    assert_eq!(jenkins.provider, Provider::Proxmox);
    assert!(
        jenkins
            .reasons
            .iter()
            .any(|r| r.contains("preference") && r.contains("ci-cd")),
        "{:#?}",
        jenkins.reasons
    );
    assert!(
        !jenkins.alternatives.is_empty(),
        "other pools were considered"
    );
}

#[test]
fn rendering_is_deterministic() {
    let a = run();
    let b = run();
    for (name, r) in &a.rendered {
        assert_eq!(r.files, b.rendered[name].files, "{name}");
        assert_eq!(r.manifest, b.rendered[name].manifest, "{name}");
    }
}
