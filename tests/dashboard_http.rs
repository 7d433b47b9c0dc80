//! The dashboard over plain HTTP against real daemons (the browser walk is
//! tests/dashboard_browser.rs):
//!
//! - a login survives a restart of the daemon (sessions live in the store, by digest
//!   only), ends when the token it was made with is changed, and logout ends it for good;
//! - two daemons on one PostgreSQL: a page open on the follower (which runs no passes) is
//!   told about a commit the leader reconciled, over its event stream, and shows it;
//! - the pools page books a new placement as soon as the pass recorded it (it keeps the
//!   bookings between store changes);
//! - the audit page finds a subject by any part of it, whatever the case, and shows the
//!   address a refused `/mcp` call came from.

mod support;

use homelabd::store::{AuditFilter, Store};
use std::time::{Duration, Instant};
use support::daemon::{Daemon, DaemonCommand};

const TOKEN: &str = "dashboard-http-token-0123456789";

/// A browser without JavaScript: the session cookie by hand, no redirects followed.
struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    fn new() -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    /// Logs in on `daemon` with `token` through the login form.
    async fn login(&mut self, daemon: &Daemon, token: &str) {
        let session = support::ui_login::login(&self.http, &daemon.url(""), token).await;
        match session {
            Ok(cookie) => self.cookie = Some(cookie),
            Err(e) => panic!("login: {e}\n{}", daemon.log()),
        }
    }

    fn get(&self, daemon: &Daemon, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.get(daemon.url(path));
        match &self.cookie {
            Some(c) => req.header("Cookie", format!("homelabd_session={c}")),
            None => req,
        }
    }

    /// The page at `path`, or where it redirects to.
    async fn page(&self, daemon: &Daemon, path: &str) -> Result<String, String> {
        let resp = self.get(daemon, path).send().await.unwrap();
        match resp.status().as_u16() {
            200 => Ok(resp.text().await.unwrap()),
            303 | 302 | 307 => Err(resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or("")
                .to_owned()),
            other => panic!("{path}: {other}: {}", resp.text().await.unwrap()),
        }
    }

    /// The CSRF token of the page at `path` (the logout form has it).
    async fn csrf(&self, daemon: &Daemon) -> String {
        let page = self.page(daemon, "/ui/").await.expect("logged in");
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("csrf field")
            .to_owned()
    }
}

/// A daemon with its default SQLite store, once it has migrated it and recorded the
/// first pass.
async fn sqlite_daemon(repo: &std::path::Path, state: &std::path::Path, token: &str) -> Daemon {
    let daemon = DaemonCommand::new(state)
        .repo(repo)
        .env("HOMELABD_MCP_TOKEN", token)
        .spawn();
    daemon.wait_healthy(30).await;
    let db = format!("sqlite://{}", state.join("homelabd.db").display());
    support::daemon::wait_for_store(
        &db,
        &daemon,
        60,
        "the first pass",
        async |s: &Store| s.latest_revision().await.ok().flatten(),
        |_| true,
    )
    .await;
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_survives_a_restart_and_ends_with_its_token_or_logout() {
    let repo = support::repo_with(&[]);
    let state = tempfile::tempdir().unwrap();
    let mut daemon = sqlite_daemon(repo.path(), state.path(), TOKEN).await;
    let mut browser = Browser::new();
    browser.login(&daemon, TOKEN).await;
    assert!(browser.page(&daemon, "/ui/").await.is_ok());
    let id = browser.cookie.clone().unwrap();

    // The store keeps the session by digest: the cookie value is nowhere in the database.
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let store = Store::connect(&db).await.unwrap();
    assert!(store.ui_session(&id).await.unwrap().is_none());
    let bytes = std::fs::read(state.path().join("homelabd.db")).unwrap();
    let wal = std::fs::read(state.path().join("homelabd.db-wal")).unwrap_or_default();
    for file in [&bytes, &wal] {
        assert!(
            !file.windows(id.len()).any(|w| w == id.as_bytes()),
            "the cookie value is stored"
        );
    }
    let logins = store
        .audit_page(
            &AuditFilter {
                action: Some("ui.login".into()),
                ..Default::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(logins.total, 1);
    assert_eq!(logins.items[0].record.actor, "ui:env");
    let local: std::net::IpAddr = [127, 0, 0, 1].into();
    assert_eq!(
        logins.items[0].client_addr,
        Some(local),
        "the login's address is recorded as an /mcp call's is"
    );

    // Restarted with the same token: the session goes on.
    daemon.kill9();
    let mut daemon = sqlite_daemon(repo.path(), state.path(), TOKEN).await;
    let page = browser.page(&daemon, "/ui/resources").await;
    assert!(page.is_ok(), "after a restart: {page:?}\n{}", daemon.log());

    // Restarted with another token under the same name: the session ends.
    daemon.kill9();
    let mut daemon = sqlite_daemon(repo.path(), state.path(), "another-token-0123456789abc").await;
    assert_eq!(
        browser.page(&daemon, "/ui/").await,
        Err("/ui/login".to_owned())
    );
    assert!(
        store
            .ui_session(&homelabd::ui::session::digest(&id))
            .await
            .unwrap()
            .is_none(),
        "the orphaned session is deleted"
    );

    // Back on the first token: a new login, then logout ends it on every restart.
    daemon.kill9();
    let daemon = sqlite_daemon(repo.path(), state.path(), TOKEN).await;
    browser.login(&daemon, TOKEN).await;
    let csrf = browser.csrf(&daemon).await;
    let cookie = browser.cookie.clone().unwrap();
    let resp = browser
        .http
        .post(daemon.url("/ui/logout"))
        .header("Cookie", format!("homelabd_session={cookie}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        browser.page(&daemon, "/ui/").await,
        Err("/ui/login".to_owned())
    );
    let logouts = store
        .audit_page(
            &AuditFilter {
                action: Some("ui.logout".into()),
                ..Default::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(logouts.total, 1);
    assert_eq!(logouts.items[0].client_addr, Some(local));
}

/// Reads the event stream until a `change` event arrives; `false` after `secs`.
async fn change_event(resp: &mut reqwest::Response, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = String::new();
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
            Ok(Ok(Some(bytes))) => {
                seen.push_str(&String::from_utf8_lossy(&bytes));
                if seen.contains("event: change") {
                    return true;
                }
            }
            Ok(_) => return false,
            Err(_) => {}
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_page_learns_of_what_the_leader_reconciled() {
    let test = "a_followers_page_learns_of_what_the_leader_reconciled";
    let Some((_pg, url)) = support::store::postgres(test).await else {
        return;
    };
    let repo = support::repo_with(&[]);
    let state = tempfile::tempdir().unwrap();
    let config = "[reconcile]\nresync_schedule = \"0 0 1 1 *\"\n";
    let daemons: Vec<Daemon> = (0..2)
        .map(|i| {
            DaemonCommand::new(&state.path().join(format!("d{i}")))
                .repo(repo.path())
                .database(&url)
                .config(config)
                .env("HOMELABD_MCP_TOKEN", TOKEN)
                .spawn()
        })
        .collect();
    for d in &daemons {
        d.wait_healthy(60).await;
    }
    let store = Store::connect(&url).await.unwrap();
    let first = support::git(repo.path(), &["rev-parse", "HEAD"]);
    let ttl = homelabd::cluster::LEASE_TTL.as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    let leader_pid = loop {
        let members = store.cluster_members(ttl).await.unwrap_or_default();
        let recorded = store.latest_revision().await.ok().flatten();
        if let Some(m) = members.iter().find(|m| m.leader)
            && members.len() == 2
            && recorded.is_some_and(|r| r.commit == first)
        {
            break m.pid;
        }
        assert!(
            Instant::now() < deadline,
            "no leader with the first commit recorded: {members:#?}\n{}\n{}",
            daemons[0].log(),
            daemons[1].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let follower = daemons
        .iter()
        .find(|d| d.pid() != leader_pid)
        .expect("a follower");

    let mut browser = Browser::new();
    browser.login(follower, TOKEN).await;
    let overview = browser.page(follower, "/ui/").await.unwrap();
    assert!(
        overview.contains(&first[..12]),
        "the follower shows the first commit"
    );
    let mut events = browser.get(follower, "/ui/events").send().await.unwrap();
    assert_eq!(events.status(), 200);
    // The stream is open once its first keep-alive or headers arrived; give the
    // follower's store poll a baseline before the commit.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    support::write(
        repo.path(),
        "definitions/note.yaml",
        "# a comment-only file\n",
    );
    let second = support::git_commit_all(repo.path(), "second commit");
    assert!(
        change_event(&mut events, 60).await,
        "no change event on the follower\n{}",
        follower.log()
    );
    // The leader recorded it (the event said so); the follower's page shows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let overview = browser.page(follower, "/ui/").await.unwrap();
        if overview.contains(&second[..12]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the follower's overview never showed {second}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The text of the `<td class="{class}">` cell in `node`'s row of the pools page.
fn node_cell(page: &str, node: &str, class: &str) -> String {
    let row = page
        .split("<tr class=\"node\">")
        .find(|row| row.starts_with(&format!("<td>{node}")))
        .unwrap_or_else(|| panic!("no row for {node} in\n{page}"));
    let open = format!("<td class=\"{class}\">");
    row.split(&open)
        .nth(1)
        .and_then(|cell| cell.split("</td>").next())
        .unwrap_or_else(|| panic!("no {class} cell in {row}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pools_page_books_a_new_placement_at_once() {
    let definition = |name: &str| {
        support::docker::container_definition(name, "busybox:1", false)
            .replace("apply: auto", "apply: manual")
    };
    let repo = support::repo_with(&[("web-a", definition("web-a"))]);
    let state = tempfile::tempdir().unwrap();
    let daemon = sqlite_daemon(repo.path(), state.path(), TOKEN).await;
    let mut browser = Browser::new();
    browser.login(&daemon, TOKEN).await;
    let before = browser.page(&daemon, "/ui/pools").await.unwrap();
    assert!(
        node_cell(&before, "docker-01", "cpu").starts_with("1.0 / "),
        "web-a books 1 vCPU: {}",
        node_cell(&before, "docker-01", "cpu")
    );
    // Asked again with nothing changed: the same page from the kept bookings.
    assert_eq!(
        node_cell(
            &browser.page(&daemon, "/ui/pools").await.unwrap(),
            "docker-01",
            "cpu"
        ),
        node_cell(&before, "docker-01", "cpu")
    );

    support::write(repo.path(), "definitions/web-b.yaml", &definition("web-b"));
    support::git_commit_all(repo.path(), "add web-b");
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    support::daemon::wait_for_store(
        &db,
        &daemon,
        60,
        "web-b placed",
        async |s: &Store| s.resource("web-b").await.ok().flatten(),
        |r| r.placement.is_some(),
    )
    .await;
    let after = browser.page(&daemon, "/ui/pools").await.unwrap();
    assert!(
        node_cell(&after, "docker-01", "cpu").starts_with("2.0 / "),
        "the second placement is booked at once: {}",
        node_cell(&after, "docker-01", "cpu")
    );
    assert!(
        node_cell(&after, "docker-01", "memory").starts_with("0.5 / "),
        "{}",
        node_cell(&after, "docker-01", "memory")
    );
}

/// The provider filter of the resources page lists that provider's resources; a
/// provider homelabd does not know is a 400 naming the ones it does, not an empty list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resources_page_filters_by_provider_and_refuses_an_unknown_one() {
    let definition = support::docker::container_definition("web-a", "busybox:1", false)
        .replace("apply: auto", "apply: manual");
    let repo = support::repo_with(&[("web-a", definition)]);
    let state = tempfile::tempdir().unwrap();
    let daemon = sqlite_daemon(repo.path(), state.path(), TOKEN).await;
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    support::daemon::wait_for_store(
        &db,
        &daemon,
        60,
        "web-a recorded",
        async |s: &Store| s.resource("web-a").await.ok().flatten(),
        |_| true,
    )
    .await;
    let mut browser = Browser::new();
    browser.login(&daemon, TOKEN).await;
    let docker = browser
        .page(&daemon, "/ui/resources?provider=docker")
        .await
        .unwrap();
    assert!(docker.contains(">web-a</a>"), "{docker}");
    assert!(
        docker.contains("<td>docker</td>"),
        "the row names its provider"
    );
    let proxmox = browser
        .page(&daemon, "/ui/resources?provider=proxmox")
        .await
        .unwrap();
    assert!(!proxmox.contains(">web-a</a>"), "{proxmox}");
    let unknown = browser
        .get(&daemon, "/ui/resources?provider=dockr")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    let text = unknown.text().await.unwrap();
    assert!(
        text.contains("There is no provider") && text.contains("dockr"),
        "{text}"
    );
    assert!(text.contains("docker, "), "it names the known ones: {text}");
    let pools = browser.page(&daemon, "/ui/pools").await.unwrap();
    assert!(pools.contains(" · docker · "), "a pool shows its provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_finds_subjects_by_any_part_and_shows_client_addresses() {
    let repo = support::repo_with(&[]);
    let state = tempfile::tempdir().unwrap();
    let daemon = sqlite_daemon(repo.path(), state.path(), TOKEN).await;
    // A call with a wrong token: refused, and recorded with the caller's address.
    let refused = reqwest::Client::new()
        .post(daemon.url("/mcp"))
        .bearer_auth("not-the-token-0123456789")
        .header("Content-Type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let mut browser = Browser::new();
    browser.login(&daemon, TOKEN).await;
    for (query, found) in [
        ("subject=MCP", true),
        ("subject=%2Fmc&action=mcp.", true),
        ("subject=%25", false),
        ("subject=mcp&actor=daemon", false),
    ] {
        let page = browser
            .page(&daemon, &format!("/ui/audit?{query}"))
            .await
            .unwrap();
        let rows = page.split("<tbody>").nth(1).unwrap_or_default();
        assert_eq!(
            rows.contains("<td>mcp.refused</td>") && rows.contains("<td>127.0.0.1</td>"),
            found,
            "{query}:\n{rows}"
        );
        if !found {
            assert!(rows.contains("Nothing matches."), "{query}:\n{rows}");
        }
    }
}
