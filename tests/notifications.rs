//! Notifications end to end: events written to the outbox with what they describe,
//! delivered by the real delivery code over HTTP to a local axum receiver that checks
//! payloads and signatures the way a receiver would (HMAC computed here, independently),
//! answers 503 or is not listening for a while, and counts each event id it accepts.
//! The outbox contract runs on SQLite and on a throwaway PostgreSQL; the daemon test runs
//! the real `homelabd daemon` with a failing docker apply (needs a Docker engine).

mod support;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{SubsecRound, Utc};
use hmac::{Hmac, Mac};
use homelabd::notify_out::{Deliverer, NotifySettings, RawNotify, event};
use homelabd::setting::Secret;
use homelabd::store::RunState;
use homelabd::store::{
    ApplyRunEffects, ApplyRunEnd, NotificationRecord, ObservationWrite, ProposalRecord, Store,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::daemon::{Daemon, DaemonCommand, free_port, wait_until};
use support::docker::{RemoveContainers, container_definition, project_containers};
use support::pg::PgCluster;
use support::store::{audit, commit, seed};

const SECRET: &str = "receiver-shared-secret";

// ---------------------------------------------------------------------------------
// The receiver

#[derive(Debug, Clone)]
struct Got {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    accepted: bool,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
struct Inbox {
    got: Arc<Mutex<Vec<Got>>>,
    /// Answer 503 (with Retry-After: 1) instead of 204.
    failing: Arc<AtomicBool>,
    /// Never answer (hold the request for a minute).
    hanging: Arc<AtomicBool>,
}

impl Inbox {
    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
    fn accepted(&self) -> Vec<Got> {
        self.all().into_iter().filter(|g| g.accepted).collect()
    }
    /// Accepted deliveries per `X-Homelabd-Delivery` id: what a deduplicating receiver
    /// would count.
    fn accepted_by_id(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for g in self.accepted() {
            let id = g.header("x-homelabd-delivery").unwrap_or("").to_owned();
            *out.entry(id).or_insert(0) += 1;
        }
        out
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    if inbox.hanging.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let failing = inbox.failing.load(Ordering::SeqCst);
    inbox.got.lock().unwrap().push(Got {
        path: uri.path().to_owned(),
        headers,
        body,
        accepted: !failing,
    });
    let mut h = HeaderMap::new();
    if failing {
        h.insert("retry-after", "1".parse().unwrap());
        (StatusCode::SERVICE_UNAVAILABLE, h)
    } else {
        (StatusCode::NO_CONTENT, h)
    }
}

/// A listening receiver; dropping it (or [`Receiver::stop`]) closes the port.
struct Receiver {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(inbox: &Inbox, port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { port, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn signature_ok(got: &Got) -> bool {
    let Some(header) = got.header("x-homelabd-signature-256") else {
        return false;
    };
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&got.body);
    mac.verify_slice(&given).is_ok()
}

// ---------------------------------------------------------------------------------
// Settings, stores and events

/// `[notify]` with the given sinks (TOML), their URLs from `urls` (by sink name) and
/// the webhook secret for every sink: fast polling and backoff.
fn settings(sinks_toml: &str, urls: BTreeMap<String, String>) -> NotifySettings {
    let raw: RawNotify = toml::from_str(&format!(
        "backoff_base_seconds = 1\nbackoff_max_seconds = 2\npoll_interval_seconds = 1\n{sinks_toml}"
    ))
    .unwrap();
    NotifySettings::resolve_with(raw, |credential, _env| {
        let name = credential.strip_prefix("notify-")?;
        match name.strip_suffix("-secret") {
            Some(_) => Some(Secret::new(SECRET)),
            None => urls.get(name).map(|u| Secret::new(u.clone())),
        }
    })
    .unwrap()
}

fn failed_end() -> ApplyRunEnd {
    ApplyRunEnd {
        state: RunState::Failed,
        argv: json!([["sh", "-c", "exit 3"]]),
        exit_code: Some(3),
        finished_at: Utc::now(),
        duration_ms: 12,
        stdout_tail: String::new(),
        stderr_tail: "boom\n".into(),
        error: Some("sh exited with 3".into()),
    }
}

/// A failed apply of `name` recorded the way the daemon does: run, audit and the
/// "apply failed" event in one transaction. Returns the event.
async fn failed_apply(store: &Store, name: &str, rev: &str) -> NotificationRecord {
    let run = store
        .start_apply_run(
            name,
            rev,
            "docker-compose",
            homelabd::store::RunOperation::Apply,
            &audit("apply.started", name),
        )
        .await
        .unwrap();
    let event = homelabd::notify_out::event::apply_failed(
        &homelabd::notify_out::event::ApplyFacts {
            resource: name,
            run: &run,
            executor: "docker-compose",
            operation: "apply",
            revision: Some(rev),
            exit_code: Some(3),
        },
        "sh exited with 3",
        Utc::now(),
    );
    store
        .finish_apply_run(
            &run,
            &failed_end(),
            &ApplyRunEffects {
                audit: vec![audit("apply.failed", name)],
                notifications: vec![event.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    event
}

/// Steps `d` until `done` or `secs` pass.
async fn step_until(d: &mut Deliverer, secs: u64, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        d.step().await.unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------
// Payloads and signatures

#[tokio::test]
async fn each_sink_kind_gets_its_payload_and_webhooks_are_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = support::store::sqlite(dir.path()).await;
    let inbox = Inbox::default();
    let rx = Receiver::start(&inbox, 0).await;
    let sinks = "[[sinks]]\nname = \"ops\"\nkind = \"webhook\"\n\
                 [[sinks]]\nname = \"chat\"\nkind = \"slack\"\n\
                 [[sinks]]\nname = \"guild\"\nkind = \"discord\"\n";
    let urls = BTreeMap::from([
        ("ops".to_owned(), rx.url("/hook")),
        ("chat".to_owned(), rx.url("/slack")),
        ("guild".to_owned(), rx.url("/discord")),
    ]);
    let mut d = Deliverer::new(Arc::new(store.clone()), &settings(sinks, urls)).unwrap();
    // Registered before the event: a sink is served from its first start on.
    d.step().await.unwrap();
    let rev = seed(&store, "web").await;
    let event = failed_apply(&store, "web", &rev).await;
    step_until(&mut d, 10, "three deliveries", || {
        inbox.accepted().len() == 3
    })
    .await;

    let by_path: BTreeMap<String, Got> = inbox
        .accepted()
        .into_iter()
        .map(|g| (g.path.clone(), g))
        .collect();
    let id = event.id.to_string();
    for g in by_path.values() {
        assert_eq!(g.header("x-homelabd-delivery"), Some(id.as_str()));
        assert_eq!(g.header("x-homelabd-event"), Some("apply.failed"));
        assert_eq!(g.header("content-type"), Some("application/json"));
    }

    let hook = &by_path["/hook"];
    assert!(
        signature_ok(hook),
        "the webhook body is signed with the sink secret"
    );
    let mut tampered = hook.clone();
    tampered.body = Bytes::from(hook.body.iter().rev().copied().collect::<Vec<u8>>());
    assert!(!signature_ok(&tampered), "a changed body fails the check");
    let body = hook.json();
    assert_eq!(body["id"], id);
    assert_eq!(body["type"], "apply.failed");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["subject"], "web");
    assert_eq!(body["summary"], "apply of web failed: sh exited with 3");
    assert_eq!(body["details"]["exit_code"], 3);
    assert_eq!(body["details"]["revision"], rev);
    assert!(body["occurred_at"].as_str().unwrap().ends_with('Z'));

    let slack = &by_path["/slack"];
    assert!(slack.header("x-homelabd-signature-256").is_none());
    let body = slack.json();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("apply of web failed"),
        "{body}"
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");

    let discord = &by_path["/discord"];
    let body = discord.json();
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("apply of web failed")
    );
    assert_eq!(body["embeds"][0]["title"], "apply.failed — web");
    assert!(body["embeds"][0]["color"].as_u64().unwrap() > 0);
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));

    let rows = store.deliveries(event.id).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.state == "delivered" && r.attempts == 1)
    );
    // Nothing more to send: a further step sends nothing.
    d.step().await.unwrap();
    assert_eq!(inbox.all().len(), 3);
}

#[tokio::test]
async fn a_sink_gets_only_the_events_and_severities_it_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = support::store::sqlite(dir.path()).await;
    let inbox = Inbox::default();
    let rx = Receiver::start(&inbox, 0).await;
    let sinks = "[[sinks]]\nname = \"pager\"\nkind = \"slack\"\n\
                 events = [\"apply.failed\", \"drift.detected\"]\nmin_severity = \"critical\"\n";
    let urls = BTreeMap::from([("pager".to_owned(), rx.url("/pager"))]);
    let mut d = Deliverer::new(Arc::new(store.clone()), &settings(sinks, urls)).unwrap();
    d.step().await.unwrap();
    let rev = seed(&store, "web").await;
    let wanted = failed_apply(&store, "web", &rev).await;
    let t0 = Utc::now();
    // A warning-level drift and a recovery: filtered out.
    let drift = homelabd::observe::Deviation {
        resource: "web".into(),
        key: "container/web/env".into(),
        kind: homelabd::observe::DeviationKind::ConfigDrift,
        severity: homelabd::observe::Severity::Warning,
        auto_correctable: true,
        corrective_action: "re-apply".into(),
        expected: json!("a"),
        actual: json!("b"),
        message: "env differs".into(),
    };
    let warning = homelabd::notify_out::event::drift_detected(&drift, t0);
    let recovered =
        homelabd::notify_out::event::recovered(homelabd::notify_out::event::Component::Git, t0, t0);
    store
        .record_observation(&ObservationWrite {
            new: vec![drift],
            at: t0,
            notifications: vec![warning.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .record_notifications(std::slice::from_ref(&recovered))
        .await
        .unwrap();
    step_until(&mut d, 10, "the critical apply failure", || {
        !inbox.accepted().is_empty()
    })
    .await;
    d.step().await.unwrap();
    let ids: Vec<String> = inbox.accepted_by_id().into_keys().collect();
    assert_eq!(ids, vec![wanted.id.to_string()]);
    for skipped in [&warning, &recovered] {
        let rows = store.deliveries(skipped.id).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, "skipped", "{skipped:?}");
    }
}

// ---------------------------------------------------------------------------------
// Receiver down, restarts

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_once_when_back() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = support::store::sqlite(dir.path()).await;
    let inbox = Inbox::default();
    inbox.failing.store(true, Ordering::SeqCst);
    let rx = Receiver::start(&inbox, 0).await;
    let port = rx.port;
    let sinks = "[[sinks]]\nname = \"ops\"\nkind = \"webhook\"\n";
    let urls = BTreeMap::from([("ops".to_owned(), rx.url("/hook"))]);
    let metrics = Arc::new(homelabd::metrics::Metrics::new());
    let mut d = Deliverer::new(Arc::new(store.clone()), &settings(sinks, urls))
        .unwrap()
        .with_metrics(metrics.clone());
    d.step().await.unwrap();
    let rev = seed(&store, "web").await;
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(failed_apply(&store, "web", &rev).await);
    }

    // Phase 1: the receiver answers 503.
    step_until(&mut d, 10, "503 answers for every event", || {
        inbox.all().len() >= 3
    })
    .await;
    let rows = store.deliveries(events[0].id).await.unwrap();
    assert_eq!(rows[0].state, "pending");
    assert!(rows[0].attempts >= 1);
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("HTTP 503"),
        "{rows:?}"
    );

    let text = metrics.encode();
    assert!(
        text.contains("homelabd_notifications_pending{sink=\"ops\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("homelabd_notifications_total{sink=\"ops\",outcome=\"failed\"}"),
        "{text}"
    );

    // Phase 2: nothing listens at all.
    rx.stop().await;
    let refused_since = Instant::now();
    while refused_since.elapsed() < Duration::from_secs(3) {
        d.step().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = store.deliveries(events[0].id).await.unwrap();
    assert_eq!(rows[0].state, "pending");
    assert!(rows[0].attempts >= 2, "{rows:?}");
    let error = rows[0].last_error.clone().unwrap();
    assert!(!error.starts_with("HTTP"), "a connection error: {error}");
    assert!(
        !error.contains("127.0.0.1"),
        "the URL stays out of errors: {error}"
    );

    // Phase 3: back, and accepting.
    inbox.failing.store(false, Ordering::SeqCst);
    let _rx = Receiver::start(&inbox, port).await;
    step_until(&mut d, 15, "all three accepted", || {
        inbox.accepted_by_id().len() == 3
    })
    .await;
    // A few more rounds: nothing is sent again.
    for _ in 0..5 {
        d.step().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts = inbox.accepted_by_id();
    for e in &events {
        assert_eq!(counts.get(&e.id.to_string()), Some(&1), "{counts:?}");
    }
    for e in &events {
        let rows = store.deliveries(e.id).await.unwrap();
        assert_eq!(rows[0].state, "delivered");
        assert!(rows[0].attempts >= 3);
        assert!(rows[0].last_error.is_none());
    }
    assert!(inbox.accepted().iter().all(signature_ok));
    let text = metrics.encode();
    assert!(
        text.contains("homelabd_notifications_pending{sink=\"ops\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("homelabd_notifications_total{sink=\"ops\",outcome=\"delivered\"} 3"),
        "{text}"
    );
}

#[tokio::test]
async fn an_event_written_before_a_restart_is_delivered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sinks = "[[sinks]]\nname = \"ops\"\nkind = \"webhook\"\n";
    let urls = BTreeMap::from([("ops".to_owned(), format!("http://127.0.0.1:{port}/hook"))]);
    let cfg = settings(sinks, urls);
    let event = {
        // First life: the event is recorded and one attempt fails (nothing listens).
        let (store, _) = support::store::sqlite(dir.path()).await;
        let mut d = Deliverer::new(Arc::new(store.clone()), &cfg).unwrap();
        d.step().await.unwrap();
        let rev = seed(&store, "web").await;
        let event = failed_apply(&store, "web", &rev).await;
        d.step().await.unwrap();
        let rows = store.deliveries(event.id).await.unwrap();
        assert_eq!((rows[0].state.as_str(), rows[0].attempts), ("pending", 1));
        drop((d, store));
        event
    };
    // Second life: a new connection and deliverer, the receiver up.
    let inbox = Inbox::default();
    let _rx = Receiver::start(&inbox, port).await;
    let (store, _) = support::store::sqlite(dir.path()).await;
    let mut d = Deliverer::new(Arc::new(store.clone()), &cfg).unwrap();
    step_until(&mut d, 10, "delivery after the restart", || {
        !inbox.accepted().is_empty()
    })
    .await;
    assert_eq!(
        inbox.accepted_by_id(),
        BTreeMap::from([(event.id.to_string(), 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_does_not_hold_up_the_other_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = support::store::sqlite(dir.path()).await;
    let stuck = Inbox::default();
    stuck.hanging.store(true, Ordering::SeqCst);
    let stuck_rx = Receiver::start(&stuck, 0).await;
    let fine = Inbox::default();
    let fine_rx = Receiver::start(&fine, 0).await;
    let sinks = "[[sinks]]\nname = \"stuck\"\nkind = \"webhook\"\ntimeout_seconds = 120\n\
                 [[sinks]]\nname = \"fine\"\nkind = \"webhook\"\n";
    let urls = BTreeMap::from([
        ("stuck".to_owned(), stuck_rx.url("/hook")),
        ("fine".to_owned(), fine_rx.url("/hook")),
    ]);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(homelabd::notify_out::deliver::run(
        settings(sinks, urls),
        url,
        Arc::new(homelabd::metrics::Metrics::new()),
        stop_rx,
    ));
    let rev = seed(&store, "web").await;
    let first = failed_apply(&store, "web", &rev).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while fine.accepted().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the healthy sink waited for the stuck one"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second event while the first is still held by the stuck receiver.
    let second = failed_apply(&store, "web", &rev).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while fine.accepted().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the healthy sink waited for the stuck one"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        fine.accepted_by_id(),
        BTreeMap::from([(first.id.to_string(), 1), (second.id.to_string(), 1)])
    );
    assert!(stuck.accepted().is_empty());
    let stuck_row = store
        .deliveries(first.id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.sink == "stuck")
        .unwrap();
    assert_eq!(stuck_row.state, "pending");
    // Shutdown ends the task promptly, even with a request in flight.
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the delivery task stops on shutdown")
        .unwrap();
}

// ---------------------------------------------------------------------------------
// The outbox contract, on both backends

async fn outbox_contract(store: &Store) {
    let ops = vec!["ops".to_owned()];
    store.migrate().await.unwrap();
    let rev = seed(store, "web").await;
    let before = Utc::now() - chrono::Duration::seconds(1);
    let since = store.register_sink("ops", before).await.unwrap();
    assert_eq!(
        store
            .register_sink("ops", Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap(),
        since,
        "registered once: its start stays"
    );

    // Written with what they describe.
    let apply = failed_apply(store, "web", &rev).await;
    let resolved =
        homelabd::notify_out::event::drift_resolved("web", "container/web", "observer", Utc::now());
    store
        .record_observation(&ObservationWrite {
            at: Utc::now(),
            audit: vec![audit("drift.resolved", "web")],
            notifications: vec![resolved.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let proposal = ProposalRecord {
        id: uuid::Uuid::new_v4(),
        tool: "deploy-with-intelligence".into(),
        client: "mcp:agent".into(),
        branch: "homelabd/deploy/web-1".into(),
        commit: Some(commit('b')),
        pr_url: Some("https://github.com/o/r/pull/7".into()),
        status: homelabd::store::ProposalStatus::PullRequest,
        created_at: Utc::now(),
        details: json!({"title": "Deploy web"}),
    };
    store
        .record_proposal(
            &proposal,
            &audit("proposal.created", &proposal.branch),
            &[event::proposal_opened(&proposal)],
        )
        .await
        .unwrap();
    // A proposal that cannot be recorded (same id) leaves no event behind either.
    assert!(
        store
            .record_proposal(
                &proposal,
                &audit("proposal.created", &proposal.branch),
                &[event::proposal_opened(&proposal)],
            )
            .await
            .is_err()
    );
    let all = store.notifications(100).await.unwrap();
    let types: Vec<&str> = all.iter().map(|n| n.event_type.as_str()).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "proposal.opened").count(),
        1,
        "{types:?}"
    );
    assert!(types.contains(&"apply.failed"));
    assert!(types.contains(&"drift.resolved"));
    let opened = all
        .iter()
        .find(|n| n.event_type == "proposal.opened")
        .unwrap();
    assert_eq!(opened.subject, "homelabd/deploy/web-1");
    assert_eq!(opened.details["pr_url"], "https://github.com/o/r/pull/7");
    // NUL (a tool's output can hold anything) is stored as U+FFFD on both backends.
    let mut nul = homelabd::notify_out::event::degraded(
        homelabd::notify_out::event::Component::Git,
        "k\u{0}",
        Utc::now(),
    );
    nul.details = json!({"error\u{0}": ["a\u{0}b", {"\\u0000": "\\u0000"}]});
    store
        .record_notifications(std::slice::from_ref(&nul))
        .await
        .unwrap();
    let stored = store.notifications(100).await.unwrap();
    let stored = stored.iter().find(|n| n.id == nul.id).unwrap();
    assert_eq!(
        stored.details,
        json!({"error\u{fffd}": ["a\u{fffd}b", {"\\u0000": "\\u0000"}]}),
        "an escaped-looking text is kept as written"
    );
    assert!(stored.summary.contains("k\u{fffd}"));
    let stored_apply = all.iter().find(|n| n.id == apply.id).unwrap();
    assert_eq!(stored_apply.details, apply.details);
    assert_eq!(stored_apply.severity, "critical");

    // Fan-out: oldest first, each event once per sink.
    let fresh = store.undispatched("ops", since, 100).await.unwrap();
    assert!(fresh.len() >= 3);
    assert!(
        fresh
            .windows(2)
            .all(|w| w[0].occurred_at <= w[1].occurred_at)
    );
    let now = Utc::now();
    for n in &fresh {
        let wanted = n.event_type != "drift.resolved";
        store.dispatch(n.id, "ops", wanted, now).await.unwrap();
        store.dispatch(n.id, "ops", wanted, now).await.unwrap();
    }
    assert!(
        store
            .undispatched("ops", since, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .undispatched("ops", Utc::now() + chrono::Duration::hours(1), 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Claims: due ones once; the second claimer gets nothing until the claim ends.
    let claim_until = now + chrono::Duration::seconds(60);
    let removed = vec!["chat".to_owned()];
    assert!(
        store
            .due_deliveries(&removed, now, 100, claim_until)
            .await
            .unwrap()
            .is_empty(),
        "only the listed sinks' deliveries are claimed"
    );
    let due = store
        .due_deliveries(&ops, now, 100, claim_until)
        .await
        .unwrap();
    assert_eq!(due.len(), fresh.len() - 1, "the skipped one is never due");
    assert!(due.iter().all(|d| d.sink == "ops" && d.attempts == 0));
    assert!(
        store
            .due_deliveries(&ops, now, 100, claim_until)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_deliveries(&ops, claim_until, 100, claim_until)
            .await
            .unwrap()
            .len(),
        due.len(),
        "a claim that ran out (its daemon died mid-send) is due again"
    );

    // Failure, then success.
    let retry_at = now + chrono::Duration::seconds(5);
    store
        .mark_failed(apply.id, "ops", "HTTP 503: busy\u{0}", retry_at)
        .await
        .unwrap();
    let row = &store.deliveries(apply.id).await.unwrap()[0];
    assert_eq!(row.state, "pending");
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_error.as_deref(), Some("HTTP 503: busy\u{fffd}"));
    assert_eq!(row.next_attempt_at, retry_at.trunc_subsecs(6));
    assert!(
        !store
            .due_deliveries(&ops, now, 100, claim_until)
            .await
            .unwrap()
            .iter()
            .any(|d| d.notification.id == apply.id)
    );
    let due = store
        .due_deliveries(&ops, retry_at, 100, claim_until)
        .await
        .unwrap();
    let again = due.iter().find(|d| d.notification.id == apply.id).unwrap();
    assert_eq!(again.attempts, 1);
    assert_eq!(again.notification.summary, apply.summary);
    store
        .mark_delivered(apply.id, "ops", retry_at)
        .await
        .unwrap();
    let row = &store.deliveries(apply.id).await.unwrap()[0];
    assert_eq!((row.state.as_str(), row.attempts), ("delivered", 2));
    assert!(row.last_error.is_none());
    assert!(row.delivered_at.is_some());
    // A late failure report (a second sender) never undoes a delivery.
    store
        .mark_failed(apply.id, "ops", "late", retry_at)
        .await
        .unwrap();
    assert_eq!(
        store.deliveries(apply.id).await.unwrap()[0].state,
        "delivered"
    );
    assert!(
        !store
            .due_deliveries(
                &ops,
                retry_at + chrono::Duration::hours(1),
                100,
                claim_until
            )
            .await
            .unwrap()
            .iter()
            .any(|d| d.notification.id == apply.id)
    );

    // Retention: old events no sink waits for go, with their delivery rows; pending
    // ones stay whatever their age.
    assert_eq!(
        store
            .prune_notifications(Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    let pending: Vec<uuid::Uuid> = fresh
        .iter()
        .filter(|n| n.id != apply.id && n.event_type != "drift.resolved")
        .map(|n| n.id)
        .collect();
    assert!(!pending.is_empty());
    let pruned = store
        .prune_notifications(Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert!(pruned >= 2, "the delivered and the skipped event: {pruned}");
    let left: Vec<uuid::Uuid> = store
        .notifications(100)
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    assert!(!left.contains(&apply.id));
    assert!(store.deliveries(apply.id).await.unwrap().is_empty());
    for id in &pending {
        assert!(left.contains(id), "pending {id} kept");
    }
}

#[tokio::test]
async fn sqlite_outbox_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = support::store::sqlite(dir.path()).await;
    outbox_contract(&store).await;
}

#[tokio::test]
async fn postgres_outbox_contract() {
    let Some((_pg, url)) = support::store::postgres("postgres_outbox_contract").await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    outbox_contract(&store).await;
    // Two daemons claiming at once get disjoint deliveries.
    let other = Store::connect(&url).await.unwrap();
    let rev = commit('a');
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(failed_apply(&store, "web", &rev).await.id);
    }
    let now = Utc::now();
    for id in &ids {
        store.dispatch(*id, "ops", true, now).await.unwrap();
    }
    let until = now + chrono::Duration::seconds(60);
    let ops = vec!["ops".to_owned()];
    let (a, b) = tokio::join!(
        store.due_deliveries(&ops, now, 15, until),
        other.due_deliveries(&ops, now, 15, until)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut claimed: Vec<uuid::Uuid> = a
        .iter()
        .chain(&b)
        .map(|d| d.notification.id)
        .filter(|id| ids.contains(id))
        .collect();
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), total, "no delivery claimed twice");
    assert_eq!(total, 20);
}

// ---------------------------------------------------------------------------------
// The daemon: a failing apply is notified, across a restart

/// A daemon on SQLite in `state`, its `ops` sink sending to `hook`.
fn start(repo: Option<&Path>, state: &Path, config: &str, hook: &str) -> Daemon {
    let db = format!("sqlite://{}", state.join("homelabd.db").display());
    start_on(repo, state, &db, config, hook)
}

/// A daemon on the database `db` (with `--repo` only when `repo` is given: the config
/// may name the source), its `ops` sink sending to `hook`, signed with [`SECRET`].
fn start_on(repo: Option<&Path>, state: &Path, db: &str, config: &str, hook: &str) -> Daemon {
    let command = DaemonCommand::new(state).database(db).config(config);
    match repo {
        Some(repo) => command.repo(repo),
        None => command,
    }
    .env("HOMELABD_LOG", "info,homelabd::notify_out=debug")
    .env("HOMELABD_NOTIFY_OPS_URL", hook)
    .env("HOMELABD_NOTIFY_OPS_SECRET", SECRET)
    .env_remove("CREDENTIALS_DIRECTORY")
    .spawn()
}

/// Waits up to `secs` for the daemon's first pass to be recorded in the store at `url`.
async fn wait_first_pass(url: &str, daemon: &Daemon, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    // Connecting migrates: wait for the daemon's own migration first, so the test's
    // connection does not lock the database under it (which the daemon would rightly
    // report as a database outage).
    while !daemon.log().contains("store connected") {
        assert!(
            Instant::now() < deadline,
            "no store connected\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        if let Ok(store) = Store::connect(url).await
            && store.latest_revision().await.ok().flatten().is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "no first pass\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_apply_is_notified_across_a_restart_and_so_is_its_recovery() {
    if !support::docker::engine_ready() {
        support::skip(
            "a_failing_apply_is_notified_across_a_restart_and_so_is_its_recovery",
            "no Docker engine (the docker executor is only available with one)",
        );
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    support::example_basics(repo.path());
    let name = format!("notify-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    support::write(
        repo.path(),
        &format!("definitions/{name}.yaml"),
        &container_definition(&name, "busybox:1", false),
    );
    support::git_commit_all(repo.path(), "a resource whose apply fails");
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let config = "[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n\
                  [executors.docker]\ncompose_command = [\"sh\", \"-c\", \"exit 3\", \"x\"]\n\
                  [notify]\npoll_interval_seconds = 1\nbackoff_base_seconds = 1\n\
                  backoff_max_seconds = 2\n\
                  [[notify.sinks]]\nname = \"ops\"\nkind = \"webhook\"\n\
                  events = [\"apply.failed\", \"apply.recovered\"]\n";

    // First life: nothing listens; the failure is recorded and its delivery retried.
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let daemon = start(Some(repo.path()), state.path(), config, &hook);
    let deadline = Instant::now() + Duration::from_secs(60);
    let event = loop {
        assert!(
            Instant::now() < deadline,
            "no failed delivery of apply.failed\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let Ok(store) = Store::connect(&db).await else {
            continue;
        };
        let Ok(events) = store.notifications(100).await else {
            continue;
        };
        let Some(e) = events.into_iter().find(|e| e.event_type == "apply.failed") else {
            continue;
        };
        let tried = store
            .deliveries(e.id)
            .await
            .unwrap_or_default()
            .iter()
            .any(|d| d.attempts >= 1 && d.state == "pending");
        if tried {
            break e;
        }
    };
    assert_eq!(event.subject, name);
    assert_eq!(event.details["exit_code"], 3);
    drop(daemon); // kill -9

    // Second life: the receiver is up; the same event arrives, once.
    let inbox = Inbox::default();
    let _rx = Receiver::start(&inbox, port).await;
    let daemon = start(Some(repo.path()), state.path(), config, &hook);
    wait_until(
        &daemon,
        60,
        "apply.failed delivered after the restart",
        || !inbox.accepted().is_empty(),
    )
    .await;
    // Retries of the failing apply say nothing new.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = inbox.accepted();
    assert_eq!(
        inbox.accepted_by_id(),
        BTreeMap::from([(event.id.to_string(), 1)]),
        "{got:#?}"
    );
    assert!(signature_ok(&got[0]));
    let body = got[0].json();
    assert_eq!(body["type"], "apply.failed");
    assert_eq!(body["subject"], name.as_str());
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("apply of {name} failed")),
        "{body}"
    );
    let log = daemon.log();
    assert!(!log.contains(SECRET), "the secret stays out of the logs");
    drop(daemon);

    // Third life: the tool works again. The retries stopped at the flapping limit (the
    // resource is degraded), so the operator applies it after the fix; the success after
    // the failure is "recovered".
    let fixed = config.replace("exit 3", "exit 0");
    let daemon = start(Some(repo.path()), state.path(), &fixed, &hook);
    let apply = support::homelabd(&["apply", &name, "--timeout", "60", "--database-url", &db]);
    assert!(
        apply.status.success(),
        "{}\n{}",
        support::stderr(&apply),
        daemon.log()
    );
    wait_until(&daemon, 60, "apply.recovered delivered", || {
        inbox.accepted().len() >= 2
    })
    .await;
    let recovered = inbox.accepted()[1].json();
    assert_eq!(recovered["type"], "apply.recovered");
    assert_eq!(recovered["severity"], "info");
    assert_eq!(recovered["subject"], name.as_str());
    assert_eq!(inbox.accepted_by_id().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_outage_is_notified_when_it_starts_and_when_it_ends() {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    support::copy_tree(&support::example_repo(), &source);
    support::git_commit_all(&source, "homelab");
    let renamed = Command::new("git")
        .arg("-C")
        .arg(&source)
        .args(["branch", "-M", "main"])
        .status()
        .unwrap();
    assert!(renamed.success());
    let bare = work.path().join("remote.git");
    let cloned = Command::new("git")
        .args(["clone", "--bare", "-q"])
        .arg(&source)
        .arg(&bare)
        .status()
        .unwrap();
    assert!(cloned.success());
    let inbox = Inbox::default();
    let rx = Receiver::start(&inbox, 0).await;
    let state = work.path().join("state");
    let config = format!(
        "[source]\nrepo = \"file://{}\"\nbranch = \"main\"\npoll_interval_seconds = 1\n\
         [reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n\
         [notify]\npoll_interval_seconds = 1\n\
         [[notify.sinks]]\nname = \"ops\"\nkind = \"webhook\"\n\
         events = [\"daemon.degraded\", \"daemon.recovered\"]\n",
        bare.display()
    );
    let daemon = start(None, &state, &config, &rx.url("/hook"));
    let types = || -> Vec<(String, String)> {
        inbox
            .accepted()
            .iter()
            .map(|g| {
                let b = g.json();
                (
                    b["type"].as_str().unwrap_or("").to_owned(),
                    b["subject"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let wait = |what: &'static str, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(40);
        let log = || daemon.log();
        let types = &types;
        async move {
            while types().len() < n {
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}: {:?}\n{}",
                    types(),
                    log()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // Running normally: the mirror exists once the first pass is recorded.
    let db = format!("sqlite://{}", state.join("homelabd.db").display());
    wait_first_pass(&db, &daemon, 40).await;
    let away = work.path().join("remote-away.git");
    std::fs::rename(&bare, &away).unwrap();
    wait("daemon.degraded", 1).await;
    std::fs::rename(&away, &bare).unwrap();
    wait("daemon.recovered", 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        types(),
        vec![
            ("daemon.degraded".to_owned(), "git".to_owned()),
            ("daemon.recovered".to_owned(), "git".to_owned()),
        ],
        "one event per transition, however many polls failed"
    );
    let degraded = inbox.accepted()[0].json();
    assert_eq!(degraded["severity"], "critical");
    assert!(signature_ok(&inbox.accepted()[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_notified_once_the_database_is_back() {
    let test = "a_database_outage_is_notified_once_the_database_is_back";
    let Some(cluster) = PgCluster::start() else {
        return support::skip(
            test,
            "no PostgreSQL (set DATABASE_URL or install postgresql)",
        );
    };
    let url = cluster.fresh_database().await;
    let repo = support::example_copy();
    support::git_commit_all(repo.path(), "homelab");
    let inbox = Inbox::default();
    let rx = Receiver::start(&inbox, 0).await;
    let state = tempfile::tempdir().unwrap();
    let config = "[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n\
                  [notify]\npoll_interval_seconds = 1\n\
                  [[notify.sinks]]\nname = \"ops\"\nkind = \"webhook\"\n\
                  events = [\"daemon.degraded\", \"daemon.recovered\"]\n";
    let daemon = start_on(
        Some(repo.path()),
        state.path(),
        &url,
        config,
        &rx.url("/hook"),
    );
    wait_first_pass(&url, &daemon, 60).await;
    if !cluster.stop() {
        return support::skip(
            test,
            "DATABASE_URL names a shared server that tests must not stop",
        );
    }
    let down_at = Utc::now();
    // A new commit: the pass cannot be written, so the daemon learns the database is down.
    support::write(
        repo.path(),
        "notes.txt",
        "written while the database is down\n",
    );
    support::git_commit_all(repo.path(), "while the database is down");
    wait_until(&daemon, 30, "the outage noticed", || {
        daemon.log().contains("cannot write to the store")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        inbox.all().is_empty(),
        "nothing can be sent while the outbox is down"
    );
    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    while inbox.accepted().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no degraded/recovered after the outage: {:?}\n{}",
            inbox.accepted().iter().map(Got::json).collect::<Vec<_>>(),
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bodies: Vec<serde_json::Value> = inbox.accepted().iter().map(Got::json).collect();
    let types: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| (b["type"].as_str().unwrap(), b["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("daemon.degraded", "database"),
            ("daemon.recovered", "database")
        ],
        "{bodies:#?}"
    );
    // The degraded event carries when the outage began, not when it was written.
    let began: chrono::DateTime<Utc> = bodies[0]["occurred_at"].as_str().unwrap().parse().unwrap();
    assert!(
        began >= down_at - chrono::Duration::seconds(1),
        "{began} vs {down_at}"
    );
    assert!(
        began
            < bodies[1]["occurred_at"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<Utc>>()
                .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_detected_and_resolved_by_self_heal_are_notified() {
    let test = "drift_detected_and_resolved_by_self_heal_are_notified";
    const IMAGE: &str = support::docker::TEST_IMAGE;
    if !support::docker::docker_ready(test) {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    support::example_basics(repo.path());
    let name = format!("drift-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = RemoveContainers(name.clone());
    support::write(
        repo.path(),
        &format!("definitions/{name}.yaml"),
        &container_definition(&name, IMAGE, true),
    );
    support::git_commit_all(repo.path(), "a self-healing container");
    let inbox = Inbox::default();
    let rx = Receiver::start(&inbox, 0).await;
    let state = tempfile::tempdir().unwrap();
    let config = "[reconcile]\nobserve_schedule = \"*/2 * * * * *\"\n\
                  backoff_base_seconds = 1\nbackoff_max_seconds = 4\n\
                  [notify]\npoll_interval_seconds = 1\n\
                  [[notify.sinks]]\nname = \"ops\"\nkind = \"webhook\"\n\
                  events = [\"drift.detected\", \"drift.resolved\"]\n";
    let daemon = start(Some(repo.path()), state.path(), config, &rx.url("/hook"));
    wait_until(&daemon, 90, "the first apply", || {
        !project_containers(&name).is_empty()
    })
    .await;
    // Let a clean observation pass: the running container is no drift.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ours = |g: &Got| g.json()["subject"] == name.as_str();
    assert!(
        !inbox.accepted().iter().any(ours),
        "no drift before the change"
    );
    for id in project_containers(&name) {
        let rm = Command::new("docker")
            .args(["rm", "-f", &id])
            .output()
            .unwrap();
        assert!(rm.status.success());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = || -> Vec<serde_json::Value> {
        inbox
            .accepted()
            .iter()
            .filter(|g| ours(g))
            .map(Got::json)
            .collect()
    };
    while !seen().iter().any(|b| b["type"] == "drift.resolved") {
        assert!(
            Instant::now() < deadline,
            "no detected + resolved: {:#?}\n{}",
            seen(),
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let bodies = seen();
    let detected: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["type"] == "drift.detected")
        .collect();
    assert!(!detected.is_empty(), "{bodies:#?}");
    assert!(
        detected
            .iter()
            .any(|b| b["details"]["auto_correctable"] == true && b["severity"] == "critical"),
        "{bodies:#?}"
    );
    let resolved: Vec<&serde_json::Value> = bodies
        .iter()
        .filter(|b| b["type"] == "drift.resolved")
        .collect();
    assert!(
        resolved
            .iter()
            .any(|b| b["details"]["resolved_by"] == "self-heal"),
        "{bodies:#?}"
    );
    assert!(inbox.accepted().iter().all(signature_ok));
}
