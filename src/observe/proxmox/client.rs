//! The HTTP shell: authenticated GETs against the Proxmox VE API, each with a timeout,
//! and the mapping of Proxmox's error answers to [`ProxmoxError`].

use super::ProxmoxError;
use super::api::{
    self, ClusterResource, DecodeError, GuestEntry, NodeEntry, PciDevice, StorageEntry, VmConfig,
};
use super::settings::{ProxmoxSettings, TrustMode};
use super::tls;
use crate::setting::Secret;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Answers larger than this are refused (a 1,000-VM cluster's resource list is ~0.5 MiB).
const MAX_BODY_BYTES: usize = 64 << 20;

/// An authenticated client for one cluster. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct ProxmoxClient {
    http: reqwest::Client,
    /// `https://host:8006/api2/json`.
    base: Arc<str>,
    /// `PVEAPIToken=…`, marked sensitive so it is never printed.
    auth: HeaderValue,
    token_id: Arc<str>,
    timeout_seconds: u64,
}

impl std::fmt::Debug for ProxmoxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmoxClient")
            .field("base", &self.base)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

impl ProxmoxClient {
    /// Validates `settings`, loads the trust configuration and builds the client.
    pub fn new(settings: &ProxmoxSettings, secret: &Secret) -> Result<ProxmoxClient, ProxmoxError> {
        settings.validate()?;
        let base = settings.api_base()?;
        let mode = settings.trust_mode()?;
        if secret.expose().trim().is_empty() {
            return Err(ProxmoxError::NoToken);
        }
        let mut auth = HeaderValue::from_str(&format!(
            "PVEAPIToken={}={}",
            settings.token_id,
            secret.expose().trim()
        ))
        .map_err(|_| ProxmoxError::Settings {
            key: "proxmox token",
            message: "the secret contains characters an HTTP header cannot carry; expected the \
                      token's UUID"
                .into(),
        })?;
        auth.set_sensitive(true);
        if mode == TrustMode::Insecure {
            tracing::warn!(
                url = %settings.url,
                "proxmox.verify_tls = false: the API's certificate is NOT verified; pin it with \
                 proxmox.fingerprint or proxmox.ca_file instead"
            );
        }
        if base.starts_with("http://") {
            tracing::warn!(url = %settings.url, "the Proxmox API is reached over plain HTTP: the token travels unencrypted");
        }
        let builder = reqwest::Client::builder()
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout())
            .user_agent(concat!("homelabd/", env!("CARGO_PKG_VERSION")));
        let builder = match tls::client_config(&mode)? {
            Some(config) => builder.tls_backend_preconfigured(config),
            None => {
                // The platform verifier needs a process-wide provider; an error only
                // means one is installed already.
                let _ = rustls::crypto::ring::default_provider().install_default();
                builder
            }
        };
        let http = builder
            .build()
            .map_err(|e| ProxmoxError::Client(error_chain(&e)))?;
        Ok(ProxmoxClient {
            http,
            base: base.into(),
            auth,
            token_id: settings.token_id.as_str().into(),
            timeout_seconds: settings.timeout_seconds,
        })
    }

    /// The API's base URL (`https://pve.home.arpa:8006/api2/json`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET <base><path>` and the decoded `data`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ProxmoxError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                ProxmoxError::Timeout {
                    path: path.to_owned(),
                    seconds: self.timeout_seconds,
                }
            } else {
                ProxmoxError::Transport {
                    url: url.clone(),
                    message: error_chain(&e),
                }
            }
        };
        let mut response = self
            .http
            .get(&url)
            .query(query)
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ProxmoxError::Decode {
                    path: path.to_owned(),
                    source: DecodeError::TooLarge {
                        mib: MAX_BODY_BYTES >> 20,
                    },
                });
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(classify(status.as_u16(), &body, path, &url, &self.token_id));
        }
        api::decode_data(&body).map_err(|source| ProxmoxError::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// `GET /cluster/resources?type=<kind>` (`vm`, `node` or `storage`).
    pub async fn cluster_resources(
        &self,
        kind: &str,
    ) -> Result<Vec<ClusterResource>, ProxmoxError> {
        self.get("/cluster/resources", &[("type", kind)]).await
    }

    /// `GET /nodes`.
    pub async fn nodes(&self) -> Result<Vec<NodeEntry>, ProxmoxError> {
        self.get("/nodes", &[]).await
    }

    /// `GET /storage`.
    pub async fn storage(&self) -> Result<Vec<StorageEntry>, ProxmoxError> {
        self.get("/storage", &[]).await
    }

    /// `GET /nodes/{node}/qemu`.
    pub async fn qemu(&self, node: &str) -> Result<Vec<GuestEntry>, ProxmoxError> {
        self.get(&format!("/nodes/{}/qemu", segment(node)?), &[])
            .await
    }

    /// `GET /nodes/{node}/lxc`.
    pub async fn lxc(&self, node: &str) -> Result<Vec<GuestEntry>, ProxmoxError> {
        self.get(&format!("/nodes/{}/lxc", segment(node)?), &[])
            .await
    }

    /// `GET /nodes/{node}/hardware/pci`.
    pub async fn pci(&self, node: &str) -> Result<Vec<PciDevice>, ProxmoxError> {
        self.get(&format!("/nodes/{}/hardware/pci", segment(node)?), &[])
            .await
    }

    /// `GET /nodes/{node}/qemu/{vmid}/config` (pending changes applied, as Proxmox
    /// returns it by default: what the VM will run with).
    pub async fn qemu_config(&self, node: &str, vmid: u64) -> Result<VmConfig, ProxmoxError> {
        let path = format!("/nodes/{}/qemu/{vmid}/config", segment(node)?);
        let raw: Map<String, Value> = self.get(&path, &[]).await?;
        VmConfig::from_api(&raw).map_err(|source| ProxmoxError::Decode { path, source })
    }

    /// The same configuration, every key as Proxmox returns it (for adoption, which
    /// carries over more than drift compares).
    pub async fn qemu_config_raw(
        &self,
        node: &str,
        vmid: u64,
    ) -> Result<Map<String, Value>, ProxmoxError> {
        let path = format!("/nodes/{}/qemu/{vmid}/config", segment(node)?);
        self.get(&path, &[]).await
    }
}

/// A node name as a path segment: Proxmox node names are host names, so anything else
/// is refused rather than escaped.
fn segment(node: &str) -> Result<&str, ProxmoxError> {
    let ok = !node.is_empty()
        && !node.starts_with(['.', '-'])
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(node)
    } else {
        Err(ProxmoxError::Decode {
            path: "/nodes".into(),
            source: DecodeError::NodeName(node.to_owned()),
        })
    }
}

/// Maps an error answer. Proxmox puts the reason in the status line and, in JSON, in
/// `message` (plus `errors` per parameter); the body is `{"data": null, …}`.
pub fn classify(status: u16, body: &[u8], path: &str, url: &str, token_id: &str) -> ProxmoxError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no reason given")
                .to_owned()
        });
    if let Some(errors) = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_object)
        .filter(|e| !e.is_empty())
    {
        let details: Vec<String> = errors
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default().trim()))
            .collect();
        message = format!("{message} ({})", details.join("; "));
    }
    let path = path.to_owned();
    match status {
        401 => ProxmoxError::Unauthorized {
            url: url.to_owned(),
            token_id: token_id.to_owned(),
            message,
        },
        403 => ProxmoxError::Forbidden { path, message },
        595 => ProxmoxError::NodeUnreachable {
            node: path
                .strip_prefix("/nodes/")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or("?")
                .to_owned(),
            path,
            message,
        },
        _ => ProxmoxError::Api {
            path,
            status,
            message,
        },
    }
}

/// An error and its sources on one line (reqwest's own text omits the TLS reason).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, body: &str, path: &str) -> ProxmoxError {
        classify(
            status,
            body.as_bytes(),
            path,
            "https://pve:8006/api2/json/x",
            "homelabd@pve!observer",
        )
    }

    #[test]
    fn a_refused_token_names_the_token_and_the_url_but_not_the_secret() {
        let e = c(
            401,
            r#"{"data":null,"message":"authentication failure\n"}"#,
            "/cluster/resources",
        );
        let msg = e.to_string();
        assert!(matches!(e, ProxmoxError::Unauthorized { .. }));
        assert!(
            msg.contains("homelabd@pve!observer") && msg.contains("https://pve:8006"),
            "{msg}"
        );
        assert!(msg.contains("authentication failure"), "{msg}");
    }

    #[test]
    fn a_permission_error_keeps_the_acl_path_proxmox_names() {
        let e = c(
            403,
            r#"{"data":null,"message":"Permission check failed (/vms/104, VM.Audit)\n"}"#,
            "/nodes/pve-01/qemu/104/config",
        );
        let msg = e.to_string();
        assert!(
            msg.contains("/vms/104, VM.Audit") && msg.contains("/nodes/pve-01/qemu/104/config"),
            "{msg}"
        );
        assert!(msg.contains("PVEAuditor"), "says how to fix it: {msg}");
    }

    #[test]
    fn an_offline_node_is_its_own_error_naming_the_node() {
        let e = c(
            595,
            r#"{"data":null,"message":"no route to host"}"#,
            "/nodes/pve-03/qemu/120/config",
        );
        match &e {
            ProxmoxError::NodeUnreachable { node, .. } => assert_eq!(node, "pve-03"),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("pve-03") && e.to_string().contains("no route to host"));
    }

    #[test]
    fn server_errors_carry_the_message_and_parameter_errors() {
        let e = c(
            500,
            r#"{"data":null,"message":"Configuration file 'nodes/pve-01/qemu-server/999.conf' does not exist\n"}"#,
            "/nodes/pve-01/qemu/999/config",
        );
        assert!(
            e.to_string().contains("500") && e.to_string().contains("999.conf' does not exist")
        );
        let e = c(
            400,
            r#"{"data":null,"message":"Parameter verification failed.\n","errors":{"type":"value 'x' does not have a value in the enumeration 'vm, storage, node, sdn'\n"}}"#,
            "/cluster/resources",
        );
        assert!(e.to_string().contains("type: value 'x'"), "{e}");
        let e = c(502, "<html>bad gateway</html>", "/nodes");
        assert!(e.to_string().contains("Bad Gateway"), "{e}");
    }

    #[test]
    fn node_names_that_are_not_host_names_never_reach_a_url() {
        assert!(segment("pve-01").is_ok());
        assert!(segment("../access").is_err());
        assert!(segment("a/b").is_err());
        assert!(segment("..").is_err());
        assert!(segment("").is_err());
    }
}
