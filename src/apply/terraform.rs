//! The Terraform (+ Ansible) executor of the `proxmox` and `vmware` providers.
//!
//! Rendered directories are replaced on every render, so terraform never runs in one:
//! the rendered files are first synchronised into the resource's work directory (changed
//! files copied, files no longer rendered removed, terraform's own state kept), the
//! shared modules and roles it refers to are copied beside (see [`mirror_shared`]), and
//! `init`, `plan -out` and `apply <plan>` run there. When the render holds an Ansible
//! playbook, `ansible-playbook` then configures the hosts, with an inventory built from
//! the plan's `vms` output when the configuration declares one (see [`super::ansible`]).
//!
//! Provider credentials (`PROXMOX_VE_API_TOKEN`, `VSPHERE_PASSWORD`, …) reach terraform
//! only through [`Cmd::secret_env`]: never in arguments, logs or files.

use super::ansible;
use super::common::argv;
// Also the path the observers find tools by.
pub(crate) use super::common::{ToolMissing, locate_tool};
use super::{
    ApplyOutcome, ApplyReport, ApplyRequest, Cmd, ExecutorSettings, ProviderExecutor, Runner,
    ToolExecutor,
};
use crate::model::Provider;
use crate::setting::Secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The plan file `plan` writes and `apply` applies, in the work directory.
pub const PLAN_FILE: &str = "homelabd.tfplan";

/// The terraform output that lists the hosts a configuration created (a list of objects
/// with `name` and `ipv4_address`), as the built-in charts declare it.
pub const HOSTS_OUTPUT: &str = "vms";

/// The executor for `provider` (`proxmox` or `vmware`), with the provider's standard
/// credentials ([`provider_credentials`]). `target_unavailable` is the reason the
/// provider's target cannot be used (for Proxmox: no API configured), if any.
pub fn terraform_executor(
    provider: Provider,
    settings: &ExecutorSettings,
    target_unavailable: Option<String>,
) -> Arc<dyn ProviderExecutor> {
    Arc::new(
        TerraformExecutor::new(provider, settings, target_unavailable)
            .with_secret_env(provider_credentials(provider)),
    )
}

/// The environment variables the provider's terraform plugin reads its credentials
/// from, each taken from a systemd credential of the same name in lower case with `-`
/// (`proxmox-ve-api-token`), else from the daemon's environment. Unset ones are left out.
pub fn provider_credentials(provider: Provider) -> BTreeMap<String, Secret> {
    credential_variables(provider)
        .iter()
        .filter_map(|var| {
            let credential = var.to_ascii_lowercase().replace('_', "-");
            Secret::from_credential_or_env(&credential, var).map(|s| ((*var).to_owned(), s))
        })
        .collect()
}

/// Which variables hold credentials for `provider`'s terraform plugin.
pub fn credential_variables(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Proxmox => &[
            "PROXMOX_VE_API_TOKEN",
            "PROXMOX_VE_USERNAME",
            "PROXMOX_VE_PASSWORD",
        ],
        Provider::Vmware => &["VSPHERE_USER", "VSPHERE_PASSWORD"],
        _ => &[],
    }
}

/// Applies rendered Terraform configurations (and their playbooks) of one provider.
#[derive(Debug)]
pub struct TerraformExecutor {
    provider: Provider,
    terraform: PathBuf,
    /// `ansible-playbook`, or why it cannot be used (reported when a playbook needs it).
    ansible: Result<PathBuf, ToolMissing>,
    plugin_cache_dir: Option<PathBuf>,
    plugin_mirror_dir: Option<PathBuf>,
    unavailable: Option<String>,
    secret_env: BTreeMap<String, Secret>,
}

impl TerraformExecutor {
    /// Detects terraform and ansible-playbook from `settings`; without credentials.
    pub fn new(
        provider: Provider,
        settings: &ExecutorSettings,
        target_unavailable: Option<String>,
    ) -> TerraformExecutor {
        let prefix = provider.as_str();
        let terraform = locate_tool(
            prefix,
            settings.terraform.binary.as_deref(),
            "terraform",
            "terraform",
        );
        let ansible = locate_tool(
            prefix,
            settings.ansible.binary.as_deref(),
            "ansible-playbook",
            "ansible",
        );
        let unavailable = terraform
            .as_ref()
            .err()
            .map(ToString::to_string)
            .or(target_unavailable);
        TerraformExecutor {
            provider,
            terraform: terraform.unwrap_or_else(|_| PathBuf::from("terraform")),
            ansible,
            plugin_cache_dir: settings.terraform.plugin_cache_dir.clone(),
            plugin_mirror_dir: settings.terraform.plugin_mirror_dir.clone(),
            unavailable,
            secret_env: BTreeMap::new(),
        }
    }

    /// Passes `env` (provider credentials) to every terraform command, unlogged.
    pub fn with_secret_env(mut self, env: BTreeMap<String, Secret>) -> TerraformExecutor {
        self.secret_env = env;
        self
    }

    /// The provider this executor applies.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    fn terraform(&self, args: &[&str], work_dir: &Path) -> Cmd {
        let mut cmd = Cmd::new(argv(&self.terraform, args), work_dir)
            .env("TF_IN_AUTOMATION", "1")
            // Offline hosts: no version check against checkpoint-api.hashicorp.com.
            .env("CHECKPOINT_DISABLE", "1");
        if let Some(dir) = &self.plugin_cache_dir {
            cmd = cmd.env("TF_PLUGIN_CACHE_DIR", dir.display().to_string());
        }
        cmd.secret_env = self
            .secret_env
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_owned()))
            .collect();
        cmd
    }

    /// `terraform init`, against the plugin mirror when one is configured.
    pub fn init_cmd(&self, work_dir: &Path) -> Cmd {
        let mirror = self
            .plugin_mirror_dir
            .as_ref()
            .map(|d| format!("-plugin-dir={}", d.display()));
        let mut args = vec!["init", "-input=false", "-no-color"];
        args.extend(mirror.as_deref());
        self.terraform(&args, work_dir)
    }

    /// `terraform plan` into [`PLAN_FILE`].
    pub fn plan_cmd(&self, work_dir: &Path) -> Cmd {
        let out = format!("-out={PLAN_FILE}");
        self.terraform(&["plan", "-input=false", "-no-color", &out], work_dir)
    }

    /// `terraform apply` of exactly the plan just made.
    pub fn apply_cmd(&self, work_dir: &Path) -> Cmd {
        self.terraform(&["apply", "-input=false", "-no-color", PLAN_FILE], work_dir)
    }

    /// `terraform output -json vms`: the hosts the configuration created.
    pub fn hosts_output_cmd(&self, work_dir: &Path) -> Cmd {
        self.terraform(&["output", "-no-color", "-json", HOSTS_OUTPUT], work_dir)
    }

    /// `terraform destroy`.
    pub fn destroy_cmd(&self, work_dir: &Path) -> Cmd {
        self.terraform(
            &["destroy", "-auto-approve", "-input=false", "-no-color"],
            work_dir,
        )
    }

    /// Reads the hosts output after a successful apply (when the configuration declares
    /// one): the endpoints of the report, and the text the inventory is built from.
    // String error: why the target was not observed, kept as text in the report's `failed` map (shown and stored).
    async fn read_hosts(
        &self,
        req: &ApplyRequest,
        runner: &Runner,
        report: &mut ApplyReport,
    ) -> Result<Option<String>, String> {
        let work = &req.work_dir;
        if !declares_output(work, HOSTS_OUTPUT) {
            return Ok(None);
        }
        let run = runner
            .run(&self.hosts_output_cmd(work).secrets(&req.secrets))
            .await;
        let result = if run.success() {
            Ok(run.stdout_tail.clone())
        } else {
            Err(run.failure_summary())
        };
        report.runs.push(run);
        let text = result?;
        let hosts: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
            format!("terraform output {HOSTS_OUTPUT} is not JSON (over 8 KiB is cut): {e}")
        })?;
        report.endpoints = Some(crate::reconcile::endpoint::terraform_hosts(&hosts));
        Ok(Some(text))
    }

    /// Runs the playbook after a successful terraform apply.
    async fn configure_hosts(
        &self,
        req: &ApplyRequest,
        runner: &Runner,
        mut report: ApplyReport,
        hosts: Option<String>,
    ) -> ApplyReport {
        let work = &req.work_dir;
        let ansible_bin = match &self.ansible {
            Ok(path) => path.clone(),
            Err(reason) => {
                report.outcome = ApplyOutcome::Failed {
                    error: format!("terraform applied, but the playbook cannot run: {reason}"),
                };
                return report;
            }
        };
        let inventory = match hosts {
            Some(text) => match write_inventory(work, &text) {
                Ok(path) => path,
                Err(error) => return ApplyReport::failed_after(error.to_string(), report.runs),
            },
            None => PathBuf::from(ansible::RENDERED_INVENTORY),
        };
        tracing::info!(resource = %req.resource, inventory = %inventory.display(), "ansible-playbook");
        let run = runner
            .run(&ansible::playbook_cmd(&ansible_bin, work, &inventory).secrets(&req.secrets))
            .await;
        let error = (!run.success()).then(|| run.failure_summary());
        report.runs.push(run);
        if let Some(error) = error {
            report.outcome = ApplyOutcome::Failed { error };
        }
        report
    }
}

impl ToolExecutor for TerraformExecutor {
    fn executor_name(&self) -> &str {
        "terraform"
    }

    fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    async fn apply_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        let (from, to) = (req.rendered_dir.clone(), req.work_dir.clone());
        match tokio::task::spawn_blocking(move || sync_work_dir(&from, &to)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return ApplyReport::failed(format!("{}: {e}", req.resource)),
            Err(e) => return ApplyReport::failed(format!("syncing the work directory: {e}")),
        }
        let work = &req.work_dir;
        tracing::info!(resource = %req.resource, provider = %self.provider, "terraform apply");
        // Secret values reach terraform as `TF_VAR_*` (sensitive variables) and the
        // playbook as environment variables it looks up; never as arguments or files.
        let cmds = [
            self.init_cmd(work),
            self.plan_cmd(work),
            self.apply_cmd(work),
        ]
        .map(|cmd| cmd.secrets(&req.secrets));
        let mut report = ApplyReport::run_all(runner, &cmds).await;
        if report.outcome != ApplyOutcome::Applied {
            return report;
        }
        // Where the VMs are: the report's endpoints, and the playbook's inventory.
        let hosts = match self.read_hosts(req, runner, &mut report).await {
            Ok(hosts) => hosts,
            Err(error) => return ApplyReport::failed_after(error, report.runs),
        };
        if !work
            .join(ansible::PLAYBOOK_DIR)
            .join(ansible::PLAYBOOK)
            .is_file()
        {
            return report;
        }
        self.configure_hosts(req, runner, report, hosts).await
    }

    async fn destroy_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        // The work directory holds the configuration that created the state; the
        // rendered one may be gone (definition deleted) or newer.
        let work = &req.work_dir;
        if !has_configuration(work) {
            return ApplyReport::nothing_to_do();
        }
        tracing::info!(resource = %req.resource, provider = %self.provider, "terraform destroy");
        let cmds =
            [self.init_cmd(work), self.destroy_cmd(work)].map(|cmd| cmd.secrets(&req.secrets));
        ApplyReport::run_all(runner, &cmds).await
    }
}

/// Does a top-level `*.tf` file of `dir` declare `output "<name>"`?
fn declares_output(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "tf"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .any(|text| source_declares_output(&text, name))
}

/// Does this Terraform source declare `output "<name>"` (at the start of a line)?
pub fn source_declares_output(source: &str, name: &str) -> bool {
    let wanted = format!("output \"{name}\"");
    source.lines().any(|line| {
        line.trim_start().strip_prefix(&wanted).is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_whitespace() || c == '{') || rest.is_empty()
        })
    })
}

/// Why the inventory for the playbook could not be written.
#[derive(Debug, thiserror::Error)]
enum InventoryWriteError {
    #[error("terraform output {HOSTS_OUTPUT} is not JSON: {0}")]
    HostsNotJson(#[source] serde_json::Error),
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Merge {
        path: PathBuf,
        #[source]
        source: ansible::InventoryError,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes the inventory built from the hosts output next to the configuration and
/// returns its path.
fn write_inventory(work: &Path, hosts_json: &str) -> Result<PathBuf, InventoryWriteError> {
    let hosts: serde_json::Value =
        serde_json::from_str(hosts_json.trim()).map_err(InventoryWriteError::HostsNotJson)?;
    let rendered_path = work
        .join(ansible::PLAYBOOK_DIR)
        .join(ansible::RENDERED_INVENTORY);
    let rendered =
        std::fs::read_to_string(&rendered_path).map_err(|source| InventoryWriteError::Read {
            path: rendered_path.clone(),
            source,
        })?;
    let text = ansible::inventory_from_hosts(&rendered, &hosts).map_err(|source| {
        InventoryWriteError::Merge {
            path: rendered_path.clone(),
            source,
        }
    })?;
    let path = work.join(ansible::GENERATED_INVENTORY);
    if let Err(source) = std::fs::write(&path, text) {
        return Err(InventoryWriteError::Write { path, source });
    }
    Ok(path)
}

/// Is there a configuration (or state) in `work` to destroy?
fn has_configuration(work: &Path) -> bool {
    work.join("terraform.tfstate").is_file()
        || std::fs::read_dir(work).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "tf"))
        })
}

// ---------------------------------------------------------------------------------------
// Work directory synchronisation

/// Why the rendered files could not be put into the work directory.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("rendered directory {0} does not exist")]
    RenderedMissing(PathBuf),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{0}: expected a regular file or directory in the rendered output, found a symlink or special file"
    )]
    NotAFile(PathBuf),
    #[error("the manifest in {0} names a shared entry {1:?} that is not a plain name")]
    BadShared(PathBuf, String),
    #[error(
        "rendered file {0} has the name of terraform's own state in the work directory; rename it in the chart"
    )]
    Collides(PathBuf),
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symlink or special file.
    Other,
}

/// Top-level names of the work directory that belong to terraform or homelabd, never to
/// the render: kept by the synchronisation, never overwritten by it.
pub fn is_tool_state(top_level_name: &str) -> bool {
    matches!(
        top_level_name,
        ".terraform"
            | ".terraform.lock.hcl"
            | ".terraform.tfstate.lock.info"
            | "errored.tfstate"
            | ansible::GENERATED_INVENTORY
            | ansible::LOCAL_TEMP_DIR
    ) || top_level_name.starts_with("terraform.tfstate")
        || top_level_name.ends_with(".tfplan")
}

fn top_level(rel: &Path) -> &str {
    rel.components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("")
}

/// The entries of the work directory to remove so that, after the rendered files are
/// copied in, it holds exactly the render plus the tool state. Outermost first; nothing
/// inside a removed directory is listed again.
pub fn removals(
    rendered: &BTreeMap<PathBuf, EntryKind>,
    existing: &BTreeMap<PathBuf, EntryKind>,
) -> Vec<PathBuf> {
    let mut removed: Vec<PathBuf> = Vec::new();
    for (path, kind) in existing {
        if is_tool_state(top_level(path)) || rendered.get(path) == Some(kind) {
            continue;
        }
        if removed.iter().any(|dir| path.starts_with(dir)) {
            continue;
        }
        removed.push(path.clone());
    }
    removed
}

/// Rendered entries that would overwrite tool state.
pub fn collisions(rendered: &BTreeMap<PathBuf, EntryKind>) -> Vec<PathBuf> {
    rendered
        .keys()
        .filter(|p| p.components().count() == 1 && is_tool_state(top_level(p)))
        .cloned()
        .collect()
}

/// Makes `work` hold the files of `rendered` (changed ones copied, unrendered ones
/// removed) while keeping terraform's state, lock file, plugins and plan files.
pub fn sync_work_dir(rendered: &Path, work: &Path) -> Result<(), SyncError> {
    if !rendered.is_dir() {
        return Err(SyncError::RenderedMissing(rendered.to_path_buf()));
    }
    let mut wanted = BTreeMap::new();
    walk(rendered, Path::new(""), &mut wanted, &|_| false)?;
    if let Some((path, _)) = wanted.iter().find(|(_, k)| **k == EntryKind::Other) {
        return Err(SyncError::NotAFile(rendered.join(path)));
    }
    if let Some(path) = collisions(&wanted).into_iter().next() {
        return Err(SyncError::Collides(rendered.join(path)));
    }
    std::fs::create_dir_all(work).map_err(|source| SyncError::Write {
        path: work.to_path_buf(),
        source,
    })?;
    let mut present = BTreeMap::new();
    walk(work, Path::new(""), &mut present, &|rel| {
        is_tool_state(top_level(rel))
    })?;
    for rel in removals(&wanted, &present) {
        let path = work.join(&rel);
        let result = if present.get(&rel) == Some(&EntryKind::Dir) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(|source| SyncError::Write { path, source })?;
    }
    for (rel, kind) in &wanted {
        let (from, to) = (rendered.join(rel), work.join(rel));
        match kind {
            EntryKind::Dir => std::fs::create_dir_all(&to)
                .map_err(|source| SyncError::Write { path: to, source })?,
            _ => copy_if_changed(&from, &to)?,
        }
    }
    mirror_shared(rendered, work)
}

/// Copies the shared modules and roles the render refers to (its manifest's `shared`)
/// into the work directory's shared directory, where the same relative paths lead
/// (`<work root>/.shared/`, beside the providers' work directories). An entry's name is
/// its content digest: one already there is kept, a new one is staged and renamed in.
pub fn mirror_shared(rendered: &Path, work: &Path) -> Result<(), SyncError> {
    let Some(manifest) = crate::render::write::read_manifest(rendered) else {
        return Ok(());
    };
    if manifest.shared.is_empty() {
        return Ok(());
    }
    let root = |dir: &Path| {
        crate::render::write::shared_root(dir).map_err(|source| SyncError::Read {
            path: dir.to_path_buf(),
            source,
        })
    };
    let (from_root, to_root) = (root(rendered)?, root(work)?);
    for entry in &manifest.shared {
        if entry.is_empty() || entry.starts_with('.') || entry.contains(['/', '\\']) {
            return Err(SyncError::BadShared(rendered.to_path_buf(), entry.clone()));
        }
        let (from, to) = (from_root.join(entry), to_root.join(entry));
        if to.is_dir() {
            continue;
        }
        let mut files = BTreeMap::new();
        walk(&from, Path::new(""), &mut files, &|_| false)?;
        if let Some((path, _)) = files.iter().find(|(_, k)| **k == EntryKind::Other) {
            return Err(SyncError::NotAFile(from.join(path)));
        }
        let write = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SyncError::Write { path, source }
        };
        std::fs::create_dir_all(&to_root).map_err(write(&to_root))?;
        let staged = tempfile::Builder::new()
            .prefix(&format!(".{entry}.tmp-"))
            .tempdir_in(&to_root)
            .map_err(write(&to_root))?;
        for (rel, kind) in &files {
            let dest = staged.path().join(rel);
            match kind {
                EntryKind::Dir => std::fs::create_dir_all(&dest).map_err(write(&dest))?,
                _ => copy_if_changed(&from.join(rel), &dest)?,
            }
        }
        let staged = staged.keep();
        if let Err(source) = std::fs::rename(&staged, &to) {
            let _ = std::fs::remove_dir_all(&staged);
            if !to.is_dir() {
                return Err(SyncError::Write { path: to, source });
            }
        }
    }
    Ok(())
}

/// Lists `dir` recursively into `out` (paths relative to the walk's root), not
/// descending into entries for which `skip` holds.
fn walk(
    root: &Path,
    rel: &Path,
    out: &mut BTreeMap<PathBuf, EntryKind>,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<(), SyncError> {
    let dir = root.join(rel);
    let read = |source| SyncError::Read {
        path: dir.clone(),
        source,
    };
    for entry in std::fs::read_dir(&dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let child = rel.join(entry.file_name());
        if skip(&child) {
            continue;
        }
        // symlink_metadata: a link is reported as what it is, never followed.
        let meta = entry.path().symlink_metadata().map_err(read)?;
        let kind = if meta.is_dir() {
            EntryKind::Dir
        } else if meta.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        out.insert(child.clone(), kind);
        if kind == EntryKind::Dir {
            walk(root, &child, out, skip)?;
        }
    }
    Ok(())
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<(), SyncError> {
    let new = std::fs::read(from).map_err(|source| SyncError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    if std::fs::read(to).is_ok_and(|old| old == new) {
        return Ok(());
    }
    std::fs::write(to, new).map_err(|source| SyncError::Write {
        path: to.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::settings::TerraformSettings;

    fn entries(list: &[(&str, EntryKind)]) -> BTreeMap<PathBuf, EntryKind> {
        list.iter().map(|(p, k)| (PathBuf::from(p), *k)).collect()
    }

    fn executor(settings: ExecutorSettings) -> TerraformExecutor {
        TerraformExecutor::new(Provider::Proxmox, &settings, None)
    }

    fn sh_settings() -> ExecutorSettings {
        // Any existing executable stands in for terraform: these tests only build argv.
        ExecutorSettings {
            terraform: TerraformSettings {
                binary: Some("/bin/sh".into()),
                ..TerraformSettings::default()
            },
            ..ExecutorSettings::default()
        }
    }

    #[test]
    fn tool_state_is_kept_and_stale_render_files_are_removed() {
        use EntryKind::*;
        let rendered = entries(&[
            ("main.tf", File),
            ("modules", Dir),
            ("modules/vm", Dir),
            ("modules/vm/main.tf", File),
        ]);
        let existing = entries(&[
            (".terraform", Dir),
            (".terraform.lock.hcl", File),
            ("terraform.tfstate", File),
            ("terraform.tfstate.backup", File),
            ("homelabd.tfplan", File),
            ("homelabd-inventory.yml", File),
            ("main.tf", File),
            ("old.tf", File),
            ("modules", Dir),
            ("modules/vm", Dir),
            ("modules/vm/main.tf", File),
            ("modules/gone", Dir),
            ("modules/gone/main.tf", File),
        ]);
        assert_eq!(
            removals(&rendered, &existing),
            vec![PathBuf::from("modules/gone"), PathBuf::from("old.tf")]
        );
    }

    #[test]
    fn an_entry_that_changed_between_file_and_directory_is_replaced() {
        use EntryKind::*;
        let rendered = entries(&[("ansible", Dir), ("ansible/playbook.yml", File)]);
        let existing = entries(&[("ansible", File)]);
        assert_eq!(
            removals(&rendered, &existing),
            vec![PathBuf::from("ansible")]
        );
    }

    #[test]
    fn a_rendered_file_named_like_terraform_state_is_refused() {
        use EntryKind::*;
        let rendered = entries(&[("main.tf", File), ("terraform.tfstate", File)]);
        assert_eq!(
            collisions(&rendered),
            vec![PathBuf::from("terraform.tfstate")]
        );
        assert!(collisions(&entries(&[("modules/terraform.tfstate", File)])).is_empty());
    }

    #[test]
    fn the_commands_are_argument_vectors_with_the_automation_environment() {
        let mut settings = sh_settings();
        settings.terraform.plugin_mirror_dir = Some("/srv/mirror".into());
        settings.terraform.plugin_cache_dir = Some("/var/cache/tf".into());
        let ex = executor(settings);
        let work = Path::new("/state/work/proxmox/web");
        let init = ex.init_cmd(work);
        assert_eq!(
            init.argv,
            [
                "/bin/sh",
                "init",
                "-input=false",
                "-no-color",
                "-plugin-dir=/srv/mirror"
            ]
        );
        assert_eq!(init.cwd, work);
        assert_eq!(init.env["TF_IN_AUTOMATION"], "1");
        assert_eq!(init.env["TF_PLUGIN_CACHE_DIR"], "/var/cache/tf");
        assert_eq!(
            ex.plan_cmd(work).argv[1..],
            ["plan", "-input=false", "-no-color", "-out=homelabd.tfplan"]
        );
        assert_eq!(
            ex.apply_cmd(work).argv[1..],
            ["apply", "-input=false", "-no-color", "homelabd.tfplan"]
        );
        assert_eq!(
            ex.destroy_cmd(work).argv[1..],
            ["destroy", "-auto-approve", "-input=false", "-no-color"]
        );
    }

    #[test]
    fn without_a_mirror_or_cache_init_has_no_plugin_flags() {
        let ex = executor(sh_settings());
        let init = ex.init_cmd(Path::new("/w"));
        assert_eq!(init.argv[1..], ["init", "-input=false", "-no-color"]);
        assert!(!init.env.contains_key("TF_PLUGIN_CACHE_DIR"));
    }

    #[test]
    fn credentials_go_to_secret_env_and_never_into_argv_or_debug() {
        let token = "root@pam!homelabd=0b5e-secret";
        let ex = executor(sh_settings()).with_secret_env(BTreeMap::from([(
            "PROXMOX_VE_API_TOKEN".to_owned(),
            Secret::new(token),
        )]));
        let plan = ex.plan_cmd(Path::new("/w"));
        assert_eq!(plan.secret_env["PROXMOX_VE_API_TOKEN"], token);
        assert!(!plan.display().contains(token));
        assert!(!plan.env.values().any(|v| v.contains(token)));
        assert!(!format!("{ex:?}").contains(token));
    }

    #[test]
    fn availability_names_the_missing_tool_or_the_target() {
        let mut settings = ExecutorSettings::default();
        settings.terraform.binary = Some("/nonexistent/terraform".into());
        let ex = TerraformExecutor::new(Provider::Vmware, &settings, None);
        assert_eq!(
            ex.unavailable(),
            Some(
                "vmware: terraform not found at /nonexistent/terraform ([executors.terraform] binary)"
            )
        );
        let ex = TerraformExecutor::new(
            Provider::Proxmox,
            &sh_settings(),
            Some("proxmox: no API configured".into()),
        );
        assert_eq!(ex.unavailable(), Some("proxmox: no API configured"));
        assert_eq!(executor(sh_settings()).unavailable(), None);
    }

    #[test]
    fn the_hosts_output_is_recognised_only_as_a_declaration() {
        assert!(source_declares_output(
            "output \"vms\" {\n  value = []\n}\n",
            "vms"
        ));
        assert!(source_declares_output("  output \"vms\"{\n}", "vms"));
        assert!(!source_declares_output("output \"vms_count\" {}", "vms"));
        assert!(!source_declares_output(
            "# see output vms\nlocals {}",
            "vms"
        ));
    }

    #[test]
    fn credential_variables_follow_the_terraform_providers() {
        assert!(credential_variables(Provider::Proxmox).contains(&"PROXMOX_VE_API_TOKEN"));
        assert!(credential_variables(Provider::Vmware).contains(&"VSPHERE_PASSWORD"));
        assert!(credential_variables(Provider::Docker).is_empty());
    }
}
