//! Hostile callers of the daemon's HTTP listener, against the real `homelabd daemon` on a
//! real git repository: tokens short enough to guess are refused at start, guessing from
//! one address is cut off with 429 before any token is compared, and `/readyz` tells
//! anonymous callers which component is not ready but never the error text (paths, hosts
//! and users in git and database errors), which only a valid token sees.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, Homelab, READ_TOKEN};
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use support::daemon::DaemonCommand;

/// Waits up to 30 s for the process to exit; its exit status and log.
fn exit_of(daemon: &mut support::daemon::Daemon) -> (Option<std::process::ExitStatus>, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            return (Some(status), daemon.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (None, daemon.log())
}

#[test]
fn a_token_shorter_than_sixteen_characters_stops_the_start_naming_the_setting() {
    let lab = Homelab::new();
    for (env, value, named) in [
        (
            "HOMELABD_MCP_READ_TOKEN",
            "letmein",
            "HOMELABD_MCP_READ_TOKEN",
        ),
        (
            "HOMELABD_MCP_TOKEN",
            "0123456789abcde",
            "HOMELABD_MCP_TOKEN",
        ),
        (
            "HOMELABD_WEBHOOK_SECRET",
            "s3cret",
            "HOMELABD_WEBHOOK_SECRET",
        ),
    ] {
        let state = tempfile::tempdir().unwrap();
        let mut daemon = DaemonCommand::new(state.path())
            .repo(&lab.repo)
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("HOMELABD_MCP_TOKEN")
            .env_remove("HOMELABD_MCP_READ_TOKEN")
            .env(env, value)
            .spawn();
        let (status, log) = exit_of(&mut daemon);
        let status = status.unwrap_or_else(|| panic!("{env}={value}: still running\n{log}"));
        assert!(!status.success(), "{log}");
        assert!(
            log.contains(named)
                && log.contains(&format!("{} characters", value.len()))
                && log.contains("at least 16"),
            "{env}: {log}"
        );
        assert!(!log.contains(value), "the secret is never printed: {log}");
    }
}

async fn post_mcp(client: &reqwest::Client, daemon: &Daemon, token: &str) -> reqwest::Response {
    client
        .post(daemon.url("/mcp"))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_from_one_address_is_answered_429_without_comparing_any_token() {
    let lab = Homelab::new();
    let daemon = Daemon::start(
        &lab.repo,
        "[mcp]\nauth_failure_limit = 3\nauth_failure_window_seconds = 120\n",
        &[],
    );
    let client = support::http_client();
    // The valid token passes the guard before the guessing starts.
    let before = post_mcp(&client, &daemon, READ_TOKEN).await.status();
    assert!(
        before != StatusCode::UNAUTHORIZED && before != StatusCode::TOO_MANY_REQUESTS,
        "{before}"
    );
    for guess in ["guess-000000000001", "guess-000000000002"] {
        let r = post_mcp(&client, &daemon, guess).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // /readyz's details ask for a token too: a guess there counts the same.
    let r = support::get_with_token(daemon.url("/readyz"), "guess-000000000003")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for path in ["/mcp", "/readyz"] {
        // Past the limit even the right token is not compared: the address waits.
        let r = if path == "/mcp" {
            post_mcp(&client, &daemon, READ_TOKEN).await
        } else {
            support::get_with_token(daemon.url(path), READ_TOKEN)
                .await
                .unwrap()
        };
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        let retry: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{path}: no Retry-After"));
        assert!((1..=120).contains(&retry), "{path}: Retry-After {retry}");
        let body = r.text().await.unwrap();
        assert!(body.contains("too many failed authentications"), "{body}");
    }
    // Anonymous health and readiness are not tokens: they keep answering.
    let r = support::get(daemon.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = support::get(daemon.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        daemon
            .log()
            .contains("too many failed authentications from this address"),
        "{}",
        daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_failing_component_to_anyone_and_its_error_only_to_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    // A remote that is not there: the git error names its path.
    let missing = tmp.path().join("private-lab-layout").join("homelab.git");
    let state = tmp.path().join("state");
    let daemon = DaemonCommand::new(&state)
        .repo(format!("file://{}", missing.display()))
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("HOMELABD_MCP_READ_TOKEN", READ_TOKEN)
        .spawn();
    daemon.wait_healthy(60).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let detailed = loop {
        let r = support::get_with_token(daemon.url("/readyz"), READ_TOKEN)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = r.json().await.unwrap();
        if body["git_error"].is_string() {
            break body;
        }
        assert!(Instant::now() < deadline, "{body}\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        detailed["git_error"]
            .as_str()
            .is_some_and(|e| e.contains("private-lab-layout")),
        "{detailed}"
    );

    let r = support::get(daemon.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let anonymous: serde_json::Value = r.json().await.unwrap();
    assert_eq!(anonymous["ready"], false);
    assert_eq!(anonymous["components"]["git"], "failing");
    assert_eq!(anonymous["components"]["initial_load"], "pending");
    let text = anonymous.to_string();
    assert!(!text.contains("private-lab-layout"), "{text}");
    assert!(anonymous.get("git_error").is_none(), "{text}");
    assert_eq!(detailed["components"]["git"], "failing");
}
