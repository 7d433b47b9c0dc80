//! Property test of the loader and validator (tests only): hostile YAML, generated and
//! made by damaging the example homelab's files, goes through the whole pipeline
//! (parse, position index, schema, semantic checks, placement, render). A fixed seed and
//! case budget; the property is that nothing panics and every problem is a diagnostic.

use crate::pipeline::Engine;
use crate::source::{SourceFile, load_dir};
use crate::testgen::{Rng, mutate, yaml};

/// Cases per run: a fixed budget so CI time stays bounded.
const CASES: u64 = 120;
const SEED: u64 = 0x686f_6d65_6c61_6264;

#[test]
fn hostile_yaml_never_panics_the_loader_or_the_validator() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo");
    let base = load_dir(&example, None).expect("the example homelab loads");
    let engine = Engine::new().expect("built-in schemas");
    let yaml_files: Vec<usize> = base
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.path.ends_with(".yaml"))
        .map(|(i, _)| i)
        .collect();
    let mut diagnosed = 0;
    for case in 0..CASES {
        let mut rng = Rng::new(SEED ^ case);
        let mut snapshot = base.clone();
        let what = rng.below(3);
        if what != 1 {
            let i = *rng.pick(&yaml_files);
            let text = String::from_utf8_lossy(&snapshot.files[i].content).into_owned();
            snapshot.files[i].content = mutate(&mut rng, &text);
        }
        if what != 0 {
            snapshot.files.push(SourceFile {
                path: "definitions/generated.yaml".into(),
                content: yaml(&mut rng).into_bytes(),
            });
        }
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.run(&snapshot)));
        match run {
            Ok(outcome) => diagnosed += usize::from(!outcome.diagnostics.is_empty()),
            Err(_) => panic!("case {case} (seed {SEED:#x} ^ {case}) panicked"),
        }
    }
    // The generator does reach the checks: most cases are reported, not silently taken.
    assert!(diagnosed as u64 > CASES / 2, "{diagnosed} of {CASES}");
}
