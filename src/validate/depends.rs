//! `spec.depends_on`: every name is a resource of the revision, and the dependencies
//! form no cycle. A resource naming an unknown resource, and every member of a cycle,
//! is invalid (each member gets a diagnostic naming the whole cycle and where each
//! member is defined).

use super::{Catalog, semantic::unknown};
use crate::diag::Diagnostic;
use crate::model::depends::{Graph, cycles};
use std::collections::BTreeSet;

pub(super) fn check(catalog: &mut Catalog, diags: &mut Vec<Diagnostic>) {
    let defined: BTreeSet<String> = catalog
        .resources
        .keys()
        .chain(catalog.invalid_resources.keys())
        .cloned()
        .collect();
    let mut invalid = BTreeSet::new();
    for (name, entry) in &catalog.resources {
        for (i, dep) in entry.object.spec.depends_on.iter().enumerate() {
            if !defined.contains(dep) {
                diags.push(unknown(
                    &entry.doc,
                    "unknown-dependency",
                    &format!("/spec/depends_on/{i}"),
                    "UniversalResource",
                    dep,
                    defined.iter(),
                ));
                invalid.insert(name.clone());
            }
        }
    }
    let graph: Graph = catalog
        .resources
        .iter()
        .filter(|(_, e)| !e.object.spec.depends_on.is_empty())
        .map(|(n, e)| (n.clone(), e.object.spec.depends_on.clone()))
        .collect();
    for cycle in cycles(&graph) {
        let places: Vec<String> = cycle
            .members()
            .into_iter()
            .filter_map(|m| catalog.resources.get(m))
            .map(|e| format!("{} at {}:{}", e.name(), e.doc.file, e.doc.start.0))
            .collect();
        let message = format!(
            "dependency cycle: {} ({})",
            cycle.describe(),
            places.join(", ")
        );
        for member in cycle.members() {
            if let Some(entry) = catalog.resources.get(member) {
                diags.push(
                    entry
                        .doc
                        .diagnostic("dependency-cycle", "/spec/depends_on", message.clone())
                        .expected("depends_on without cycles"),
                );
                invalid.insert(member.clone());
            }
        }
    }
    for name in invalid {
        catalog.invalidate_resource(&name);
    }
}
