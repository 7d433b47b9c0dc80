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

/// The daemon's loads keep the blobs of the last commit: the next commit reads only the
/// blobs it does not share with it. Shown by removing an unchanged file's object from the
/// repository after the first load: the kept load still reads the commit, a fresh one
/// cannot.
#[test]
fn a_load_with_kept_blobs_reads_only_the_blobs_that_changed() {
    use homelabd::limits::Limits;
    use homelabd::source::{Blobs, load_tree, load_tree_with};
    let repo_dir = example_copy();
    let first = git_commit_all(repo_dir.path(), "example homelab");
    let repo = git2::Repository::open(repo_dir.path()).unwrap();
    let limits = Limits::default();
    let mut blobs = Blobs::default();
    let oid = |commit: &str| git2::Oid::from_str(commit).unwrap();
    let before = load_tree_with(&repo, oid(&first), None, &limits, &mut blobs).unwrap();
    assert_eq!(
        blobs.len(),
        before.files.len(),
        "every file is a distinct blob"
    );

    let path = "definitions/apps/nextcloud.yaml";
    let text = std::fs::read_to_string(repo_dir.path().join(path)).unwrap();
    write(repo_dir.path(), path, &format!("{text}# resized\n"));
    let second = git_commit_all(repo_dir.path(), "resize nextcloud");
    let unchanged = "pools/docker.yaml";
    let blob = repo
        .find_commit(oid(&second))
        .unwrap()
        .tree()
        .unwrap()
        .get_path(std::path::Path::new(unchanged))
        .unwrap()
        .id()
        .to_string();
    let object = repo_dir
        .path()
        .join(".git/objects")
        .join(&blob[..2])
        .join(&blob[2..]);
    std::fs::remove_file(&object).expect("the blob is a loose object");

    assert!(
        load_tree(&repo, oid(&second), None, &limits).is_err(),
        "a fresh load needs the removed blob"
    );
    let after = load_tree_with(&repo, oid(&second), None, &limits, &mut blobs).unwrap();
    let content = |s: &homelabd::source::Snapshot, p: &str| {
        s.files
            .iter()
            .find(|f| f.path == p)
            .unwrap()
            .content
            .clone()
    };
    assert_eq!(content(&after, unchanged), content(&before, unchanged));
    assert!(
        String::from_utf8(content(&after, path))
            .unwrap()
            .ends_with("# resized\n")
    );
    assert_eq!(after.files.len(), before.files.len());
    assert_eq!(
        blobs.len(),
        after.files.len(),
        "only this commit's blobs are kept"
    );
}
