//! The Terraform (+ Ansible) executor and the Terraform observer against the real
//! `terraform` and `ansible-playbook`, with configurations that use only terraform's
//! built-in `terraform_data` resource (no provider download: they run offline) and a
//! playbook that configures this machine over `connection: local`.
//!
//! A missing terraform or ansible-core is skipped loudly (a failure under
//! `HOMELABD_TEST_STRICT=1`); ansible-core comes from `tests/support/install-tools.sh`.

mod support;

use homelabd::apply::terraform::TerraformExecutor;
use homelabd::apply::{
    ApplyOutcome, ApplyReport, ApplyRequest, ExecutorSettings, Interruption, ProviderExecutor,
    Runner,
};
use homelabd::model::Provider;
use homelabd::observe::terraform::TerraformObserver;
use homelabd::observe::{DeviationKind, Observer, Target};
use homelabd::setting::Secret;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One resource: its rendered directory, its work directory and a scratch directory for
/// what the configuration touches outside terraform.
struct Resource {
    _tmp: tempfile::TempDir,
    rendered: PathBuf,
    work: PathBuf,
    outside: PathBuf,
}

impl Resource {
    fn new() -> Resource {
        let tmp = tempfile::tempdir().unwrap();
        let rendered = tmp.path().join("rendered-configs/proxmox/web");
        let work = tmp.path().join("work/proxmox/web");
        let outside = tmp.path().join("outside");
        for dir in [&work, &outside] {
            std::fs::create_dir_all(dir).unwrap();
        }
        Resource {
            _tmp: tmp,
            rendered,
            work,
            outside,
        }
    }

    /// Puts a new render in place the way `render::write` does: a sibling directory
    /// renamed over the old one, so nothing of the previous render survives in it.
    fn render(&self, fixture: &str, extra: &[(&str, String)]) {
        let next = self.rendered.with_extension("next");
        let _ = std::fs::remove_dir_all(&next);
        support::copy_tree(&support::root().join("tests/fixtures").join(fixture), &next);
        for (rel, content) in extra {
            support::write(&next, rel, content);
        }
        if self.rendered.exists() {
            let old = self.rendered.with_extension("old");
            std::fs::rename(&self.rendered, &old).unwrap();
            std::fs::rename(&next, &self.rendered).unwrap();
            std::fs::remove_dir_all(old).unwrap();
        } else {
            std::fs::create_dir_all(self.rendered.parent().unwrap()).unwrap();
            std::fs::rename(&next, &self.rendered).unwrap();
        }
    }

    fn req(&self) -> ApplyRequest {
        ApplyRequest {
            resource: "web".into(),
            provider: Provider::Proxmox,
            rendered_dir: self.rendered.clone(),
            work_dir: self.work.clone(),
            revision: "0123abcd".into(),
            secrets: Default::default(),
        }
    }

    fn target(&self) -> Target {
        Target {
            resource: "web".into(),
            provider: Provider::Proxmox,
            rendered_dir: self.rendered.clone(),
            work_dir: self.work.clone(),
            secrets: Default::default(),
        }
    }

    /// Addresses of the resources in the work directory's state.
    fn state_addresses(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.work.join("terraform.tfstate")).unwrap();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        state["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let module = r["module"]
                    .as_str()
                    .map(|m| format!("{m}."))
                    .unwrap_or_default();
                format!(
                    "{module}{}.{}",
                    r["type"].as_str().unwrap(),
                    r["name"].as_str().unwrap()
                )
            })
            .collect()
    }
}

fn tfvar(name: &str, value: &Path) -> (&'static str, String) {
    (
        "terraform.tfvars",
        format!("{name} = \"{}\"\n", value.display()),
    )
}

fn terraform() -> Option<PathBuf> {
    support::tool("terraform")
}

fn settings(terraform: &Path, ansible: Option<&Path>) -> ExecutorSettings {
    let mut s = ExecutorSettings::default();
    s.terraform.binary = Some(terraform.display().to_string());
    s.ansible.binary = Some(
        ansible
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "/nonexistent/ansible-playbook".into()),
    );
    s
}

fn executor(terraform: &Path) -> TerraformExecutor {
    TerraformExecutor::new(Provider::Proxmox, &settings(terraform, None), None)
}

fn runner(timeout: Duration) -> Runner {
    Runner::new(timeout, CancellationToken::new())
}

fn runner_default() -> Runner {
    runner(Duration::from_secs(300))
}

fn argv_tails(report: &ApplyReport) -> Vec<Vec<String>> {
    report.runs.iter().map(|r| r.argv[1..].to_vec()).collect()
}

fn strings(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter()
        .map(|argv| argv.iter().map(|s| (*s).to_owned()).collect())
        .collect()
}

fn assert_applied(report: &ApplyReport) {
    let last = report
        .last_run()
        .map(|r| r.stderr_tail.as_str())
        .unwrap_or("");
    assert_eq!(report.outcome, ApplyOutcome::Applied, "stderr: {last}");
}

const APPLY_ARGV: [&[&str]; 3] = [
    &["init", "-input=false", "-no-color"],
    &["plan", "-input=false", "-no-color", "-out=homelabd.tfplan"],
    &["apply", "-input=false", "-no-color", "homelabd.tfplan"],
];

#[tokio::test]
async fn a_module_is_applied_re_applied_as_a_no_op_and_destroyed() {
    let Some(tf) = terraform() else {
        return support::skip("terraform executor", "terraform is not installed");
    };
    let r = Resource::new();
    let marker = r.outside.join("vm-created");
    r.render("terraform/basic", &[tfvar("marker_path", &marker)]);
    let ex = executor(&tf);

    let first = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&first);
    assert_eq!(argv_tails(&first), strings(&APPLY_ARGV));
    assert_eq!(first.runs[0].argv[0], tf.display().to_string());
    assert!(
        first.runs[2]
            .stdout_tail
            .contains("1 added, 0 changed, 0 destroyed")
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "created by terraform\n"
    );
    assert_eq!(r.state_addresses(), ["module.marker.terraform_data.marker"]);
    // Terraform ran in the work directory: the rendered one holds only the render.
    assert!(r.work.join(".terraform").is_dir());
    assert!(r.work.join("modules/marker/main.tf").is_file());
    assert!(!r.rendered.join(".terraform").exists());
    assert!(!r.rendered.join("terraform.tfstate").exists());

    let second = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&second);
    assert!(
        second.runs[1].stdout_tail.contains("No changes."),
        "{}",
        second.runs[1].stdout_tail
    );
    assert!(
        second.runs[2]
            .stdout_tail
            .contains("0 added, 0 changed, 0 destroyed")
    );

    let destroyed = ex.destroy(&r.req(), &runner_default()).await;
    assert_applied(&destroyed);
    assert_eq!(
        argv_tails(&destroyed),
        strings(&[
            &["init", "-input=false", "-no-color"],
            &["destroy", "-auto-approve", "-input=false", "-no-color"],
        ])
    );
    assert!(!marker.exists(), "destroy left the marker behind");
    assert!(r.state_addresses().is_empty());
}

#[tokio::test]
async fn a_re_render_keeps_the_state_and_drops_what_is_no_longer_rendered() {
    let Some(tf) = terraform() else {
        return support::skip("terraform executor", "terraform is not installed");
    };
    let r = Resource::new();
    let marker = r.outside.join("vm-created");
    let extra = (
        "extra.tf",
        "resource \"terraform_data\" \"extra\" {\n  input = \"temporary\"\n}\n".to_owned(),
    );
    r.render("terraform/basic", &[tfvar("marker_path", &marker), extra]);
    let ex = executor(&tf);
    assert_applied(&ex.apply(&r.req(), &runner_default()).await);
    assert_eq!(r.state_addresses().len(), 2);
    let lock = std::fs::read_to_string(r.work.join(".terraform.lock.hcl")).ok();

    // The next render replaces the directory and no longer has extra.tf.
    r.render("terraform/basic", &[tfvar("marker_path", &marker)]);
    let report = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&report);
    assert!(
        report.runs[2]
            .stdout_tail
            .contains("0 added, 0 changed, 1 destroyed"),
        "{}",
        report.runs[2].stdout_tail
    );
    assert_eq!(r.state_addresses(), ["module.marker.terraform_data.marker"]);
    assert!(!r.work.join("extra.tf").exists());
    assert!(r.work.join("terraform.tfstate.backup").is_file());
    assert_eq!(
        std::fs::read_to_string(r.work.join(".terraform.lock.hcl")).ok(),
        lock
    );
    assert!(
        marker.is_file(),
        "the kept resource was re-created or destroyed"
    );
}

#[tokio::test]
async fn drift_outside_terraform_is_one_plan_deviation_until_re_applied() {
    let Some(tf) = terraform() else {
        return support::skip("terraform observer", "terraform is not installed");
    };
    let r = Resource::new();
    let input = r.outside.join("vm-settings");
    std::fs::write(&input, "memory=2048\n").unwrap();
    r.render("terraform/drift", &[tfvar("input_file", &input)]);
    let settings = settings(&tf, None);
    let observer =
        TerraformObserver::with_credentials(&settings, runner_default(), BTreeMap::new());
    let targets = [r.target()];

    let before = observer.observe(&targets).await.unwrap();
    assert_eq!(
        before.failed.get("web").map(String::as_str),
        Some(
            format!(
                "not applied here yet: no terraform working directory in {}",
                r.work.display()
            )
            .as_str()
        )
    );

    let ex = executor(&tf);
    assert_applied(&ex.apply(&r.req(), &runner_default()).await);
    let clean = observer.observe(&targets).await.unwrap();
    assert!(clean.failed.is_empty(), "{:?}", clean.failed);
    assert_eq!(clean.observations.len(), 1);
    assert!(clean.observations[0].deviations.is_empty());

    // Someone changes the machine behind terraform's back.
    std::fs::write(&input, "memory=4096\n").unwrap();
    let drifted = observer.observe(&targets).await.unwrap();
    let deviations = &drifted.observations[0].deviations;
    assert_eq!(deviations.len(), 1, "{deviations:?}");
    let d = &deviations[0];
    assert_eq!(
        (d.key.as_str(), d.kind),
        ("terraform/plan", DeviationKind::ConfigDrift)
    );
    assert_eq!(
        d.actual,
        serde_json::json!([
            "# terraform_data.observed will be updated in-place",
            "Plan: 0 to add, 1 to change, 0 to destroy."
        ])
    );
    // The observer only looked: the state still has the old value.
    let state = std::fs::read_to_string(r.work.join("terraform.tfstate")).unwrap();
    assert!(state.contains("memory=2048") && !state.contains("memory=4096"));

    assert_applied(&ex.apply(&r.req(), &runner_default()).await);
    let healed = observer.observe(&targets).await.unwrap();
    assert!(healed.observations[0].deviations.is_empty());

    // A plan that errors (the input is gone) is a target that could not be observed.
    std::fs::remove_file(&input).unwrap();
    let broken = observer.observe(&targets).await.unwrap();
    assert!(broken.observations.is_empty());
    let reason = &broken.failed["web"];
    assert!(reason.contains("terraform exited with 1"), "{reason}");
}

#[tokio::test]
async fn a_failing_module_fails_the_apply_with_the_tail_of_stderr() {
    let Some(tf) = terraform() else {
        return support::skip("terraform executor", "terraform is not installed");
    };
    let r = Resource::new();
    r.render("terraform/failing", &[]);
    let report = executor(&tf).apply(&r.req(), &runner_default()).await;
    let ApplyOutcome::Failed { error } = &report.outcome else {
        panic!("expected a failure, got {:?}", report.outcome);
    };
    assert_eq!(report.runs.len(), 3, "init and plan succeed, apply fails");
    assert!(error.contains("exited with 1"), "{error}");
    let stderr = &report.runs[2].stderr_tail;
    assert!(
        stderr.contains("Error: local-exec provisioner error"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot reach the hypervisor at pve.invalid:8006"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_hanging_apply_is_killed_with_its_children_at_the_timeout() {
    let Some(tf) = terraform() else {
        return support::skip("terraform executor", "terraform is not installed");
    };
    let r = Resource::new();
    let pid_file = r.outside.join("provisioner.pid");
    r.render("terraform/hanging", &[tfvar("pid_file", &pid_file)]);
    // Long enough for init and plan on a loaded machine, short against `sleep 300`.
    let report = executor(&tf)
        .apply(&r.req(), &runner(Duration::from_secs(10)))
        .await;
    let last = report.last_run().unwrap();
    assert_eq!(last.argv[1], "apply");
    assert_eq!(last.ended_by, Some(Interruption::Timeout));
    let ApplyOutcome::Failed { error } = &report.outcome else {
        panic!("expected a failure, got {:?}", report.outcome);
    };
    assert!(error.contains("timed out"), "{error}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", pid.trim()));
    let gone = (0..50).any(|_| {
        let alive =
            std::fs::read_to_string(proc_dir.join("stat")).is_ok_and(|stat| !stat.contains(") Z "));
        if alive {
            std::thread::sleep(Duration::from_millis(100));
        }
        !alive
    });
    assert!(
        gone,
        "the provisioner's sleep (pid {}) outlived the timeout",
        pid.trim()
    );
}

#[tokio::test]
async fn credentials_reach_terraform_but_never_its_arguments_or_output() {
    let Some(tf) = terraform() else {
        return support::skip("terraform executor", "terraform is not installed");
    };
    let r = Resource::new();
    r.render("terraform/secret", &[]);
    let token = "root@pam!homelabd=6f1e9a52-secret";
    let ex = executor(&tf).with_secret_env(BTreeMap::from([(
        "TF_VAR_api_token".to_owned(),
        Secret::new(token),
    )]));
    let report = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&report);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.work.join("terraform.tfstate")).unwrap())
            .unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    assert_eq!(state["outputs"]["token_sha256"]["value"], sha.as_str());
    let recorded = serde_json::to_string(&report.runs).unwrap();
    assert!(
        !recorded.contains(token),
        "the token leaked into the recorded runs"
    );
    assert!(!format!("{ex:?}").contains(token));
}

#[tokio::test]
async fn an_unavailable_target_is_not_applied_and_nothing_runs() {
    let Some(tf) = terraform() else {
        return support::skip("terraform executor", "terraform is not installed");
    };
    let r = Resource::new();
    r.render("terraform/failing", &[]);
    let ex = TerraformExecutor::new(
        Provider::Proxmox,
        &settings(&tf, None),
        Some("proxmox: no API configured ([proxmox] api_url)".into()),
    );
    let report = ex.apply(&r.req(), &runner_default()).await;
    assert_eq!(
        report.outcome,
        ApplyOutcome::NotApplied {
            reason: "proxmox: no API configured ([proxmox] api_url)".into()
        }
    );
    assert!(report.runs.is_empty());
    assert_eq!(std::fs::read_dir(&r.work).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------------------
// Ansible after terraform

fn ansible_playbook() -> Option<PathBuf> {
    support::tool("ansible-playbook")
}

fn render_localbox(r: &Resource, with_hosts_output: bool) {
    render_box(r, "ansible/localbox", with_hosts_output);
}

/// Renders `fixture` (a localbox variant) with its inventory pointing at `r.outside`.
fn render_box(r: &Resource, fixture: &str, with_hosts_output: bool) {
    let inventory = std::fs::read_to_string(
        support::root()
            .join("tests/fixtures")
            .join(fixture)
            .join("ansible/inventory.yml"),
    )
    .unwrap()
    .replace("@OUT_DIR@", &r.outside.display().to_string());
    r.render(fixture, &[("ansible/inventory.yml", inventory)]);
    if !with_hosts_output {
        std::fs::remove_file(r.rendered.join("outputs.tf")).unwrap();
    }
}

#[tokio::test]
async fn the_playbook_runs_after_terraform_against_the_hosts_terraform_reported() {
    let (Some(tf), Some(ansible)) = (terraform(), ansible_playbook()) else {
        return support::skip(
            "ansible after terraform",
            "terraform or ansible-core missing",
        );
    };
    let r = Resource::new();
    render_localbox(&r, true);
    let ex = TerraformExecutor::new(Provider::Proxmox, &settings(&tf, Some(&ansible)), None);
    let report = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&report);
    let inventory = r.work.join("homelabd-inventory.yml");
    let mut expected = strings(&APPLY_ARGV);
    expected.extend(strings(&[
        &["output", "-no-color", "-json", "vms"],
        &["-i", &inventory.display().to_string(), "playbook.yml"],
    ]));
    assert_eq!(argv_tails(&report), expected);
    assert_eq!(report.runs[4].argv[0], ansible.display().to_string());
    assert!(
        report.runs[4].stdout_tail.contains("localbox"),
        "{}",
        report.runs[4].stdout_tail
    );
    // The host was configured, and reached at the address from terraform's output
    // rather than the rendered guess.
    let configured = std::fs::read_to_string(r.outside.join("configured-localbox.txt")).unwrap();
    assert_eq!(configured, "127.0.0.1\n");
    // Where the VM is, as terraform reported it: the resource's endpoint.
    let endpoints = report
        .endpoints
        .clone()
        .expect("endpoints from the hosts output");
    assert_eq!(
        endpoints
            .iter()
            .map(|e| (e.kind.as_str(), e.name.as_str(), e.address.as_str()))
            .collect::<Vec<_>>(),
        vec![("terraform/vms", "localbox", "127.0.0.1")]
    );
    assert!(
        std::fs::read_to_string(&inventory)
            .unwrap()
            .contains("127.0.0.1")
    );

    // The next apply keeps the generated inventory across the sync and runs it again.
    std::fs::remove_file(r.outside.join("configured-localbox.txt")).unwrap();
    assert_applied(&ex.apply(&r.req(), &runner_default()).await);
    assert!(r.outside.join("configured-localbox.txt").is_file());
}

#[tokio::test]
async fn without_a_hosts_output_the_rendered_inventory_is_used() {
    let (Some(tf), Some(ansible)) = (terraform(), ansible_playbook()) else {
        return support::skip(
            "ansible after terraform",
            "terraform or ansible-core missing",
        );
    };
    let r = Resource::new();
    render_localbox(&r, false);
    let ex = TerraformExecutor::new(Provider::Proxmox, &settings(&tf, Some(&ansible)), None);
    let report = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&report);
    assert_eq!(
        argv_tails(&report).last().unwrap(),
        &strings(&[&["-i", "inventory.yml", "playbook.yml"]])[0]
    );
    let configured = std::fs::read_to_string(r.outside.join("configured-localbox.txt")).unwrap();
    assert_eq!(configured, "localbox.invalid\n");
    assert!(!r.work.join("homelabd-inventory.yml").exists());
}

#[tokio::test]
async fn a_playbook_without_ansible_installed_fails_after_terraform_applied() {
    let Some(tf) = terraform() else {
        return support::skip("ansible after terraform", "terraform is not installed");
    };
    let r = Resource::new();
    render_localbox(&r, true);
    let report = executor(&tf).apply(&r.req(), &runner_default()).await;
    assert_eq!(
        report.outcome,
        ApplyOutcome::Failed {
            error: "terraform applied, but the playbook cannot run: proxmox: ansible-playbook not found at /nonexistent/ansible-playbook ([executors.ansible] binary)".into()
        }
    );
    // terraform applied, and its hosts were read (where the VMs are) before the
    // playbook was found to be impossible.
    assert_eq!(report.runs.len(), 4);
    assert_eq!(report.endpoints.map(|e| e.len()), Some(1));
    assert!(!r.outside.join("configured-localbox.txt").exists());
}

/// Every file under `dir` (recursively) that contains `value`.
fn files_containing(dir: &Path, value: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(value.len())
                .any(|w| w == value.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn secrets_reach_terraform_and_the_playbook_only_through_their_environment() {
    let (Some(tf), Some(ansible)) = (terraform(), ansible_playbook()) else {
        return support::skip("secrets to terraform", "terraform or ansible-core missing");
    };
    let value = "pw-7Qx!unique-to-this-test";
    let r = Resource::new();
    render_box(&r, "secrets/localbox", true);
    let mut req = r.req();
    req.secrets.insert("TF_VAR_db_password", value);
    req.secrets.insert("SECRET_DB_PASSWORD", value);
    let ex = TerraformExecutor::new(Provider::Proxmox, &settings(&tf, Some(&ansible)), None);
    let report = ex.apply(&req, &runner_default()).await;
    assert_applied(&report);

    // The playbook got the value (the configured "host" has it) ...
    let installed = r.outside.join("db-password-localbox.txt");
    assert_eq!(std::fs::read_to_string(installed).unwrap(), value);
    // ... and terraform did: its state holds the value's digest, not the value.
    let state = std::fs::read_to_string(r.work.join("terraform.tfstate")).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(value.as_bytes()));
    assert!(state.contains(&digest), "terraform did not see the value");
    // Nothing homelabd keeps holds it: not the work or rendered directory, not the
    // arguments, not the captured output — where the playbook printed it, `***` stands.
    assert_eq!(files_containing(&r.work, value), Vec::<PathBuf>::new());
    assert_eq!(files_containing(&r.rendered, value), Vec::<PathBuf>::new());
    for run in &report.runs {
        let all = format!("{:?} {} {}", run.argv, run.stdout_tail, run.stderr_tail);
        assert!(!all.contains(value), "{all}");
    }
    let playbook = report.runs.last().unwrap();
    assert!(
        playbook.stdout_tail.contains("connecting with ***"),
        "{}",
        playbook.stdout_tail
    );

    // The drift check plans with the same inputs: no false drift from the secret.
    let observer = TerraformObserver::with_credentials(
        &settings(&tf, Some(&ansible)),
        runner_default(),
        BTreeMap::new(),
    );
    let mut target = r.target();
    target.secrets = req.secrets.clone();
    let seen = observer
        .observe(std::slice::from_ref(&target))
        .await
        .unwrap();
    assert!(seen.failed.is_empty(), "{:?}", seen.failed);
    assert!(seen.observations[0].deviations.is_empty());

    // A rotated value is a real change terraform plans and applies.
    let rotated = "pw-rotated-8Zk";
    let mut req2 = r.req();
    req2.secrets.insert("TF_VAR_db_password", rotated);
    req2.secrets.insert("SECRET_DB_PASSWORD", rotated);
    target.secrets = req2.secrets.clone();
    let drift = observer
        .observe(std::slice::from_ref(&target))
        .await
        .unwrap();
    assert_eq!(drift.observations[0].deviations.len(), 1);
    assert_applied(&ex.apply(&req2, &runner_default()).await);
    let installed = r.outside.join("db-password-localbox.txt");
    assert_eq!(std::fs::read_to_string(installed).unwrap(), rotated);
    let state = std::fs::read_to_string(r.work.join("terraform.tfstate")).unwrap();
    assert!(state.contains(&hex::encode(sha2::Sha256::digest(rotated.as_bytes()))));

    // Destroy gets them too (terraform evaluates the configuration's variables).
    let destroyed = ex.destroy(&req2, &runner_default()).await;
    assert_eq!(destroyed.outcome, ApplyOutcome::Applied);
}

#[tokio::test]
async fn shared_modules_and_roles_are_found_from_the_work_directory() {
    let (Some(tf), Some(ansible)) = (terraform(), ansible_playbook()) else {
        return support::skip(
            "shared modules and roles in the work directory",
            "terraform or ansible-core missing",
        );
    };
    let r = Resource::new();
    let marker = r.outside.join("vm-created");
    render_box(&r, "shared/resource", true);
    support::write(
        &r.rendered,
        "terraform.tfvars",
        &format!("marker_path = \"{}\"\n", marker.display()),
    );
    // The shared directory beside the providers' directories, as `render::write` puts it.
    let rendered_root = r.rendered.parent().unwrap().parent().unwrap();
    support::copy_tree(
        &support::root().join("tests/fixtures/shared/entries"),
        &rendered_root.join(".shared"),
    );
    let ex = TerraformExecutor::new(Provider::Proxmox, &settings(&tf, Some(&ansible)), None);
    let report = ex.apply(&r.req(), &runner_default()).await;
    assert_applied(&report);
    // Terraform ran the shared module and the playbook the shared role, both from the
    // work directory's own copy of the shared entries.
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "created by terraform\n"
    );
    assert_eq!(
        std::fs::read_to_string(r.outside.join("configured-localbox.txt")).unwrap(),
        "127.0.0.1\n"
    );
    let work_root = r.work.parent().unwrap().parent().unwrap();
    assert!(
        work_root
            .join(".shared/marker@0123456789abcdef/marker/main.tf")
            .is_file()
    );
    assert!(
        work_root
            .join(".shared/record@fedcba9876543210/record/tasks/main.yml")
            .is_file()
    );
    assert!(!r.work.join("modules").exists());

    // The rendered tree may lose an entry (pruned after a newer render): the work
    // directory keeps what its state was applied with, so a destroy still finds it.
    std::fs::remove_dir_all(rendered_root.join(".shared")).unwrap();
    let destroyed = ex.destroy(&r.req(), &runner_default()).await;
    assert_applied(&destroyed);
    assert!(!marker.exists());
}
