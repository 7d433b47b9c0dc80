//! Command-line arguments (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// GitOps reconciliation for homelab and small-fleet infrastructure.
///
/// Describe what you want as YAML in a git repository; homelabd validates it, places it
/// on your pools, and renders Terraform, Ansible, Kubernetes, Compose, CloudFormation and
/// ARM configs for it.
#[derive(Debug, Parser)]
#[command(
    name = "homelabd",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every document: schemas, names, pools, references, capacity.
    ///
    /// Exit 0 when everything is valid, 1 when any document is invalid (every problem is
    /// listed with file, line, field and what was expected), 2 on a usage error.
    Validate(SourceArgs),
    /// Render provider configs for every valid resource into DIR/<provider>/<resource>/.
    ///
    /// Invalid resources are reported and skipped; the valid ones are still rendered.
    /// Exit 1 if any resource was invalid.
    Render(RenderArgs),
    /// Show what would be created, updated or left alone, and where each resource goes.
    Plan(PlanArgs),
    /// Run the GitOps daemon: watch the repository, reconcile every commit, record state.
    ///
    /// With no database configured, state goes to SQLite at <state-dir>/homelabd.db and
    /// rendered configs to <state-dir>/rendered-configs/. Flags override the config file.
    Daemon(DaemonArgs),
    /// Show the tracked revision and every resource's state, from the store.
    Status(StatusArgs),
    /// Apply database migrations (the daemon also does this at start).
    Migrate(StoreArgs),
    /// Ask a running daemon for an immediate pass (for one resource, or all).
    Reconcile(ReconcileArgs),
}

/// Where the store is: flags, then HOMELABD_DATABASE_URL, then the config file, then
/// SQLite in the state directory.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Config file (TOML); see docs/config.example.toml.
    #[arg(long, env = "HOMELABD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory (default: $STATE_DIRECTORY, $HOMELABD_STATE_DIR, or the XDG state dir).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (password via HOMELABD_DATABASE_URL).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Repository to track: a local path or a remote URL (https://… or ssh).
    #[arg(long, value_name = "PATH|URL")]
    pub repo: Option<String>,
    /// Branch to track (default: main).
    #[arg(long)]
    pub branch: Option<String>,
    /// Sub-directory of the repository holding the definitions.
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<String>,
    /// HTTP listener for health, metrics and webhooks (default: 127.0.0.1:9465).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Resource to reconcile (default: everything).
    pub name: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where the definitions come from.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Repository (or any directory) holding the definitions.
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Only read this sub-directory of the repository.
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<String>,
    /// Read a git revision (branch, tag, commit) instead of the files on disk.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Directory to render into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// A rendered-configs directory to compare against (default: nothing rendered yet).
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}
