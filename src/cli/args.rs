//! Command-line arguments (clap).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// GitOps reconciliation for homelab and small-fleet infrastructure.
///
/// Describe what you want as YAML in a git repository; homelabd validates it, places it
/// on your pools, renders Terraform, Ansible, Kubernetes, Compose, CloudFormation and ARM
/// configs for it, applies them with the real tools, records drift, previews pull
/// requests, and answers AI agents over MCP (changes only as pull requests).
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
    /// Apply resources now, whatever their apply policy (`policy.apply: manual` waits for this).
    ///
    /// The request goes through the store to the running daemon, which runs the
    /// provider's tool and records the run; this command waits and shows the outcome.
    /// Exit 0 when every apply succeeded, 1 when one failed or could not start.
    Apply(ApplyArgs),
    /// Put a kept healthy output of a resource in place again.
    ///
    /// After every apply that is healthy (or that has no health check), the daemon keeps
    /// the rendered output in its state directory, the newest 5 per resource
    /// (`good/<provider>/<name>/<revision>/`; none with `policy.rollback: off`). This asks
    /// the running daemon, through the store, to apply the newest of them again — or,
    /// with --to, the one of that revision — as a `rollback` run, recorded with an audit
    /// row (`apply.rolled_back`) and a `resource.rolled_back` notification. Sync windows
    /// do not hold it. The render it replaces is not applied again until the definition
    /// changes or `homelabd apply NAME`; with `[propose]` configured, a pull request that
    /// restores the definition at that revision is opened. `policy.rollback: auto` does
    /// the same by itself when a new revision fails or is not healthy in time.
    ///
    /// Exit 0 when the rollback ran and succeeded; 1 when it failed or was refused (for
    /// example when nothing is kept: the error lists the kept revisions).
    Rollback(RollbackArgs),
    /// List deviations between what is rendered and what the providers report.
    ///
    /// Open ones by default; --all includes resolved ones. Exit 0 when none is open, 1
    /// otherwise (handy in scripts and monitoring).
    Drift(DriftArgs),
    /// Serve MCP over stdin/stdout for a local AI agent (Claude Desktop, any MCP client).
    ///
    /// Read-only tools answer from the tracked repository, its pools and charts, and the
    /// store; proposal tools only open a branch and a pull request. Logs go to stderr;
    /// stdout is the protocol. The daemon serves the same tools at /mcp with tokens.
    Mcp(McpArgs),
    /// Show what merging a branch would do: per resource created / changed (with the
    /// rendered diff) / removed (pruned or orphaned) / unchanged, and the head's errors.
    ///
    /// Both revisions are read from git without a checkout and nothing is written. Exit 0
    /// when the head is valid, 1 when it has errors, 2 on a usage error (unknown ref).
    Preview(PreviewArgs),
    /// Manage the age-encrypted secrets under secrets/ (values are never printed).
    ///
    /// Files are secrets/NAME.age, each an age-encrypted YAML mapping of keys to strings,
    /// encrypted to every recipient in secrets/.recipients (the `age -R` format); the
    /// standard `age` CLI reads and writes them too. Reference a value from a definition
    /// as `{secret: NAME, key: KEY}`.
    Secret(SecretArgs),
    /// Show the audit log: what the daemon did, what people asked for, and what agents
    /// proposed, were refused or read, with who and from where. Newest first, a page at
    /// a time.
    Audit(AuditArgs),
    /// Propose a definition for a container (`docker run`) or Proxmox VM made outside homelabd.
    ///
    /// The container is looked up on the engines of the docker pools; the definition
    /// describes it as it runs (secrets in its environment are left out and listed) and
    /// is written to a new branch (and pull request, with [propose.github]). After the
    /// merge the daemon takes the container over as it is, without recreating it; a
    /// later change of the definition recreates it under docker compose. A Proxmox VM
    /// (by name or VMID, on the cluster of [proxmox]) becomes a proxmox-compute
    /// definition pinned to its node whose Terraform imports the VM instead of creating
    /// one. Exit 1 when refused (with the reasons), 0 when proposed.
    Adopt(AdoptArgs),
}

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The container (its name or id, as `docker ps --all` shows it) or the Proxmox VM
    /// (its name or VMID).
    pub container: String,
    /// Name of the new resource (default: the container's or VM's name as a DNS-1123 label).
    #[arg(long)]
    pub name: Option<String>,
    /// The docker pool whose engine runs it, or the proxmox pool with the VM's node
    /// (default: every docker pool's engines, then the `[proxmox]` cluster).
    #[arg(long, value_name = "PATH")]
    pub pool: Option<String>,
    /// WorkloadType of the new resource (default: the only one, else web-application).
    #[arg(long)]
    pub workload_type: Option<String>,
    /// Why: goes into the commit and the pull request.
    #[arg(long)]
    pub reason: Option<String>,
    /// Inspect, validate and render only: no branch, commit or pull request.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Repository to propose to: a local path or a remote URL (https://… or ssh).
    #[arg(long, value_name = "PATH|URL")]
    pub repo: Option<String>,
    /// Branch the proposal starts from (default: the local repository's current branch).
    #[arg(long)]
    pub branch: Option<String>,
    /// Sub-directory of the repository holding the definitions.
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<String>,
}

#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(subcommand)]
    pub command: SecretCommand,
    /// The repository working copy (the directory holding secrets/).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// age identity file (or an unencrypted SSH private key) that decrypts the secrets.
    #[arg(
        long,
        global = true,
        env = "HOMELABD_AGE_IDENTITY_FILE",
        value_name = "FILE"
    )]
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Set KEY of secret NAME to the value read from stdin (one trailing newline is
    /// dropped). Other keys are kept, which needs the identity when the file exists.
    Set {
        /// Secret name: secrets/NAME.age.
        name: String,
        /// Key inside the secret.
        key: String,
    },
    /// List secrets and their keys (keys only with an identity; never values).
    List,
    /// Re-encrypt every secret to the recipients now in secrets/.recipients.
    Rekey,
    /// Edit secret NAME as YAML in $VISUAL / $EDITOR (a private temporary file,
    /// overwritten and removed afterwards).
    Edit {
        /// Secret name: secrets/NAME.age.
        name: String,
    },
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
    /// Also list destroyed resources (pruned; their history is kept) with their last run.
    #[arg(long)]
    pub all: bool,
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

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["names", "all"]))]
pub struct ApplyArgs {
    /// Resources to apply.
    pub names: Vec<String>,
    /// Apply every resource that has a render not yet applied.
    #[arg(long)]
    pub all: bool,
    /// Also destroy orphaned resources whose policy allows pruning, even past the
    /// guard against removing many resources at once.
    #[arg(long)]
    pub force_prune: bool,
    /// Apply now even outside the resources' sync windows (`policy.windows`).
    #[arg(long)]
    pub ignore_windows: bool,
    /// Queue the request and return at once.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the daemon to finish the applies.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The resource to roll back.
    pub name: String,
    /// The revision whose kept output to apply again: a commit id or a unique prefix
    /// (default: the newest kept output).
    #[arg(long, value_name = "REVISION")]
    pub to: Option<String>,
    /// Queue the request and return at once.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the daemon to finish the rollback.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Include resolved deviations.
    #[arg(long)]
    pub all: bool,
    /// At most this many deviations, newest first.
    #[arg(long, default_value_t = 500)]
    pub limit: i64,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only rows about this resource.
    #[arg(long, value_name = "NAME")]
    pub resource: Option<String>,
    /// Only rows by this actor: daemon, mcp:<token name>, cli:<user>, ui:<token name>, stdio.
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Only actions starting with this (mcp., proposal., apply., resource., …).
    #[arg(long, value_name = "PREFIX")]
    pub action: Option<String>,
    /// Only rows at or after this time: RFC 3339, a date (2026-05-01) or an age (90m, 24h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Rows per page (at most 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=500))]
    pub limit: i64,
    /// Older rows: the cursor the previous page printed.
    #[arg(long, value_name = "CURSOR")]
    pub before: Option<i64>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Repository to answer from: a local path or a remote URL (https://… or ssh).
    #[arg(long, value_name = "PATH|URL")]
    pub repo: Option<String>,
    /// Branch to track (default: the local repository's current branch, or main).
    #[arg(long)]
    pub branch: Option<String>,
    /// Sub-directory of the repository holding the definitions.
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<String>,
    /// Offer no proposal tools at all (queries only).
    #[arg(long)]
    pub read_only: bool,
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
    /// Config file whose [limits] and [source.verify] trust material apply (the other
    /// sections are ignored here).
    #[arg(long, env = "HOMELABD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub signatures: SignatureArgs,
}

/// Commit-signature checks of the revision read (`--rev`).
#[derive(Debug, Args, Clone, Default)]
pub struct SignatureArgs {
    /// Fail (exit 1) unless the revision is signed by an allowed key — for CI.
    #[arg(long)]
    pub require_signed: bool,
    /// SSH signers (git's allowedSignersFile format); default: [source.verify] of
    /// --config, or HOMELABD_ALLOWED_SIGNERS.
    #[arg(long, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// OpenPGP public keys; default: [source.verify] of --config, or HOMELABD_GPG_KEYRING.
    #[arg(long, value_name = "FILE")]
    pub gpg_keyring: Option<PathBuf>,
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
    /// Resources keep the placement its manifests record while they fit there.
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
    /// Place every resource afresh and show the moves that would make against --against
    /// (a `rebalance` proposal turns them into a pull request).
    #[arg(long)]
    pub rebalance: bool,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The revision merged into (branch, tag or commit), e.g. main.
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// The revision to preview (the pull request's branch or commit).
    #[arg(long, value_name = "REF")]
    pub head: String,
    /// The git repository.
    #[arg(default_value = ".")]
    pub repo: PathBuf,
    /// Sub-directory of the repository holding the definitions.
    #[arg(long, value_name = "SUBDIR")]
    pub path: Option<String>,
    /// Output format: text, markdown (as the pull-request comment) or json.
    #[arg(long, value_enum, default_value_t = PreviewFormat::Text)]
    pub output: PreviewFormat,
    /// Resources without their own policy.prune are pruned when removed (the daemon's
    /// `[policy] prune = true`); by default they are orphaned.
    #[arg(long)]
    pub default_prune: bool,
    /// Config file whose [limits] and [source.verify] apply (the other sections are
    /// ignored here).
    #[arg(long, env = "HOMELABD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub signatures: SignatureArgs,
}

/// Output formats of `homelabd preview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreviewFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}
