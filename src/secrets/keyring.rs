//! The decrypted secrets of one revision, opened on demand and cached by ciphertext, and
//! the one hand-over of plaintext: a resource's bindings resolved into a [`SecretEnv`].

use super::refs::{Binding, SecretRef, digest};
use super::{Identities, SecretError, SecretMap, decrypt, name_of_path};
use crate::source::Snapshot;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Environment variables whose values are secrets, for one tool run. `Debug` shows the
/// names only; the values are wiped from memory when dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretEnv(BTreeMap<String, Zeroizing<String>>);

impl SecretEnv {
    /// Adds one variable.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), Zeroizing::new(value.into()));
    }

    /// Name and value of every variable (for the process environment).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// No variables.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// What a resource's bindings resolved to: the variables for its tool, and the keyed
/// digest of each value (for the apply decision; never the value).
#[derive(Debug, Default)]
pub struct Resolved {
    pub env: SecretEnv,
    pub digests: BTreeMap<SecretRef, String>,
}

/// The secret files of a revision and the identity to open them.
pub struct Keyring {
    identities: Option<Arc<Identities>>,
    /// Why there is no identity, when one was configured but could not be read.
    identity_error: Option<SecretError>,
    files: BTreeMap<String, Vec<u8>>,
    opened: BTreeMap<String, Result<Arc<SecretMap>, SecretError>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("identities", &self.identities)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The names of the secret files in `snapshot`.
pub fn secret_names(snapshot: &Snapshot) -> BTreeSet<String> {
    secret_files(snapshot).into_keys().collect()
}

/// The secret files of `snapshot` (ciphertext) by name.
pub fn secret_files(snapshot: &Snapshot) -> BTreeMap<String, Vec<u8>> {
    snapshot
        .files
        .iter()
        .filter_map(|f| name_of_path(&f.path).map(|n| (n.to_owned(), f.content.clone())))
        .collect()
}

impl Keyring {
    /// A keyring with `identities` (or the error loading them) and no files yet.
    pub fn new(identities: Result<Option<Identities>, SecretError>) -> Keyring {
        let (identities, identity_error) = match identities {
            Ok(ids) => (ids.map(Arc::new), None),
            Err(e) => (None, Some(e)),
        };
        Keyring {
            identities,
            identity_error,
            files: BTreeMap::new(),
            opened: BTreeMap::new(),
        }
    }

    /// Is an identity loaded?
    pub fn has_identity(&self) -> bool {
        self.identities.is_some()
    }

    /// Why secrets cannot be opened at all, if that is so.
    pub fn identity_problem(&self) -> Option<SecretError> {
        match (&self.identities, &self.identity_error) {
            (Some(_), _) => None,
            (None, Some(e)) => Some(e.clone()),
            (None, None) => Some(SecretError::NoIdentity),
        }
    }

    /// Takes the secret files of `snapshot`; a file whose bytes changed is opened again.
    pub fn load(&mut self, snapshot: &Snapshot) {
        self.load_files(&secret_files(snapshot));
    }

    /// Takes these secret files (name → ciphertext); a changed file is opened again.
    pub fn load_files(&mut self, files: &BTreeMap<String, Vec<u8>>) {
        self.opened
            .retain(|name, _| files.get(name) == self.files.get(name));
        self.files = files.clone();
    }

    /// No secret files at all (the common case: nothing to resolve).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The names of the loaded files.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The decrypted mapping of secret `name`.
    pub fn open(&mut self, name: &str) -> Result<Arc<SecretMap>, SecretError> {
        if let Some(done) = self.opened.get(name) {
            return done.clone();
        }
        let result = match (self.files.get(name), &self.identities) {
            (None, _) => Err(SecretError::NotFound {
                name: name.to_owned(),
            }),
            (Some(_), None) => Err(self.identity_problem().unwrap_or(SecretError::NoIdentity)),
            (Some(bytes), Some(ids)) => decrypt(name, bytes, ids).map(Arc::new),
        };
        self.opened.insert(name.to_owned(), result.clone());
        result
    }

    /// The keys of secret `name` (never the values).
    pub fn keys(&mut self, name: &str) -> Result<Vec<String>, SecretError> {
        Ok(self.open(name)?.keys().cloned().collect())
    }

    /// Checks that `r` names an existing key.
    pub fn check(&mut self, r: &SecretRef) -> Result<(), SecretError> {
        let map = self.open(&r.secret)?;
        if map.contains_key(&r.key) {
            Ok(())
        } else {
            Err(SecretError::KeyMissing {
                name: r.secret.clone(),
                key: r.key.clone(),
                known: map.keys().cloned().collect::<Vec<_>>().join(", "),
            })
        }
    }

    /// Resolves a resource's bindings: its tool's environment and the digests of the
    /// values. The first problem (no identity, file missing or unreadable, key missing)
    /// is the error.
    pub fn resolve(&mut self, bindings: &[Binding]) -> Result<Resolved, SecretError> {
        let mut out = Resolved::default();
        if bindings.is_empty() {
            return Ok(out);
        }
        let key = *self
            .identities
            .as_ref()
            .ok_or_else(|| self.identity_problem().unwrap_or(SecretError::NoIdentity))?
            .digest_key();
        for b in bindings {
            let r = b.reference();
            self.check(&r)?;
            let map = self.open(&b.secret)?;
            let Some(value) = map.get(&b.key) else {
                continue; // checked just above
            };
            out.digests.insert(r.clone(), digest(&key, &r, value));
            out.env.insert(b.env.clone(), value.as_str());
        }
        Ok(out)
    }
}
