//! A local simulator of the two GitHub REST endpoints homelabd uses to open pull
//! requests, following GitHub's documentation (REST API 2022-11-28):
//!
//! - `GET /repos/{owner}/{repo}` — "Get a repository": 200 with the repository object;
//! - `POST /repos/{owner}/{repo}/pulls` — "Create a pull request": JSON `title`, `head`,
//!   `base` (required) and `body`; 201 with the pull-request object; 422 "Validation
//!   Failed" when `head` or `base` is not a branch of the repository.
//!
//! For pull-request previews (same documentation):
//!
//! - `GET /user` — "Get the authenticated user": the token's user, `homelabd-bot`; after
//!   [`GithubSim::act_as_app`], 403 "Resource not accessible by integration" as GitHub
//!   answers an App installation token, whose comments are then authored by the app's
//!   bot login;
//! - `GET /repos/{owner}/{repo}/pulls` — "List pull requests" (`state=open`): the pull
//!   requests registered with [`GithubSim::open_pull`] and not closed;
//! - `GET /repos/{owner}/{repo}/pulls/{pull_number}` — "Get a pull request": 200 with the
//!   pull-request object (`state` `open`, or `closed` after [`GithubSim::close_pull`],
//!   with `closed_at`); 404 "Not Found" for a number never registered;
//! - `POST /repos/{owner}/{repo}/statuses/{sha}` — "Create a commit status": JSON
//!   `state` (error, failure, pending, success; else 422), `context`, `description`
//!   (at most 140 characters; else 422); 201;
//! - `GET /repos/{owner}/{repo}/issues/{number}/comments` — "List issue comments"
//!   (`per_page`, `page`), oldest first;
//! - `POST /repos/{owner}/{repo}/issues/{number}/comments` — "Create an issue comment":
//!   JSON `body` (at most 65,536 characters; else 422); 201;
//! - `PATCH /repos/{owner}/{repo}/issues/comments/{id}` — "Update an issue comment":
//!   JSON `body`; 200; 404 for an unknown id.
//!
//! All answer 401 "Bad credentials" without `Authorization: Bearer <token>` (or
//! `token <token>`) and 404 "Not Found" for another repository. When given the path of
//! a git repository, the simulator checks `head` and `base` against its branches (as
//! GitHub checks the pushed repository) and reports their commit ids. Every request is
//! recorded (method, path, headers, JSON body) for assertions. Listens on 127.0.0.1 on a
//! free port. GitHub itself cannot be reached from the test machines.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One request as the simulator received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// The body parsed as JSON, if it was JSON.
    pub body: Option<Value>,
}

struct Sim {
    base_url: String,
    owner: String,
    repo: String,
    token: String,
    git_dir: Option<PathBuf>,
    requests: Mutex<Vec<Recorded>>,
    pulls: Mutex<u64>,
    fail_pulls: Mutex<Option<(StatusCode, Value)>>,
    /// Issue comments: (id, issue number, author login, body), oldest first.
    comments: Mutex<Vec<SimComment>>,
    /// Open pull requests for `GET .../pulls`: (number, head branch, head sha).
    open_pulls: Mutex<Vec<(u64, String, String)>>,
    /// Pull requests closed with [`GithubSim::close_pull`], same shape.
    closed_pulls: Mutex<Vec<(u64, String, String)>>,
    /// Set by [`GithubSim::act_as_app`]: the token is an App's, acting as this login.
    app_login: Mutex<Option<String>>,
}

/// An issue comment held by the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct SimComment {
    pub id: u64,
    pub issue: u64,
    pub login: String,
    pub body: String,
}

/// The login of the token's user.
pub const BOT_LOGIN: &str = "homelabd-bot";

/// A running simulator; stops when dropped.
pub struct GithubSim {
    /// `http://127.0.0.1:<port>`: the API base URL (and, as for GitHub Enterprise, the
    /// host of the web pages it links to).
    pub url: String,
    sim: Arc<Sim>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for GithubSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GithubSim {
    /// Serves repository `owner/repo`, accepting `token`; `git_dir` (a bare or normal
    /// repository) holds the branches pull requests may name.
    pub async fn start(
        owner: &str,
        repo: &str,
        token: &str,
        git_dir: Option<PathBuf>,
    ) -> GithubSim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GitHub simulator");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let sim = Arc::new(Sim {
            base_url: url.clone(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token: token.to_owned(),
            git_dir,
            requests: Mutex::new(Vec::new()),
            pulls: Mutex::new(0),
            fail_pulls: Mutex::new(None),
            comments: Mutex::new(Vec::new()),
            open_pulls: Mutex::new(Vec::new()),
            closed_pulls: Mutex::new(Vec::new()),
            app_login: Mutex::new(None),
        });
        let app = Router::new()
            .route("/repos/{owner}/{repo}", get(get_repository))
            .route(
                "/repos/{owner}/{repo}/pulls",
                get(list_pulls).post(create_pull),
            )
            .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
            .route("/user", get(authenticated_user))
            .route("/repos/{owner}/{repo}/statuses/{sha}", post(create_status))
            .route(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                get(list_comments).post(create_comment),
            )
            .route(
                "/repos/{owner}/{repo}/issues/comments/{id}",
                patch(update_comment),
            )
            .fallback(not_found)
            .with_state(Arc::clone(&sim));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GithubSim { url, sim, server }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.sim.requests.lock().unwrap().clone()
    }

    /// Makes the next pull-request creations fail with `status` and GitHub error `body`.
    pub fn fail_pull_requests_with(&self, status: u16, body: Value) {
        *self.sim.fail_pulls.lock().unwrap() = Some((StatusCode::from_u16(status).unwrap(), body));
    }

    /// Lists pull request `number` as open, with `head_ref` at `head_sha`.
    pub fn open_pull(&self, number: u64, head_ref: &str, head_sha: &str) {
        let mut pulls = self.sim.open_pulls.lock().unwrap();
        pulls.retain(|(n, _, _)| *n != number);
        pulls.push((number, head_ref.to_owned(), head_sha.to_owned()));
    }

    /// From now on the token behaves as a GitHub App installation token acting as
    /// `login` (`<app-slug>[bot]`): `GET /user` answers 403, comments are by `login`.
    pub fn act_as_app(&self, login: &str) {
        *self.sim.app_login.lock().unwrap() = Some(login.to_owned());
    }

    /// Closes pull request `number`: no longer listed, `state: closed` when read.
    pub fn close_pull(&self, number: u64) {
        let mut open = self.sim.open_pulls.lock().unwrap();
        let closed: Vec<_> = open.iter().filter(|p| p.0 == number).cloned().collect();
        open.retain(|p| p.0 != number);
        self.sim.closed_pulls.lock().unwrap().extend(closed);
    }

    /// Adds a comment by `login` to issue `number` (someone else's, for example).
    pub fn add_comment(&self, number: u64, login: &str, body: &str) -> u64 {
        add_comment(&self.sim, number, login, body)
    }

    /// Every comment so far, oldest first.
    pub fn comments(&self) -> Vec<SimComment> {
        self.sim.comments.lock().unwrap().clone()
    }

    /// The web address the simulator gives pull request `number`.
    pub fn pull_url(&self, number: u64) -> String {
        format!(
            "{}/{}/{}/pull/{number}",
            self.url, self.sim.owner, self.sim.repo
        )
    }
}

fn record(sim: &Sim, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    sim.requests.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        accept: header("accept"),
        user_agent: header("user-agent"),
        body: serde_json::from_slice(body).ok(),
    });
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}

/// 401 / 404 as GitHub answers them, or `None` when the request may go on.
fn refuse(sim: &Sim, headers: &HeaderMap, owner: &str, repo: &str) -> Option<Response> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = auth == format!("Bearer {}", sim.token) || auth == format!("token {}", sim.token);
    if !ok {
        return Some(error(StatusCode::UNAUTHORIZED, "Bad credentials"));
    }
    if owner != sim.owner || repo != sim.repo {
        return Some(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    None
}

async fn not_found(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    error(StatusCode::NOT_FOUND, "Not Found")
}

async fn get_repository(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    (StatusCode::OK, axum::Json(repository(&sim))).into_response()
}

async fn create_pull(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    if let Some((status, body)) = sim.fail_pulls.lock().unwrap().clone() {
        return (status, axum::Json(body)).into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let field = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(title), Some(head), Some(base)) = (field("title"), field("head"), field("base"))
    else {
        return validation_failed("missing_field", "title, head and base are required");
    };
    let (Some(head_sha), Some(base_sha)) = (branch_sha(&sim, &head), branch_sha(&sim, &base))
    else {
        return validation_failed("invalid", "head or base is not a branch of the repository");
    };
    let number = {
        let mut n = sim.pulls.lock().unwrap();
        *n += 1;
        *n
    };
    let pr = pull_request(
        &sim,
        number,
        &title,
        field("body"),
        (&head, &head_sha),
        (&base, &base_sha),
    );
    (StatusCode::CREATED, axum::Json(pr)).into_response()
}

fn validation_failed(code: &str, message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "field": "head", "code": code, "message": message}],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "422",
        })),
    )
        .into_response()
}

/// The commit of branch `name` in the simulator's git repository (any id without one).
fn branch_sha(sim: &Sim, name: &str) -> Option<String> {
    let Some(dir) = &sim.git_dir else {
        return Some("0".repeat(40));
    };
    let repo = git2::Repository::open(dir).ok()?;
    let reference = repo.find_reference(&format!("refs/heads/{name}")).ok()?;
    Some(reference.peel_to_commit().ok()?.id().to_string())
}

fn user(sim: &Sim, login: &str) -> Value {
    let api = &sim.base_url;
    json!({
        "login": login,
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("{api}/avatars/{login}"),
        "gravatar_id": "",
        "url": format!("{api}/users/{login}"),
        "html_url": format!("{api}/{login}"),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": "User",
        "site_admin": false
    })
}

fn repository(sim: &Sim) -> Value {
    let (api, owner, repo) = (&sim.base_url, &sim.owner, &sim.repo);
    json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": repo,
        "full_name": format!("{owner}/{repo}"),
        "owner": user(sim, owner),
        "private": true,
        "html_url": format!("{api}/{owner}/{repo}"),
        "description": "homelab definitions",
        "fork": false,
        "url": format!("{api}/repos/{owner}/{repo}"),
        "pulls_url": format!("{api}/repos/{owner}/{repo}/pulls{{/number}}"),
        "compare_url": format!("{api}/repos/{owner}/{repo}/compare/{{base}}...{{head}}"),
        "clone_url": format!("{api}/{owner}/{repo}.git"),
        "ssh_url": format!("git@127.0.0.1:{owner}/{repo}.git"),
        "default_branch": "main",
        "visibility": "private",
        "archived": false,
        "disabled": false,
        "has_issues": true,
        "open_issues_count": 0,
        "pushed_at": "2026-01-01T00:00:00Z",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
    })
}

fn pull_request(
    sim: &Sim,
    number: u64,
    title: &str,
    body: Option<String>,
    head: (&str, &str),
    base: (&str, &str),
) -> Value {
    let (api, owner, repo) = (&sim.base_url, &sim.owner, &sim.repo);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let branch = |(name, sha): (&str, &str)| {
        json!({
            "label": format!("{owner}:{name}"),
            "ref": name,
            "sha": sha,
            "user": user(sim, owner),
            "repo": repository(sim),
        })
    };
    let pulls = format!("{api}/repos/{owner}/{repo}/pulls/{number}");
    // Two halves: one json! of the whole object exceeds the macro recursion limit.
    let mut pr = json!({
        "url": pulls,
        "id": 1000 + number,
        "node_id": "MDExOlB1bGxSZXF1ZXN0MQ==",
        "html_url": format!("{api}/{owner}/{repo}/pull/{number}"),
        "diff_url": format!("{api}/{owner}/{repo}/pull/{number}.diff"),
        "patch_url": format!("{api}/{owner}/{repo}/pull/{number}.patch"),
        "issue_url": format!("{api}/repos/{owner}/{repo}/issues/{number}"),
        "commits_url": format!("{pulls}/commits"),
        "review_comments_url": format!("{pulls}/comments"),
        "review_comment_url": format!("{api}/repos/{owner}/{repo}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/repos/{owner}/{repo}/issues/{number}/comments"),
        "statuses_url": format!("{api}/repos/{owner}/{repo}/statuses/{}", head.1),
        "number": number,
        "state": "open",
        "locked": false,
        "title": title,
        "user": user(sim, "homelabd-bot"),
        "body": body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": now,
        "updated_at": now,
        "closed_at": null,
        "merged_at": null,
    });
    let rest = json!({
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": branch(head),
        "base": branch(base),
        "author_association": "OWNER",
        "auto_merge": null,
        "draft": false,
        "merged": false,
        "mergeable": null,
        "rebaseable": null,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": false,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 1
    });
    if let (Some(all), Value::Object(rest)) = (pr.as_object_mut(), rest) {
        all.extend(rest);
    }
    pr
}

fn add_comment(sim: &Sim, issue: u64, login: &str, body: &str) -> u64 {
    let mut comments = sim.comments.lock().unwrap();
    let id = 9000 + comments.len() as u64 + 1;
    comments.push(SimComment {
        id,
        issue,
        login: login.to_owned(),
        body: body.to_owned(),
    });
    id
}

fn comment_json(sim: &Sim, c: &SimComment) -> Value {
    let (api, owner, repo) = (&sim.base_url, &sim.owner, &sim.repo);
    json!({
        "id": c.id,
        "node_id": "IC_kwDOA",
        "url": format!("{api}/repos/{owner}/{repo}/issues/comments/{}", c.id),
        "html_url": format!("{api}/{owner}/{repo}/pull/{}#issuecomment-{}", c.issue, c.id),
        "issue_url": format!("{api}/repos/{owner}/{repo}/issues/{}", c.issue),
        "body": c.body,
        "user": user(sim, &c.login),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "author_association": "NONE",
    })
}

/// The `body` of a JSON request, or the 400 / 422 GitHub answers.
fn body_field(body: &[u8], limit: usize) -> Result<String, Box<Response>> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
        )));
    };
    match request.get("body").and_then(Value::as_str) {
        Some(text) if text.chars().count() <= limit => Ok(text.to_owned()),
        Some(_) => Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: body is too long (maximum is 65536 characters)",
        ))),
        None => Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: body is missing",
        ))),
    }
}

async fn authenticated_user(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &sim.owner, &sim.repo) {
        return refused;
    }
    if sim.app_login.lock().unwrap().is_some() {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                "status": "403",
            })),
        )
            .into_response();
    }
    (StatusCode::OK, axum::Json(user(&sim, BOT_LOGIN))).into_response()
}

async fn list_pulls(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    let open = sim.open_pulls.lock().unwrap().clone();
    let base_sha = branch_sha(&sim, "main").unwrap_or_else(|| "0".repeat(40));
    let pulls: Vec<Value> = open
        .iter()
        .map(|(number, head, sha)| {
            pull_request(
                &sim,
                *number,
                "preview me",
                None,
                (head, sha),
                ("main", &base_sha),
            )
        })
        .collect();
    (StatusCode::OK, axum::Json(pulls)).into_response()
}

async fn get_pull(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    let find = |list: &Mutex<Vec<(u64, String, String)>>| {
        list.lock().unwrap().iter().find(|p| p.0 == number).cloned()
    };
    let (found, open) = match find(&sim.open_pulls) {
        Some(p) => (p, true),
        None => match find(&sim.closed_pulls) {
            Some(p) => (p, false),
            None => return error(StatusCode::NOT_FOUND, "Not Found"),
        },
    };
    let base_sha = branch_sha(&sim, "main").unwrap_or_else(|| "0".repeat(40));
    let mut pull = pull_request(
        &sim,
        number,
        "preview me",
        None,
        (&found.1, &found.2),
        ("main", &base_sha),
    );
    if !open {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        pull["state"] = json!("closed");
        pull["closed_at"] = json!(now);
    }
    (StatusCode::OK, axum::Json(pull)).into_response()
}

async fn create_status(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let state = request
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["error", "failure", "pending", "success"].contains(&state) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed: state");
    }
    let description = request.get("description").and_then(Value::as_str);
    if description.is_some_and(|d| d.chars().count() > 140) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: description is too long (maximum is 140 characters)",
        );
    }
    let api = &sim.base_url;
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "url": format!("{api}/repos/{owner}/{repo}/statuses/{sha}"),
            "id": 1,
            "node_id": "MDY6U3RhdHVzMQ==",
            "state": state,
            "description": description,
            "target_url": request.get("target_url"),
            "context": request.get("context").and_then(Value::as_str).unwrap_or("default"),
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "creator": user(&sim, BOT_LOGIN),
        })),
    )
        .into_response()
}

async fn list_comments(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str, default: usize| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(default)
    };
    let (per_page, page) = (param("per_page", 30).clamp(1, 100), param("page", 1).max(1));
    let all: Vec<Value> = sim
        .comments
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.issue == number)
        .map(|c| comment_json(&sim, c))
        .collect();
    let page: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    (StatusCode::OK, axum::Json(page)).into_response()
}

async fn create_comment(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    let text = match body_field(&body, 65_536) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let author = sim
        .app_login
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| BOT_LOGIN.to_owned());
    let id = add_comment(&sim, number, &author, &text);
    let comment = sim
        .comments
        .lock()
        .unwrap()
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .unwrap();
    (
        StatusCode::CREATED,
        axum::Json(comment_json(&sim, &comment)),
    )
        .into_response()
}

async fn update_comment(
    State(sim): State<Arc<Sim>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&sim, &method, &uri, &headers, &body);
    if let Some(refused) = refuse(&sim, &headers, &owner, &repo) {
        return refused;
    }
    let text = match body_field(&body, 65_536) {
        Ok(text) => text,
        Err(response) => return *response,
    };
    let updated = {
        let mut comments = sim.comments.lock().unwrap();
        comments.iter_mut().find(|c| c.id == id).map(|c| {
            c.body = text;
            c.clone()
        })
    };
    match updated {
        Some(comment) => (StatusCode::OK, axum::Json(comment_json(&sim, &comment))).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
