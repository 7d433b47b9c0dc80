//! `[executors]` in `config.toml`: timeouts, tool paths and targets per provider.

use serde::Deserialize;
use std::path::PathBuf;

/// How executors run; every field has a default that works on a plain host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorSettings {
    /// Seconds one tool invocation may run before its process group is killed.
    pub timeout_seconds: u64,
    pub docker: DockerSettings,
    pub terraform: TerraformSettings,
    pub ansible: AnsibleSettings,
    pub kubernetes: KubernetesSettings,
    pub aws: AwsSettings,
    pub azure: AzureSettings,
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        ExecutorSettings {
            timeout_seconds: 1800,
            docker: DockerSettings::default(),
            terraform: TerraformSettings::default(),
            ansible: AnsibleSettings::default(),
            kubernetes: KubernetesSettings::default(),
            aws: AwsSettings::default(),
            azure: AzureSettings::default(),
        }
    }
}

/// `[executors.docker]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSettings {
    /// The compose command as an argument vector (`["docker", "compose"]` or
    /// `["docker-compose"]`); detected when unset (the plugin first).
    pub compose_command: Option<Vec<String>>,
    /// `docker` binary used by the observer.
    pub docker_binary: Option<String>,
}

/// `[executors.terraform]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerraformSettings {
    pub binary: Option<String>,
    /// `TF_PLUGIN_CACHE_DIR` for every run (hosts are often offline).
    pub plugin_cache_dir: Option<PathBuf>,
    /// A filesystem mirror passed as `-plugin-dir` to `terraform init`.
    pub plugin_mirror_dir: Option<PathBuf>,
}

/// `[executors.ansible]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnsibleSettings {
    /// `ansible-playbook` binary.
    pub binary: Option<String>,
}

/// `[executors.kubernetes]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSettings {
    pub binary: Option<String>,
    /// kubeconfig context; without one the Kubernetes executor is off. A resource's
    /// pool or node `context` wins over it.
    pub context: Option<String>,
}

/// `[executors.aws]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSettings {
    pub binary: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

/// `[executors.azure]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureSettings {
    pub binary: Option<String>,
    /// Resource group every deployment goes to; without one Azure is unavailable.
    pub resource_group: Option<String>,
}
