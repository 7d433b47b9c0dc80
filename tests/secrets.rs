//! Secrets end to end: files written by `homelabd secret` and by Debian's `age` CLI read
//! each other both ways; `validate` checks references and keys; a real Docker container
//! gets the value in its environment while the state directory, the database, the log
//! and every command's output hold no trace of it; a rotated value recreates exactly the
//! containers that use it.

mod support;

use homelabd::store::RunState;
use homelabd::store::{ApplyRunRecord, AuditRecord, ResourceRecord, Store};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::daemon::{DaemonCommand, wait_for_store};
use support::docker::{RemoveContainers, docker_ready, project_containers, unique_suffix};
use support::{example_basics, git_commit_all, write};

/// Debian's `age` and `age-keygen` (installed by tests/support/install-age.sh when
/// missing); false after a loud skip (a failure in strict mode) when they cannot be had.
fn age_ready(test: &str) -> bool {
    // One install at a time: the tests of this file start together.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let _ = Command::new("bash")
        .arg(support::root().join("tests/support/install-age.sh"))
        .status();
    let found = ["age", "age-keygen"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        support::skip(test, "Debian's age / age-keygen are not installed");
    }
    found
}

/// A new age identity from `age-keygen`: (identity file, public key).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let public = Command::new("age-keygen")
        .arg("-y")
        .arg(&path)
        .output()
        .unwrap();
    (path, support::stdout(&public).trim().to_owned())
}

/// Runs `homelabd ARGS` with the identity (or none) and `stdin`.
fn homelabd(identity: Option<&Path>, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_homelabd"));
    cmd.args(args)
        .env_remove("HOMELABD_AGE_IDENTITY_FILE")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(id) = identity {
        cmd.env("HOMELABD_AGE_IDENTITY_FILE", id);
    }
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// `age ARGS`, returning stdout; panics with stderr on failure.
fn age(args: &[&str], dir: &Path) -> String {
    let out = Command::new("age")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age {args:?}: {}",
        support::stderr(&out)
    );
    support::stdout(&out)
}

fn both(o: &Output) -> String {
    format!("{}{}", support::stdout(o), support::stderr(o))
}

#[test]
fn secret_files_interoperate_with_the_age_cli_both_ways() {
    let test = "secret_files_interoperate_with_the_age_cli_both_ways";
    if !age_ready(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = root.to_str().unwrap();
    let (key, public) = keygen(root, "key.txt");
    write(
        root,
        "secrets/.recipients",
        &format!("# the test key\n{public}\n"),
    );

    // homelabd writes, age reads. A new file needs no identity.
    let out = homelabd(
        None,
        &["secret", "set", "nextcloud", "db_password", "--repo", repo],
        Some("Pa55-one\n"),
    );
    assert!(out.status.success(), "{}", both(&out));
    assert!(!both(&out).contains("Pa55-one"));
    let plain = age(
        &["-d", "-i", key.to_str().unwrap(), "secrets/nextcloud.age"],
        root,
    );
    assert_eq!(plain.trim(), "db_password: Pa55-one");

    // Adding a key keeps the others, which needs the identity.
    let refused = homelabd(
        None,
        &["secret", "set", "nextcloud", "user", "--repo", repo],
        Some("nc"),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", both(&refused));
    assert!(
        both(&refused).contains("needs the identity"),
        "{}",
        both(&refused)
    );
    let out = homelabd(
        Some(&key),
        &["secret", "set", "nextcloud", "user", "--repo", repo],
        Some("nc"),
    );
    assert!(out.status.success(), "{}", both(&out));
    let plain = age(
        &["-d", "-i", key.to_str().unwrap(), "secrets/nextcloud.age"],
        root,
    );
    assert!(
        plain.contains("db_password: Pa55-one") && plain.contains("user: nc"),
        "{plain}"
    );

    // age writes (binary and armored), homelabd reads: keys listed, values never.
    write(root, "plain.yaml", "api_token: tok-9876\n");
    std::fs::create_dir_all(root.join("secrets/apps")).unwrap();
    age(
        &[
            "-R",
            "secrets/.recipients",
            "-o",
            "secrets/kuma.age",
            "plain.yaml",
        ],
        root,
    );
    age(
        &[
            "-a",
            "-R",
            "secrets/.recipients",
            "-o",
            "secrets/apps/grafana.age",
            "plain.yaml",
        ],
        root,
    );
    let list = homelabd(Some(&key), &["secret", "list", "--repo", repo], None);
    assert!(list.status.success(), "{}", both(&list));
    let text = support::stdout(&list);
    assert!(text.contains("apps/grafana: api_token"), "{text}");
    assert!(text.contains("kuma: api_token"), "{text}");
    assert!(text.contains("nextcloud: db_password user"), "{text}");
    assert!(!both(&list).contains("tok-9876") && !both(&list).contains("Pa55-one"));
    let nameless = homelabd(None, &["secret", "list", "--repo", repo], None);
    assert!(support::stdout(&nameless).contains("kuma: (keys need the identity)"));

    // A file encrypted to someone else is named, and the others still list.
    let (_, stranger) = keygen(root, "stranger.txt");
    age(
        &["-r", &stranger, "-o", "secrets/foreign.age", "plain.yaml"],
        root,
    );
    let list = homelabd(Some(&key), &["secret", "list", "--repo", repo], None);
    assert_eq!(list.status.code(), Some(1));
    let text = support::stdout(&list);
    assert!(text.contains("foreign: error: secret foreign: secrets/foreign.age is not encrypted to this daemon's identity"), "{text}");
    assert!(text.contains("kuma: api_token"), "{text}");
    std::fs::remove_file(root.join("secrets/foreign.age")).unwrap();

    // rekey after adding a recipient: the new key's owner can decrypt every file.
    let (second, second_public) = keygen(root, "second.txt");
    write(
        root,
        "secrets/.recipients",
        &format!("{public}\n{second_public}\n"),
    );
    let out = homelabd(Some(&key), &["secret", "rekey", "--repo", repo], None);
    assert!(out.status.success(), "{}", both(&out));
    for file in [
        "secrets/nextcloud.age",
        "secrets/kuma.age",
        "secrets/apps/grafana.age",
    ] {
        age(&["-d", "-i", second.to_str().unwrap(), file], root);
    }
    let armored = std::fs::read_to_string(root.join("secrets/apps/grafana.age")).unwrap();
    assert!(
        armored.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "armor is kept"
    );
}

/// A docker definition whose env has `TZ` and, if given, `DB_PASSWORD` from `secret`.
fn definition(name: &str, secret: Option<(&str, &str)>) -> String {
    let env = match secret {
        Some((s, k)) => format!("{{TZ: UTC, DB_PASSWORD: {{secret: {s}, key: {k}}}}}"),
        None => "{TZ: UTC}".to_owned(),
    };
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  \
         resource_type: container\n  workload_type: web-application\n  \
         requirements: {{cpu: 1, memory_gb: 0.25}}\n  \
         placement: {{provider: docker, pool: /homelab/docker}}\n  \
         chart:\n    name: docker-compose\n    values:\n      image: \"{}\"\n      \
         env: {env}\n  policy: {{apply: auto, prune: true}}\n",
        support::docker::TEST_IMAGE
    )
}

#[test]
fn validate_checks_references_files_and_keys() {
    let test = "validate_checks_references_files_and_keys";
    if !age_ready(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let repo = root.to_str().unwrap();
    example_basics(root);
    let (key, public) = keygen(root, "key.txt");
    write(root, "secrets/.recipients", &format!("{public}\n"));
    let out = homelabd(
        None,
        &["secret", "set", "app", "db_password", "--repo", repo],
        Some("v4lue-XYZ"),
    );
    assert!(out.status.success(), "{}", both(&out));
    write(
        root,
        "definitions/good.yaml",
        &definition("good", Some(("app", "db_password"))),
    );

    let ok = homelabd(Some(&key), &["validate", repo], None);
    assert_eq!(ok.status.code(), Some(0), "{}", both(&ok));
    let unchecked = homelabd(None, &["validate", repo], None);
    assert_eq!(unchecked.status.code(), Some(0), "{}", both(&unchecked));
    assert!(both(&unchecked).contains("secret keys were not checked: no age identity"));

    // Rendered files carry the reference, never the value.
    let out_dir = root.join("out");
    let render = homelabd(
        Some(&key),
        &["render", repo, "--out", out_dir.to_str().unwrap()],
        None,
    );
    assert!(render.status.success(), "{}", both(&render));
    let compose = std::fs::read_to_string(out_dir.join("docker/good/compose.yaml")).unwrap();
    assert!(compose.contains("\"DB_PASSWORD\": null"), "{compose}");
    let bindings =
        std::fs::read_to_string(out_dir.join("docker/good/homelabd.secrets.json")).unwrap();
    assert!(bindings.contains("\"env\": \"DB_PASSWORD\""), "{bindings}");
    assert_no_trace(&out_dir, &["v4lue-XYZ"]);

    write(
        root,
        "definitions/nokey.yaml",
        &definition("nokey", Some(("app", "nope"))),
    );
    write(
        root,
        "definitions/nofile.yaml",
        &definition("nofile", Some(("missing", "x"))),
    );
    write(
        root,
        "definitions/badref.yaml",
        &definition("badref", None).replace("TZ: UTC", "TZ: {secret: ../etc, key: x}"),
    );
    write(
        root,
        "definitions/undelivered.yaml",
        &definition("undelivered", None).replace(
            &format!("image: \"{}\"", support::docker::TEST_IMAGE),
            "image: {secret: app, key: db_password}",
        ),
    );
    let bad = homelabd(Some(&key), &["validate", repo], None);
    assert_eq!(bad.status.code(), Some(1), "{}", both(&bad));
    let text = both(&bad);
    for expected in [
        "definitions/nokey.yaml",
        "secret app has no key \"nope\" (keys: db_password)",
        "definitions/nofile.yaml",
        "secret missing does not exist",
        "definitions/badref.yaml",
        "must be a path under secrets/",
        "definitions/undelivered.yaml",
        "secret reference app/db_password at values/image is not delivered by this chart",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        text.contains("0 invalid") || text.contains("invalid"),
        "{text}"
    );
    assert!(!text.contains("v4lue-XYZ"));
}

/// Fails if any file under `dir` (recursively, binary ones too) contains any of `values`.
fn assert_no_trace(dir: &Path, values: &[&str]) {
    let mut pending = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                files += 1;
                let bytes = std::fs::read(&path).unwrap_or_default();
                for v in values {
                    assert!(
                        !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
                        "{} holds a secret value in clear",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(files > 0, "nothing scanned under {}", dir.display());
}

/// Fails if `text` (a command's output) contains any of `values`.
fn assert_not_in(what: &str, text: &str, values: &[&str]) {
    for v in values {
        assert!(!text.contains(v), "{what} shows a secret value:\n{text}");
    }
}

#[derive(Debug)]
struct Seen {
    resources: Vec<ResourceRecord>,
    runs: Vec<ApplyRunRecord>,
    audit: Vec<AuditRecord>,
}

impl Seen {
    fn state(&self, name: &str) -> Option<(&str, &str)> {
        self.resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| (r.state.as_str(), r.reason.as_deref().unwrap_or("")))
    }
    fn succeeded(&self, name: &str) -> usize {
        self.runs
            .iter()
            .filter(|r| r.resource == name && r.state == RunState::Succeeded)
            .count()
    }
}

async fn seen(store: &Store) -> Option<Seen> {
    Some(Seen {
        resources: store.resources().await.ok()?,
        runs: store.apply_runs(None, 1000).await.ok()?,
        audit: store.audit_log(1000).await.ok()?,
    })
}

/// `docker inspect` of a project's containers: (id, env).
fn containers(resource: &str) -> Vec<(String, Vec<String>)> {
    let ids = project_containers(resource);
    if ids.is_empty() {
        return Vec::new();
    }
    let out = Command::new("docker")
        .arg("inspect")
        .args(&ids)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let env = c["Config"]["Env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            (c["Id"].as_str().unwrap_or("").to_owned(), env)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_gets_its_secret_at_apply_time_and_nothing_else_keeps_it() {
    let test = "a_container_gets_its_secret_at_apply_time_and_nothing_else_keeps_it";
    if !age_ready(test) || !docker_ready(test) {
        return;
    }
    let id = unique_suffix();
    let app = format!("sec-app-{id}");
    let plain = format!("sec-plain-{id}");
    let broken = format!("sec-broken-{id}");
    let _cleanup = [
        RemoveContainers(app.clone()),
        RemoveContainers(plain.clone()),
        RemoveContainers(broken.clone()),
    ];
    let first = format!("first-Secr3t-{id}");
    let second = format!("second-Secr3t-{id}");
    let values = [first.as_str(), second.as_str()];

    let repo_dir = tempfile::tempdir().unwrap();
    let repo = repo_dir.path();
    let repo_s = repo.to_str().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = keygen(keys.path(), "key.txt");
    example_basics(repo);
    write(repo, "secrets/.recipients", &format!("{public}\n"));
    let out = homelabd(
        None,
        &["secret", "set", "app", "db_password", "--repo", repo_s],
        Some(&first),
    );
    assert!(out.status.success(), "{}", both(&out));
    write(
        repo,
        &format!("definitions/{app}.yaml"),
        &definition(&app, Some(("app", "db_password"))),
    );
    write(
        repo,
        &format!("definitions/{plain}.yaml"),
        &definition(&plain, None),
    );
    write(
        repo,
        &format!("definitions/{broken}.yaml"),
        &definition(&broken, Some(("app", "missing_key"))),
    );
    git_commit_all(repo, "homelab with a secret");

    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let url = format!("sqlite://{}", state_dir.join("homelabd.db").display());
    let daemon = DaemonCommand::new(&state_dir)
        .repo(repo)
        .config("[source]\npoll_interval_seconds = 1\n[reconcile]\nbackoff_base_seconds = 1\nbackoff_max_seconds = 2\n")
        .env("HOMELABD_AGE_IDENTITY_FILE", &key)
        .spawn();

    // Applied with the value; the resource with a missing key waits and says why, and
    // the one without secrets is applied as usual.
    let s = wait_for_store(
        &url,
        &daemon,
        120,
        "app and plain applied, broken waiting",
        seen,
        |s| {
            s.state(&app).is_some_and(|(st, _)| st == "applied")
                && s.state(&plain).is_some_and(|(st, _)| st == "applied")
                && s.state(&broken)
                    .is_some_and(|(_, why)| why.contains("has no key"))
        },
    )
    .await;
    let (_, why) = s.state(&broken).unwrap();
    assert!(
        why.contains("secret app has no key \"missing_key\""),
        "{why}"
    );
    assert!(
        project_containers(&broken).is_empty(),
        "never started without its secret"
    );
    let c = containers(&app);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].1.contains(&format!("DB_PASSWORD={first}")),
        "{:?}",
        c[0].1
    );
    let first_container = c[0].0.clone();

    // Rotation: a new value re-applies exactly the resource that uses it.
    let out = homelabd(
        Some(&key),
        &["secret", "set", "app", "db_password", "--repo", repo_s],
        Some(&second),
    );
    assert!(out.status.success(), "{}", both(&out));
    git_commit_all(repo, "rotate the app password");
    let s = wait_for_store(
        &url,
        &daemon,
        120,
        "app re-applied with the new value",
        seen,
        |s| s.succeeded(&app) >= 2,
    )
    .await;
    assert_eq!(
        s.succeeded(&plain),
        1,
        "a resource without the secret is left alone"
    );
    let why: Vec<String> = s
        .audit
        .iter()
        .filter(|a| a.action == "apply.started" && a.subject == app)
        .map(|a| a.details.to_string())
        .collect();
    assert!(
        why.iter()
            .any(|w| w.contains("secret app/db_password changed")),
        "{why:?}"
    );
    let c = containers(&app);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_ne!(c[0].0, first_container, "the container was recreated");
    assert!(
        c[0].1.contains(&format!("DB_PASSWORD={second}")),
        "{:?}",
        c[0].1
    );

    // No trace anywhere: state directory (rendered configs, work dirs, database, WAL),
    // the log, and every command's output.
    let state_s = state_dir.to_str().unwrap();
    let mut outputs = vec![
        (
            "status",
            homelabd(None, &["status", "--state-dir", state_s], None),
        ),
        (
            "status json",
            homelabd(
                None,
                &["status", "--state-dir", state_s, "--output", "json"],
                None,
            ),
        ),
        (
            "drift",
            homelabd(None, &["drift", "--all", "--state-dir", state_s], None),
        ),
        ("plan", homelabd(Some(&key), &["plan", repo_s], None)),
        (
            "validate",
            homelabd(Some(&key), &["validate", repo_s, "--output", "json"], None),
        ),
        (
            "secret list",
            homelabd(Some(&key), &["secret", "list", "--repo", repo_s], None),
        ),
    ];
    outputs.push((
        "preview",
        homelabd(
            Some(&key),
            &["preview", repo_s, "--base", "HEAD~1", "--head", "HEAD"],
            None,
        ),
    ));
    for (what, out) in &outputs {
        assert_not_in(what, &both(out), &values);
    }
    drop(daemon);
    assert_not_in(
        "daemon log",
        &std::fs::read_to_string(state_dir.join("daemon.log")).unwrap_or_default(),
        &values,
    );
    assert_no_trace(&state_dir, &values);
}

/// The example homelab's secret, as a user first meets it: checked with the example key
/// given in `[secrets] identity_file` of a config file, rendered as references only (a
/// sensitive-free playbook lookup for the Proxmox VM, a bare variable for the
/// container), listed by name and key, and a password written in clear refused.
#[test]
fn the_example_secret_is_checked_rendered_as_references_and_listed() {
    let test = "the_example_secret_is_checked_rendered_as_references_and_listed";
    if !age_ready(test) {
        return;
    }
    let example = support::example_repo();
    let values = ["example-only-db-password", "example-only-admin-password"];
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("homelabd.toml");
    let identity = example.join("example-age-identity.txt");
    std::fs::write(
        &config,
        format!(
            "[secrets]\nidentity_file = {:?}\n",
            identity.display().to_string()
        ),
    )
    .unwrap();
    let repo = example.to_str().unwrap();
    let config_arg = config.to_str().unwrap();

    let checked = homelabd(None, &["validate", repo, "--config", config_arg], None);
    assert_eq!(checked.status.code(), Some(0), "{}", both(&checked));
    assert!(!both(&checked).contains("secret keys were not checked"));
    let unchecked = homelabd(None, &["validate", repo], None);
    assert!(both(&unchecked).contains("secret keys were not checked: no age identity"));

    let out = dir.path().join("out");
    let render = homelabd(
        Some(&identity),
        &["render", repo, "--out", out.to_str().unwrap()],
        None,
    );
    assert!(render.status.success(), "{}", both(&render));
    let bindings = |rel: &str| -> Vec<(String, String)> {
        let text = std::fs::read_to_string(out.join(rel).join("homelabd.secrets.json")).unwrap();
        let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        list.iter()
            .map(|b| {
                (
                    b["env"].as_str().unwrap().to_owned(),
                    format!(
                        "{}/{}",
                        b["secret"].as_str().unwrap(),
                        b["key"].as_str().unwrap()
                    ),
                )
            })
            .collect()
    };
    assert_eq!(
        bindings("proxmox/nextcloud"),
        [
            (
                "SECRET_NEXTCLOUD_ADMIN_PASSWORD".into(),
                "nextcloud/admin_password".into()
            ),
            (
                "SECRET_NEXTCLOUD_DB_PASSWORD".into(),
                "nextcloud/db_password".into()
            ),
        ]
    );
    assert_eq!(
        bindings("docker/uptime-kuma"),
        [(
            "NEXTCLOUD_MONITOR_PASSWORD".into(),
            "nextcloud/admin_password".into()
        )]
    );
    let playbook =
        std::fs::read_to_string(out.join("proxmox/nextcloud/ansible/playbook.yml")).unwrap();
    assert!(
        playbook.contains(
            r#""nextcloud_db_password": "{{ lookup('ansible.builtin.env', 'SECRET_NEXTCLOUD_DB_PASSWORD') }}""#
        ),
        "{playbook}"
    );
    let compose = std::fs::read_to_string(out.join("docker/uptime-kuma/compose.yaml")).unwrap();
    assert!(
        compose.contains("\"NEXTCLOUD_MONITOR_PASSWORD\": null"),
        "{compose}"
    );
    assert_no_trace(&out, &values);

    let listed = homelabd(Some(&identity), &["secret", "list", "--repo", repo], None);
    assert!(listed.status.success(), "{}", both(&listed));
    let text = both(&listed);
    assert!(
        text.contains("nextcloud")
            && text.contains("admin_password")
            && text.contains("db_password"),
        "{text}"
    );
    assert_not_in("secret list", &text, &values);

    // A VM password can only be a reference: in clear it would be in git and the render.
    let copy = tempfile::tempdir().unwrap();
    support::copy_tree(&example, copy.path());
    let nextcloud = copy.path().join("definitions/apps/nextcloud.yaml");
    let text = std::fs::read_to_string(&nextcloud).unwrap();
    std::fs::write(
        &nextcloud,
        text.replace(
            "      ansible_vars:\n",
            "      user_password: hunter2\n      ansible_vars:\n",
        ),
    )
    .unwrap();
    let refused = homelabd(
        Some(&identity),
        &["validate", copy.path().to_str().unwrap()],
        None,
    );
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    assert!(
        both(&refused).contains("user_password must be a secret reference"),
        "{}",
        both(&refused)
    );
    // As a reference it becomes a sensitive Terraform variable, delivered as TF_VAR_*.
    std::fs::write(
        &nextcloud,
        text.replace(
            "      ansible_vars:\n",
            "      user_password: {secret: nextcloud, key: admin_password}\n      ansible_vars:\n",
        ),
    )
    .unwrap();
    let out2 = copy.path().join("out");
    let render = homelabd(
        Some(&identity),
        &[
            "render",
            copy.path().to_str().unwrap(),
            "--out",
            out2.to_str().unwrap(),
        ],
        None,
    );
    assert!(render.status.success(), "{}", both(&render));
    let main_tf = std::fs::read_to_string(out2.join("proxmox/nextcloud/main.tf")).unwrap();
    assert!(
        main_tf.contains("variable \"user_password\" {\n  type      = string\n  sensitive = true"),
        "{main_tf}"
    );
    assert!(
        main_tf.contains("user_password       = var.user_password"),
        "{main_tf}"
    );
    assert!(bindings_in(&out2, "proxmox/nextcloud").contains("TF_VAR_user_password"));
    assert_no_trace(&out2, &values);
}

fn bindings_in(out: &Path, rel: &str) -> String {
    std::fs::read_to_string(out.join(rel).join("homelabd.secrets.json")).unwrap()
}

/// Rotating a secret in a pull request: the preview names the secret (the key, when it can
/// decrypt) and the resources that will be applied again, and shows no value (old or new)
/// in any format.
#[test]
fn a_preview_of_a_rotation_names_the_secret_and_its_users_only() {
    let test = "a_preview_of_a_rotation_names_the_secret_and_its_users_only";
    if !age_ready(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    support::copy_tree(&support::example_repo(), repo);
    let identity = repo.join("example-age-identity.txt");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", both(&out));
    };
    git(&["init", "-q", "-b", "main"]);
    git_commit_all(repo, "the example homelab");
    git(&["checkout", "-q", "-b", "rotate"]);
    let rotated = "rotated-0nly-in-the-pr";
    let set = homelabd(
        Some(&identity),
        &[
            "secret",
            "set",
            "nextcloud",
            "admin_password",
            "--repo",
            repo.to_str().unwrap(),
        ],
        Some(rotated),
    );
    assert!(set.status.success(), "{}", both(&set));
    git_commit_all(repo, "rotate the nextcloud admin password");

    // With the identity the preview names the key; without it, the file.
    let expected = [
        (
            Some(identity.as_path()),
            "Secret nextcloud/admin_password changed",
        ),
        (None, "Secret nextcloud changed"),
    ];
    for (output, (id, said)) in ["text", "markdown", "json"]
        .into_iter()
        .flat_map(|o| expected.iter().map(move |e| (o, e)))
    {
        let preview = homelabd(
            *id,
            &[
                "preview",
                "--base",
                "main",
                "--head",
                "rotate",
                "--output",
                output,
                repo.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(preview.status.code(), Some(0), "{}", both(&preview));
        let text = both(&preview);
        assert!(
            text.contains(&format!(
                "{said} (secrets/nextcloud.age): nextcloud, uptime-kuma will be applied again \
                 with the new value"
            )),
            "{output}: {text}"
        );
        assert_not_in(output, &text, &[rotated, "example-only-admin-password"]);
    }
}

/// A Kubernetes workload's secret: the container refers to the Secret `<name>-secrets` that
/// homelabd applies on kubectl's stdin; the rendered ConfigMap and manifests name it only.
#[test]
fn a_kubernetes_secret_is_a_secret_key_ref_and_never_rendered() {
    let test = "a_kubernetes_secret_is_a_secret_key_ref_and_never_rendered";
    if !age_ready(test) {
        return;
    }
    let copy = tempfile::tempdir().unwrap();
    support::copy_tree(&support::example_repo(), copy.path());
    let web = copy.path().join("definitions/apps/ha-web-app.yaml");
    let text = std::fs::read_to_string(&web).unwrap();
    assert!(text.contains("        LOG_LEVEL: info\n"));
    std::fs::write(
        &web,
        text.replace(
            "        LOG_LEVEL: info\n",
            "        LOG_LEVEL: info\n        API_TOKEN: {secret: nextcloud, key: admin_password}\n",
        ),
    )
    .unwrap();
    let identity = copy.path().join("example-age-identity.txt");
    let out = copy.path().join("out");
    let render = homelabd(
        Some(&identity),
        &[
            "render",
            copy.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(render.status.success(), "{}", both(&render));
    let dir = out.join("kubernetes/ha-web-app");
    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    assert!(
        deployment.contains(
            "            - name: \"API_TOKEN\"\n              valueFrom:\n                \
             secretKeyRef:\n                  name: \"ha-web-app-secrets\"\n                  \
             key: \"API_TOKEN\"\n"
        ),
        "{deployment}"
    );
    let configmap = std::fs::read_to_string(dir.join("configmap.yaml")).unwrap();
    assert!(configmap.contains("\"LOG_LEVEL\": \"info\"") && !configmap.contains("API_TOKEN"));
    let bindings = bindings_in(&out, "kubernetes/ha-web-app");
    assert!(bindings.contains("\"env\": \"API_TOKEN\""), "{bindings}");
    assert_no_trace(&out, &["example-only-admin-password"]);
}

/// An Azure VM's admin password: a securestring parameter of the ARM template, passed on
/// az's stdin at deploy time; the template names the parameter only.
#[test]
fn an_azure_admin_password_is_a_securestring_parameter() {
    let test = "an_azure_admin_password_is_a_securestring_parameter";
    if !age_ready(test) {
        return;
    }
    let copy = tempfile::tempdir().unwrap();
    support::copy_tree(&support::example_repo(), copy.path());
    let runner = copy.path().join("definitions/ci/azure-runner.yaml");
    let text = std::fs::read_to_string(&runner).unwrap();
    let with = |password: &str| {
        text.replace(
            "    name: azure-vm\n    values:\n",
            &format!("    name: azure-vm\n    values:\n      admin_password: {password}\n"),
        )
    };
    assert_ne!(with("x"), text, "azure-runner.yaml has no chart values");
    let identity = copy.path().join("example-age-identity.txt");
    let repo = copy.path().to_str().unwrap();

    std::fs::write(&runner, with("hunter2")).unwrap();
    let refused = homelabd(Some(&identity), &["validate", repo], None);
    assert_eq!(refused.status.code(), Some(1), "{}", both(&refused));
    assert!(both(&refused).contains("admin_password must be a secret reference"));

    std::fs::write(&runner, with("{secret: nextcloud, key: admin_password}")).unwrap();
    let out = copy.path().join("out");
    let render = homelabd(
        Some(&identity),
        &["render", repo, "--out", out.to_str().unwrap()],
        None,
    );
    assert!(render.status.success(), "{}", both(&render));
    let template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("azure/azure-runner/azuredeploy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        template["parameters"]["adminPassword"]["type"],
        "securestring"
    );
    assert!(
        template["parameters"]["adminPassword"]
            .get("defaultValue")
            .is_none()
    );
    let vm = template["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Microsoft.Compute/virtualMachines")
        .unwrap();
    let os = &vm["properties"]["osProfile"];
    assert_eq!(os["adminPassword"], "[parameters('adminPassword')]");
    assert_eq!(
        os["linuxConfiguration"]["disablePasswordAuthentication"],
        false
    );
    let bindings = bindings_in(&out, "azure/azure-runner");
    assert!(
        bindings.contains("\"env\": \"ARM_PARAMETER_adminPassword\""),
        "{bindings}"
    );
    assert_no_trace(&out, &["example-only-admin-password"]);
}
