//! What every executor shares: the availability guard around apply and destroy, finding
//! a tool, and the start of an argument vector.
//!
//! An executor implements [`ToolExecutor`] (what its tool does when it can run) and gets
//! [`ProviderExecutor`] from it: the boxing for `dyn`, and the answer "not applied:
//! <reason>" without running anything when the executor is unavailable.

use super::{ApplyReport, ApplyRequest, BoxFuture, ProviderExecutor, Runner, find_program};
use std::future::Future;
use std::path::{Path, PathBuf};

/// The tool work of one executor; every `ToolExecutor` is a [`ProviderExecutor`].
pub trait ToolExecutor: Send + Sync {
    /// [`ProviderExecutor::name`].
    fn executor_name(&self) -> &str;

    /// [`ProviderExecutor::unavailable`]: while this is `Some`, neither
    /// [`ToolExecutor::apply_with_tool`] nor [`ToolExecutor::destroy_with_tool`] is called.
    fn unavailable_reason(&self) -> Option<&str>;

    /// [`ProviderExecutor::apply`] of an available executor.
    fn apply_with_tool(
        &self,
        req: &ApplyRequest,
        runner: &Runner,
    ) -> impl Future<Output = ApplyReport> + Send;

    /// [`ProviderExecutor::destroy`] of an available executor.
    fn destroy_with_tool(
        &self,
        req: &ApplyRequest,
        runner: &Runner,
    ) -> impl Future<Output = ApplyReport> + Send;
}

impl<T: ToolExecutor> ProviderExecutor for T {
    fn name(&self) -> &str {
        self.executor_name()
    }

    fn unavailable(&self) -> Option<&str> {
        self.unavailable_reason()
    }

    fn apply<'a>(
        &'a self,
        req: &'a ApplyRequest,
        runner: &'a Runner,
    ) -> BoxFuture<'a, ApplyReport> {
        unless_unavailable(self, self.apply_with_tool(req, runner))
    }

    fn destroy<'a>(
        &'a self,
        req: &'a ApplyRequest,
        runner: &'a Runner,
    ) -> BoxFuture<'a, ApplyReport> {
        unless_unavailable(self, self.destroy_with_tool(req, runner))
    }
}

/// `body`, boxed, or — when `executor` is unavailable — a report that it was not applied
/// with the reason. `body` is a future that has not started, so dropping it runs nothing.
fn unless_unavailable<'a, T: ToolExecutor>(
    executor: &T,
    body: impl Future<Output = ApplyReport> + Send + 'a,
) -> BoxFuture<'a, ApplyReport> {
    match executor.unavailable_reason() {
        Some(reason) => Box::pin(std::future::ready(ApplyReport::not_applied(reason))),
        None => Box::pin(body),
    }
}

/// A tool that is not installed where homelabd looks for it; its message is the
/// availability reason, naming the `[executors.<section>] binary` setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolMissing {
    /// The configured `binary` is not there.
    #[error("{prefix}: {tool} not found at {configured} ([executors.{section}] binary)")]
    NotAtConfigured {
        prefix: String,
        tool: String,
        configured: String,
        section: String,
    },
    /// Not configured, and not in `PATH`.
    #[error("{prefix}: {tool} not found in PATH (install it or set [executors.{section}] binary)")]
    NotInPath {
        prefix: String,
        tool: String,
        section: String,
    },
}

/// Finds a tool: `configured` (a path or a name in `PATH`) or `default` in `PATH`. The
/// error names `prefix` (the provider) and the `[executors.<section>] binary` setting.
pub(crate) fn locate_tool(
    prefix: &str,
    configured: Option<&str>,
    default: &str,
    section: &str,
) -> Result<PathBuf, ToolMissing> {
    match configured {
        Some(program) => find_program(program).ok_or_else(|| ToolMissing::NotAtConfigured {
            prefix: prefix.to_owned(),
            tool: default.to_owned(),
            configured: program.to_owned(),
            section: section.to_owned(),
        }),
        None => find_program(default).ok_or_else(|| ToolMissing::NotInPath {
            prefix: prefix.to_owned(),
            tool: default.to_owned(),
            section: section.to_owned(),
        }),
    }
}

/// The argument vector `program args…` (the program as the path it was found at).
pub(crate) fn argv(program: &Path, args: &[&str]) -> Vec<String> {
    std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ApplyOutcome;
    use crate::model::Provider;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// Counts the calls that reach the tool.
    struct Counting {
        unavailable: Option<String>,
        calls: AtomicUsize,
    }

    impl ToolExecutor for Counting {
        fn executor_name(&self) -> &str {
            "counting"
        }

        fn unavailable_reason(&self) -> Option<&str> {
            self.unavailable.as_deref()
        }

        async fn apply_with_tool(&self, _: &ApplyRequest, _: &Runner) -> ApplyReport {
            self.calls.fetch_add(1, Ordering::SeqCst);
            ApplyReport::nothing_to_do()
        }

        async fn destroy_with_tool(&self, _: &ApplyRequest, _: &Runner) -> ApplyReport {
            self.calls.fetch_add(1, Ordering::SeqCst);
            ApplyReport::failed("destroy refused")
        }
    }

    fn req() -> ApplyRequest {
        ApplyRequest {
            resource: "web".into(),
            provider: Provider::Docker,
            rendered_dir: "/r/docker/web".into(),
            work_dir: "/s/work/docker/web".into(),
            revision: "abc".into(),
            secrets: Default::default(),
        }
    }

    #[tokio::test]
    async fn an_unavailable_executor_answers_with_the_reason_and_never_reaches_the_tool() {
        let ex = Counting {
            unavailable: Some("counting: not installed".into()),
            calls: AtomicUsize::new(0),
        };
        let runner = Runner::new(Duration::from_secs(1), CancellationToken::new());
        for report in [
            ex.apply(&req(), &runner).await,
            ex.destroy(&req(), &runner).await,
        ] {
            assert_eq!(report, ApplyReport::not_applied("counting: not installed"));
        }
        assert_eq!(ex.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_available_executor_runs_its_tool_work() {
        let ex = Counting {
            unavailable: None,
            calls: AtomicUsize::new(0),
        };
        let runner = Runner::new(Duration::from_secs(1), CancellationToken::new());
        assert_eq!(
            ex.apply(&req(), &runner).await.outcome,
            ApplyOutcome::Applied
        );
        assert_eq!(
            ex.destroy(&req(), &runner).await.outcome,
            ApplyOutcome::Failed {
                error: "destroy refused".into()
            }
        );
        assert_eq!(ex.calls.load(Ordering::SeqCst), 2);
        assert_eq!(ex.name(), "counting");
    }

    #[test]
    fn a_missing_tool_names_the_setting_to_fix() {
        assert_eq!(
            locate_tool("aws", Some("/nonexistent/aws"), "aws", "aws")
                .unwrap_err()
                .to_string(),
            "aws: aws not found at /nonexistent/aws ([executors.aws] binary)"
        );
        assert_eq!(
            locate_tool("proxmox", None, "homelabd-no-such-tool", "terraform")
                .unwrap_err()
                .to_string(),
            "proxmox: homelabd-no-such-tool not found in PATH (install it or set [executors.terraform] binary)"
        );
        assert_eq!(
            locate_tool("x", Some("/bin/sh"), "sh", "x"),
            Ok(PathBuf::from("/bin/sh"))
        );
    }

    #[test]
    fn argv_starts_with_the_program_path() {
        assert_eq!(
            argv(Path::new("/usr/bin/kubectl"), &["apply", "-f", "a.yaml"]),
            ["/usr/bin/kubectl", "apply", "-f", "a.yaml"]
        );
    }
}
