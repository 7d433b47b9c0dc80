//! Secrets: age-encrypted files under `secrets/` in the repository, referenced from
//! definitions as `{secret: NAME, key: KEY}` and delivered to tools only at apply time.
//!
//! The boundary: `refs` is pure (finding and checking references, the bindings a chart
//! declares, keyed digests) and is what `validate` and `render` use — they only ever see
//! names. `crypt` turns ciphertext into values and back (age, no IO). `identity` finds the
//! daemon's age identity (systemd credential, environment, config). `keyring` holds the
//! decrypted values of one revision and resolves a resource's bindings into the
//! environment of its tool. Plaintext leaves this module only as a [`SecretEnv`] handed
//! to `apply` (which scrubs it from captured output); render, store, MCP, previews and
//! logs never see a value.

mod crypt;
mod identity;
mod keyring;
pub mod refs;

pub use crypt::{
    Identities, Recipients, SecretMap, decrypt, encrypt, is_armored, parse_identities,
    parse_mapping, parse_recipients,
};
pub use identity::{IDENTITY_CREDENTIAL, IDENTITY_ENV, load_identity, locate_identity};
pub use keyring::{Keyring, Resolved, SecretEnv, secret_files, secret_names};
pub use refs::{Binding, SecretRef};
// Where secret files live is decided by the loader, which keeps them as ciphertext.
pub use crate::source::secret_files::{
    DIR, MAX_SECRET_FILE_BYTES, RECIPIENTS_FILE, is_secret_path,
};

/// The file a chart renders to say which environment variable carries which secret.
pub const BINDINGS_FILE: &str = "homelabd.secrets.json";

/// Why a secret could not be read, written or delivered. Messages name the secret and
/// key, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "no age identity to decrypt secrets: set the systemd credential `{IDENTITY_CREDENTIAL}`, \
         {IDENTITY_ENV} or [secrets] identity_file"
    )]
    NoIdentity,
    #[error("age identity {path}: {detail}")]
    Identity { path: String, detail: String },
    #[error("secret {name}: no file secrets/{name}.age in this revision")]
    NotFound { name: String },
    #[error(
        "secret {name}: secrets/{name}.age is not encrypted to this daemon's identity \
         (re-encrypt it with `homelabd secret rekey` after adding the recipient)"
    )]
    NotARecipient { name: String },
    #[error("secret {name}: secrets/{name}.age cannot be decrypted: {detail}")]
    Corrupt { name: String, detail: String },
    #[error("secret {name}: secrets/{name}.age {detail}")]
    BadContent { name: String, detail: String },
    #[error("secret {name} has no key {key:?} (keys: {known})")]
    KeyMissing {
        name: String,
        key: String,
        known: String,
    },
    #[error("recipients: {0}")]
    Recipients(String),
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
}

/// The secret name of a snapshot path: `secrets/nextcloud.age` → `nextcloud`,
/// `secrets/apps/db.age` → `apps/db`; `None` for anything else.
pub fn name_of_path(path: &str) -> Option<&str> {
    let name = path.strip_prefix(DIR)?.strip_suffix(".age")?;
    refs::valid_name(name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_paths_under_secrets_without_age() {
        assert_eq!(name_of_path("secrets/nextcloud.age"), Some("nextcloud"));
        assert_eq!(name_of_path("secrets/apps/db.age"), Some("apps/db"));
        assert_eq!(name_of_path("secrets/nextcloud.yaml"), None);
        assert_eq!(name_of_path("other/x.age"), None);
        assert!(is_secret_path("secrets/.recipients"));
        assert!(is_secret_path("secrets/a/b.age"));
        assert!(!is_secret_path("secrets/notes.txt"));
    }
}
