//! A local simulator of the Proxmox VE REST API endpoints homelabd reads, following the
//! API viewer's documented shapes (pve-docs/api-viewer, PVE 8/9):
//!
//! - `GET /api2/json/cluster/resources[?type=vm|node|storage]` — nodes, storage per node
//!   and guests (`qemu/100`, `lxc/200`); guests of an offline node show status `unknown`;
//!   sizes in bytes, `maxcpu` a number, `template` 0/1, `tags` `;`-separated;
//! - `GET /api2/json/nodes` — nodes with `status` online/offline (no load figures when
//!   offline);
//! - `GET /api2/json/storage` — the storage configuration;
//! - `GET /api2/json/nodes/{node}/qemu`, `…/lxc` — the node's guests;
//! - `GET /api2/json/nodes/{node}/qemu/{vmid}/config` — the VM configuration, `memory`
//!   as the property string PVE 8.1+ returns (`"8192"`), `onboot` 0/1, plus `digest`;
//!   500 "Configuration file … does not exist" for a VM not on that node;
//! - `GET /api2/json/nodes/{node}/hardware/pci` — the node's PCI devices, with the
//!   documented default class filter (no 05 memory, 06 bridge, 0b processor).
//!
//! Every answer is `{"data": …}`. Errors carry the reason as PVE's JSON formatter does
//! (`{"data": null, "message": "…\n"}`, plus `errors` for bad parameters): 401 unless
//! `Authorization: PVEAPIToken=USER@REALM!NAME=SECRET` matches exactly, 403 "Permission
//! check failed (path, privilege)" where a test denies a path, 595 for any
//! `/nodes/{node}/…` of an offline node, 501 for anything else — and for every method
//! but GET (recorded, so a test can tell that nothing was created). The status line carries
//! only the standard reason (axum cannot set PVE's custom reason phrases).
//!
//! State starts from the static fixtures in `tests/fixtures/pve/` (the example homelab's
//! five nodes, storage, GPUs and ten guests including templates and containers) and can
//! be changed by the test: memory set by hand, a VM deleted or added, a node taken
//! offline, N generated VMs for the benchmark. Serves plain HTTP on 127.0.0.1 on a free
//! port and, on request, HTTPS through a TLS relay with the certificates in
//! `tests/fixtures/pve/tls/`. Proxmox VE itself cannot run on the test machines.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token the simulator accepts by default.
pub const TOKEN_ID: &str = "homelabd@pve!observer";
pub const TOKEN_SECRET: &str = "5d1e8c3a-7b42-4f09-9e6d-2a8c1f7b3e50";

fn fixture(name: &str) -> Value {
    let path = super::root().join("tests/fixtures/pve").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// One guest: its kind, place, run state and configuration (as the config endpoint
/// returns it).
#[derive(Debug, Clone, PartialEq)]
pub struct Guest {
    /// `qemu` or `lxc`.
    pub kind: String,
    pub node: String,
    pub status: String,
    pub config: Map<String, Value>,
}

impl Guest {
    fn name(&self) -> Option<&str> {
        let key = if self.kind == "lxc" {
            "hostname"
        } else {
            "name"
        };
        self.config.get(key).and_then(Value::as_str)
    }

    fn template(&self) -> bool {
        self.config.get("template").and_then(Value::as_u64) == Some(1)
    }

    fn memory_mb(&self) -> u64 {
        match self.config.get("memory") {
            Some(Value::String(s)) => s
                .split(',')
                .find_map(|p| p.strip_prefix("current=").unwrap_or(p).parse().ok())
                .unwrap_or(512),
            Some(v) => v.as_u64().unwrap_or(512),
            None => 512,
        }
    }

    fn cpus(&self) -> u64 {
        let get = |k: &str| self.config.get(k).and_then(Value::as_u64).unwrap_or(1);
        get("cores") * get("sockets")
    }

    fn disk_bytes(&self) -> u64 {
        let key = if self.kind == "lxc" {
            "rootfs"
        } else {
            "scsi0"
        };
        self.config
            .get(key)
            .and_then(Value::as_str)
            .and_then(|d| d.split(',').find_map(|p| p.strip_prefix("size=")))
            .and_then(|s| s.strip_suffix('G'))
            .and_then(|g| g.parse::<u64>().ok())
            .map(|g| g << 30)
            .unwrap_or(0)
    }
}

/// The simulated cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub nodes: Vec<Map<String, Value>>,
    pub storage: Vec<Value>,
    pub storage_status: Vec<Value>,
    pub pci: BTreeMap<String, Vec<Value>>,
    pub guests: BTreeMap<u64, Guest>,
    /// Path prefix → (ACL path, privilege) answered with 403.
    pub denied: Vec<(String, String, String)>,
}

impl Cluster {
    /// The fixture cluster.
    pub fn from_fixtures() -> Cluster {
        let nodes = fixture("nodes.json")
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_object().unwrap().clone())
            .collect();
        let pci = fixture("pci.json")
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_array().unwrap().clone()))
            .collect();
        let guests = fixture("guests.json")
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["vmid"].as_u64().unwrap(),
                    Guest {
                        kind: g["type"].as_str().unwrap().to_owned(),
                        node: g["node"].as_str().unwrap().to_owned(),
                        status: g["status"].as_str().unwrap().to_owned(),
                        config: g["config"].as_object().unwrap().clone(),
                    },
                )
            })
            .collect();
        Cluster {
            nodes,
            storage: fixture("storage.json").as_array().unwrap().clone(),
            storage_status: fixture("storage-status.json").as_array().unwrap().clone(),
            pci,
            guests,
            denied: Vec::new(),
        }
    }

    fn node(&self, name: &str) -> Option<&Map<String, Value>> {
        self.nodes.iter().find(|n| n["node"] == name)
    }

    fn online(&self, name: &str) -> bool {
        self.node(name).is_some_and(|n| n["status"] == "online")
    }

    fn guest_status(&self, g: &Guest) -> String {
        if self.online(&g.node) {
            g.status.clone()
        } else {
            "unknown".into()
        }
    }

    fn resource_of(&self, vmid: u64, g: &Guest) -> Value {
        let running = self.guest_status(g) == "running";
        let mut r = Map::new();
        r.insert("id".into(), format!("{}/{vmid}", g.kind).into());
        r.insert("type".into(), g.kind.clone().into());
        r.insert("vmid".into(), vmid.into());
        r.insert("node".into(), g.node.clone().into());
        if let Some(name) = g.name() {
            r.insert("name".into(), name.into());
        }
        r.insert("status".into(), self.guest_status(g).into());
        r.insert("template".into(), u64::from(g.template()).into());
        if let Some(tags) = g.config.get("tags") {
            r.insert("tags".into(), tags.clone());
        }
        r.insert("maxcpu".into(), g.cpus().into());
        r.insert("maxmem".into(), (g.memory_mb() << 20).into());
        r.insert("maxdisk".into(), g.disk_bytes().into());
        r.insert("cpu".into(), if running { 0.0125 } else { 0.0 }.into());
        r.insert(
            "mem".into(),
            if running {
                (g.memory_mb() << 20) / 3
            } else {
                0
            }
            .into(),
        );
        r.insert("disk".into(), 0.into());
        r.insert("uptime".into(), if running { 86_400 } else { 0 }.into());
        r.insert("netin".into(), 0.into());
        r.insert("netout".into(), 0.into());
        r.insert("diskread".into(), 0.into());
        r.insert("diskwrite".into(), 0.into());
        Value::Object(r)
    }

    fn node_entry(&self, n: &Map<String, Value>) -> Value {
        let mut n = n.clone();
        if n["status"] != "online" {
            // PVE has no load figures for a node it cannot reach.
            for k in ["cpu", "mem", "uptime", "disk", "maxdisk"] {
                n.remove(k);
            }
        }
        Value::Object(n)
    }

    fn list_guests(&self, node: &str, kind: &str) -> Value {
        let list: Vec<Value> = self
            .guests
            .iter()
            .filter(|(_, g)| g.node == node && g.kind == kind)
            .map(|(vmid, g)| {
                let running = g.status == "running";
                let mut e = Map::new();
                e.insert("vmid".into(), (*vmid).into());
                if let Some(name) = g.name() {
                    e.insert("name".into(), name.into());
                }
                e.insert("status".into(), g.status.clone().into());
                if kind == "lxc" {
                    e.insert("type".into(), "lxc".into());
                }
                if g.template() {
                    e.insert("template".into(), 1.into());
                }
                if let Some(tags) = g.config.get("tags") {
                    e.insert("tags".into(), tags.clone());
                }
                e.insert("cpus".into(), g.cpus().into());
                e.insert("maxmem".into(), (g.memory_mb() << 20).into());
                e.insert("maxdisk".into(), g.disk_bytes().into());
                e.insert(
                    "mem".into(),
                    if running {
                        (g.memory_mb() << 20) / 3
                    } else {
                        0
                    }
                    .into(),
                );
                e.insert("cpu".into(), if running { 0.0125 } else { 0.0 }.into());
                e.insert("uptime".into(), if running { 86_400 } else { 0 }.into());
                e.insert("disk".into(), 0.into());
                e.insert("netin".into(), 0.into());
                e.insert("netout".into(), 0.into());
                if running {
                    e.insert("pid".into(), (10_000 + *vmid).into());
                }
                Value::Object(e)
            })
            .collect();
        Value::Array(list)
    }
}

struct Sim {
    cluster: Mutex<Cluster>,
    authorization: Mutex<String>,
    requests: Mutex<Vec<String>>,
    config_latency: Mutex<Duration>,
    config_in_flight: AtomicUsize,
    config_peak: AtomicUsize,
}

/// A running simulator; stops when dropped.
pub struct PveSim {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    sim: Arc<Sim>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for PveSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl PveSim {
    /// Starts the fixture cluster (needs a tokio runtime).
    pub async fn start() -> PveSim {
        PveSim::start_with(Cluster::from_fixtures()).await
    }

    /// Starts an arbitrary cluster.
    pub async fn start_with(cluster: Cluster) -> PveSim {
        let sim = Arc::new(Sim {
            cluster: Mutex::new(cluster),
            authorization: Mutex::new(format!("PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}")),
            requests: Mutex::new(Vec::new()),
            config_latency: Mutex::new(Duration::ZERO),
            config_in_flight: AtomicUsize::new(0),
            config_peak: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/api2/json/{*path}", get(handle).fallback(refuse_write))
            .with_state(Arc::clone(&sim));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PveSim {
            url: format!("http://{addr}"),
            sim,
            server,
        }
    }

    /// Changes the cluster.
    pub fn with<T>(&self, change: impl FnOnce(&mut Cluster) -> T) -> T {
        change(&mut self.sim.cluster.lock().unwrap())
    }

    /// Sets one configuration key of a guest, as `qm set` would.
    pub fn set_config(&self, vmid: u64, key: &str, value: Value) {
        self.with(|c| {
            c.guests
                .get_mut(&vmid)
                .unwrap()
                .config
                .insert(key.into(), value);
        });
    }

    /// Deletes a guest.
    pub fn delete(&self, vmid: u64) {
        self.with(|c| c.guests.remove(&vmid).unwrap());
    }

    /// Adds a QEMU VM nobody defined.
    pub fn add_vm(&self, vmid: u64, node: &str, name: &str, memory_mb: u64, cores: u64) {
        let config = serde_json::from_value(serde_json::json!({
            "name": name, "memory": memory_mb.to_string(), "cores": cores, "sockets": 1,
            "ostype": "l26", "scsi0": format!("local-lvm:vm-{vmid}-disk-0,size=32G"),
            "net0": "virtio=BC:24:11:00:00:99,bridge=vmbr0",
        }))
        .unwrap();
        self.with(|c| {
            c.guests.insert(
                vmid,
                Guest {
                    kind: "qemu".into(),
                    node: node.into(),
                    status: "running".into(),
                    config,
                },
            )
        });
    }

    /// Marks a node offline: its own endpoints answer 595.
    pub fn set_offline(&self, node: &str) {
        self.with(|c| {
            let n = c.nodes.iter_mut().find(|n| n["node"] == node).unwrap();
            n.insert("status".into(), "offline".into());
        });
    }

    /// Answers requests under `path_prefix` with 403 "Permission check failed (acl, priv)".
    pub fn deny(&self, path_prefix: &str, acl: &str, privilege: &str) {
        self.with(|c| {
            c.denied
                .push((path_prefix.into(), acl.into(), privilege.into()))
        });
    }

    /// Accepts only this token from now on.
    pub fn set_token(&self, token_id: &str, secret: &str) {
        *self.sim.authorization.lock().unwrap() = format!("PVEAPIToken={token_id}={secret}");
    }

    /// Delays every VM config answer (to observe request concurrency).
    pub fn set_config_latency(&self, latency: Duration) {
        *self.sim.config_latency.lock().unwrap() = latency;
    }

    /// The most VM config requests that were in flight at once.
    pub fn config_peak(&self) -> usize {
        self.sim.config_peak.load(Ordering::SeqCst)
    }

    /// The paths requested so far (with their query); requests other than GET as
    /// `METHOD /path`.
    pub fn requests(&self) -> Vec<String> {
        self.sim.requests.lock().unwrap().clone()
    }

    /// Replaces the guests with `count` managed VMs spread over the nodes, named
    /// `vm-00001`…, VMIDs from 1000, and returns (name, node, vmid, tags) of each.
    pub fn generate(&self, count: usize) -> Vec<(String, String, u64, String)> {
        self.with(|c| {
            let nodes: Vec<String> = c
                .nodes
                .iter()
                .map(|n| n["node"].as_str().unwrap().to_owned())
                .collect();
            c.guests.clear();
            (0..count)
                .map(|i| {
                    let vmid = 1000 + i as u64;
                    let name = format!("vm-{:05}", i + 1);
                    let node = nodes[i % nodes.len()].clone();
                    let tags = "homelabd;site-home".to_owned();
                    let config = serde_json::from_value(serde_json::json!({
                        "name": name, "memory": "2048", "cores": 2, "sockets": 1, "onboot": 1,
                        "tags": tags, "ostype": "l26",
                        "scsi0": format!("local-lvm:vm-{vmid}-disk-0,size=20G"),
                    }))
                    .unwrap();
                    c.guests.insert(
                        vmid,
                        Guest {
                            kind: "qemu".into(),
                            node: node.clone(),
                            status: "running".into(),
                            config,
                        },
                    );
                    (name, node, vmid, tags)
                })
                .collect()
        })
    }

    /// Serves the same API over HTTPS with `tests/fixtures/pve/tls/server.pem` (issued
    /// by `ca.pem` for 127.0.0.1 and localhost); returns `https://127.0.0.1:<port>`.
    pub fn https(&self) -> String {
        serve_tls(&self.url)
    }
}

/// Serves the plain HTTP server at `http_url` over HTTPS with
/// `tests/fixtures/pve/tls/server.pem` (issued by `ca.pem` for 127.0.0.1 and
/// localhost), a thread per connection; returns `https://127.0.0.1:<port>`.
pub fn serve_tls(http_url: &str) -> String {
    let dir = super::root().join("tests/fixtures/pve/tls");
    use rustls::pki_types::pem::PemObject;
    let chain =
        vec![rustls::pki_types::CertificateDer::from_pem_file(dir.join("server.pem")).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let backend: SocketAddr = http_url.trim_start_matches("http://").parse().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let config = Arc::new(config);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || relay(client, backend, config));
        }
    });
    url
}

/// Terminates TLS for one connection and relays the plaintext to the HTTP server: one
/// thread per direction, the rustls connection shared between them.
fn relay(client: TcpStream, backend: SocketAddr, config: Arc<rustls::ServerConfig>) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let Ok(upstream) = TcpStream::connect(backend) else {
        return;
    };
    let conn = Arc::new(Mutex::new(conn));
    let flush = |conn: &mut rustls::ServerConnection, to: &mut TcpStream| -> bool {
        while conn.wants_write() {
            if conn.write_tls(to).is_err() {
                return false;
            }
        }
        true
    };
    let (down_conn, mut down_client, mut down_upstream) = (
        Arc::clone(&conn),
        client.try_clone().unwrap(),
        upstream.try_clone().unwrap(),
    );
    let down = std::thread::spawn(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match down_upstream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut c = down_conn.lock().unwrap();
            if c.writer().write_all(&buf[..n]).is_err() || !flush(&mut c, &mut down_client) {
                return;
            }
        }
        let mut c = down_conn.lock().unwrap();
        c.send_close_notify();
        flush(&mut c, &mut down_client);
        let _ = down_client.shutdown(Shutdown::Write);
    });
    let (mut from_client, mut to_client, mut to_upstream) =
        (client.try_clone().unwrap(), client, upstream);
    let mut raw = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match from_client.read(&mut raw) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut plain = Vec::new();
        {
            let mut c = conn.lock().unwrap();
            let mut input = &raw[..n];
            while !input.is_empty() {
                if c.read_tls(&mut input).is_err() {
                    break 'read;
                }
                let failed = c.process_new_packets().is_err();
                // Send the handshake answer, or the alert that ends a refused handshake.
                flush(&mut c, &mut to_client);
                if failed {
                    break 'read;
                }
                let _ = c.reader().read_to_end(&mut plain);
            }
        }
        if !plain.is_empty() && to_upstream.write_all(&plain).is_err() {
            break;
        }
    }
    let _ = to_upstream.shutdown(Shutdown::Write);
    let _ = to_client.shutdown(Shutdown::Read);
    let _ = down.join();
}

/// Any other method (a create is `POST /nodes/{node}/qemu`, a clone `POST
/// …/qemu/{vmid}/clone`): recorded as `METHOD /path` and answered 501, since the
/// simulator's cluster changes only through the test.
async fn refuse_write(
    State(sim): State<Arc<Sim>>,
    method: axum::http::Method,
    Path(path): Path<String>,
) -> Response {
    sim.requests
        .lock()
        .unwrap()
        .push(format!("{method} /{path}"));
    answer(
        StatusCode::NOT_IMPLEMENTED,
        &format!("Method '{method} /{path}' not implemented"),
    )
}

fn answer(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "data": null, "message": format!("{message}\n") });
    (status, axum::Json(body)).into_response()
}

fn data(value: Value) -> Response {
    axum::Json(serde_json::json!({ "data": value })).into_response()
}

async fn handle(
    State(sim): State<Arc<Sim>>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let full = format!(
        "/{path}{}",
        query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    sim.requests.lock().unwrap().push(full);
    let expected = sim.authorization.lock().unwrap().clone();
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    match given {
        None => return answer(StatusCode::UNAUTHORIZED, "No ticket"),
        Some(g) if g != expected => {
            return answer(StatusCode::UNAUTHORIZED, "authentication failure");
        }
        Some(_) => {}
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let ["nodes", _, "qemu", _, "config"] = segments.as_slice() {
        let now = sim.config_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        sim.config_peak.fetch_max(now, Ordering::SeqCst);
        let latency = *sim.config_latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let response = route(&sim, &segments, query.as_deref());
        sim.config_in_flight.fetch_sub(1, Ordering::SeqCst);
        return response;
    }
    route(&sim, &segments, query.as_deref())
}

fn route(sim: &Sim, segments: &[&str], query: Option<&str>) -> Response {
    let c = sim.cluster.lock().unwrap();
    let path = format!("/{}", segments.join("/"));
    if let Some((_, acl, privilege)) = c
        .denied
        .iter()
        .find(|(p, _, _)| path.starts_with(p.as_str()))
    {
        return answer(
            StatusCode::FORBIDDEN,
            &format!("Permission check failed ({acl}, {privilege})"),
        );
    }
    if let ["nodes", node, ..] = segments
        && segments.len() > 2
    {
        if c.node(node).is_none() {
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!(
                    "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
                ),
            );
        }
        if !c.online(node) {
            return answer(StatusCode::from_u16(595).unwrap(), "Connection refused");
        }
    }
    match segments {
        ["cluster", "resources"] => {
            let kind = query
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("type=")))
                .map(str::to_owned);
            if let Some(k) = &kind
                && !["vm", "storage", "node", "sdn"].contains(&k.as_str())
            {
                let body = serde_json::json!({
                    "data": null,
                    "message": "Parameter verification failed.\n",
                    "errors": { "type": format!("value '{k}' does not have a value in the enumeration 'vm, storage, node, sdn'\n") },
                });
                return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
            }
            let want = |k: &str| kind.as_deref().is_none_or(|w| w == k);
            let mut items = Vec::new();
            if want("node") {
                items.extend(c.nodes.iter().map(|n| c.node_entry(n)));
            }
            if want("storage") {
                items.extend(c.storage_status.iter().cloned());
            }
            if want("vm") {
                items.extend(c.guests.iter().map(|(vmid, g)| c.resource_of(*vmid, g)));
            }
            data(Value::Array(items))
        }
        ["nodes"] => data(Value::Array(
            c.nodes.iter().map(|n| c.node_entry(n)).collect(),
        )),
        ["storage"] => data(Value::Array(c.storage.clone())),
        ["nodes", node, kind @ ("qemu" | "lxc")] => data(c.list_guests(node, kind)),
        ["nodes", node, "qemu", vmid, "config"] => {
            let found = vmid
                .parse::<u64>()
                .ok()
                .and_then(|id| c.guests.get(&id))
                .filter(|g| g.node == *node && g.kind == "qemu");
            match found {
                Some(g) => {
                    let mut config = g.config.clone();
                    let digest = sha2::Sha256::digest(Value::Object(config.clone()).to_string());
                    config.insert("digest".into(), hex::encode(&digest[..20]).into());
                    data(Value::Object(config))
                }
                None => answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!(
                        "Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist"
                    ),
                ),
            }
        }
        ["nodes", node, "hardware", "pci"] => {
            data(Value::Array(c.pci.get(*node).cloned().unwrap_or_default()))
        }
        _ => answer(
            StatusCode::NOT_IMPLEMENTED,
            &format!("Method 'GET {path}' not implemented"),
        ),
    }
}
