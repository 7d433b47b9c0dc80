//! MCP resources: the definitions (an index and each document as YAML), the pools, the
//! charts, and the SOP of every workload type, all read from the tracked revision.
//!
//! | URI | content |
//! |---|---|
//! | `homelab://definitions` | JSON index: every resource with its file, validity and placement |
//! | `homelab://definitions/{name}` | the resource's document as YAML |
//! | `homelab://pools` | JSON: every pool after inheritance, with capacity and occupancy |
//! | `homelab://charts` | JSON: charts and the compatibility matrix |
//! | `homelab://sop/{workload_type}` | Markdown: the workload type's SOP |

use super::context::View;
use super::inventory;
use super::params::{ChartQuery, PoolQuery};
use super::pools;
use super::server::HomelabMcp;
use super::sop;
use rmcp::ErrorData;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate,
};
use serde_json::json;

/// Resources per page of `resources/list`.
const PAGE: usize = 200;

const SCHEME: &str = "homelab://";

fn fixed() -> Vec<Resource> {
    vec![
        Resource::new("homelab://definitions", "definitions")
            .with_title("Resource definitions")
            .with_description("Every resource of the tracked revision: file, validity, placement")
            .with_mime_type("application/json"),
        Resource::new("homelab://pools", "pools")
            .with_title("Resource pools")
            .with_description(
                "Pools after inheritance, with node capacity and what is placed on them",
            )
            .with_mime_type("application/json"),
        Resource::new("homelab://charts", "charts")
            .with_title("Charts")
            .with_description("Charts (built-in and the repository's) and the compatibility matrix")
            .with_mime_type("application/json"),
    ]
}

/// `resources/list`: the fixed resources, every workload type's SOP, then every
/// definition, paged by position.
pub async fn list(
    server: &HomelabMcp,
    request: Option<PaginatedRequestParams>,
) -> Result<ListResourcesResult, ErrorData> {
    let view = server
        .view()
        .await
        .map_err(|r| ErrorData::internal_error(r.text(), None))?;
    let mut all = fixed();
    for w in view.outcome.catalog.workload_types.keys() {
        all.push(
            Resource::new(format!("homelab://sop/{w}"), format!("sop-{w}"))
                .with_title(format!("SOP: {w}"))
                .with_mime_type("text/markdown"),
        );
    }
    for (name, e) in &view.outcome.catalog.resources {
        all.push(
            Resource::new(format!("homelab://definitions/{name}"), name.clone())
                .with_description(format!("{} ({})", e.doc.file, e.object.spec.workload_type))
                .with_mime_type("application/yaml"),
        );
    }
    let start: usize = match request.and_then(|r| r.cursor) {
        Some(c) => c.parse().map_err(|_| {
            ErrorData::invalid_params(format!("cursor {c:?} was not given by this server"), None)
        })?,
        None => 0,
    };
    let end = (start + PAGE).min(all.len());
    let next = (end < all.len()).then(|| end.to_string());
    let page = all
        .get(start..end)
        .map(<[Resource]>::to_vec)
        .unwrap_or_default();
    let mut result = ListResourcesResult::with_all_items(page);
    result.next_cursor = next;
    Ok(result)
}

/// `resources/templates/list`.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new("homelab://definitions/{name}", "definition")
            .with_title("A resource definition")
            .with_mime_type("application/yaml"),
        ResourceTemplate::new("homelab://sop/{workload_type}", "sop")
            .with_title("The SOP of a workload type")
            .with_mime_type("text/markdown"),
    ])
}

fn text(uri: &str, mime: &str, body: String) -> ReadResourceResult {
    ReadResourceResult::new(vec![ResourceContents::text(body, uri).with_mime_type(mime)])
}

fn not_found(uri: &str, why: String) -> ErrorData {
    ErrorData::resource_not_found(
        format!("no resource {uri}: {why}"),
        Some(json!({ "uri": uri })),
    )
}

/// `resources/read`.
pub async fn read(server: &HomelabMcp, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let Some(path) = uri.strip_prefix(SCHEME) else {
        return Err(not_found(uri, "URIs here start with homelab://".into()));
    };
    let view = server
        .view()
        .await
        .map_err(|r| ErrorData::internal_error(r.text(), None))?;
    let json = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    match path.split_once('/') {
        None => match path {
            "definitions" => Ok(text(uri, "application/json", json(index(&view)))),
            "pools" => {
                let q = PoolQuery {
                    include_groups: true,
                    limit: Some(super::page::MAX_LIMIT),
                    ..PoolQuery::default()
                };
                Ok(text(
                    uri,
                    "application/json",
                    json(json!(pools::query_pools(&view, &q).pools)),
                ))
            }
            "charts" => Ok(text(
                uri,
                "application/json",
                json(json!(inventory::list_charts(&view, &ChartQuery::default()))),
            )),
            _ => Err(not_found(uri, "see resources/list".into())),
        },
        Some(("definitions", name)) => {
            let c = &view.outcome.catalog;
            match c.resources.get(name) {
                Some(e) => Ok(text(
                    uri,
                    "application/yaml",
                    format!(
                        "# {} (document {} of the file) at {}\n{}",
                        e.doc.file,
                        e.doc.index + 1,
                        view.head,
                        serde_yaml::to_string(e.doc.value()).unwrap_or_default()
                    ),
                )),
                None => Err(not_found(
                    uri,
                    match c.invalid_resources.get(name) {
                        Some(i) => format!(
                            "{name} is invalid ({}:{}); get-deployment-status shows why",
                            i.file, i.line
                        ),
                        None => format!("no resource {name:?} in the tracked revision"),
                    },
                )),
            }
        }
        Some(("sop", workload)) => match sop::sop(&view, Some(workload), None) {
            Ok(a) => Ok(text(uri, "text/markdown", a.sop)),
            Err(r) => Err(not_found(uri, r.text())),
        },
        Some(_) => Err(not_found(uri, "see resources/list".into())),
    }
}

/// The definitions index.
fn index(view: &View) -> serde_json::Value {
    let c = &view.outcome.catalog;
    let mut rows = Vec::new();
    for (name, e) in &c.resources {
        let d = view.outcome.decisions.get(name);
        rows.push(json!({
            "name": name,
            "file": e.doc.file,
            "valid": d.is_some(),
            "workload_type": e.object.spec.workload_type,
            "provider": d.map(|d| d.provider.as_str()),
            "pool": d.map(|d| d.pool.as_str()),
            "nodes": d.map(|d| d.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>()),
        }));
    }
    for (name, i) in &c.invalid_resources {
        rows.push(json!({ "name": name, "file": i.file, "line": i.line, "valid": false }));
    }
    json!({ "revision": view.head, "resources": rows })
}
