//! The Kubernetes observer: reads the objects a resource's render names (kind, name,
//! namespace, replicas, container images), asks the cluster for them with `kubectl get`,
//! and reports objects that are missing and workloads whose replica count or images
//! differ from the render.
//!
//! `kubectl get` prints only the compared fields (`-o custom-columns`, one line per
//! object) rather than whole JSON objects: the runner keeps the last 8 KiB of output,
//! which a few Deployments in JSON already exceed, and a cut JSON document cannot be
//! read at all.

use super::{
    Deviation, DeviationKind, Observation, ObserveError, Observer, Report, Severity, Target,
};
use crate::apply::kubernetes::{RenderedObject, manifest_files, read_objects};
use crate::apply::terraform::locate_tool;
use crate::apply::{BoxFuture, Cmd, ExecutorSettings, Runner};
use crate::reconcile::endpoint::{self, Endpoint, KubernetesAccess};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The columns `kubectl get` prints, in order.
pub const COLUMNS: &str = "KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,\
REPLICAS:.spec.replicas,\
CONTAINERS:.spec.template.spec.containers[*].name,\
IMAGES:.spec.template.spec.containers[*].image,\
JOB_CONTAINERS:.spec.jobTemplate.spec.template.spec.containers[*].name,\
JOB_IMAGES:.spec.jobTemplate.spec.template.spec.containers[*].image,\
SERVICE_TYPE:.spec.type,\
CLUSTER_IP:.spec.clusterIP,\
PORTS:.spec.ports[*].port,\
LB_IPS:.status.loadBalancer.ingress[*].ip,\
LB_HOSTNAMES:.status.loadBalancer.ingress[*].hostname,\
RULE_HOSTS:.spec.rules[*].host";

/// What kubectl prints for an absent field.
const NONE: &str = "<none>";

/// One object as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveObject {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub replicas: Option<i64>,
    /// Container name → image.
    pub images: BTreeMap<String, String>,
    /// How a Service or an Ingress is reached (empty for other kinds).
    #[serde(skip_serializing_if = "Access::is_empty")]
    pub access: Access,
}

/// The columns that say where a Service or an Ingress answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Load-balancer IPs and host names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_balancer: Vec<String>,
    /// An Ingress's rule hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

impl Access {
    fn is_empty(&self) -> bool {
        *self == Access::default()
    }
}

/// Where the objects of one resource can be reached, most reachable first (see
/// [`crate::reconcile::endpoint::kubernetes`]).
pub fn endpoints(live: &[LiveObject]) -> Vec<Endpoint> {
    let mut found: Vec<Endpoint> = live
        .iter()
        .flat_map(|o| {
            endpoint::kubernetes(&KubernetesAccess {
                kind: &o.kind,
                name: &o.name,
                cluster_ip: o.access.cluster_ip.as_deref(),
                ports: o.access.ports.iter().map(String::as_str).collect(),
                load_balancer: o.access.load_balancer.iter().map(String::as_str).collect(),
                hosts: o.access.hosts.iter().map(String::as_str).collect(),
            })
        })
        .collect();
    // Outside addresses of every object before any cluster IP.
    found.sort_by_key(|e| e.kind == endpoint::KUBERNETES_CLUSTER_IP);
    found
}

/// Observes Kubernetes resources through `kubectl` and one kubeconfig context.
#[derive(Debug)]
pub struct KubernetesObserver {
    kubectl: Result<PathBuf, crate::apply::terraform::ToolMissing>,
    context: Option<String>,
    runner: Runner,
}

impl KubernetesObserver {
    /// From `[executors.kubernetes]` (binary and context); each `kubectl get` runs
    /// through `runner`.
    pub fn new(settings: &ExecutorSettings, runner: Runner) -> KubernetesObserver {
        let k = &settings.kubernetes;
        KubernetesObserver {
            kubectl: locate_tool("kubernetes", k.binary.as_deref(), "kubectl", "kubernetes"),
            context: k.context.clone(),
            runner,
        }
    }

    async fn observe_all(&self, targets: &[Target]) -> Result<Report, ObserveError> {
        let unreachable = |message: String| ObserveError::Unreachable {
            provider: "kubernetes".to_owned(),
            message,
        };
        let kubectl = self
            .kubectl
            .as_ref()
            .map_err(|r| unreachable(r.to_string()))?;
        let mut report = Report::default();
        for target in targets {
            // The cluster the resource was applied to: its target's context (kept in
            // the work directory), else the configured one.
            let kept = crate::target::read(&target.work_dir).unwrap_or_default();
            let Some(context) = kept.context.clone().or_else(|| self.context.clone()) else {
                report
                    .failed
                    .insert(target.resource.clone(), "no context configured".to_owned());
                continue;
            };
            match self.observe_one(kubectl, &context, &kept, target).await {
                Ok(observation) => report.observations.push(observation),
                Err(reason) => {
                    report.failed.insert(target.resource.clone(), reason);
                }
            }
        }
        Ok(report)
    }

    // String error: why the target was not observed, kept as text in the report's `failed` map (shown and stored).
    async fn observe_one(
        &self,
        kubectl: &Path,
        context: &str,
        cluster: &crate::target::Target,
        target: &Target,
    ) -> Result<Observation, String> {
        let expected = manifest_files(&target.rendered_dir)
            .and_then(|files| read_objects(&files))
            .map_err(|e| e.to_string())?;
        let mut live = Vec::new();
        for (namespace, objects) in by_namespace(&expected) {
            let cmd = crate::apply::kubernetes::with_kubeconfig(
                get_cmd(kubectl, context, namespace, &objects, &target.work_dir),
                cluster,
            );
            let run = self.runner.run(&cmd).await;
            if !run.success() {
                return Err(run.failure_summary());
            }
            live.extend(parse_rows(&run.stdout_tail)?);
        }
        Ok(Observation {
            resource: target.resource.clone(),
            expected: json!(expected),
            actual: json!(live),
            deviations: compare(&target.resource, &expected, &live),
            endpoints: Some(endpoints(&live)),
        })
    }
}

impl Observer for KubernetesObserver {
    fn name(&self) -> &str {
        "kubernetes"
    }

    fn observe<'a>(&'a self, targets: &'a [Target]) -> BoxFuture<'a, Result<Report, ObserveError>> {
        Box::pin(self.observe_all(targets))
    }

    fn health<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Option<crate::reconcile::health::Attempt>> {
        Box::pin(async move { Some(self.rollout_status(target).await) })
    }
}

/// The kinds `kubectl rollout status` understands.
const ROLLOUT_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

impl KubernetesObserver {
    /// `kubectl rollout status --watch=false` of each rendered Deployment, StatefulSet
    /// and DaemonSet: healthy when every rollout is complete.
    async fn rollout_status(&self, target: &Target) -> crate::reconcile::health::Attempt {
        use crate::reconcile::health::Attempt;
        let fail = |detail: String| Attempt {
            passed: false,
            detail,
        };
        let kubectl = match &self.kubectl {
            Ok(k) => k,
            Err(e) => return fail(e.to_string()),
        };
        let kept = crate::target::read(&target.work_dir).unwrap_or_default();
        let Some(context) = kept.context.clone().or_else(|| self.context.clone()) else {
            return fail("no context configured".to_owned());
        };
        let objects = match manifest_files(&target.rendered_dir).and_then(|f| read_objects(&f)) {
            Ok(o) => o,
            Err(e) => return fail(e.to_string()),
        };
        let mut done = 0;
        for o in objects
            .iter()
            .filter(|o| ROLLOUT_KINDS.contains(&o.kind.as_str()))
        {
            let mut argv = vec![
                kubectl.display().to_string(),
                "--context".to_owned(),
                context.clone(),
            ];
            if let Some(ns) = &o.namespace {
                argv.extend(["--namespace".to_owned(), ns.clone()]);
            }
            argv.extend([
                "rollout".to_owned(),
                "status".to_owned(),
                "--watch=false".to_owned(),
                format!("{}/{}", o.kind.to_lowercase(), o.name),
            ]);
            let cmd =
                crate::apply::kubernetes::with_kubeconfig(Cmd::new(argv, &target.work_dir), &kept);
            let run = self.runner.run(&cmd).await;
            // Without --watch, kubectl exits 0 and says "Waiting for …" while a
            // rollout is still in progress.
            let out = run.stdout_tail.trim();
            if !run.success() {
                return fail(run.failure_summary());
            }
            if !out.contains("successfully rolled out") {
                return fail(
                    out.lines()
                        .last()
                        .unwrap_or("rollout in progress")
                        .to_owned(),
                );
            }
            done += 1;
        }
        Attempt {
            passed: true,
            detail: format!("{done} rollout(s) complete"),
        }
    }
}

/// The rendered objects grouped by namespace (`None`: the context's default).
pub fn by_namespace(objects: &[RenderedObject]) -> BTreeMap<Option<&str>, Vec<&RenderedObject>> {
    let mut groups: BTreeMap<Option<&str>, Vec<&RenderedObject>> = BTreeMap::new();
    for object in objects {
        groups
            .entry(object.namespace.as_deref())
            .or_default()
            .push(object);
    }
    groups
}

/// `kubectl get` of `objects` (all in `namespace`), missing ones left out silently.
pub fn get_cmd(
    kubectl: &Path,
    context: &str,
    namespace: Option<&str>,
    objects: &[&RenderedObject],
    cwd: &Path,
) -> Cmd {
    let mut argv = vec![
        kubectl.display().to_string(),
        "get".to_owned(),
        "--context".to_owned(),
        context.to_owned(),
    ];
    if let Some(ns) = namespace {
        argv.extend(["--namespace".to_owned(), ns.to_owned()]);
    }
    argv.extend([
        "--ignore-not-found".to_owned(),
        "--no-headers".to_owned(),
        "-o".to_owned(),
        format!("custom-columns={COLUMNS}"),
    ]);
    argv.extend(
        objects
            .iter()
            .map(|o| format!("{}/{}", o.kind_ref(), o.name)),
    );
    Cmd::new(argv, cwd)
}

/// Reads `kubectl get -o custom-columns=COLUMNS --no-headers` output.
// String error: why the target was not observed, kept as text in the report's `failed` map (shown and stored).
pub fn parse_rows(output: &str) -> Result<Vec<LiveObject>, String> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [
                kind,
                namespace,
                name,
                replicas,
                names,
                images,
                job_names,
                job_images,
                service_type,
                cluster_ip,
                ports,
                lb_ips,
                lb_hostnames,
                rule_hosts,
            ] = fields[..]
            else {
                return Err(bad_row(line));
            };
            let replicas = match present(replicas) {
                None => None,
                Some(r) => Some(r.parse::<i64>().map_err(|_| bad_row(line))?),
            };
            if !is_kind(kind)
                || !is_object_name(name)
                || !present(namespace).is_none_or(is_object_name)
            {
                return Err(bad_row(line));
            }
            let (names, images) = if names == NONE {
                (job_names, job_images)
            } else {
                (names, images)
            };
            Ok(LiveObject {
                kind: kind.to_owned(),
                namespace: present(namespace).map(str::to_owned),
                name: name.to_owned(),
                replicas,
                images: match (present(names), present(images)) {
                    (Some(n), Some(i)) => n
                        .split(',')
                        .zip(i.split(','))
                        .map(|(n, i)| (n.to_owned(), i.to_owned()))
                        .collect(),
                    _ => BTreeMap::new(),
                },
                access: Access {
                    service_type: present(service_type).map(str::to_owned),
                    cluster_ip: present(cluster_ip).map(str::to_owned),
                    ports: list(ports),
                    load_balancer: list(lb_ips).into_iter().chain(list(lb_hostnames)).collect(),
                    hosts: list(rule_hosts),
                },
            })
        })
        .collect()
}

fn bad_row(line: &str) -> String {
    format!(
        "kubectl get: expected 14 columns (kind, namespace, name, replicas, containers, images, job containers, job images, service type, cluster IP, ports, load-balancer IPs, load-balancer host names, rule hosts), found: {line}"
    )
}

/// A comma-separated column (`<none>`: empty).
fn list(field: &str) -> Vec<String> {
    present(field)
        .map(|f| {
            f.split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `Deployment`, `PodDisruptionBudget`: what `.kind` holds.
fn is_kind(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Object and namespace names (DNS subdomains).
fn is_object_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

fn present(field: &str) -> Option<&str> {
    (field != NONE).then_some(field)
}

/// The differences between the rendered objects and what the cluster reports.
pub fn compare(resource: &str, expected: &[RenderedObject], live: &[LiveObject]) -> Vec<Deviation> {
    let reapply = "re-apply: kubectl apply --server-side of the rendered manifests";
    let mut deviations = Vec::new();
    for want in expected {
        let id = match &want.namespace {
            Some(ns) => format!("{}/{ns}/{}", want.kind_ref(), want.name),
            None => format!("{}/{}", want.kind_ref(), want.name),
        };
        let found = live.iter().find(|l| {
            l.kind == want.kind
                && l.name == want.name
                && (want.namespace.is_none() || l.namespace == want.namespace)
        });
        let Some(have) = found else {
            deviations.push(Deviation {
                resource: resource.to_owned(),
                key: id,
                kind: DeviationKind::Missing,
                severity: Severity::Critical,
                auto_correctable: true,
                corrective_action: reapply.to_owned(),
                expected: json!({ "kind": want.kind, "name": want.name, "namespace": want.namespace }),
                actual: serde_json::Value::Null,
                message: format!("{} is missing", want.describe()),
            });
            continue;
        };
        if let (Some(want_n), Some(have_n)) = (want.replicas, have.replicas)
            && want_n != have_n
        {
            deviations.push(Deviation {
                resource: resource.to_owned(),
                key: format!("{id}/replicas"),
                kind: DeviationKind::ConfigDrift,
                severity: Severity::Warning,
                auto_correctable: true,
                corrective_action: reapply.to_owned(),
                expected: json!(want_n),
                actual: json!(have_n),
                message: format!(
                    "{} has {have_n} replicas, expected {want_n}",
                    want.describe()
                ),
            });
        }
        for (container, image) in &want.images {
            let actual = have.images.get(container);
            if actual == Some(image) {
                continue;
            }
            let message = match actual {
                Some(a) => format!(
                    "container {container} of {} runs {a}, expected {image}",
                    want.describe()
                ),
                None => format!("{} has no container {container}", want.describe()),
            };
            deviations.push(Deviation {
                resource: resource.to_owned(),
                key: format!("{id}/container/{container}/image"),
                kind: DeviationKind::ConfigDrift,
                severity: Severity::Warning,
                auto_correctable: true,
                corrective_action: reapply.to_owned(),
                expected: json!(image),
                actual: json!(actual),
                message,
            });
        }
    }
    deviations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::kubernetes::parse_objects;

    const RENDERED: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers: [{name: web, image: 'ghcr.io/example/web:1.4.2'}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: apps}\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: backup, namespace: apps}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: b, image: 'restic:0.17'}]\n";

    fn expected() -> Vec<RenderedObject> {
        parse_objects(Path::new("all.yaml"), RENDERED).unwrap()
    }

    const IN_SYNC: &str = "\
Deployment   apps   web      3        web      ghcr.io/example/web:1.4.2   <none>   <none>        <none>         <none>       <none>   <none>          <none>   <none>
Service      apps   web      <none>   <none>   <none>                      <none>   <none>        LoadBalancer   10.96.0.12   80,443   192.168.1.240   <none>   <none>
CronJob      apps   backup   <none>   <none>   <none>                      b        restic:0.17   <none>         <none>       <none>   <none>          <none>   <none>
";

    #[test]
    fn rows_are_read_with_job_template_containers() {
        let live = parse_rows(IN_SYNC).unwrap();
        assert_eq!(live.len(), 3);
        assert_eq!(live[0].replicas, Some(3));
        assert_eq!(live[0].images["web"], "ghcr.io/example/web:1.4.2");
        assert_eq!(live[1].replicas, None);
        assert_eq!(live[2].images["b"], "restic:0.17");
        assert_eq!(live[2].namespace.as_deref(), Some("apps"));
    }

    #[test]
    fn a_service_is_reached_at_its_load_balancer_first_then_its_cluster_ip() {
        let live = parse_rows(IN_SYNC).unwrap();
        assert_eq!(live[1].access.ports, ["80", "443"]);
        let found = endpoints(&live);
        assert_eq!(
            found
                .iter()
                .map(|e| (e.name.as_str(), e.address.as_str()))
                .collect::<Vec<_>>(),
            [
                ("service/web 80", "192.168.1.240:80"),
                ("service/web 443", "192.168.1.240:443"),
                ("service/web 80", "10.96.0.12:80"),
                ("service/web 443", "10.96.0.12:443"),
            ]
        );
        // Workloads say nothing about access: their observed JSON is unchanged.
        let deployment = serde_json::to_value(&live[0]).unwrap();
        assert!(deployment.get("access").is_none(), "{deployment}");
    }

    #[test]
    fn a_cluster_matching_the_render_has_no_deviations() {
        assert_eq!(
            compare("web", &expected(), &parse_rows(IN_SYNC).unwrap()),
            []
        );
    }

    #[test]
    fn a_deleted_object_is_missing() {
        let rows = IN_SYNC
            .lines()
            .filter(|l| !l.starts_with("Service"))
            .collect::<Vec<_>>()
            .join("\n");
        let devs = compare("web", &expected(), &parse_rows(&rows).unwrap());
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].key, "service/apps/web");
        assert_eq!(devs[0].kind, DeviationKind::Missing);
        assert_eq!(devs[0].message, "Service apps/web is missing");
    }

    #[test]
    fn scaled_and_re_imaged_workloads_are_config_drift() {
        let rows = IN_SYNC.replace("web      3 ", "web      1 ").replace(
            "ghcr.io/example/web:1.4.2",
            "ghcr.io/example/web:1.5.0-debug",
        );
        let devs = compare("web", &expected(), &parse_rows(&rows).unwrap());
        let summary: Vec<(&str, &str)> = devs
            .iter()
            .map(|d| (d.key.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "deployment.apps/apps/web/replicas",
                    "Deployment apps/web has 1 replicas, expected 3"
                ),
                (
                    "deployment.apps/apps/web/container/web/image",
                    "container web of Deployment apps/web runs ghcr.io/example/web:1.5.0-debug, expected ghcr.io/example/web:1.4.2"
                ),
            ]
        );
        assert!(devs.iter().all(|d| d.kind == DeviationKind::ConfigDrift));
    }

    #[test]
    fn output_that_is_not_the_asked_columns_is_an_error() {
        let err = parse_rows("error: the server doesn't have a resource type\n").unwrap_err();
        assert!(err.starts_with("kubectl get: expected 14 columns"), "{err}");
        let short = parse_rows("Deployment apps web 3\n").unwrap_err();
        assert!(short.ends_with("found: Deployment apps web 3"), "{short}");
        let bad_replicas = parse_rows(&format!(
            "Deployment apps web three{}\n",
            " <none>".repeat(10)
        ))
        .unwrap_err();
        assert!(
            bad_replicas.starts_with("kubectl get: expected"),
            "{bad_replicas}"
        );
    }

    #[test]
    fn one_get_per_namespace_names_each_object_by_kind_and_group() {
        let objects = expected();
        let groups = by_namespace(&objects);
        assert_eq!(groups.len(), 1);
        let cmd = get_cmd(
            Path::new("kubectl"),
            "homelab",
            Some("apps"),
            &groups[&Some("apps")],
            Path::new("/w"),
        );
        assert_eq!(
            cmd.argv[..8],
            [
                "kubectl",
                "get",
                "--context",
                "homelab",
                "--namespace",
                "apps",
                "--ignore-not-found",
                "--no-headers"
            ]
        );
        assert_eq!(
            cmd.argv[10..],
            ["deployment.apps/web", "service/web", "cronjob.batch/backup"]
        );
    }
}
