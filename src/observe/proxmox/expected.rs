//! The expected state of a rendered Proxmox resource: `homelabd.expected.json`, written
//! by the `proxmox-compute` chart beside `main.tf` from the same values.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file the chart renders into each resource's directory.
pub const EXPECTED_FILE: &str = "homelabd.expected.json";

/// The format version this observer reads.
pub const FORMAT: u32 = 1;

/// What one resource asks Proxmox for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedState {
    pub format: u32,
    pub resource: String,
    pub provider: String,
    pub vms: Vec<ExpectedVm>,
}

/// One VM (one replica) as `main.tf` defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedVm {
    pub name: String,
    pub node_name: String,
    /// Set when the chart pins VMIDs (`vmid_base`); otherwise Proxmox picks one and the
    /// VM is found by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<u64>,
    pub cores: u64,
    pub memory_mb: u64,
    pub disk_size_gb: u64,
    /// As Proxmox stores them: sanitised, lower case, sorted.
    pub tags: Vec<String>,
    pub on_boot: bool,
    /// Terraform keeps the VM running.
    pub started: bool,
    /// Raw PCI addresses passed through (`0000:01:00.0`).
    #[serde(default)]
    pub gpu_pci_ids: Vec<String>,
    /// A cluster resource mapping passed through instead of raw addresses.
    #[serde(default)]
    pub gpu_mapping: Option<String>,
    /// The VM existed before homelabd and is imported by the first apply (the chart's
    /// `adopt` value); `vm_id` is then its VMID.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
    /// Of `tags`, those homelabd adds itself (`homelabd`, `backup`, the dimensions) rather
    /// than the VM's own: an adopted VM gets them at its first apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_tags: Vec<String>,
}

/// Why an expected-state file cannot be used; `origin` names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    #[error("{origin}: not a homelabd expected-state file ({source})")]
    NotExpectedState {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{origin}: format {found} is not the supported {FORMAT}; re-render with this homelabd")]
    Format { origin: String, found: u32 },
    #[error("{origin}: describes a {provider} resource, not a proxmox one")]
    OtherProvider { origin: String, provider: String },
    #[error(
        "{origin} does not exist: the resource was rendered by a chart without an expected \
         state (a repository chart shadowing proxmox-compute must render one; see docs/charts.md)"
    )]
    Missing { origin: String },
    #[error("{origin}: {source}")]
    Read {
        origin: String,
        #[source]
        source: std::io::Error,
    },
}

/// Parses the file's content; `origin` names it in errors.
pub fn parse(bytes: &[u8], origin: &str) -> Result<ExpectedState, ExpectedError> {
    let state: ExpectedState =
        serde_json::from_slice(bytes).map_err(|source| ExpectedError::NotExpectedState {
            origin: origin.to_owned(),
            source,
        })?;
    if state.format != FORMAT {
        return Err(ExpectedError::Format {
            origin: origin.to_owned(),
            found: state.format,
        });
    }
    if state.provider != "proxmox" {
        return Err(ExpectedError::OtherProvider {
            origin: origin.to_owned(),
            provider: state.provider,
        });
    }
    Ok(state)
}

/// Reads `<dir>/homelabd.expected.json`.
pub fn load(dir: &Path) -> Result<ExpectedState, ExpectedError> {
    let path = dir.join(EXPECTED_FILE);
    let origin = path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => parse(&bytes, &origin),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ExpectedError::Missing { origin })
        }
        Err(source) => Err(ExpectedError::Read { origin, source }),
    }
}

/// Does the render in `dir` adopt an existing VM? Such a resource is observed from its
/// render on, before its first apply: the VM it describes already runs.
pub fn adopts(dir: &Path) -> bool {
    load(dir).is_ok_and(|s| s.vms.iter().any(|v| v.adopted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "format": 1, "provider": "proxmox", "resource": "web",
      "vms": [{"name": "web", "node_name": "pve-01", "cores": 2, "memory_mb": 2048,
               "disk_size_gb": 20, "tags": ["homelabd"], "on_boot": true, "started": true,
               "gpu_pci_ids": [], "gpu_mapping": null, "vm_id": 300}]
    }"#;

    #[test]
    fn a_rendered_file_parses() {
        let s = parse(SAMPLE.as_bytes(), "x").unwrap();
        assert_eq!(s.vms[0].vm_id, Some(300));
        assert_eq!(s.vms[0].memory_mb, 2048);
    }

    #[test]
    fn other_formats_and_providers_are_refused_with_the_file_named() {
        let newer = SAMPLE.replace("\"format\": 1", "\"format\": 2");
        let err = parse(newer.as_bytes(), "dir/homelabd.expected.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("dir/homelabd.expected.json: format 2"),
            "{err}"
        );
        let docker = SAMPLE.replace("\"proxmox\"", "\"docker\"");
        assert!(
            parse(docker.as_bytes(), "x")
                .unwrap_err()
                .to_string()
                .contains("docker resource")
        );
        let err = parse(b"{}", "x").unwrap_err().to_string();
        assert!(err.contains("not a homelabd expected-state file"), "{err}");
    }

    #[test]
    fn a_missing_file_says_what_renders_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("does not exist") && err.contains("docs/charts.md"),
            "{err}"
        );
    }
}
