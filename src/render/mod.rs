//! Render: one placed resource + its chart → the files its provider's tool consumes.
//!
//! [`render_resource`] is pure (context in, files out, no IO); [`write`] is the thin IO
//! shell that puts the files under `<out>/<provider>/<resource>/` atomically. Rendering
//! is deterministic: the same inputs give byte-identical files and the same hashes.

pub mod assets;
pub mod charts;
pub mod context;
mod filters;
pub mod hash;
pub mod write;

pub use assets::Assets;
pub use charts::{Chart, ChartSet};

use crate::limits::Limits;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The manifest written beside every rendered resource.
pub const MANIFEST_FILE: &str = "homelabd.manifest.json";

/// What was rendered, from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub resource: String,
    /// Written as its lowercase name (`docker`), like the rendered directory.
    pub provider: crate::model::Provider,
    /// `name@version`.
    pub chart: String,
    /// The commit the files were rendered from (`null` for a plain directory).
    pub revision: Option<String>,
    /// Hash of everything that determines the output (context, chart, assets).
    pub input_hash: String,
    /// Hash of the rendered files.
    pub output_hash: String,
    pub files: Vec<String>,
    /// The shared directories (`<name>@<digest>` under [`write::SHARED_DIR`]) the files
    /// refer to: vendored Terraform modules and Ansible roles, written once for every
    /// resource that uses the same content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<String>,
    /// Where the resource was placed (pool, nodes, GPUs, booked size): what `plan
    /// --against` keeps. Absent in manifests written before placement was sticky.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::place::Prior>,
}

/// One resource's rendered files, in memory. Vendored modules and roles borrow the
/// embedded bytes instead of copying them into every resource.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub files: BTreeMap<String, Cow<'static, [u8]>>,
    /// The shared modules and roles the files refer to (see [`Manifest::shared`]).
    pub shared: Vec<std::sync::Arc<assets::Bundle>>,
    pub manifest: Manifest,
    /// Not rendered: identical output already exists (see [`reused`]); `files` is empty.
    pub reused: bool,
    /// Where it goes (also in `files` as [`crate::target::FILE`] when not the default).
    pub target: crate::target::Target,
}

impl Rendered {
    /// The secret bindings its chart rendered ([`crate::secrets::BINDINGS_FILE`]): which
    /// variable of the tool carries which secret. Empty without the file, or when it is not
    /// a list of bindings (render refuses such a resource; see `secrets::refs::check_bindings`).
    pub fn secret_bindings(&self) -> Vec<crate::secrets::Binding> {
        self.files
            .get(crate::secrets::BINDINGS_FILE)
            .and_then(|file| serde_json::from_slice(file).ok())
            .unwrap_or_default()
    }
}

/// Why a resource could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "template {template} of chart {chart}{}",
        line.map(|l| format!(", line {l}")).unwrap_or_default()
    )]
    Template {
        chart: String,
        template: String,
        /// The template line the error is on, where minijinja knows it.
        line: Option<usize>,
        #[source]
        source: minijinja::Error,
    },
    /// A `[limits]` bound was reached (`limit` is its key, `value` the configured bound).
    #[error(
        "template {template} of chart {chart} went over limits.{limit} ({value}); {}",
        Limits::hint(limit)
    )]
    OverLimit {
        chart: String,
        template: String,
        limit: &'static str,
        value: u64,
    },
    #[error("chart {chart} writes to {path:?}, which is not a plain relative path")]
    BadOutputPath { chart: String, path: String },
    #[error("chart {chart} needs {what} {name}, which homelabd does not ship")]
    MissingAsset {
        chart: String,
        what: &'static str,
        name: String,
    },
}

impl RenderError {
    /// The error with every cause, on one line (for diagnostics).
    pub fn describe(&self) -> String {
        let mut msg = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        msg
    }
}

/// Renders one resource with `chart` and the context from [`context::build`], within
/// `limits` (template fuel for the resource, output bytes per file and per resource).
pub fn render_resource(
    chart: &Chart,
    assets: &Assets,
    context: &serde_json::Value,
    resource: &str,
    provider: crate::model::Provider,
    revision: Option<&str>,
    limits: &Limits,
) -> Result<Rendered, RenderError> {
    let mut files: BTreeMap<String, Cow<'static, [u8]>> = BTreeMap::new();
    let mut digests: BTreeMap<String, [u8; 32]> = BTreeMap::new();
    let mut fuel_used = 0u64;
    let mut bytes_used = 0u64;
    for template in &chart.outputs {
        let over = |limit: &'static str, value: u64| RenderError::OverLimit {
            chart: chart.meta.name.clone(),
            template: template.clone(),
            limit,
            value,
        };
        let left = limits
            .max_output_bytes_per_resource
            .saturating_sub(bytes_used);
        let mut out = CappedOutput::new(left.min(limits.max_output_bytes_per_file));
        let fuel = chart
            .render_template(template, context, &mut out)
            .map_err(|e| {
                if out.over {
                    if left < limits.max_output_bytes_per_file {
                        over(
                            "max_output_bytes_per_resource",
                            limits.max_output_bytes_per_resource,
                        )
                    } else {
                        over(
                            "max_output_bytes_per_file",
                            limits.max_output_bytes_per_file,
                        )
                    }
                } else if e.kind() == minijinja::ErrorKind::OutOfFuel {
                    over("template_fuel", limits.template_fuel)
                } else {
                    RenderError::Template {
                        chart: chart.meta.name.clone(),
                        template: template.clone(),
                        line: e.line(),
                        source: e,
                    }
                }
            })?;
        // Each template may use the whole budget; the resource's templates together too.
        fuel_used = fuel_used.saturating_add(fuel);
        if fuel_used > limits.template_fuel {
            return Err(over("template_fuel", limits.template_fuel));
        }
        bytes_used = bytes_used.saturating_add(out.bytes.len() as u64);
        let text = String::from_utf8(out.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        // A template that renders only whitespace produces no file (e.g. an ingress that is
        // switched off).
        if text.trim().is_empty() {
            continue;
        }
        let path = template.trim_end_matches(".tpl").to_owned();
        if !is_plain_relative(&path) || path == MANIFEST_FILE || path == crate::target::FILE {
            return Err(RenderError::BadOutputPath {
                chart: chart.meta.name.clone(),
                path,
            });
        }
        digests.insert(path.clone(), hash::digest(text.as_bytes()));
        files.insert(path, Cow::Owned(text.into_bytes()));
    }
    // Vendor what the output needs, so the directory works on its own (and offline):
    // through the shared directory the chart refers to (`vendor` in the context), or, for
    // a chart that does not refer to it, as a copy inside the resource directory.
    let has_playbook = files.keys().any(|p| p.starts_with("ansible/"));
    let mut shared = Vec::new();
    let mut vendor = |bundles: &assets::Bundles, what: &'static str, name: &str, prefix: &str| {
        let bundle = bundles.get(name).ok_or_else(|| RenderError::MissingAsset {
            chart: chart.meta.name.clone(),
            what,
            name: name.to_owned(),
        })?;
        if refers_to(&files, &bundle.entry) {
            digests.insert(
                format!("{}/{}", write::SHARED_DIR, bundle.entry),
                hash::digest(bundle.entry.as_bytes()),
            );
            shared.push(bundle.clone());
            return Ok(());
        }
        for f in &bundle.files {
            let path = format!("{prefix}/{name}/{}", f.path);
            digests.insert(path.clone(), f.digest);
            files.insert(path, Cow::Borrowed(f.bytes));
        }
        Ok::<(), RenderError>(())
    };
    for module in &chart.meta.terraform_modules {
        vendor(&assets.modules, "Terraform module", module, "modules")?;
    }
    if has_playbook {
        for role in roles_of(context) {
            vendor(&assets.roles, "Ansible role", role, "ansible/roles")?;
        }
    }
    // The target travels with the files: the executor and observer read it there, and a
    // changed target is a changed render (applied again, on the new target).
    if let Some(target) = context
        .get("target")
        .filter(|t| t.as_object().is_some_and(|o| !o.is_empty()))
    {
        let text = format!("{target:#}\n");
        digests.insert(
            crate::target::FILE.to_owned(),
            hash::digest(text.as_bytes()),
        );
        files.insert(
            crate::target::FILE.to_owned(),
            Cow::Owned(text.into_bytes()),
        );
    }
    let input_hash = input_hash(chart, assets, context);
    let output_hash = hash::digests(digests.iter().map(|(p, d)| (p.as_str(), d)));
    let names = files.keys().cloned().collect();
    let mut manifest = manifest(
        chart,
        resource,
        provider,
        revision,
        input_hash,
        output_hash,
        names,
    );
    manifest.shared = shared.iter().map(|b| b.entry.clone()).collect();
    Ok(Rendered {
        manifest,
        files,
        shared,
        reused: false,
        target: crate::target::Target::default(),
    })
}

/// The manifest of one resource's render.
fn manifest(
    chart: &Chart,
    resource: &str,
    provider: crate::model::Provider,
    revision: Option<&str>,
    input_hash: String,
    output_hash: String,
    files: Vec<String>,
) -> Manifest {
    Manifest {
        resource: resource.to_owned(),
        provider,
        chart: format!("{}@{}", chart.meta.name, chart.meta.version),
        revision: revision.map(str::to_owned),
        input_hash,
        output_hash,
        files,
        shared: Vec::new(),
        placement: None,
    }
}

/// The Ansible roles of a resource's context, in playbook order.
fn roles_of(context: &serde_json::Value) -> impl Iterator<Item = &str> {
    context["ansible"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
}

/// Does any rendered text file mention the shared directory `entry`?
fn refers_to(files: &BTreeMap<String, Cow<'static, [u8]>>, entry: &str) -> bool {
    files.values().any(|bytes| {
        matches!(bytes, Cow::Owned(_))
            && std::str::from_utf8(bytes).is_ok_and(|text| text.contains(entry))
    })
}

/// Where a resource finds the shared copies of its chart's Terraform modules and of its
/// Ansible roles: the context's `vendor` (docs/charts.md). Paths are relative — modules
/// to the resource directory (`<out>/<provider>/<resource>/`), roles to its `ansible/`
/// — so the rendered tree can be moved or copied as a whole. Names the assets do not
/// have are left out (rendering then reports them).
pub fn vendor_context(
    chart: &Chart,
    assets: &Assets,
    context: &serde_json::Value,
) -> serde_json::Value {
    let up = |levels: usize| "../".repeat(levels) + write::SHARED_DIR;
    let modules: serde_json::Map<String, serde_json::Value> = chart
        .meta
        .terraform_modules
        .iter()
        .filter_map(|m| assets.modules.get(m))
        .map(|b| {
            (
                b.name.clone(),
                format!("{}/{}/{}", up(2), b.entry, b.name).into(),
            )
        })
        .collect();
    let roles: Vec<&std::sync::Arc<assets::Bundle>> = roles_of(context)
        .filter_map(|r| assets.roles.get(r))
        .collect();
    let roles_path: Vec<String> = roles
        .iter()
        .map(|b| format!("{}/{}", up(3), b.entry))
        .collect();
    serde_json::json!({
        "modules": modules,
        "roles_path": roles_path.join(":"),
    })
}

/// The shared entries a chart refers to through [`vendor_context`] (all of them, whether
/// or not its output uses each): what a skipped render keeps on disk.
pub fn vendor_entries(vendor: &serde_json::Value) -> Vec<String> {
    let mut entries: Vec<String> = vendor["modules"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, path)| path.as_str())
        .chain(
            vendor["roles_path"]
                .as_str()
                .into_iter()
                .flat_map(|p| p.split(':')),
        )
        .filter_map(|path| {
            path.split('/')
                .skip_while(|c| *c != write::SHARED_DIR)
                .nth(1)
                .map(str::to_owned)
        })
        .collect();
    entries.sort();
    entries.dedup();
    entries
}

/// Hash of everything that determines a resource's output: its context, the chart's
/// files and the embedded assets. Equal input hashes mean byte-identical output, so a
/// caller that already has that output can skip [`render_resource`].
pub fn input_hash(chart: &Chart, assets: &Assets, context: &serde_json::Value) -> String {
    hash::json(&serde_json::json!({
        "context": context,
        "chart": chart.fingerprint,
        "assets": assets.fingerprint,
    }))
}

/// A render that was skipped because identical output already exists: the manifest
/// with the known output hash, and no files.
pub fn reused(
    chart: &Chart,
    resource: &str,
    provider: crate::model::Provider,
    revision: Option<&str>,
    input_hash: String,
    output_hash: String,
) -> Rendered {
    Rendered {
        manifest: manifest(
            chart,
            resource,
            provider,
            revision,
            input_hash,
            output_hash,
            Vec::new(),
        ),
        files: BTreeMap::new(),
        shared: Vec::new(),
        reused: true,
        target: crate::target::Target::default(),
    }
}

/// A relative path with no `..`, no empty or `.` components and no backslashes.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A template's output, refused past `cap` bytes (so a template cannot allocate more
/// than its share of the output limits, whatever its fuel).
struct CappedOutput {
    bytes: Vec<u8>,
    cap: u64,
    /// A write was refused: the render failed because of the cap.
    over: bool,
}

impl CappedOutput {
    fn new(cap: u64) -> CappedOutput {
        CappedOutput {
            bytes: Vec::new(),
            cap,
            over: false,
        }
    }
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.cap {
            self.over = true;
            return Err(std::io::Error::other("output limit reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_must_stay_inside_the_resource_directory() {
        assert!(is_plain_relative("main.tf"));
        assert!(is_plain_relative("ansible/playbook.yml"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a\\b",
            "./x",
        ] {
            assert!(!is_plain_relative(bad), "{bad}");
        }
    }
}
