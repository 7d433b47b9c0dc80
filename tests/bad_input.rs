//! Bad and hostile input through the real binary: every problem reported in one run with
//! file, line, field, expectation; the valid resources still rendered; exit codes right.

mod support;

use support::{example_copy, homelabd, stderr, stdout, write};

const HEADER: &str = "apiVersion: homelab.ai/v1\nkind: UniversalResource\n";

fn broken_repo() -> tempfile::TempDir {
    let repo = example_copy();
    let dir = repo.path();
    // Wrong type, unknown field and a bad enum, all in one document.
    write(
        dir,
        "definitions/bad/types.yaml",
        &format!(
            "{HEADER}metadata:\n  name: bad-types\nspec:\n  resource_type: compute\n  workload_type: web-application\n  requirements:\n    cpu: four\n    memory_gb: 2\n    colour: blue\n  deployment:\n    environment: prod\n"
        ),
    );
    // A reference to a pool that does not exist, in a multi-document file whose other
    // document is fine.
    write(
        dir,
        "definitions/bad/refs.yaml",
        &format!(
            "{HEADER}metadata:\n  name: fine-neighbour\nspec:\n  resource_type: container\n  workload_type: web-application\n  requirements: {{cpu: 1, memory_gb: 1}}\n  placement: {{provider: docker}}\n  chart: {{values: {{image: \"nginx:1.27\"}}}}\n---\n{HEADER}metadata:\n  name: lost\nspec:\n  resource_type: compute\n  workload_type: web-application\n  placement:\n    pool: /homelab/nowhere\n"
        ),
    );
    // A YAML syntax error.
    write(
        dir,
        "definitions/bad/syntax.yaml",
        "apiVersion: homelab.ai/v1\nkind: [unclosed\n",
    );
    // A name that tries to escape the output directory.
    write(
        dir,
        "definitions/bad/escape.yaml",
        &format!(
            "{HEADER}metadata:\n  name: ../../etc\nspec:\n  resource_type: compute\n  workload_type: web-application\n"
        ),
    );
    // More GPUs than the homelab has.
    for i in 0..3 {
        write(
            dir,
            &format!("definitions/bad/gpu-{i}.yaml"),
            &format!(
                "{HEADER}metadata:\n  name: zz-gpu-hungry-{i}\nspec:\n  resource_type: compute\n  workload_type: ai-inference\n  requirements: {{cpu: 2, memory_gb: 4, gpu: true}}\n  placement: {{pool: /homelab/compute/gpu-nodes}}\n"
            ),
        );
    }
    repo
}

#[test]
fn validate_lists_every_problem_with_file_line_field_and_expectation() {
    let repo = broken_repo();
    let out = homelabd(&["validate", repo.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    // Each problem names file:line:column, the field and what was expected / found.
    assert!(err.contains("definitions/bad/types.yaml:9:5: error[schema] UniversalResource/bad-types /spec/requirements/cpu: wrong type (expected integer, found \"four\")"), "{err}");
    assert!(err.contains("definitions/bad/types.yaml:11:5: error[schema] UniversalResource/bad-types /spec/requirements/colour: unknown field colour"), "{err}");
    assert!(
        err.contains("/spec/deployment/environment: not an allowed value"),
        "{err}"
    );
    assert!(err.contains("definitions/bad/refs.yaml:20:5: error[unknown-pool] UniversalResource/lost /spec/placement/pool: unknown ResourcePool path"), "{err}");
    assert!(err.contains("found /homelab/nowhere"), "{err}");
    assert!(
        err.contains("definitions/bad/syntax.yaml:3:1: error[yaml]"),
        "{err}"
    );
    assert!(err.contains("error[yaml]"), "{err}");
    assert!(
        err.contains("/metadata/name: does not match the required pattern"),
        "{err}"
    );
    // Two GPU nodes with one GPU each, one taken by ollama: at least two of three fail.
    let gpu_failures = err.matches("error[no-placement]").count();
    assert!(gpu_failures >= 2, "{err}");
    assert!(
        err.contains("every GPU already assigned") || err.contains("no GPU"),
        "{err}"
    );
    let summary = stdout(&out);
    assert!(summary.starts_with("invalid:"), "{summary}");
}

#[test]
fn one_bad_document_never_stops_the_valid_ones_from_rendering() {
    let repo = broken_repo();
    let out_dir = tempfile::tempdir().unwrap();
    let out = homelabd(&[
        "render",
        repo.path().to_str().unwrap(),
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    // The neighbour of a broken document, and all example resources, are rendered.
    for (provider, name) in [
        ("docker", "fine-neighbour"),
        ("proxmox", "ollama-server"),
        ("kubernetes", "ha-web-app"),
        ("aws", "cloud-burst"),
    ] {
        assert!(
            out_dir
                .path()
                .join(provider)
                .join(name)
                .join("homelabd.manifest.json")
                .exists(),
            "{provider}/{name}"
        );
    }
    // Invalid ones are not, and nothing escaped the output directory.
    assert!(!out_dir.path().join("proxmox/lost").exists());
    let text = stdout(&out);
    assert!(text.contains("invalid") && text.contains("lost"), "{text}");
    let escaped = out_dir.path().parent().unwrap().join("etc");
    assert!(!escaped.join("homelabd.manifest.json").exists());
}

#[test]
fn json_output_carries_the_same_diagnostics() {
    let repo = broken_repo();
    let out = homelabd(&[
        "validate",
        repo.path().to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    let diags = doc["diagnostics"].as_array().unwrap();
    let cpu = diags
        .iter()
        .find(|d| d["pointer"] == "/spec/requirements/cpu")
        .expect("cpu diagnostic");
    assert_eq!(cpu["file"], "definitions/bad/types.yaml");
    assert_eq!(cpu["line"], 9);
    assert_eq!(cpu["column"], 5);
    assert_eq!(cpu["expected"], "integer");
    assert_eq!(cpu["found"], "\"four\"");
    assert_eq!(cpu["severity"], "error");
    let invalid = doc["resources"]["invalid"].as_array().unwrap();
    assert!(invalid.iter().any(|n| n == "lost") && invalid.iter().any(|n| n == "bad-types"));
    assert_eq!(
        doc["errors"].as_u64().unwrap() as usize,
        diags.iter().filter(|d| d["severity"] == "error").count()
    );
}

#[test]
fn exit_codes_separate_valid_invalid_and_usage_errors() {
    let ok = homelabd(&["validate", support::example_repo().to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("valid:"));
    let missing = homelabd(&["validate", "/nonexistent/homelab"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/homelab does not exist"));
    let bad_flag = homelabd(&["validate", "--output", "yaml"]);
    assert_eq!(bad_flag.status.code(), Some(2));
    let escape = homelabd(&[
        "validate",
        support::example_repo().to_str().unwrap(),
        "--path",
        "../..",
    ]);
    assert_eq!(escape.status.code(), Some(2));
    assert!(
        stderr(&escape).contains("must be relative"),
        "{}",
        stderr(&escape)
    );
}

#[test]
fn hostile_files_are_rejected_quickly_and_the_rest_still_validates() {
    let repo = example_copy();
    let dir = repo.path();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    write(dir, "definitions/bomb.yaml", &bomb);
    write(
        dir,
        "definitions/deep.yaml",
        &format!("{}1{}", "[".repeat(50_000), "]".repeat(50_000)),
    );
    write(
        dir,
        "definitions/huge.yaml",
        &format!("# {}\n", "x".repeat(3 * 1024 * 1024)),
    );
    let started = std::time::Instant::now();
    let out = homelabd(&["validate", dir.to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("definitions/bomb.yaml") && err.contains("error[yaml]"),
        "{err}"
    );
    assert!(
        err.contains("definitions/deep.yaml") && err.contains("recursion limit"),
        "{err}"
    );
    assert!(
        err.contains("definitions/huge.yaml: error[file-too-large]"),
        "{err}"
    );
    // The example's own nine resources are still all valid.
    assert!(
        stdout(&out).contains("9 resources valid, 0 invalid"),
        "{}",
        stdout(&out)
    );
    assert!(took.as_secs() < 20, "hostile input took {took:?}");
}

#[test]
fn template_syntax_in_values_is_data_not_code() {
    let repo = example_copy();
    let dir = repo.path();
    write(
        dir,
        "definitions/sneaky.yaml",
        &format!(
            "{HEADER}metadata:\n  name: sneaky\nspec:\n  resource_type: container\n  workload_type: web-application\n  requirements: {{cpu: 1, memory_gb: 1}}\n  placement: {{provider: docker}}\n  chart:\n    values:\n      image: \"nginx:1.27\"\n      env:\n        GREETING: \"{{{{ 7 * 7 }}}} {{% raw %}}\"\n  dimensions:\n    owner: \"${{file(\\\"/etc/passwd\\\")}}\"\n"
        ),
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out = homelabd(&[
        "render",
        dir.to_str().unwrap(),
        "--out",
        out_dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let compose =
        std::fs::read_to_string(out_dir.path().join("docker/sneaky/compose.yaml")).unwrap();
    assert!(compose.contains("{{ 7 * 7 }} {% raw %}"), "{compose}");
    assert!(!compose.contains("49"), "{compose}");
}

#[test]
fn template_rules_apply_to_sizes_taken_from_the_workload_tier() {
    let repo = example_copy();
    write(
        repo.path(),
        "templates/big-memory.yaml",
        "apiVersion: homelab.ai/v1\nkind: DeploymentTemplate\nmetadata:\n  name: big-memory\nspec:\n  infrastructure: {provider: proxmox}\n  validation:\n    rules:\n      - {field: /requirements/memory_gb, min: 64, message: needs a big box}\n",
    );
    // No memory written: it comes from the workload type's standard tier, which is smaller.
    write(
        repo.path(),
        "definitions/tiered.yaml",
        &format!(
            "{HEADER}metadata:\n  name: tiered\nspec:\n  resource_type: compute\n  workload_type: database\n  template: big-memory\n  requirements: {{tier: standard}}\n"
        ),
    );
    let out = homelabd(&["validate", repo.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error[template-rule] UniversalResource/tiered /spec/requirements/memory_gb: needs a big box"), "{err}");
    assert!(err.contains("(expected >= 64, found "), "{err}");
}
