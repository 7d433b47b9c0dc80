//! Running one external tool: an argument vector (never a shell string), an explicit
//! working directory and environment, stdout and stderr read concurrently into bounded
//! tails, a timeout, and a kill of the whole process group on timeout or shutdown so a
//! tool's children (terraform's providers, ansible's forks) never outlive it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// How many bytes of each stream are kept (the end of the output, where errors are).
pub const TAIL_BYTES: usize = 8 * 1024;

/// One command to run. `Debug` shows the names of the secret variables, not their values.
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    /// `argv[0]` is the program (a name looked up in `PATH`, or a path).
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Variables set on top of the minimal inherited environment (see [`Runner`]).
    pub env: BTreeMap<String, String>,
    /// Variables whose values are secrets: passed to the tool, never logged or stored.
    pub secret_env: BTreeMap<String, String>,
    /// How many bytes of each output stream to keep (the end). [`TAIL_BYTES`] for
    /// tools whose output is a log; more for tools whose output is data to parse.
    pub keep_bytes: usize,
    /// What the tool reads on stdin (a manifest carrying secret values: never logged or
    /// stored, wiped when dropped); `None`: stdin is `/dev/null`.
    pub stdin: Option<zeroize::Zeroizing<Vec<u8>>>,
    /// Secret values in `stdin`, replaced by `***` in the captured output like those of
    /// `secret_env`.
    pub stdin_values: Vec<zeroize::Zeroizing<String>>,
}

impl Cmd {
    /// A command with `argv` run in `cwd`.
    pub fn new<I, S>(argv: I, cwd: &Path) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: cwd.to_path_buf(),
            env: BTreeMap::new(),
            secret_env: BTreeMap::new(),
            keep_bytes: TAIL_BYTES,
            stdin: None,
            stdin_values: Vec::new(),
        }
    }

    /// Gives the tool `input` on stdin, which carries the values of `secrets`: a tool that
    /// echoes its input has them replaced by `***` in what is kept.
    pub fn stdin_secrets(
        mut self,
        input: zeroize::Zeroizing<Vec<u8>>,
        secrets: &crate::secrets::SecretEnv,
    ) -> Cmd {
        self.stdin = Some(input);
        self.stdin_values.extend(
            secrets
                .iter()
                .map(|(_, v)| zeroize::Zeroizing::new(v.to_owned())),
        );
        self
    }

    /// Keeps up to `bytes` of each stream instead of a log tail (for output to parse).
    pub fn keep_output(mut self, bytes: usize) -> Cmd {
        self.keep_bytes = bytes;
        self
    }

    /// Adds the variables of `secrets` to [`Cmd::secret_env`].
    pub fn secrets(mut self, secrets: &crate::secrets::SecretEnv) -> Cmd {
        for (k, v) in secrets.iter() {
            self.secret_env.insert(k.to_owned(), v.to_owned());
        }
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.env.insert(key.to_owned(), value.into());
        self
    }

    /// The command line for logs and the store: arguments as given (they never carry
    /// secrets; those go through `secret_env`).
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cmd")
            .field("argv", &self.argv)
            .field("cwd", &self.cwd)
            .field("env", &self.env)
            .field("secret_env", &self.secret_env.keys().collect::<Vec<_>>())
            .field("keep_bytes", &self.keep_bytes)
            .field("stdin_bytes", &self.stdin.as_ref().map(|s| s.len()))
            .finish()
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CmdRun {
    pub argv: Vec<String>,
    /// The exit code; `None` when the tool was killed or could not start.
    pub exit_code: Option<i32>,
    pub duration: Duration,
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// Why the command did not finish on its own, if it did not.
    pub ended_by: Option<Interruption>,
    /// The program could not be started (not found, not executable).
    pub spawn_error: Option<String>,
}

/// A command stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interruption {
    Timeout,
    Shutdown,
}

impl CmdRun {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// A one-line account of a failure: why it ended and the last line of stderr.
    pub fn failure_summary(&self) -> String {
        let program = self.argv.first().map(String::as_str).unwrap_or("?");
        let last = last_line(&self.stderr_tail)
            .or_else(|| last_line(&self.stdout_tail))
            .unwrap_or("");
        let head = match (&self.spawn_error, self.ended_by, self.exit_code) {
            (Some(e), _, _) => format!("{program}: cannot start: {e}"),
            (None, Some(Interruption::Timeout), _) => {
                format!("{program} timed out after {:?}", self.duration)
            }
            (None, Some(Interruption::Shutdown), _) => format!("{program} stopped by shutdown"),
            (None, None, Some(code)) => format!("{program} exited with {code}"),
            (None, None, None) => format!("{program} killed by a signal"),
        };
        if last.is_empty() {
            head
        } else {
            format!("{head}: {last}")
        }
    }
}

fn last_line(s: &str) -> Option<&str> {
    s.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// Runs commands with one timeout and one cancellation (the daemon's shutdown).
#[derive(Debug, Clone)]
pub struct Runner {
    pub timeout: Duration,
    pub cancel: CancellationToken,
    /// Inherited variables (besides `PATH`, `HOME`, `LANG`, and those named here); the
    /// rest of the daemon's environment — its own secrets included — is not passed on.
    pub inherit: Vec<String>,
}

/// Variables every tool gets from the daemon's environment.
const BASE_ENV: [&str; 9] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "USER",
    "DOCKER_HOST",
    "KUBECONFIG",
    // An ssh:// Docker engine authenticates with the daemon user's agent.
    "SSH_AUTH_SOCK",
];

impl Runner {
    /// A runner with `timeout` per command.
    pub fn new(timeout: Duration, cancel: CancellationToken) -> Runner {
        Runner {
            timeout,
            cancel,
            inherit: Vec::new(),
        }
    }

    /// Runs `cmd` to completion, timeout or cancellation. Never panics on the tool's
    /// behaviour; every way it can end is described by the returned [`CmdRun`].
    pub async fn run(&self, cmd: &Cmd) -> CmdRun {
        let started = Instant::now();
        let mut run = CmdRun {
            argv: cmd.argv.clone(),
            exit_code: None,
            duration: Duration::ZERO,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            ended_by: None,
            spawn_error: None,
        };
        let Some((program, args)) = cmd.argv.split_first() else {
            run.spawn_error = Some("empty command".to_owned());
            return run;
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&cmd.cwd)
            .env_clear()
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a kill reaches every child it started.
            .process_group(0)
            .kill_on_drop(true);
        for key in BASE_ENV
            .iter()
            .copied()
            .chain(self.inherit.iter().map(String::as_str))
        {
            if let Ok(value) = std::env::var(key) {
                command.env(key, value);
            }
        }
        command.envs(&cmd.env).envs(&cmd.secret_env);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                run.spawn_error = Some(e.to_string());
                run.duration = started.elapsed();
                return run;
            }
        };
        let pid = child.id();
        if let (Some(input), Some(mut pipe)) = (cmd.stdin.clone(), child.stdin.take()) {
            // Written concurrently with the output readers, so a tool that answers before
            // it has read everything cannot deadlock the pipes; dropped (closed) when done.
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = pipe.write_all(&input).await;
            });
        }
        // A tool may echo what it was given (an error quoting its configuration): every
        // secret value it got is replaced by `***` before output is kept anywhere.
        let scrub: std::sync::Arc<Vec<Vec<u8>>> = std::sync::Arc::new(
            cmd.secret_env
                .values()
                .chain(cmd.stdin_values.iter().map(|v| &**v))
                .filter(|v| !v.is_empty())
                .map(|v| v.as_bytes().to_vec())
                .collect(),
        );
        let stdout = tokio::spawn(read_tail(
            child.stdout.take(),
            cmd.keep_bytes,
            scrub.clone(),
        ));
        let stderr = tokio::spawn(read_tail(
            child.stderr.take(),
            cmd.keep_bytes.min(TAIL_BYTES),
            scrub,
        ));
        let status = tokio::select! {
            status = child.wait() => status.ok(),
            _ = tokio::time::sleep(self.timeout) => {
                run.ended_by = Some(Interruption::Timeout);
                None
            }
            _ = self.cancel.cancelled() => {
                run.ended_by = Some(Interruption::Shutdown);
                None
            }
        };
        if run.ended_by.is_some() {
            kill_group(pid);
            let _ = child.wait().await;
        }
        // After the group is gone the pipes close, so the readers finish.
        run.stdout_tail = stdout.await.unwrap_or_default();
        run.stderr_tail = stderr.await.unwrap_or_default();
        run.exit_code = status.and_then(|s| s.code());
        run.duration = started.elapsed();
        run
    }
}

/// SIGKILL to the process group led by `pid` (the tool and everything it started).
fn kill_group(pid: Option<u32>) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // ESRCH (already gone) is fine: the point is that nothing of it survives.
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Replaces every occurrence of each of `secrets` in `buf` with `***`.
pub fn scrub(buf: &mut Vec<u8>, secrets: &[Vec<u8>]) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let mut out: Vec<u8> = Vec::with_capacity(buf.len());
        let mut i = 0;
        let mut found = false;
        while i < buf.len() {
            if buf[i..].starts_with(secret) {
                out.extend_from_slice(b"***");
                i += secret.len();
                found = true;
            } else {
                out.push(buf[i]);
                i += 1;
            }
        }
        if found {
            *buf = out;
        }
    }
}

/// Reads a stream to its end, keeping only the last `keep` bytes, with `secrets`
/// scrubbed. The buffer is scrubbed before each cut, so a value is never split by the
/// cut (only one still arriving sits at the end, and it is whole by the next scrub).
async fn read_tail<R: AsyncRead + Unpin>(
    stream: Option<R>,
    keep: usize,
    secrets: std::sync::Arc<Vec<Vec<u8>>>,
) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * keep {
                    scrub(&mut tail, &secrets);
                    if tail.len() > 2 * keep {
                        tail.drain(..tail.len() - keep);
                        truncated = true;
                    }
                }
            }
        }
    }
    scrub(&mut tail, &secrets);
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
        truncated = true;
    }
    let text = String::from_utf8_lossy(&tail);
    if truncated {
        // Start at a line boundary so the first line is not a fragment.
        let start = text.find('\n').map(|i| i + 1).unwrap_or(0);
        format!("[… earlier output cut]\n{}", &text[start..])
    } else {
        text.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(timeout_ms: u64) -> Runner {
        Runner::new(Duration::from_millis(timeout_ms), CancellationToken::new())
    }

    #[tokio::test]
    async fn captures_exit_code_and_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = Cmd::new(["sh", "-c", "echo out; echo err >&2; exit 3"], dir.path());
        let run = runner(10_000).run(&cmd).await;
        assert_eq!(run.exit_code, Some(3));
        assert_eq!(run.stdout_tail, "out\n");
        assert_eq!(run.stderr_tail, "err\n");
        assert_eq!(run.failure_summary(), "sh exited with 3: err");
    }

    #[tokio::test]
    async fn stdin_reaches_the_tool_and_its_secret_values_are_scrubbed_from_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("stdin-as-received");
        let mut secrets = crate::secrets::SecretEnv::default();
        secrets.insert("DB_PASSWORD", "s3cr3t-on-stdin");
        let input = b"stringData: {DB_PASSWORD: s3cr3t-on-stdin}\n".to_vec();
        // `tee` writes what it read to a file (the tool got it) and echoes it (the
        // output homelabd keeps must not have it).
        let cmd = Cmd::new(["tee", kept.to_str().unwrap()], dir.path())
            .stdin_secrets(zeroize::Zeroizing::new(input.clone()), &secrets);
        assert!(!format!("{cmd:?}").contains("s3cr3t"));
        let run = runner(10_000).run(&cmd).await;
        assert!(run.success(), "{run:?}");
        assert_eq!(std::fs::read(&kept).unwrap(), input);
        assert_eq!(run.stdout_tail, "stringData: {DB_PASSWORD: ***}\n");
    }

    #[tokio::test]
    async fn a_hanging_tool_and_its_children_are_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-survived");
        // The child outlives its parent unless the whole group is killed.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let run = runner(300)
            .run(&Cmd::new(["sh", "-c", &script], dir.path()))
            .await;
        assert_eq!(run.ended_by, Some(Interruption::Timeout));
        assert!(run.duration < Duration::from_secs(5), "{:?}", run.duration);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(
            !marker.exists(),
            "a child of the timed-out tool kept running"
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let run = runner(1000)
            .run(&Cmd::new(["homelabd-no-such-tool"], dir.path()))
            .await;
        assert!(run.spawn_error.is_some());
        assert!(run.failure_summary().contains("cannot start"));
    }

    #[tokio::test]
    async fn the_daemons_environment_is_not_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = Cmd::new(["sh", "-c", "env"], dir.path()).env("TF_IN_AUTOMATION", "1");
        // CARGO_PKG_NAME is set for this test process; tools must not inherit it.
        let run = runner(5000).run(&cmd).await;
        assert!(run.stdout_tail.contains("TF_IN_AUTOMATION=1"));
        assert!(run.stdout_tail.contains("PATH="));
        assert!(!run.stdout_tail.contains("CARGO_PKG_NAME="));
    }

    #[tokio::test]
    async fn secret_values_are_scrubbed_from_both_tails_even_in_long_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Cmd::new(
            [
                "sh",
                "-c",
                "for i in $(seq 1 3000); do echo \"line $i $DB_PASSWORD\"; done; \
                 echo \"failed: password=$DB_PASSWORD\" >&2; exit 1",
            ],
            dir.path(),
        );
        cmd.secret_env
            .insert("DB_PASSWORD".into(), "s3cr3t-Value".into());
        assert!(!format!("{cmd:?}").contains("s3cr3t-Value"));
        let run = runner(10_000).run(&cmd).await;
        assert!(
            run.stdout_tail.contains("line 3000 ***"),
            "{}",
            run.stdout_tail
        );
        assert!(!run.stdout_tail.contains("s3cr3t"), "{}", run.stdout_tail);
        assert_eq!(run.stderr_tail, "failed: password=***\n");
        assert!(!run.failure_summary().contains("s3cr3t"));
    }

    #[test]
    fn scrub_replaces_every_occurrence() {
        let mut buf = b"aXYbXYXYc".to_vec();
        scrub(&mut buf, &[b"XY".to_vec(), Vec::new()]);
        assert_eq!(buf, b"a***b******c");
    }

    #[tokio::test]
    async fn long_output_keeps_only_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = Cmd::new(["sh", "-c", "seq 1 20000; echo last-line"], dir.path());
        let run = runner(10_000).run(&cmd).await;
        assert!(run.stdout_tail.len() <= TAIL_BYTES + 64);
        assert!(run.stdout_tail.starts_with("[… earlier output cut]\n"));
        assert!(run.stdout_tail.ends_with("last-line\n"));
    }

    #[tokio::test]
    async fn shutdown_cancels_a_running_tool() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(60_000);
        let cancel = r.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.cancel();
        });
        let run = r.run(&Cmd::new(["sleep", "30"], dir.path())).await;
        assert_eq!(run.ended_by, Some(Interruption::Shutdown));
    }
}
