//! Hostile input from AI agents, spoken through the real Python MCP SDK to the real
//! `homelabd` (over stdio and the daemon's `/mcp`) on a real git repository: patterns
//! built to take exponential time, oversized and deeply nested arguments, proposals that
//! would edit the wrong document or replace a file, agent text that hides the generated
//! parts of a pull request, tokens in remote URLs. Each test is named after what an agent
//! could do before and must not do now. Also the CLI's quiet exit into a closed pipe.
//! Skipped loudly (failed under HOMELABD_TEST_STRICT=1) when the SDK cannot be installed.

#[path = "mcp/harness.rs"]
mod harness;
mod support;

use harness::{Daemon, GENEROUS_LIMITS, Homelab, READ_TOKEN};
use serde_json::{Value, json};
use std::path::Path;

fn python_or_skip(test: &str) -> Option<std::path::PathBuf> {
    let python = harness::python();
    if python.is_none() {
        support::skip(
            test,
            "the Python mcp SDK could not be installed into .tools/venv",
        );
    }
    python
}

/// Makes `calls` (`(tool, arguments)`) over one session of `connection`; one answer per
/// call: `{error, text, structured}` or `{protocol_error}`.
fn call_one(python: &Path, connection: &Value, tool: &str, arguments: Value) -> Value {
    call_all(python, connection, &[(tool, arguments)]).remove(0)
}

fn call_all(python: &Path, connection: &Value, calls: &[(&str, Value)]) -> Vec<Value> {
    let mut config = connection.clone();
    config["calls"] = calls
        .iter()
        .map(|(name, arguments)| json!({ "name": name, "arguments": arguments }))
        .collect();
    let (ok, out, err) = harness::run_script(python, "calls.py", &config);
    assert!(ok, "calls.py failed\nstdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `homelabd mcp` over stdio on `repo`, with `state` as its state directory.
fn stdio(repo: &str, state: &Path) -> Value {
    json!({
        "transport": "stdio",
        "era": "modern",
        "command": env!("CARGO_BIN_EXE_homelabd"),
        "args": ["mcp", "--repo", repo, "--state-dir", state],
        "env": { "HOMELABD_LOG": "info", "PATH": std::env::var("PATH").unwrap_or_default() },
    })
}

fn http(daemon: &Daemon, token: &str) -> Value {
    json!({ "transport": "http", "era": "modern", "url": daemon.url("/mcp"), "token": token })
}

fn healthz(daemon: &Daemon) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        support::get(daemon.url("/healthz"))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

/// A small container resource placed on the example's Docker host.
fn app(name: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata:
  name: {name}
spec:
  resource_type: container
  workload_type: web-application
  requirements: {{cpu: 1, memory_gb: 0.25, storage_gb: 1}}
  placement: {{provider: docker, pool: /homelab/docker, node: docker-01}}
  chart:
    name: docker-compose
    values: {{image: 'busybox:1'}}
  policy: {{apply: manual}}
"
    )
}

/// The names of the UniversalResources in a YAML text, in order.
fn names_in(text: &str) -> Vec<String> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| {
            let v: Value = serde::Deserialize::deserialize(d).ok()?;
            v["metadata"]["name"].as_str().map(str::to_owned)
        })
        .collect()
}

#[test]
fn exponential_path_pattern_in_query_resource_pools_is_answered_like_any_pattern() {
    let Some(python) = python_or_skip("exponential glob") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    // Before: each of these tried ~2^40 ways to split the path and held a runtime worker
    // for minutes; now each is a linear scan.
    let stars = format!("/{}Z", "*".repeat(40));
    let globstars = format!("/{}Z", "**/".repeat(40));
    let mixed = format!("/homelab/{}x", "*a".repeat(200));
    let calls: Vec<(&str, Value)> = [&stars, &globstars, &mixed]
        .iter()
        .map(|p| ("query-resource-pools", json!({ "path_pattern": p })))
        .chain([(
            "query-resource-pools",
            json!({ "path_pattern": "/homelab/*/gpu-*" }),
        )])
        .collect();
    let answers = call_all(&python, &http(&daemon, READ_TOKEN), &calls);
    for a in &answers[..3] {
        assert_eq!(a["error"], false, "{a}");
        assert_eq!(a["structured"]["pools"], json!([]), "{a}");
    }
    let honest: Vec<&str> = answers[3]["structured"]["pools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert!(honest.contains(&"/homelab/compute/gpu-nodes"), "{honest:?}");
    assert_eq!(healthz(&daemon), 200);
}

/// Strings an attacker tries in every parameter that is matched against something.
fn hostile_strings() -> Vec<String> {
    vec![
        format!("/{}Z", "*".repeat(40)),
        format!("{}Z", "**/".repeat(60)),
        "a".repeat(60_000),
        format!("{}!", "a*".repeat(5_000)),
        "../../../../etc/passwd".into(),
        "\u{202e}gnp.exe\u{202c}".into(),
        "nul\u{0}byte".into(),
        "HEAD~999999999".into(),
        ":/(a+)+$".into(),
        "%%%%".into(),
        String::new(),
    ]
}

#[test]
fn pathological_strings_in_every_matched_parameter_are_answered_and_the_daemon_stays_healthy() {
    let Some(python) = python_or_skip("pathological strings") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let mut calls: Vec<(&str, Value)> = Vec::new();
    for s in hostile_strings() {
        let w = json!({ "workload_type": s, "template": s, "pool": s });
        calls.extend([
            ("query-resource-pools", json!({ "path_pattern": s })),
            (
                "query-resource-pools",
                json!({ "dimensions": { s.clone(): s } }),
            ),
            ("query-resource-pools", json!({ "cursor": s })),
            ("list-deployment-templates", json!({ "cursor": s })),
            ("list-available-helm-charts", json!({ "workload_type": s })),
            ("get-deployment-status", json!({ "resource": s })),
            ("get-deployment-status", json!({ "cursor": s })),
            ("compare-expected-vs-actual-state", json!({ "resource": s })),
            ("validate-universal-definition", json!({ "definition": s })),
            (
                "translate-universal-to-provider",
                json!({ "definition": s }),
            ),
            ("analyze-resource-requirements", w.clone()),
            ("find-best-provider-for-workload", w.clone()),
            ("find-optimal-placement", json!({ "resource": s })),
            ("find-optimal-placement", json!({ "workload": w })),
            ("plan-migration-from-snapshot", json!({ "from": s })),
            (
                "plan-migration-from-snapshot",
                json!({ "from": "HEAD", "to": s, "cursor": s }),
            ),
            ("get-deployment-sop", json!({ "workload_type": s })),
            ("get-deployment-sop", json!({ "resource": s })),
            (
                "get-resource-allocation-guidelines",
                json!({ "pool": s, "workload_type": s }),
            ),
            ("get-placement-strategy", json!({ "workload_type": s })),
        ]);
    }
    let answers = call_all(&python, &http(&daemon, READ_TOKEN), &calls);
    assert_eq!(answers.len(), calls.len());
    for ((tool, args), a) in calls.iter().zip(&answers) {
        // A refusal (isError) or an answer; a JSON-RPC error only for a malformed call.
        let shown: String = args.to_string().chars().take(120).collect();
        if let Some(e) = a["protocol_error"].as_str() {
            assert!(
                !e.to_ascii_lowercase().contains("panic") && !e.contains("worker failed"),
                "{tool} {shown}: {e}"
            );
        }
    }
    assert_eq!(healthz(&daemon), 200, "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

#[test]
fn decommission_removes_the_named_resource_when_a_comment_only_document_sits_between() {
    let Some(python) = python_or_skip("decommission numbering") else {
        return;
    };
    let lab = Homelab::new();
    let file = "definitions/apps/trio.yaml";
    let text = format!(
        "{}---\n# app-x is disabled for now\n---\n{}---\n{}",
        app("app-a"),
        app("app-b"),
        app("app-c")
    );
    support::write(&lab.repo, file, &text);
    support::git_commit_all(&lab.repo, "three apps in one file");
    let state = tempfile::tempdir().unwrap();
    let answers = call_all(
        &python,
        &stdio(lab.repo.to_str().unwrap(), state.path()),
        &[
            (
                "decommission-resource",
                json!({ "resource": "app-b", "dry_run": true }),
            ),
            (
                "update-resource-dimensions",
                json!({ "resource": "app-b", "set": { "owner": "bob" }, "dry_run": true }),
            ),
        ],
    );
    let removed = &answers[0];
    assert_eq!(removed["error"], false, "{removed}");
    let content = removed["structured"]["content"].as_str().unwrap();
    // Before: app-c was removed and app-b kept.
    assert_eq!(names_in(content), ["app-a", "app-c"], "{content}");
    assert!(content.contains("# app-x is disabled for now"), "{content}");
    let changed = &answers[1];
    assert_eq!(changed["error"], false, "{changed}");
    let content = changed["structured"]["content"].as_str().unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(content)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| !v.is_null())
        .collect();
    let owner_of = |name: &str| {
        docs.iter()
            .find(|d| d["metadata"]["name"] == name)
            .map(|d| d["spec"]["dimensions"]["owner"].clone())
    };
    assert_eq!(owner_of("app-b"), Some(json!("bob")), "{content}");
    assert_eq!(owner_of("app-c"), Some(Value::Null), "{content}");
}

#[test]
fn a_token_in_the_remote_url_never_reaches_the_log_or_mcp_answers() {
    let Some(python) = python_or_skip("token in remote URL") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let port = harness::free_port();
    for url in [
        format!("https://ghp_SECRET1@127.0.0.1:{port}/o/r.git"),
        format!("https://user:ghp_SECRET2@127.0.0.1:{port}/o/r.git"),
        format!("https://user:p@ss@SECRET3@127.0.0.1:{port}/o/r.git"),
    ] {
        let mut config = stdio(&url, state.path());
        config["calls"] = json!([
            { "name": "discover-infrastructure-context", "arguments": {} },
            { "name": "get-deployment-status", "arguments": {} },
        ]);
        let (ok, out, err) = harness::run_script(&python, "calls.py", &config);
        assert!(ok, "{out}\n{err}");
        assert!(
            !out.contains("SECRET"),
            "an MCP answer shows the token: {out}"
        );
        assert!(!err.contains("SECRET"), "the log shows the token: {err}");
        assert!(
            err.contains("***@127.0.0.1"),
            "no redacted URL in the log: {err}"
        );
    }
}

#[test]
fn plan_into_a_closed_pipe_exits_quietly() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_homelabd"))
        .args(["plan", support::example_repo().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line is written (`| head -0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `{"a": [{"a": [… 1 …]}]}`: two levels per step.
fn nested(steps: usize) -> Value {
    let mut v = json!(1);
    for _ in 0..steps {
        v = json!({ "a": [v] });
    }
    v
}

#[test]
fn deep_or_oversized_arguments_are_refused_naming_the_limit() {
    let Some(python) = python_or_skip("argument limits") else {
        return;
    };
    let lab = Homelab::new();
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let answers = call_all(
        &python,
        &http(&daemon, READ_TOKEN),
        &[
            (
                "validate-universal-definition",
                json!({ "definition": "x".repeat(300_000) }),
            ),
            (
                "validate-universal-definition",
                json!({ "definition": "kind: X\n", "deep": nested(20) }),
            ),
            // Deeper than JSON parsing itself allows: refused, the session goes on.
            ("query-resource-pools", json!({ "deep": nested(100) })),
            (
                "query-resource-pools",
                json!({ "path_pattern": "/homelab" }),
            ),
        ],
    );
    let error = |i: usize| answers[i]["protocol_error"].as_str().unwrap_or_default();
    assert!(
        error(0).contains("[mcp] max_argument_bytes"),
        "{}",
        answers[0]
    );
    assert!(
        error(1).contains("[mcp] max_argument_depth"),
        "{}",
        answers[1]
    );
    assert!(!error(2).is_empty(), "{}", answers[2]);
    assert_eq!(answers[3]["error"], false, "{}", answers[3]);
    assert_eq!(healthz(&daemon), 200);
}

#[test]
fn a_call_past_its_deadline_is_answered_with_an_error_naming_the_setting() {
    let Some(python) = python_or_skip("call deadline") else {
        return;
    };
    // A Proxmox VE API that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let lab = Homelab::new();
    let config = format!(
        "{GENEROUS_LIMITS}call_timeout_seconds = 2\n\n[proxmox]\nurl = \"http://127.0.0.1:{port}\"\ntoken_id = \"{}\"\ntimeout_seconds = 600\n",
        support::pve_sim::TOKEN_ID
    );
    let daemon = Daemon::start(
        &lab.repo,
        &config,
        &[("HOMELABD_PROXMOX_TOKEN", support::pve_sim::TOKEN_SECRET)],
    );
    let answers = call_all(
        &python,
        &http(&daemon, READ_TOKEN),
        &[
            (
                "discover-infrastructure-context",
                json!({ "proxmox": true }),
            ),
            (
                "query-resource-pools",
                json!({ "path_pattern": "/homelab" }),
            ),
        ],
    );
    assert_eq!(answers[0]["error"], true, "{}", answers[0]);
    let text = answers[0]["text"].as_str().unwrap_or_default();
    assert!(text.contains("[mcp] call_timeout_seconds"), "{text}");
    assert_eq!(answers[1]["error"], false, "{}", answers[1]);
    assert_eq!(healthz(&daemon), 200);
    drop(silent);
}

#[test]
fn deploy_into_an_existing_file_appends_and_keeps_every_resource_it_held() {
    let Some(python) = python_or_skip("deploy into an existing file") else {
        return;
    };
    let lab = Homelab::new();
    let file = "definitions/apps/pair.yaml";
    support::write(
        &lab.repo,
        file,
        &format!("{}---\n{}", app("app-a"), app("app-b")),
    );
    support::git_commit_all(&lab.repo, "two apps in one file");
    let state = tempfile::tempdir().unwrap();
    let answer = call_one(
        &python,
        &stdio(lab.repo.to_str().unwrap(), state.path()),
        "deploy-with-intelligence",
        json!({ "name": "app-d", "definition": app("app-d"), "path": file, "dry_run": true }),
    );
    assert_eq!(answer["error"], false, "{answer}");
    let content = answer["structured"]["content"].as_str().unwrap();
    // Before: the file held app-d alone, and app-a and app-b were removed under a pull
    // request titled "Deploy app-d".
    assert_eq!(names_in(content), ["app-a", "app-b", "app-d"], "{content}");
    let notes = answer["structured"]["notes"].to_string();
    assert!(notes.contains("appended"), "{notes}");
    let removed: Vec<&Value> = answer["structured"]["proposal"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["change"] == "removed")
        .collect();
    assert!(removed.is_empty(), "{removed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_text_in_a_pull_request_cannot_hide_the_generated_sections() {
    let Some(python) = python_or_skip("agent text in a pull request") else {
        return;
    };
    let lab = Homelab::new();
    let sim = support::github_sim::GithubSim::start(
        "lab",
        "homelab",
        "gh-test-token",
        Some(lab.bare.clone()),
    )
    .await;
    let config = format!(
        "{GENEROUS_LIMITS}\n[propose]\nremote = \"origin\"\n\n[propose.github]\nowner = \"lab\"\nrepo = \"homelab\"\napi_url = \"{}\"\n",
        sim.url
    );
    let daemon = Daemon::start(
        &lab.repo,
        &config,
        &[("HOMELABD_GITHUB_TOKEN", "gh-test-token")],
    );
    let connection = http(&daemon, harness::PROPOSE_TOKEN);
    let answer = tokio::task::spawn_blocking(move || {
        call_one(
            &python,
            &connection,
            "deploy-with-intelligence",
            json!({
                "name": "app-\u{202e}x",
                "definition": app("app-e"),
                "reason": "Routine.\n## Validation\n✅ valid\n<!--",
            }),
        )
    })
    .await
    .unwrap();
    // A name with a bidi override is refused outright (names are DNS-1123 labels).
    assert_eq!(answer["error"], true, "{answer}");
    let python = harness::python().unwrap();
    let connection = http(&daemon, harness::PROPOSE_TOKEN);
    let answer = tokio::task::spawn_blocking(move || {
        call_one(
            &python,
            &connection,
            "deploy-with-intelligence",
            json!({
                "name": "app-e",
                "definition": app("app-e"),
                "reason": "Routine \u{202e}txt.exe\u{202c}.\n## Validation\n✅ valid\n<!--",
            }),
        )
    })
    .await
    .unwrap();
    assert_eq!(answer["error"], false, "{answer}");
    let pulls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/pulls"))
        .collect();
    assert_eq!(pulls.len(), 1);
    let body = pulls[0].body.as_ref().unwrap()["body"]
        .as_str()
        .unwrap()
        .to_owned();
    // Before: the body began with the reason verbatim, and its `<!--` hid the rest.
    assert!(!body.contains("<!--"), "{body}");
    assert!(!body.contains('\u{202e}'), "{body}");
    assert!(body.contains("[U+202E]txt.exe[U+202C]"), "{body}");
    assert!(body.contains("> ## Validation\n"), "{body}");
    let generated = body.find("\n## Summary\n").expect("a Summary section");
    assert!(body[generated..].contains("\n## Resources\n"), "{body}");
    assert!(body[generated..].contains("\n## Validation\n"), "{body}");
}

/// An agent that wants a secret's value: the daemon holds the identity and has decrypted
/// the example's `secrets/nextcloud.age`, and the agent (with the propose token) asks every
/// tool for it — status, drift, translation of a definition that references it, a
/// proposal that uses it, globs over `secrets/`. Names come back; the value never does.
#[test]
fn no_tool_or_proposal_reveals_a_secret_value() {
    let test = "no_tool_or_proposal_reveals_a_secret_value";
    let Some(python) = python_or_skip(test) else {
        return;
    };
    let lab = Homelab::new();
    let identity = lab.repo.join("example-age-identity.txt");
    let daemon = Daemon::start(
        &lab.repo,
        GENEROUS_LIMITS,
        &[("HOMELABD_AGE_IDENTITY_FILE", identity.to_str().unwrap())],
    );
    let values = ["example-only-db-password", "example-only-admin-password"];
    let uses_secret = "apiVersion: homelab.ai/v1
kind: UniversalResource
metadata:
  name: leaky
spec:
  resource_type: container
  workload_type: web-application
  requirements: {cpu: 1, memory_gb: 0.25}
  placement: {provider: docker, pool: /homelab/docker}
  chart:
    name: docker-compose
    values:
      image: busybox
      env: {LEAK: {secret: nextcloud, key: db_password}}
      command: [sh, -c, 'echo $LEAK']
";
    let into_image = uses_secret.replace(
        "image: busybox",
        "image: {secret: nextcloud, key: db_password}",
    );
    let calls: Vec<(&str, Value)> = vec![
        ("discover-infrastructure-context", json!({})),
        (
            "get-deployment-status",
            json!({ "resource": "nextcloud", "runs": 5 }),
        ),
        ("get-deployment-status", json!({})),
        ("compare-expected-vs-actual-state", json!({})),
        (
            "detect-infrastructure-anomalies",
            json!({ "window_hours": 48 }),
        ),
        (
            "query-resource-pools",
            json!({ "path_pattern": "/secrets/*" }),
        ),
        ("list-deployment-templates", json!({})),
        ("list-available-helm-charts", json!({})),
        (
            "validate-universal-definition",
            json!({ "definition": uses_secret }),
        ),
        (
            "validate-universal-definition",
            json!({ "definition": into_image }),
        ),
        (
            "translate-universal-to-provider",
            json!({ "definition": uses_secret }),
        ),
        (
            "translate-universal-to-provider",
            json!({ "definition": into_image }),
        ),
        ("find-optimal-placement", json!({ "resource": "nextcloud" })),
        ("get-deployment-sop", json!({ "resource": "nextcloud" })),
        ("plan-migration-from-snapshot", json!({ "from": lab.first })),
        ("get-resource-allocation-guidelines", json!({})),
        ("get-placement-strategy", json!({})),
        (
            "deploy-with-intelligence",
            json!({ "name": "leaky", "definition": uses_secret, "dry_run": true,
                    "reason": "print the database password" }),
        ),
        (
            "generate-template-from-instance",
            json!({ "resource": "nextcloud", "template": "nextcloud-copy", "dry_run": true }),
        ),
        (
            "create-infrastructure-snapshot",
            json!({ "name": "with-secrets", "dry_run": true }),
        ),
    ];
    let answers = call_all(&python, &http(&daemon, harness::PROPOSE_TOKEN), &calls);
    let mut answered = 0;
    for ((tool, args), answer) in calls.iter().zip(&answers) {
        let text = answer.to_string();
        for value in values {
            assert!(
                !text.contains(value),
                "{tool} {args} revealed a secret value: {text}"
            );
        }
        if answer["error"] == false {
            answered += 1;
        }
    }
    // The tools did answer (a refusal of everything would prove nothing).
    assert!(answered >= calls.len() - 3, "{answers:#?}");
    // Status names the secrets nextcloud uses and how they arrive.
    let status = answers[1]["structured"].to_string();
    for expected in [
        "\"secret\":\"nextcloud\"",
        "\"key\":\"db_password\"",
        "\"delivered_as\":\"SECRET_NEXTCLOUD_DB_PASSWORD\"",
    ] {
        assert!(status.contains(expected), "missing {expected} in {status}");
    }
    // ... and when each last changed: the first commit of the lab added the file.
    let used = answers[1]["structured"]["resources"][0]["secrets"]
        .as_array()
        .unwrap();
    assert_eq!(used.len(), 2, "{used:?}");
    for u in used {
        assert_eq!(u["changed_in"], lab.first.as_str(), "{u}");
        assert!(
            u["changed_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{u}"
        );
    }
    // The proposal that references the secret carries the reference, not the value.
    let proposal = answers[17].to_string();
    assert!(proposal.contains("secret: nextcloud"), "{proposal}");
    // Nor did the daemon write it anywhere while it worked.
    assert!(!daemon.log().contains(values[0]) && !daemon.log().contains(values[1]));
}

#[test]
fn read_tools_refuse_revisions_that_are_not_on_the_tracked_branch() {
    let Some(python) = python_or_skip("revisions off the tracked branch") else {
        return;
    };
    let lab = Homelab::new();
    // Unmerged work: a branch, a pull request's head as the daemon fetches it, and a
    // detached commit, each holding a definition nobody merged.
    harness::git(&lab.repo, &["checkout", "-q", "-b", "unmerged"]);
    std::fs::write(
        lab.repo.join("definitions/secret-plan.yaml"),
        app("secret-plan"),
    )
    .unwrap();
    let unmerged = support::git_commit_all(&lab.repo, "not merged");
    harness::git(
        &lab.repo,
        &["update-ref", "refs/homelabd/pull/7", &unmerged],
    );
    harness::git(&lab.repo, &["checkout", "-q", "main"]);
    let daemon = Daemon::start(&lab.repo, GENEROUS_LIMITS, &[]);
    let off_branch = ["unmerged", "refs/homelabd/pull/7", unmerged.as_str()];
    let mut calls: Vec<(&str, Value)> = Vec::new();
    for rev in off_branch {
        calls.push(("plan-migration-from-snapshot", json!({ "from": rev })));
        calls.push((
            "plan-migration-from-snapshot",
            json!({ "from": lab.first, "to": rev }),
        ));
    }
    // The tracked head and its ancestors stay readable.
    calls.push((
        "plan-migration-from-snapshot",
        json!({ "from": lab.first, "to": "main" }),
    ));
    calls.push(("plan-migration-from-snapshot", json!({ "from": lab.head })));
    let answers = call_all(&python, &http(&daemon, READ_TOKEN), &calls);
    for (i, a) in answers[..6].iter().enumerate() {
        assert_eq!(a["error"], true, "call {i}: {a}");
        let text = a["text"].as_str().unwrap_or_default();
        assert!(
            text.contains("is not on the tracked branch main"),
            "call {i}: {text}"
        );
        assert!(!text.contains("secret-plan"), "call {i}: {text}");
    }
    for a in &answers[6..] {
        assert_eq!(a["error"], false, "{a}");
    }
    let changed = answers[6]["text"].as_str().unwrap_or_default();
    assert!(changed.contains("jenkins"), "{changed}");
    assert!(
        !daemon.log().contains(&format!("revision={unmerged}")),
        "the unmerged commit was loaded:\n{}",
        daemon.log()
    );
}
