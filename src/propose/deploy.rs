//! The document edit of `deploy-with-intelligence` (pure): the new resource's definition
//! from a sized workload document and the caller's options, and the text of the file it
//! goes into. A file that already exists keeps every document it holds: the new one is
//! appended after a `---`, never written over it.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What the caller asked for beyond the workload's needs.
#[derive(Debug, Clone, Copy)]
pub struct DeployOptions<'a> {
    pub labels: &'a BTreeMap<String, String>,
    /// `production`, `staging` or `development`.
    pub environment: Option<&'a str>,
    pub backup_required: bool,
    pub backup_schedule: Option<&'a str>,
    pub chart: Option<&'a str>,
    pub chart_values: &'a Map<String, Value>,
    pub dimensions: &'a BTreeMap<String, String>,
}

/// `base` (a UniversalResource document built from the workload) with the options set:
/// labels, deployment environment and backups, chart and chart values, dimensions.
pub fn definition(base: &Value, o: &DeployOptions<'_>) -> Value {
    let mut doc = base.clone();
    if !o.labels.is_empty() {
        doc["metadata"]["labels"] = json!(o.labels);
    }
    let mut deployment = Map::new();
    if let Some(env) = o.environment {
        deployment.insert("environment".into(), env.into());
    }
    if o.backup_required {
        deployment.insert("backup_required".into(), true.into());
    }
    if let Some(s) = o.backup_schedule {
        deployment.insert("backup_schedule".into(), s.into());
    }
    if !deployment.is_empty() {
        doc["spec"]["deployment"] = deployment.into();
    }
    if o.chart.is_some() || !o.chart_values.is_empty() {
        let mut chart = Map::new();
        if let Some(name) = o.chart {
            chart.insert("name".into(), name.into());
        }
        if !o.chart_values.is_empty() {
            chart.insert("values".into(), o.chart_values.clone().into());
        }
        doc["spec"]["chart"] = chart.into();
    }
    if !o.dimensions.is_empty() {
        doc["spec"]["dimensions"] = json!(o.dimensions);
    }
    doc
}

/// Where the new document went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// A new file holding only the new document.
    NewFile,
    /// Appended to an existing file, whose documents are all kept as they were.
    Appended,
}

/// The text of the file after adding `document`: the document alone for a new file, or
/// `existing` unchanged with `---` and the document after it.
pub fn file_with(existing: Option<&str>, document: &str) -> (String, Placed) {
    match existing {
        None => (document.to_owned(), Placed::NewFile),
        Some(text) => {
            let mut out = text.to_owned();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
            out.push_str(document);
            (out, Placed::Appended)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_set_on_the_workload_document() {
        let base = json!({"metadata": {"name": "web"}, "spec": {"workload_type": "w"}});
        let labels = [("team".to_owned(), "a".to_owned())].into_iter().collect();
        let values = json!({"image": "nginx"}).as_object().cloned().unwrap();
        let dims = BTreeMap::new();
        let doc = definition(
            &base,
            &DeployOptions {
                labels: &labels,
                environment: Some("staging"),
                backup_required: true,
                backup_schedule: None,
                chart: None,
                chart_values: &values,
                dimensions: &dims,
            },
        );
        assert_eq!(doc["metadata"]["labels"], json!({"team": "a"}));
        assert_eq!(
            doc["spec"]["deployment"],
            json!({"environment": "staging", "backup_required": true})
        );
        assert_eq!(doc["spec"]["chart"], json!({"values": {"image": "nginx"}}));
        assert!(doc["spec"].get("dimensions").is_none());
    }

    #[test]
    fn an_existing_file_keeps_its_documents_and_gets_the_new_one_appended() {
        let (text, placed) = file_with(Some("kind: A\nmetadata: {name: a}"), "kind: B\n");
        assert_eq!(placed, Placed::Appended);
        assert_eq!(text, "kind: A\nmetadata: {name: a}\n---\nkind: B\n");
        let (text, placed) = file_with(None, "kind: B\n");
        assert_eq!((text.as_str(), placed), ("kind: B\n", Placed::NewFile));
    }
}
