//! Hostile input through the real binary and real git repositories: documents, charts and
//! commits built to exhaust memory or time. Each must end in a diagnostic that names the
//! limit, never in a crash, an OOM kill or a stall; the other resources carry on.
//!
//! Memory is checked by running the binary under an address-space limit (`prlimit
//! --as`): a loader that is not linear in its input is killed by the limit, which the
//! test sees as a signal instead of an exit code. No test asserts on time.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{stderr, stdout, write};

/// Address space the binary may use in the bounded runs: generous for a linear loader
/// (the debug binary validates the example homelab in well under 100 MiB), far below
/// what the quadratic cases need (gigabytes).
const MEMORY_LIMIT_BYTES: u64 = 400 * 1024 * 1024;

/// Runs `homelabd args…` under an address-space limit; `None` when `prlimit` is missing.
fn homelabd_bounded(args: &[&str]) -> Option<Output> {
    let Some(prlimit) = support::tool("prlimit") else {
        support::skip(
            "bounded-memory run",
            "prlimit (util-linux) is not installed",
        );
        return None;
    };
    Some(
        Command::new(prlimit)
            .arg(format!("--as={MEMORY_LIMIT_BYTES}"))
            .arg(env!("CARGO_BIN_EXE_homelabd"))
            .args(args)
            .env("HOMELABD_LOG", "warn")
            .output()
            .expect("spawn homelabd under prlimit"),
    )
}

/// Asserts the run ended by itself with `code` (not killed by a signal or the limit).
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "homelabd ended with {:?} (a signal means it ran out of memory)\nstdout:\n{}\nstderr:\n{}",
        out.status,
        tail(&stdout(out)),
        tail(&stderr(out)),
    );
}

/// Stdout and stderr together (diagnostics go to stderr, summaries to stdout).
fn output(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(3000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    &s[start..]
}

/// `? "<4,000 a's>"` → a sequence of 200,000 items: 0.4 MB of YAML whose every node has a
/// 4 KB path.
fn long_key_long_sequence() -> String {
    let mut text = format!("? \"{}\"\n: [", "a".repeat(4000));
    text.push_str(&vec!["1"; 200_000].join(","));
    text.push_str("]\n");
    text
}

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    dir
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn quadratic_memory_in_the_yaml_position_index() {
    let text = long_key_long_sequence();
    let dir = dir_with(&[("definitions/bomb.yaml", &text)]);
    let Some(out) = homelabd_bounded(&["validate", path(dir.path())]) else {
        return;
    };
    // The document is read (and rejected for what it is: no apiVersion), within bounds.
    assert_exit(&out, 1);
    assert!(output(&out).contains("api-version"), "{}", output(&out));
}

/// A repository whose `HEAD` commit has the tree `build` makes (given the repository).
fn repo_with_tree(build: impl FnOnce(&git2::Repository) -> git2::Oid) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let tree_id = build(&repo);
    let tree = repo.find_tree(tree_id).unwrap();
    let sig = git2::Signature::now("Test", "test@example.invalid").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "bomb", &tree, &[])
        .unwrap();
    dir
}

/// A tree naming `blob` under `count` file names.
fn tree_of(repo: &git2::Repository, blob: git2::Oid, count: usize, ext: &str) -> git2::Oid {
    let mut builder = repo.treebuilder(None).unwrap();
    for i in 0..count {
        builder
            .insert(format!("f{i:05}.{ext}"), blob, 0o100644)
            .unwrap();
    }
    builder.write().unwrap()
}

#[test]
fn git_blob_bomb_is_refused_fast_naming_the_snapshot_limit() {
    // One 2 MB blob (under the per-file limit) named 4,000 times: 8 GB if read per name.
    let dir = repo_with_tree(|repo| {
        let line = format!("# {}\n", "x".repeat(98));
        let blob = repo.blob(line.repeat(20_000).as_bytes()).unwrap();
        let defs = tree_of(repo, blob, 4_000, "yaml");
        let mut root = repo.treebuilder(None).unwrap();
        root.insert("definitions", defs, 0o040000).unwrap();
        root.write().unwrap()
    });
    let Some(out) = homelabd_bounded(&["validate", "--rev", "HEAD", path(dir.path())]) else {
        return;
    };
    assert_exit(&out, 3);
    let text = output(&out);
    assert!(
        text.contains("limits.max_snapshot_bytes") && text.contains("raise [limits]"),
        "{text}"
    );
}

#[test]
fn git_tree_bomb_is_refused_naming_the_entry_limit() {
    // 101 directories each naming one tree of 10,000 entries: a million entries to walk
    // from a few hundred kilobytes of objects (none of them wanted files).
    let dir = repo_with_tree(|repo| {
        let blob = repo.blob(b"not a definition\n").unwrap();
        let wide = tree_of(repo, blob, 10_000, "txt");
        let mut root = repo.treebuilder(None).unwrap();
        for i in 0..101 {
            root.insert(format!("d{i:03}"), wide, 0o040000).unwrap();
        }
        root.write().unwrap()
    });
    let Some(out) = homelabd_bounded(&["validate", "--rev", "HEAD", path(dir.path())]) else {
        return;
    };
    assert_exit(&out, 3);
    let text = output(&out);
    assert!(text.contains("limits.max_tree_entries"), "{text}");
}

#[test]
fn the_snapshot_limit_can_be_raised_in_the_config() {
    // 40 files of 100 KB: refused under a 1 MB budget, read with the default one.
    let dir = repo_with_tree(|repo| {
        let blob = repo
            .blob(format!("# {}\n", "y".repeat(100_000)).as_bytes())
            .unwrap();
        let defs = tree_of(repo, blob, 40, "yaml");
        let mut root = repo.treebuilder(None).unwrap();
        root.insert("definitions", defs, 0o040000).unwrap();
        root.write().unwrap()
    });
    let config = dir.path().join("small.toml");
    std::fs::write(&config, "[limits]\nmax_snapshot_bytes = 1000000\n").unwrap();
    let small = support::homelabd(&[
        "validate",
        "--rev",
        "HEAD",
        "--config",
        config.to_str().unwrap(),
        path(dir.path()),
    ]);
    assert_exit(&small, 3);
    assert!(
        output(&small).contains("1000000 bytes"),
        "{}",
        output(&small)
    );
    let default = support::homelabd(&["validate", "--rev", "HEAD", path(dir.path())]);
    assert_exit(&default, 0);
}

/// Shadows the built-in chart `name` in `repo` with one template, `template`.
fn shadow_chart(repo: &Path, name: &str, template: &str) {
    let meta =
        std::fs::read_to_string(support::root().join(format!("charts/{name}/Chart.yaml"))).unwrap();
    write(repo, &format!("charts/{name}/Chart.yaml"), &meta);
    write(repo, &format!("charts/{name}/templates/main.tpl"), template);
}

#[test]
fn template_bombs_in_repository_charts_stop_at_their_limits_and_the_rest_renders() {
    let repo = support::example_copy();
    // Never finishes without fuel: 10^10 iterations.
    shadow_chart(
        repo.path(),
        "aws-ec2",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}",
    );
    // 2^40 bytes of string if nothing stops the doubling.
    let doubling = format!(
        "{{% set s = \"xx\" %}}{}{{{{ s | length }}}}",
        "{% set s = s ~ s %}".repeat(40)
    );
    shadow_chart(repo.path(), "azure-vm", &doubling);
    // Cheap per byte but 100 MB of output.
    shadow_chart(
        repo.path(),
        "vmware-vsphere",
        "{% for i in range(100000) %}{{ \"x\" * 1000 }}{% endfor %}",
    );
    let out_dir = tempfile::tempdir().unwrap();
    let Some(out) = homelabd_bounded(&["render", path(repo.path()), "--out", path(out_dir.path())])
    else {
        return;
    };
    assert_exit(&out, 1);
    let text = output(&out);
    for (resource, limit) in [
        ("cloud-burst", "limits.template_fuel"),
        ("azure-runner", "limits.template_fuel"),
        ("build-agent", "limits.max_output_bytes_per_file"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("UniversalResource/{resource}:")))
            .unwrap_or_else(|| panic!("no diagnostic for {resource}:\n{text}"));
        assert!(
            line.contains(limit) && line.contains("raise [limits]"),
            "{line}"
        );
    }
    // Every other resource still rendered.
    for (provider, resource) in [
        ("docker", "uptime-kuma"),
        ("kubernetes", "ha-web-app"),
        ("proxmox", "jenkins"),
    ] {
        let dir = out_dir.path().join(provider).join(resource);
        assert!(
            dir.join("homelabd.manifest.json").is_file(),
            "{resource} not rendered:\n{text}"
        );
    }
}

#[test]
fn template_errors_keep_their_line() {
    let repo = support::example_copy();
    shadow_chart(
        repo.path(),
        "aws-ec2",
        "first line\nsecond line\n{{ no_such_variable.field }}\n",
    );
    let out = support::homelabd(&["validate", path(repo.path())]);
    assert_exit(&out, 1);
    let text = output(&out);
    let line = text
        .lines()
        .find(|l| l.contains("UniversalResource/cloud-burst:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("main.tpl of chart aws-ec2, line 3"), "{line}");
}

/// A definition that fails validation loudly, naming `marker`, if it is ever read.
fn tripwire(marker: &str) -> String {
    format!(
        "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {marker}\nspec:\n  resource_type: nonsense\n"
    )
}

#[test]
fn links_in_a_working_tree_are_never_followed_out_of_the_repository() {
    let repo = support::example_copy();
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "defs/outside.yaml",
        &tripwire("outside-dir"),
    );
    write(outside.path(), "hard.yaml", &tripwire("outside-hardlink"));
    let defs = repo.path().join("definitions");
    let link =
        |target: &Path, name: &str| std::os::unix::fs::symlink(target, defs.join(name)).unwrap();
    link(Path::new("/etc/passwd"), "passwd.yaml");
    link(&outside.path().join("defs"), "elsewhere");
    link(Path::new("loop.yaml"), "loop.yaml");
    link(Path::new(".."), "up");
    // A hard link shares the content of a file outside the repository.
    std::fs::hard_link(outside.path().join("hard.yaml"), defs.join("hard.yaml")).unwrap();
    let Some(out) = homelabd_bounded(&["validate", path(repo.path())]) else {
        return;
    };
    let text = output(&out);
    assert_exit(&out, 0);
    for name in ["passwd.yaml", "loop.yaml"] {
        assert!(
            text.lines().any(
                |l| l.contains("symlink-skipped") && l.contains(&format!("definitions/{name}"))
            ),
            "{name}: {text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.contains("hardlink-skipped") && l.contains("definitions/hard.yaml")),
        "{text}"
    );
    for leaked in ["root:", "outside-dir", "outside-hardlink"] {
        assert!(!text.contains(leaked), "{leaked} was read: {text}");
    }
    // A sub-path that is itself a link out of the repository is refused.
    std::fs::create_dir_all(repo.path().join("nested")).unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.path().join("nested/infra")).unwrap();
    let out = support::homelabd(&["validate", "--path", "nested/infra", path(repo.path())]);
    assert_exit(&out, 2);
    assert!(output(&out).contains("symbolic link"), "{}", output(&out));
}

#[test]
fn links_and_submodules_in_a_commit_are_never_followed() {
    let dir = repo_with_tree(|repo| {
        let mut defs = repo.treebuilder(None).unwrap();
        for (name, target) in [
            ("passwd.yaml", "/etc/passwd"),
            ("loop.yaml", "loop.yaml"),
            ("escape.yaml", "../../../../../../etc/passwd"),
        ] {
            let blob = repo.blob(target.as_bytes()).unwrap();
            defs.insert(name, blob, 0o120000).unwrap();
        }
        let up = repo.blob(b"..").unwrap();
        defs.insert("up", up, 0o120000).unwrap();
        // A submodule: a commit of another repository, which this one does not hold.
        let foreign = git2::Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        defs.insert("vendor", foreign, 0o160000).unwrap();
        let defs = defs.write().unwrap();
        let modules = repo
            .blob(b"[submodule \"vendor\"]\n\tpath = definitions/vendor\n\turl = /etc\n")
            .unwrap();
        let mut root = repo.treebuilder(None).unwrap();
        root.insert("definitions", defs, 0o040000).unwrap();
        root.insert(".gitmodules", modules, 0o100644).unwrap();
        root.write().unwrap()
    });
    let Some(out) = homelabd_bounded(&["validate", "--rev", "HEAD", path(dir.path())]) else {
        return;
    };
    let text = output(&out);
    assert_exit(&out, 0);
    for name in ["passwd.yaml", "loop.yaml", "escape.yaml"] {
        assert!(
            text.lines().any(
                |l| l.contains("symlink-skipped") && l.contains(&format!("definitions/{name}"))
            ),
            "{name}: {text}"
        );
    }
    assert!(!text.contains("root:"), "{text}");
    assert!(
        !text.contains("vendor"),
        "the submodule was entered: {text}"
    );
}
