//! Built-in charts, Terraform modules and Ansible roles, embedded at build time.

use std::collections::BTreeMap;
use std::sync::Arc;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// One embedded file of a bundle, with its sha256 computed once at start-up.
#[derive(Debug, Clone)]
pub struct AssetFile {
    pub path: String,
    pub bytes: &'static [u8],
    pub digest: [u8; 32],
}

/// One Terraform module or Ansible role: its files and the name of its shared directory.
#[derive(Debug)]
pub struct Bundle {
    /// The module's or role's name (`proxmox-vm`, `base-system`).
    pub name: String,
    /// `<name>@<first 16 hex digits of the content hash>`: the directory under
    /// [`super::write::SHARED_DIR`] that holds this content, once for every resource.
    pub entry: String,
    pub files: Vec<AssetFile>,
}

/// Bundles by name, shared between every resource that vendors them.
pub type Bundles = BTreeMap<String, Arc<Bundle>>;

fn group(files: &'static [(&'static str, &'static [u8])]) -> Bundles {
    let mut grouped: BTreeMap<String, Vec<AssetFile>> = BTreeMap::new();
    for (path, bytes) in files {
        if let Some((first, rest)) = path.split_once('/') {
            grouped
                .entry(first.to_owned())
                .or_default()
                .push(AssetFile {
                    path: rest.to_owned(),
                    bytes,
                    digest: super::hash::digest(bytes),
                });
        }
    }
    grouped
        .into_iter()
        .map(|(name, files)| {
            let hash = super::hash::files(files.iter().map(|f| (f.path.as_str(), f.bytes)));
            let hex = hash.trim_start_matches("sha256:");
            let entry = format!("{name}@{}", &hex[..16.min(hex.len())]);
            (name.clone(), Arc::new(Bundle { name, entry, files }))
        })
        .collect()
}

/// Built-in chart files as `(path under charts/, content)`.
pub fn builtin_chart_files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    embedded::CHARTS.iter().copied()
}

/// The vendored Terraform modules and Ansible roles, and a fingerprint of all of them.
#[derive(Debug, Clone)]
pub struct Assets {
    pub modules: Bundles,
    pub roles: Bundles,
    /// sha256 over every asset file; part of each resource's input hash.
    pub fingerprint: String,
}

impl Assets {
    /// The assets compiled into this binary.
    pub fn builtin() -> Assets {
        let fingerprint = super::hash::files(
            embedded::TERRAFORM_MODULES
                .iter()
                .chain(embedded::ANSIBLE_ROLES.iter())
                .map(|(p, b)| (*p, *b)),
        );
        Assets {
            modules: group(embedded::TERRAFORM_MODULES),
            roles: group(embedded::ANSIBLE_ROLES),
            fingerprint,
        }
    }

    /// Names of the available Ansible roles.
    pub fn role_names(&self) -> std::collections::BTreeSet<String> {
        self.roles.keys().cloned().collect()
    }
}
