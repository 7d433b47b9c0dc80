//! References to secrets (pure): a definition says `{secret: NAME, key: KEY}` where a
//! string would go; a chart that can deliver it renders a bindings file
//! ([`super::BINDINGS_FILE`]) naming the environment variable that carries each one at
//! apply time. Also the keyed digests that let the loop notice a rotated value without
//! ever storing it.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;

/// `{secret: NAME, key: KEY}`: one value of one secret file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SecretRef {
    pub secret: String,
    pub key: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.secret, self.key)
    }
}

/// One delivery a chart declares: environment variable `env` of the tool carries the
/// value of `secret`/`key`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub env: String,
    pub secret: String,
    pub key: String,
}

impl Binding {
    /// The reference this binding delivers.
    pub fn reference(&self) -> SecretRef {
        SecretRef {
            secret: self.secret.clone(),
            key: self.key.clone(),
        }
    }
}

/// A secret name: `/`-separated segments of letters, digits, `_`, `-` and `.`, none
/// starting with a dot (so `..` and hidden files cannot be named).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        })
}

/// A key inside a secret file: letters, digits, `_`, `-` and `.`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Variables a binding may not set: the tool's own environment (`PATH`, the Docker and
/// Kubernetes endpoints, the dynamic loader) must stay what the daemon gives it.
const RESERVED_ENV: [&str; 11] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "USER",
    "SHELL",
    "ENV",
    "BASH_ENV",
    "DOCKER_HOST",
    "KUBECONFIG",
];
/// Prefixes of variables that configure the tools homelabd runs or the credentials it
/// gives them. A chart (which a pull request can replace) and a secret file (which
/// anyone with the public recipients can write) together must not be able to turn a
/// tool against the host: `ANSIBLE_SSH_ARGS`, `TF_CLI_ARGS`, `LD_PRELOAD`,
/// `PYTHONSTARTUP` or `GIT_SSH_COMMAND` would each run a command of theirs.
const RESERVED_PREFIXES: [&str; 17] = [
    "LD_",
    "DOCKER_",
    "COMPOSE_",
    "HOMELABD_",
    "ANSIBLE_",
    "TF_",
    "KUBE",
    "PYTHON",
    "PERL",
    "RUBY",
    "NODE_",
    "GIT_",
    "SSH_",
    "AWS_",
    "AZURE_",
    "PROXMOX_",
    "VSPHERE_",
];
/// The one reserved prefix bindings may use: Terraform input variables.
const TERRAFORM_VARIABLE_PREFIX: &str = "TF_VAR_";

/// A variable name a binding may set (`[A-Za-z_][A-Za-z0-9_]*`, not reserved; `TF_VAR_*`
/// is allowed, being how Terraform receives input variables).
pub fn valid_env(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let upper = name.to_ascii_uppercase();
    let reserved = RESERVED_ENV.contains(&upper.as_str())
        || RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p));
    first_ok
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && (!reserved
            || (name.starts_with(TERRAFORM_VARIABLE_PREFIX)
                && name.len() > TERRAFORM_VARIABLE_PREFIX.len()))
}

/// Why a mapping with a `secret` key is not a well-formed reference; its text is the
/// message of `validate`'s `secret-reference` diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRef {
    #[error("`secret` must be a string naming secrets/<name>.age")]
    NotAString,
    #[error(
        "secret name {0:?} must be a path under secrets/ without `.age` \
         (letters, digits, `_`, `-`, `.`, segments separated by `/`)"
    )]
    BadName(String),
    #[error("a reference to secret {0} needs `key`: the key inside the file")]
    NoKey(String),
    #[error("key {key:?} of secret {secret} must be letters, digits, `_`, `-` or `.`")]
    BadKey { secret: String, key: String },
    #[error("a secret reference has only `secret` and `key`, not {0:?}")]
    ExtraKey(String),
}

/// Reads a value as a reference: `None` when it is not a mapping with a `secret` key,
/// `Some(Err(why))` when it has one but is not exactly `{secret: NAME, key: KEY}`.
pub fn parse_ref(value: &Value) -> Option<Result<SecretRef, BadRef>> {
    let map = value.as_object()?;
    let secret = map.get("secret")?;
    let Some(secret) = secret.as_str() else {
        return Some(Err(BadRef::NotAString));
    };
    if !valid_name(secret) {
        return Some(Err(BadRef::BadName(secret.to_owned())));
    }
    let Some(key) = map.get("key").and_then(Value::as_str) else {
        return Some(Err(BadRef::NoKey(secret.to_owned())));
    };
    if !valid_key(key) {
        return Some(Err(BadRef::BadKey {
            secret: secret.to_owned(),
            key: key.to_owned(),
        }));
    }
    if let Some(extra) = map.keys().find(|k| *k != "secret" && *k != "key") {
        return Some(Err(BadRef::ExtraKey(extra.clone())));
    }
    Some(Ok(SecretRef {
        secret: secret.to_owned(),
        key: key.to_owned(),
    }))
}

/// Every reference inside `value`, with its JSON pointer (starting at `base`), in
/// document order. Malformed references are returned as `Err(why)`.
pub fn find_refs(value: &Value, base: &str) -> Vec<(String, Result<SecretRef, BadRef>)> {
    let mut out = Vec::new();
    walk(value, base.to_owned(), 0, &mut out);
    out
}

fn walk(
    value: &Value,
    pointer: String,
    depth: usize,
    out: &mut Vec<(String, Result<SecretRef, BadRef>)>,
) {
    // serde_yaml already bounds nesting; this keeps a hostile JSON value from a test or
    // an MCP proposal from recursing without end.
    if depth > 64 {
        return;
    }
    if let Some(found) = parse_ref(value) {
        out.push((pointer, found));
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                walk(v, format!("{pointer}/{escaped}"), depth + 1, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, format!("{pointer}/{i}"), depth + 1, out);
            }
        }
        _ => {}
    }
}

/// Checks a chart's bindings file against the references in the resource's values:
/// every reference must be delivered, every binding must deliver a reference, and no
/// variable may be bound twice. Returns the bindings (empty when there are no
/// references and no file).
pub fn check_bindings(values: &Value, file: Option<&[u8]>) -> Result<Vec<Binding>, BindingError> {
    let refs: Vec<(String, SecretRef)> = find_refs(values, "")
        .into_iter()
        .filter_map(|(p, r)| r.ok().map(|r| (p, r)))
        .collect();
    let bindings: Vec<Binding> = match file {
        None => Vec::new(),
        Some(bytes) => serde_json::from_slice(bytes).map_err(BindingError::NotAList)?,
    };
    let mut seen = BTreeMap::new();
    for b in &bindings {
        if !valid_env(&b.env) {
            return Err(BindingError::BadVariable(b.clone()));
        }
        if seen.insert(b.env.clone(), b.reference()).is_some() {
            return Err(BindingError::BoundTwice(b.env.clone()));
        }
        if !refs.iter().any(|(_, r)| *r == b.reference()) {
            return Err(BindingError::NotReferenced(b.reference()));
        }
    }
    if let Some((pointer, r)) = refs
        .iter()
        .find(|(_, r)| !bindings.iter().any(|b| b.reference() == *r))
    {
        return Err(BindingError::NotDelivered {
            reference: r.clone(),
            pointer: pointer.clone(),
        });
    }
    Ok(bindings)
}

/// Why a chart's bindings cannot deliver a resource's secrets (the message of a
/// `secret-delivery` diagnostic).
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// The bindings file is not a list of `{env, secret, key}`.
    #[error("the chart's {file} is not a list of {{env, secret, key}}: {source}", file = super::BINDINGS_FILE, source = .0)]
    NotAList(#[source] serde_json::Error),
    /// The variable is no name a secret may be delivered as.
    #[error(
        "secret {}/{} cannot be delivered as environment variable {:?} (a name of letters, digits and `_`, not one the tool needs itself)",
        .0.secret, .0.key, .0.env
    )]
    BadVariable(Binding),
    /// Two bindings set the same variable.
    #[error("environment variable {0} is bound twice")]
    BoundTwice(String),
    /// The chart binds a secret the definition does not reference.
    #[error("the chart binds secret {0} that the definition does not reference")]
    NotReferenced(SecretRef),
    /// A reference in the values that no binding delivers.
    #[error(
        "secret reference {reference} at values{pointer} is not delivered by this chart (see docs/charts.md: a secret can go only where the chart passes it to the tool at apply time, e.g. env of docker-compose)"
    )]
    NotDelivered {
        reference: SecretRef,
        pointer: String,
    },
}

/// The HMAC key for digests, derived from the identity (so every daemon holding the same
/// identity computes the same digests, and nobody without it can test guesses).
pub fn digest_key(identity: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"homelabd secret digest v1")
        .expect("HMAC takes any key length");
    mac.update(identity);
    mac.finalize().into_bytes().into()
}

/// The keyed digest of one value (16 hex digits): enough to notice a change, useless for
/// recovering or guessing the value without the key.
pub fn digest(key: &[u8; 32], r: &SecretRef, value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(r.secret.as_bytes());
    mac.update(b"\0");
    mac.update(r.key.as_bytes());
    mac.update(b"\0");
    mac.update(value.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

/// Separates the output hash from the secret digests in an applied marker.
const MARKER: &str = "+secrets:";

/// What the loop records as applied for a resource: its output hash, followed (when it
/// uses secrets) by the digest of each value it was applied with.
pub fn applied_marker(output_hash: &str, digests: &BTreeMap<SecretRef, String>) -> String {
    if digests.is_empty() {
        return output_hash.to_owned();
    }
    let parts: Vec<String> = digests.iter().map(|(r, d)| format!("{r}={d}")).collect();
    format!("{output_hash}{MARKER}{}", parts.join(","))
}

/// The output hash part of an applied marker.
pub fn marker_output(marker: &str) -> &str {
    marker.split_once(MARKER).map_or(marker, |(o, _)| o)
}

/// `secret/key` → digest, from an applied marker.
pub fn marker_digests(marker: &str) -> BTreeMap<String, String> {
    let Some((_, rest)) = marker.split_once(MARKER) else {
        return BTreeMap::new();
    };
    rest.split(',')
        .filter_map(|p| p.rsplit_once('='))
        .map(|(r, d)| (r.to_owned(), d.to_owned()))
        .collect()
}

/// The references whose value changed (or that are new) between an applied marker and
/// the current digests, as `secret/key`.
pub fn changed_refs(applied: &str, digests: &BTreeMap<SecretRef, String>) -> Vec<String> {
    let before = marker_digests(applied);
    digests
        .iter()
        .filter(|(r, d)| before.get(&r.to_string()) != Some(*d))
        .map(|(r, _)| r.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(secret: &str, key: &str) -> SecretRef {
        SecretRef {
            secret: secret.into(),
            key: key.into(),
        }
    }

    #[test]
    fn bindings_cannot_set_variables_that_configure_the_tools() {
        for ok in ["DB_PASSWORD", "TF_VAR_user_password", "grafana_admin", "_X"] {
            assert!(valid_env(ok), "{ok}");
        }
        for bad in [
            "PATH",
            "path",
            "BASH_ENV",
            "LD_PRELOAD",
            "ANSIBLE_SSH_ARGS",
            "ansible_become_exe",
            "TF_CLI_ARGS",
            "TF_VAR_",
            "KUBECONFIG",
            "PYTHONSTARTUP",
            "GIT_SSH_COMMAND",
            "AWS_PROFILE",
            "PROXMOX_VE_ENDPOINT",
            "HOMELABD_TOKEN",
            "1X",
            "A-B",
        ] {
            assert!(!valid_env(bad), "{bad}");
        }
    }

    #[test]
    fn references_are_found_with_their_pointers_and_bad_ones_explained() {
        let values = json!({
            "image": "nextcloud:29",
            "env": {
                "DB_PASSWORD": {"secret": "nextcloud", "key": "db_password"},
                "TZ": "UTC",
                "BAD": {"secret": "../etc", "key": "x"},
            },
            "list": [{"secret": "a", "key": "b", "extra": 1}],
        });
        let found = find_refs(&values, "/spec/chart/values");
        assert_eq!(found.len(), 3);
        assert_eq!(found[1].0, "/spec/chart/values/env/DB_PASSWORD");
        assert_eq!(found[1].1, Ok(r("nextcloud", "db_password")));
        assert!(
            matches!(&found[0].1, Err(BadRef::BadName(name)) if name == "../etc"),
            "{:?}",
            found[0]
        );
        assert!(
            found[0]
                .1
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("path under secrets/")
        );
        assert!(
            matches!(&found[2].1, Err(BadRef::ExtraKey(k)) if k == "extra"),
            "{:?}",
            found[2]
        );
        assert!(parse_ref(&json!({"secret": "a"})).unwrap().is_err());
        assert!(parse_ref(&json!({"name": "a"})).is_none());
    }

    #[test]
    fn every_reference_must_be_delivered_by_the_chart() {
        let values = json!({"env": {"DB_PASSWORD": {"secret": "nc", "key": "db"}}});
        let file = br#"[{"env": "DB_PASSWORD", "secret": "nc", "key": "db"}]"#;
        assert_eq!(check_bindings(&values, Some(file)).unwrap().len(), 1);
        let err = check_bindings(&values, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("nc/db at values/env/DB_PASSWORD is not delivered"),
            "{err}"
        );
        let invented = br#"[{"env": "X", "secret": "other", "key": "k"}]"#;
        assert!(check_bindings(&values, Some(invented)).is_err());
        let path = br#"[{"env": "PATH", "secret": "nc", "key": "db"}]"#;
        assert!(
            check_bindings(&values, Some(path))
                .unwrap_err()
                .to_string()
                .contains("PATH")
        );
        assert_eq!(check_bindings(&json!({}), None).unwrap(), vec![]);
    }

    #[test]
    fn digests_are_keyed_and_markers_say_which_value_changed() {
        let key = digest_key(b"AGE-SECRET-KEY-1...");
        let other = digest_key(b"another identity");
        let d1 = digest(&key, &r("nc", "db"), "hunter2");
        assert_eq!(d1.len(), 16);
        assert_ne!(d1, digest(&other, &r("nc", "db"), "hunter2"));
        assert_ne!(d1, digest(&key, &r("nc", "db"), "hunter3"));
        let mut digests =
            BTreeMap::from([(r("nc", "db"), d1.clone()), (r("nc", "user"), "u".into())]);
        let marker = applied_marker("abc", &digests);
        assert_eq!(marker_output(&marker), "abc");
        assert_eq!(marker_output("abc"), "abc");
        assert!(!marker.contains("hunter2"));
        assert!(changed_refs(&marker, &digests).is_empty());
        digests.insert(r("nc", "db"), digest(&key, &r("nc", "db"), "rotated"));
        assert_eq!(changed_refs(&marker, &digests), vec!["nc/db"]);
        assert_eq!(applied_marker("abc", &BTreeMap::new()), "abc");
    }
}
