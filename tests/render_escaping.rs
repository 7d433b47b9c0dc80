//! Values are data in every output language. Each built-in chart is rendered with the
//! expression syntax of every target language (Jinja `{{ }}` `{% %}` `{# #}`, `${}`,
//! `$VAR`, `%{}`, `$(VAR)`, `$(cmd)`, backticks, `${AWS::Region}`, ARM `[...]`) injected
//! into the user-controlled strings it writes, and the result must stay literal: proven
//! with the real tool where it runs here (ansible-playbook against localhost, docker
//! compose config, terraform console), otherwise by reading the output the way the tool
//! does (ARM expressions, CloudFormation intrinsic functions, Kubernetes `$(VAR)`).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// In every string that a tool would expand: set in the tools' environment, so an
/// expansion shows up as this text.
const PROBE_VALUE: &str = "leaked-probe-value";

/// One string with every language's expression syntax. `marker` is a file that any
/// evaluation (Ansible's `pipe` lookup, a shell's `$(...)` or backticks) would create.
fn hostile(marker: &Path) -> String {
    let m = marker.display();
    format!(
        "{{{{ lookup('pipe', 'touch {m}') }}}} {{% if true %}}stmt{{% endif %}} {{# note #}} \
         ${{HOMELABD_PROBE}} $HOMELABD_PROBE %{{ if true }}tpl%{{ endif }} $(HOMELABD_PROBE) \
         $(touch {m}) `touch {m}` ${{AWS::Region}} [concat('a')]"
    )
}

/// A repository with the example's pools, workload types and templates plus `def`,
/// rendered with `homelabd render`; returns (repo, out dir, exit code, stderr).
fn render(def: &Value) -> (tempfile::TempDir, tempfile::TempDir, Option<i32>, String) {
    let repo = tempfile::tempdir().unwrap();
    support::example_basics(repo.path());
    let name = def["metadata"]["name"].as_str().unwrap();
    support::write(
        repo.path(),
        &format!("definitions/{name}.yaml"),
        &serde_json::to_string_pretty(def).unwrap(),
    );
    let out = tempfile::tempdir().unwrap();
    let o = support::homelabd(&[
        "render",
        repo.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    (repo, out, o.status.code(), support::stderr(&o))
}

/// A definition placed on `provider`/`pool` and rendered with `chart`.
fn definition(name: &str, provider: &str, pool: &str, chart: &str, values: Value) -> Value {
    json!({
        "apiVersion": "homelab.ai/v1",
        "kind": "UniversalResource",
        "metadata": {"name": name},
        "spec": {
            "resource_type": "compute",
            "workload_type": "ci-cd",
            "requirements": {"cpu": 2, "memory_gb": 2, "storage_gb": 20},
            "placement": {"provider": provider, "pool": pool},
            "chart": {"name": chart, "values": values},
        }
    })
}

/// Sets spec.dimensions of `def`.
fn with_dimensions(mut def: Value, dims: Value) -> Value {
    def["spec"]["dimensions"] = dims;
    def
}

/// Every string in `v`, map keys included.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => {
            for (k, i) in map {
                out.push(k.clone());
                strings(i, out);
            }
        }
        _ => {}
    }
}

/// Every string of `v` that mentions `needle` is one of `injected`, character for
/// character, and each of `injected` is there.
fn assert_literal(v: &Value, needle: &str, injected: &[&str], what: &str) {
    let mut all = Vec::new();
    strings(v, &mut all);
    for s in &all {
        assert!(!s.contains(PROBE_VALUE), "{what}: an expansion ran: {s:?}");
        if s.contains(needle) {
            assert!(
                injected.contains(&s.as_str()),
                "{what}: {s:?} is not one of the injected values {injected:#?}"
            );
        }
    }
    for want in injected {
        assert!(
            all.iter().any(|s| s == want),
            "{what}: {want:?} is missing from {v:#}"
        );
    }
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("spawn tool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rendered playbook with its hosts, privilege escalation and tasks swapped for one
/// task that prints the variables (the `vars:` block and the inventory stay as
/// rendered), run against the rendered inventory with connection=local.
fn ansible_probe(ansible: &Path, play_dir: &Path, marker: &Path) -> Value {
    let playbook = std::fs::read_to_string(play_dir.join("playbook.yml")).unwrap();
    let head = playbook
        .split("\n  pre_tasks:")
        .next()
        .unwrap()
        .replace("\n  become: true", "\n  become: false");
    let probe = format!(
        "{head}\n  tasks:\n    - name: Print the variables\n      ansible.builtin.debug:\n        msg:\n{}",
        [
            "motd",
            "nested",
            "looks_like_a_number",
            "ansible_host",
            "ansible_user",
            "homelab_node",
        ]
        .iter()
        .map(|v| format!("          {v}: \"{{{{ {v} }}}}\"\n"))
        .collect::<String>()
    );
    std::fs::write(play_dir.join("probe.yml"), probe).unwrap();
    let home = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = run(Command::new(ansible)
        .args(["-i", "inventory.yml", "-c", "local", "probe.yml"])
        .current_dir(play_dir)
        .env("HOME", home.path())
        .env("ANSIBLE_CONFIG", play_dir.join("ansible.cfg"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("HOMELABD_PROBE", PROBE_VALUE));
    assert!(!marker.exists(), "Ansible ran a lookup from a definition");
    assert!(ok, "ansible-playbook failed:\n{stdout}\n{stderr}");
    // The default callback prints the task result as indented JSON after `=> `.
    let start = stdout
        .find("] => {")
        .unwrap_or_else(|| panic!("no task result in:\n{stdout}"));
    let body = &stdout[start + "] => ".len()..];
    let end = body.find("\n}").expect("end of the result") + 2;
    let result: Value =
        serde_json::from_str(&body[..end]).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    result["msg"].clone()
}

#[test]
fn ansible_never_templates_definition_values_in_the_playbook_or_inventory() {
    let Some(ansible) = support::tool("ansible-playbook") else {
        return support::skip(
            "ansible-playbook against localhost",
            "ansible-core is not installed",
        );
    };
    let scratch = tempfile::tempdir().unwrap();
    for (provider, pool, chart) in [
        ("proxmox", "/homelab/compute/general", "proxmox-compute"),
        ("vmware", "/homelab/vmware", "vmware-vsphere"),
    ] {
        let marker = scratch.path().join(format!("{provider}-ran"));
        let h = hostile(&marker);
        let def = definition(
            "hostile-vm",
            provider,
            pool,
            chart,
            json!({
                "ansible_vars": {
                    "motd": h,
                    "nested": {"list": [h, 29, true, null, "*"], h.clone(): "key"},
                    "looks_like_a_number": "29",
                },
                "ssh_user": h,
                "dns_domain": h,
            }),
        );
        let (_repo, out, code, stderr) = render(&def);
        assert_eq!(code, Some(0), "{stderr}");
        let play_dir = out.path().join(provider).join("hostile-vm/ansible");
        let msg = ansible_probe(&ansible, &play_dir, &marker);
        assert_eq!(msg["motd"], json!(h), "{provider}");
        assert_eq!(
            msg["nested"],
            json!({"list": [h, 29, true, null, "*"], h.clone(): "key"}),
            "{provider}"
        );
        // Still a string: `!unsafe` is not put where Ansible would re-read the type.
        assert_eq!(msg["looks_like_a_number"], json!("29"), "{provider}");
        assert_eq!(msg["ansible_user"], json!(h), "{provider}");
        assert_eq!(
            msg["ansible_host"],
            json!(format!("hostile-vm.{h}")),
            "{provider}"
        );
        assert!(!marker.exists());
    }
}

/// Each `key = <literal>` line of a rendered main.tf as a local, evaluated by
/// `terraform console` in a directory with no providers: the strings Terraform reads.
fn terraform_literals(terraform: &Path, main_tf: &Path) -> Value {
    let text = std::fs::read_to_string(main_tf).unwrap();
    let mut locals = String::from("locals {\n");
    let mut names = Vec::new();
    for line in text.lines() {
        let Some((key, rhs)) = line.split_once(" = ") else {
            continue;
        };
        let rhs = rhs.trim();
        // Single-line literals only (a `for` expression or a block opener is not one).
        let literal = rhs.starts_with(['"', '[', '{'])
            && rhs.ends_with(['"', ']', '}'])
            && !rhs.starts_with("[for")
            && !rhs.starts_with("{ for");
        if !literal || key.trim().contains(' ') || key.trim().is_empty() {
            continue;
        }
        let name = format!("l{}", names.len());
        locals.push_str(&format!("  {name} = {rhs}\n"));
        names.push(name);
    }
    locals.push_str("}\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), &locals).unwrap();
    let cfg = dir.path().join("terraformrc");
    std::fs::write(&cfg, "").unwrap();
    let expr = format!(
        "jsonencode([{}])\n",
        names
            .iter()
            .map(|n| format!("local.{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut child = Command::new(terraform)
        .arg("console")
        .current_dir(dir.path())
        .env("TF_CLI_CONFIG_FILE", &cfg)
        .env("HOMELABD_PROBE", PROBE_VALUE)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(expr.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "terraform console on\n{locals}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The console prints the JSON text as a quoted string.
    let json_text: String = serde_json::from_str(stdout.trim()).unwrap();
    serde_json::from_str(&json_text).unwrap()
}

#[test]
fn terraform_reads_every_hostile_value_as_a_literal_string() {
    let Some(terraform) = support::tool("terraform") else {
        return support::skip("terraform console", "terraform is not installed");
    };
    let scratch = tempfile::tempdir().unwrap();
    let h = hostile(&scratch.path().join("ran"));
    for (provider, pool, chart, extra) in [
        (
            "proxmox",
            "/homelab/compute/general",
            "proxmox-compute",
            json!({"tags": [h], "cpu_type": h, "datastore": h, "bridge": h}),
        ),
        (
            "vmware",
            "/homelab/vmware",
            "vmware-vsphere",
            json!({"datacenter": h, "cluster": h, "datastore": h, "folder": h, "network": h}),
        ),
    ] {
        let mut values = json!({
            "ssh_user": h,
            "ssh_authorized_keys": [h],
            "dns_domain": h,
            "dns_servers": [h],
        });
        values
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let def = with_dimensions(
            definition("hostile-vm", provider, pool, chart, values),
            json!({"owner": h, h.clone(): "key"}),
        );
        let (_repo, out, code, stderr) = render(&def);
        assert_eq!(code, Some(0), "{stderr}");
        let main_tf = out.path().join(provider).join("hostile-vm/main.tf");
        let literals = terraform_literals(&terraform, &main_tf);
        assert_literal(&literals, "HOMELABD_PROBE", &[&h], provider);
    }
}

/// `docker compose config` (or docker-compose): the project as compose reads it.
fn compose_config(dir: &Path) -> Option<Value> {
    let (program, mut args): (PathBuf, Vec<&str>) = if let Some(p) = support::tool("docker-compose")
    {
        (p, vec![])
    } else {
        let docker = support::tool("docker")?;
        let ok = Command::new(&docker)
            .args(["compose", "version"])
            .output()
            .ok()?
            .status
            .success();
        if !ok {
            return None;
        }
        (docker, vec!["compose"])
    };
    args.extend(["-f", "compose.yaml", "config"]);
    let (ok, stdout, stderr) = run(Command::new(program)
        .args(&args)
        .current_dir(dir)
        .env("HOMELABD_PROBE", PROBE_VALUE));
    assert!(ok, "compose config:\n{stdout}\n{stderr}");
    let yaml: serde_yaml::Value = serde_yaml::from_str(&stdout).unwrap();
    Some(serde_json::to_value(yaml).unwrap())
}

/// Compose prints a literal `$` as `$$` again; undo that for comparing.
fn unescape_compose(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("$$", "$")),
        Value::Array(items) => Value::Array(items.iter().map(unescape_compose).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| (k.replace("$$", "$"), unescape_compose(i)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn compose_interpolates_nothing_a_definition_wrote() {
    let scratch = tempfile::tempdir().unwrap();
    let h = hostile(&scratch.path().join("ran"));
    let mount = "/data/$HOMELABD_PROBE";
    let driver = "json-file${HOMELABD_PROBE}";
    let mut def = with_dimensions(
        definition(
            "hostile-app",
            "docker",
            "/homelab/docker",
            "docker-compose",
            json!({
                "image": "busybox:1",
                "command": ["sh", "-c", h],
                "args": [h],
                "env": {"PLAIN": h, "KEY_$HOMELABD_PROBE": "v"},
                "health_check": {"command": [h]},
                "logging": {"driver": driver, "options": {"tag": h}},
                "volumes": [{"name": "data", "mount_path": mount, "size_gb": 1}],
            }),
        ),
        json!({"owner": h}),
    );
    def["spec"]["resource_type"] = json!("container");
    def["spec"]["workload_type"] = json!("web-application");
    let (_repo, out, code, stderr) = render(&def);
    assert_eq!(code, Some(0), "{stderr}");
    let dir = out.path().join("docker/hostile-app");
    let Some(config) = compose_config(&dir) else {
        return support::skip(
            "docker compose config",
            "neither docker-compose nor docker compose",
        );
    };
    let config = unescape_compose(&config);
    assert_literal(
        &config,
        "HOMELABD_PROBE",
        &[&h, "KEY_$HOMELABD_PROBE", mount, driver],
        "compose",
    );
    let service = &config["services"]["hostile-app"];
    assert_eq!(service["entrypoint"], json!(["sh", "-c", h]));
    assert_eq!(service["environment"]["PLAIN"], json!(h));
}

/// Kubernetes' `$(VAR)` expansion of a container's command and args, as documented: `$$`
/// is a literal `$`, `$(NAME)` of a defined variable is its value, anything else stays.
fn kube_expand(s: &str, env: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(close) = inner.find(')')
        {
            let name = &inner[..close];
            match env.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn kubernetes_expands_no_variable_in_a_definitions_command_or_args() {
    let scratch = tempfile::tempdir().unwrap();
    let h = hostile(&scratch.path().join("ran"));
    let mut def = definition(
        "hostile-web",
        "kubernetes",
        "/homelab/kubernetes",
        "kubernetes-workload",
        json!({
            "image": "busybox:1",
            "command": ["sh", "-c", h],
            "args": [h, "$$(HOMELABD_PROBE)"],
            "env": {"HOMELABD_PROBE": PROBE_VALUE, "PLAIN": h},
        }),
    );
    def["spec"]["resource_type"] = json!("container");
    def["spec"]["workload_type"] = json!("web-application");
    let (_repo, out, code, stderr) = render(&def);
    assert_eq!(code, Some(0), "{stderr}");
    let dir = out.path().join("kubernetes/hostile-web");
    let deployment: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("deployment.yaml")).unwrap())
            .unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let env = [("HOMELABD_PROBE", PROBE_VALUE)];
    let seen = |field: &str| -> Vec<String> {
        container[field]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| kube_expand(s.as_str().unwrap(), &env))
            .collect()
    };
    assert_eq!(seen("command"), ["sh", "-c", &h]);
    assert_eq!(seen("args"), [h.as_str(), "$$(HOMELABD_PROBE)"]);
    // The environment comes from a ConfigMap through envFrom, which is never expanded.
    let configmap: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("configmap.yaml")).unwrap())
            .unwrap();
    assert_eq!(configmap["data"]["PLAIN"].as_str(), Some(h.as_str()));
}

/// Every string ARM evaluates: starts with `[`, ends with `]`, and is not `[[` escaped.
fn arm_expressions(v: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    strings(v, &mut all);
    all.into_iter()
        .filter(|s| s.starts_with('[') && s.ends_with(']') && !s.starts_with("[["))
        .collect()
}

#[test]
fn arm_evaluates_only_the_charts_own_expressions() {
    let scratch = tempfile::tempdir().unwrap();
    let h = hostile(&scratch.path().join("ran"));
    let expr = "[concat(subscription().id, 'x')]";
    let def = with_dimensions(
        definition(
            "hostile-arm",
            "azure",
            "/cloud/azure/westeurope",
            "azure-vm",
            json!({
                "vnet": expr,
                "subnet": h,
                "vnet_resource_group": expr,
                "location": expr,
                "admin_username": expr,
                "admin_public_key": expr,
                "os_image": {"publisher": expr, "offer": h, "sku": expr, "version": expr},
                "os_disk_type": expr,
                "vm_sizes": [{"name": expr, "cpu": 64, "memory_gb": 512}],
            }),
        ),
        json!({"owner": expr, "[tag]": h}),
    );
    let (_repo, out, code, stderr) = render(&def);
    assert_eq!(code, Some(0), "{stderr}");
    let rendered: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("azure/hostile-arm/azuredeploy.json")).unwrap(),
    )
    .unwrap();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(
            support::root().join("tests/golden/azure/azure-runner/azuredeploy.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let chart_own = arm_expressions(&golden);
    let extra: Vec<_> = arm_expressions(&rendered)
        .difference(&chart_own)
        .cloned()
        .collect();
    assert!(
        extra.is_empty(),
        "ARM would evaluate user values: {extra:#?}"
    );
    // What ARM reads from the escaped values is the text the user wrote.
    let unescaped = |s: &str| {
        s.strip_prefix('[')
            .filter(|r| r.starts_with('['))
            .unwrap_or(s)
            .to_owned()
    };
    let mut all = Vec::new();
    strings(&rendered, &mut all);
    let read: BTreeSet<String> = all.iter().map(|s| unescaped(s)).collect();
    for want in [expr, h.as_str(), "[tag]"] {
        assert!(read.contains(want), "{want:?} missing from {rendered:#}");
    }
}

/// Every map that is an intrinsic function call (`Ref`, `Fn::...`), as text.
fn cfn_intrinsics(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| cfn_intrinsics(i, out)),
        Value::Object(map) => {
            if map.keys().any(|k| k == "Ref" || k.starts_with("Fn::")) {
                out.insert(v.to_string());
            }
            map.values().for_each(|i| cfn_intrinsics(i, out));
        }
        _ => {}
    }
}

#[test]
fn cloudformation_keeps_substitution_syntax_literal_and_refuses_intrinsic_functions() {
    let scratch = tempfile::tempdir().unwrap();
    let h = hostile(&scratch.path().join("ran"));
    let aws = |values: Value, dims: Value| {
        let mut v = json!({"subnet_id": "subnet-1", "backup": {"create_plan": true}});
        v.as_object_mut()
            .unwrap()
            .extend(values.as_object().unwrap().clone());
        let mut def = with_dimensions(
            definition("hostile-cfn", "aws", "/cloud/aws/eu-west-1", "aws-ec2", v),
            dims,
        );
        def["spec"]["deployment"] = json!({"backup_required": true});
        render(&def)
    };
    // Plain strings with substitution syntax stay strings outside any Fn::Sub.
    let (_repo, out, code, stderr) = aws(
        json!({"key_name": h, "instance_profile": h, "ingress_rules": [{"port": 22, "cidr": "10.0.0.0/8", "description": h}]}),
        json!({"owner": h, "region": "${AWS::Region}"}),
    );
    assert_eq!(code, Some(0), "{stderr}");
    let rendered: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("aws/hostile-cfn/cloudformation.json")).unwrap(),
    )
    .unwrap();
    let mut intrinsics = BTreeSet::new();
    cfn_intrinsics(&rendered, &mut intrinsics);
    assert!(
        intrinsics
            .iter()
            .all(|i| !i.contains("HOMELABD_PROBE") && !i.contains("owner")),
        "{intrinsics:#?}"
    );
    assert_literal(&rendered, "HOMELABD_PROBE", &[&h], "cloudformation");
    let mut all = Vec::new();
    strings(&rendered, &mut all);
    assert!(all.iter().any(|s| s == "${AWS::Region}"));
    // A value that CloudFormation would evaluate is refused, naming the filter; other
    // resources would still render.
    for (values, dims) in [
        (
            json!({"instance_profile": {"Ref": "AWS::AccountId"}}),
            json!({}),
        ),
        (
            json!({"root_device_name": {"Fn::ImportValue": "shared"}}),
            json!({}),
        ),
        (
            json!({"ingress_rules": [{"port": {"Fn::GetAtt": ["A", "B"]}, "cidr": "0.0.0.0/0"}]}),
            json!({}),
        ),
        (
            json!({}),
            json!({"secret": "{{resolve:secretsmanager:db}}"}),
        ),
    ] {
        let (_repo, _out, code, stderr) = aws(values.clone(), dims);
        assert_ne!(code, Some(0), "{values}: {stderr}");
        assert!(stderr.contains("cfn:"), "{values}: {stderr}");
    }
}

#[test]
fn ansible_connection_settings_from_a_definition_are_refused() {
    // `ansible_connection: local` would run the play, with become, on the homelabd host;
    // `ansible_ssh_common_args` could start a command there through ProxyCommand.
    for (key, value) in [
        ("ansible_connection", json!("local")),
        (
            "ansible_ssh_common_args",
            json!("-o ProxyCommand='touch /tmp/homelabd-proxy'"),
        ),
        ("hostvars", json!({})),
    ] {
        let def = definition(
            "hostile-vm",
            "proxmox",
            "/homelab/compute/general",
            "proxmox-compute",
            json!({"ansible_vars": {key: value}}),
        );
        let (_repo, out, code, stderr) = render(&def);
        assert_ne!(code, Some(0), "{key}: {stderr}");
        assert!(stderr.contains(&format!("variable \"{key}\"")), "{stderr}");
        assert!(
            !out.path().join("proxmox/hostile-vm").exists(),
            "{key}: rendered anyway"
        );
    }
    // An address that ssh would parse as an option never reaches the inventory.
    let def = definition(
        "hostile-vm",
        "proxmox",
        "/homelab/compute/general",
        "proxmox-compute",
        json!({"ip_addresses": [{"address": "-oProxyCommand=touch /tmp/x", "prefix_length": 24}]}),
    );
    let (_repo, _out, code, stderr) = render(&def);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("which ssh would read as an option"),
        "{stderr}"
    );
}
