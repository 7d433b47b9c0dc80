//! `/mcp` edge cases, spoken as raw JSON-RPC over HTTP (reqwest) to the real daemon:
//! missing and wrong tokens (401), tokens over their rate limit (429), hosts outside
//! rmcp's allow-list (403), a read-scope token calling a proposal (JSON-RPC error), bad
//! arguments and unknown tools, unknown resources (isError with the closest names), an
//! invalid proposed definition and escaping names (refused; nothing written).
//!
//! Requests use the stateless 2026-07-28 protocol: every POST carries the protocol
//! version header, the SEP-2243 `Mcp-Method` / `Mcp-Name` headers, and the protocol
//! version and client capabilities in `_meta`.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab, PROPOSE_TOKEN, READ_TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::pve_sim::{PveSim, TOKEN_ID, TOKEN_SECRET};

const VERSION: &str = "2026-07-28";

struct Raw {
    client: reqwest::Client,
    url: String,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    /// The JSON-RPC response in the body (plain JSON or the `data:` of an event stream).
    fn message(&self) -> Value {
        if let Ok(v) = serde_json::from_str::<Value>(&self.body) {
            return v;
        }
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("id").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in {:?}", self.body))
    }
}

impl Raw {
    fn new(daemon: &Daemon) -> Raw {
        // reqwest is built without a default TLS provider (the project uses ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Raw {
            client: reqwest::Client::new(),
            url: daemon.url("/mcp"),
        }
    }

    async fn post(
        &self,
        token: Option<&str>,
        host: Option<&str>,
        method: &str,
        mut params: Value,
    ) -> Reply {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let name = params
            .get("name")
            .or_else(|| params.get("uri"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut req = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", VERSION)
            .header("Mcp-Method", method)
            .json(&json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params }));
        if let Some(n) = name {
            req = req.header("Mcp-Name", n);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(h) = host {
            req = req.header("Host", h);
        }
        let resp = req.send().await.expect("POST /mcp");
        Reply {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap_or_default(),
        }
    }

    /// A JSON-RPC request that must reach the server (HTTP 200): its response message.
    async fn rpc(&self, token: &str, method: &str, params: Value) -> Value {
        let r = self.post(Some(token), None, method, params).await;
        assert_eq!(r.status, StatusCode::OK, "{method}: {}", r.body);
        r.message()
    }

    async fn call(&self, token: &str, tool: &str, arguments: Value) -> Value {
        self.rpc(
            token,
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
        )
        .await
    }
}

/// The text of an `isError` tool result (panics for anything else).
fn refusal(message: &Value) -> String {
    let r = &message["result"];
    assert_eq!(
        r["isError"], true,
        "expected an isError result: {message:#}"
    );
    r["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_wrong_tokens_get_401_with_a_bearer_challenge() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);
    for token in [None, Some("wrong-token"), Some(&PROPOSE_TOKEN[..10])] {
        let r = raw.post(token, None, "tools/list", json!({})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}: {}", r.body);
        let challenge = r.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"homelabd\""),
            "{challenge}"
        );
    }
    let r = raw.post(None, None, "tools/list", json!({})).await;
    assert!(
        r.body.contains("missing Authorization: Bearer token"),
        "{}",
        r.body
    );
    // The right token passes.
    let ok = raw.rpc(READ_TOKEN, "tools/list", json!({})).await;
    assert!(
        ok["result"]["tools"].as_array().unwrap().len() == 18,
        "{ok:#}"
    );
    assert!(
        !daemon.log().contains(PROPOSE_TOKEN),
        "tokens never reach the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_token_configured_everyone_gets_401_and_the_log_says_how_to_configure_one() {
    let lab = Homelab::new();
    let daemon = Daemon::start(
        &lab.repo,
        "",
        &[("HOMELABD_MCP_TOKEN", ""), ("HOMELABD_MCP_READ_TOKEN", "")],
    );
    let raw = Raw::new(&daemon);
    let r = raw
        .post(Some(PROPOSE_TOKEN), None, "tools/list", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("no MCP token is configured"), "{}", r.body);
    let log = daemon.log();
    assert!(
        log.contains("HOMELABD_MCP_TOKEN") && log.contains("mcp-token-<name>"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_are_not_held_back() {
    let lab = Homelab::new();
    let daemon = Daemon::start(
        &lab.repo,
        "[mcp]\nrate_limit_per_minute = 6\nrate_limit_burst = 3\n",
        &[],
    );
    let raw = Raw::new(&daemon);
    for i in 0..3 {
        let r = raw
            .post(Some(READ_TOKEN), None, "tools/list", json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.body);
    }
    let r = raw
        .post(Some(READ_TOKEN), None, "tools/list", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=10).contains(&wait),
        "one request per 10 s: retry after {wait}"
    );
    // Each token has its own bucket.
    let r = raw
        .post(Some(PROPOSE_TOKEN), None, "tools/list", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A client that ends its session (2025-11-25 sessions: `DELETE /mcp` with the session id)
/// gets 204, which MCP clients take as success (202 made the Python SDK log "Session
/// termination failed: 202"), and the ended session is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_answers_no_content_and_ends_it() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, "", &[]);
    let raw = Raw::new(&daemon);
    let init = raw
        .client
        .post(&raw.url)
        .bearer_auth(READ_TOKEN)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "edge-test", "version": "1" }
            }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), StatusCode::OK);
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let end = |token: &'static str| {
        raw.client
            .delete(&raw.url)
            .bearer_auth(token)
            .header("Mcp-Session-Id", &session)
            .header("MCP-Protocol-Version", "2025-11-25")
            .send()
    };
    let ended = end(READ_TOKEN).await.unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert!(ended.text().await.unwrap().is_empty());
    // The session no longer exists: a request in it is refused.
    let after = raw
        .client
        .post(&raw.url)
        .bearer_auth(READ_TOKEN)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_the_allow_list_are_refused() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);
    let r = raw
        .post(
            Some(READ_TOKEN),
            Some("attacker.example"),
            "tools/list",
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = raw
        .post(
            Some(READ_TOKEN),
            Some(&format!("localhost:{}", daemon.port)),
            "tools/list",
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_misuse_is_a_jsonrpc_error_and_fixable_mistakes_are_tool_errors() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);

    // A read-scope token cannot call a proposal: it is not listed, and refused.
    let listed = raw.rpc(READ_TOKEN, "tools/list", json!({})).await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"deploy-with-intelligence"), "{names:?}");
    let m = raw
        .call(
            READ_TOKEN,
            "deploy-with-intelligence",
            json!({ "name": "x", "workload": { "workload_type": "ci-cd" } }),
        )
        .await;
    assert_eq!(m["error"]["code"], -32602, "{m:#}");
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap()
            .contains("propose scope"),
        "{m:#}"
    );

    // Unknown tool: a JSON-RPC error.
    let m = raw.call(READ_TOKEN, "rm-rf", json!({})).await;
    assert_eq!(m["error"]["code"], -32602, "{m:#}");

    // Bad arguments: tool errors naming what is wrong.
    let m = raw
        .call(
            READ_TOKEN,
            "query-resource-pools",
            json!({ "pool_type": "banana" }),
        )
        .await;
    assert!(refusal(&m).contains("unknown variant `banana`"), "{m:#}");
    let m = raw
        .call(
            READ_TOKEN,
            "query-resource-pools",
            json!({ "colour": "blue" }),
        )
        .await;
    assert!(refusal(&m).contains("unknown field `colour`"), "{m:#}");
    let m = raw
        .call(READ_TOKEN, "analyze-resource-requirements", json!({}))
        .await;
    assert!(
        refusal(&m).contains("missing field `workload_type`"),
        "{m:#}"
    );
    let m = raw
        .call(
            READ_TOKEN,
            "detect-infrastructure-anomalies",
            json!({ "window_hours": 0 }),
        )
        .await;
    assert!(refusal(&m).contains("window_hours must be 1-720"), "{m:#}");

    // Unknown names: tool errors with the closest known names.
    let m = raw
        .call(
            READ_TOKEN,
            "get-deployment-status",
            json!({ "resource": "jenkns" }),
        )
        .await;
    let text = refusal(&m);
    assert!(
        text.contains("unknown resource \"jenkns\"") && text.contains("closest first): jenkins"),
        "{text}"
    );
    assert_eq!(
        m["result"]["structuredContent"]["error"],
        "unknown resource \"jenkns\""
    );
    let m = raw
        .call(
            READ_TOKEN,
            "get-deployment-sop",
            json!({ "workload_type": "databse" }),
        )
        .await;
    assert!(refusal(&m).contains("closest first): database"), "{m:#}");

    // Live Proxmox discovery without [proxmox]: the answer says why it is missing.
    let m = raw
        .call(
            READ_TOKEN,
            "discover-infrastructure-context",
            json!({ "proxmox": true }),
        )
        .await;
    let err = m["result"]["structuredContent"]["proxmox_error"]
        .as_str()
        .unwrap();
    assert!(err.starts_with("not configured"), "{m:#}");

    // An unknown MCP resource: a JSON-RPC error.
    let m = raw
        .rpc(
            READ_TOKEN,
            "resources/read",
            json!({ "uri": "homelab://definitions/nope" }),
        )
        .await;
    assert_eq!(
        m["error"]["code"], -32602,
        "resource-not-found as 2026-07-28 reports it: {m:#}"
    );
    assert!(
        m["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no resource \"nope\""),
        "{m:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definitions_and_escaping_names_are_refused_and_nothing_is_written() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);
    let before = Homelab::branches(&lab.repo);

    let bad = "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata: { name: bad }\nspec:\n  resource_type: compute\n  workload_type: ci-cd\n  requirements: { cpu: \"four\", memory_gb: 2 }\n  placement: { pool: /homelab/nowhere }\n";
    let m = raw
        .call(
            PROPOSE_TOKEN,
            "deploy-with-intelligence",
            json!({ "name": "bad", "definition": bad }),
        )
        .await;
    let text = refusal(&m);
    assert!(text.contains("nothing was written"), "{text}");
    assert!(text.contains("/spec/requirements/cpu"), "{text}");
    let problems = m["result"]["structuredContent"]["problems"]
        .as_array()
        .unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["pointer"] == "/spec/requirements/cpu"),
        "{problems:#?}"
    );

    // A valid document whose template rule fails is refused too.
    let ollama = std::fs::read_to_string(lab.repo.join("definitions/ai/ollama.yaml")).unwrap();
    let weak = ollama
        .replace("name: ollama-server", "name: ollama-small")
        .replace("memory_gb: 8", "memory_gb: 4");
    let m = raw
        .call(
            PROPOSE_TOKEN,
            "deploy-with-intelligence",
            json!({ "name": "ollama-small", "definition": weak }),
        )
        .await;
    assert!(refusal(&m).contains("at least 8 GiB"), "{m:#}");

    for (tool, args, why) in [
        (
            "deploy-with-intelligence",
            json!({ "name": "../../x", "workload": { "workload_type": "ci-cd" } }),
            "not a DNS-1123 label",
        ),
        (
            "update-resource-dimensions",
            json!({ "resource": "../../x", "set": { "a": "b" } }),
            "not a DNS-1123 label",
        ),
        (
            "create-infrastructure-snapshot",
            json!({ "name": "../snap" }),
            "not a DNS-1123 label",
        ),
        (
            "generate-template-from-instance",
            json!({ "resource": "jenkins", "template": "a/b" }),
            "not a DNS-1123 label",
        ),
        (
            "deploy-with-intelligence",
            json!({ "name": "escape", "workload": { "workload_type": "ci-cd" }, "path": "../../etc/cron.d/x.yaml" }),
            "nothing was written",
        ),
        (
            "decommission-resource",
            json!({ "resource": "nope" }),
            "unknown resource",
        ),
    ] {
        let m = raw.call(PROPOSE_TOKEN, tool, args.clone()).await;
        let text = refusal(&m);
        assert!(text.contains(why), "{tool} {args}: {text}");
    }

    // A dry run answers in full and writes nothing either.
    let m = raw
        .call(
            PROPOSE_TOKEN,
            "update-resource-dimensions",
            json!({ "resource": "jenkins", "set": { "tier": "gold" }, "dry_run": true }),
        )
        .await;
    let r = &m["result"]["structuredContent"];
    assert_eq!(r["proposal"]["status"], "dry-run", "{m:#}");
    assert!(
        r["content"].as_str().unwrap().contains("tier: gold"),
        "{m:#}"
    );

    assert_eq!(
        Homelab::branches(&lab.repo),
        before,
        "no branch was created"
    );
    assert_eq!(Homelab::branches(&lab.bare).len(), 1, "nothing was pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_can_add_the_live_proxmox_inventory_from_the_api() {
    let sim = PveSim::start().await;
    let lab = Homelab::new();
    let config = format!(
        "{GENEROUS_LIMITS}\n[proxmox]\nurl = \"{}\"\ntoken_id = \"{TOKEN_ID}\"\n",
        sim.url
    );
    let daemon = Daemon::start(
        &lab.repo,
        &config,
        &[("HOMELABD_PROXMOX_TOKEN", TOKEN_SECRET)],
    );
    let raw = Raw::new(&daemon);
    let m = raw
        .call(
            READ_TOKEN,
            "discover-infrastructure-context",
            json!({ "proxmox": true }),
        )
        .await;
    let p = &m["result"]["structuredContent"]["proxmox"];
    let nodes: Vec<&str> = p["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{m:#}"))
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        nodes,
        ["pve-01", "pve-02", "pve-03", "pve-gpu-01", "pve-gpu-02"]
    );
    let gpu_nodes: Vec<&str> = p["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["pci_devices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["gpu"] == true)
        })
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(gpu_nodes, ["pve-gpu-01", "pve-gpu-02"]);
    assert!(
        sim.requests()
            .iter()
            .any(|r| r.contains("/nodes/pve-gpu-01/hardware/pci")),
        "asked the API"
    );
    let text = m["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Proxmox VE (live): 5 node(s)"), "{text}");
    // Without asking, no API round trip is part of the answer.
    let m = raw
        .call(READ_TOKEN, "discover-infrastructure-context", json!({}))
        .await;
    assert!(m["result"]["structuredContent"].get("proxmox").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_proposal_pins_the_moves_a_fresh_placement_would_make() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);
    // Placed once; then a VM whose name sorts first arrives and moves nobody.
    support::write(
        &lab.repo,
        "definitions/ci/aaa-first.yaml",
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata: { name: aaa-first }\nspec:\n  resource_type: compute\n  workload_type: ci-cd\n  requirements: { cpu: 22, memory_gb: 60, storage_gb: 100 }\n  placement: { pool: /homelab/compute/general }\n",
    );
    let commit = support::git_commit_all(&lab.repo, "add aaa-first");
    let store = homelabd::store::Store::connect(&daemon.database_url())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.latest_revision().await.unwrap().map(|r| r.commit) != Some(commit.clone()) {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let m = raw
        .call(
            PROPOSE_TOKEN,
            "rebalance-placement",
            json!({ "reason": "spread the general pool again", "dry_run": true }),
        )
        .await;
    let r = &m["result"]["structuredContent"];
    assert_eq!(r["proposal"]["status"], "dry-run", "{m:#}");
    let notes: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    let jenkins = notes
        .iter()
        .find(|n| n.starts_with("`jenkins` moves from pve-01 to pve-02 because a fresh placement"))
        .unwrap_or_else(|| panic!("{notes:#?}"));
    assert!(jenkins.contains("destructive"), "{jenkins}");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("`nextcloud` moves from pve-02 to pve-03")),
        "{notes:#?}"
    );
    // After the merge the daemon moves exactly there: the proposal's own placement of the
    // changed tree (around the store's placements) says so.
    let resources = r["proposal"]["resources"].as_array().unwrap();
    let placed = |name: &str| {
        resources
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {resources:#?}"))
    };
    assert_eq!(placed("jenkins")["nodes"], json!(["pve-02"]));
    assert_eq!(placed("jenkins")["moved_from"], "pve-01");
    assert!(
        placed("jenkins")["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with(
                "moves from pve-01 to pve-02 because spec.placement.node now pins it to pve-02"
            ),
        "{:#}",
        placed("jenkins")
    );
    assert_eq!(placed("nextcloud")["nodes"], json!(["pve-03"]));
}

/// The audit trail of agent use: refused requests (a wrong token, a read token calling
/// a proposal, an invalid argument, the rate limit) and reads of sensitive state are
/// recorded with the token's name — never the token — and the client address; plain
/// reads are not. `query-audit-log` (read scope) and `homelabd audit` read them back,
/// filtered and paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_calls_refusals_and_sensitive_reads_are_in_the_audit_trail() {
    let lab = Homelab::new();
    let daemon = Daemon::start(
        &lab.repo,
        "[mcp]\nrate_limit_per_minute = 1\nrate_limit_burst = 8\n",
        &[],
    );
    let raw = Raw::new(&daemon);
    let r = raw
        .post(
            Some("not-a-token-at-all-1234"),
            None,
            "tools/list",
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A read of sensitive state, a plain read, a scope refusal and an invalid argument.
    raw.call(
        READ_TOKEN,
        "get-deployment-status",
        json!({ "resource": "jenkins" }),
    )
    .await;
    raw.call(READ_TOKEN, "list-deployment-templates", json!({}))
        .await;
    let m = raw
        .call(
            READ_TOKEN,
            "deploy-with-intelligence",
            json!({ "name": "x" }),
        )
        .await;
    assert_eq!(m["error"]["code"], -32602, "{m:#}");
    let m = raw
        .call(
            READ_TOKEN,
            "query-resource-pools",
            json!({ "colour": "blue" }),
        )
        .await;
    refusal(&m);
    // Over the burst: refused, and recorded once however often it happens.
    let mut limited = 0;
    for _ in 0..8 {
        let r = raw
            .post(Some(READ_TOKEN), None, "tools/list", json!({}))
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited >= 3, "{limited} requests were rate limited");

    let m = raw
        .call(
            PROPOSE_TOKEN,
            "query-audit-log",
            json!({ "actor": "mcp:env-read" }),
        )
        .await;
    let entries = m["result"]["structuredContent"]["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{m:#}"))
        .clone();
    let rows: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
                e["details"]["tool"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let has = |action: &str, subject: &str, tool: &str| {
        rows.iter()
            .any(|(a, s, t)| a == action && s == subject && t == tool)
    };
    assert!(
        has("mcp.read", "jenkins", "get-deployment-status"),
        "{rows:?}"
    );
    assert!(
        has("mcp.refused", "x", "deploy-with-intelligence"),
        "{rows:?}"
    );
    assert!(
        has(
            "mcp.refused",
            "query-resource-pools",
            "query-resource-pools"
        ),
        "{rows:?}"
    );
    assert!(
        !rows
            .iter()
            .any(|(_, _, t)| t == "list-deployment-templates"),
        "plain reads are not recorded: {rows:?}"
    );
    let limited_rows: Vec<&Value> = entries
        .iter()
        .filter(|e| e["details"]["status"] == 429)
        .collect();
    assert_eq!(
        limited_rows.len(),
        1,
        "one row for the burst of refusals: {entries:#?}"
    );
    assert!(
        limited_rows[0]["details"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("rate limited, retry after"),
        "{entries:#?}"
    );
    assert!(
        entries.iter().all(|e| e["client_addr"] == "127.0.0.1"),
        "{entries:#?}"
    );
    let scope = entries
        .iter()
        .find(|e| e["details"]["tool"] == "deploy-with-intelligence")
        .unwrap();
    assert!(
        scope["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("propose scope"),
        "{scope:#}"
    );

    // The unauthenticated request, and the audit query itself, by the other token.
    let m = raw
        .call(
            PROPOSE_TOKEN,
            "query-audit-log",
            json!({ "action": "mcp.", "limit": 2 }),
        )
        .await;
    let page = &m["result"]["structuredContent"];
    assert_eq!(page["entries"].as_array().unwrap().len(), 2, "{m:#}");
    assert_eq!(page["entries"][0]["actor"], "mcp:env", "{m:#}");
    assert_eq!(
        page["entries"][0]["details"]["tool"], "query-audit-log",
        "{m:#}"
    );
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let m = raw
        .call(
            PROPOSE_TOKEN,
            "query-audit-log",
            json!({ "actor": "mcp:anonymous", "cursor": cursor }),
        )
        .await;
    let anonymous = m["result"]["structuredContent"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(anonymous.len(), 1, "{m:#}");
    assert_eq!(anonymous[0]["details"]["status"], 401);
    assert_eq!(anonymous[0]["details"]["reason"], "unknown token");

    // The command line reads the same rows.
    let db = daemon.database_url();
    let out = support::homelabd(&["audit", "--database-url", &db, "--resource", "jenkins"]);
    let text = support::stdout(&out);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("AT (UTC)") && first.contains("CLIENT"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("mcp:env-read")
            && l.contains("mcp.read")
            && l.contains("127.0.0.1")
            && l.contains("tool=get-deployment-status")),
        "{text}"
    );
    let out = support::homelabd(&[
        "audit",
        "--database-url",
        &db,
        "--actor",
        "mcp:env-read",
        "--since",
        "1h",
        "--limit",
        "2",
        "--output",
        "json",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), 2, "{json:#}");
    let before = json["next_before"].as_i64().unwrap().to_string();
    let out = support::homelabd(&[
        "audit",
        "--database-url",
        &db,
        "--actor",
        "mcp:env-read",
        "--before",
        &before,
        "--output",
        "json",
    ]);
    let older: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !older["entries"].as_array().unwrap().is_empty(),
        "{older:#}"
    );
    let out = support::homelabd(&["audit", "--database-url", &db, "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", support::stderr(&out));

    let mut everything = String::new();
    for file in ["homelabd.db", "homelabd.db-wal"] {
        if let Ok(bytes) = std::fs::read(daemon.state.path().join(file)) {
            everything.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(
        everything.contains("mcp:env-read"),
        "the rows are in the files read"
    );
    assert!(
        !everything.contains(READ_TOKEN) && !everything.contains("not-a-token-at-all"),
        "tokens never reach the store"
    );
}

/// Costs: the example's pools carry prices, so `find-best-provider-for-workload` with
/// `include_costs` puts a monthly estimate (lines and assumptions) on every provider that
/// fits, a budget (`cost_constraints`) keeps providers over it from being chosen, and the
/// `cost-review` prompt states the estimates per pool and resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_answers_and_the_cost_review_carry_monthly_estimates() {
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);
    let workload =
        json!({ "workload_type": "database", "cpu": 2, "memory_gb": 4, "storage_gb": 20 });
    let mut with_costs = workload.clone();
    with_costs["include_costs"] = json!(true);
    let m = raw
        .call(READ_TOKEN, "find-best-provider-for-workload", with_costs)
        .await;
    let answer = &m["result"]["structuredContent"];
    let providers = answer["providers"]
        .as_array()
        .unwrap_or_else(|| panic!("{m:#}"));
    let fitting: Vec<&Value> = providers.iter().filter(|p| p["fits"] == true).collect();
    assert!(!fitting.is_empty(), "{m:#}");
    for p in &fitting {
        let c = &p["monthly_cost"];
        assert!(c["monthly"].as_f64().unwrap() > 0.0, "{p:#}");
        assert!(!c["lines"].as_array().unwrap().is_empty(), "{p:#}");
        assert!(
            c["assumptions"][0]
                .as_str()
                .unwrap()
                .contains("730 hours a month"),
            "{p:#}"
        );
    }
    assert!(
        answer["cost_notes"][0]
            .as_str()
            .unwrap()
            .contains("730 hours"),
        "{m:#}"
    );
    // A budget below every estimate: nothing is chosen, and the answer says why.
    let cheapest = fitting
        .iter()
        .map(|p| p["monthly_cost"]["monthly"].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let mut tight = workload.clone();
    tight["cost_constraints"] = json!({ "max_monthly_cost": cheapest / 2.0 });
    let m = raw
        .call(READ_TOKEN, "find-best-provider-for-workload", tight)
        .await;
    let answer = &m["result"]["structuredContent"];
    assert!(answer.get("best").is_none(), "{m:#}");
    assert!(
        answer["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["fits"] == true)
            .all(|p| p["within_budget"] == false),
        "{m:#}"
    );
    assert!(
        answer["cost_notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .starts_with("nothing that fits is estimated within")),
        "{m:#}"
    );
    // A budget the cheapest meets: the best is within it.
    let cheapest_one = fitting
        .iter()
        .find(|p| p["monthly_cost"]["monthly"].as_f64().unwrap() == cheapest)
        .unwrap();
    let mut enough = workload.clone();
    enough["cost_constraints"] = json!({
        "max_monthly": cheapest,
        "currency": cheapest_one["monthly_cost"]["currency"],
    });
    let m = raw
        .call(READ_TOKEN, "find-best-provider-for-workload", enough)
        .await;
    let best = &m["result"]["structuredContent"]["best"];
    assert!(best.is_object(), "{m:#}");
    let chosen = m["result"]["structuredContent"]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["placement"]["pool"] == best["pool"])
        .unwrap()
        .clone();
    assert_eq!(chosen["within_budget"], true, "{m:#}");

    let m = raw
        .rpc(
            READ_TOKEN,
            "prompts/get",
            json!({ "name": "cost-review", "arguments": {} }),
        )
        .await;
    let text = m["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{m:#}"));
    assert!(text.contains("/homelab/compute/general"), "{text}");
    assert!(text.contains(" EUR a month: "), "{text}");
    assert!(
        text.contains("Estimated total of the priced resources:"),
        "{text}"
    );
    assert!(
        text.contains("USD"),
        "the AWS pool prices in dollars: {text}"
    );
}

/// Snapshots capture reality: `create-infrastructure-snapshot` stores, beside the
/// committed file, what the store observed of every resource and the containers the
/// inventory saw outside git. `generate-template-from-instance` records the template it
/// made, and once it is merged and used, `list-deployment-templates` reports where it
/// came from and the success rate of its users' apply runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_keep_the_observed_state_and_generated_templates_report_their_runs() {
    use homelabd::store::{
        ApplyRunEffects, ApplyRunEnd, AuditRecord, InventoryItem, RunState, Store,
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let raw = Raw::new(&daemon);
    let store = Store::connect(&daemon.database_url()).await.unwrap();
    let started = AuditRecord {
        at: chrono::Utc::now(),
        actor: "daemon".into(),
        action: "apply.started".into(),
        subject: "jenkins".into(),
        details: json!({}),
    };
    for state in [
        RunState::Succeeded,
        RunState::Failed,
        RunState::Succeeded,
        RunState::Succeeded,
    ] {
        let id = store
            .start_apply_run(
                "jenkins",
                &lab.head,
                "terraform",
                homelabd::store::RunOperation::Apply,
                &started,
            )
            .await
            .unwrap();
        let end = ApplyRunEnd {
            state,
            argv: json!([]),
            exit_code: Some(i32::from(state == RunState::Failed)),
            finished_at: chrono::Utc::now(),
            duration_ms: 10,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            error: None,
        };
        store
            .finish_apply_run(&id, &end, &ApplyRunEffects::default())
            .await
            .unwrap();
    }
    let unmanaged = InventoryItem {
        key: "container/0123abcd".into(),
        kind: "container".into(),
        name: Some("legacy-wiki".into()),
        node: Some("docker-01".into()),
        managed_by: None,
        details: json!({ "image": "mediawiki:1.41", "state": "running" }),
    };
    store
        .record_inventory("docker:docker-01", chrono::Utc::now(), &[unmanaged], "test")
        .await
        .unwrap();

    let m = raw
        .call(
            PROPOSE_TOKEN,
            "create-infrastructure-snapshot",
            json!({ "name": "before-move" }),
        )
        .await;
    let notes = m["result"]["structuredContent"]["notes"].to_string();
    assert!(notes.contains("observed state stored as snapshot"), "{m:#}");
    let snap = store
        .snapshot("before-move")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(snap.taken_by, "mcp:env");
    let resources = snap.content["resources"].as_array().unwrap();
    let jenkins = resources
        .iter()
        .find(|r| r["name"] == "jenkins")
        .expect("jenkins");
    assert_eq!(jenkins["pool"], "/homelab/compute/general", "{jenkins:#}");
    assert!(jenkins["placement"]["nodes"].is_array(), "{jenkins:#}");
    assert_eq!(snap.content["revision"], lab.head.as_str());
    let outside = snap.content["unmanaged"].as_array().unwrap();
    assert_eq!(outside.len(), 1, "{:#}", snap.content);
    assert_eq!(outside[0]["name"], "legacy-wiki");

    let m = raw
        .call(
            PROPOSE_TOKEN,
            "generate-template-from-instance",
            json!({ "resource": "jenkins", "template": "jenkins-copy" }),
        )
        .await;
    let answer = &m["result"]["structuredContent"];
    assert!(
        answer["notes"]
            .to_string()
            .contains("recorded as generated from jenkins"),
        "{m:#}"
    );
    let branch = answer["proposal"]["branch"]
        .as_str()
        .unwrap_or_else(|| panic!("{m:#}"));
    // The template is merged and jenkins moves onto it.
    harness::git(&lab.repo, &["merge", "-q", "--ff-only", branch]);
    let jenkins_file = lab.repo.join("definitions/ci/jenkins.yaml");
    let text = std::fs::read_to_string(&jenkins_file).unwrap();
    std::fs::write(
        &jenkins_file,
        text.replace("template: jenkins-controller", "template: jenkins-copy"),
    )
    .unwrap();
    let head = support::git_commit_all(&lab.repo, "jenkins uses its generated template");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let generated = loop {
        let m = raw
            .call(READ_TOKEN, "list-deployment-templates", json!({}))
            .await;
        let answer = &m["result"]["structuredContent"];
        let found = answer["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "jenkins-copy")
            .cloned();
        if answer["revision"] == head.as_str() {
            break found.expect("the merged template is listed");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never reconciled {head}: {m:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(generated["used_by"], json!(["jenkins"]), "{generated:#}");
    let g = &generated["generated"];
    assert_eq!(g["from"], "jenkins", "{generated:#}");
    assert_eq!(g["apply_runs"], 4, "{generated:#}");
    assert_eq!(g["succeeded"], 3, "{generated:#}");
    assert_eq!(g["success_rate"], 0.75, "{generated:#}");
}
