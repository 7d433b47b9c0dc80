//! Validate: from parsed documents to a [`Catalog`] of typed, cross-checked objects.
//!
//! Pure: no IO. Every problem becomes a [`Diagnostic`]; a document with an error is left
//! out of the catalog (and, for resources, listed in [`Catalog::invalid_resources`]) while
//! every other document carries on. Checks, in order: envelope (`apiVersion`, `kind`),
//! JSON Schema, typed decoding, unique names, the pool tree, then cross-references
//! (workload types, templates, charts, pools, nodes, roles, capabilities, template rules,
//! secret files), then `depends_on` (known names, no cycles).

mod checked;
mod depends;
mod rules;
pub mod schema;
mod secret_refs;
mod semantic;

pub use checked::{Checked, check};
pub use schema::{SchemaError, SchemaSet};
pub use semantic::{is_within, needed_capabilities, parent_path};

use crate::diag::Diagnostic;
use crate::model::{
    ChartMeta, DeploymentTemplateSpec, Document, Kind, Object, ResourcePoolSpec,
    UniversalResourceSpec, WorkloadTypeSpec,
};
use checked::{Typed, Verdict};
use std::collections::{BTreeMap, BTreeSet};

/// A valid object together with the document it came from (for positions in diagnostics).
#[derive(Debug, Clone)]
pub struct Entry<S> {
    pub object: Object<S>,
    pub doc: Document,
}

impl<S> Entry<S> {
    pub fn name(&self) -> &str {
        &self.object.metadata.name
    }
}

/// Where an invalid resource was defined, so status can say which file to fix.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InvalidResource {
    pub file: String,
    pub line: usize,
}

/// Everything that passed validation, keyed by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub pools: BTreeMap<String, Entry<ResourcePoolSpec>>,
    pub workload_types: BTreeMap<String, Entry<WorkloadTypeSpec>>,
    pub templates: BTreeMap<String, Entry<DeploymentTemplateSpec>>,
    pub resources: BTreeMap<String, Entry<UniversalResourceSpec>>,
    /// Resources whose definition exists but is invalid (they keep their last good state).
    pub invalid_resources: BTreeMap<String, InvalidResource>,
    /// How many documents were read in all.
    pub documents: usize,
}

impl Catalog {
    /// Marks a resource invalid and drops it from the valid set.
    pub fn invalidate_resource(&mut self, name: &str) {
        if let Some(entry) = self.resources.remove(name) {
            let line = entry.doc.start.0;
            self.invalid_resources.insert(
                name.to_owned(),
                InvalidResource {
                    file: entry.doc.file,
                    line,
                },
            );
        }
    }

    /// The pool with spec.path `path`.
    pub fn pool_by_path(&self, path: &str) -> Option<&Entry<ResourcePoolSpec>> {
        self.pools.values().find(|p| p.object.spec.path == path)
    }
}

/// What validation needs to know besides the documents: charts and Ansible roles.
pub struct Context<'a> {
    pub schemas: &'a SchemaSet,
    pub charts: &'a BTreeMap<String, ChartMeta>,
    pub roles: &'a BTreeSet<String>,
    /// The secret files of the revision (`secrets/NAME.age` → `NAME`).
    pub secrets: &'a BTreeSet<String>,
}

/// Validates every document; returns the catalog of valid objects and every diagnostic.
pub fn validate(docs: Vec<Document>, ctx: &Context<'_>) -> (Catalog, Vec<Diagnostic>) {
    let checked = docs.into_iter().map(|d| check(d, ctx.schemas)).collect();
    assemble(checked, ctx)
}

/// The cross-document part of [`validate`] over documents already checked on their own
/// ([`check`]): unique names, the pool tree, every reference and `depends_on`. It always
/// sees every document of the revision, however many of them were checked earlier.
pub fn assemble(checked: Vec<Checked>, ctx: &Context<'_>) -> (Catalog, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut catalog = Catalog {
        documents: checked.len(),
        ..Catalog::default()
    };
    let mut seen: BTreeMap<(Kind, String), Vec<Decoded>> = BTreeMap::new();
    for Checked { doc, verdict } in checked {
        match verdict {
            Verdict::Refused(d) => diags.push(*d),
            Verdict::Invalid {
                kind,
                name,
                problems,
            } => {
                diags.extend(problems);
                if let (Kind::UniversalResource, Some(name)) = (kind, name) {
                    catalog.invalid_resources.insert(name, invalid_at(&doc));
                }
            }
            Verdict::Valid {
                kind,
                name: Some(name),
                typed,
            } => seen.entry((kind, name)).or_default().push((doc, typed)),
            Verdict::Valid { name: None, .. } => {}
        }
    }
    for ((kind, name), docs) in seen {
        if docs.len() > 1 {
            let places: Vec<String> = docs
                .iter()
                .map(|(d, _)| format!("{}:{}", d.file, d.start.0))
                .collect();
            for (doc, _) in &docs {
                diags.push(
                    doc.diagnostic(
                        "duplicate-name",
                        "/metadata/name",
                        format!(
                            "{kind} {name:?} is defined more than once ({})",
                            places.join(", ")
                        ),
                    )
                    .expected("a name unique per kind"),
                );
            }
            if kind == Kind::UniversalResource {
                catalog
                    .invalid_resources
                    .insert(name, invalid_at(&docs[0].0));
            }
            continue;
        }
        let Some((doc, typed)) = docs.into_iter().next() else {
            continue;
        };
        match typed.map(|t| *t) {
            Ok(Typed::Pool(object)) => insert(&mut catalog.pools, object, doc),
            Ok(Typed::Workload(object)) => insert(&mut catalog.workload_types, object, doc),
            Ok(Typed::Template(object)) => insert(&mut catalog.templates, object, doc),
            Ok(Typed::Resource(object)) => insert(&mut catalog.resources, object, doc),
            Err(d) => {
                diags.push(*d);
                if kind == Kind::UniversalResource {
                    catalog.invalid_resources.insert(name, invalid_at(&doc));
                }
            }
        }
    }
    semantic::check(&mut catalog, ctx, &mut diags);
    (catalog, diags)
}

/// A schema-valid document and its decoded object (or why it does not decode).
type Decoded = (Document, Result<Box<Typed>, Box<Diagnostic>>);

/// Where an invalid document is.
fn invalid_at(doc: &Document) -> InvalidResource {
    InvalidResource {
        file: doc.file.clone(),
        line: doc.start.0,
    }
}

/// Adds a decoded object under its name.
fn insert<S>(map: &mut BTreeMap<String, Entry<S>>, object: Object<S>, doc: Document) {
    map.insert(object.metadata.name.clone(), Entry { object, doc });
}
