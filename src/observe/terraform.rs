//! The Terraform observer: `terraform plan -detailed-exitcode` in each resource's work
//! directory, i.e. against the configuration that was last applied.
//!
//! Exit code 0 means the infrastructure matches; 2 means terraform would change
//! something, which becomes one `config_drift` deviation keyed `terraform/plan` whose
//! actual value is the plan's change summary; 1 (or a timeout) means the target could
//! not be observed. The plan runs with `-lock=false` so it never waits for, or blocks,
//! an apply, and it writes nothing.

use super::{
    Deviation, DeviationKind, Observation, ObserveError, Observer, Report, Severity, Target,
};
use crate::apply::terraform::{locate_tool, provider_credentials};
use crate::apply::{BoxFuture, Cmd, CmdRun, ExecutorSettings, Runner};
use crate::model::Provider;
use crate::setting::Secret;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The deviation key of a pending plan.
pub const PLAN_KEY: &str = "terraform/plan";

/// Observes terraform-managed resources (Proxmox and vSphere VMs).
#[derive(Debug)]
pub struct TerraformObserver {
    terraform: Result<PathBuf, crate::apply::terraform::ToolMissing>,
    plugin_cache_dir: Option<PathBuf>,
    runner: Runner,
    credentials: BTreeMap<Provider, BTreeMap<String, Secret>>,
}

impl TerraformObserver {
    /// Detects terraform from `settings`, with the providers' standard credentials
    /// (`PROXMOX_VE_API_TOKEN`, …, see [`provider_credentials`]). Each plan runs through
    /// `runner` (its timeout and the daemon's shutdown).
    pub fn new(settings: &ExecutorSettings, runner: Runner) -> TerraformObserver {
        let credentials = [Provider::Proxmox, Provider::Vmware]
            .into_iter()
            .map(|p| (p, provider_credentials(p)))
            .collect();
        TerraformObserver::with_credentials(settings, runner, credentials)
    }

    /// Like [`TerraformObserver::new`] with explicit credentials per provider.
    pub fn with_credentials(
        settings: &ExecutorSettings,
        runner: Runner,
        credentials: BTreeMap<Provider, BTreeMap<String, Secret>>,
    ) -> TerraformObserver {
        TerraformObserver {
            terraform: locate_tool(
                "terraform",
                settings.terraform.binary.as_deref(),
                "terraform",
                "terraform",
            ),
            plugin_cache_dir: settings.terraform.plugin_cache_dir.clone(),
            runner,
            credentials,
        }
    }

    /// The drift check of one work directory.
    pub fn plan_cmd(&self, terraform: &Path, target: &Target) -> Cmd {
        let mut cmd = Cmd::new(
            [
                terraform.display().to_string(),
                "plan".to_owned(),
                "-detailed-exitcode".to_owned(),
                "-input=false".to_owned(),
                "-no-color".to_owned(),
                "-lock=false".to_owned(),
            ],
            &target.work_dir,
        )
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1");
        if let Some(dir) = &self.plugin_cache_dir {
            cmd = cmd.env("TF_PLUGIN_CACHE_DIR", dir.display().to_string());
        }
        if let Some(secrets) = self.credentials.get(&target.provider) {
            cmd.secret_env = secrets
                .iter()
                .map(|(k, v)| (k.clone(), v.expose().to_owned()))
                .collect();
        }
        cmd.secrets(&target.secrets)
    }

    async fn observe_all(&self, targets: &[Target]) -> Result<Report, ObserveError> {
        let terraform = self
            .terraform
            .as_ref()
            .map_err(|reason| ObserveError::Unreachable {
                provider: "terraform".to_owned(),
                message: reason.to_string(),
            })?;
        let mut report = Report::default();
        for target in targets {
            if !was_applied(&target.work_dir) {
                report.failed.insert(
                    target.resource.clone(),
                    format!(
                        "not applied here yet: no terraform working directory in {}",
                        target.work_dir.display()
                    ),
                );
                continue;
            }
            let run = self.runner.run(&self.plan_cmd(terraform, target)).await;
            match interpret_plan(&target.resource, &run) {
                Ok(observation) => report.observations.push(observation),
                Err(reason) => {
                    report.failed.insert(target.resource.clone(), reason);
                }
            }
        }
        Ok(report)
    }
}

/// Has terraform run here: local state, or an initialised directory (remote backend)?
fn was_applied(work_dir: &Path) -> bool {
    work_dir.join("terraform.tfstate").is_file() || work_dir.join(".terraform").is_dir()
}

impl Observer for TerraformObserver {
    fn name(&self) -> &str {
        "terraform"
    }

    fn observe<'a>(&'a self, targets: &'a [Target]) -> BoxFuture<'a, Result<Report, ObserveError>> {
        Box::pin(self.observe_all(targets))
    }
}

/// Turns a finished `plan -detailed-exitcode` into an observation, or the reason the
/// target could not be observed (the tool's failure summary, for [`super::Report::failed`]).
// String error: why the target was not observed, kept as text in the report's `failed` map (shown and stored).
pub fn interpret_plan(resource: &str, run: &CmdRun) -> Result<Observation, String> {
    let expected = json!({ "plan": "no changes" });
    match (run.exit_code, run.ended_by) {
        (Some(0), None) => Ok(Observation {
            resource: resource.to_owned(),
            actual: expected.clone(),
            expected,
            deviations: Vec::new(),
            endpoints: None,
        }),
        (Some(2), None) => {
            let summary = change_summary(&run.stdout_tail);
            let headline = summary
                .iter()
                .rev()
                .find(|l| l.starts_with("Plan:") || l.starts_with("Changes to Outputs"))
                .cloned()
                .unwrap_or_else(|| "changes pending".to_owned());
            Ok(Observation {
                resource: resource.to_owned(),
                expected,
                actual: json!({ "plan": "changes", "changes": summary }),
                deviations: vec![Deviation {
                    resource: resource.to_owned(),
                    key: PLAN_KEY.to_owned(),
                    kind: DeviationKind::ConfigDrift,
                    severity: Severity::Warning,
                    auto_correctable: true,
                    corrective_action:
                        "re-apply: terraform apply brings the infrastructure back to the rendered configuration"
                            .to_owned(),
                    expected: json!("no changes"),
                    actual: json!(summary),
                    message: format!("terraform plan is not empty: {headline}"),
                }],
                endpoints: None,
            })
        }
        _ => Err(run.failure_summary()),
    }
}

/// The lines of a plan that say what would change: the `# <address> will be …` /
/// `has changed` headers, `Changes to Outputs:` and the `Plan: …` total, in order.
pub fn change_summary(plan_output: &str) -> Vec<String> {
    plan_output
        .lines()
        .map(str::trim)
        .filter(|l| is_resource_header(l) || is_total(l))
        .map(str::to_owned)
        .collect()
}

/// `# terraform_data.x will be updated in-place`, `# module.vm.x has changed`, …
fn is_resource_header(line: &str) -> bool {
    const ACTIONS: [&str; 5] = [
        " will be ",
        " must be ",
        " has changed",
        " has moved ",
        " has been deleted",
    ];
    line.starts_with("# ") && ACTIONS.iter().any(|a| line.contains(a))
}

fn is_total(line: &str) -> bool {
    line.starts_with("Plan:") || line.starts_with("Changes to Outputs:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Interruption;
    use std::time::Duration;

    const PLAN: &str = "terraform_data.marker: Refreshing state... [id=4f1c]

Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  ~ update in-place

Terraform will perform the following actions:

  # terraform_data.marker will be updated in-place
  ~ resource \"terraform_data\" \"marker\" {
        id     = \"4f1c\"
      ~ input  = \"one\" -> \"two\"
        # (1 unchanged attribute hidden)
    }

  # module.vm_1.proxmox_virtual_environment_vm.this must be replaced
-/+ resource \"proxmox_virtual_environment_vm\" \"this\" {

Plan: 1 to add, 1 to change, 1 to destroy.
";

    fn run(exit_code: Option<i32>, stdout: &str, stderr: &str) -> CmdRun {
        CmdRun {
            argv: vec!["terraform".into(), "plan".into()],
            exit_code,
            duration: Duration::from_secs(1),
            stdout_tail: stdout.into(),
            stderr_tail: stderr.into(),
            ended_by: None,
            spawn_error: None,
        }
    }

    #[test]
    fn the_summary_keeps_the_resource_headers_and_the_total_only() {
        assert_eq!(
            change_summary(PLAN),
            [
                "# terraform_data.marker will be updated in-place",
                "# module.vm_1.proxmox_virtual_environment_vm.this must be replaced",
                "Plan: 1 to add, 1 to change, 1 to destroy."
            ]
        );
    }

    #[test]
    fn exit_code_two_is_one_config_drift_deviation() {
        let obs = interpret_plan("web", &run(Some(2), PLAN, "")).unwrap();
        assert_eq!(obs.deviations.len(), 1);
        let d = &obs.deviations[0];
        assert_eq!(d.key, "terraform/plan");
        assert_eq!(d.kind, DeviationKind::ConfigDrift);
        assert!(d.auto_correctable);
        assert_eq!(d.actual[2], "Plan: 1 to add, 1 to change, 1 to destroy.");
        assert_eq!(
            d.message,
            "terraform plan is not empty: Plan: 1 to add, 1 to change, 1 to destroy."
        );
    }

    #[test]
    fn exit_code_zero_is_no_deviation() {
        let obs = interpret_plan("web", &run(Some(0), "No changes.", "")).unwrap();
        assert!(obs.deviations.is_empty());
        assert_eq!(obs.actual, obs.expected);
    }

    #[test]
    fn exit_code_one_or_a_timeout_means_the_target_was_not_observed() {
        let err = interpret_plan(
            "web",
            &run(
                Some(1),
                "",
                "Error: error retrieving VM 101: 401 Unauthorized\n",
            ),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "terraform exited with 1: Error: error retrieving VM 101: 401 Unauthorized"
        );
        let mut timed_out = run(None, "", "");
        timed_out.ended_by = Some(Interruption::Timeout);
        assert!(
            interpret_plan("web", &timed_out)
                .unwrap_err()
                .contains("timed out")
        );
    }
}
