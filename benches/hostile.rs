//! Hostile-load benchmark: the `homelabd daemon` on a generated repository (400
//! definitions by default; `HOMELABD_BENCH_DEFINITIONS` overrides) while, at once,
//!
//! - 30 MCP clients each make hostile calls (exponential glob patterns, a quadratic YAML
//!   document just under the argument limit, template and shell syntax in a dry render,
//!   deep arguments, revisions off the tracked branch) for the whole run;
//! - a pull request whose head shadows the docker-compose chart with a template bomb
//!   (nested `range(100000)` loops for every Docker resource) is previewed through the
//!   signed `pull_request` webhook;
//! - a normal commit is pushed to the tracked branch.
//!
//! Measured: `/healthz` latency every 100 ms throughout (target: always < 1 s), the
//! hostile calls' latency, and how long the normal commit takes to be reconciled (it
//! must be). Run: `cargo bench --bench hostile` (add `--profile dev` to reuse a debug
//! build).

#[path = "support/generate.rs"]
mod generate;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789abcdef";
const SECRET: &str = "bench-webhook-secret-0123456789";
const VERSION: &str = "2026-07-28";
const CLIENTS: usize = 30;
const ROUNDS: usize = 4;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One `tools/call`; the time and whether the tool answered without an error.
async fn call(
    http: &reqwest::Client,
    url: &str,
    tool: &str,
    arguments: &Value,
) -> (Duration, bool) {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": tool, "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    });
    let started = Instant::now();
    let ok = match http
        .post(url)
        .bearer_auth(TOKEN)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", VERSION)
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", tool)
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r
            .text()
            .await
            .is_ok_and(|t| !t.contains("\"isError\":true") && !t.contains("\"error\"")),
        Err(_) => false,
    };
    (started.elapsed(), ok)
}

fn hostile_calls(unmerged: &str) -> Vec<(&'static str, Value)> {
    let mut quadratic = format!("? \"{}\"\n: [", "a".repeat(4000));
    quadratic.push_str(&vec!["1"; 120_000].join(","));
    quadratic.push_str("]\n");
    let mut deep = json!("x");
    for _ in 0..30 {
        deep = json!([deep]);
    }
    let injected = "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata: { name: evil }\nspec:\n  resource_type: container\n  workload_type: web\n  requirements: { cpu: 1, memory_gb: 1 }\n  placement: { provider: docker }\n  chart: { values: { image: \"{{ lookup('pipe','id') }}${HOME}$(id)\", ports: [] } }\n";
    vec![
        (
            "query-resource-pools",
            json!({ "path_pattern": format!("/{}Z", "*".repeat(40)) }),
        ),
        (
            "query-resource-pools",
            json!({ "path_pattern": format!("/{}Z", "**/".repeat(60)) }),
        ),
        (
            "validate-universal-definition",
            json!({ "definition": quadratic }),
        ),
        (
            "translate-universal-to-provider",
            json!({ "definition": injected }),
        ),
        (
            "query-resource-pools",
            json!({ "dimensions": { "deep": deep } }),
        ),
        ("plan-migration-from-snapshot", json!({ "from": unmerged })),
        (
            "get-deployment-status",
            json!({ "resource": "a".repeat(60_000) }),
        ),
    ]
}

fn hub_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("HOMELABD_BENCH_DEFINITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    generate::generate(&repo, n);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    // The pull request: every Docker resource's chart becomes a template bomb.
    git(&repo, &["checkout", "-q", "-b", "bomb"]);
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/docker-compose/Chart.yaml");
    std::fs::create_dir_all(repo.join("charts/docker-compose/templates")).unwrap();
    std::fs::copy(chart, repo.join("charts/docker-compose/Chart.yaml")).unwrap();
    std::fs::write(
        repo.join("charts/docker-compose/templates/compose.yaml.tpl"),
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "bomb"]);
    let bomb = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "main"]);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = dir.path().join("state");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[policy]\napply = \"manual\"\n[reconcile]\nresync_schedule = \"0 0 1 1 *\"\n[limits]\npreview_timeout_seconds = 30\n[mcp]\nrate_limit_per_minute = 10000000\nrate_limit_burst = 1000000\n",
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let _daemon = Kill(
        Command::new(env!("CARGO_BIN_EXE_homelabd"))
            .args(["daemon", "--config"])
            .arg(&config)
            .arg("--repo")
            .arg(&repo)
            .arg("--state-dir")
            .arg(&state)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("HOMELABD_LOG", "info")
            .env("HOMELABD_MCP_TOKEN", TOKEN)
            .env("HOMELABD_WEBHOOK_SECRET", SECRET)
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start homelabd daemon"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mcp = format!("{base}/mcp");
    let started = Instant::now();
    while !call(&http, &mcp, "discover-infrastructure-context", &json!({}))
        .await
        .1
    {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "daemon did not answer"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{n} definitions: first MCP answer after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let done = Arc::new(AtomicBool::new(false));
    // /healthz every 100 ms.
    let prober = {
        let (http, url, done) = (http.clone(), format!("{base}/healthz"), done.clone());
        tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failures = 0;
            let origin = Instant::now();
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                match tokio::time::timeout(Duration::from_secs(10), http.get(&url).send()).await {
                    Ok(Ok(r)) if r.status().is_success() => {
                        let took = t.elapsed();
                        if took >= Duration::from_millis(500) {
                            println!(
                                "slow /healthz at {:.1} s: {}",
                                t.duration_since(origin).as_secs_f64(),
                                ms(took)
                            );
                        }
                        times.push(took);
                    }
                    _ => failures += 1,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (times, failures)
        })
    };
    let load_started = Instant::now();
    // The bomb preview.
    let body = json!({
        "action": "opened", "number": 1,
        "pull_request": { "number": 1, "head": { "sha": bomb, "ref": "bomb" }, "base": { "ref": "main" } },
    })
    .to_string();
    let hook = http
        .post(format!("{base}/hooks/github"))
        .header("X-GitHub-Event", "pull_request")
        .header("X-GitHub-Delivery", "bench-1")
        .header("X-Hub-Signature-256", hub_signature(body.as_bytes()))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(hook.status().as_u16(), 202, "webhook refused");
    // Watches the log for the preview's end while the load goes on.
    let preview_watch = {
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                let text = tokio::fs::read_to_string(&log).await.unwrap_or_default();
                if let Some(line) = text.lines().find(|l| {
                    l.contains("pull request previewed")
                        || l.contains("pull request preview failed")
                }) {
                    return (load_started.elapsed(), line.to_owned());
                }
                if load_started.elapsed() > Duration::from_secs(600) {
                    return (
                        load_started.elapsed(),
                        "not finished within 600 s".to_owned(),
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // 30 hostile clients.
    let calls = Arc::new(hostile_calls(&bomb));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (calls, url) = (calls.clone(), mcp.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut times = Vec::new();
            for r in 0..ROUNDS {
                let (tool, args) = &calls[(c + r) % calls.len()];
                times.push(call(&http, &url, tool, args).await.0);
            }
            times
        }));
    }
    // A normal commit meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = std::fs::read_dir(repo.join("definitions/group-000"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .min()
        .unwrap();
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(&first, text.replace("owner: bench", "owner: bench-moved")).unwrap();
    git(&repo, &["commit", "-q", "-am", "a normal change"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]);
    let pushed = Instant::now();
    let reconciled = loop {
        let ready = http
            .get(format!("{base}/readyz"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok();
        let revision = match ready {
            Some(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["revision"].as_str().map(str::to_owned)),
            None => None,
        };
        if revision.as_deref() == Some(commit.as_str()) {
            break pushed.elapsed();
        }
        assert!(
            pushed.elapsed() < Duration::from_secs(300),
            "the commit was never reconciled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut mcp_times = Vec::new();
    for c in clients {
        mcp_times.extend(c.await.expect("client"));
    }
    let calls_done = load_started.elapsed();
    let (preview_took, preview) = preview_watch.await.expect("preview watch");
    let total = load_started.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    for line in text.lines().filter(|l| {
        l.contains("previewing pull request")
            || l.contains("reconciled")
            || l.contains("MCP view loaded")
    }) {
        println!("log: {}", line.chars().take(200).collect::<String>());
    }
    done.store(true, Ordering::Relaxed);
    let (mut health, failures) = prober.await.expect("prober");
    health.sort();
    mcp_times.sort();
    println!("\n| measurement | result |\n|---|---|");
    println!(
        "| `/healthz` every 100 ms for {:.1} s | {} probes, {} failed; p50 {}, p99 {}, max {}; over 1 s: {} |",
        total.as_secs_f64(),
        health.len(),
        failures,
        ms(percentile(&health, 0.5)),
        ms(percentile(&health, 0.99)),
        ms(health.last().copied().unwrap_or_default()),
        health
            .iter()
            .filter(|d| **d >= Duration::from_secs(1))
            .count()
    );
    println!(
        "| {} hostile MCP calls from {CLIENTS} clients | all answered in {:.1} s; p50 {}, p99 {}, max {} |",
        mcp_times.len(),
        calls_done.as_secs_f64(),
        ms(percentile(&mcp_times, 0.5)),
        ms(percentile(&mcp_times, 0.99)),
        ms(mcp_times.last().copied().unwrap_or_default())
    );
    println!(
        "| normal commit pushed during the load | reconciled after {:.1} s |",
        reconciled.as_secs_f64()
    );
    println!(
        "| bomb preview ({} Docker resources) | ended after {:.1} s: {} |",
        n / 4,
        preview_took.as_secs_f64(),
        preview
            .split("pull request")
            .nth(1)
            .map(|s| format!("pull request{}", s.chars().take(160).collect::<String>()))
            .unwrap_or(preview)
    );
}
