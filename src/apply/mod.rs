//! Apply: hands a rendered resource to the real tool of its provider.
//!
//! One [`ProviderExecutor`] per provider, all behind one interface; each runs its tool
//! through [`process::Runner`] (argument vectors, timeout, process-group kill). Which
//! executors can work is detected once at start ([`Executors::detect`]): a provider whose
//! tool or target is missing answers with the reason, and the loop records the resource
//! as "rendered, not applied: <reason>" — never a silent skip.
//!
//! Rendered directories are replaced atomically on every render, so tools keep their own
//! state (terraform state, plan files, `.terraform/`) in a per-resource *work directory*
//! under the state dir, never in the rendered directory.

pub mod ansible;
pub mod cloud;
mod common;
pub mod docker;
pub mod docker_adopt;
pub mod kubernetes;
pub mod process;
mod settings;
pub mod terraform;

pub use common::ToolExecutor;
pub use process::{Cmd, CmdRun, Interruption, Runner};
pub use settings::{
    AnsibleSettings, AwsSettings, AzureSettings, DockerSettings, ExecutorSettings,
    KubernetesSettings, TerraformSettings,
};

use crate::model::Provider;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, so executors can live behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to apply or destroy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyRequest {
    pub resource: String,
    pub provider: Provider,
    /// The rendered directory (`rendered-configs/<provider>/<resource>/`): read only.
    pub rendered_dir: PathBuf,
    /// The resource's own directory for tool state, kept across renders
    /// (`<state-dir>/work/<provider>/<resource>/`); created by the loop before the call.
    pub work_dir: PathBuf,
    /// The commit whose render is applied (for logs and labels).
    pub revision: String,
    /// The secret values the resource's bindings name, as the variables its tool gets
    /// (empty for most resources). Executors put them in [`Cmd::secret_env`] only.
    pub secrets: crate::secrets::SecretEnv,
}

/// How an apply or destroy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The provider's tool applied (or destroyed) what was asked.
    Applied,
    /// Not attempted, with the reason shown to the user ("docker: not installed").
    NotApplied { reason: String },
    /// The tool ran and failed; `error` is a one-line summary (details in the runs).
    Failed { error: String },
}

/// The result of one apply: its outcome and every command it ran, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub outcome: ApplyOutcome,
    pub runs: Vec<CmdRun>,
    /// Where the deployment can be reached, when the tool said (`None`: it did not;
    /// the observers may).
    pub endpoints: Option<Vec<crate::reconcile::endpoint::Endpoint>>,
}

impl ApplyReport {
    /// A report for an apply that was not attempted.
    pub fn not_applied(reason: impl Into<String>) -> ApplyReport {
        ApplyReport {
            outcome: ApplyOutcome::NotApplied {
                reason: reason.into(),
            },
            runs: Vec::new(),
            endpoints: None,
        }
    }

    /// A report for an apply that failed before any tool ran.
    pub fn failed(error: impl Into<String>) -> ApplyReport {
        ApplyReport::failed_after(error, Vec::new())
    }

    /// A report for an apply that failed after running `runs`.
    pub fn failed_after(error: impl Into<String>, runs: Vec<CmdRun>) -> ApplyReport {
        ApplyReport {
            outcome: ApplyOutcome::Failed {
                error: error.into(),
            },
            runs,
            endpoints: None,
        }
    }

    /// A report for an apply or destroy that had nothing to do (nothing was ever
    /// applied): done, without running a command.
    pub fn nothing_to_do() -> ApplyReport {
        ApplyReport {
            outcome: ApplyOutcome::Applied,
            runs: Vec::new(),
            endpoints: None,
        }
    }

    /// Runs `cmds` in order through `runner`, stopping at the first failure.
    pub async fn run_all(runner: &Runner, cmds: &[Cmd]) -> ApplyReport {
        let mut runs = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            let run = runner.run(cmd).await;
            let ok = run.success();
            let error = (!ok).then(|| run.failure_summary());
            runs.push(run);
            if let Some(error) = error {
                return ApplyReport::failed_after(error, runs);
            }
        }
        ApplyReport {
            outcome: ApplyOutcome::Applied,
            runs,
            endpoints: None,
        }
    }

    /// The last command that ran (the one whose tails `status` shows).
    pub fn last_run(&self) -> Option<&CmdRun> {
        self.runs.last()
    }
}

/// Applies and destroys rendered resources of one provider with its real tool.
///
/// The executors here implement [`ToolExecutor`], which provides this trait with the
/// availability guard.
pub trait ProviderExecutor: Send + Sync {
    /// The name recorded in `apply_runs.executor` ("docker-compose", "terraform", …).
    fn name(&self) -> &str;

    /// Why this executor cannot work here (tool not found, target not configured), or
    /// `None` when it can. Decided at construction, not per call.
    fn unavailable(&self) -> Option<&str>;

    /// Brings the provider in line with the rendered files. Must be idempotent: after a
    /// crash the same apply runs again.
    fn apply<'a>(&'a self, req: &'a ApplyRequest, runner: &'a Runner)
    -> BoxFuture<'a, ApplyReport>;

    /// Removes what `apply` created (prune).
    fn destroy<'a>(
        &'a self,
        req: &'a ApplyRequest,
        runner: &'a Runner,
    ) -> BoxFuture<'a, ApplyReport>;
}

/// The executors of every provider, as detected at start.
#[derive(Clone, Default)]
pub struct Executors {
    by_provider: BTreeMap<Provider, Arc<dyn ProviderExecutor>>,
}

impl std::fmt::Debug for Executors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.by_provider
                    .iter()
                    .map(|(p, e)| (p.as_str(), e.unavailable().unwrap_or(e.name()))),
            )
            .finish()
    }
}

impl Executors {
    /// No executors at all: every provider answers "no executor configured".
    pub fn none() -> Executors {
        Executors::default()
    }

    /// Registers `executor` for `provider` (replacing any earlier one).
    pub fn with(mut self, provider: Provider, executor: Arc<dyn ProviderExecutor>) -> Executors {
        self.by_provider.insert(provider, executor);
        self
    }

    /// Detects every provider's tool and target from `settings` (runs short probes such
    /// as `docker version`: call it off the async runtime).
    pub fn detect(settings: &ExecutorSettings) -> Executors {
        let vm = |provider: Provider, what: &str| {
            let missing = terraform::provider_credentials(provider).is_empty();
            let reason = missing.then(|| {
                let vars = terraform::credential_variables(provider).join(" / ");
                format!("{provider}: no {what} credentials for terraform ({vars}, or the systemd credentials of those names)")
            });
            terraform::terraform_executor(provider, settings, reason)
        };
        Executors::none()
            .with(
                Provider::Docker,
                Arc::new(docker::DockerExecutor::detect(&settings.docker)),
            )
            .with(Provider::Proxmox, vm(Provider::Proxmox, "Proxmox VE API"))
            .with(Provider::Vmware, vm(Provider::Vmware, "vSphere"))
            .with(
                Provider::Kubernetes,
                kubernetes::kubernetes_executor(settings),
            )
            .with(Provider::Aws, cloud::aws_executor(settings))
            .with(Provider::Azure, cloud::azure_executor(settings))
    }

    /// The executor for `provider`, or the reason it cannot apply.
    pub fn get(&self, provider: Provider) -> Result<&Arc<dyn ProviderExecutor>, Unavailable> {
        match self.by_provider.get(&provider) {
            Some(e) => match e.unavailable() {
                Some(reason) => Err(Unavailable::Tool(reason.to_owned())),
                None => Ok(e),
            },
            None => Err(Unavailable::NoExecutor(provider)),
        }
    }

    /// Each provider with its executor's name or the reason it cannot apply (for status
    /// and metrics). Both are text for people: the reason becomes "rendered, not applied:
    /// <reason>", a metrics label and `/readyz` JSON, and nothing decides on its content.
    // A String reason: shown in status JSON, metrics labels and "rendered, not applied"; nothing decides on it.
    pub fn availability(&self) -> BTreeMap<Provider, Result<String, String>> {
        Provider::ALL
            .iter()
            .map(|&p| {
                let available = self.get(p).map(|e| e.name().to_owned());
                (p, available.map_err(|why| why.to_string()))
            })
            .collect()
    }
}

/// Why a provider's resources cannot be applied by this daemon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The executor's tool is missing or unusable, in the executor's words.
    #[error("{0}")]
    Tool(String),
    /// No executor is configured for the provider.
    #[error("no executor for {0}")]
    NoExecutor(Provider),
}

/// Finds `program` in `PATH` (what `Command` would run), for availability checks.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
