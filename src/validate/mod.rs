//! Validate: from parsed documents to a [`Catalog`] of typed, cross-checked objects.
//!
//! Pure: no IO. Every problem becomes a [`Diagnostic`]; a document with an error is left
//! out of the catalog (and, for resources, listed in [`Catalog::invalid_resources`]) while
//! every other document carries on. Checks, in order: envelope (`apiVersion`, `kind`),
//! JSON Schema, typed decoding, unique names, the pool tree, then cross-references
//! (workload types, templates, charts, pools, nodes, roles, capabilities, template rules,
//! secret files), then `depends_on` (known names, no cycles).

mod depends;
mod rules;
pub mod schema;
mod secret_refs;
mod semantic;

pub use schema::{SchemaError, SchemaSet};
pub use semantic::{is_within, needed_capabilities, parent_path};

use crate::diag::Diagnostic;
use crate::model::{
    API_VERSION, ChartMeta, DeploymentTemplateSpec, Document, Kind, Object, ResourcePoolSpec,
    UniversalResourceSpec, WorkloadTypeSpec,
};
use serde::de::DeserializeOwned;
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
            let line = entry.doc.positions.start.0;
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
    let mut diags = Vec::new();
    let mut catalog = Catalog {
        documents: docs.len(),
        ..Catalog::default()
    };
    let mut seen: BTreeMap<(Kind, String), Vec<Document>> = BTreeMap::new();
    for doc in docs {
        match envelope(&doc) {
            Ok(kind) => {
                let problems = ctx.schemas.check(kind, &doc);
                let name = doc.name().map(str::to_owned);
                if problems.is_empty() {
                    if let Some(name) = name {
                        seen.entry((kind, name)).or_default().push(doc);
                    }
                } else {
                    diags.extend(problems);
                    if let (Kind::UniversalResource, Some(name)) = (kind, name) {
                        catalog.invalid_resources.insert(
                            name,
                            InvalidResource {
                                file: doc.file.clone(),
                                line: doc.positions.start.0,
                            },
                        );
                    }
                }
            }
            Err(d) => diags.push(*d),
        }
    }
    for ((kind, name), docs) in seen {
        if docs.len() > 1 {
            let places: Vec<String> = docs
                .iter()
                .map(|d| format!("{}:{}", d.file, d.positions.start.0))
                .collect();
            for doc in &docs {
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
                catalog.invalid_resources.insert(
                    name,
                    InvalidResource {
                        file: docs[0].file.clone(),
                        line: docs[0].positions.start.0,
                    },
                );
            }
            continue;
        }
        let Some(doc) = docs.into_iter().next() else {
            continue;
        };
        match kind {
            Kind::ResourcePool => {
                insert(&mut catalog.pools, doc, &mut diags);
            }
            Kind::WorkloadType => {
                insert(&mut catalog.workload_types, doc, &mut diags);
            }
            Kind::DeploymentTemplate => {
                insert(&mut catalog.templates, doc, &mut diags);
            }
            Kind::UniversalResource => {
                if !insert(&mut catalog.resources, doc.clone(), &mut diags) {
                    catalog.invalid_resources.insert(
                        name,
                        InvalidResource {
                            file: doc.file,
                            line: doc.positions.start.0,
                        },
                    );
                }
            }
        }
    }
    semantic::check(&mut catalog, ctx, &mut diags);
    (catalog, diags)
}

/// Checks `apiVersion` and `kind`, returning the kind.
fn envelope(doc: &Document) -> Result<Kind, Box<Diagnostic>> {
    if !doc.value.is_object() {
        return Err(Box::new(
            doc.diagnostic("not-a-document", "", "a document must be a mapping")
                .expected("a mapping with apiVersion, kind, metadata and spec"),
        ));
    }
    match doc.value.get("apiVersion").and_then(|v| v.as_str()) {
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(Box::new(
                doc.diagnostic("api-version", "/apiVersion", "unsupported apiVersion")
                    .expected(API_VERSION)
                    .found(other.to_owned()),
            ));
        }
        None => {
            return Err(Box::new(
                doc.diagnostic("api-version", "/apiVersion", "missing apiVersion")
                    .expected(API_VERSION),
            ));
        }
    }
    let kinds = Kind::ALL.map(Kind::as_str).join(", ");
    match doc.kind_str() {
        Some(k) => Kind::parse(k).ok_or_else(|| {
            Box::new(
                doc.diagnostic("unknown-kind", "/kind", "unknown kind")
                    .expected(format!("one of {kinds}"))
                    .found(k.to_owned()),
            )
        }),
        None => Err(Box::new(
            doc.diagnostic("unknown-kind", "/kind", "missing kind")
                .expected(format!("one of {kinds}")),
        )),
    }
}

/// Decodes a schema-valid document into its typed object. A failure here means the schema
/// and the Rust types disagree; it is reported rather than trusted.
fn insert<S: DeserializeOwned>(
    map: &mut BTreeMap<String, Entry<S>>,
    doc: Document,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    match serde_json::from_value::<Object<S>>(doc.value.clone()) {
        Ok(object) => {
            map.insert(object.metadata.name.clone(), Entry { object, doc });
            true
        }
        Err(e) => {
            diags.push(doc.diagnostic("type", "", format!("document does not decode: {e}")));
            false
        }
    }
}
