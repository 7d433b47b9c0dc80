//! Golden (snapshot) tests: each chart's output for the example homelab, byte for byte.
//! Vendored Terraform modules and Ansible roles are shared entries (`.shared/<name>@<digest>`)
//! holding `terraform/modules` and `ansible/roles` as they are; the test checks that each
//! resource refers to the right ones, not their content a second time.
//!
//! After an intended change to a chart: `UPDATE_GOLDEN=1 cargo test --test render_golden`,
//! then review the diff of `tests/golden/` like any other change.

mod support;

use homelabd::pipeline::Engine;
use homelabd::source::load_dir;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    support::root().join("tests/golden")
}

fn vendored(path: &str) -> bool {
    path.starts_with("modules/") || path.starts_with("ansible/roles/")
}

#[test]
fn rendered_example_matches_the_golden_files() {
    let snapshot = load_dir(&support::example_repo(), None).unwrap();
    let outcome = Engine::new().unwrap().run(&snapshot);
    assert!(!outcome.has_errors(), "{:#?}", outcome.diagnostics);
    let update = std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut expected_files = BTreeSet::new();
    let mut mismatches = Vec::new();
    for (name, rendered) in &outcome.rendered {
        for (path, bytes) in &rendered.files {
            if vendored(path) {
                continue;
            }
            let rel = format!("{}/{name}/{path}", rendered.manifest.provider);
            let golden = golden_dir().join(&rel);
            expected_files.insert(rel.clone());
            if update {
                std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
                std::fs::write(&golden, bytes.as_ref()).unwrap();
                continue;
            }
            match std::fs::read(&golden) {
                Ok(want) if want.as_slice() == bytes.as_ref() => {}
                Ok(_) => mismatches.push(format!("{rel} differs")),
                Err(_) => mismatches.push(format!("{rel} has no golden file")),
            }
        }
        // Terraform charts refer to their modules, playbooks to their roles, in the
        // shared directory: no copies in the resource's own files.
        let has = |prefix: &str| rendered.files.keys().any(|p| p.starts_with(prefix));
        let shares = |name: &str| {
            rendered
                .manifest
                .shared
                .iter()
                .any(|e| e.starts_with(&format!("{name}@")))
        };
        assert!(!has("modules/") && !has("ansible/roles/"), "{name} copies");
        if has("main.tf") {
            assert!(
                shares("proxmox-vm") || shares("vsphere-vm"),
                "{name} refers to its module"
            );
        }
        if has("ansible/playbook.yml") {
            assert!(shares("base-system"), "{name} refers to its roles");
        }
        let names: Vec<&str> = rendered.shared.iter().map(|b| b.entry.as_str()).collect();
        assert_eq!(names, rendered.manifest.shared, "{name}");
    }
    if !update {
        // No stale golden file for output that is no longer produced.
        for entry in walk(&golden_dir()) {
            if !expected_files.contains(&entry) {
                mismatches.push(format!("{entry} is golden but no longer rendered"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} golden mismatches (UPDATE_GOLDEN=1 to accept):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if let Ok(rel) = e.path().strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}
