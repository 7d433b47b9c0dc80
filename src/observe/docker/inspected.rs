//! What `docker inspect` says of a container — the parts compared, health-checked and
//! turned into endpoints — and Docker's own health signal for a resource's containers.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The compose project a container belongs to.
pub(super) const PROJECT_LABEL: &str = "com.docker.compose.project";
/// The compose service a container belongs to.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// The parts of `docker inspect` output compared here.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Inspected {
    /// The full container id.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub state: InspectedState,
    #[serde(default)]
    pub config: InspectedConfig,
    #[serde(default)]
    pub host_config: InspectedHost,
    #[serde(default)]
    pub network_settings: InspectedNetwork,
}

/// Where the engine really published the container's ports.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedNetwork {
    /// `container_port/proto` → the host bindings (`null` for a port only exposed).
    #[serde(default)]
    pub ports: Option<BTreeMap<String, Option<Vec<HostBinding>>>>,
}

/// One host address and port a container port is published on.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct HostBinding {
    #[serde(default)]
    pub host_ip: String,
    #[serde(default)]
    pub host_port: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedState {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub exit_code: i64,
    #[serde(default)]
    pub restarting: bool,
    /// The image's or compose file's HEALTHCHECK, when there is one.
    #[serde(default)]
    pub health: Option<InspectedHealth>,
}

/// `State.Health` of `docker inspect`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedHealth {
    /// `starting`, `healthy` or `unhealthy`.
    #[serde(default)]
    pub status: String,
}

/// Docker's own health signal for one resource's containers: every one running (not
/// restarting) and, where it has a HEALTHCHECK, `healthy`.
pub fn container_health(containers: &[&Inspected]) -> crate::reconcile::health::Attempt {
    use crate::reconcile::health::Attempt;
    if containers.is_empty() {
        return Attempt {
            passed: false,
            detail: "no container".to_owned(),
        };
    }
    let mut problems = Vec::new();
    for c in containers {
        let name = c.display_name();
        let st = &c.state;
        if st.restarting || !st.running {
            problems.push(format!(
                "{name} is {} (exit code {})",
                st.status, st.exit_code
            ));
        } else if let Some(h) = &st.health
            && h.status != "healthy"
        {
            problems.push(format!("{name}: HEALTHCHECK says {}", h.status));
        }
    }
    if problems.is_empty() {
        Attempt {
            passed: true,
            detail: format!("{} container(s) running", containers.len()),
        }
    } else {
        Attempt {
            passed: false,
            detail: problems.join("; "),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedConfig {
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct InspectedHost {
    #[serde(default)]
    pub memory: i64,
    #[serde(default)]
    pub nano_cpus: i64,
    #[serde(default)]
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PortBinding {
    #[serde(default)]
    pub host_port: String,
}

impl Inspected {
    pub(super) fn label(&self, key: &str) -> Option<&str> {
        self.config.labels.as_ref()?.get(key).map(String::as_str)
    }

    pub(super) fn display_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}
