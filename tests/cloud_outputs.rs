//! Where a cloud deployment is reached: after `homelabd apply` of the example's
//! `cloud-burst` (aws-ec2 chart, CloudFormation) and `azure-runner` (azure-vm chart, ARM),
//! the address outputs of the stack and of the deployment are the resources' endpoints,
//! and `homelabd status` shows them.
//!
//! No AWS or Azure account is reachable from the build machines, so `aws` and `az` are
//! stand-in programs that answer the calls homelabd makes with the output the AWS CLI v2
//! and the Azure CLI document (`describe-stacks --query Stacks[0].Outputs --output json`
//! is a list of `OutputKey`/`OutputValue`; `az deployment group show --query
//! properties.outputs` is an object of `{type, value}`) and log their arguments. Render,
//! placement, the store, the apply request and status are the real daemon's.

mod support;

use homelabd::store::{ResourceRecord, Store};
use std::path::Path;
use support::daemon::{DaemonCommand, wait_for_store};
use support::{homelabd, repo_with, stderr, stdout};

const AWS: &str = r#"#!/bin/sh
echo "$*" >> "$0.calls"
case "$2" in
  deploy) echo "Successfully created/updated stack - homelabd-cloud-burst" ;;
  describe-stacks)
    if [ -e "$0.deny" ]; then
      echo "An error occurred (AccessDenied) when calling the DescribeStacks operation" >&2
      exit 254
    fi
    echo '[{"OutputKey": "InstanceId", "OutputValue": "i-0abc123", "Description": "EC2 instance id"},'
    echo ' {"OutputKey": "PrivateIp", "OutputValue": "10.0.1.25", "Description": "Private IPv4 address"}]' ;;
  *) echo "aws: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

const AZ: &str = r#"#!/bin/sh
echo "$*" >> "$0.calls"
case "$3" in
  create) echo '{"name": "homelabd-azure-runner", "properties": {"provisioningState": "Succeeded"}}' ;;
  show) echo '{"vmSize": {"type": "String", "value": "Standard_B2s"}, "privateIp": {"type": "String", "value": "10.1.0.4"}}' ;;
  *) echo "az: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

fn install(dir: &Path, name: &str, script: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn example_definition(name: &str) -> (&str, String) {
    let path = support::example_repo().join(format!("definitions/ci/{name}.yaml"));
    (name, std::fs::read_to_string(path).unwrap())
}

fn calls(tool: &str) -> String {
    std::fs::read_to_string(format!("{tool}.calls")).unwrap_or_default()
}

async fn applied_record(url: &str, daemon: &support::daemon::Daemon, name: &str) -> ResourceRecord {
    wait_for_store(
        url,
        daemon,
        60,
        &format!("{name}'s address recorded"),
        async |s: &Store| s.resource(name).await.ok().flatten(),
        |r: &ResourceRecord| r.address.is_some(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_outputs_of_stacks_and_deployments_are_shown_as_endpoints() {
    let repo = repo_with(&[
        example_definition("cloud-burst"),
        example_definition("azure-runner"),
    ]);
    let tools = tempfile::tempdir().unwrap();
    let aws = install(tools.path(), "aws", AWS);
    let az = install(tools.path(), "az", AZ);
    let state = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", state.path().join("homelabd.db").display());
    let config = format!(
        "[executors.aws]\nbinary = \"{aws}\"\n\n[executors.azure]\nbinary = \"{az}\"\nresource_group = \"rg-default\"\n"
    );
    let daemon = DaemonCommand::new(state.path())
        .repo(repo.path())
        .database(&db)
        .config(&config)
        .spawn();
    let state_dir = state.path().display().to_string();
    let config_file = state.path().join("config.toml").display().to_string();
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "--state-dir",
            &state_dir,
            "--database-url",
            &db,
            "--config",
            &config_file,
        ]);
        homelabd(&all)
    };

    // Both are `policy.apply: manual`: rendered, then applied on request.
    wait_for_store(
        &db,
        &daemon,
        60,
        "both rendered",
        async |s: &Store| s.resources().await.ok(),
        |rs: &Vec<ResourceRecord>| rs.len() == 2,
    )
    .await;
    let out = cli(&["apply", "cloud-burst", "azure-runner", "--timeout", "60"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let burst = applied_record(&db, &daemon, "cloud-burst").await;
    assert_eq!(burst.address.as_deref(), Some("10.0.1.25"), "{burst:#?}");
    let names: Vec<_> = burst.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["PrivateIp"], "ids and sizes are no endpoints");
    let runner = applied_record(&db, &daemon, "azure-runner").await;
    assert_eq!(runner.address.as_deref(), Some("10.1.0.4"), "{runner:#?}");

    // The outputs were read where the resources were deployed: the pool's region and
    // resource group.
    let aws_calls = calls(&aws);
    assert!(
        aws_calls.contains(
            "cloudformation describe-stacks --stack-name homelabd-cloud-burst --query Stacks[0].Outputs --output json --region eu-west-1"
        ),
        "{aws_calls}"
    );
    let az_calls = calls(&az);
    assert!(
        az_calls.contains(
            "deployment group show --resource-group rg-homelab-weu --name homelabd-azure-runner --query properties.outputs --output json"
        ),
        "{az_calls}"
    );

    let status = cli(&["status"]);
    let text = stdout(&status);
    for (name, address) in [("cloud-burst", "10.0.1.25"), ("azure-runner", "10.1.0.4")] {
        assert!(
            text.lines()
                .any(|l| l.contains(name) && l.contains(address)),
            "status shows {name} at {address}:\n{text}{}",
            stderr(&status)
        );
    }

    // Outputs that cannot be read fail the apply, with the CLI's reason, and the next
    // apply reads them again.
    std::fs::write(format!("{aws}.deny"), "").unwrap();
    let out = cli(&["apply", "cloud-burst", "--timeout", "60"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("outputs could not be read") && said.contains("AccessDenied"),
        "{said}"
    );
}
