//! Adoption of a container started outside homelabd (`docker run`). The docker-compose
//! chart renders `homelabd.adopt.json` when a definition's `adopt` value names such a
//! container (what `homelabd adopt` writes). Then:
//!
//! - the first apply of the resource (no compose file applied yet) takes the container
//!   over as it runs: it looks the container up on the resource's engine and records it
//!   in the work directory ([`ADOPTED_FILE`], with the applied compose file and target)
//!   instead of running compose, so it keeps its id, its data and its uptime; if no such
//!   container exists any more, the apply goes on under compose as usual;
//! - while that record exists the observer compares that container with the render, so
//!   a definition that matches it shows no drift;
//! - a later apply (a changed definition, self-heal of drift, `homelabd apply`) recreates
//!   it under compose: the adopted container is stopped and removed (named volumes and
//!   bind mounts stay), the record dropped, and `compose up` runs. It is refused while a
//!   variable withheld at adoption (a secret left out of git) is missing from the
//!   render's environment, so a recreation never silently drops a password;
//! - a destroy stops and removes the adopted container.
//!
//! Pure: the two records and [`missing_withheld`]; the commands run through `apply`'s
//! runner.

use super::{ApplyReport, Cmd, CmdRun, Runner, docker::engine_env};
use crate::target::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// In the rendered directory: the container a resource adopts (from the chart's
/// `adopt` value).
pub const ADOPT_FILE: &str = "homelabd.adopt.json";
/// In the work directory: the container taken over, while it runs outside compose.
pub const ADOPTED_FILE: &str = "homelabd.adopted.json";

/// What a render asks to adopt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptRequest {
    /// The container's name or id.
    pub container: String,
    /// Environment variables it held that were left out of git (secrets).
    #[serde(default)]
    pub withheld_env: Vec<String>,
}

/// The container a resource took over, recorded by the apply that did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// As the definition names it.
    pub container: String,
    /// The full id it had when taken over.
    pub id: String,
    /// Carried over from the request, for the recreation check.
    #[serde(default)]
    pub withheld_env: Vec<String>,
}

/// An adoption file (`adopt.json`, `adopted.json`) that is there but cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AdoptFileError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not the JSON this daemon writes.
    #[error("cannot read {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The adoption a rendered directory asks for (`None`: none).
pub fn requested(rendered_dir: &Path) -> Result<Option<AdoptRequest>, AdoptFileError> {
    read_json(&rendered_dir.join(ADOPT_FILE))
}

/// The container a work directory says was taken over and still runs outside compose.
pub fn adopted(work_dir: &Path) -> Result<Option<Adopted>, AdoptFileError> {
    read_json(&work_dir.join(ADOPTED_FILE))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, AdoptFileError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| AdoptFileError::Parse {
                    path: path.to_owned(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AdoptFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Records the taken-over container in `work_dir` (written whole, then renamed).
pub fn record(work_dir: &Path, adopted: &Adopted) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(adopted).map_err(std::io::Error::other)?;
    let tmp = work_dir.join(format!("{ADOPTED_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, work_dir.join(ADOPTED_FILE))
}

/// Forgets the taken-over container (it is under compose, or gone).
pub fn forget(work_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(work_dir.join(ADOPTED_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The withheld variables a compose file does not set (by key, in any service; a
/// secret reference renders as `KEY: null` and counts as set).
pub fn missing_withheld(
    compose_yaml: &str,
    withheld: &[String],
) -> Result<Vec<String>, serde_yaml::Error> {
    let doc: serde_json::Value = serde_yaml::from_str(compose_yaml)?;
    let mut keys = BTreeSet::new();
    for svc in doc
        .get("services")
        .and_then(|s| s.as_object())
        .into_iter()
        .flat_map(|s| s.values())
    {
        match svc.get("environment") {
            Some(serde_json::Value::Object(map)) => keys.extend(map.keys().cloned()),
            Some(serde_json::Value::Array(items)) => keys.extend(
                items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k).to_owned()),
            ),
            _ => {}
        }
    }
    Ok(withheld
        .iter()
        .filter(|k| !keys.contains(k.as_str()))
        .cloned()
        .collect())
}

/// `docker inspect` of one container's id on `target`'s engine.
pub fn inspect_id_cmd(docker: &str, container: &str, target: &Target, cwd: &Path) -> Cmd {
    engine_env(
        Cmd::new(
            [
                docker,
                "inspect",
                "--type",
                "container",
                "--format",
                "{{.Id}}",
                container,
            ],
            cwd,
        ),
        target,
    )
}

/// Did `run` fail because the container does not exist?
pub fn no_such_container(run: &CmdRun) -> bool {
    !run.success() && run.stderr_tail.to_ascii_lowercase().contains("no such")
}

/// Stops (with the container's own grace period) and removes the adopted container,
/// keeping its volumes. A container already gone is not an error.
pub async fn remove(
    docker: &str,
    adopted: &Adopted,
    target: &Target,
    cwd: &Path,
    runner: &Runner,
) -> ApplyReport {
    let mut runs = Vec::new();
    for action in ["stop", "rm"] {
        let cmd = engine_env(Cmd::new([docker, action, adopted.id.as_str()], cwd), target);
        let run = runner.run(&cmd).await;
        let (ok, gone) = (run.success(), no_such_container(&run));
        let error = (!ok).then(|| run.failure_summary());
        runs.push(run);
        if gone {
            break;
        }
        if let Some(error) = error {
            return ApplyReport::failed_after(
                format!(
                    "cannot remove the adopted container {} ({}): {error}",
                    adopted.container, adopted.id
                ),
                runs,
            );
        }
    }
    let mut report = ApplyReport::nothing_to_do();
    report.runs = runs;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withheld_variable_counts_as_set_only_when_the_compose_file_names_it() {
        let compose = "services:\n  web:\n    image: x\n    environment:\n      TZ: UTC\n      DB_PASSWORD: null\n";
        let withheld = vec!["DB_PASSWORD".to_owned(), "API_TOKEN".to_owned()];
        assert_eq!(missing_withheld(compose, &withheld).unwrap(), ["API_TOKEN"]);
        let list = "services:\n  web:\n    environment: [\"API_TOKEN=x\", DB_PASSWORD]\n";
        assert!(missing_withheld(list, &withheld).unwrap().is_empty());
        assert!(missing_withheld("{", &withheld).is_err());
    }

    #[test]
    fn records_are_written_whole_read_back_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(adopted(dir.path()).unwrap(), None);
        let a = Adopted {
            container: "legacy".into(),
            id: "abc123".into(),
            withheld_env: vec!["DB_PASSWORD".into()],
        };
        record(dir.path(), &a).unwrap();
        assert_eq!(adopted(dir.path()).unwrap(), Some(a));
        forget(dir.path()).unwrap();
        forget(dir.path()).unwrap();
        assert_eq!(adopted(dir.path()).unwrap(), None);
        std::fs::write(dir.path().join(ADOPT_FILE), "{\"container\": \"legacy\"}").unwrap();
        assert_eq!(
            requested(dir.path()).unwrap().map(|r| r.container),
            Some("legacy".to_owned())
        );
        std::fs::write(dir.path().join(ADOPT_FILE), "nope").unwrap();
        assert!(requested(dir.path()).is_err());
    }
}
