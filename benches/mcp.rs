//! MCP benchmark: the `homelabd daemon` serving `/mcp` over HTTP for a generated
//! repository (10,000 definitions by default; `HOMELABD_BENCH_DEFINITIONS` overrides).
//!
//! - latency of the read-only query tools, one request at a time (p50 / p99 per tool and
//!   over all of them; target p99 < 50 ms);
//! - latency of a dry render (`translate-universal-to-provider` of a new definition;
//!   target p99 < 200 ms);
//! - 50 concurrent clients, 20 mixed requests each, without errors.
//!
//! Requests are raw JSON-RPC of the stateless 2026-07-28 protocol with a bearer token,
//! as any MCP client sends them. Run: `cargo bench --bench mcp`.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/generate.rs"]
mod generate;

use daemon::Kill;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token-0123456789abcdef";
const VERSION: &str = "2026-07-28";

fn start(repo: &Path, state: &Path, port: u16) -> Kill {
    let config = state.with_extension("toml");
    // Nothing is applied (the generated repository has Docker services), and the rate
    // limit is far above what the benchmark sends.
    std::fs::write(
        &config,
        "[policy]\napply = \"manual\"\n[reconcile]\nresync_schedule = \"0 0 1 1 *\"\n[mcp]\nrate_limit_per_minute = 10000000\nrate_limit_burst = 1000000\n",
    )
    .unwrap();
    Kill(
        Command::new(env!("CARGO_BIN_EXE_homelabd"))
            .args(["daemon", "--config"])
            .arg(&config)
            .arg("--repo")
            .arg(repo)
            .arg("--state-dir")
            .arg(state)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("HOMELABD_LOG", "warn")
            .env("HOMELABD_MCP_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start homelabd daemon"),
    )
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    /// Calls `tool`; `Err` for anything but a successful, non-error result.
    async fn call(&self, tool: &str, arguments: &Value) -> Result<Duration, String> {
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
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(TOKEN)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", VERSION)
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", tool)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let took = started.elapsed();
        let message = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .find_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .or_else(|| serde_json::from_str(&text).ok())
            .ok_or_else(|| format!("{status}: {text}"))?;
        if message["result"]["isError"] == true || message.get("error").is_some() {
            return Err(format!("{tool}: {message}"));
        }
        Ok(took)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("HOMELABD_BENCH_DEFINITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    generate::generate(&repo, n);
    daemon::init_repo(&repo);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let state = dir.path().join("state");
    let _daemon = start(&repo, &state, port);
    let client = Client {
        http: reqwest::Client::new(),
        url: format!("http://127.0.0.1:{port}/mcp"),
    };

    // The daemon loads and reconciles the repository first; the first MCP call then
    // runs the pipeline once for its own view. Neither is part of the measurements.
    let started = Instant::now();
    let discover = json!({});
    loop {
        if client
            .call("discover-infrastructure-context", &discover)
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "daemon did not answer"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{n} definitions: first MCP answer after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let svc = |i: usize| format!("svc-{:05}", i % n);
    let queries: Vec<(&str, Value)> = vec![
        ("discover-infrastructure-context", json!({})),
        ("query-resource-pools", json!({ "include_groups": false })),
        ("list-deployment-templates", json!({})),
        ("list-available-helm-charts", json!({})),
        ("get-deployment-status", json!({ "resource": svc(4242) })),
        ("compare-expected-vs-actual-state", json!({})),
        ("detect-infrastructure-anomalies", json!({})),
        (
            "analyze-resource-requirements",
            json!({ "workload_type": "web" }),
        ),
        ("find-optimal-placement", json!({ "resource": svc(1234) })),
        (
            "find-best-provider-for-workload",
            json!({ "workload_type": "web", "resource_type": "container" }),
        ),
        ("get-deployment-sop", json!({ "workload_type": "web" })),
        ("get-resource-allocation-guidelines", json!({})),
        ("get-placement-strategy", json!({})),
    ];
    let rounds = 20;
    let mut all = Vec::new();
    println!("\n| tool | p50 | p99 | max |\n|---|---:|---:|---:|");
    for (tool, args) in &queries {
        let mut times = Vec::new();
        for _ in 0..rounds {
            times.push(client.call(tool, args).await.expect("query"));
        }
        times.sort();
        println!(
            "| {tool} | {} | {} | {} |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(times[times.len() - 1])
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "| all queries ({} calls) | {} | {} | {} |",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(all[all.len() - 1])
    );

    let definition = "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata: { name: bench-new }\nspec:\n  resource_type: container\n  workload_type: web\n  requirements: { cpu: 1, memory_gb: 1 }\n  placement: { provider: docker }\n  chart: { values: { image: \"nginx:1.27\", ports: [{ name: http, container_port: 80, host_port: 8080, protocol: tcp }] } }\n";
    let render = json!({ "definition": definition });
    let mut times = Vec::new();
    for _ in 0..50 {
        times.push(
            client
                .call("translate-universal-to-provider", &render)
                .await
                .expect("dry render"),
        );
    }
    times.sort();
    println!(
        "| translate-universal-to-provider (dry render, 50 calls) | {} | {} | {} |",
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1])
    );

    // 50 concurrent clients, each with its own connection pool.
    let queries = Arc::new(queries);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..50 {
        let client = Client {
            http: reqwest::Client::new(),
            url: client.url.clone(),
        };
        let queries = queries.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut errors = Vec::new();
            for i in 0..20 {
                let (tool, args) = &queries[(c + i) % queries.len()];
                match client.call(tool, args).await {
                    Ok(t) => times.push(t),
                    Err(e) => errors.push(e),
                }
            }
            (times, errors)
        }));
    }
    let mut times = Vec::new();
    let mut errors = Vec::new();
    for t in tasks {
        let (ts, es) = t.await.unwrap();
        times.extend(ts);
        errors.extend(es);
    }
    let wall = started.elapsed();
    times.sort();
    println!(
        "\n50 concurrent clients × 20 calls: {} ok, {} errors in {:.2} s ({:.0} calls/s); p50 {}, p99 {}",
        times.len(),
        errors.len(),
        wall.as_secs_f64(),
        times.len() as f64 / wall.as_secs_f64(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
    for e in errors.iter().take(5) {
        println!("error: {e}");
    }
    assert!(errors.is_empty(), "{} requests failed", errors.len());
}
