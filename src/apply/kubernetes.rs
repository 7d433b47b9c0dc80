//! The Kubernetes executor: server-side apply of the rendered manifests with field
//! manager `homelabd`, and, on prune, deletion of everything labelled
//! `homelab.ai/resource=<name>` over the kinds the chart rendered.
//!
//! Conflicts with other field managers are forced (`--force-conflicts`): the rendered
//! state is the desired state, so a `kubectl scale` or `kubectl edit` by hand must not
//! block a self-heal. The kinds of every successful apply are recorded in the work
//! directory ([`KINDS_FILE`]), so a destroy still knows what to delete when the render
//! is gone or no longer renders a kind.

use super::common::{argv, locate_tool};
use super::{
    ApplyReport, ApplyRequest, Cmd, ExecutorSettings, ProviderExecutor, Runner, ToolExecutor,
};
use crate::target::Target;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "homelabd";
/// The label every rendered object carries, with the resource name as value.
pub const RESOURCE_LABEL: &str = "homelab.ai/resource";
/// The kinds applied so far (`deployment.apps`, one per line), in the work directory.
pub const KINDS_FILE: &str = "homelabd-applied-kinds.txt";

/// The executor from `[executors.kubernetes]`.
pub fn kubernetes_executor(settings: &ExecutorSettings) -> Arc<dyn ProviderExecutor> {
    Arc::new(KubernetesExecutor::new(settings))
}

/// Applies rendered manifests with `kubectl` against one kubeconfig context.
#[derive(Debug, Clone)]
pub struct KubernetesExecutor {
    kubectl: PathBuf,
    context: String,
    unavailable: Option<String>,
}

impl KubernetesExecutor {
    /// Detects kubectl; unavailable without a configured context (which switches
    /// Kubernetes applies on) or without kubectl. Each resource goes to its target's
    /// context (its pool's or node's `context`), else the configured one.
    pub fn new(settings: &ExecutorSettings) -> KubernetesExecutor {
        let k = &settings.kubernetes;
        let kubectl = locate_tool("kubernetes", k.binary.as_deref(), "kubectl", "kubernetes");
        let unavailable = match (&k.context, &kubectl) {
            (None, _) => Some("kubernetes: no context configured".to_owned()),
            (Some(_), Err(reason)) => Some(reason.to_string()),
            (Some(_), Ok(_)) => None,
        };
        KubernetesExecutor {
            kubectl: kubectl.unwrap_or_else(|_| PathBuf::from("kubectl")),
            context: k.context.clone().unwrap_or_default(),
            unavailable,
        }
    }

    /// The context for `target`, or why there is none.
    fn context<'a>(&'a self, target: &'a Target) -> Result<&'a str, NoContext> {
        match (&target.context, self.context.as_str()) {
            (Some(c), _) => Ok(c),
            (None, "") => Err(NoContext),
            (None, c) => Ok(c),
        }
    }

    /// `kubectl apply --server-side` of `files`, each passed with `-f`, in the context
    /// (and kubeconfig) of `target`.
    pub fn apply_cmd(
        &self,
        files: &[PathBuf],
        work_dir: &Path,
        target: &Target,
    ) -> Result<Cmd, NoContext> {
        let context = self.context(target)?;
        let mut argv = argv(
            &self.kubectl,
            &[
                "apply",
                "--server-side",
                "--field-manager",
                FIELD_MANAGER,
                "--force-conflicts",
                "--context",
                context,
            ],
        );
        for file in files {
            argv.push("-f".to_owned());
            argv.push(file.display().to_string());
        }
        Ok(with_kubeconfig(Cmd::new(argv, work_dir), target))
    }

    /// `kubectl delete` of every object of `kinds` labelled as `resource`'s, in every
    /// namespace.
    pub fn delete_cmd(
        &self,
        resource: &str,
        kinds: &BTreeSet<String>,
        work_dir: &Path,
        target: &Target,
    ) -> Result<Cmd, NoContext> {
        let context = self.context(target)?;
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let selector = format!("{RESOURCE_LABEL}={resource}");
        let kinds = kinds.join(",");
        let argv = argv(
            &self.kubectl,
            &[
                "delete",
                "--context",
                context,
                "-l",
                &selector,
                "--all-namespaces",
                "--ignore-not-found",
                &kinds,
            ],
        );
        Ok(with_kubeconfig(Cmd::new(argv, work_dir), target))
    }

    /// Reads the render and records its kinds (before the apply: a partial apply that
    /// fails still leaves objects a destroy must find), giving the apply commands: the
    /// resource's Secret first when it uses secrets, then the rendered manifests.
    fn prepare_apply(&self, req: &ApplyRequest) -> Result<Vec<Cmd>, ApplyReport> {
        let files = manifest_files(&req.rendered_dir).map_err(report_error)?;
        if files.is_empty() {
            return Err(report_error(ManifestError::Empty(req.rendered_dir.clone())));
        }
        let objects = read_objects(&files).map_err(report_error)?;
        let mut kinds: BTreeSet<String> = objects.iter().map(RenderedObject::kind_ref).collect();
        let target = crate::target::keep(&req.rendered_dir, &req.work_dir)
            .map_err(|e| ApplyReport::failed(e.to_string()))?;
        let mut cmds = Vec::new();
        if !req.secrets.is_empty() {
            kinds.insert("secret".to_owned());
            let namespace = objects.iter().find_map(|o| o.namespace.as_deref());
            let manifest = secret_manifest(&req.resource, namespace, &req.secrets);
            let stdin = [PathBuf::from("-")];
            cmds.push(
                self.apply_cmd(&stdin, &req.work_dir, &target)
                    .map_err(|e| ApplyReport::failed(e.to_string()))?
                    .stdin_secrets(manifest, &req.secrets),
            );
        }
        record_kinds(&req.work_dir, &kinds).map_err(report_error)?;
        cmds.push(
            self.apply_cmd(&files, &req.work_dir, &target)
                .map_err(|e| ApplyReport::failed(e.to_string()))?,
        );
        Ok(cmds)
    }
}

/// Neither the resource's pool or node nor `[executors.kubernetes]` names a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "kubernetes: no context: set `context` on the resource's pool or node, or [executors.kubernetes] context"
)]
pub struct NoContext;

/// `cmd` with the target's kubeconfig file, when it names one.
pub fn with_kubeconfig(cmd: Cmd, target: &Target) -> Cmd {
    match &target.kubeconfig {
        Some(path) => cmd.env("KUBECONFIG", path.clone()),
        None => cmd,
    }
}

impl ToolExecutor for KubernetesExecutor {
    fn executor_name(&self) -> &str {
        "kubectl"
    }

    fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    async fn apply_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        match self.prepare_apply(req) {
            Ok(cmds) => ApplyReport::run_all(runner, &cmds).await,
            Err(report) => report,
        }
    }

    async fn destroy_with_tool(&self, req: &ApplyRequest, runner: &Runner) -> ApplyReport {
        let mut kinds = recorded_kinds(&req.work_dir);
        // The current render may name kinds never applied; deleting those is harmless.
        if let Ok(files) = manifest_files(&req.rendered_dir)
            && let Ok(objects) = read_objects(&files)
        {
            kinds.extend(objects.iter().map(RenderedObject::kind_ref));
        }
        if kinds.is_empty() {
            return ApplyReport::nothing_to_do();
        }
        let cmd = crate::target::read(&req.work_dir)
            .map_err(|e| e.to_string())
            .and_then(|target| {
                self.delete_cmd(&req.resource, &kinds, &req.work_dir, &target)
                    .map_err(|e| e.to_string())
            });
        match cmd {
            Ok(cmd) => ApplyReport::run_all(runner, &[cmd]).await,
            Err(e) => ApplyReport::failed(e),
        }
    }
}

/// The name of the Secret that carries a resource's secret values (the
/// kubernetes-workload chart's containers refer to it with `secretKeyRef`).
pub fn secret_name(resource: &str) -> String {
    format!("{resource}-secrets")
}

/// The resource's Secret, built at apply time and sent to `kubectl apply -f -` on stdin:
/// one `stringData` entry per variable of `secrets`, labelled as the resource's so a
/// prune deletes it. Never written to a file.
pub fn secret_manifest(
    resource: &str,
    namespace: Option<&str>,
    secrets: &crate::secrets::SecretEnv,
) -> zeroize::Zeroizing<Vec<u8>> {
    let data: serde_json::Map<String, serde_json::Value> = secrets
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
        .collect();
    let mut metadata = serde_json::json!({
        "name": secret_name(resource),
        "labels": { RESOURCE_LABEL: resource },
    });
    if let Some(ns) = namespace {
        metadata["namespace"] = serde_json::Value::from(ns);
    }
    let secret = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "stringData": data,
    });
    zeroize::Zeroizing::new(secret.to_string().into_bytes())
}

fn report_error(e: ManifestError) -> ApplyReport {
    ApplyReport::failed(e.to_string())
}

// ---------------------------------------------------------------------------------------
// Rendered manifests (also read by the Kubernetes observer)

/// Why the rendered manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not YAML: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{path}, document {document}: expected a Kubernetes object with {field}")]
    Field {
        path: PathBuf,
        document: usize,
        field: &'static str,
    },
    #[error("{0}: no manifests rendered (expected *.yaml files)")]
    Empty(PathBuf),
}

/// One object of the rendered manifests, with what the observer compares.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderedObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `None`: the context's default namespace (or a cluster-scoped object).
    pub namespace: Option<String>,
    /// `spec.replicas` of a workload.
    pub replicas: Option<i64>,
    /// Container name → image of a workload's pod template.
    pub images: BTreeMap<String, String>,
}

impl RenderedObject {
    /// The API group (`apps`), empty for the core group.
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// How kubectl names the kind unambiguously: `deployment.apps`, `configmap`.
    pub fn kind_ref(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.group() {
            "" => kind,
            group => format!("{kind}.{group}"),
        }
    }

    /// `Deployment apps/web` style, for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// The manifest files of a rendered directory: top-level `*.yaml` / `*.yml`, sorted.
pub fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let read = |source| ManifestError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if is_manifest_name(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Is this a manifest by its name (YAML, not hidden)?
pub fn is_manifest_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// Reads and parses every file.
pub fn read_objects(files: &[PathBuf]) -> Result<Vec<RenderedObject>, ManifestError> {
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| ManifestError::Read {
            path: file.clone(),
            source,
        })?;
        objects.extend(parse_objects(file, &text)?);
    }
    Ok(objects)
}

/// The objects of one (possibly multi-document) manifest; empty documents are skipped.
pub fn parse_objects(path: &Path, text: &str) -> Result<Vec<RenderedObject>, ManifestError> {
    use serde::Deserialize;
    let mut objects = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(doc).map_err(|e| ManifestError::Yaml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        let field = |field| ManifestError::Field {
            path: path.to_path_buf(),
            document: index + 1,
            field,
        };
        let text_at = |v: &Value, keys: &[&str]| -> Option<String> {
            keys.iter()
                .try_fold(v, |v, k| v.get(*k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        objects.push(RenderedObject {
            api_version: text_at(&value, &["apiVersion"]).ok_or_else(|| field("apiVersion"))?,
            kind: text_at(&value, &["kind"]).ok_or_else(|| field("kind"))?,
            name: text_at(&value, &["metadata", "name"]).ok_or_else(|| field("metadata.name"))?,
            namespace: text_at(&value, &["metadata", "namespace"]),
            replicas: value
                .get("spec")
                .and_then(|s| s.get("replicas"))
                .and_then(Value::as_i64),
            images: pod_spec(&value)
                .and_then(|pod| pod.get("containers"))
                .and_then(Value::as_sequence)
                .map(|containers| {
                    containers
                        .iter()
                        .filter_map(|c| Some((text_at(c, &["name"])?, text_at(c, &["image"])?)))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(objects)
}

/// The pod spec of a workload: `spec.template.spec`, or a CronJob's
/// `spec.jobTemplate.spec.template.spec`.
fn pod_spec(object: &Value) -> Option<&Value> {
    let spec = object.get("spec")?;
    let spec = spec
        .get("jobTemplate")
        .and_then(|j| j.get("spec"))
        .unwrap_or(spec);
    spec.get("template")?.get("spec")
}

fn record_kinds(work_dir: &Path, kinds: &BTreeSet<String>) -> Result<(), ManifestError> {
    let mut all = recorded_kinds(work_dir);
    all.extend(kinds.iter().cloned());
    let path = work_dir.join(KINDS_FILE);
    let text: String = all.iter().map(|k| format!("{k}\n")).collect();
    std::fs::create_dir_all(work_dir)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|source| ManifestError::Write { path, source })
}

fn recorded_kinds(work_dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(work_dir.join(KINDS_FILE))
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::KubernetesSettings;

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: "web"
  namespace: "apps"
  labels: { homelab.ai/resource: "web" }
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: "web"
          image: "ghcr.io/example/web:1.4.2"
        - name: "sidecar"
          image: "busybox:1.36"
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: apps }
---
"#;

    fn settings(context: Option<&str>, binary: &str) -> ExecutorSettings {
        ExecutorSettings {
            kubernetes: KubernetesSettings {
                binary: Some(binary.into()),
                context: context.map(str::to_owned),
            },
            ..ExecutorSettings::default()
        }
    }

    #[test]
    fn objects_of_a_multi_document_manifest_are_read_with_images_and_replicas() {
        let objects = parse_objects(Path::new("deployment.yaml"), DEPLOYMENT).unwrap();
        assert_eq!(objects.len(), 2);
        let d = &objects[0];
        assert_eq!(d.kind_ref(), "deployment.apps");
        assert_eq!(d.describe(), "Deployment apps/web");
        assert_eq!(d.replicas, Some(3));
        assert_eq!(d.images["sidecar"], "busybox:1.36");
        assert_eq!(objects[1].kind_ref(), "service");
        assert!(objects[1].images.is_empty());
    }

    #[test]
    fn a_cronjobs_images_come_from_its_job_template() {
        let text = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: backup}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: b, image: restic:0.17}]\n";
        let objects = parse_objects(Path::new("cron.yaml"), text).unwrap();
        assert_eq!(objects[0].images["b"], "restic:0.17");
        assert_eq!(objects[0].kind_ref(), "cronjob.batch");
        assert_eq!(objects[0].namespace, None);
    }

    #[test]
    fn a_document_without_a_name_is_an_error_naming_file_document_and_field() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n";
        let err = parse_objects(Path::new("cm.yaml"), text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cm.yaml, document 2: expected a Kubernetes object with metadata.name"
        );
    }

    #[test]
    fn only_visible_yaml_files_are_manifests() {
        assert!(is_manifest_name(Path::new("/r/deployment.yaml")));
        assert!(is_manifest_name(Path::new("/r/pdb.yml")));
        assert!(!is_manifest_name(Path::new("/r/homelabd.manifest.json")));
        assert!(!is_manifest_name(Path::new("/r/.hidden.yaml")));
    }

    #[test]
    fn apply_is_server_side_with_the_homelabd_field_manager_and_each_file() {
        let ex = KubernetesExecutor::new(&settings(Some("homelab"), "/bin/sh"));
        let cmd = ex
            .apply_cmd(
                &[PathBuf::from("/r/a.yaml"), PathBuf::from("/r/b.yaml")],
                Path::new("/w"),
                &Target::default(),
            )
            .unwrap();
        assert_eq!(
            cmd.argv,
            [
                "/bin/sh",
                "apply",
                "--server-side",
                "--field-manager",
                "homelabd",
                "--force-conflicts",
                "--context",
                "homelab",
                "-f",
                "/r/a.yaml",
                "-f",
                "/r/b.yaml"
            ]
        );
    }

    #[test]
    fn secrets_go_to_a_labelled_secret_on_stdin_before_the_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let rendered = dir.path().join("rendered");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&rendered).unwrap();
        std::fs::write(rendered.join("deployment.yaml"), DEPLOYMENT).unwrap();
        let mut secrets = crate::secrets::SecretEnv::default();
        secrets.insert("DB_PASSWORD", "k8s-s3cret");
        let req = ApplyRequest {
            resource: "web".into(),
            provider: crate::model::Provider::Kubernetes,
            rendered_dir: rendered.clone(),
            work_dir: work.clone(),
            revision: "abc".into(),
            secrets,
        };
        let ex = KubernetesExecutor::new(&settings(Some("homelab"), "/bin/sh"));
        let cmds = ex.prepare_apply(&req).unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].argv[cmds[0].argv.len() - 2..], ["-f", "-"]);
        let secret: serde_json::Value =
            serde_json::from_slice(cmds[0].stdin.as_deref().unwrap()).unwrap();
        assert_eq!(
            secret,
            serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": "web-secrets",
                    "namespace": "apps",
                    "labels": { "homelab.ai/resource": "web" }
                },
                "type": "Opaque",
                "stringData": { "DB_PASSWORD": "k8s-s3cret" }
            })
        );
        // The value is in no argument, no file, and not in what a log would show.
        let shown = format!("{:?} {}", cmds, cmds[0].display());
        assert!(!shown.contains("k8s-s3cret"), "{shown}");
        assert!(cmds[1].stdin.is_none());
        assert!(
            cmds[1]
                .argv
                .contains(&rendered.join("deployment.yaml").display().to_string())
        );
        // A prune deletes the Secret with the rest.
        assert!(recorded_kinds(&work).contains("secret"));
    }

    #[test]
    fn destroy_deletes_by_the_resource_label_over_the_rendered_kinds() {
        let ex = KubernetesExecutor::new(&settings(Some("homelab"), "/bin/sh"));
        let kinds = BTreeSet::from(["deployment.apps".to_owned(), "service".to_owned()]);
        let cmd = ex
            .delete_cmd("web", &kinds, Path::new("/w"), &Target::default())
            .unwrap();
        assert_eq!(
            cmd.argv[1..],
            [
                "delete",
                "--context",
                "homelab",
                "-l",
                "homelab.ai/resource=web",
                "--all-namespaces",
                "--ignore-not-found",
                "deployment.apps,service"
            ]
        );
    }

    #[test]
    fn availability_reasons_are_exact() {
        let ex = KubernetesExecutor::new(&settings(None, "/bin/sh"));
        assert_eq!(ex.unavailable(), Some("kubernetes: no context configured"));
        let pool_context = Target {
            context: Some("lab-b".into()),
            kubeconfig: Some("/etc/homelabd/lab-b.kubeconfig".into()),
            ..Target::default()
        };
        let cmd = ex
            .apply_cmd(
                &[PathBuf::from("/r/a.yaml")],
                Path::new("/w"),
                &pool_context,
            )
            .unwrap();
        assert_eq!(cmd.argv[6..8], ["--context", "lab-b"]);
        assert_eq!(
            cmd.env.get("KUBECONFIG").map(String::as_str),
            Some("/etc/homelabd/lab-b.kubeconfig")
        );
        assert!(
            ex.apply_cmd(
                &[PathBuf::from("/r/a.yaml")],
                Path::new("/w"),
                &Target::default()
            )
            .unwrap_err()
            .to_string()
            .contains("set `context` on the resource's pool or node")
        );
        // A pool's context wins over the configured one.
        let ex = KubernetesExecutor::new(&settings(Some("homelab"), "/bin/sh"));
        let cmd = ex
            .apply_cmd(
                &[PathBuf::from("/r/a.yaml")],
                Path::new("/w"),
                &pool_context,
            )
            .unwrap();
        assert_eq!(cmd.argv[6..8], ["--context", "lab-b"]);
        let ex = KubernetesExecutor::new(&settings(Some("homelab"), "/nonexistent/kubectl"));
        assert_eq!(
            ex.unavailable(),
            Some(
                "kubernetes: kubectl not found at /nonexistent/kubectl ([executors.kubernetes] binary)"
            )
        );
        assert_eq!(
            KubernetesExecutor::new(&settings(Some("homelab"), "/bin/sh")).unavailable(),
            None
        );
    }

    #[test]
    fn kinds_are_recorded_across_applies_for_a_later_destroy() {
        let dir = tempfile::tempdir().unwrap();
        record_kinds(dir.path(), &BTreeSet::from(["pod".to_owned()])).unwrap();
        record_kinds(dir.path(), &BTreeSet::from(["service".to_owned()])).unwrap();
        assert_eq!(
            recorded_kinds(dir.path()),
            BTreeSet::from(["pod".to_owned(), "service".to_owned()])
        );
    }
}
