//! Built-in charts, Terraform modules and Ansible roles, embedded at build time.

use std::collections::BTreeMap;

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

/// Files grouped by their first path component: `{"proxmox-vm": [main.tf, …]}`.
pub type Bundles = BTreeMap<String, Vec<AssetFile>>;

fn group(files: &'static [(&'static str, &'static [u8])]) -> Bundles {
    let mut out: Bundles = BTreeMap::new();
    for (path, bytes) in files {
        if let Some((first, rest)) = path.split_once('/') {
            out.entry(first.to_owned()).or_default().push(AssetFile {
                path: rest.to_owned(),
                bytes,
                digest: super::hash::digest(bytes),
            });
        }
    }
    out
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
