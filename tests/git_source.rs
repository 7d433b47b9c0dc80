//! Reading definitions from a git commit's tree (git2): no checkout, so uncommitted or
//! half-written files never count, and a sub-path can be tracked.

mod support;

use homelabd::source::{SourceError, load_commit};
use support::{example_copy, git_commit_all, homelabd, stdout, write};

#[test]
fn a_commit_is_read_from_its_tree_not_the_working_copy() {
    let repo = example_copy();
    let first = git_commit_all(repo.path(), "example homelab");
    // Uncommitted breakage in the working copy is invisible to --rev.
    write(
        repo.path(),
        "definitions/wip.yaml",
        "apiVersion: homelab.ai/v1\nkind: [half-written\n",
    );
    let out = homelabd(&[
        "validate",
        repo.path().to_str().unwrap(),
        "--rev",
        "HEAD",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["revision"], first.as_str());
    assert_eq!(doc["resources"]["valid"], 9);
    // The same directory read from disk sees the broken file.
    let disk = homelabd(&["validate", repo.path().to_str().unwrap()]);
    assert_eq!(disk.status.code(), Some(1));
}

#[test]
fn render_records_the_commit_in_every_manifest() {
    let repo = example_copy();
    let commit = git_commit_all(repo.path(), "example homelab");
    let out_dir = tempfile::tempdir().unwrap();
    let out = homelabd(&[
        "render",
        repo.path().to_str().unwrap(),
        "--rev",
        "HEAD",
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            out_dir
                .path()
                .join("docker/uptime-kuma/homelabd.manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["revision"], commit.as_str());
    assert_eq!(manifest["chart"], "docker-compose@1.0.0");
    assert!(
        manifest["input_hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
}

#[test]
fn a_sub_path_of_the_repository_can_be_tracked() {
    let outer = tempfile::tempdir().unwrap();
    support::copy_tree(
        &support::example_repo(),
        &outer.path().join("infra/homelab"),
    );
    write(outer.path(), "README.md", "not a definition\n");
    write(outer.path(), "other/junk.yaml", "this: [is not read\n");
    git_commit_all(outer.path(), "monorepo");
    let snapshot = load_commit(outer.path(), "HEAD", Some("infra/homelab")).unwrap();
    assert!(
        snapshot
            .documents()
            .any(|f| f.path == "definitions/ai/ollama.yaml")
    );
    assert!(snapshot.documents().all(|f| !f.path.contains("junk")));
    let out = homelabd(&[
        "validate",
        outer.path().to_str().unwrap(),
        "--rev",
        "HEAD",
        "--path",
        "infra/homelab",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // A missing sub-path or revision is a usage error, named as such.
    assert!(matches!(
        load_commit(outer.path(), "HEAD", Some("nope")),
        Err(SourceError::SubPathMissing { .. })
    ));
    let bad_rev = homelabd(&[
        "validate",
        outer.path().to_str().unwrap(),
        "--rev",
        "no-such-branch",
    ]);
    assert_eq!(bad_rev.status.code(), Some(2));
}
