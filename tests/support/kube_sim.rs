//! A local simulator of the Kubernetes API endpoints `kubectl get nodes -o json` uses,
//! following the API reference's shapes (Kubernetes 1.31, as k3s serves them):
//!
//! - `GET /api` — `APIVersions` (`v1`);
//! - `GET /apis` — an empty `APIGroupList` (no named groups: nodes are in the core group);
//! - `GET /api/v1` — the core group's `APIResourceList`, with `nodes` (cluster-scoped,
//!   kind `Node`, short name `no`) and `nodes/status`;
//! - `GET /api/v1/nodes[?limit=N]` — a `NodeList` whose nodes carry `status.capacity`,
//!   `status.allocatable` (quantities as strings: `8`, `7500m`, `32781400Ki`, `31Gi`),
//!   `status.conditions` (`Ready`) and `status.nodeInfo`;
//! - `GET /version` — the server version.
//!
//! Discovery is answered the legacy way (`Content-Type: application/json`), which kubectl
//! accepts when it asked for aggregated discovery first. Every request needs
//! `Authorization: Bearer <TOKEN>` (else 401 `Status` "Unauthorized"); any other path is
//! 404 `Status` NotFound, any other method 405 — each as the API server's `Status`
//! object. Served over HTTPS on 127.0.0.1 with the test certificate of
//! `tests/fixtures/pve/tls/` (kubectl sends no token over plain HTTP), the kubeconfig
//! trusting its CA; a real API server cannot run here.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The bearer token the simulator accepts.
pub const TOKEN: &str = "kube-sim-token-0123456789";

/// One node: name, CPUs and memory (GiB) of capacity, and what the kubelet reserves.
#[derive(Debug, Clone)]
pub struct SimNode {
    pub name: String,
    pub cpus: u32,
    pub memory_gib: u64,
    /// Reserved for the system, in millicores and MiB (allocatable = capacity − these).
    pub reserved_millicores: u32,
    pub reserved_mib: u64,
    pub ready: bool,
}

impl SimNode {
    /// A ready node with k3s's usual reservations (500m CPU, 1 GiB).
    pub fn new(name: &str, cpus: u32, memory_gib: u64) -> SimNode {
        SimNode {
            name: name.into(),
            cpus,
            memory_gib,
            reserved_millicores: 500,
            reserved_mib: 1024,
            ready: true,
        }
    }

    fn json(&self) -> Value {
        let capacity_ki = self.memory_gib * 1024 * 1024;
        let allocatable_ki = capacity_ki - self.reserved_mib * 1024;
        json!({
            "metadata": {
                "name": self.name,
                "uid": format!("00000000-0000-4000-8000-{:012x}", self.name.len()),
                "resourceVersion": "1",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "node-role.kubernetes.io/worker": "true",
                },
            },
            "spec": {"podCIDR": "10.42.0.0/24"},
            "status": {
                "capacity": {
                    "cpu": self.cpus.to_string(),
                    "memory": format!("{capacity_ki}Ki"),
                    "pods": "110",
                    "ephemeral-storage": "102626232Ki",
                },
                "allocatable": {
                    "cpu": format!("{}m", self.cpus * 1000 - self.reserved_millicores),
                    "memory": format!("{allocatable_ki}Ki"),
                    "pods": "110",
                    "ephemeral-storage": "99833802265",
                },
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                    {"type": "Ready", "status": if self.ready { "True" } else { "False" },
                     "reason": if self.ready { "KubeletReady" } else { "KubeletNotReady" }},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.31.4+k3s1",
                    "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        })
    }
}

struct Sim {
    nodes: Mutex<Vec<SimNode>>,
    requests: Mutex<Vec<String>>,
}

/// A running simulator; stops when dropped.
pub struct KubeSim {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    sim: Arc<Sim>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl KubeSim {
    /// Starts a cluster of `nodes` (needs a tokio runtime).
    pub async fn start(nodes: Vec<SimNode>) -> KubeSim {
        let sim = Arc::new(Sim {
            nodes: Mutex::new(nodes),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/{*path}", get(handle).fallback(not_allowed))
            .with_state(Arc::clone(&sim));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        KubeSim {
            url: super::pve_sim::serve_tls(&format!("http://{addr}")),
            sim,
            server,
        }
    }

    /// Changes the nodes.
    pub fn with_nodes<T>(&self, change: impl FnOnce(&mut Vec<SimNode>) -> T) -> T {
        change(&mut self.sim.nodes.lock().unwrap())
    }

    /// The paths requested so far (without their query).
    pub fn requests(&self) -> Vec<String> {
        self.sim.requests.lock().unwrap().clone()
    }

    /// A kubeconfig with one context, `context`, for this simulator, its CA and token.
    pub fn kubeconfig(&self, context: &str) -> String {
        let ca = super::root().join("tests/fixtures/pve/tls/ca.pem");
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {}\n    certificate-authority: {}\ncontexts:\n- name: {context}\n  context:\n    cluster: sim\n    user: sim\ncurrent-context: {context}\nusers:\n- name: sim\n  user:\n    token: {TOKEN}\n",
            self.url,
            ca.display()
        )
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

async fn not_allowed() -> Response {
    status(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
}

async fn handle(
    State(sim): State<Arc<Sim>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    sim.requests.lock().unwrap().push(format!("/{path}"));
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let body = match path.trim_end_matches('/') {
        "api" => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
        }),
        "apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        "api/v1" => json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                {"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 "shortNames": ["no"], "storageVersionHash": "XwShjMxG9Fs="},
                {"name": "nodes/status", "singularName": "", "namespaced": false, "kind": "Node",
                 "verbs": ["get", "patch", "update"]},
            ],
        }),
        "api/v1/nodes" => {
            let nodes = sim.nodes.lock().unwrap();
            json!({
                "kind": "NodeList", "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": nodes.iter().map(SimNode::json).collect::<Vec<_>>(),
            })
        }
        "version" => json!({
            "major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1",
            "platform": "linux/amd64", "goVersion": "go1.22.9", "compiler": "gc",
        }),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
    };
    axum::Json(body).into_response()
}
