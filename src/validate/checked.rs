//! The checks of one document on its own: envelope (`apiVersion`, `kind`), JSON Schema
//! and typed decoding. Nothing here looks at another document, so the result depends
//! only on the document (and the built-in schemas): a caller may keep it for a file that
//! did not change and hand it to [`super::assemble`] again.

use super::SchemaSet;
use crate::diag::Diagnostic;
use crate::model::{
    API_VERSION, DeploymentTemplateSpec, Document, Kind, Object, ResourcePoolSpec,
    UniversalResourceSpec, WorkloadTypeSpec,
};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

/// A document and what checking it alone found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub doc: Document,
    pub(super) verdict: Verdict,
}

/// What the single-document checks found.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    /// Not a homelabd document: no mapping, wrong `apiVersion` or unknown `kind`.
    Refused(Box<Diagnostic>),
    /// A known kind whose document breaks its schema.
    Invalid {
        kind: Kind,
        name: Option<String>,
        problems: Vec<Diagnostic>,
    },
    /// Schema-valid, and decoded into its type (or why not: the schema and the Rust
    /// types disagree, reported rather than trusted).
    Valid {
        kind: Kind,
        name: Option<String>,
        typed: Result<Box<Typed>, Box<Diagnostic>>,
    },
}

/// A schema-valid document decoded into its kind's type.
#[derive(Debug, Clone)]
pub(super) enum Typed {
    Pool(Object<ResourcePoolSpec>),
    Workload(Object<WorkloadTypeSpec>),
    Template(Object<DeploymentTemplateSpec>),
    Resource(Object<UniversalResourceSpec>),
}

impl Checked {
    /// What is worth keeping of this check for another run over the same bytes: a valid
    /// resource's document lean (without its parsed value and positions; its typed form
    /// holds what the later stages read, and a diagnostic parses the file again), unless
    /// the checks across documents read its value every run (a template's rules, secret
    /// references); any other document as it is (pools, workload types and templates are
    /// few, and their values are read every run).
    pub fn lean(&self) -> Checked {
        let lean = match &self.verdict {
            Verdict::Valid { typed: Ok(t), .. } => match &**t {
                Typed::Resource(o) => {
                    o.spec.template.is_none()
                        && !super::secret_refs::may_hold_refs(&o.spec.chart.values)
                }
                _ => false,
            },
            _ => false,
        };
        Checked {
            doc: if lean {
                self.doc.lean()
            } else {
                self.doc.clone()
            },
            verdict: self.verdict.clone(),
        }
    }
}

/// Checks `doc` on its own against `schemas`.
pub fn check(doc: Document, schemas: &SchemaSet) -> Checked {
    let verdict = match envelope(&doc) {
        Err(d) => Verdict::Refused(d),
        Ok(kind) => {
            let problems = schemas.check(kind, &doc);
            let name = doc.name().map(str::to_owned);
            if problems.is_empty() {
                Verdict::Valid {
                    kind,
                    name,
                    typed: decode(kind, &doc).map(Box::new),
                }
            } else {
                Verdict::Invalid {
                    kind,
                    name,
                    problems,
                }
            }
        }
    };
    Checked { doc, verdict }
}

/// Checks `apiVersion` and `kind`, returning the kind.
fn envelope(doc: &Document) -> Result<Kind, Box<Diagnostic>> {
    if !doc.value().is_object() {
        return Err(Box::new(
            doc.diagnostic("not-a-document", "", "a document must be a mapping")
                .expected("a mapping with apiVersion, kind, metadata and spec"),
        ));
    }
    match doc.value().get("apiVersion").and_then(|v| v.as_str()) {
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

/// Decodes a schema-valid document into its kind's type.
fn decode(kind: Kind, doc: &Document) -> Result<Typed, Box<Diagnostic>> {
    match kind {
        Kind::ResourcePool => typed(doc).map(Typed::Pool),
        Kind::WorkloadType => typed(doc).map(Typed::Workload),
        Kind::DeploymentTemplate => typed(doc).map(Typed::Template),
        Kind::UniversalResource => typed(doc).map(Typed::Resource),
    }
}

fn typed<S: DeserializeOwned>(doc: &Document) -> Result<Object<S>, Box<Diagnostic>> {
    Object::<S>::deserialize(doc.value())
        .map_err(|e| Box::new(doc.diagnostic("type", "", format!("document does not decode: {e}"))))
}
