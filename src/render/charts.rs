//! Loading charts (built-in and from the user's repository) and compiling their templates
//! once, so rendering thousands of resources never re-parses a template.

use super::{filters, hash};
use crate::diag::Diagnostic;
use crate::model::ChartMeta;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use std::collections::BTreeMap;

/// One chart, ready to render.
pub struct Chart {
    pub meta: ChartMeta,
    /// `values.yaml` as JSON (an object).
    pub values: serde_json::Value,
    /// Names of the templates that produce files (not `_*.tpl` macro files).
    pub outputs: Vec<String>,
    /// sha256 over the chart's files; part of every input hash.
    pub fingerprint: String,
    /// Where the chart came from: `built-in` or `repository`.
    pub origin: &'static str,
    env: Environment<'static>,
}

impl std::fmt::Debug for Chart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chart")
            .field("meta", &self.meta)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Chart {
    /// Renders template `name` with `context` into `out`, returning the fuel it used
    /// (the chart was compiled with a fuel budget; running out is
    /// [`minijinja::ErrorKind::OutOfFuel`]).
    pub fn render_template(
        &self,
        name: &str,
        context: &serde_json::Value,
        out: impl std::io::Write,
    ) -> Result<u64, minijinja::Error> {
        let template = self.env.get_template(name)?;
        let captured = template.render_captured_to(
            minijinja::Value::from(minijinja::value::Serde(context)),
            out,
        )?;
        Ok(captured
            .state()
            .fuel_levels()
            .map_or(0, |(consumed, _)| consumed))
    }
}

/// Every chart available to a revision, by name.
#[derive(Debug, Default)]
pub struct ChartSet {
    pub charts: BTreeMap<String, Chart>,
}

impl ChartSet {
    /// The built-in charts, with the repository's own `charts/` files layered on top (a
    /// repository chart replaces a built-in chart of the same name). Broken charts are
    /// reported and left out. Every template render gets `fuel` (`limits.template_fuel`).
    pub fn load<'a>(
        repo_chart_files: impl Iterator<Item = (&'a str, &'a [u8])>,
        fuel: u64,
    ) -> (ChartSet, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut set = ChartSet::default();
        for (name, files) in group(super::assets::builtin_chart_files()) {
            match compile(&name, &files, "built-in", fuel) {
                Ok(chart) => {
                    set.charts.insert(name, chart);
                }
                Err(d) => diags.push(*d),
            }
        }
        for (name, files) in group(repo_chart_files) {
            match compile(&name, &files, "repository", fuel) {
                Ok(chart) => {
                    set.charts.insert(name, chart);
                }
                Err(d) => {
                    set.charts.remove(&name);
                    diags.push(*d);
                }
            }
        }
        (set, diags)
    }

    /// The charts' metadata, for validation and placement.
    pub fn metas(&self) -> BTreeMap<String, ChartMeta> {
        self.charts
            .iter()
            .map(|(k, c)| (k.clone(), c.meta.clone()))
            .collect()
    }
}

fn group<'a>(
    files: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> BTreeMap<String, Vec<(String, &'a [u8])>> {
    let mut out: BTreeMap<String, Vec<(String, &[u8])>> = BTreeMap::new();
    for (path, bytes) in files {
        if let Some((chart, rest)) = path.split_once('/') {
            out.entry(chart.to_owned())
                .or_default()
                .push((rest.to_owned(), bytes));
        }
    }
    out
}

fn compile(
    name: &str,
    files: &[(String, &[u8])],
    origin: &'static str,
    fuel: u64,
) -> Result<Chart, Box<Diagnostic>> {
    compile_inner(name, files, origin, fuel).map_err(Box::new)
}

// Diagnostics are built with `?` all through; the public entry boxes the one returned.
#[allow(clippy::result_large_err)]
fn compile_inner(
    name: &str,
    files: &[(String, &[u8])],
    origin: &'static str,
    fuel: u64,
) -> Result<Chart, Diagnostic> {
    let at = |file: &str| format!("charts/{name}/{file}");
    let text = |file: &str, bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Diagnostic::error("chart", at(file), "file is not valid UTF-8"))
    };
    let find = |file: &str| files.iter().find(|(p, _)| p == file).map(|(_, b)| *b);
    let meta_bytes = find("Chart.yaml")
        .ok_or_else(|| Diagnostic::error("chart", at("Chart.yaml"), "chart has no Chart.yaml"))?;
    let meta: ChartMeta = serde_yaml::from_str(&text("Chart.yaml", meta_bytes)?).map_err(|e| {
        let loc = e.location();
        Diagnostic::error(
            "chart",
            at("Chart.yaml"),
            format!("invalid Chart.yaml: {e}"),
        )
        .at(
            loc.as_ref().map(|l| l.line()),
            loc.as_ref().map(|l| l.column()),
        )
    })?;
    if meta.name != name {
        return Err(Diagnostic::error(
            "chart",
            at("Chart.yaml"),
            "chart name must match its directory",
        )
        .pointer("/name")
        .expected(name.to_owned())
        .found(meta.name.clone()));
    }
    let values = match find("values.yaml") {
        None => serde_json::Value::Object(Default::default()),
        Some(bytes) => {
            let v: serde_json::Value =
                serde_yaml::from_str(&text("values.yaml", bytes)?).map_err(|e| {
                    Diagnostic::error(
                        "chart",
                        at("values.yaml"),
                        format!("invalid values.yaml: {e}"),
                    )
                })?;
            match v {
                serde_json::Value::Null => serde_json::Value::Object(Default::default()),
                serde_json::Value::Object(_) => v,
                _ => {
                    return Err(Diagnostic::error(
                        "chart",
                        at("values.yaml"),
                        "values.yaml must be a mapping",
                    ));
                }
            }
        }
    };
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Repository charts are untrusted code: fuel bounds the time and memory of a render.
    env.set_fuel(Some(fuel));
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| Diagnostic::error("chart", at("templates"), e.to_string()))?;
    env.set_syntax(syntax);
    // One escaping filter per output language (docs/charts.md, "Values are data").
    env.add_filter("hcl", filters::hcl);
    env.add_filter("ansible", filters::ansible);
    env.add_filter("ansible_var_name", filters::ansible_var_name);
    env.add_filter("compose", filters::compose);
    env.add_filter("kube_command", filters::kube_command);
    env.add_filter("arm", filters::arm);
    env.add_filter("cfn", filters::cfn);
    env.add_filter("cfn_sub", filters::cfn_sub);
    env.add_filter("sh", filters::sh);
    env.add_function("fail", filters::fail);
    let mut outputs = Vec::new();
    for (path, bytes) in files {
        let Some(tpl) = path.strip_prefix("templates/") else {
            continue;
        };
        if !tpl.ends_with(".tpl") {
            continue;
        }
        let source = text(path, bytes)?;
        env.add_template_owned(tpl.to_owned(), source)
            .map_err(|e| {
                Diagnostic::error("chart", at(path), format!("template does not compile: {e}"))
                    .at(e.line(), None)
            })?;
        let base = tpl.rsplit('/').next().unwrap_or(tpl);
        if !base.starts_with('_') {
            outputs.push(tpl.to_owned());
        }
    }
    outputs.sort();
    let fingerprint = hash::files(files.iter().map(|(p, b)| (p.as_str(), *b)));
    Ok(Chart {
        meta,
        values,
        outputs,
        fingerprint,
        origin,
        env,
    })
}
