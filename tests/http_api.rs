//! The HTTP listener end to end: a real server on 127.0.0.1:0, a real trigger channel,
//! and a real HTTP client.

mod support;

use hmac::{Hmac, Mac};
use homelabd::control::status::DaemonStatus;
use homelabd::control::trigger::Trigger;
use homelabd::http::{HttpState, serve};
use homelabd::metrics::Metrics;
use homelabd::setting::Secret;
use reqwest::StatusCode;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const SECRET: &str = "It's a Secret to Everybody";

/// A running server and the other ends of its parts.
struct Server {
    base: String,
    client: reqwest::Client,
    triggers: mpsc::Receiver<Trigger>,
    status: Arc<DaemonStatus>,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(secret: Option<&str>, channel: usize) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::channel(channel);
    let status = Arc::new(DaemonStatus::default());
    let metrics = Arc::new(Metrics::new());
    let state = HttpState {
        status: status.clone(),
        metrics: metrics.clone(),
        triggers: tx,
        webhook_secret: secret.map(Secret::new),
        guard: None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Server {
        base: format!("http://{addr}"),
        client: support::http_client(),
        triggers: rx,
        status,
        metrics,
        stop: Some(stop),
        task,
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn github(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        sig: Option<String>,
    ) -> (StatusCode, String) {
        let mut req = self
            .client
            .post(self.url("/hooks/github"))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = sig {
            req = req.header("X-Hub-Signature-256", sig);
        }
        let resp = req.send().await.expect("send");
        (resp.status(), resp.text().await.expect("body"))
    }

    async fn generic(&self, ts: &str, body: &[u8], sig: Option<String>) -> (StatusCode, String) {
        let mut req = self
            .client
            .post(self.url("/hooks/generic"))
            .header("X-Homelabd-Timestamp", ts)
            .body(body.to_vec());
        if let Some(sig) = sig {
            req = req.header("X-Homelabd-Signature", sig);
        }
        let resp = req.send().await.expect("send");
        (resp.status(), resp.text().await.expect("body"))
    }

    fn no_trigger(&mut self) {
        assert!(self.triggers.try_recv().is_err(), "no trigger expected");
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .expect("server task");
        result.expect("serve returns Ok");
    }
}

/// `sha256=<hex HMAC-SHA256(key, data)>`, computed here independently of the crate.
fn hub_signature(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac key");
    mac.update(data);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

const PUSH: &[u8] =
    br#"{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","commits":[]}"#;

#[tokio::test]
async fn healthz_is_ok() {
    let s = start(None, 8).await;
    let resp = support::get(s.url("/healthz")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("body"), "ok");
    s.shutdown().await;
}

#[tokio::test]
async fn readyz_follows_status_and_names_components_without_error_text() {
    let s = start(None, 8).await;
    let resp = support::get(s.url("/readyz")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["ready"], false);
    assert_eq!(body["components"]["initial_load"], "pending", "{body}");
    assert_eq!(body["components"]["database"], "unavailable", "{body}");

    s.status.update(|st| {
        st.ready = true;
        st.db_ok = false;
        st.db_error = Some("connection to db.internal:5432 refused for user homelabd".into());
    });
    let resp = support::get(s.url("/readyz")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["components"]["database"], "unavailable", "{body}");
    assert_eq!(body["components"]["initial_load"], "ok", "{body}");
    assert!(!body.to_string().contains("db.internal"), "{body}");
    // Without a token guard, a presented token earns no details either.
    let resp = support::get_with_token(s.url("/readyz"), "any-token-0123456789")
        .await
        .expect("get");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(!body.to_string().contains("db.internal"), "{body}");

    s.status.update(|st| {
        st.db_ok = true;
        st.db_error = None;
        st.revision = Some("abc123".into());
    });
    let resp = support::get(s.url("/readyz")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["ready"], true);
    assert!(body.get("revision").is_none(), "{body}");
    s.shutdown().await;
}

#[tokio::test]
async fn metrics_exposition() {
    let s = start(None, 8).await;
    let m = &s.metrics;
    m.observe_reconcile(Duration::from_millis(1500));
    m.set_resources(&BTreeMap::from([
        ("rendered".to_owned(), 7),
        ("invalid".to_owned(), 2),
    ]));
    m.set_revision("0123abcd");
    m.inc_error(homelabd::metrics::ErrorKind::Git);
    m.inc_error(homelabd::metrics::ErrorKind::Git);
    m.set_last_sync(chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time"));
    m.set_ready(true);
    m.set_git_up(true);
    m.set_database_up(false);
    m.inc_pass();

    let resp = support::get(s.url("/metrics")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.expect("body");
    for line in [
        "homelabd_reconcile_duration_seconds_count 1",
        "homelabd_reconcile_duration_seconds_sum 1.5",
        "homelabd_resources{state=\"rendered\"} 7",
        "homelabd_resources{state=\"invalid\"} 2",
        "homelabd_revision_info{commit=\"0123abcd\"} 1",
        "homelabd_errors_total{kind=\"git\"} 2",
        "homelabd_errors_total{kind=\"webhook\"} 0",
        "homelabd_last_successful_sync_timestamp_seconds 1700000000",
        "homelabd_ready 1",
        "homelabd_git_source_up 1",
        "homelabd_database_up 0",
        "homelabd_render_passes_total 1",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "missing {line:?} in\n{text}"
        );
    }

    let resp = s
        .client
        .get(s.url("/metrics"))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("get");
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    assert!(resp.text().await.expect("body").ends_with("# EOF\n"));
    s.shutdown().await;
}

#[tokio::test]
async fn github_push_with_good_signature_triggers_fetch() {
    let mut s = start(Some(SECRET), 8).await;
    let (code, body) = s
        .github("push", "d-1", PUSH, Some(hub_signature(SECRET, PUSH)))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{body}");
    let trigger = tokio::time::timeout(Duration::from_secs(5), s.triggers.recv())
        .await
        .expect("trigger in time")
        .expect("channel open");
    assert_eq!(
        trigger,
        Trigger::Fetch {
            reason: "github push refs/heads/main 6113728f27ae".into()
        }
    );
    s.shutdown().await;
}

#[tokio::test]
async fn github_rejects_bad_or_missing_signature() {
    let mut s = start(Some(SECRET), 8).await;
    let wrong_key = hub_signature("not the secret", PUSH);
    let (code, _) = s.github("push", "d-1", PUSH, Some(wrong_key)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let tampered = hub_signature(SECRET, b"{}");
    let (code, _) = s.github("push", "d-2", PUSH, Some(tampered)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = s
        .github("push", "d-3", PUSH, Some("sha256=nothex".into()))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, body) = s.github("push", "d-4", PUSH, None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(body.contains("unsigned"), "{body}");
    assert!(!body.contains(SECRET));
    s.no_trigger();

    // A refused delivery id is not remembered: the genuine delivery still goes through.
    let (code, _) = s
        .github("push", "d-1", PUSH, Some(hub_signature(SECRET, PUSH)))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);

    let text = s.metrics.encode();
    assert!(
        text.contains("homelabd_errors_total{kind=\"webhook\"} 4"),
        "{text}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn github_replayed_delivery_is_conflict() {
    let mut s = start(Some(SECRET), 8).await;
    let sig = hub_signature(SECRET, PUSH);
    let (code, _) = s.github("push", "same-id", PUSH, Some(sig.clone())).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert!(s.triggers.try_recv().is_ok());
    let (code, body) = s.github("push", "same-id", PUSH, Some(sig)).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    s.no_trigger();
    s.shutdown().await;
}

#[tokio::test]
async fn github_ping_and_other_events() {
    let mut s = start(Some(SECRET), 8).await;
    let ping = br#"{"zen":"Keep it logically awesome."}"#;
    let (code, body) = s
        .github("ping", "p-1", ping, Some(hub_signature(SECRET, ping)))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("pong"), "{body}");
    let issue = br#"{"action":"opened"}"#;
    let (code, body) = s
        .github("issues", "i-1", issue, Some(hub_signature(SECRET, issue)))
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert!(body.contains("ignored"), "{body}");
    s.no_trigger();
    s.shutdown().await;
}

#[tokio::test]
async fn full_channel_still_accepts() {
    let mut s = start(Some(SECRET), 1).await;
    let sig = hub_signature(SECRET, PUSH);
    for id in ["f-1", "f-2", "f-3"] {
        let (code, _) = s.github("push", id, PUSH, Some(sig.clone())).await;
        assert_eq!(code, StatusCode::ACCEPTED);
    }
    assert!(s.triggers.try_recv().is_ok());
    s.no_trigger();
    s.shutdown().await;
}

#[tokio::test]
async fn hooks_disabled_without_secret() {
    let mut s = start(None, 8).await;
    let (code, body) = s
        .github("push", "x", PUSH, Some(hub_signature(SECRET, PUSH)))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(body.contains("webhooks disabled"), "{body}");
    let ts = now().to_string();
    let (code, _) = s.generic(&ts, b"{}", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    s.no_trigger();
    s.shutdown().await;
}

#[tokio::test]
async fn generic_hook_signatures_and_staleness() {
    let mut s = start(Some(SECRET), 8).await;
    let body = br#"{"source":"ci"}"#;
    let sign = |ts: &str| hub_signature(SECRET, &[ts.as_bytes(), b".", body].concat());

    let ts = now().to_string();
    let (code, text) = s.generic(&ts, body, Some(sign(&ts))).await;
    assert_eq!(code, StatusCode::ACCEPTED, "{text}");
    let trigger = s.triggers.try_recv().expect("trigger");
    assert_eq!(
        trigger,
        Trigger::Fetch {
            reason: "generic webhook".into()
        }
    );

    let stale = (now() - 301).to_string();
    let (code, text) = s.generic(&stale, body, Some(sign(&stale))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(text.contains("stale"), "{text}");
    let future = (now() + 400).to_string();
    let (code, text) = s.generic(&future, body, Some(sign(&future))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(text.contains("stale"), "{text}");

    // Signed over the body alone, not "<timestamp>.<body>".
    let ts = now().to_string();
    let (code, _) = s
        .generic(&ts, body, Some(hub_signature(SECRET, body)))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    // Signature for another timestamp.
    let other = (now() - 1).to_string();
    let (code, _) = s.generic(&ts, body, Some(sign(&other))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    // Unsigned.
    let (code, text) = s.generic(&ts, body, None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(text.contains("unsigned"), "{text}");
    // Not a number.
    let (code, _) = s.generic("yesterday", body, Some(sign("yesterday"))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    s.no_trigger();
    s.shutdown().await;
}

#[tokio::test]
async fn oversize_body_is_413() {
    let mut s = start(Some(SECRET), 8).await;
    let big = vec![b'x'; 1024 * 1024 + 1];
    let (code, _) = s
        .github("push", "big", &big, Some(hub_signature(SECRET, &big)))
        .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    let ts = now().to_string();
    let sig = hub_signature(SECRET, &[ts.as_bytes(), b".", &big].concat());
    let (code, _) = s.generic(&ts, &big, Some(sig)).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    s.no_trigger();

    // Exactly at the limit is fine.
    let limit = vec![b' '; 1024 * 1024];
    let (code, _) = s
        .github(
            "push",
            "at-limit",
            &limit,
            Some(hub_signature(SECRET, &limit)),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_path_and_wrong_method() {
    let s = start(Some(SECRET), 8).await;
    let resp = support::get(s.url("/nope")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = support::get(s.url("/hooks/github")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    s.shutdown().await;
}
