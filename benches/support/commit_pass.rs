//! The daemon's pass over a commit that changes one definition, stage by stage: the
//! commit's tree read from git, then the pipeline with the earlier placements kept and
//! the renders of unchanged resources reused (what `daemon::commit_pass` does).

use super::daemon::{git, head, init_repo};
use super::generate::generate;
use super::ms;
use homelabd::limits::Limits;
use homelabd::pipeline::{Engine, Memo};
use homelabd::place::{LiveLoad, Mode, Priors};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Prints two rows per size, median stage times of `COMMITS` one-change commits: every
/// blob read and file parsed, and unchanged blobs, files and renders taken from the
/// last load and run ([`homelabd::source::Blobs`], [`Memo`]: the daemon's way).
pub fn table(engine: &Engine, sizes: &[usize]) {
    println!(
        "| definitions | one-change commit pass ({COMMITS} commits, median) | load | parse | validate | place | render | total |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        for memo in [false, true] {
            row(engine, n, memo);
        }
    }
}

const COMMITS: usize = 7;

fn row(engine: &Engine, n: usize, with_memo: bool) {
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path();
        generate(path, n);
        init_repo(path);
        let repo = git2::Repository::open(path).expect("repository");
        let limits = Limits::default();
        let mut blobs = homelabd::source::Blobs::default();
        let mut load = |commit: &str| {
            let oid = git2::Oid::from_str(commit).expect("commit id");
            let mut none = homelabd::source::Blobs::default();
            let kept = if with_memo { &mut blobs } else { &mut none };
            homelabd::source::load_tree_with(&repo, oid, None, &limits, kept).expect("load")
        };
        let mut memo = Memo::default();
        let first = engine.run_memo(
            &load(&head(path)),
            maybe(&mut memo, with_memo),
            &Priors::new(),
            &LiveLoad::new(),
            Mode::Sticky,
            &|_, _| None,
        );
        let mut priors = first.priors();
        let mut known: HashMap<String, (String, String)> = first
            .rendered
            .iter()
            .map(|(name, r)| {
                let m = &r.manifest;
                (name.clone(), (m.input_hash.clone(), m.output_hash.clone()))
            })
            .collect();
        drop(first);
        let file = path.join("definitions/group-000/svc-00002.yaml");
        let original = std::fs::read_to_string(&file).expect("definition");
        let mut rows: Vec<[Duration; 6]> = Vec::new();
        for i in 0..COMMITS {
            let text = original.replace("memory_gb: 4,", &format!("memory_gb: {},", 5 + i % 2));
            std::fs::write(&file, text).expect("write");
            git(path, &["commit", "-q", "-am", "more memory"]);
            let commit = head(path);
            let started = Instant::now();
            let snapshot = load(&commit);
            let loaded = started.elapsed();
            let reuse = |name: &str, input: &str| {
                let (i, o) = known.get(name)?;
                (i == input).then(|| o.clone())
            };
            let outcome = engine.run_memo(
                &snapshot,
                maybe(&mut memo, with_memo),
                &priors,
                &LiveLoad::new(),
                Mode::Sticky,
                &reuse,
            );
            let total = started.elapsed();
            let rendered: Vec<&String> = outcome
                .rendered
                .iter()
                .filter(|(_, r)| !r.reused)
                .map(|(name, _)| name)
                .collect();
            assert_eq!(rendered, ["svc-00002"], "one resource re-rendered");
            let t = outcome.timings;
            rows.push([loaded, t.parse, t.validate, t.place, t.render, total]);
            priors = outcome.priors();
            for (name, r) in &outcome.rendered {
                let m = &r.manifest;
                known.insert(name.clone(), (m.input_hash.clone(), m.output_hash.clone()));
            }
        }
        let median = |column: usize| {
            let mut values: Vec<Duration> = rows.iter().map(|r| r[column]).collect();
            values.sort();
            ms(values[values.len() / 2])
        };
        let how = if with_memo {
            "unchanged blobs, files and renders kept"
        } else {
            "every blob read, every file parsed"
        };
        println!(
            "| {n} | {how} | {} | {} | {} | {} | {} | {} |",
            median(0),
            median(1),
            median(2),
            median(3),
            median(4),
            median(5)
        );
    }
}

fn maybe(memo: &mut Memo, on: bool) -> Option<&mut Memo> {
    on.then_some(memo)
}
