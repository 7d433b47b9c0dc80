//! Property test of every MCP argument decoder (tests only): seeded random JSON — mostly
//! objects with the tool's own field names holding hostile values (extreme numbers,
//! template and shell syntax, bidirectional overrides, long and nested values) — is
//! checked against the argument limits and decoded into each tool's argument type; what
//! decodes goes through the pure answer where one exists. The property: nothing panics.

use super::fixture::{engine, view};
use super::params::*;
use super::prompts::{CostArgs, GpuServiceArgs, WebAppArgs};
use super::proposal_tools::{
    DecommissionRequest, DeployRequest, DimensionsRequest, SnapshotRequest, TemplateRequest,
};
use super::{checks, guidance, inventory, limits, placement, pools, sizing};
use crate::testgen::{Rng, field_names, json_value};
use serde::de::DeserializeOwned;

/// Cases per decoder: a fixed budget so CI time stays bounded.
const CASES: u64 = 150;
const SEED: u64 = 0x006d_6370_6172_6773;

/// Decodes `CASES` generated arguments as `T` and hands each success to `answer`.
fn decode<T: DeserializeOwned + schemars::JsonSchema>(
    tool: &str,
    mut answer: impl FnMut(&T),
) -> usize {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema as JSON");
    let fields = field_names(&schema);
    let mut decoded = 0;
    for case in 0..CASES {
        let mut rng = Rng::new(SEED ^ case ^ (tool.len() as u64) << 32);
        let arguments = match json_value(&mut rng, &fields, 4) {
            v @ serde_json::Value::Object(_) => v,
            other if rng.chance(80) => {
                serde_json::json!({ fields.first().cloned().unwrap_or_default(): other })
            }
            other => other,
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = limits::check(&arguments, 256 * 1024, 32);
            if let Ok(args) = serde_json::from_value::<T>(arguments.clone()) {
                answer(&args);
                true
            } else {
                false
            }
        }));
        match run {
            Ok(ok) => decoded += usize::from(ok),
            Err(_) => panic!("{tool}: case {case} panicked on {arguments}"),
        }
    }
    decoded
}

#[test]
fn hostile_arguments_never_panic_a_decoder_or_an_answer() {
    let v = view();
    let e = engine();
    let mut decoded = 0;
    decoded += decode::<DiscoverQuery>("discover-infrastructure-context", |_| {});
    decoded += decode::<super::live::LiveQuery>("discover-proxmox-resources", |q| {
        super::live::answer(&[], q);
    });
    decoded += decode::<PoolQuery>("query-resource-pools", |q| {
        pools::query_pools(&v, q);
    });
    decoded += decode::<ListTemplates>("list-deployment-templates", |q| {
        inventory::list_templates(&v, q);
    });
    decoded += decode::<ChartQuery>("list-available-helm-charts", |q| {
        inventory::list_charts(&v, q);
    });
    decoded += decode::<StatusQuery>("get-deployment-status", |_| {});
    decoded += decode::<DriftQuery>("compare-expected-vs-actual-state", |_| {});
    decoded += decode::<AnomalyQuery>("detect-configuration-anomalies", |_| {});
    decoded += decode::<DefinitionInput>("validate-universal-definition", |d| {
        let t = placement::trial(e, &v, &d.definition, false);
        checks::validation(&v, &t, false);
    });
    decoded += decode::<TranslateInput>("translate-universal-to-provider", |d| {
        placement::trial(e, &v, &d.definition, true);
    });
    decoded += decode::<WorkloadSpec>("analyze-resource-requirements", |w| {
        let _ = sizing::analyze(e, &v, w);
        placement::best_provider(e, &v, w);
    });
    decoded += decode::<PlacementQuery>("find-optimal-placement", |_| {});
    decoded += decode::<MigrationQuery>("plan-migration-from-snapshot", |_| {});
    decoded += decode::<SopQuery>("get-deployment-sop", |_| {});
    decoded += decode::<GuidelineQuery>("get-resource-allocation-guidelines", |_| {});
    decoded += decode::<StrategyQuery>("get-placement-strategy", |q| {
        let _ = guidance::strategy(&v, q.workload_type.as_deref());
    });
    decoded += decode::<GpuServiceArgs>("prompt deploy-gpu-service", |_| {});
    decoded += decode::<WebAppArgs>("prompt deploy-web-app", |_| {});
    decoded += decode::<CostArgs>("prompt optimize-costs", |_| {});
    decoded += decode::<DeployRequest>("deploy-with-intelligence", |_| {});
    decoded += decode::<DimensionsRequest>("update-resource-dimensions", |_| {});
    decoded += decode::<TemplateRequest>("create-deployment-template", |_| {});
    decoded += decode::<SnapshotRequest>("create-infrastructure-snapshot", |_| {});
    decoded += decode::<DecommissionRequest>("decommission-resource", |_| {});
    // The generator reaches the answers, not only the decoders' refusals.
    assert!(decoded > 200, "only {decoded} arguments decoded");
}
