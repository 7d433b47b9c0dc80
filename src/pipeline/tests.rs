//! A run with a [`Memo`] gives the outcome of a fresh run, and parses only what changed.

use super::*;
use crate::place::Decision;
use crate::source::load_dir;
use crate::testgen::{Rng, mutate};
use crate::validate::InvalidResource;
use std::path::Path;

fn example() -> Snapshot {
    load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"),
        None,
    )
    .expect("example repository")
}

/// A run on `snapshot` after `base` as the daemon runs it: `base`'s placements kept,
/// and the render of a resource with `base`'s input hash reused.
fn run(
    engine: &Engine,
    snapshot: &Snapshot,
    memo: Option<&mut Memo>,
    base: Option<&Outcome>,
) -> Outcome {
    let priors = base.map(Outcome::priors).unwrap_or_default();
    let reuse = |name: &str, input: &str| {
        let m = &base?.rendered.get(name)?.manifest;
        (m.input_hash == input).then(|| m.output_hash.clone())
    };
    engine.run_memo(
        snapshot,
        memo,
        &priors,
        &LiveLoad::new(),
        Mode::Sticky,
        &reuse,
    )
}

/// What a user sees of an outcome: every diagnostic, the valid and invalid resources,
/// the placements and the hashes of every render.
#[derive(Debug, PartialEq)]
struct Seen {
    diagnostics: Vec<Diagnostic>,
    valid: Vec<String>,
    invalid: BTreeMap<String, InvalidResource>,
    decisions: BTreeMap<String, Decision>,
    hashes: BTreeMap<String, (String, String)>,
    /// Resources whose output on disk was reused (not written again).
    reused: Vec<String>,
}

fn seen(o: &Outcome) -> Seen {
    Seen {
        diagnostics: o.diagnostics.clone(),
        valid: o.catalog.resources.keys().cloned().collect(),
        invalid: o.catalog.invalid_resources.clone(),
        decisions: o.decisions.clone(),
        hashes: o
            .rendered
            .iter()
            .map(|(name, r)| {
                let m = &r.manifest;
                (name.clone(), (m.input_hash.clone(), m.output_hash.clone()))
            })
            .collect(),
        reused: o
            .rendered
            .iter()
            .filter(|(_, r)| r.reused)
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

fn replace(snapshot: &mut Snapshot, path: &str, content: Vec<u8>) {
    match snapshot.files.iter_mut().find(|f| f.path == path) {
        Some(file) => file.content = content,
        None => {
            snapshot.files.push(SourceFile {
                path: path.to_owned(),
                content,
            });
            snapshot.files.sort_by(|a, b| a.path.cmp(&b.path));
        }
    }
}

fn documents(snapshot: &Snapshot) -> usize {
    snapshot.documents().count()
}

#[test]
fn unchanged_files_are_not_parsed_again_and_a_changed_one_is() {
    let engine = Engine::new().expect("engine");
    let mut snapshot = example();
    let files = documents(&snapshot);
    let mut memo = Memo::default();
    let first = run(&engine, &snapshot, Some(&mut memo), None);
    assert!(!first.has_errors(), "{:?}", first.diagnostics);
    let resources = first.rendered.len();
    assert_eq!(
        memo.last_use(),
        MemoUse {
            reused: 0,
            parsed: files,
            renders_kept: 0
        }
    );

    let again = run(&engine, &snapshot, Some(&mut memo), Some(&first));
    assert_eq!(
        memo.last_use(),
        MemoUse {
            reused: files,
            parsed: 0,
            renders_kept: resources
        }
    );
    assert_eq!(
        seen(&again),
        seen(&run(&engine, &snapshot, None, Some(&first)))
    );

    let path = "definitions/apps/nextcloud.yaml";
    let text = String::from_utf8(
        snapshot
            .files
            .iter()
            .find(|f| f.path == path)
            .expect("nextcloud")
            .content
            .clone(),
    )
    .expect("text");
    assert!(text.contains("owner: "), "{text}");
    replace(
        &mut snapshot,
        path,
        text.replacen("owner: ", "owner: changed-", 1).into_bytes(),
    );
    let changed = run(&engine, &snapshot, Some(&mut memo), Some(&again));
    assert_eq!(
        memo.last_use(),
        MemoUse {
            reused: files - 1,
            parsed: 1,
            renders_kept: resources - 1
        }
    );
    assert!(!changed.rendered["nextcloud"].reused);
    let owner = &changed.catalog.resources["nextcloud"]
        .object
        .spec
        .dimensions["owner"];
    assert!(owner.to_string().contains("changed-"), "{owner}");
    assert_eq!(
        seen(&changed),
        seen(&run(&engine, &snapshot, None, Some(&again)))
    );
}

#[test]
fn another_engine_parses_everything_afresh() {
    let snapshot = example();
    let mut memo = Memo::default();
    let first = run(
        &Engine::new().expect("engine"),
        &snapshot,
        Some(&mut memo),
        None,
    );
    let stricter = Limits {
        max_documents_per_file: 1,
        ..Limits::default()
    };
    let engine = Engine::with_limits(stricter).expect("engine");
    let outcome = run(&engine, &snapshot, Some(&mut memo), Some(&first));
    assert_eq!(memo.last_use().reused, 0);
    assert_eq!(memo.last_use().renders_kept, 0);
    assert_eq!(
        seen(&outcome),
        seen(&run(&engine, &snapshot, None, Some(&first)))
    );
}

#[test]
fn a_changed_chart_reaches_resources_whose_files_did_not_change() {
    let engine = Engine::new().expect("engine");
    let mut snapshot = example();
    let mut memo = Memo::default();
    let before = run(&engine, &snapshot, Some(&mut memo), None);
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/docker-compose");
    for path in [
        "Chart.yaml",
        "values.yaml",
        "templates/compose.yaml.tpl",
        "templates/homelabd.secrets.json.tpl",
    ] {
        let mut content = std::fs::read(chart.join(path)).expect("chart file");
        if path == "values.yaml" {
            content.extend(b"\n# shadowed by the repository\nbind_address: 127.0.0.1\n");
        }
        replace(
            &mut snapshot,
            &format!("charts/docker-compose/{path}"),
            content,
        );
    }
    let after = run(&engine, &snapshot, Some(&mut memo), Some(&before));
    assert!(!after.has_errors(), "{:?}", after.diagnostics);
    assert_eq!(memo.last_use().parsed, 0, "no definition changed");
    assert_eq!(
        memo.last_use().renders_kept,
        0,
        "every render depends on the charts"
    );
    let docker: Vec<&String> = before
        .decisions
        .iter()
        .filter(|(_, d)| d.chart == "docker-compose")
        .map(|(name, _)| name)
        .collect();
    assert!(!docker.is_empty());
    for name in docker {
        assert_ne!(
            before.rendered[name].manifest.input_hash, after.rendered[name].manifest.input_hash,
            "{name} renders with the repository's chart"
        );
    }
    assert_eq!(
        seen(&after),
        seen(&run(&engine, &snapshot, None, Some(&before)))
    );
}

/// Random damage, repairs, removals and duplicates of definition files, one commit
/// after another: every run with the memo sees what a fresh run sees.
#[test]
fn runs_with_the_memo_see_what_fresh_runs_see() {
    let engine = Engine::new().expect("engine");
    let original = example();
    let paths: Vec<String> = original.documents().map(|f| f.path.clone()).collect();
    let mut snapshot = original.clone();
    let mut memo = Memo::default();
    let mut base = run(&engine, &snapshot, Some(&mut memo), None);
    let mut rng = Rng::new(11);
    for round in 0..30 {
        let path = rng.pick(&paths).clone();
        let text = original
            .files
            .iter()
            .find(|f| f.path == path)
            .map(|f| String::from_utf8_lossy(&f.content).into_owned())
            .unwrap_or_default();
        match rng.below(4) {
            0 => replace(&mut snapshot, &path, mutate(&mut rng, &text)),
            1 => replace(&mut snapshot, &path, text.into_bytes()),
            2 => snapshot.files.retain(|f| f.path != path),
            _ => replace(
                &mut snapshot,
                &format!("copy/{round}.yaml"),
                text.into_bytes(),
            ),
        }
        let kept = run(&engine, &snapshot, Some(&mut memo), Some(&base));
        let fresh = run(&engine, &snapshot, None, Some(&base));
        assert_eq!(seen(&kept), seen(&fresh), "round {round}: {path}");
        assert!(memo.last_use().parsed <= 1, "round {round}");
        assert_eq!(memo.len(), documents(&snapshot));
        base = kept;
    }
}

/// The resources of the example repository whose document the memo keeps lean: those
/// without a template and without secret references.
const LEAN: [&str; 3] = ["build-agent", "cloud-burst", "azure-runner"];

fn file_of(name: &str) -> String {
    format!("definitions/ci/{name}.yaml")
}

/// The line (1-based) of the first line of `path` in `snapshot` that holds `needle`.
fn line_of(snapshot: &Snapshot, path: &str, needle: &str) -> usize {
    let file = snapshot.files.iter().find(|f| f.path == path).expect(path);
    let text = String::from_utf8_lossy(&file.content);
    1 + text.lines().position(|l| l.contains(needle)).expect(needle)
}

#[test]
fn the_memo_keeps_resource_documents_lean_and_a_deleted_file_leaves_it() {
    let engine = Engine::new().expect("engine");
    let mut snapshot = example();
    let mut memo = Memo::default();
    let first = run(&engine, &snapshot, Some(&mut memo), None);
    assert!(!first.has_errors(), "{:?}", first.diagnostics);
    let lean = memo.lean_documents();
    for name in LEAN {
        assert!(lean.contains(&file_of(name)), "{name} kept lean: {lean:?}");
    }
    assert!(
        !lean.contains(&"definitions/apps/nextcloud.yaml".to_owned()),
        "its template rules read its value"
    );
    assert!(
        lean.iter().all(|f| f.starts_with("definitions/")),
        "{lean:?}"
    );

    // A second run takes the lean documents; what it renders and reports is the same.
    let again = run(&engine, &snapshot, Some(&mut memo), Some(&first));
    assert_eq!(
        seen(&again),
        seen(&run(&engine, &snapshot, None, Some(&first)))
    );
    let entry = &again.catalog.resources["build-agent"];
    assert_eq!(entry.doc.value()["spec"]["workload_type"], "ci-cd");
    assert_eq!(
        entry.doc.positions().locate("/spec/workload_type").0,
        line_of(&snapshot, &file_of("build-agent"), "workload_type:")
    );

    let files = memo.len();
    snapshot
        .files
        .retain(|f| f.path != "definitions/ci/build-agent.yaml");
    let after = run(&engine, &snapshot, Some(&mut memo), Some(&again));
    assert_eq!(memo.len(), files - 1, "the deleted file is not kept");
    assert!(!after.catalog.resources.contains_key("build-agent"));
    assert!(!after.rendered.contains_key("build-agent"));
    assert_eq!(
        seen(&after),
        seen(&run(&engine, &snapshot, None, Some(&again)))
    );
}

#[test]
fn a_deleted_workload_type_is_reported_at_the_lines_of_unchanged_lean_documents() {
    let engine = Engine::new().expect("engine");
    let mut snapshot = example();
    let mut memo = Memo::default();
    let first = run(&engine, &snapshot, Some(&mut memo), None);
    let lines: Vec<usize> = LEAN
        .iter()
        .map(|name| line_of(&snapshot, &file_of(name), "workload_type:"))
        .collect();
    snapshot
        .files
        .retain(|f| f.path != "workload-types/ci-cd.yaml");
    let after = run(&engine, &snapshot, Some(&mut memo), Some(&first));
    assert_eq!(memo.last_use().parsed, 0, "no file changed, one went");
    for (name, line) in LEAN.iter().zip(lines) {
        let d = after
            .diagnostics
            .iter()
            .find(|d| d.name.as_deref() == Some(*name) && d.pointer == "/spec/workload_type")
            .unwrap_or_else(|| panic!("{name}: {:?}", after.diagnostics));
        assert_eq!(d.line, Some(line), "{name}: the line of its workload_type");
        assert!(
            after.catalog.invalid_resources.contains_key(*name),
            "{name}"
        );
    }
    assert_eq!(
        seen(&after),
        seen(&run(&engine, &snapshot, None, Some(&first)))
    );
}

#[test]
fn a_changed_pool_renders_resources_of_unchanged_files_again() {
    let engine = Engine::new().expect("engine");
    let mut snapshot = example();
    let mut memo = Memo::default();
    let first = run(&engine, &snapshot, Some(&mut memo), None);
    let path = "pools/cloud.yaml";
    let text = snapshot
        .files
        .iter()
        .find(|f| f.path == path)
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .expect("cloud pools");
    replace(
        &mut snapshot,
        path,
        format!("{text}\n---\napiVersion: homelab.ai/v1\nkind: ResourcePool\nmetadata: {{ name: spare }}\nspec:\n  path: /cloud/spare\n  pool_type: group\n").into_bytes(),
    );
    let after = run(&engine, &snapshot, Some(&mut memo), Some(&first));
    assert!(!after.has_errors(), "{:?}", after.diagnostics);
    assert_eq!(memo.last_use().parsed, 1);
    assert_eq!(
        memo.last_use().renders_kept,
        0,
        "every render depends on the pools"
    );
    assert_eq!(
        seen(&after),
        seen(&run(&engine, &snapshot, None, Some(&first)))
    );
}
