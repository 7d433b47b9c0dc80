//! The `homelabd` binary: parses the command line and maps outcomes to exit codes
//! (0 valid, 1 invalid input, 2 usage error, 3 the work itself failed).

use clap::Parser;
use homelabd::cli::{Cli, UsageError, is_broken_pipe, run};
use std::process::ExitCode;

/// jemalloc hands memory back to the OS after a large pass; glibc kept the peak resident.
/// Its options (background purging within a second) are built in: `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS crypto provider for every HTTPS client (Proxmox VE API, GitHub): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The daemon narrates what it does; one-shot commands print their results instead.
    let default_level = match cli.command {
        homelabd::cli::Command::Daemon(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOMELABD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("homelabd: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(3)
            }
        }
    }
}
