//! Scale benchmark: the whole-process rows of the performance table at N definitions
//! (default 10,000), each printed next to its goal.
//!
//! On a generated repository (`support/generate.rs`: Proxmox VMs with Terraform and
//! Ansible roles, Kubernetes workloads, Compose services, AWS instances):
//!
//! - `homelabd render` to disk (a directory under the system temp dir) and to tmpfs
//!   (`/dev/shm`) in the same run: files and bytes written, wall time, and disk / tmpfs;
//! - `homelabd validate`: wall time and peak memory, and `check-jsonschema` on the same
//!   definition files (schema only) when it is on `PATH`;
//! - `homelabd daemon` (SQLite, manual applies): peak memory during the first pass and
//!   idle RSS afterwards.
//!
//! Peak memory of the one-shot commands comes from GNU time (`/usr/bin/time`); without it
//! those cells say so. The MCP and failover rows have benches of their own
//! (`--bench mcp`, `--bench failover`).
//!
//! Run: `cargo bench --bench scale [-- N]`, or `cargo bench --profile dev --bench scale`
//! for a debug build (slower; not comparable with the goals).

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/generate.rs"]
mod generate;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One whole-process run: wall time, peak RSS (when GNU time is there), success.
struct Run {
    wall: Duration,
    peak_mib: Option<f64>,
    ok: bool,
}

/// Runs `program args` under GNU time when it is installed, without a shell.
fn measure(program: &Path, args: &[&std::ffi::OsStr]) -> Run {
    let gnu_time = Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().expect("temp file");
    let mut command = if gnu_time.is_file() {
        let mut c = Command::new(gnu_time);
        c.args(["-f", "%M", "-o"]).arg(report.path()).arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .env("HOMELABD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let ok = command.status().is_ok_and(|s| s.success());
    let wall = started.elapsed();
    // GNU time writes the peak resident set in KiB as the file's last line.
    let peak_mib = std::fs::read_to_string(report.path())
        .ok()
        .and_then(|t| t.lines().last()?.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0);
    Run { wall, peak_mib, ok }
}

/// Files and bytes under `dir`.
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut stack = vec![dir.to_path_buf()];
    let (mut files, mut bytes) = (0, 0);
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// Every definition file of the generated repository.
fn definition_files(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo.join("definitions")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    out
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(m: Option<f64>) -> String {
    m.map_or("n/a (no /usr/bin/time)".to_owned(), |m| {
        format!("{m:.0} MiB")
    })
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "—",
    }
}

fn row(measure: &str, result: &str, goal: &str, met: Option<bool>) {
    println!("| {measure} | {result} | {goal} | {} |", verdict(met));
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_homelabd"));
    let work = tempfile::tempdir().expect("temp dir");
    let repo = work.path().join("repo");
    generate::generate(&repo, n);
    eprintln!("generated {n} definitions in {}", repo.display());

    println!("| measure ({n} definitions) | result | goal | |");
    println!("|---|---|---|---|");

    // Render to disk, then to tmpfs, in the same run.
    let disk_out = work.path().join("rendered");
    let disk = measure(
        &bin,
        &[
            "render".as_ref(),
            repo.as_os_str(),
            "--out".as_ref(),
            disk_out.as_os_str(),
        ],
    );
    assert!(disk.ok, "homelabd render failed");
    let (files, bytes) = tree_size(&disk_out);
    let mb = bytes as f64 / 1_000_000.0;
    row(
        "files / bytes written by `render`",
        &format!("{files} files, {mb:.1} MB"),
        "< 20,000 files, < 100 MB",
        Some(files < 20_000 && mb < 100.0),
    );
    let shm = Path::new("/dev/shm");
    let tmpfs = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    let tmpfs_run = tmpfs.as_ref().map(|t| {
        let out = t.path().join("rendered");
        measure(
            &bin,
            &[
                "render".as_ref(),
                repo.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ],
        )
    });
    let ratio = tmpfs_run
        .as_ref()
        .map(|t| disk.wall.as_secs_f64() / t.wall.as_secs_f64().max(1e-3));
    row(
        "`render` to disk, whole process",
        &format!(
            "{} (tmpfs {}; disk / tmpfs {})",
            secs(disk.wall),
            tmpfs_run
                .as_ref()
                .map_or("n/a".to_owned(), |t| secs(t.wall)),
            ratio.map_or("n/a".to_owned(), |r| format!("{r:.2}×"))
        ),
        "< 5 s, disk ≤ 1.5× tmpfs",
        ratio.map(|r| disk.wall < Duration::from_secs(5) && r <= 1.5),
    );
    row(
        "peak memory of `render`",
        &mib(disk.peak_mib),
        "< 150 MiB",
        disk.peak_mib.map(|m| m < 150.0),
    );

    // Validate, and check-jsonschema on the same files when it is installed.
    let validate = measure(&bin, &["validate".as_ref(), repo.as_os_str()]);
    assert!(validate.ok, "homelabd validate failed");
    let checker = which("check-jsonschema").map(|tool| {
        let schema =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/universal-resource.schema.json");
        let files = definition_files(&repo);
        let mut args: Vec<&std::ffi::OsStr> = vec!["--schemafile".as_ref(), schema.as_os_str()];
        args.extend(files.iter().map(|f| f.as_os_str()));
        measure(&tool, &args).wall
    });
    let speedup = checker.map(|c| c.as_secs_f64() / validate.wall.as_secs_f64().max(1e-3));
    row(
        "`validate`, whole process (vs `check-jsonschema`, schema only)",
        &format!(
            "{} (check-jsonschema {}; {})",
            secs(validate.wall),
            checker.map_or("not installed".to_owned(), secs),
            speedup.map_or("n/a".to_owned(), |s| format!("{s:.1}× faster"))
        ),
        "≥ 20× faster",
        speedup.map(|s| s >= 20.0),
    );
    row(
        "peak memory of `validate`",
        &mib(validate.peak_mib),
        "< 150 MiB",
        validate.peak_mib.map(|m| m < 150.0),
    );

    // The daemon: peak during the first pass, idle afterwards.
    daemon::init_repo(&repo);
    let state = work.path().join("state");
    let running = daemon::start(&repo, &state);
    let url = daemon::sqlite_url(&state);
    let t0 = Instant::now();
    daemon::wait_revision(&url, &daemon::head(&repo), Duration::from_millis(100)).await;
    let first = t0.elapsed();
    let peak = daemon::memory_mib(running.0.id(), "VmHWM");
    row(
        "peak memory of a daemon pass (the first: render, write, record everything)",
        &format!("{peak:.0} MiB (pass took {})", secs(first)),
        "< 150 MiB",
        Some(peak < 150.0),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = daemon::memory_mib(running.0.id(), "VmRSS");
    row(
        "idle daemon RSS after the first pass",
        &format!("{idle:.0} MiB"),
        "< 60 MiB",
        Some(idle < 60.0),
    );
    drop(running);
    println!(
        "\nMCP latency at {n}: `cargo bench --bench mcp`; failover: `cargo bench --bench failover`."
    );
}
