//! Infrastructure snapshots and migration plans (pure).
//!
//! A snapshot records where every resource of a revision is placed. It is committed by
//! `create-infrastructure-snapshot` as `snapshots/<name>.yaml`, a file of comments only
//! (so homelabd reads no document from it and the revision stays valid): a header, then
//! one `#= {json}` line per resource. `plan-migration-from-snapshot` compares a snapshot
//! (or any revision) with a newer revision and lists the steps between them.

use super::context::View;
use super::inventory::short;
use super::page::PageInfo;
use super::reply::Summary;
use crate::model::Provider;
use crate::place::describe_size;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where snapshot files live, relative to the definitions root.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// One resource as a snapshot records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Placed {
    pub resource: String,
    #[schemars(with = "String")]
    pub provider: Provider,
    pub pool: String,
    pub nodes: Vec<String>,
    pub chart: String,
    /// "4 CPU, 8 GB memory, 100 GB disk, GPU, 1 replica"
    pub size: String,
    /// Hash of everything that determines the rendered output.
    pub input_hash: String,
}

/// Every resource of one state, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The snapshot's name, or the revision it was read from.
    pub label: String,
    pub revision: String,
    pub resources: BTreeMap<String, Placed>,
}

/// The placed resources of a view.
pub fn state_of(view: &View, label: String) -> State {
    let resources = view
        .outcome
        .decisions
        .values()
        .map(|d| {
            let placed = Placed {
                resource: d.resource.clone(),
                provider: d.provider,
                pool: d.pool.clone(),
                nodes: d.nodes.iter().map(|n| n.name.clone()).collect(),
                chart: d.chart.clone(),
                size: describe_size(&d.size),
                input_hash: view
                    .outcome
                    .rendered
                    .get(&d.resource)
                    .map(|r| r.manifest.input_hash.clone())
                    .unwrap_or_default(),
            };
            (d.resource.clone(), placed)
        })
        .collect();
    State {
        label,
        revision: view.head.clone(),
        resources,
    }
}

/// The path of snapshot `name`.
pub fn snapshot_path(name: &str) -> String {
    format!("{SNAPSHOT_DIR}/{name}.yaml")
}

/// The text of a snapshot file for `state`.
pub fn snapshot_text(state: &State, taken_at: &str, taken_by: &str) -> String {
    let mut out = format!(
        "# homelabd infrastructure snapshot: {}\n# revision: {}\n# taken-at: {taken_at}\n# taken-by: {taken_by}\n# resources: {}\n#\n# One JSON object per resource follows (provider, pool, nodes, chart, size, input hash).\n# plan-migration-from-snapshot compares them with a newer revision. The file holds only\n# comments, so homelabd reads no document from it.\n",
        state.label,
        state.revision,
        state.resources.len()
    );
    for p in state.resources.values() {
        out.push_str("#= ");
        out.push_str(&serde_json::to_string(p).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// A snapshot file that [`snapshot_text`] did not write.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The 1-based line.
    #[error("line {line}: not a snapshot entry: {source}")]
    Entry {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("line {0}: snapshot files hold only comments")]
    NotComment(usize),
    #[error("no `# revision:` line")]
    NoRevision,
}

/// Reads a snapshot file written by [`snapshot_text`].
pub fn parse_snapshot(name: &str, text: &str) -> Result<State, SnapshotError> {
    let mut revision = None;
    let mut resources = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(r) = line.strip_prefix("# revision: ") {
            revision = Some(r.trim().to_owned());
        } else if let Some(json) = line.strip_prefix("#= ") {
            let p: Placed = serde_json::from_str(json).map_err(|source| SnapshotError::Entry {
                line: i + 1,
                source,
            })?;
            resources.insert(p.resource.clone(), p);
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            return Err(SnapshotError::NotComment(i + 1));
        }
    }
    Ok(State {
        label: name.to_owned(),
        revision: revision.ok_or(SnapshotError::NoRevision)?,
        resources,
    })
}

/// One step of a migration.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Step {
    pub resource: String,
    /// `create`, `move-provider`, `move`, `resize`, `update` or `remove`.
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Placed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Placed>,
    /// What changes and what to watch for.
    pub notes: Vec<String>,
    /// The move recreates the resource (a Proxmox or vSphere VM rebuilt on another host,
    /// or a change of provider): its data does not come along by itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destructive: bool,
    /// How long the service is away, by how the move happens (target plans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime: Option<String>,
}

/// The answer of `plan-migration-from-snapshot`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MigrationAnswer {
    /// The snapshot name or revision migrated from.
    pub from: String,
    pub from_revision: String,
    pub to_revision: String,
    /// With `target_node` / `target_resource_pool`: where every resource of the snapshot
    /// is planned to move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Resources of the snapshot a target plan leaves where they are, and why (another
    /// provider than the target pool's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
    /// Steps by action over the whole plan.
    pub counts: BTreeMap<String, usize>,
    pub unchanged: usize,
    /// In order: creations first (make before break), then moves, resizes and updates,
    /// removals last.
    pub steps: Vec<Step>,
    pub page: PageInfo,
}

impl Summary for MigrationAnswer {
    fn summary(&self) -> String {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let mut out = format!(
            "from {} ({}) to {}{}: {}; {} unchanged",
            self.from,
            short(&self.from_revision),
            short(&self.to_revision),
            self.target
                .as_ref()
                .map(|t| format!(", moved to {t}"))
                .unwrap_or_default(),
            if counts.is_empty() {
                "nothing to do".to_owned()
            } else {
                counts.join(", ")
            },
            self.unchanged
        );
        for s in &self.steps {
            out.push_str(&format!("\n- {} {}", s.action, s.resource));
            if let Some(n) = s.notes.first() {
                out.push_str(": ");
                out.push_str(n);
            }
            if s.destructive {
                out.push_str(" [destructive]");
            }
            if let Some(d) = &s.downtime {
                out.push_str(&format!("; downtime: {d}"));
            }
        }
        out
    }
}

fn order(action: &str) -> u8 {
    match action {
        "create" => 0,
        "move-provider" => 1,
        "move" => 2,
        "resize" => 3,
        "update" => 4,
        _ => 5,
    }
}

/// Every step from `from` to `to`, in execution order, and the unchanged count.
pub fn plan(from: &State, to: &State) -> (Vec<Step>, usize) {
    let mut steps = Vec::new();
    let mut unchanged = 0;
    for (name, t) in &to.resources {
        let Some(f) = from.resources.get(name) else {
            steps.push(Step {
                resource: name.clone(),
                action: "create".into(),
                from: None,
                to: Some(t.clone()),
                notes: vec![format!(
                    "new on {} {} {}",
                    t.provider,
                    t.pool,
                    t.nodes.join(",")
                )],
                destructive: false,
                downtime: None,
            });
            continue;
        };
        let mut notes = Vec::new();
        let action = if f.provider != t.provider {
            notes.push(format!(
                "provider {} → {}: a new resource is created on {}; migrate its data, then decommission the old one (it is not removed automatically)",
                f.provider, t.provider, t.provider
            ));
            "move-provider"
        } else if f.pool != t.pool || f.nodes != t.nodes {
            notes.push(format!(
                "{} {} → {} {}: the provider's tool re-creates or migrates it; expect downtime unless it runs replicas",
                f.pool,
                f.nodes.join(","),
                t.pool,
                t.nodes.join(",")
            ));
            "move"
        } else if f.size != t.size {
            notes.push(format!("{} → {}", f.size, t.size));
            "resize"
        } else if f.input_hash != t.input_hash || f.chart != t.chart {
            if f.chart != t.chart {
                notes.push(format!("chart {} → {}", f.chart, t.chart));
            } else {
                notes.push(
                    "configuration changed (values, template, chart files or context)".into(),
                );
            }
            "update"
        } else {
            unchanged += 1;
            continue;
        };
        if f.chart != t.chart && action != "update" {
            notes.push(format!("chart {} → {}", f.chart, t.chart));
        }
        let vm = matches!(t.provider, Provider::Proxmox | Provider::Vmware);
        steps.push(Step {
            resource: name.clone(),
            action: action.into(),
            from: Some(f.clone()),
            to: Some(t.clone()),
            notes,
            destructive: action == "move-provider"
                || (action == "move" && vm && f.nodes != t.nodes),
            downtime: None,
        });
    }
    for (name, f) in &from.resources {
        if !to.resources.contains_key(name) {
            steps.push(Step {
                resource: name.clone(),
                action: "remove".into(),
                from: Some(f.clone()),
                to: None,
                notes: vec![
                    "no longer defined (or invalid): destroyed only where policy.prune allows, otherwise reported as orphaned".into(),
                ],
                destructive: false,
                downtime: None,
            });
        }
    }
    steps.sort_by(|a, b| (order(&a.action), &a.resource).cmp(&(order(&b.action), &b.resource)));
    (steps, unchanged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(name: &str, provider: &str, node: &str, hash: &str) -> Placed {
        Placed {
            resource: name.into(),
            provider: Provider::parse(provider).expect("a provider"),
            pool: "/p".into(),
            nodes: vec![node.into()],
            chart: "c".into(),
            size: "1 CPU".into(),
            input_hash: hash.into(),
        }
    }

    fn state(items: &[Placed]) -> State {
        State {
            label: "s".into(),
            revision: "abc".into(),
            resources: items
                .iter()
                .map(|p| (p.resource.clone(), p.clone()))
                .collect(),
        }
    }

    #[test]
    fn snapshots_round_trip_through_their_comment_only_text() {
        let s = state(&[
            placed("a", "docker", "n1", "h1"),
            placed("b", "proxmox", "n2", "h2"),
        ]);
        let text = snapshot_text(&s, "2026-01-01T00:00:00Z", "mcp:test");
        assert!(text.lines().all(|l| l.starts_with('#')));
        let back = parse_snapshot("s", &text).unwrap();
        assert_eq!(back, s);
        assert!(parse_snapshot("s", "kind: x\n").is_err());
    }

    #[test]
    fn the_plan_creates_first_and_removes_last() {
        let from = state(&[
            placed("keep", "docker", "n1", "h"),
            placed("moved", "docker", "n1", "h"),
            placed("gone", "docker", "n1", "h"),
            placed("hop", "docker", "n1", "h"),
            placed("edit", "docker", "n1", "h"),
        ]);
        let to = state(&[
            placed("keep", "docker", "n1", "h"),
            placed("moved", "docker", "n2", "h"),
            placed("new", "docker", "n1", "h"),
            placed("hop", "kubernetes", "n1", "h"),
            placed("edit", "docker", "n1", "h2"),
        ]);
        let (steps, unchanged) = plan(&from, &to);
        let got: Vec<(&str, &str)> = steps
            .iter()
            .map(|s| (s.action.as_str(), s.resource.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("create", "new"),
                ("move-provider", "hop"),
                ("move", "moved"),
                ("update", "edit"),
                ("remove", "gone")
            ]
        );
        assert_eq!(unchanged, 1);
    }
}
