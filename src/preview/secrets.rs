//! Secret files a pull request adds, changes or removes (pure). A preview never decrypts:
//! it names the file and the resources whose tools receive its values, so a reviewer knows
//! that merging re-applies them, without any value being shown.

use crate::pipeline::Outcome;
use crate::secrets::{BINDINGS_FILE, Binding, name_of_path};
use serde::Serialize;
use std::collections::BTreeSet;

/// One secret file that differs between base and head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretChange {
    /// The secret's name (`secrets/<name>.age`).
    pub secret: String,
    /// `added`, `changed` or `removed`.
    pub change: &'static str,
    /// Resources whose chart binds a key of it, on either side, sorted.
    pub used_by: Vec<String>,
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
        format!(
            "Secret {} {} (secrets/{}.age): {users}. Values are never shown.",
            self.secret, self.change, self.secret
        )
    }
}

/// The secret files among `changed` (paths that differ), with `on_base` / `on_head`
/// telling which side has each, and the resources of either outcome that use them.
pub fn changes(
    changed: &BTreeSet<String>,
    on_base: &BTreeSet<String>,
    on_head: &BTreeSet<String>,
    before: &Outcome,
    after: &Outcome,
) -> Vec<SecretChange> {
    changed
        .iter()
        .filter_map(|path| {
            let secret = name_of_path(path)?;
            let change = match (on_base.contains(path), on_head.contains(path)) {
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
            })
        })
        .collect()
}

/// Resources of `outcome` whose rendered bindings name `secret`.
fn users<'a>(outcome: &'a Outcome, secret: &'a str) -> impl Iterator<Item = String> + 'a {
    outcome.rendered.iter().filter_map(move |(name, r)| {
        let file = r.files.get(BINDINGS_FILE)?;
        let bindings: Vec<Binding> = serde_json::from_slice(file.as_ref()).ok()?;
        bindings
            .iter()
            .any(|b| b.secret == secret)
            .then(|| name.clone())
    })
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
        };
        assert_eq!(
            c.note(),
            "Secret nextcloud changed (secrets/nextcloud.age): nextcloud, uptime-kuma will be \
             applied again with the new value. Values are never shown."
        );
    }
}
