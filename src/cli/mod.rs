//! The command line: argument parsing and the commands. This is the edge of the program,
//! so errors are `anyhow` here and become exit codes in `main`.

mod apply_cmds;
mod args;
mod daemon_cmds;
mod mcp_cmd;
mod output;
mod pipeline_cmds;
mod preview_cmd;

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
        Command::Drift(a) => apply_cmds::drift(a),
        Command::Mcp(a) => mcp_cmd::mcp(a),
        Command::Preview(a) => preview_cmd::preview(a),
    }
}
