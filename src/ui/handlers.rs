//! The dashboard's axum shell: sessions from cookies, the store reads behind each page,
//! the actions, server-sent events, static assets and the security headers every
//! answer carries.

use super::session::{self, LOGIN_COOKIE, Session};
use super::templates::Templates;
use super::views::{
    self, AuditRow, DeviationRow, PassRow, PreviewRow, ProposalRow, RenderRow, ResourceRow, RunRow,
};
use crate::config::ui::UiSettings;
use crate::control::status::DaemonStatus;
use crate::mcp::Scope;
use crate::mcp::auth::{Guard, Refusal, too_many_requests};
use crate::model::Provider;
use crate::source::TrackedRepo;
use crate::store::{AuditFilter, AuditRecord, RequestAction, ResourceFilter, Store, StoreError};
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows per page of the resources and audit lists.
pub const PAGE_SIZE: i64 = 50;
/// Rows in each list of the overview.
const OVERVIEW_ROWS: i64 = 20;
/// How soon the page shown while the daemon prepares its database reloads.
const STARTING_RETRY: Duration = Duration::from_secs(2);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the dashboard's handlers share.
pub struct Ui {
    store: Option<Arc<Store>>,
    status: Arc<DaemonStatus>,
    guard: Arc<Guard>,
    settings: UiSettings,
    templates: Templates,
    repo: Option<TrackedRepo>,
    state_dir: PathBuf,
    rendered_dir: PathBuf,
    sinks: Vec<Value>,
    /// May propose-scope logins press the action buttons (`[mcp] read_only` says no)?
    actions: bool,
    stop: CancellationToken,
    /// The commit message last looked up: (commit, summary, author).
    message: Mutex<Option<(String, String, String)>>,
    /// The store's change counter, polled while an event stream is open ([`super::live`]).
    changes: std::sync::OnceLock<tokio::sync::watch::Sender<i64>>,
    /// The pools and their bookings as of the last store change the pools page saw.
    pools: PoolsCache,
    /// What the resources page's text filter searches, as of the last store change a
    /// search saw.
    search: SearchCache,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Ui {
    /// The dashboard over `store` (None: the database was unreachable at start) and the
    /// daemon's `status`; logins are checked by `guard` (the MCP tokens and their
    /// failure limit). `stop` ends open event streams at shutdown.
    pub fn new(
        settings: &crate::config::Settings,
        repo: Option<TrackedRepo>,
        store: Option<Arc<Store>>,
        status: Arc<DaemonStatus>,
        guard: Arc<Guard>,
        stop: CancellationToken,
    ) -> Result<Ui, super::templates::TemplateError> {
        let sinks = settings
            .notify
            .sinks
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "kind": s.kind.as_str(),
                    "events": match &s.events {
                        None => "all".to_owned(),
                        Some(set) => set.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
                    },
                    "min_severity": s.min_severity.as_str(),
                })
            })
            .collect();
        Ok(Ui {
            store,
            status,
            guard,
            settings: settings.ui.clone(),
            templates: Templates::new()?,
            repo,
            state_dir: settings.state_dir.clone(),
            rendered_dir: settings.rendered_dir(),
            sinks,
            actions: !settings.mcp.read_only,
            stop,
            message: Mutex::new(None),
            changes: std::sync::OnceLock::new(),
            pools: PoolsCache::default(),
            search: SearchCache::default(),
        })
    }

    fn store(&self) -> Result<&Store, Box<Response>> {
        self.store.as_deref().ok_or_else(|| {
            Box::new(self.message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Database unavailable",
                "The daemon could not reach its database when it started; restart it once the database is back.",
                None,
            ))
        })
    }

    fn page(&self, name: &'static str, ctx: &Value) -> Response {
        match self.templates.render(name, ctx) {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "dashboard page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "page failed; see the daemon's log\n",
                )
                    .into_response()
            }
        }
    }

    fn message_page(
        &self,
        status: StatusCode,
        title: &str,
        message: &str,
        session: Option<&Session>,
    ) -> Response {
        let mut ctx = match session {
            Some(s) => base("", title, s),
            None => json!({"page": "", "title": title}),
        };
        ctx["message"] = json!(message);
        let mut response = self.page("message.html", &ctx);
        *response.status_mut() = status;
        response
    }

    /// While the daemon has not yet reached and migrated its database (its first
    /// seconds; nothing failed yet), the page that says so and reloads itself — at
    /// `reload`, else at the same address — instead of "unavailable". `None` once the
    /// database was reached or failed (an outage is reported as one).
    fn starting_page(&self, reload: Option<&str>) -> Option<Response> {
        let snap = self.status.snapshot();
        if snap.db_ok || snap.db_error.is_some() {
            return None;
        }
        let secs = STARTING_RETRY.as_secs();
        let refresh = match reload {
            Some(url) => format!("{secs}; url={url}"),
            None => secs.to_string(),
        };
        let ctx = json!({
            "page": "",
            "title": "Starting",
            "message": "The daemon is starting: it is preparing its database. This page reloads by itself in a moment.",
            "refresh": refresh,
        });
        let mut response = self.page("message.html", &ctx);
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        Some(response)
    }

    fn store_failed(&self, e: &StoreError, s: &Session) -> Response {
        tracing::warn!(error = %e, "dashboard: store read failed");
        self.message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Database unavailable",
            "The database did not answer; this page shows again once it does.",
            Some(s),
        )
    }

    /// The first line and author of `commit`'s message, read once per commit.
    async fn commit_message(&self, commit: &str) -> (String, String) {
        if let Ok(cached) = self.message.lock()
            && let Some((c, summary, author)) = cached.as_ref()
            && c == commit
        {
            return (summary.clone(), author.clone());
        }
        let Some(repo) = self.repo.clone() else {
            return Default::default();
        };
        let wanted = commit.to_owned();
        let found = tokio::task::spawn_blocking(move || repo.commit_summary(&wanted))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .unwrap_or_default();
        if let Ok(mut cached) = self.message.lock() {
            *cached = Some((commit.to_owned(), found.0.clone(), found.1.clone()));
        }
        found
    }
}

/// The router: every `/ui` route, `/` redirecting to it, and the security headers.
pub fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(to_overview))
        .route("/ui", get(to_overview))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/", get(overview))
        .route("/ui/resources", get(resources))
        .route("/ui/resources/{name}", get(resource))
        .route("/ui/resources/{name}/apply", post(apply_resource))
        .route("/ui/resources/{name}/reconcile", post(reconcile_resource))
        .route("/ui/reconcile", post(reconcile_all))
        .route("/ui/pools", get(pools))
        .route("/ui/proposals", get(proposals))
        .route("/ui/audit", get(audit))
        .route("/ui/notifications", get(notifications))
        .route("/ui/events", get(events))
        .route("/ui/assets/ui.css", get(css))
        .route("/ui/assets/ui.js", get(js))
        .route("/ui/{*rest}", get(not_found))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(ui)
}

async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| session::cookie(v, name).map(str::to_owned))
}

fn to_login() -> Response {
    Redirect::to("/ui/login").into_response()
}

async fn to_overview() -> Redirect {
    Redirect::to("/ui/")
}

/// The navigation, user and CSRF token every logged-in page has.
fn base(page: &str, title: &str, s: &Session) -> Value {
    let nav: Vec<Value> = [
        ("overview", "Overview", "/ui/"),
        ("resources", "Resources", "/ui/resources"),
        ("pools", "Pools", "/ui/pools"),
        ("proposals", "Proposals", "/ui/proposals"),
        ("audit", "Audit", "/ui/audit"),
        ("notifications", "Notifications", "/ui/notifications"),
    ]
    .iter()
    .map(|(id, label, href)| json!({"id": id, "label": label, "href": href}))
    .collect();
    json!({
        "page": page,
        "title": title,
        "nav": nav,
        "user": {"name": s.caller.name, "scope": s.caller.scope.as_str()},
        "csrf": s.csrf,
    })
}

/// Refuses a POST that comes from another site or another origin on this one: a
/// browser's `Sec-Fetch-Site` other than `same-origin` / `none`, or (from browsers that
/// do not send it) an `Origin` naming another host. SameSite=Strict keeps the session
/// cookie off cross-site requests already; this also covers the login form and other
/// ports of the same host.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    origin_host != host
}

fn forbidden(ui: &Ui, why: &str, s: Option<&Session>) -> Response {
    ui.message_page(StatusCode::FORBIDDEN, "Refused", why, s)
}

macro_rules! session_or_login {
    ($ui:expr, $headers:expr) => {
        match $ui.session(&$headers, true).await {
            Ok(Some((_, s))) => s,
            Ok(None) => return to_login(),
            Err(response) => return *response,
        }
    };
}

macro_rules! store_or {
    ($ui:expr) => {
        match $ui.store() {
            Ok(store) => store,
            Err(response) => return *response,
        }
    };
}

macro_rules! read {
    ($ui:expr, $s:expr, $e:expr) => {
        match $e.await {
            Ok(v) => v,
            Err(e) => return $ui.store_failed(&e, &$s),
        }
    };
}

mod login;
use login::{CsrfForm, checked_post, login, login_page, logout};
mod kept;
mod pools;
use pools::{PoolsCache, pools};
mod search;
use search::SearchCache;

// ---------------------------------------------------------------- pages

fn can_act(ui: &Ui, s: &Session) -> bool {
    ui.actions && s.caller.scope == Scope::Propose
}

fn filter(state: &str) -> ResourceFilter {
    ResourceFilter {
        state: Some(state.to_owned()),
        ..ResourceFilter::default()
    }
}

#[derive(Debug, Default, Deserialize)]
struct Requested {
    requested: Option<String>,
    id: Option<i64>,
}

/// The fixed notice for a request just queued (never text from the query string).
fn requested_notice(r: &Requested) -> Option<String> {
    let what = match r.requested.as_deref()? {
        "apply" => "Apply",
        "reconcile" => "Reconcile",
        _ => return None,
    };
    Some(format!(
        "{what} requested (#{}); the daemon picks it up within a second.",
        r.id.unwrap_or(0)
    ))
}

async fn overview(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(requested): Query<Requested>,
) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let snap = ui.status.snapshot();
    let facets = read!(ui, s, store.resource_facets());
    let failed = read!(
        ui,
        s,
        store.resources_page(&filter("failed"), 0, OVERVIEW_ROWS)
    );
    let invalid = read!(
        ui,
        s,
        store.resources_page(&filter("invalid"), 0, OVERVIEW_ROWS)
    );
    let waiting = read!(
        ui,
        s,
        store.resources_page(&filter("rendered"), 0, OVERVIEW_ROWS)
    );
    let deviations = read!(ui, s, store.deviations(true, OVERVIEW_ROWS));
    let passes = read!(ui, s, store.revisions(5));
    let recorded = passes.first().cloned();
    let commit = snap
        .revision
        .clone()
        .or_else(|| recorded.as_ref().map(|r| r.commit.clone()));
    let revision = match &commit {
        Some(c) => {
            let (summary, author) = ui.commit_message(c).await;
            let row = match recorded.as_ref().filter(|r| &r.commit == c) {
                Some(r) => json!(PassRow::from(r)),
                None => json!({"commit": c, "short": views::short(c), "valid": true}),
            };
            Some((row, summary, author))
        }
        None => None,
    };
    let total: i64 = facets.states.iter().map(|(_, n)| n).sum();
    let failing: Vec<ResourceRow> = failed
        .items
        .iter()
        .chain(invalid.items.iter())
        .map(ResourceRow::from)
        .collect();
    let mut ctx = base("overview", "Overview", &s);
    let extra = json!({
        "revision": revision.as_ref().map(|r| &r.0),
        "commit_message": revision.as_ref().map(|r| r.1.as_str()).unwrap_or(""),
        "commit_author": revision.as_ref().map(|r| r.2.as_str()).unwrap_or(""),
        "health": views::Health::from(&snap),
        "total": total,
        "states": facets.states.iter().map(|(st, n)| json!([st, n, views::state_class(st)])).collect::<Vec<_>>(),
        "deviations": deviations.iter().map(DeviationRow::from).collect::<Vec<_>>(),
        "open_count": snap.open_deviations.unwrap_or(deviations.len() as u64),
        "failing": failing,
        "failing_total": failed.total + invalid.total,
        "waiting": waiting.items.iter().map(ResourceRow::from).collect::<Vec<_>>(),
        "waiting_total": waiting.total,
        "passes": passes.iter().map(PassRow::from).collect::<Vec<_>>(),
        "can_act": can_act(&ui, &s),
        "notice": requested_notice(&requested),
    });
    merge(&mut ctx, extra);
    ui.page("overview.html", &ctx)
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

#[derive(Debug, Default, Deserialize)]
struct ResourceQuery {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    pool: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    offset: i64,
}

fn bounded(text: &str) -> String {
    text.chars().take(200).collect()
}

async fn resources(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(q): Query<ResourceQuery>,
) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let (provider, pool, state, text) = (
        bounded(&q.provider),
        bounded(&q.pool),
        bounded(&q.state),
        bounded(&q.q),
    );
    let offset = q.offset.clamp(0, 1_000_000_000);
    // Parsed here, at the edge: an unknown provider is a mistake to point out, not a
    // filter that silently matches nothing.
    let wanted = match provider.trim() {
        "" => None,
        name => match Provider::parse(name) {
            Some(p) => Some(p),
            None => {
                let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
                return ui.message_page(
                    StatusCode::BAD_REQUEST,
                    "Unknown provider",
                    &format!(
                        "There is no provider {name:?} to filter by; the providers are {}.",
                        known.join(", ")
                    ),
                    Some(&s),
                );
            }
        },
    };
    let f = ResourceFilter {
        provider: wanted,
        pool: Some(pool.clone()),
        state: Some(state.clone()),
        text: Some(text.clone()),
    };
    let facets = read!(ui, s, store.resource_facets());
    let page = read!(
        ui,
        s,
        search::resources_page(store, &ui.search, &f, offset, PAGE_SIZE)
    );
    let kept = [
        ("provider", provider.as_str()),
        ("pool", pool.as_str()),
        ("state", state.as_str()),
        ("q", text.as_str()),
    ];
    let mut ctx = base("resources", "Resources", &s);
    merge(
        &mut ctx,
        json!({
            "filter": {"provider": provider, "pool": pool, "state": state, "q": text},
            "facets": {"providers": facets.providers, "pools": facets.pools, "states": facets.states},
            "rows": page.items.iter().map(ResourceRow::from).collect::<Vec<_>>(),
            "pager": views::pager("/ui/resources", &kept, offset, PAGE_SIZE, page.total),
        }),
    );
    ui.page("resources.html", &ctx)
}

/// The placement document as shown: pool, nodes, GPUs, target, reasons, alternatives.
fn placement_view(p: &Value) -> Value {
    let strings = |key: &str, f: &dyn Fn(&Value) -> String| -> Vec<String> {
        p.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default()
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let target = p
        .get("target")
        .and_then(|t| serde_json::from_value::<crate::target::Target>(t.clone()).ok())
        .map(|t| t.describe())
        .unwrap_or_default();
    let moved = p.get("moved").filter(|m| !m.is_null()).map(|m| {
        format!(
            "Moved from {} to {}: {}",
            text(m.get("from")),
            text(m.get("to")),
            text(m.get("because"))
        )
    });
    json!({
        "pool": text(p.get("pool")),
        "nodes": strings("nodes", &|n| text(n.get("name"))),
        "gpus": strings("gpus", &|g| format!("{} {} on {}", text(g.get("model")), text(g.get("pci_address")), text(g.get("node")))),
        "target": target,
        "reasons": strings("reasons", &|r| r.as_str().unwrap_or("").to_owned()),
        "alternatives": p.get("alternatives").and_then(Value::as_array).map(|a| a.iter().map(|x| json!([text(x.get("pool")), text(x.get("verdict"))])).collect::<Vec<_>>()).unwrap_or_default(),
        "moved": moved,
    })
}

async fn resource(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(requested): Query<Requested>,
) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let Some(record) = read!(ui, s, store.resource(&name)) else {
        return ui.message_page(
            StatusCode::NOT_FOUND,
            "No such resource",
            &format!("No resource called {name} is recorded."),
            Some(&s),
        );
    };
    let runs = read!(ui, s, store.apply_runs(Some(&name), 10));
    let deviations = read!(ui, s, store.deviations_of(&name, 50));
    let renders = read!(ui, s, store.render_results(&name, 5));
    let provider = record.provider.map_or("none", |p| p.as_str());
    let rendered_dir = ui.rendered_dir.join(provider).join(&record.name);
    let work_dir = ui.state_dir.join("work").join(provider).join(&record.name);
    // Stored names are DNS-1123 labels; anything else never reaches the file system.
    let plain =
        |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let valid_name = plain(&record.name) && plain(provider);
    let files = if valid_name {
        tokio::task::spawn_blocking(move || {
            let rendered = super::files::read_tree(&rendered_dir)?;
            let applied = super::files::read_applied(&work_dir, &rendered);
            Some(super::files::compare(&rendered, applied.as_deref()))
        })
        .await
        .ok()
        .flatten()
    } else {
        None
    };
    let files_note = match &files {
        None => "No rendered files on this daemon's disk.",
        Some(_) if record.applied_hash.is_some() && record.applied_hash == record.output_hash => {
            "What is rendered is what was last applied."
        }
        Some(_) => "Compared with the copy the executor keeps of what it last applied.",
    };
    let policy: Vec<Value> = record
        .policy
        .as_ref()
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    json!([
                        k,
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    let manual = record
        .policy
        .as_ref()
        .and_then(|p| p.get("apply"))
        .and_then(Value::as_str)
        == Some("manual");
    let row = ResourceRow::from(&record);
    let mut ctx = base("resources", &record.name, &s);
    merge(
        &mut ctx,
        json!({
            "r": row,
            "chart": record.chart,
            "resource_type": record.resource_type,
            "desired_revision": record.desired_revision.as_deref().map(views::short),
            "applied_revision": record.applied_revision.as_deref().map(views::short),
            "policy": policy,
            "manual": manual && record.destroyed_at.is_none(),
            "endpoints": record.endpoints,
            "placement": record.placement.as_ref().map(placement_view),
            "files": files.unwrap_or_default(),
            "files_note": files_note,
            "runs": runs.iter().map(RunRow::from).collect::<Vec<_>>(),
            "deviations": deviations.iter().map(DeviationRow::from).collect::<Vec<_>>(),
            "renders": renders.iter().map(RenderRow::from).collect::<Vec<_>>(),
            "can_act": can_act(&ui, &s) && record.destroyed_at.is_none(),
            "notice": requested_notice(&requested),
        }),
    );
    ui.page("resource.html", &ctx)
}

async fn proposals(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let rows = read!(ui, s, store.proposals(100));
    let previews = read!(ui, s, store.previews(100));
    let mut ctx = base("proposals", "Proposals and previews", &s);
    merge(
        &mut ctx,
        json!({
            "proposals": rows.iter().map(ProposalRow::from).collect::<Vec<_>>(),
            "previews": previews.iter().map(PreviewRow::from).collect::<Vec<_>>(),
        }),
    );
    ui.page("proposals.html", &ctx)
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    offset: i64,
}

async fn audit(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let (actor, action, subject) = (bounded(&q.actor), bounded(&q.action), bounded(&q.subject));
    let offset = q.offset.clamp(0, 1_000_000_000);
    let f = AuditFilter {
        actor: Some(actor.clone()),
        action: Some(action.clone()),
        subject: Some(subject.clone()),
    };
    let page = read!(ui, s, store.audit_page(&f, offset, PAGE_SIZE));
    let kept = [
        ("actor", actor.as_str()),
        ("action", action.as_str()),
        ("subject", subject.as_str()),
    ];
    let mut ctx = base("audit", "Audit log", &s);
    merge(
        &mut ctx,
        json!({
            "filter": {"actor": actor, "action": action, "subject": subject},
            "rows": page.items.iter().map(AuditRow::from).collect::<Vec<_>>(),
            "pager": views::pager("/ui/audit", &kept, offset, PAGE_SIZE, page.total),
        }),
    );
    ui.page("audit.html", &ctx)
}

async fn notifications(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let s = session_or_login!(ui, headers);
    let store = store_or!(ui);
    let mut sinks = ui.sinks.clone();
    for sink in &mut sinks {
        let name = sink["name"].as_str().unwrap_or("").to_owned();
        sink["pending"] = json!(read!(ui, s, store.pending_deliveries(&name)));
    }
    let events = read!(ui, s, store.notifications(50));
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "at": views::when(&e.occurred_at),
                "severity": e.severity,
                "class": views::state_class(&e.severity),
                "event_type": e.event_type,
                "subject": e.subject,
                "summary": e.summary,
            })
        })
        .collect();
    let mut ctx = base("notifications", "Notifications", &s);
    merge(&mut ctx, json!({"sinks": sinks, "events": events}));
    ui.page("notifications.html", &ctx)
}

async fn not_found(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let s = session_or_login!(ui, headers);
    ui.message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page.",
        Some(&s),
    )
}

// ---------------------------------------------------------------- actions

/// Queues `action` for `resource` (None: everything) as the session's token, after the
/// CSRF, scope and existence checks; answers with a redirect to `back`.
async fn queue(
    ui: &Ui,
    headers: &HeaderMap,
    form: &CsrfForm,
    resource: Option<&str>,
    action: RequestAction,
) -> Response {
    let (_, s) = match checked_post(ui, headers, form).await {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if !can_act(ui, &s) {
        tracing::warn!(token = %s.caller.name, action = action.as_str(), "dashboard action refused: read scope");
        return forbidden(
            ui,
            "This login may only read: actions need a propose-scope token (and [mcp] read_only off).",
            Some(&s),
        );
    }
    let store = store_or!(ui);
    if let Some(name) = resource {
        match store.resource(name).await {
            Ok(Some(r)) if r.destroyed_at.is_none() => {}
            Ok(_) => {
                return ui.message_page(
                    StatusCode::NOT_FOUND,
                    "No such resource",
                    &format!("No resource called {name} exists."),
                    Some(&s),
                );
            }
            Err(e) => return ui.store_failed(&e, &s),
        }
    }
    let actor = format!("ui:{}", s.caller.name);
    match store.request(resource, &actor, action).await {
        Ok(id) => {
            tracing::info!(token = %s.caller.name, action = action.as_str(), resource = resource.unwrap_or("*"), id, "dashboard request queued");
            let back = match resource {
                Some(name) => format!("/ui/resources/{}", views::encode(name)),
                None => "/ui/".to_owned(),
            };
            Redirect::to(&format!("{back}?requested={}&id={id}", action.as_str())).into_response()
        }
        Err(e) => ui.store_failed(&e, &s),
    }
}

async fn apply_resource(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    queue(&ui, &headers, &form, Some(&name), RequestAction::Apply).await
}

async fn reconcile_resource(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    queue(&ui, &headers, &form, Some(&name), RequestAction::Reconcile).await
}

async fn reconcile_all(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    queue(&ui, &headers, &form, None, RequestAction::Reconcile).await
}

// ---------------------------------------------------------------- live updates and assets

/// `change` events whenever the daemon's status changes (a pass finished, applies or an
/// observation recorded) or the store records a change (on a cluster's follower, what
/// the leader did); the page then re-reads its live regions. Ends at shutdown or when
/// the session does.
async fn events(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    let id = match ui.session(&headers, false).await {
        Ok(Some((id, _))) => id,
        Ok(None) => return (StatusCode::UNAUTHORIZED, "log in first\n").into_response(),
        Err(response) => return *response,
    };
    let status = ui.status.subscribe();
    let stored = ui.store.as_ref().map(|store| {
        ui.changes
            .get_or_init(|| super::live::spawn(Arc::clone(store), ui.stop.clone()))
            .subscribe()
    });
    let state = (status, stored, ui, id, 0u64);
    let stream =
        futures_util::stream::unfold(state, |(mut status, mut stored, ui, id, n)| async move {
            let store_changed = async {
                match stored.as_mut() {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = status.changed() => changed.ok()?,
                changed = store_changed => changed.ok()?,
                _ = ui.stop.cancelled() => return None,
            }
            status.borrow_and_update();
            if let Some(rx) = stored.as_mut() {
                rx.borrow_and_update();
            }
            // The stream ends with the session (expired or logged out).
            ui.session_by_id(&id, false).await.ok()??;
            let event = Event::default().event("change").data((n + 1).to_string());
            Some((Ok::<_, Infallible>(event), (status, stored, ui, id, n + 1)))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/ui.css"))
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/ui.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn posts_from_other_sites_are_recognised() {
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:9465")])));
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:9465"),
            ("origin", "http://127.0.0.1:9465")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:9465"),
            ("origin", "http://evil.example")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:9465"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:9465"),
            ("sec-fetch-site", "same-site")
        ])));
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:9465"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn request_notices_are_fixed_texts() {
        let r = Requested {
            requested: Some("apply".into()),
            id: Some(7),
        };
        assert_eq!(
            requested_notice(&r).as_deref(),
            Some("Apply requested (#7); the daemon picks it up within a second.")
        );
        let r = Requested {
            requested: Some("<script>".into()),
            id: None,
        };
        assert_eq!(requested_notice(&r), None);
    }
}
