//! The command line: argument parsing and the commands. This is the edge of the program,
//! so errors are `anyhow` here and become exit codes in `main`.

/// `println!` that returns the write error (`?`) instead of panicking: a closed pipe
/// (`homelabd plan | head -1`) ends the command quietly (see [`is_broken_pipe`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

mod adopt_cmd;
mod apply_cmds;
mod args;
mod audit_cmd;
mod daemon_cmds;
mod mcp_cmd;
mod output;
mod pipeline_cmds;
mod preview_cmd;
mod rollback_cmd;
mod secret_cmd;
mod signature;

pub use args::{Cli, Command};

/// Exit status of a command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything valid.
    Ok = 0,
    /// At least one document or resource is invalid.
    Invalid = 1,
}

/// An error from the user's invocation (exit 2) rather than from the work (exit 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Did the command stop because the reader of its output went away (EPIPE)? Then it
/// exits quietly with success, like ripgrep: `homelabd plan | head -1` is not an error.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(a) => pipeline_cmds::validate(a),
        Command::Render(a) => pipeline_cmds::render(a),
        Command::Plan(a) => pipeline_cmds::plan(a),
        Command::Daemon(a) => daemon_cmds::daemon(a),
        Command::Status(a) => daemon_cmds::status(a),
        Command::Migrate(a) => daemon_cmds::migrate(a),
        Command::Reconcile(a) => daemon_cmds::reconcile(a),
        Command::Apply(a) => apply_cmds::apply(a),
        Command::Rollback(a) => rollback_cmd::rollback(a),
        Command::Drift(a) => apply_cmds::drift(a),
        Command::Mcp(a) => mcp_cmd::mcp(a),
        Command::Preview(a) => preview_cmd::preview(a),
        Command::Secret(a) => secret_cmd::secret(a),
        Command::Audit(a) => audit_cmd::audit(a),
        Command::Adopt(a) => adopt_cmd::adopt(a),
    }
}
