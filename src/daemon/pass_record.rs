//! The record of one commit's pass, built without IO from what the pass found: the
//! revision, the resources that became invalid or orphaned, and each write's result
//! (rendered, repaired, or failed), with their audit rows. The loop writes the files and
//! stores the record; this decides what the record says.

use super::pass as records;
use crate::pipeline::Outcome;
use crate::reconcile::{Action, EffectivePolicy, Step};
use crate::render::write::WriteOutcome;
use crate::store::{PassRecord, RenderRecord, ResourceRecord};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A resource directory written (or found identical) by the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    pub outcome: WriteOutcome,
    /// Rewritten only because the directory was missing on disk (not a change).
    pub repair: bool,
}

/// Why a resource's directory could not be written.
#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    #[error("not rendered")]
    NotRendered,
    #[error("internal: a skipped render was scheduled for writing")]
    Reused,
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The write task panicked or was cancelled (a bug, not the disk).
    #[error("{0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Each written resource's result, by name.
pub(super) type Writes = BTreeMap<String, Result<Written, WriteError>>;

/// What one commit's pass found.
pub(super) struct PassInputs<'a> {
    pub head: &'a str,
    pub outcome: &'a Outcome,
    pub steps: &'a [Step],
    /// The loop's view before the pass.
    pub stored: &'a BTreeMap<String, ResourceRecord>,
    pub writes: &'a Writes,
    /// The policy of a resource that sets none itself.
    pub defaults: EffectivePolicy,
    pub now: DateTime<Utc>,
}

/// The pass record: the revision and its audit row first, then the invalid and orphaned
/// resources in plan order, then the written ones by name. A resource whose state and
/// error did not change is left out, so an unchanged commit writes little.
pub(super) fn build(inputs: &PassInputs) -> PassRecord {
    let PassInputs {
        head, outcome, now, ..
    } = *inputs;
    let mut pass = PassRecord {
        revision: Some(records::revision_record(head, outcome, now)),
        ..PassRecord::default()
    };
    pass.audit.push(records::audit(
        "revision.recorded",
        head,
        serde_json::json!({"valid": !outcome.has_errors(), "errors": outcome.error_count(), "resources": outcome.rendered.len()}),
        now,
    ));
    for step in inputs.steps {
        step_record(&mut pass, inputs, step);
    }
    let actions: BTreeMap<&str, Action> = inputs
        .steps
        .iter()
        .map(|s| (s.resource.as_str(), s.action))
        .collect();
    for (name, result) in inputs.writes {
        let action = actions.get(name.as_str()).copied();
        write_record(&mut pass, inputs, name, action, result);
    }
    pass
}

/// An invalid or orphaned resource's record and audit row (the other actions are
/// recorded from their writes).
fn step_record(pass: &mut PassRecord, inputs: &PassInputs, step: &Step) {
    let previous = inputs.stored.get(&step.resource);
    match step.action {
        Action::Invalid => {
            let record = records::invalid_record(step, previous, inputs.outcome, inputs.now);
            if previous.map(|p| (&p.state, &p.last_error))
                != Some((&record.state, &record.last_error))
            {
                pass.audit.push(records::audit(
                    "resource.invalid",
                    &step.resource,
                    serde_json::json!({"error": record.last_error}),
                    inputs.now,
                ));
                pass.resources.push(record);
            }
        }
        Action::Orphaned => {
            if let Some(prev) = previous {
                pass.audit.push(records::audit(
                    "resource.orphaned",
                    &step.resource,
                    serde_json::json!({"reason": step.reason}),
                    inputs.now,
                ));
                pass.resources
                    .push(records::orphaned_record(prev, inputs.head, inputs.now));
            }
        }
        Action::Create | Action::Update | Action::Unchanged => {}
    }
}

/// A written resource's record, render row and audit row (none for a repair), or its
/// failure.
fn write_record(
    pass: &mut PassRecord,
    inputs: &PassInputs,
    name: &str,
    action: Option<Action>,
    result: &Result<Written, WriteError>,
) {
    let now = inputs.now;
    let previous = inputs.stored.get(name);
    let written = match result {
        Ok(written) => written,
        Err(error) => {
            let error = error.to_string();
            pass.audit.push(records::audit(
                "resource.failed",
                name,
                serde_json::json!({"error": error}),
                now,
            ));
            pass.resources
                .push(records::failed_record(previous, name, error, now));
            return;
        }
    };
    let Some(record) = records::rendered_record(
        name,
        inputs.head,
        inputs.outcome,
        previous,
        inputs.defaults,
        now,
    ) else {
        return;
    };
    if !written.repair {
        let action = action.unwrap_or(Action::Update);
        let mut details =
            serde_json::json!({"input_hash": record.input_hash, "output_hash": record.output_hash});
        if let Some(moved) = record.placement.as_ref().and_then(|p| p.get("moved")) {
            details["moved"] = moved.clone();
        }
        pass.audit.push(records::audit(
            records::action_name(action),
            name,
            details,
            now,
        ));
    }
    if let (Some(i), Some(o)) = (&record.input_hash, &record.output_hash) {
        pass.renders.push(RenderRecord {
            resource: name.to_owned(),
            revision: inputs.head.to_owned(),
            input_hash: i.clone(),
            output_hash: o.clone(),
            outcome: if written.outcome == WriteOutcome::Written {
                "written"
            } else {
                "unchanged"
            }
            .to_owned(),
            rendered_at: now,
        });
    }
    pass.resources.push(record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApplyPolicy;
    use crate::pipeline::Engine;
    use crate::reconcile::{ResourceState, plan};
    use crate::source::{Snapshot, SourceFile};

    const POOL: &str = include_str!("../../example-repo/pools/docker.yaml");
    const ROOT: &str = include_str!("../../example-repo/pools/homelab.yaml");
    const WORKLOAD: &str = include_str!("../../example-repo/workload-types/web-application.yaml");
    const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
    const DEFAULTS: EffectivePolicy = EffectivePolicy {
        apply: ApplyPolicy::Auto,
        self_heal: false,
        prune: false,
    };

    fn app(name: &str, memory_gb: &str) -> (String, String) {
        (
            format!("{name}.yaml"),
            format!(
                "apiVersion: homelab.ai/v1\nkind: UniversalResource\nmetadata:\n  name: {name}\nspec:\n  resource_type: container\n  workload_type: web-application\n  requirements: {{ cpu: 1, memory_gb: {memory_gb}, storage_gb: 2 }}\n  placement: {{ provider: docker, pool: /homelab/docker }}\n  chart:\n    name: docker-compose\n    values:\n      image: nginx:1\n"
            ),
        )
    }

    fn outcome(defs: &[(String, String)]) -> Outcome {
        let mut files = vec![
            ("pools/docker.yaml".to_owned(), POOL.to_owned()),
            ("pools/homelab.yaml".to_owned(), ROOT.to_owned()),
            ("workload-types/web.yaml".to_owned(), WORKLOAD.to_owned()),
        ];
        files.extend(defs.iter().cloned());
        Engine::new().expect("engine").run(&Snapshot {
            revision: None,
            files: files
                .into_iter()
                .map(|(path, c)| SourceFile {
                    path,
                    content: c.into_bytes(),
                })
                .collect(),
            diagnostics: Vec::new(),
        })
    }

    fn written(repair: bool) -> Result<Written, WriteError> {
        Ok(Written {
            outcome: WriteOutcome::Written,
            repair,
        })
    }

    fn actions(pass: &PassRecord) -> Vec<(String, String)> {
        pass.audit
            .iter()
            .map(|a| (a.action.clone(), a.subject.clone()))
            .collect()
    }

    fn pass_of(
        outcome: &Outcome,
        stored: &BTreeMap<String, ResourceRecord>,
        writes: &Writes,
    ) -> PassRecord {
        let steps = plan(outcome, stored);
        build(&PassInputs {
            head: HEAD,
            outcome,
            steps: &steps,
            stored,
            writes,
            defaults: DEFAULTS,
            now: Utc::now(),
        })
    }

    #[test]
    fn new_resources_are_recorded_rendered_with_their_render_row_and_audit() {
        let o = outcome(&[app("web", "0.5"), app("api", "0.5")]);
        let writes = Writes::from([
            ("api".to_owned(), written(false)),
            ("web".to_owned(), written(false)),
        ]);
        let pass = pass_of(&o, &BTreeMap::new(), &writes);
        assert_eq!(
            actions(&pass),
            [
                ("revision.recorded".to_owned(), HEAD.to_owned()),
                ("resource.created".to_owned(), "api".to_owned()),
                ("resource.created".to_owned(), "web".to_owned()),
            ]
        );
        assert!(pass.revision.as_ref().is_some_and(|r| r.valid));
        let states: Vec<_> = pass.resources.iter().map(|r| (&*r.name, r.state)).collect();
        assert_eq!(
            states,
            [
                ("api", ResourceState::Rendered),
                ("web", ResourceState::Rendered)
            ]
        );
        assert_eq!(pass.renders.len(), 2);
        assert!(pass.renders.iter().all(|r| r.outcome == "written"));
    }

    #[test]
    fn a_repaired_directory_is_recorded_without_an_audit_row() {
        let o = outcome(&[app("web", "0.5")]);
        let pass = pass_of(
            &o,
            &BTreeMap::new(),
            &Writes::from([("web".to_owned(), written(true))]),
        );
        assert_eq!(actions(&pass).len(), 1, "only the revision: {pass:?}");
        assert_eq!(pass.resources.len(), 1);
    }

    #[test]
    fn a_failed_write_is_recorded_as_a_render_failure_with_its_error() {
        let o = outcome(&[app("web", "0.5")]);
        let failed = Writes::from([(
            "web".to_owned(),
            Err(WriteError::Io {
                path: "/out/docker/web".to_owned(),
                source: std::io::Error::other("disk full"),
            }),
        )]);
        let pass = pass_of(&o, &BTreeMap::new(), &failed);
        assert_eq!(
            actions(&pass)[1],
            ("resource.failed".to_owned(), "web".to_owned())
        );
        assert_eq!(
            pass.audit[1].details["error"],
            "cannot write /out/docker/web: disk full"
        );
        let record = &pass.resources[0];
        assert_eq!(record.state, ResourceState::RenderFailed);
        assert_eq!(
            record.last_error.as_deref(),
            Some("cannot write /out/docker/web: disk full")
        );
        assert!(pass.renders.is_empty());
    }

    #[test]
    fn an_invalid_resource_is_recorded_once_and_a_removed_one_orphaned() {
        let good = outcome(&[app("web", "0.5"), app("api", "0.5")]);
        let first = pass_of(
            &good,
            &BTreeMap::new(),
            &Writes::from([
                ("api".to_owned(), written(false)),
                ("web".to_owned(), written(false)),
            ]),
        );
        let stored: BTreeMap<String, ResourceRecord> = first
            .resources
            .iter()
            .map(|r| (r.name.clone(), r.clone()))
            .collect();
        // `web` asks for a memory size the schema refuses; `api` is gone.
        let next = outcome(&[app("web", "lots")]);
        let pass = pass_of(&next, &stored, &Writes::new());
        let mut seen = actions(&pass);
        seen.sort();
        assert_eq!(
            seen,
            [
                ("resource.invalid".to_owned(), "web".to_owned()),
                ("resource.orphaned".to_owned(), "api".to_owned()),
                ("revision.recorded".to_owned(), HEAD.to_owned()),
            ]
        );
        let api = pass.resources.iter().find(|r| r.name == "api");
        assert_eq!(api.map(|r| r.state), Some(ResourceState::Orphaned));
        let web = pass.resources.iter().find(|r| r.name == "web");
        let web = web.expect("web recorded");
        assert_eq!(web.state, ResourceState::Invalid);
        assert!(web.output_hash.is_some(), "keeps its last good state");

        let stored_after: BTreeMap<String, ResourceRecord> = stored
            .into_iter()
            .chain(pass.resources.iter().map(|r| (r.name.clone(), r.clone())))
            .collect();
        let again = pass_of(&next, &stored_after, &Writes::new());
        assert_eq!(actions(&again).len(), 1, "unchanged: no second row");
        assert!(again.resources.is_empty());
    }
}
