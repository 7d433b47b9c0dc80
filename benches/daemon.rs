//! Daemon benchmark: the release `homelabd daemon` on generated repositories.
//!
//! - commit-to-recorded latency for one changed definition in a 1,000-definition repo
//!   (inotify trigger; median and p90 of 20 commits);
//! - a forced no-op pass (`homelabd reconcile`) over 10,000 definitions;
//! - commit-to-recorded latency for one container's memory changed in a 10,000-definition
//!   repo (median and p90 of 10 commits), and the `resource.updated` audit rows each
//!   such commit writes (one is right: placement notes no longer re-render neighbours);
//! - idle RSS of the daemon holding 10,000 definitions;
//! - where the time of those 10,000-definition commits goes: the median of each stage
//!   the daemon logs (`pipeline` line: load, parse, validate, place, render) and of the
//!   whole pass (`reconciled` line), and the peak RSS of the daemon so far.
//!
//! Run: `cargo bench --bench daemon`.

#[path = "support/generate.rs"]
mod generate;

#[path = "support/daemon.rs"]
mod daemon;

use daemon::{git, head, init_repo, memory_mib, percentile, sqlite_url, start, wait_revision};
use homelabd::store::Store;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    // 1. Latency on 1,000 definitions.
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    generate::generate(&repo, 1_000);
    init_repo(&repo);
    let state = tmp.path().join("state");
    let daemon = start(&repo, &state);
    let url = sqlite_url(&state);
    wait_revision(&url, &head(&repo), Duration::from_millis(50)).await;
    let mut samples = Vec::new();
    let file = repo.join("definitions/group-000/svc-00001.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    for i in 0..20 {
        std::fs::write(
            &file,
            original.replace("owner: bench", &format!("owner: bench-{i}")),
        )
        .unwrap();
        git(&repo, &["commit", "-q", "-am", "change one"]);
        let commit = head(&repo);
        let t0 = Instant::now();
        wait_revision(&url, &commit, Duration::from_millis(2)).await;
        samples.push(t0.elapsed());
    }
    samples.sort();
    println!(
        "| commit-to-recorded, 1,000 definitions (20 commits) | median {:.0} ms | p90 {:.0} ms | max {:.0} ms |",
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.9).as_secs_f64() * 1000.0,
        samples.last().unwrap().as_secs_f64() * 1000.0
    );
    drop(daemon);

    // 2. No-op pass and idle RSS on 10,000 definitions.
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    generate::generate(&repo, 10_000);
    init_repo(&repo);
    let state = tmp.path().join("state");
    let daemon = start(&repo, &state);
    let url = sqlite_url(&state);
    let t0 = Instant::now();
    wait_revision(&url, &head(&repo), Duration::from_millis(100)).await;
    println!(
        "| first full load, 10,000 definitions (render + write + record) | {:.1} s |",
        t0.elapsed().as_secs_f64()
    );
    let store = Store::connect(&url).await.unwrap();
    let log = state.with_extension("log");
    // The revision row lands before the pass logs its line: wait for that line first.
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("reconciled")
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut noop = Vec::new();
    for _ in 0..5 {
        let before = std::fs::read_to_string(&log)
            .unwrap()
            .matches("reconciled")
            .count();
        store.request_reconcile(None, "bench").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let line = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            let lines: Vec<&str> = text.lines().filter(|l| l.contains("reconciled")).collect();
            if lines.len() > before {
                break lines.last().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "no pass");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // `took=12.3ms` in the pass's log line.
        let took = line
            .split("took=")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .unwrap_or("?")
            .to_owned();
        noop.push(took);
    }
    println!(
        "| forced no-op pass, 10,000 definitions (5 runs) | {} |",
        noop.join(", ")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "| idle RSS, 10,000 definitions | {:.1} MiB |",
        memory_mib(daemon.0.id(), "VmRSS")
    );

    // 3. One container's memory changed in 10,000 definitions.
    let updated = async || {
        store
            .audit_log(1_000_000)
            .await
            .unwrap()
            .iter()
            .filter(|a| a.action == "resource.updated")
            .count()
    };
    let file = repo.join("definitions/group-000/svc-00002.yaml");
    let original = std::fs::read_to_string(&file).unwrap();
    let mut samples = Vec::new();
    let mut rows = Vec::new();
    for i in 0..10 {
        let before = updated().await;
        std::fs::write(
            &file,
            original.replace("memory_gb: 4,", &format!("memory_gb: {},", 5 + i % 2)),
        )
        .unwrap();
        git(&repo, &["commit", "-q", "-am", "more memory"]);
        let commit = head(&repo);
        let t0 = Instant::now();
        wait_revision(&url, &commit, Duration::from_millis(2)).await;
        samples.push(t0.elapsed());
        rows.push(updated().await - before);
    }
    samples.sort();
    println!(
        "| commit-to-recorded, one container's memory, 10,000 definitions (10 commits) | median {:.0} ms | p90 {:.0} ms | max {:.0} ms | resource.updated rows per commit: {rows:?} |",
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.9).as_secs_f64() * 1000.0,
        samples.last().unwrap().as_secs_f64() * 1000.0
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let stages: Vec<String> = ["load", "parse", "validate", "place", "render"]
        .iter()
        .map(|stage| format!("{stage} {}", median_field(&text, "pipeline", stage, 10)))
        .collect();
    println!(
        "| stages of those commits (median of the daemon's log) | {} | whole pass {} | peak RSS so far {:.1} MiB |",
        stages.join(", "),
        median_field(&text, "reconciled", "took", 10),
        memory_mib(daemon.0.id(), "VmHWM")
    );
    drop(daemon);
}

/// The median of `field=` (a duration such as `12.3ms` or `1.2s`) over the last `last`
/// log lines whose message is `message`, in milliseconds.
fn median_field(log: &str, message: &str, field: &str, last: usize) -> String {
    let key = format!("{field}=");
    let mut values: Vec<f64> = log
        .lines()
        .filter(|l| l.contains(&format!(": {message}")))
        .filter_map(|l| {
            let value = l.split_whitespace().find_map(|w| w.strip_prefix(&key))?;
            let (number, scale) = if let Some(v) = value.strip_suffix("ms") {
                (v, 1.0)
            } else if let Some(v) = value.strip_suffix("µs") {
                (v, 0.001)
            } else if let Some(v) = value.strip_suffix("ns") {
                (v, 0.000_001)
            } else {
                (value.strip_suffix('s')?, 1000.0)
            };
            Some(number.parse::<f64>().ok()? * scale)
        })
        .collect();
    values = values.split_off(values.len().saturating_sub(last));
    if values.is_empty() {
        return "?".to_owned();
    }
    values.sort_by(f64::total_cmp);
    format!("{:.0} ms", values[values.len() / 2])
}
