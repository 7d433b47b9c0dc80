//! JSON Schema validation of each document against `schemas/<kind>.schema.json`.

use crate::diag::Diagnostic;
use crate::model::{Document, Kind};
use jsonschema::error::ValidationErrorKind;
use std::collections::BTreeMap;

/// Errors compiling the built-in schemas (a build defect, never user input).
#[derive(Debug, thiserror::Error)]
#[error("schema {file} does not compile: {message}")]
pub struct SchemaError {
    pub file: &'static str,
    pub message: String,
}

/// The four kinds' schemas, as shipped in `schemas/`.
pub const BUILTIN_SCHEMAS: [(Kind, &str); 4] = [
    (
        Kind::UniversalResource,
        include_str!("../../schemas/universal-resource.schema.json"),
    ),
    (
        Kind::ResourcePool,
        include_str!("../../schemas/resource-pool.schema.json"),
    ),
    (
        Kind::DeploymentTemplate,
        include_str!("../../schemas/deployment-template.schema.json"),
    ),
    (
        Kind::WorkloadType,
        include_str!("../../schemas/workload-type.schema.json"),
    ),
];

/// Compiled validators, built once and shared by every document.
pub struct SchemaSet {
    validators: BTreeMap<Kind, jsonschema::Validator>,
}

/// Most schema errors reported per document; the rest are summarised.
const MAX_ERRORS_PER_DOCUMENT: usize = 20;

impl SchemaSet {
    /// Compiles the built-in schemas.
    pub fn builtin() -> Result<SchemaSet, SchemaError> {
        let mut validators = BTreeMap::new();
        for (kind, text) in BUILTIN_SCHEMAS {
            let schema: serde_json::Value =
                serde_json::from_str(text).map_err(|e| SchemaError {
                    file: kind.schema_file(),
                    message: e.to_string(),
                })?;
            let validator = jsonschema::draft202012::new(&schema).map_err(|e| SchemaError {
                file: kind.schema_file(),
                message: e.to_string(),
            })?;
            validators.insert(kind, validator);
        }
        Ok(SchemaSet { validators })
    }

    /// Every schema violation of `doc` as diagnostics (empty when valid).
    pub fn check(&self, kind: Kind, doc: &Document) -> Vec<Diagnostic> {
        let Some(validator) = self.validators.get(&kind) else {
            return Vec::new();
        };
        // Most documents are valid: the yes/no check is much cheaper than collecting.
        if validator.is_valid(doc.value()) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (n, error) in validator.iter_errors(doc.value()).enumerate() {
            if n == MAX_ERRORS_PER_DOCUMENT {
                out.push(doc.diagnostic(
                    "schema",
                    "",
                    format!("more than {MAX_ERRORS_PER_DOCUMENT} schema errors; fix these first"),
                ));
                break;
            }
            let pointer = error.instance_path().as_str().to_owned();
            let (pointer, message, expected) = describe(error.kind(), pointer);
            let mut d = doc.diagnostic("schema", &pointer, message);
            if let Some(expected) = expected {
                d = d.expected(expected);
            }
            // For a missing or unexpected property the instance is the whole parent object:
            // not worth echoing back.
            if !matches!(
                error.kind(),
                ValidationErrorKind::Required { .. }
                    | ValidationErrorKind::AdditionalProperties { .. }
            ) {
                d = d.found(short(error.instance()));
            }
            out.push(d);
        }
        out
    }
}

/// Turns an error kind into (pointer, message, expected), pointing at the offending key
/// for unexpected properties so the line is the key's own.
fn describe(kind: &ValidationErrorKind, pointer: String) -> (String, String, Option<String>) {
    use ValidationErrorKind as K;
    match kind {
        K::AdditionalProperties { unexpected } => {
            let first = unexpected.first().cloned().unwrap_or_default();
            (
                format!("{pointer}/{}", first.replace('~', "~0").replace('/', "~1")),
                format!("unknown field {}", unexpected.join(", ")),
                Some("only the fields the schema defines".to_owned()),
            )
        }
        K::Required { property } => (
            pointer,
            format!("missing required field {property}"),
            Some(format!("field {property}")),
        ),
        K::Type { kind } => (pointer, "wrong type".to_owned(), Some(type_name(kind))),
        K::Enum { options } => (
            pointer,
            "not an allowed value".to_owned(),
            Some(format!("one of {options}")),
        ),
        K::Constant { expected_value } => (
            pointer,
            "wrong value".to_owned(),
            Some(expected_value.to_string()),
        ),
        K::Pattern { pattern } => (
            pointer,
            "does not match the required pattern".to_owned(),
            Some(format!("a string matching {pattern}")),
        ),
        K::Minimum { limit } => (pointer, "too small".to_owned(), Some(format!(">= {limit}"))),
        K::ExclusiveMinimum { limit } => {
            (pointer, "too small".to_owned(), Some(format!("> {limit}")))
        }
        K::Maximum { limit } => (pointer, "too large".to_owned(), Some(format!("<= {limit}"))),
        K::ExclusiveMaximum { limit } => {
            (pointer, "too large".to_owned(), Some(format!("< {limit}")))
        }
        K::MaxLength { limit } => (
            pointer,
            "too long".to_owned(),
            Some(format!("at most {limit} characters")),
        ),
        K::MinLength { limit } => (
            pointer,
            "too short".to_owned(),
            Some(format!("at least {limit} characters")),
        ),
        K::MaxItems { limit } => (
            pointer,
            "too many items".to_owned(),
            Some(format!("at most {limit} items")),
        ),
        K::MinItems { limit } => (
            pointer,
            "too few items".to_owned(),
            Some(format!("at least {limit} items")),
        ),
        K::MaxProperties { limit } => (
            pointer,
            "too many entries".to_owned(),
            Some(format!("at most {limit} entries")),
        ),
        K::UniqueItems => (pointer, "items must be unique".to_owned(), None),
        other => (
            pointer,
            format!("{other:?}").chars().take(200).collect(),
            None,
        ),
    }
}

/// `integer`, or `string or null` for several types.
fn type_name(kind: &jsonschema::error::TypeKind) -> String {
    use jsonschema::error::TypeKind;
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// A value shortened for display.
fn short(value: &serde_json::Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}
