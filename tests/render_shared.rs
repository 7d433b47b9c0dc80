//! Vendored Terraform modules and Ansible roles are written once per content under
//! `rendered-configs/.shared/`, resource directories refer to them by relative path and
//! stay usable on their own (`terraform get` finds the modules, `ansible-playbook` the
//! roles), also after the rendered tree is copied elsewhere, and entries no resource
//! refers to any more are removed by the next `homelabd render`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn render(repo: &Path, out: &Path) {
    let o = support::homelabd(&[
        "render",
        repo.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", support::stderr(&o));
}

/// Names of the entries of `<out>/.shared`.
fn shared_entries(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join(".shared"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn resource_dirs(out: &Path, provider: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join(provider))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn modules_and_roles_are_written_once_and_referenced_relatively() {
    let out = tempfile::tempdir().unwrap();
    render(&support::example_repo(), out.path());
    let entries = shared_entries(out.path());
    // One entry per module and role in use, each named by its content digest.
    for name in [
        "proxmox-vm",
        "vsphere-vm",
        "base-system",
        "postgresql",
        "jenkins",
    ] {
        let found: Vec<&String> = entries
            .iter()
            .filter(|e| e.starts_with(&format!("{name}@")))
            .collect();
        assert_eq!(found.len(), 1, "{name} in {entries:?}");
        assert_eq!(found[0].len(), name.len() + 17, "{}", found[0]);
    }
    let module = entries
        .iter()
        .find(|e| e.starts_with("proxmox-vm@"))
        .unwrap();
    assert!(
        out.path()
            .join(".shared")
            .join(module)
            .join("proxmox-vm/main.tf")
            .is_file()
    );
    for provider in ["proxmox", "vmware"] {
        for dir in resource_dirs(out.path(), provider) {
            // No copies inside the resource directory: a handful of rendered files.
            assert!(!dir.join("modules").exists(), "{}", dir.display());
            assert!(!dir.join("ansible/roles").exists(), "{}", dir.display());
            assert!(count_files(&dir) <= 10, "{}", dir.display());
            let main = std::fs::read_to_string(dir.join("main.tf")).unwrap();
            assert!(main.contains("source = \"../../.shared/"), "{main}");
            let cfg = std::fs::read_to_string(dir.join("ansible/ansible.cfg")).unwrap();
            assert!(
                cfg.contains("roles_path = ../../../.shared/base-system@"),
                "{cfg}"
            );
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("homelabd.manifest.json")).unwrap())
                    .unwrap();
            let shared = manifest["shared"].as_array().expect("shared entries");
            assert!(
                shared
                    .iter()
                    .any(|e| e.as_str().unwrap().starts_with("base-system@"))
            );
        }
    }
}

#[test]
fn a_resource_directory_works_on_its_own_also_after_the_tree_is_copied() {
    let Some(terraform) = support::tool("terraform") else {
        return support::skip("terraform get", "terraform is not installed");
    };
    let out = tempfile::tempdir().unwrap();
    render(&support::example_repo(), out.path());
    let copy = tempfile::tempdir().unwrap();
    support::copy_tree(out.path(), copy.path());
    let cfg = tempfile::NamedTempFile::new().unwrap();
    for root in [out.path(), copy.path()] {
        for provider in ["proxmox", "vmware"] {
            for dir in resource_dirs(root, provider) {
                // `terraform get` installs the module calls (local paths are read where
                // they are) and needs no provider plugins, so it runs offline.
                let o = Command::new(&terraform)
                    .args(["get", "-no-color"])
                    .current_dir(&dir)
                    .env("TF_CLI_CONFIG_FILE", cfg.path())
                    .output()
                    .unwrap();
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                assert!(
                    o.status.success(),
                    "terraform get in {}:\n{text}",
                    dir.display()
                );
                let modules =
                    std::fs::read_to_string(dir.join(".terraform/modules/modules.json")).unwrap();
                assert!(modules.contains(".shared/"), "{modules}");
            }
        }
    }
    let Some(ansible) = support::tool("ansible-playbook") else {
        return support::skip("ansible-playbook --syntax-check", "ansible-core missing");
    };
    let home = tempfile::tempdir().unwrap();
    for dir in resource_dirs(copy.path(), "proxmox") {
        let play = dir.join("ansible");
        let o = Command::new(&ansible)
            .args(["--syntax-check", "-i", "inventory.yml", "playbook.yml"])
            .current_dir(&play)
            .env("HOME", home.path())
            .env("ANSIBLE_CONFIG", play.join("ansible.cfg"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ansible-playbook --syntax-check {}:\n{}",
            play.display(),
            support::stderr(&o)
        );
    }
}

#[test]
fn entries_no_resource_refers_to_are_removed_by_the_next_render() {
    let repo = support::example_copy();
    let out = tempfile::tempdir().unwrap();
    render(repo.path(), out.path());
    let before = shared_entries(out.path());
    assert!(
        before.iter().any(|e| e.starts_with("postgresql@")),
        "{before:?}"
    );
    // Left by an older homelabd whose module had other content.
    std::fs::create_dir_all(
        out.path()
            .join(".shared/proxmox-vm@0000000000000000/proxmox-vm"),
    )
    .unwrap();
    // The database workload no longer asks for the postgresql role: its only user's
    // directory is rewritten without it.
    let path = repo.path().join("workload-types/database.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("roles: [postgresql]", "roles: []")).unwrap();
    render(repo.path(), out.path());
    let after = shared_entries(out.path());
    assert!(
        !after.iter().any(|e| e.starts_with("postgresql@")),
        "{after:?}"
    );
    assert!(
        !after.contains(&"proxmox-vm@0000000000000000".to_owned()),
        "{after:?}"
    );
    let still: Vec<&String> = before
        .iter()
        .filter(|e| !e.starts_with("postgresql@"))
        .collect();
    assert_eq!(after.iter().collect::<Vec<_>>(), still);
}
