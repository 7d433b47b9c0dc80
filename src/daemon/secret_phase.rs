//! Secrets in the apply phase: which resources use which secrets (the bindings their
//! chart rendered), whether their values changed since the last apply (keyed digests,
//! never values) and, for a resource about to be applied, the environment its tool gets.

use super::run::Reconciler;
use crate::reconcile::{ResourceState, SecretState};
use crate::secrets::refs::{applied_marker, changed_refs};
use crate::secrets::{BINDINGS_FILE, Binding, SecretEnv, SecretError};
use std::collections::BTreeMap;
use std::path::Path;
use tracing::{info, warn};

/// The age identity with the newest revision's secret files, and each resource's secret
/// bindings with the output hash they were read for.
pub(super) struct SecretCache {
    pub(super) keyring: crate::secrets::Keyring,
    pub(super) bindings: BTreeMap<String, (String, Vec<Binding>)>,
}

impl SecretCache {
    /// Loads the age identity (none: resources that use secrets wait).
    pub(super) fn load(identity_file: Option<&Path>) -> SecretCache {
        let identity = crate::secrets::load_identity(identity_file);
        match &identity {
            Ok(Some(ids)) => info!(identities = ?ids, "age identity loaded for secrets"),
            Ok(None) => info!("no age identity: resources that use secrets will wait"),
            Err(e) => {
                warn!(error = %e, "cannot load the age identity; resources that use secrets will wait")
            }
        }
        SecretCache {
            keyring: crate::secrets::Keyring::new(identity),
            bindings: BTreeMap::new(),
        }
    }
}

impl Reconciler {
    /// Per resource that uses secrets: what it would be applied with, or why its secrets
    /// cannot be read (the reason it waits). Resources without secrets are absent.
    pub(super) fn secret_states(&mut self) -> BTreeMap<String, Result<SecretState, SecretError>> {
        let mut out = BTreeMap::new();
        if self.secrets.keyring.is_empty() {
            self.secrets.bindings.clear();
            return out;
        }
        let rendered = self.settings.rendered_dir();
        for record in self.stored.values() {
            if matches!(
                record.state,
                ResourceState::Invalid | ResourceState::Orphaned
            ) {
                continue;
            }
            let (Some(output), Some(provider)) = (&record.output_hash, &record.provider) else {
                continue;
            };
            let bindings = match self.secrets.bindings.get(&record.name) {
                Some((hash, b)) if hash == output => b.clone(),
                _ => {
                    let b = read_bindings(&rendered.join(provider.as_str()).join(&record.name));
                    self.secrets
                        .bindings
                        .insert(record.name.clone(), (output.clone(), b.clone()));
                    b
                }
            };
            if bindings.is_empty() {
                continue;
            }
            let found = match self.secrets.keyring.resolve(&bindings) {
                Ok(resolved) => Ok(SecretState {
                    marker: applied_marker(output, &resolved.digests),
                    changed: record
                        .applied_hash
                        .as_deref()
                        .map(|a| changed_refs(a, &resolved.digests))
                        .unwrap_or_default(),
                }),
                Err(e) => Err(e),
            };
            out.insert(record.name.clone(), found);
        }
        self.secrets
            .bindings
            .retain(|name, _| self.stored.contains_key(name));
        out
    }

    /// The environment of `resource`'s tool: its secret values, resolved now.
    pub(super) fn secret_env(&mut self, resource: &str) -> Result<SecretEnv, SecretError> {
        let Some((_, bindings)) = self.secrets.bindings.get(resource) else {
            return Ok(SecretEnv::default());
        };
        let bindings = bindings.clone();
        self.secrets.keyring.resolve(&bindings).map(|r| r.env)
    }
}

/// The bindings a chart rendered into `dir` (none when there is no bindings file).
fn read_bindings(dir: &Path) -> Vec<Binding> {
    let path = dir.join(BINDINGS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            warn!(file = %path.display(), error = %e, "unreadable secret bindings");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}
