//! Pipeline benchmark: generates homelab repositories of 100, 1,000 and 10,000
//! definitions (a mix of Proxmox VMs with Ansible roles, Kubernetes workloads, Compose
//! services and AWS instances) and reports load, parse, validate, place, render and write
//! times plus peak memory; then, per size, the stages of the daemon's pass over a commit
//! that changes one definition (the tree read from git, the earlier placements kept and
//! the renders of unchanged resources reused, as the daemon does). Run with
//! `cargo bench --bench pipeline`; pass sizes to choose (`cargo bench --bench pipeline --
//! 10000`).

use homelabd::pipeline::Engine;
use homelabd::render::write::{resource_dir, write_atomic};
use homelabd::source::load_dir;
use std::time::{Duration, Instant};

#[path = "support/generate.rs"]
mod generate;
use generate::generate;

#[path = "support/commit_pass.rs"]
mod commit_pass;
#[path = "support/daemon.rs"]
mod daemon;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1_000, 10_000]
    } else {
        sizes
    };
    let engine = Engine::new().expect("schemas compile");
    println!(
        "| definitions | load | parse | validate | place | render | total (no write) | write | peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let repo = tempfile::tempdir().expect("temp dir");
        generate(repo.path(), n);
        let started = Instant::now();
        let snapshot = load_dir(repo.path(), None).expect("load");
        let load = started.elapsed();
        let outcome = engine.run(&snapshot);
        let total = started.elapsed();
        assert!(!outcome.has_errors(), "{:?}", outcome.diagnostics.first());
        assert_eq!(outcome.rendered.len(), n);
        let out = tempfile::tempdir().expect("temp dir");
        let w = Instant::now();
        for (name, r) in &outcome.rendered {
            write_atomic(
                &resource_dir(out.path(), r.manifest.provider.as_str(), name),
                r,
            )
            .expect("write");
        }
        let write = w.elapsed();
        let t = outcome.timings;
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} MiB |",
            ms(load),
            ms(t.parse),
            ms(t.validate),
            ms(t.place),
            ms(t.render),
            ms(total),
            ms(write),
            peak_rss_mib()
        );
    }
    println!();
    commit_pass::table(&engine, &sizes);
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb / 1024)
}
