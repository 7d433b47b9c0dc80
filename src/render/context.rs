//! Building the template context of one resource (pure). The shape is documented in
//! docs/charts.md; every key is always present so strict mode catches typos in charts.

use crate::model::{
    DeploymentTemplateSpec, Dimensions, Monitoring, UniversalResourceSpec, WorkloadTypeSpec,
};
use crate::place::{Decision, ResolvedPool};
use crate::validate::Entry;
use serde_json::{Map, Value, json};

/// Everything the context is made from.
pub struct Inputs<'a> {
    pub resource: &'a Entry<UniversalResourceSpec>,
    pub decision: &'a Decision,
    pub pool: &'a ResolvedPool,
    pub workload: &'a Entry<WorkloadTypeSpec>,
    pub template: Option<&'a Entry<DeploymentTemplateSpec>>,
    pub chart_name: &'a str,
    pub chart_version: &'a str,
    pub chart_values: &'a Value,
    pub chart_roles: &'a [String],
}

/// Deep merge: objects merge key by key, anything else in `over` replaces `base`.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The context for `inputs`.
pub fn build(inputs: &Inputs<'_>) -> Value {
    let r = inputs.resource;
    let spec = &r.object.spec;
    let d = inputs.decision;
    let t = inputs.template.map(|t| &t.object.spec);

    let mut values = inputs.chart_values.clone();
    if let Some(t) = t {
        merge(
            &mut values,
            &Value::Object(t.infrastructure.variables.clone()),
        );
    }
    merge(&mut values, &Value::Object(spec.chart.values.clone()));

    let mut ansible_vars = Value::Object(
        t.map(|t| t.configuration.variables.clone())
            .unwrap_or_default(),
    );
    if let Some(over) = values.get("ansible_vars") {
        merge(&mut ansible_vars, over);
    }
    let mut roles: Vec<String> = Vec::new();
    let template_roles = t
        .map(|t| t.configuration.roles.as_slice())
        .unwrap_or_default();
    for role in inputs
        .chart_roles
        .iter()
        .chain(&inputs.workload.object.spec.roles)
        .chain(template_roles)
    {
        if !roles.contains(role) {
            roles.push(role.clone());
        }
    }

    let mut dimensions: Dimensions = inputs.pool.dimensions.clone();
    if let Some(t) = t {
        dimensions.extend(t.dimensions.clone());
    }
    dimensions.extend(spec.dimensions.clone());

    let size = &d.size;
    let mut spec_value = r.doc.value().get("spec").cloned().unwrap_or(Value::Null);
    // The spec as the chart sees it has the defaults filled in.
    if let Ok(filled) = serde_json::to_value(spec) {
        merge(&mut spec_value, &filled);
    }
    json!({
        "metadata": {
            "name": r.object.metadata.name,
            "labels": r.object.metadata.labels,
            "annotations": r.object.metadata.annotations,
        },
        "spec": spec_value,
        "resource": {
            "name": r.object.metadata.name,
            "resource_type": spec.resource_type.as_str(),
            "workload_type": spec.workload_type,
            "cpu": size.cpu,
            "memory_gb": size.memory_gb,
            "memory_mb": size.memory_mb(),
            "storage_gb": size.storage_gb,
            "gpu": size.gpu,
            "network": spec.requirements.network,
            "high_availability": spec.requirements.high_availability,
            "replicas": size.replicas,
            "environment": spec.deployment.environment,
            "backup_required": spec.deployment.backup_required,
            "backup_schedule": spec.deployment.backup_schedule,
            "monitoring": spec.deployment.monitoring == Monitoring::Enabled,
            "dimensions": dimensions,
            "labels": r.object.metadata.labels,
        },
        "values": values,
        "pool": {
            "name": inputs.pool.name,
            "path": inputs.pool.path,
            "pool_type": inputs.pool.pool_type,
            "provider": inputs.pool.provider,
            "properties": Value::Object(without_pricing(&inputs.pool.properties)),
            "dimensions": inputs.pool.dimensions,
        },
        "placement": {
            "provider": d.provider,
            "pool": d.pool,
            "nodes": d.nodes,
            "gpus": d.gpus,
        },
        "workload": {
            "name": inputs.workload.object.metadata.name,
            "roles": inputs.workload.object.spec.roles,
        },
        "template": inputs.template.map(|t| json!({
            "name": t.object.metadata.name,
            "description": t.object.spec.description,
        })),
        "ansible": { "roles": roles, "vars": ansible_vars },
        "chart": { "name": inputs.chart_name, "version": inputs.chart_version },
    })
}

/// An empty JSON object.
pub fn empty() -> Value {
    Value::Object(Map::new())
}

/// A pool's properties without its prices: they describe what the pool costs, not what
/// a resource is, so a new price never changes a rendered file or the input hash (and
/// never re-applies anything).
fn without_pricing(properties: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let mut kept = properties.clone();
    kept.remove(crate::cost::pricing::KEY);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_is_deep_for_maps_and_replaces_everything_else() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1});
        merge(&mut base, &json!({"a": {"y": [3], "z": 2}, "c": null}));
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": [3], "z": 2}, "b": 1, "c": null})
        );
    }
}
