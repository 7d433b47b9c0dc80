//! Secret files a pull request adds, changes or removes (pure): the file, the resources
//! whose tools receive its values, and — when the previewer holds an identity — which keys
//! changed, found by comparing the decrypted values in memory. No value is ever shown.

use crate::pipeline::Outcome;
use crate::secrets::{Identities, SecretMap, decrypt, name_of_path};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Secret files by name (`secrets/<name>.age` → ciphertext), as `secrets::secret_files` reads them.
type SecretFiles = BTreeMap<String, Vec<u8>>;

/// One secret file that differs between base and head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretChange {
    /// The secret's name (`secrets/<name>.age`).
    pub secret: String,
    /// `added`, `changed` or `removed`.
    pub change: &'static str,
    /// Resources whose chart binds a key of it, on either side, sorted.
    pub used_by: Vec<String>,
    /// The keys whose values differ (added, changed or removed), when both sides could be
    /// decrypted; empty otherwise.
    pub keys: Vec<String>,
}

impl SecretChange {
    /// The sentence a preview shows.
    pub fn note(&self) -> String {
        let users = match (self.used_by.is_empty(), self.change) {
            (true, _) => "no resource uses it".to_owned(),
            (false, "removed") => format!("still used by {}", self.used_by.join(", ")),
            (false, _) => format!(
                "{} will be applied again with the new value",
                self.used_by.join(", ")
            ),
        };
        let what = if self.keys.is_empty() {
            format!("Secret {}", self.secret)
        } else {
            let keys: Vec<String> = self
                .keys
                .iter()
                .map(|k| format!("{}/{k}", self.secret))
                .collect();
            format!("Secret {}", keys.join(", "))
        };
        format!(
            "{what} {} (secrets/{}.age): {users}. Values are never shown.",
            self.change, self.secret
        )
    }
}

/// The secret files among `changed` (paths that differ), with `on_base` / `on_head` (the
/// secret files of each side, by name) telling which side has each, and the resources of
/// either outcome that use them.
pub fn changes(
    changed: &BTreeSet<String>,
    on_base: &SecretFiles,
    on_head: &SecretFiles,
    before: &Outcome,
    after: &Outcome,
) -> Vec<SecretChange> {
    changed
        .iter()
        .filter_map(|path| {
            let secret = name_of_path(path)?;
            let change = match (on_base.contains_key(secret), on_head.contains_key(secret)) {
                (false, true) => "added",
                (true, false) => "removed",
                _ => "changed",
            };
            let used_by: BTreeSet<String> =
                users(before, secret).chain(users(after, secret)).collect();
            Some(SecretChange {
                secret: secret.to_owned(),
                change,
                used_by: used_by.into_iter().collect(),
                keys: Vec::new(),
            })
        })
        .collect()
}

/// Fills in [`SecretChange::keys`] of `changes` by decrypting each file's base and head
/// ciphertext (absent on a side: no keys there) with `ids`. A side that cannot be
/// decrypted leaves the keys unknown (empty): the file-level note still stands.
pub fn name_changed_keys(
    changes: &mut [SecretChange],
    base: &SecretFiles,
    head: &SecretFiles,
    ids: &Identities,
) {
    let open = |name: &str, files: &SecretFiles| -> Option<SecretMap> {
        match files.get(name) {
            None => Some(SecretMap::new()),
            Some(bytes) => decrypt(name, bytes, ids).ok(),
        }
    };
    for change in changes {
        let name = change.secret.as_str();
        if let (Some(base), Some(head)) = (open(name, base), open(name, head)) {
            change.keys = changed_keys(&base, &head);
        }
    }
}

/// Keys whose values differ between two decrypted files (added, removed or changed).
pub fn changed_keys(base: &SecretMap, head: &SecretMap) -> Vec<String> {
    let keys: BTreeSet<&String> = base.keys().chain(head.keys()).collect();
    keys.into_iter()
        .filter(|k| base.get(*k) != head.get(*k))
        .cloned()
        .collect()
}

/// Resources of `outcome` whose rendered bindings name `secret`.
fn users<'a>(outcome: &'a Outcome, secret: &'a str) -> impl Iterator<Item = String> + 'a {
    outcome
        .rendered
        .iter()
        .filter(move |(_, r)| r.secret_bindings().iter().any(|b| b.secret == secret))
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_names_the_file_and_its_users_never_a_value() {
        let c = SecretChange {
            secret: "nextcloud".into(),
            change: "changed",
            used_by: vec!["nextcloud".into(), "uptime-kuma".into()],
            keys: Vec::new(),
        };
        assert_eq!(
            c.note(),
            "Secret nextcloud changed (secrets/nextcloud.age): nextcloud, uptime-kuma will be \
             applied again with the new value. Values are never shown."
        );
        let keyed = SecretChange {
            keys: vec!["admin_password".into()],
            ..c
        };
        assert!(
            keyed
                .note()
                .starts_with("Secret nextcloud/admin_password changed")
        );
    }

    #[test]
    fn changed_keys_are_those_whose_values_differ() {
        let map = |pairs: &[(&str, &str)]| -> SecretMap {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), zeroize::Zeroizing::new((*v).to_owned())))
                .collect()
        };
        let base = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let head = map(&[("a", "1"), ("b", "20"), ("d", "4")]);
        assert_eq!(changed_keys(&base, &head), ["b", "c", "d"]);
    }
}
