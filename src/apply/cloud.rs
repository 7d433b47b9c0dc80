//! The cloud executors: AWS through `aws cloudformation deploy` (one stack per resource,
//! `homelabd-<name>`) and Azure through `az deployment group create` (one deployment per
//! resource in the configured resource group).
//!
//! A destroy on AWS deletes the stack and waits until it is gone. On Azure a deployment
//! is only a record: deleting it leaves its resources, and deleting resources by what a
//! template once named could remove things homelabd never created. So an Azure destroy
//! deletes the deployment record only and reports that the resources must be removed by
//! hand.

use super::common::{argv, locate_tool};
use super::{
    ApplyOutcome, ApplyReport, ApplyRequest, Cmd, ExecutorSettings, ProviderExecutor, Runner,
    ToolExecutor,
};
use crate::reconcile::endpoint::{self, Endpoint};
use crate::target::Target;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The template the aws-ec2 chart renders.
pub const CLOUDFORMATION_TEMPLATE: &str = "cloudformation.json";
/// The template the azure-vm chart renders.
pub const ARM_TEMPLATE: &str = "azuredeploy.json";
/// Parameter values for the ARM template, passed when a chart renders them.
pub const ARM_PARAMETERS: &str = "azuredeploy.parameters.json";

/// The prefix of a binding that names an ARM template parameter: the chart binds
/// `ARM_PARAMETER_adminPassword` for the securestring parameter `adminPassword`.
pub const ARM_PARAMETER_PREFIX: &str = "ARM_PARAMETER_";

/// A deployment parameters document (`{"name": {"value": …}}`) of the `ARM_PARAMETER_*`
/// variables of `secrets`; `None` when there are none.
pub fn secure_parameters(
    secrets: &crate::secrets::SecretEnv,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let parameters: serde_json::Map<String, serde_json::Value> = secrets
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(ARM_PARAMETER_PREFIX)?;
            Some((name.to_owned(), serde_json::json!({ "value": v })))
        })
        .collect();
    if parameters.is_empty() {
        return None;
    }
    let text = serde_json::Value::Object(parameters).to_string();
    Some(zeroize::Zeroizing::new(text.into_bytes()))
}

/// Azure limits deployment names to 64 characters.
const AZURE_NAME_MAX: usize = 64;

/// The stack (AWS) or deployment (Azure) name of a resource.
pub fn stack_name(resource: &str) -> String {
    format!("homelabd-{resource}")
}

/// The Azure deployment name: [`stack_name`], shortened with a hash of the resource
/// name when it would exceed Azure's 64 characters (still unique and stable).
pub fn azure_deployment_name(resource: &str) -> String {
    let name = stack_name(resource);
    if name.len() <= AZURE_NAME_MAX {
        return name;
    }
    let hash = hex::encode(Sha256::digest(resource.as_bytes()));
    // Resource names are ASCII (DNS labels), so byte slicing is at a char boundary.
    let keep = AZURE_NAME_MAX - 9;
    let head = name.get(..keep).unwrap_or(&name).trim_end_matches('-');
    format!("{head}-{}", &hash[..8])
}

/// The AWS executor from `[executors.aws]`.
pub fn aws_executor(settings: &ExecutorSettings) -> Arc<dyn ProviderExecutor> {
    Arc::new(AwsExecutor::new(settings))
}

/// The Azure executor from `[executors.azure]`.
pub fn azure_executor(settings: &ExecutorSettings) -> Arc<dyn ProviderExecutor> {
    Arc::new(AzureExecutor::new(settings))
}

fn missing_template(path: PathBuf) -> ApplyReport {
    ApplyReport::failed(format!(
        "{}: not rendered (the chart must render it)",
        path.display()
    ))
}

/// Reads where a deployment is reached after it succeeded: runs `cmd` (which prints the
/// deployment's outputs as JSON) and keeps the address outputs `parse` finds as the
/// report's endpoints. A deployment whose outputs cannot be read is a failed apply, as a
/// Terraform apply whose hosts output cannot be read is: the next pass deploys again (an
/// empty change) and reads them again.
async fn read_outputs(
    runner: &Runner,
    cmd: Cmd,
    mut report: ApplyReport,
    parse: fn(&serde_json::Value) -> Vec<Endpoint>,
) -> ApplyReport {
    if report.outcome != ApplyOutcome::Applied {
        return report;
    }
    let run = runner.run(&cmd).await;
    let read = if run.success() {
        serde_json::from_str(run.stdout_tail.trim())
            .map_err(|e| format!("deployed, but its outputs are not JSON (over 8 KiB is cut): {e}"))
    } else {
        Err(format!(
            "deployed, but its outputs could not be read: {}",
            run.failure_summary()
        ))
    };
    report.runs.push(run);
    match read {
        Ok(outputs) => {
            report.endpoints = Some(parse(&outputs));
            report
        }
        Err(error) => ApplyReport::failed_after(error, report.runs),
    }
}

// ---------------------------------------------------------------------------------------
// AWS

/// Deploys CloudFormation stacks with the `aws` CLI.
#[derive(Debug, Clone)]
pub struct AwsExecutor {
    aws: PathBuf,
    region: Option<String>,
    profile: Option<String>,
    unavailable: Option<String>,
}

impl AwsExecutor {
    /// Detects the `aws` CLI; unavailable without it.
    pub fn new(settings: &ExecutorSettings) -> AwsExecutor {
        let a = &settings.aws;
        let aws = locate_tool("aws", a.binary.as_deref(), "aws", "aws");
        AwsExecutor {
            unavailable: aws.as_ref().err().map(ToString::to_string),
            aws: aws.unwrap_or_else(|_| PathBuf::from("aws")),
            region: a.region.clone(),
            profile: a.profile.clone(),
        }
    }

    fn aws(&self, args: &[&str], work_dir: &Path, target: &Target) -> Cmd {
        let mut argv = argv(&self.aws, args);
        // The resource's pool or node first, then [executors.aws].
        if let Some(region) = target.region.as_ref().or(self.region.as_ref()) {
            argv.extend(["--region".to_owned(), region.clone()]);
        }
        if let Some(profile) = target.profile.as_ref().or(self.profile.as_ref()) {
            argv.extend(["--profile".to_owned(), profile.clone()]);
        }
        // AWS CLI v2 pipes output through a pager otherwise.
        Cmd::new(argv, work_dir).env("AWS_PAGER", "")
    }

    /// `aws cloudformation deploy` of the rendered template.
    pub fn deploy_cmd(&self, req: &ApplyRequest, target: &Target) -> Cmd {
        let template = req.rendered_dir.join(CLOUDFORMATION_TEMPLATE);
        let template = template.display().to_string();
        let stack = stack_name(&req.resource);
        self.aws(
            &[
                "cloudformation",
                "deploy",
                "--template-file",
                &template,
                "--stack-name",
                &stack,
                "--no-fail-on-empty-changeset",
            ],
            &req.work_dir,
            target,
        )
    }

    /// `aws cloudformation describe-stacks` of the resource's stack: its outputs, as JSON.
    pub fn outputs_cmd(&self, req: &ApplyRequest, target: &Target) -> Cmd {
        let stack = stack_name(&req.resource);
        self.aws(
            &[
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                &stack,
                "--query",
                "Stacks[0].Outputs",
                "--output",
                "json",
            ],
            &req.work_dir,
            target,
        )
    }

    /// `aws cloudformation delete-stack`, then `wait stack-delete-complete`.
    pub fn delete_cmds(&self, req: &ApplyRequest, target: &Target) -> Vec<Cmd> {
        let stack = stack_name(&req.resource);
        vec![
            self.aws(
                &["cloudformation", "delete-stack", "--stack-name", &stack],
                &req.work_dir,
                target,
            ),
            self.aws(
                &[
                    "cloudformation",
                    "wait",
                    "stack-delete-complete",
                    "--stack-name",
                    &stack,
                ],
                &req.work_dir,
                target,
            ),
        ]
    }
}

impl ToolExecutor for AwsExecutor {
    fn executor_name(&self) -> &str {
        "aws-cloudformation"
    }

    fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    async fn apply_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        let template = req.rendered_dir.join(CLOUDFORMATION_TEMPLATE);
        if !template.is_file() {
            return missing_template(template);
        }
        let target = match crate::target::keep(&req.rendered_dir, &req.work_dir) {
            Ok(target) => target,
            Err(e) => return ApplyReport::failed(e.to_string()),
        };
        let report = ApplyReport::run_all(runner, &[self.deploy_cmd(req, &target)]).await;
        let outputs = self.outputs_cmd(req, &target);
        read_outputs(runner, outputs, report, endpoint::cloudformation_outputs).await
    }

    async fn destroy_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        match crate::target::read(&req.work_dir) {
            Ok(target) => ApplyReport::run_all(runner, &self.delete_cmds(req, &target)).await,
            Err(e) => ApplyReport::failed(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Azure

/// Deploys ARM templates with the `az` CLI into one resource group.
#[derive(Debug, Clone)]
pub struct AzureExecutor {
    az: PathBuf,
    resource_group: String,
    unavailable: Option<String>,
}

impl AzureExecutor {
    /// Detects the `az` CLI; unavailable without it or without a resource group.
    pub fn new(settings: &ExecutorSettings) -> AzureExecutor {
        let a = &settings.azure;
        let az = locate_tool("azure", a.binary.as_deref(), "az", "azure");
        let unavailable = match (&az, &a.resource_group) {
            (Err(reason), _) => Some(reason.to_string()),
            (Ok(_), None) => Some(
                "azure: no resource group configured ([executors.azure] resource_group)".to_owned(),
            ),
            (Ok(_), Some(_)) => None,
        };
        AzureExecutor {
            az: az.unwrap_or_else(|_| PathBuf::from("az")),
            resource_group: a.resource_group.clone().unwrap_or_default(),
            unavailable,
        }
    }

    /// The resource group of `target` (its pool's or node's), else the configured one.
    fn group<'a>(&'a self, target: &'a Target) -> &'a str {
        target
            .resource_group
            .as_deref()
            .unwrap_or(&self.resource_group)
    }

    /// `az deployment group <action>` of `req`'s deployment in the resource group (and
    /// the subscription) of `target`.
    fn deployment_argv(&self, action: &str, req: &ApplyRequest, target: &Target) -> Vec<String> {
        let name = azure_deployment_name(&req.resource);
        let mut argv = argv(
            &self.az,
            &[
                "deployment",
                "group",
                action,
                "--resource-group",
                self.group(target),
                "--name",
                &name,
            ],
        );
        if let Some(subscription) = &target.subscription {
            argv.extend(["--subscription".to_owned(), subscription.clone()]);
        }
        argv
    }

    /// `az deployment group create` of the rendered template (with the rendered
    /// parameters file, when there is one).
    pub fn create_cmd(&self, req: &ApplyRequest, with_parameters: bool, target: &Target) -> Cmd {
        let mut argv = self.deployment_argv("create", req, target);
        let template = req.rendered_dir.join(ARM_TEMPLATE);
        argv.extend(["--template-file".to_owned(), template.display().to_string()]);
        if with_parameters {
            let file = req.rendered_dir.join(ARM_PARAMETERS);
            argv.extend(["--parameters".to_owned(), format!("@{}", file.display())]);
        }
        match secure_parameters(&req.secrets) {
            Some(parameters) => {
                // securestring parameters: a parameters file read from stdin, so the
                // value is in no argument and no file.
                argv.extend(["--parameters".to_owned(), "@/dev/stdin".to_owned()]);
                Cmd::new(argv, &req.work_dir).stdin_secrets(parameters, &req.secrets)
            }
            None => Cmd::new(argv, &req.work_dir),
        }
    }

    /// `az deployment group show` of the resource's deployment: its outputs, as JSON.
    /// (`create` prints the whole deployment, which can be longer than the kept tail.)
    pub fn outputs_cmd(&self, req: &ApplyRequest, target: &Target) -> Cmd {
        let mut argv = self.deployment_argv("show", req, target);
        argv.extend(["--query", "properties.outputs", "--output", "json"].map(str::to_owned));
        Cmd::new(argv, &req.work_dir)
    }

    /// `az deployment group delete`: the deployment record only.
    pub fn delete_cmd(&self, req: &ApplyRequest, target: &Target) -> Cmd {
        Cmd::new(self.deployment_argv("delete", req, target), &req.work_dir)
    }

    /// What a successful destroy reports: the record is gone, the resources are not.
    pub fn destroy_note(&self, resource: &str, target: &Target) -> String {
        format!(
            "azure: deleted the deployment record {} only; the resources it created in resource group {} were not removed: delete them by hand",
            azure_deployment_name(resource),
            self.group(target)
        )
    }
}

impl ToolExecutor for AzureExecutor {
    fn executor_name(&self) -> &str {
        "azure-deployment"
    }

    fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    async fn apply_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        let template = req.rendered_dir.join(ARM_TEMPLATE);
        if !template.is_file() {
            return missing_template(template);
        }
        let with_parameters = req.rendered_dir.join(ARM_PARAMETERS).is_file();
        let target = match crate::target::keep(&req.rendered_dir, &req.work_dir) {
            Ok(target) => target,
            Err(e) => return ApplyReport::failed(e.to_string()),
        };
        let cmd = self.create_cmd(req, with_parameters, &target);
        let report = ApplyReport::run_all(runner, &[cmd]).await;
        let outputs = self.outputs_cmd(req, &target);
        read_outputs(runner, outputs, report, endpoint::arm_outputs).await
    }

    async fn destroy_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        let target = match crate::target::read(&req.work_dir) {
            Ok(target) => target,
            Err(e) => return ApplyReport::failed(e.to_string()),
        };
        let report = ApplyReport::run_all(runner, &[self.delete_cmd(req, &target)]).await;
        record_only(report, self.destroy_note(&req.resource, &target))
    }
}

/// An Azure destroy that deleted the record still did not remove the resources: it is
/// reported as not applied, with `note` saying so; a failure stays a failure.
pub fn record_only(mut report: ApplyReport, note: String) -> ApplyReport {
    if report.outcome == ApplyOutcome::Applied {
        report.outcome = ApplyOutcome::NotApplied { reason: note };
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{AwsSettings, AzureSettings};
    use crate::model::Provider;

    fn req(resource: &str) -> ApplyRequest {
        ApplyRequest {
            resource: resource.into(),
            provider: Provider::Aws,
            rendered_dir: PathBuf::from(format!("/state/rendered-configs/aws/{resource}")),
            work_dir: PathBuf::from(format!("/state/work/aws/{resource}")),
            revision: "abc123".into(),
            secrets: Default::default(),
        }
    }

    fn aws(region: Option<&str>, profile: Option<&str>) -> AwsExecutor {
        AwsExecutor::new(&ExecutorSettings {
            aws: AwsSettings {
                binary: Some("/bin/sh".into()),
                region: region.map(str::to_owned),
                profile: profile.map(str::to_owned),
            },
            ..ExecutorSettings::default()
        })
    }

    fn azure(binary: &str, rg: Option<&str>) -> AzureExecutor {
        AzureExecutor::new(&ExecutorSettings {
            azure: AzureSettings {
                binary: Some(binary.into()),
                resource_group: rg.map(str::to_owned),
            },
            ..ExecutorSettings::default()
        })
    }

    #[test]
    fn aws_deploys_the_rendered_template_as_the_resources_stack() {
        let cmd = aws(Some("eu-central-1"), Some("homelab"))
            .deploy_cmd(&req("cloud-burst"), &Target::default());
        assert_eq!(
            cmd.argv[1..],
            [
                "cloudformation",
                "deploy",
                "--template-file",
                "/state/rendered-configs/aws/cloud-burst/cloudformation.json",
                "--stack-name",
                "homelabd-cloud-burst",
                "--no-fail-on-empty-changeset",
                "--region",
                "eu-central-1",
                "--profile",
                "homelab"
            ]
        );
        assert_eq!(cmd.cwd, Path::new("/state/work/aws/cloud-burst"));
        assert_eq!(cmd.env["AWS_PAGER"], "");
    }

    #[test]
    fn aws_destroy_deletes_the_stack_and_waits_for_it() {
        // The pool's region and profile win over [executors.aws].
        let pool = Target {
            region: Some("eu-west-1".into()),
            profile: Some("lab".into()),
            ..Target::default()
        };
        let argv = aws(Some("eu-central-1"), Some("homelab"))
            .deploy_cmd(&req("cloud-burst"), &pool)
            .argv;
        assert_eq!(
            argv[argv.len() - 4..],
            ["--region", "eu-west-1", "--profile", "lab"]
        );
        let cmds = aws(None, None).delete_cmds(&req("cloud-burst"), &Target::default());
        let argv: Vec<&[String]> = cmds.iter().map(|c| &c.argv[1..]).collect();
        assert_eq!(
            argv,
            [
                &[
                    "cloudformation",
                    "delete-stack",
                    "--stack-name",
                    "homelabd-cloud-burst"
                ][..],
                &[
                    "cloudformation",
                    "wait",
                    "stack-delete-complete",
                    "--stack-name",
                    "homelabd-cloud-burst"
                ][..],
            ]
        );
    }

    #[test]
    fn azure_securestring_parameters_come_on_stdin_only() {
        let ex = azure("/bin/sh", Some("rg-homelab"));
        let mut r = req("azure-runner");
        r.secrets
            .insert("ARM_PARAMETER_adminPassword", "Az-s3cret!");
        let cmd = ex.create_cmd(&r, false, &Target::default());
        assert_eq!(
            cmd.argv[cmd.argv.len() - 2..],
            ["--parameters", "@/dev/stdin"]
        );
        let stdin: serde_json::Value =
            serde_json::from_slice(cmd.stdin.as_deref().unwrap()).unwrap();
        assert_eq!(
            stdin,
            serde_json::json!({ "adminPassword": { "value": "Az-s3cret!" } })
        );
        let shown = format!("{cmd:?} {}", cmd.display());
        assert!(!shown.contains("Az-s3cret!"), "{shown}");
        // Without secrets nothing is read from stdin.
        assert!(
            ex.create_cmd(&req("azure-runner"), false, &Target::default())
                .stdin
                .is_none()
        );
    }

    #[test]
    fn azure_deploys_into_the_configured_resource_group() {
        let ex = azure("/bin/sh", Some("rg-homelab"));
        let none = Target::default();
        let cmd = ex.create_cmd(&req("azure-runner"), false, &none);
        assert_eq!(
            cmd.argv[1..],
            [
                "deployment",
                "group",
                "create",
                "--resource-group",
                "rg-homelab",
                "--name",
                "homelabd-azure-runner",
                "--template-file",
                "/state/rendered-configs/aws/azure-runner/azuredeploy.json"
            ]
        );
        let with = ex.create_cmd(&req("azure-runner"), true, &none);
        assert_eq!(
            with.argv[with.argv.len() - 2..],
            [
                "--parameters",
                "@/state/rendered-configs/aws/azure-runner/azuredeploy.parameters.json"
            ]
        );
        assert_eq!(
            ex.delete_cmd(&req("azure-runner"), &none).argv[1..],
            [
                "deployment",
                "group",
                "delete",
                "--resource-group",
                "rg-homelab",
                "--name",
                "homelabd-azure-runner"
            ]
        );
    }

    #[test]
    fn an_azure_destroy_says_the_resources_stay() {
        let ex = azure("/bin/sh", Some("rg-homelab"));
        let note = ex.destroy_note("azure-runner", &Target::default());
        assert_eq!(
            note,
            "azure: deleted the deployment record homelabd-azure-runner only; the resources it created in resource group rg-homelab were not removed: delete them by hand"
        );
        let deleted = ApplyReport {
            outcome: ApplyOutcome::Applied,
            runs: Vec::new(),
            endpoints: None,
        };
        assert_eq!(
            record_only(deleted, note.clone()).outcome,
            ApplyOutcome::NotApplied {
                reason: note.clone()
            }
        );
        let refused = ApplyReport {
            outcome: ApplyOutcome::Failed {
                error: "az exited with 1: AuthorizationFailed".into(),
            },
            runs: Vec::new(),
            endpoints: None,
        };
        assert_eq!(record_only(refused.clone(), note), refused);
    }

    #[test]
    fn long_azure_deployment_names_are_shortened_stably() {
        let resource = "a".repeat(63);
        let name = azure_deployment_name(&resource);
        assert_eq!(name.len(), 64);
        assert_eq!(name, azure_deployment_name(&resource));
        assert_ne!(name, azure_deployment_name(&"b".repeat(63)));
        assert_eq!(azure_deployment_name("web"), "homelabd-web");
    }

    #[test]
    fn availability_reasons_are_exact() {
        let missing = AwsExecutor::new(&ExecutorSettings {
            aws: AwsSettings {
                binary: Some("/nonexistent/aws".into()),
                ..AwsSettings::default()
            },
            ..ExecutorSettings::default()
        });
        assert_eq!(
            missing.unavailable(),
            Some("aws: aws not found at /nonexistent/aws ([executors.aws] binary)")
        );
        assert_eq!(aws(None, None).unavailable(), None);
        assert_eq!(
            azure("/nonexistent/az", Some("rg")).unavailable(),
            Some("azure: az not found at /nonexistent/az ([executors.azure] binary)")
        );
        assert_eq!(
            azure("/bin/sh", None).unavailable(),
            Some("azure: no resource group configured ([executors.azure] resource_group)")
        );
        assert_eq!(azure("/bin/sh", Some("rg")).unavailable(), None);
    }
}
