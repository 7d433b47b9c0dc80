//! What a run keeps for the next run:
//!
//! - of each YAML file, its bytes and its documents checked on their own (envelope,
//!   JSON Schema, typed decoding): a file whose bytes did not change is neither parsed
//!   nor checked again. A resource's document is kept lean ([`Checked::lean`]): its
//!   typed form, not its parsed value and positions, which a diagnostic or a render
//!   parses again from the kept bytes (the value and positions of 10,000 definitions
//!   took over 100 MiB, their bytes a few);
//! - of each rendered resource, the key of everything its render depends on (the
//!   version of its file, its document, its placement, and what all resources share:
//!   charts, assets, pools, workload types, templates) and the input hash, shared
//!   entries and target that render gave: a resource whose key did not change and whose
//!   output is still there is not put together again.
//!
//! Everything that looks across documents (names, the pool tree, references,
//! `depends_on`, placement) still runs over the whole revision, so the outcome is the one
//! a fresh run gives. Pure: the daemon owns one [`Memo`] and hands it to every commit's
//! run.

use crate::diag::Diagnostic;
use crate::source::SourceFile;
use crate::validate::Checked;
use std::collections::HashMap;

/// A file's documents checked on their own, and the file's own problems (YAML syntax,
/// encoding, limits).
pub(super) type FileChecks = (Vec<Checked>, Vec<Diagnostic>);

/// Parsed and checked files of the last run, by path.
#[derive(Debug, Default)]
pub struct Memo {
    /// What the kept results depend on besides the bytes (the schemas and limits of the
    /// engine that made them); another engine starts afresh.
    fingerprint: String,
    files: HashMap<String, Kept>,
    /// The version the next parsed file gets: never reused, so a version names one
    /// content of one path for the memo's whole life.
    next_version: u64,
    renders: HashMap<String, KeptRender>,
    last: MemoUse,
}

/// What a resource's last render gave, under the key of its inputs.
#[derive(Debug, Clone)]
pub(super) struct KeptRender {
    pub(super) key: [u8; 32],
    pub(super) input_hash: String,
    /// The shared entries its chart refers to (what a skipped render keeps on disk).
    pub(super) shared: Vec<String>,
    pub(super) target: crate::target::Target,
}

/// How the last run used the memo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoUse {
    /// Files taken as kept (same bytes as before).
    pub reused: usize,
    /// Files parsed and checked.
    pub parsed: usize,
    /// Resources whose render inputs were unchanged (their input hash taken as kept).
    pub renders_kept: usize,
}

#[derive(Debug)]
struct Kept {
    /// The file's bytes, shared with its documents (what a lean one is parsed from).
    content: std::sync::Arc<[u8]>,
    version: u64,
    /// Lean: see [`Checked::lean`].
    checks: FileChecks,
}

impl Memo {
    /// How the last run used the memo.
    pub fn last_use(&self) -> MemoUse {
        self.last
    }

    /// Files held.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Holds no file?
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The checks of every file of `sources`, in order: kept ones when the bytes and the
    /// engine (`fingerprint`) are unchanged, the others through `fresh` (called once with
    /// every file to parse). Afterwards the memo holds exactly `sources`.
    pub(super) fn checks<'s>(
        &mut self,
        fingerprint: &str,
        sources: &[&'s SourceFile],
        fresh: impl FnOnce(&[&'s SourceFile]) -> Vec<FileChecks>,
    ) -> Vec<FileChecks> {
        if self.fingerprint != fingerprint {
            self.files.clear();
            self.renders.clear();
            fingerprint.clone_into(&mut self.fingerprint);
        }
        let unchanged = |f: &SourceFile| {
            self.files
                .get(&f.path)
                .is_some_and(|k| *k.content == *f.content)
        };
        let misses: Vec<&SourceFile> = sources.iter().copied().filter(|f| !unchanged(f)).collect();
        let parsed = fresh(&misses);
        let mut parsed_now: HashMap<&str, FileChecks> = HashMap::with_capacity(misses.len());
        for (file, checks) in misses.iter().zip(parsed) {
            self.next_version += 1;
            let content = checks
                .0
                .first()
                .map(|c| c.doc.text().content().clone())
                .unwrap_or_else(|| file.content.as_slice().into());
            let lean = (
                checks.0.iter().map(Checked::lean).collect(),
                checks.1.clone(),
            );
            self.files.insert(
                file.path.clone(),
                Kept {
                    content,
                    version: self.next_version,
                    checks: lean,
                },
            );
            parsed_now.insert(file.path.as_str(), checks);
        }
        let wanted: std::collections::HashSet<&str> =
            sources.iter().map(|f| f.path.as_str()).collect();
        self.files.retain(|path, _| wanted.contains(path.as_str()));
        self.last = MemoUse {
            reused: sources.len() - misses.len(),
            parsed: misses.len(),
            renders_kept: 0,
        };
        // This run's files as parsed; the kept ones lean, as the memo holds them.
        sources
            .iter()
            .map(|f| match parsed_now.remove(f.path.as_str()) {
                Some(checks) => checks,
                None => self
                    .files
                    .get(&f.path)
                    .map(|k| k.checks.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }
}

impl Memo {
    /// The version of the content `path` had in this run.
    pub(super) fn version(&self, path: &str) -> Option<u64> {
        self.files.get(path).map(|k| k.version)
    }

    /// The files of the documents held lean (without their parsed value).
    #[cfg(test)]
    pub(super) fn lean_documents(&self) -> Vec<String> {
        self.files
            .values()
            .flat_map(|k| &k.checks.0)
            .filter(|c| c.doc.is_lean())
            .map(|c| c.doc.file.clone())
            .collect()
    }

    /// The last render of `resource`, if its inputs had the same `key`.
    pub(super) fn kept_render(&self, resource: &str, key: &[u8; 32]) -> Option<&KeptRender> {
        self.renders.get(resource).filter(|k| k.key == *key)
    }

    /// Keeps this run's renders (and only them) for the next; `kept` of them were taken
    /// from the memo.
    pub(super) fn keep_renders(&mut self, renders: HashMap<String, KeptRender>, kept: usize) {
        self.renders = renders;
        self.last.renders_kept = kept;
    }
}
