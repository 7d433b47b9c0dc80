//! Endpoints: where a deployment can be reached, as the executors and observers find it
//! (pure; the loop records them, so the model lives with the loop's other records):
//! Docker published ports, the hosts a Terraform configuration reports, Kubernetes
//! Service and Ingress addresses, the address outputs of CloudFormation stacks and ARM
//! deployments. The store keeps them on the resource (`deployment_instances.endpoints`,
//! the first one's address in `address`).

mod cloud;

pub use cloud::{ARM_OUTPUT, CLOUDFORMATION_OUTPUT, arm_outputs, cloudformation_outputs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One place a deployment answers.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Endpoint {
    /// Where it was found: `docker/port`, `terraform/vms`.
    pub kind: String,
    /// What answers there: `web 8080/tcp` (service and container port), a VM's name.
    pub name: String,
    /// How to reach it: `host:port`, or an IP address.
    pub address: String,
}

/// The kind of a port Docker publishes.
pub const DOCKER_PORT: &str = "docker/port";
/// The kind of a host in a Terraform configuration's `vms` output.
pub const TERRAFORM_VM: &str = "terraform/vms";
/// The kind of a Kubernetes Service's load-balancer address (reachable from outside).
pub const KUBERNETES_LOAD_BALANCER: &str = "kubernetes/load-balancer";
/// The kind of a host an Ingress routes.
pub const KUBERNETES_INGRESS: &str = "kubernetes/ingress";
/// The kind of a Service's cluster IP (reachable from inside the cluster only).
pub const KUBERNETES_CLUSTER_IP: &str = "kubernetes/cluster-ip";

/// The address recorded in `deployment_instances.address`: the first endpoint's.
pub fn primary(endpoints: &[Endpoint]) -> Option<String> {
    endpoints.first().map(|e| e.address.clone())
}

/// `host:port`, with an IPv6 literal in brackets.
pub fn host_port(host: &str, port: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One published port of a container: `binding_ip` as Docker reports it (empty,
/// `0.0.0.0` or `::` when published on every address of the engine's host, which is
/// then `engine_host`).
pub fn docker_port(
    service: &str,
    container_port: &str,
    binding_ip: &str,
    host_port_text: &str,
    engine_host: &str,
) -> Endpoint {
    let everywhere = matches!(binding_ip, "" | "0.0.0.0" | "::");
    let host = if everywhere { engine_host } else { binding_ip };
    Endpoint {
        kind: DOCKER_PORT.to_owned(),
        name: format!("{service} {container_port}"),
        address: host_port(host, host_port_text),
    }
}

/// The hosts of a Terraform `vms` output (a JSON list of objects with `name` and
/// `ipv4_address`, as the built-in charts declare it); entries without an address are
/// left out (a VM still booting has none yet).
pub fn terraform_hosts(output: &serde_json::Value) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = output
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|vm| {
            let address = vm.get("ipv4_address")?.as_str()?.trim();
            (!address.is_empty()).then(|| Endpoint {
                kind: TERRAFORM_VM.to_owned(),
                name: vm
                    .get("name")
                    .and_then(|n| n.as_str())
                    .unwrap_or("vm")
                    .to_owned(),
                address: address.to_owned(),
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What the cluster reports about how a Service or an Ingress is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubernetesAccess<'a> {
    /// `Service` or `Ingress` (other kinds have no endpoints).
    pub kind: &'a str,
    pub name: &'a str,
    /// `.spec.clusterIP` (`None` for a headless Service).
    pub cluster_ip: Option<&'a str>,
    /// `.spec.ports[*].port`.
    pub ports: Vec<&'a str>,
    /// `.status.loadBalancer.ingress[*].ip` and `.hostname`.
    pub load_balancer: Vec<&'a str>,
    /// `.spec.rules[*].host` of an Ingress.
    pub hosts: Vec<&'a str>,
}

/// The endpoints of one Kubernetes object, most reachable first: a load balancer's
/// address and port (a Service) or address (an Ingress), the hosts an Ingress routes,
/// then a Service's cluster IP and port. A headless Service has none of its own.
pub fn kubernetes(access: &KubernetesAccess) -> Vec<Endpoint> {
    let endpoint = |kind: &str, name: String, address: String| Endpoint {
        kind: kind.to_owned(),
        name,
        address,
    };
    let mut out = Vec::new();
    match access.kind {
        "Service" => {
            let name = |port: &str| format!("service/{} {port}", access.name);
            for lb in &access.load_balancer {
                for port in &access.ports {
                    out.push(endpoint(
                        KUBERNETES_LOAD_BALANCER,
                        name(port),
                        host_port(lb, port),
                    ));
                }
            }
            if let Some(ip) = access.cluster_ip.filter(|ip| *ip != "None") {
                for port in &access.ports {
                    out.push(endpoint(
                        KUBERNETES_CLUSTER_IP,
                        name(port),
                        host_port(ip, port),
                    ));
                }
            }
        }
        "Ingress" => {
            let name = format!("ingress/{}", access.name);
            for lb in &access.load_balancer {
                out.push(endpoint(
                    KUBERNETES_LOAD_BALANCER,
                    name.clone(),
                    (*lb).to_owned(),
                ));
            }
            for host in &access.hosts {
                out.push(endpoint(
                    KUBERNETES_INGRESS,
                    name.clone(),
                    (*host).to_owned(),
                ));
            }
        }
        _ => {}
    }
    out
}

/// One line for people: `web 8080/tcp at nas:8080, …`.
pub fn describe(endpoints: &[Endpoint]) -> String {
    if endpoints.is_empty() {
        return "no endpoint".to_owned();
    }
    endpoints
        .iter()
        .map(|e| format!("{} at {}", e.name, e.address))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_port_on_every_address_is_reached_through_the_engine_host() {
        let e = docker_port("web", "80/tcp", "0.0.0.0", "8080", "nas");
        assert_eq!(e.address, "nas:8080");
        assert_eq!(e.name, "web 80/tcp");
        assert_eq!(
            docker_port("web", "80/tcp", "::", "8080", "nas").address,
            "nas:8080"
        );
        assert_eq!(
            docker_port("web", "80/tcp", "127.0.0.1", "8080", "nas").address,
            "127.0.0.1:8080"
        );
        assert_eq!(
            docker_port("web", "80/tcp", "fd00::1", "8080", "nas").address,
            "[fd00::1]:8080"
        );
    }

    #[test]
    fn terraform_hosts_without_an_address_are_left_out() {
        let hosts = terraform_hosts(&json!([
            {"name": "db", "ipv4_address": "10.0.0.7"},
            {"name": "web", "ipv4_address": ""},
            {"name": "app", "ipv4_address": "10.0.0.5"},
            "junk"
        ]));
        assert_eq!(
            hosts
                .iter()
                .map(|e| (e.name.as_str(), e.address.as_str()))
                .collect::<Vec<_>>(),
            vec![("app", "10.0.0.5"), ("db", "10.0.0.7")]
        );
        assert_eq!(primary(&hosts).as_deref(), Some("10.0.0.5"));
        assert!(terraform_hosts(&json!({"not": "a list"})).is_empty());
    }

    #[test]
    fn a_load_balancer_comes_before_the_cluster_ip_and_headless_services_have_none() {
        let service = KubernetesAccess {
            kind: "Service",
            name: "web",
            cluster_ip: Some("10.96.0.12"),
            ports: vec!["80", "443"],
            load_balancer: vec!["192.168.1.240"],
            hosts: vec![],
        };
        let found = kubernetes(&service);
        assert_eq!(
            found
                .iter()
                .map(|e| (e.kind.as_str(), e.name.as_str(), e.address.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (
                    KUBERNETES_LOAD_BALANCER,
                    "service/web 80",
                    "192.168.1.240:80"
                ),
                (
                    KUBERNETES_LOAD_BALANCER,
                    "service/web 443",
                    "192.168.1.240:443"
                ),
                (KUBERNETES_CLUSTER_IP, "service/web 80", "10.96.0.12:80"),
                (KUBERNETES_CLUSTER_IP, "service/web 443", "10.96.0.12:443"),
            ]
        );
        assert_eq!(primary(&found).as_deref(), Some("192.168.1.240:80"));
        let headless = KubernetesAccess {
            cluster_ip: Some("None"),
            load_balancer: vec![],
            ..service
        };
        assert!(kubernetes(&headless).is_empty());
    }

    #[test]
    fn an_ingress_is_reached_at_its_hosts_and_workloads_have_no_endpoint() {
        let ingress = KubernetesAccess {
            kind: "Ingress",
            name: "web",
            hosts: vec!["cloud.home.example"],
            load_balancer: vec!["192.168.1.241"],
            ..KubernetesAccess::default()
        };
        assert_eq!(
            kubernetes(&ingress)
                .iter()
                .map(|e| e.address.as_str())
                .collect::<Vec<_>>(),
            vec!["192.168.1.241", "cloud.home.example"]
        );
        let deployment = KubernetesAccess {
            kind: "Deployment",
            name: "web",
            ..KubernetesAccess::default()
        };
        assert!(kubernetes(&deployment).is_empty());
    }
}
