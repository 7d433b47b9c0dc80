//! The reconcile daemon: wiring (this file), the loop ([`run`]), trigger sources
//! ([`watch`]), live status ([`status`]), pass records ([`pass`]) and systemd
//! notifications ([`notify`]).
//!
//! Shutdown: the first SIGTERM/SIGINT lets the current pass finish and writes queued
//! results within the configured deadline; a second one exits at once. SIGHUP re-reads
//! the config file and applies what can change while running (poll interval, resync
//! schedule, parallelism, backoff, policy defaults); settings that need a restart are
//! named in the log, and an invalid file is refused.

mod apply_phase;
mod apply_queue;
mod commit_pass;
pub mod failure;
mod health_phase;
mod health_view;
mod inventory_scan;
mod last_pass;
mod observe_phase;
pub mod pass;
mod pass_record;
mod rollback_phase;
mod rollback_run;
mod rollout;
pub mod run;
mod secret_phase;
mod store_link;
pub mod watch;
pub mod watchdog;

use crate::control::{notify, status, trigger};

use crate::apply::Executors;
use crate::config::{Overrides, RawConfig, RepoLocation, Settings};
use crate::metrics::Metrics;
use crate::model::Provider;
use crate::observe::Observer;
use crate::observe::docker::DockerObserver;
use crate::pipeline::Engine;
use crate::setting::redact_url;
use crate::source::{Origin, TrackedRepo};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch as wch};
use tracing::{error, info, warn};

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("built-in schemas: {0}")]
    Schemas(#[from] crate::validate::SchemaError),
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not inside a git repository: {message}")]
    Repo { path: String, message: String },
    #[error("cannot watch {path}: {message}")]
    Watch { path: String, message: String },
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("[source.verify]: {0}")]
    Verify(#[from] crate::source::verify::VerifyError),
}

/// Builds the tracked repository from settings. A local path inside a repository (such
/// as `example-repo/` of this project) tracks that repository with the path as sub-path;
/// with no branch configured, a local repository's current branch is tracked.
pub fn tracked_repo(settings: &Settings) -> Result<TrackedRepo, DaemonError> {
    let mut sub_path = settings.sub_path.clone();
    let (origin, branch) = match &settings.repo {
        RepoLocation::Local(path) => {
            let repo = git2::Repository::discover(path).map_err(|e| DaemonError::Repo {
                path: path.display().to_string(),
                message: e.message().to_owned(),
            })?;
            let root = repo
                .workdir()
                .unwrap_or_else(|| repo.path())
                .canonicalize()
                .unwrap_or_else(|_| path.clone());
            if let Ok(rel) = path.strip_prefix(&root) {
                let rel = rel.to_string_lossy().into_owned();
                if !rel.is_empty() {
                    sub_path = Some(match sub_path {
                        Some(s) => format!("{rel}/{s}"),
                        None => rel,
                    });
                }
            }
            let branch = match &settings.branch {
                Some(b) => b.clone(),
                None => repo
                    .head()
                    .ok()
                    .and_then(|h| h.shorthand().ok().map(str::to_owned))
                    .unwrap_or_else(|| "main".to_owned()),
            };
            (Origin::Local(root), branch)
        }
        RepoLocation::Remote(url) => (
            Origin::Remote {
                url: url.clone(),
                mirror: settings.state_dir.join("repo.git"),
                token: settings.git_token.clone(),
                ssh_key: settings.ssh_key.clone(),
            },
            settings.branch.clone().unwrap_or_else(|| "main".to_owned()),
        ),
    };
    Ok(TrackedRepo {
        origin,
        branch,
        sub_path,
    })
}

/// Runs the daemon until SIGTERM/SIGINT.
pub async fn run_daemon(
    settings: Settings,
    config_path: Option<PathBuf>,
    overrides: Overrides,
) -> Result<(), DaemonError> {
    std::fs::create_dir_all(&settings.state_dir).map_err(|source| DaemonError::StateDir {
        path: settings.state_dir.display().to_string(),
        source,
    })?;
    // One daemon per state directory and per SQLite file; held until the process ends.
    let _state_lock = crate::cluster::lock_state(&settings.state_dir, &settings.database_url)?;
    let engine = Arc::new(Engine::with_limits(settings.limits.clone())?);
    let repo = tracked_repo(&settings)?;
    if settings.verify.enabled() {
        // Unreadable trust material stops the start, where the operator is looking;
        // later (a file removed) it keeps the last verified revision like a git outage.
        let trust = settings.verify.load_trust()?;
        for warning in &trust.warnings {
            tracing::warn!("{warning}");
        }
        info!(
            mode = settings.verify.mode.as_str(),
            ssh_signers = trust.ssh.signers.len(),
            openpgp_keys = trust.pgp.certs.len(),
            "only signed commits are reconciled"
        );
    }
    let status = Arc::new(status::DaemonStatus::default());
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = mpsc::channel::<trigger::Trigger>(64);
    let (shutdown_tx, shutdown_rx) = wch::channel(false);

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: settings.listen.to_string(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| DaemonError::Listen {
            addr: settings.listen.to_string(),
            source,
        })?;
    info!(
        repo = %repo.describe(),
        branch = %repo.branch,
        path = repo.sub_path.as_deref().unwrap_or(""),
        state_dir = %settings.state_dir.display(),
        database = %redact_url(&settings.database_url),
        listen = %local,
        "homelabd starting"
    );
    let guard = Arc::new(crate::mcp::auth::Guard::new(&settings.mcp));
    let http_state = crate::http::HttpState {
        status: status.clone(),
        metrics: metrics.clone(),
        triggers: tx.clone(),
        webhook_secret: settings.webhook_secret.clone(),
        guard: Some(guard.clone()),
    };
    let mcp_stop = tokio_util::sync::CancellationToken::new();
    let mcp = crate::mcp::daemon_router(
        &settings.mcp_server(),
        &repo,
        engine.clone(),
        status.clone(),
        guard.clone(),
        mcp_stop.clone(),
    )
    .await;
    // The dashboard logs in with the MCP tokens and shares their failure limit.
    let mcp =
        match crate::ui::daemon_router(&settings, &repo, status.clone(), guard, mcp_stop.clone())
            .await
        {
            Some(ui) => mcp.merge(ui),
            None => mcp,
        };
    let mut http_shutdown = shutdown_rx.clone();
    let http = tokio::spawn(crate::http::serve_with(
        listener,
        http_state,
        Some(mcp),
        async move {
            let _ = http_shutdown.changed().await;
            // Open MCP and dashboard event streams would hold the graceful shutdown forever.
            mcp_stop.cancel();
        },
    ));

    // Trigger sources.
    let _watcher = match repo.watch_dir() {
        Some(dir) => Some(
            watch::watch_refs(&dir, tx.clone()).map_err(|e| DaemonError::Watch {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?,
        ),
        None => None,
    };
    let (settings_tx, settings_rx) = wch::channel(Arc::new(settings.clone()));
    let local = matches!(settings.repo, RepoLocation::Local(_));
    tokio::spawn(watch::poll(
        settings_rx.clone(),
        local,
        tx.clone(),
        shutdown_rx.clone(),
    ));
    tokio::spawn(watch::resync(
        settings_rx.clone(),
        tx.clone(),
        shutdown_rx.clone(),
    ));
    tokio::spawn(crate::preview::daemon::poll_pulls(
        settings_rx.clone(),
        tx.clone(),
        shutdown_rx.clone(),
    ));
    // The watchdog pings from a thread of its own, on evidence from the runtime (this
    // task) and the loop (`Reconciler::progress`); see `watchdog`.
    let progress = Arc::new(watchdog::Progress::default());
    let watchdog_period = notify::watchdog_interval();
    let watchdog_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(period) = watchdog_period {
        let beat = progress.clone();
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = tick.tick() => beat.runtime_beat(),
                    _ = stop.changed() => return,
                }
            }
        });
        let max_pass = watchdog::max_pass(std::time::Duration::from_secs(
            settings.executors.timeout_seconds,
        ));
        if let Err(e) = watchdog::spawn(progress.clone(), period, max_pass, watchdog_stop.clone()) {
            warn!(error = %e, "cannot start the watchdog thread; systemd will restart the daemon");
        }
    }
    tokio::spawn(signals(
        shutdown_tx,
        settings_tx,
        status.clone(),
        config_path,
        overrides,
    ));

    // Probing the tools runs short commands (`docker version`): off the runtime.
    let executor_settings = settings.executors.clone();
    let executors = tokio::task::spawn_blocking(move || Executors::detect(&executor_settings))
        .await
        .unwrap_or_default();
    for (provider, available) in executors.availability() {
        match available {
            Ok(name) => info!(provider = provider.as_str(), executor = %name, "executor ready"),
            Err(reason) => info!(provider = provider.as_str(), %reason, "rendered, not applied"),
        }
    }
    let observers = observers(&settings, &executors);
    // Notification delivery: its own task and database connection, never the loop's.
    tokio::spawn(crate::notify_out::deliver::run(
        settings.notify.clone(),
        settings.database_url.clone(),
        metrics.clone(),
        shutdown_rx.clone(),
    ));
    tokio::spawn(watch::observe(
        settings_rx.clone(),
        tx.clone(),
        shutdown_rx.clone(),
    ));
    let (gate, membership) = crate::cluster::start(
        &settings.database_url,
        &settings.state_dir,
        metrics.clone(),
        status.clone(),
    );
    let scan_status = status.clone();
    let mut reconciler = run::Reconciler::new(
        settings,
        engine,
        repo,
        run::Tools {
            executors,
            observers,
        },
        status,
        metrics,
        shutdown_rx.clone(),
    );
    tokio::spawn(inventory_scan::run(
        settings_rx.clone(),
        reconciler.inventory.subscribe(),
        gate.clone(),
        scan_status,
        shutdown_rx.clone(),
    ));
    reconciler.cluster = gate;
    reconciler.progress = progress;
    reconciler.watchdog_period = watchdog_period;
    let result = reconciler.run(rx, tx, shutdown_rx, settings_rx).await;
    watchdog_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(membership) = membership {
        membership.leave().await;
    }
    match http.await {
        Ok(Err(e)) => warn!(error = %e, "HTTP listener stopped with an error"),
        Err(e) => warn!(error = %e, "HTTP task failed"),
        Ok(Ok(())) => {}
    }
    info!("homelabd stopped");
    result
}

/// The drift observers for the providers whose tools or APIs are configured: docker
/// when the CLI is installed, the Proxmox VE API when `[proxmox]` and its token are set,
/// `terraform plan` for Proxmox and vSphere resources and `kubectl get` for Kubernetes
/// where their executors can run.
fn observers(settings: &Settings, executors: &Executors) -> Vec<(Provider, Arc<dyn Observer>)> {
    let docker = settings
        .executors
        .docker
        .docker_binary
        .clone()
        .unwrap_or_else(|| "docker".to_owned());
    let mut out: Vec<(Provider, Arc<dyn Observer>)> = Vec::new();
    if crate::apply::find_program(&docker).is_some() {
        out.push((Provider::Docker, Arc::new(DockerObserver::new(&docker))));
    }
    match (&settings.proxmox, &settings.proxmox_token) {
        (Some(pve), Some(token)) => match crate::observe::proxmox::observer(pve, token) {
            Ok(o) => out.push((Provider::Proxmox, Arc::new(o))),
            Err(e) => {
                warn!(error = %e, "the Proxmox VE observer cannot start; Proxmox drift is not observed")
            }
        },
        (Some(_), None) => warn!(
            "[proxmox] is configured but no token (credential proxmox-token or HOMELABD_PROXMOX_TOKEN): Proxmox drift is not observed"
        ),
        _ => {}
    }
    let runner = || {
        crate::apply::Runner::new(
            std::time::Duration::from_secs(settings.executors.timeout_seconds),
            tokio_util::sync::CancellationToken::new(),
        )
    };
    for provider in [Provider::Proxmox, Provider::Vmware] {
        if executors.get(provider).is_ok() {
            out.push((
                provider,
                Arc::new(crate::observe::terraform::TerraformObserver::new(
                    &settings.executors,
                    runner(),
                )),
            ));
        }
    }
    if executors.get(Provider::Kubernetes).is_ok() {
        out.push((
            Provider::Kubernetes,
            Arc::new(crate::observe::kubernetes::KubernetesObserver::new(
                &settings.executors,
                runner(),
            )),
        ));
    }
    out
}

/// Reports a reload: what took effect, and (log and `/readyz`) what waits for a restart.
fn reloaded(path: &std::path::Path, report: &crate::config::Reload, status: &status::DaemonStatus) {
    if report.needs_restart.is_empty() {
        info!(config = %path.display(), applied = %report.applied.join(", "), "configuration reloaded");
    } else {
        info!(config = %path.display(), applied = %report.applied.join(", "), "configuration reloaded except the settings below");
        warn!(config = %path.display(), changed = %report.needs_restart.join(", "), "these settings take effect only after a restart");
    }
    status.update(|s| {
        s.restart_required = report
            .needs_restart
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
    });
}

/// SIGTERM/SIGINT: graceful, then forceful. SIGHUP: re-read and check the config file.
async fn signals(
    shutdown: wch::Sender<bool>,
    settings: wch::Sender<Arc<Settings>>,
    status: Arc<status::DaemonStatus>,
    config_path: Option<PathBuf>,
    overrides: Overrides,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("cannot install signal handlers");
        return;
    };
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {
                notify::reloading();
                match &config_path {
                    Some(path) => match RawConfig::load(path).and_then(|raw| Settings::resolve(raw, &overrides)) {
                        Ok(new) => {
                            let (running, report) = settings.borrow().reload(new);
                            reloaded(path, &report, &status);
                            settings.send_replace(Arc::new(running));
                        }
                        Err(e) => error!(config = %path.display(), error = %e, "configuration invalid; keeping the running one"),
                    },
                    None => info!("SIGHUP: no config file to re-read"),
                }
                notify::ready();
                continue;
            }
        }
        if stopping {
            warn!("second stop signal: exiting now");
            std::process::exit(130);
        }
        stopping = true;
        info!("stop signal: finishing the current pass");
        let _ = shutdown.send(true);
    }
}
