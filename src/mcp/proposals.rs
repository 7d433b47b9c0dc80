//! Building the changes the proposal tools propose (pure): new definitions, edited or
//! removed documents inside multi-document files, generated templates. The tools hand
//! these to [`crate::propose::Proposer`], which validates, commits and publishes; nothing
//! here writes anything.

use crate::model::split::split;
use crate::model::{API_VERSION, tier_label};
use crate::place::Decision;
use crate::validate::Entry;
use serde_json::{Map, Value, json};

/// The text of one YAML document, with a comment header.
pub fn yaml_document(header: &[String], value: &Value) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&serde_yaml::to_string(value).unwrap_or_default());
    out
}

/// The leading comment lines of a document's text (kept when it is rewritten).
fn leading_comments(chunk: &str) -> String {
    chunk
        .split_inclusive('\n')
        .take_while(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        })
        .collect()
}

/// `text` with its `index`-th document replaced by `value` (`None` removes it). `index`
/// is the parser's numbering ([`crate::model::Document::index`], shared through
/// [`crate::model::split`]), and the document there must be named `name`, so a file
/// that changed underneath (or any numbering slip) refuses instead of editing another
/// resource. Other documents keep their text and comments, comment-only ones included;
/// the rewritten one keeps its leading comments. `None` when the file has no such
/// document.
pub fn replace_document(
    text: &str,
    index: usize,
    name: &str,
    value: Option<&Value>,
) -> Option<String> {
    let mut file = split(text);
    let target = file.documents.get(index)?;
    let found: Value = serde_yaml::from_str(target).ok()?;
    if found.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return None;
    }
    match value {
        Some(v) => {
            file.documents[index] = format!(
                "{}{}",
                leading_comments(target),
                serde_yaml::to_string(v).ok()?
            );
        }
        None => {
            file.documents.remove(index);
        }
    }
    Some(file.join())
}

/// `metadata.name` of a definition given as YAML or JSON text, when it reads as one.
pub fn name_of(text: &str) -> Option<String> {
    let doc: Value = serde_yaml::from_str(text).ok()?;
    doc.get("metadata")?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// How many documents `text` holds (comment-only ones not counted).
pub fn document_count(text: &str) -> usize {
    split(text).content_count()
}

/// A definition's document with `spec.dimensions` changed: `set` added or replaced,
/// `remove` taken out. `Err` names keys asked to be removed that are not there.
pub fn with_dimensions(
    doc: &Value,
    set: &std::collections::BTreeMap<String, String>,
    remove: &[String],
) -> Result<Value, Vec<String>> {
    let mut value = doc.clone();
    let spec = value
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| vec!["the document has no spec".to_owned()])?;
    let dims = spec
        .entry("dimensions")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(dims) = dims.as_object_mut() else {
        return Err(vec!["spec.dimensions is not a mapping".to_owned()]);
    };
    let missing: Vec<String> = remove
        .iter()
        .filter(|k| !dims.contains_key(k.as_str()))
        .map(|k| format!("dimension {k:?} is not set"))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    for k in remove {
        dims.remove(k);
    }
    for (k, v) in set {
        dims.insert(k.clone(), Value::String(v.clone()));
    }
    Ok(value)
}

/// A definition's document with `spec.placement` pinned where a rebalance puts it: the
/// node (one replica), and the pool when it changes (or the resource has no nodes).
pub fn with_placement(doc: &Value, pool: Option<&str>, node: Option<&str>) -> Option<Value> {
    let mut value = doc.clone();
    let placement = value
        .get_mut("spec")?
        .as_object_mut()?
        .entry("placement")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()?;
    if let Some(pool) = pool {
        placement.insert("pool".into(), Value::String(pool.to_owned()));
    }
    if let Some(node) = node {
        placement.insert("node".into(), Value::String(node.to_owned()));
    }
    Some(value)
}

/// A DeploymentTemplate reproducing a placed instance: its resolved size as defaults, its
/// provider and chart with its chart values, the roles and variables of the template it
/// used, its dimensions, and rules that keep the GPU and a minimum of memory.
pub fn template_from_instance(
    name: &str,
    description: Option<&str>,
    entry: &Entry<crate::model::UniversalResourceSpec>,
    decision: &Decision,
    used_template: Option<&Entry<crate::model::DeploymentTemplateSpec>>,
    minimal_memory_gb: f64,
    revision: &str,
) -> Value {
    let spec = &entry.object.spec;
    let s = &decision.size;
    let mut variables = used_template
        .map(|t| t.object.spec.infrastructure.variables.clone())
        .unwrap_or_default();
    for (k, v) in &spec.chart.values {
        variables.insert(k.clone(), v.clone());
    }
    let mut rules = Vec::new();
    if s.gpu {
        rules.push(json!({
            "field": "/requirements/gpu",
            "equals": true,
            "message": format!("{} ran with a GPU; resources from this template need requirements.gpu: true.", entry.name()),
        }));
    }
    rules.push(json!({
        "field": "/requirements/memory_gb",
        "min": minimal_memory_gb,
        "message": format!(
            "At least {minimal_memory_gb} GiB: the {} tier of workload type {}.",
            tier_label(crate::model::Tier::Minimal),
            spec.workload_type
        ),
    }));
    let mut configuration = Map::new();
    if let Some(t) = used_template {
        if !t.object.spec.configuration.roles.is_empty() {
            configuration.insert("roles".into(), json!(t.object.spec.configuration.roles));
        }
        configuration.insert(
            "variables".into(),
            Value::Object(t.object.spec.configuration.variables.clone()),
        );
    }
    let mut dimensions = used_template
        .map(|t| t.object.spec.dimensions.clone())
        .unwrap_or_default();
    dimensions.extend(spec.dimensions.clone());
    json!({
        "apiVersion": API_VERSION,
        "kind": "DeploymentTemplate",
        "metadata": {
            "name": name,
            "annotations": { "homelab.ai/generated-from": format!("{}@{}", entry.name(), revision) },
        },
        "spec": {
            "description": description.map(str::to_owned).unwrap_or_else(|| format!(
                "{} on {} ({}), generated from {}",
                spec.workload_type, decision.provider, decision.chart, entry.name()
            )),
            "resources": { "cpu": s.cpu, "memory_gb": s.memory_gb, "storage_gb": s.storage_gb },
            "infrastructure": {
                "provider": decision.provider.as_str(),
                "chart": decision.chart,
                "variables": Value::Object(variables),
            },
            "configuration": Value::Object(configuration),
            "dimensions": dimensions,
            "validation": { "rules": rules },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# pools of the house\napiVersion: homelab.ai/v1\nkind: ResourcePool\nmetadata: {name: a}\n---\n# the second\napiVersion: homelab.ai/v1\nkind: ResourcePool\nmetadata: {name: b}\n---\napiVersion: homelab.ai/v1\nkind: ResourcePool\nmetadata: {name: c}\n";

    fn names(text: &str) -> Vec<String> {
        serde_yaml::Deserializer::from_str(text)
            .map(|d| {
                let v: Value = serde::Deserialize::deserialize(d).unwrap();
                v["metadata"]["name"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[test]
    fn one_document_is_replaced_and_the_others_keep_their_text() {
        let new = json!({"apiVersion": "homelab.ai/v1", "kind": "ResourcePool", "metadata": {"name": "b2"}});
        let out = replace_document(FILE, 1, "b", Some(&new)).unwrap();
        assert_eq!(names(&out), ["a", "b2", "c"]);
        assert!(out.starts_with("# pools of the house\n"), "{out}");
        assert!(out.contains("# the second\n"), "{out}");
        assert!(out.contains("metadata: {name: c}"), "{out}");
    }

    #[test]
    fn a_document_is_removed_and_missing_indexes_are_none() {
        let out = replace_document(FILE, 0, "a", None).unwrap();
        assert_eq!(names(&out), ["b", "c"]);
        assert_eq!(document_count(&out), 2);
        assert!(replace_document(FILE, 3, "d", None).is_none());
        assert_eq!(document_count(FILE), 3);
    }

    #[test]
    fn a_comment_only_document_between_documents_does_not_shift_the_target() {
        // The parser numbers app-a 0, the comment-only document 1, app-b 2, app-c 3.
        let file = "kind: X\nmetadata: {name: app-a}\n---\n# disabled\n---\nkind: X\nmetadata: {name: app-b}\n---\nkind: X\nmetadata: {name: app-c}\n";
        let out = replace_document(file, 2, "app-b", None).unwrap();
        let names: Vec<String> = serde_yaml::Deserializer::from_str(&out)
            .filter_map(|d| {
                let v: Value = serde::Deserialize::deserialize(d).ok()?;
                v["metadata"]["name"].as_str().map(str::to_owned)
            })
            .collect();
        assert_eq!(names, ["app-a", "app-c"]);
        assert!(out.contains("# disabled"), "{out}");
        // The wrong name at an index is refused, never edited.
        assert!(replace_document(file, 3, "app-b", None).is_none());
    }

    #[test]
    fn dimensions_are_set_and_removed_and_missing_ones_named() {
        let doc = json!({"spec": {"dimensions": {"owner": "a", "old": "x"}}});
        let set = [("cost_center".to_owned(), "lab".to_owned())]
            .into_iter()
            .collect();
        let out = with_dimensions(&doc, &set, &["old".to_owned()]).unwrap();
        assert_eq!(
            out["spec"]["dimensions"],
            json!({"owner": "a", "cost_center": "lab"})
        );
        let err = with_dimensions(&doc, &set, &["nope".to_owned()]).unwrap_err();
        assert_eq!(err, ["dimension \"nope\" is not set"]);
    }
}
