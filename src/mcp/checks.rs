//! Checking and dry-rendering proposed definitions (pure): the answers of
//! `validate-universal-definition` and `translate-universal-to-provider`, built from a
//! [`Trial`].

use super::context::View;
use super::inventory::short;
use super::placement::{PlacementOut, SizeOut, Trial};
use super::reply::{Problem, Refusal, Summary};
use crate::render::hash;
use schemars::JsonSchema;
use serde::Serialize;
use std::borrow::Cow;

/// The answer of `validate-universal-definition`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ValidationAnswer {
    /// The revision whose pools, workload types, templates and charts were used.
    pub revision: String,
    /// No errors, and placement found room (and, with `strict_validation`, no warnings).
    pub valid: bool,
    /// Warnings counted as errors (`strict_validation`).
    pub strict: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every problem found (schema, references, template rules, placement, render).
    pub problems: Vec<Problem>,
    /// `file:line` of an existing resource of the same name, which this document would
    /// replace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementOut>,
}

impl Summary for ValidationAnswer {
    fn summary(&self) -> String {
        let mut out = format!(
            "{} is {} against {}",
            self.name.as_deref().unwrap_or("the document"),
            match (self.valid, self.strict) {
                (true, _) => "valid",
                (false, true) => "INVALID (strict: warnings count)",
                (false, false) => "INVALID",
            },
            short(&self.revision)
        );
        if let Some(p) = &self.placement {
            out.push_str(&format!("; it would go to {}", p.line()));
        }
        if let Some(r) = &self.replaces {
            out.push_str(&format!("; it replaces the resource defined at {r}"));
        }
        for p in &self.problems {
            out.push_str(&format!("\n- {}: {}", p.severity, p.line()));
        }
        out
    }
}

/// `validate-universal-definition` from a trial (rendered too, so render errors count).
/// `strict` counts warnings as errors.
pub fn validation(view: &View, t: &Trial, strict: bool) -> ValidationAnswer {
    let placement = t.decision.as_ref().map(PlacementOut::from);
    let warned = t.diagnostics.iter().any(|d| !d.is_error());
    ValidationAnswer {
        revision: view.head.clone(),
        valid: t.is_valid() && !(strict && warned),
        strict,
        name: t.name.clone(),
        problems: t.diagnostics.iter().map(Problem::from).collect(),
        replaces: t.existing.clone(),
        size: placement.as_ref().map(|p| p.size.clone()),
        placement,
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FileOut {
    /// Path relative to the resource's directory (shared modules and roles are under
    /// `../../.shared/`).
    pub path: String,
    pub bytes: usize,
    /// `sha256:<hex>` of the content.
    pub sha256: String,
    /// A vendored Terraform module or Ansible role file (copied, not rendered).
    pub vendored: bool,
    /// The content as text (absent for vendored files unless asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The content was cut at `max_bytes_per_file`.
    pub truncated: bool,
}

/// The answer of `translate-universal-to-provider`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TranslationAnswer {
    pub revision: String,
    pub resource: String,
    /// Where the daemon would write these files, under its state directory.
    pub directory: String,
    pub chart: String,
    pub input_hash: String,
    pub output_hash: String,
    pub placement: PlacementOut,
    pub files: Vec<FileOut>,
    /// Warnings about the document (errors refuse the translation instead).
    pub warnings: Vec<Problem>,
    /// The same document rendered for each of `target_providers`, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_provider: Vec<RenderedFor>,
}

/// The document rendered for one of `target_providers`, or why it cannot go there.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RenderedFor {
    #[schemars(with = "String")]
    pub provider: crate::model::Provider,
    /// It validates, fits and renders on this provider.
    pub fits: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_hash: Option<String>,
    pub files: Vec<FileOut>,
}

/// One entry of `by_provider` from a trial of the document forced onto `provider`.
pub fn per_provider(
    view: &View,
    t: &Trial,
    provider: crate::model::Provider,
    include_vendored: bool,
    max_bytes: usize,
) -> RenderedFor {
    match translation(view, t, include_vendored, max_bytes) {
        Ok(a) => RenderedFor {
            provider,
            fits: true,
            reason: None,
            chart: Some(a.chart),
            directory: Some(a.directory),
            placement: Some(a.placement),
            output_hash: Some(a.output_hash),
            files: a.files,
        },
        Err(_) => RenderedFor {
            provider,
            fits: false,
            reason: Some(super::placement::trial_failure(t)),
            chart: None,
            directory: None,
            placement: None,
            output_hash: None,
            files: Vec::new(),
        },
    }
}

impl Summary for TranslationAnswer {
    fn summary(&self) -> String {
        let rendered = self.files.iter().filter(|f| !f.vendored).count();
        let mut out = format!(
            "{} renders with {} to {} ({} file(s) rendered, {} vendored); {}",
            self.resource,
            self.chart,
            self.directory,
            rendered,
            self.files.len() - rendered,
            self.placement.line()
        );
        for f in self.files.iter().filter(|f| !f.vendored) {
            out.push_str(&format!("\n- {} ({} bytes)", f.path, f.bytes));
        }
        for p in &self.by_provider {
            match (&p.placement, &p.reason) {
                (Some(pl), _) => out.push_str(&format!(
                    "\n{}: renders with {} ({})",
                    p.provider,
                    p.chart.as_deref().unwrap_or(""),
                    pl.line()
                )),
                (None, r) => out.push_str(&format!(
                    "\n{}: cannot go there: {}",
                    p.provider,
                    r.as_deref().unwrap_or("not placed")
                )),
            }
        }
        out
    }
}

/// `translate-universal-to-provider` from a rendered trial; an invalid document is a
/// refusal with its problems.
pub fn translation(
    view: &View,
    t: &Trial,
    include_vendored: bool,
    max_bytes: usize,
) -> Result<TranslationAnswer, Refusal> {
    let (Some(decision), Some(rendered), true) = (&t.decision, &t.rendered, t.is_valid()) else {
        return Err(Refusal::invalid(
            format!(
                "{} cannot be rendered: fix these problems (validate-universal-definition shows the same)",
                t.name.as_deref().unwrap_or("the document")
            ),
            &t.diagnostics,
        ));
    };
    // Shared modules and roles are listed where the resource's files find them.
    let shared = rendered.shared.iter().flat_map(|b| {
        b.files.iter().map(move |f| {
            (
                format!(
                    "../../{}/{}/{}/{}",
                    crate::render::write::SHARED_DIR,
                    b.entry,
                    b.name,
                    f.path
                ),
                Cow::Borrowed(f.bytes),
            )
        })
    });
    let files = rendered
        .files
        .iter()
        .map(|(path, bytes)| (path.clone(), bytes.clone()))
        .chain(shared)
        .map(|(path, bytes)| {
            let vendored = matches!(bytes, Cow::Borrowed(_));
            let show = !vendored || include_vendored;
            let cut = bytes.len() > max_bytes;
            let content = show.then(|| {
                let end = bytes.len().min(max_bytes);
                String::from_utf8_lossy(&bytes[..end]).into_owned()
            });
            FileOut {
                bytes: bytes.len(),
                sha256: format!("sha256:{}", hex::encode(hash::digest(&bytes))),
                path,
                vendored,
                truncated: show && cut,
                content,
            }
        })
        .collect();
    Ok(TranslationAnswer {
        revision: view.head.clone(),
        resource: decision.resource.clone(),
        directory: format!(
            "rendered-configs/{}/{}/",
            decision.provider, decision.resource
        ),
        chart: rendered.manifest.chart.clone(),
        input_hash: rendered.manifest.input_hash.clone(),
        output_hash: rendered.manifest.output_hash.clone(),
        placement: PlacementOut::from(decision),
        files,
        warnings: t
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .map(Problem::from)
            .collect(),
        by_provider: Vec::new(),
    })
}
